use hookwire::{hookimpl, HookReturn};

struct Forgot;

impl Forgot {
    #[hookimpl]
    fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x))
    }
}

fn main() {}
