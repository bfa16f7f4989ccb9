use std::sync::Arc;

use hookwire::{async_trait, Hook, HookManager, HookReturn};

hookwire::hookspec! {
    pub struct Double(u64) -> u64;
}

// An async impl, registered with the sync registration method.
struct Doubler;

#[async_trait]
impl Hook<Double> for Doubler {
    async fn call(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(x * 2))
    }
}

fn main() {
    let pm = HookManager::builder().spec::<Double>().build();
    let _ = pm.register("p", |r| r.sync_hook::<Double>(Arc::new(Doubler)).add());
}
