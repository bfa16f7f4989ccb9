use hookwire::{HookReturn, hook::Next, hook::WrapResult};

hookwire::hookspec! {
    #[name = "compute"]
    pub struct Compute(u64) -> u64;
}

struct Both;

#[hookwire::plugin(name = "both")]
impl Both {
    #[hookimpl(tryfirst, trylast)]
    fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x))
    }
}

struct TimedWrapper;

#[hookwire::plugin(name = "timed-wrapper")]
impl TimedWrapper {
    #[hookimpl(wrapper, timeout_ms = 10)]
    async fn compute(&self, _: &u64, next: Next<'_, Compute>) -> WrapResult<u64> {
        Ok(next.run().await)
    }
}

struct AsyncBlocking;

#[hookwire::plugin(name = "async-blocking")]
impl AsyncBlocking {
    #[hookimpl(blocking)]
    async fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(*x))
    }
}

fn main() {}
