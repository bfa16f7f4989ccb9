use hookwire::HookReturn;

hookwire::hookspec! {
    #[name = "compute"]
    pub struct Compute(u64) -> u64;
}

struct ByValue;

#[hookwire::plugin]
impl ByValue {
    #[hookimpl]
    fn compute(&self, x: u64) -> HookReturn<u64> {
        Ok(Some(x))
    }
}

struct MutSelf;

#[hookwire::plugin]
impl MutSelf {
    #[hookimpl]
    fn compute(&mut self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x))
    }
}

struct NoReturn;

#[hookwire::plugin]
impl NoReturn {
    #[hookimpl]
    async fn compute(&self, _x: &u64) {}
}

fn main() {}
