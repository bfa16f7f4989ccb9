use hookwire::HookReturn;

hookwire::hookspec! {
    #[name = "compute"]
    pub struct Compute(u64) -> u64;
}

struct Twice;

#[hookwire::plugin(name = "twice")]
impl Twice {
    #[hookimpl]
    fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x))
    }

    #[hookimpl(spec = Compute, trylast)]
    fn compute_again(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x + 1))
    }
}

fn main() {}
