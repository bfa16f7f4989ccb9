use hookwire::HookReturn;

hookwire::hookspec! {
    #[name = "compute"]
    pub struct Compute(u64) -> u64;
}

struct Typo;

#[hookwire::plugin(name = "typo")]
impl Typo {
    #[hookimpl(tryfrist)]
    fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x))
    }
}

struct MetaTypo;

#[hookwire::plugin(name = "meta-typo", requries = ["db ^1"])]
impl MetaTypo {}

fn main() {}
