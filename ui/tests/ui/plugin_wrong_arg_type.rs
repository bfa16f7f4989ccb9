use hookwire::HookReturn;

hookwire::hookspec! {
    #[name = "compute"]
    pub struct Compute(u64) -> u64;
}

struct Wrong;

#[hookwire::plugin(name = "wrong")]
impl Wrong {
    #[hookimpl]
    async fn compute(&self, x: &String) -> HookReturn<u64> {
        Ok(Some(x.len() as u64))
    }
}

fn main() {}
