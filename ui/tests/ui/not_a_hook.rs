use std::sync::Arc;

use hookwire::HookManager;

hookwire::hookspec! {
    pub struct Double(u64) -> u64;
}

struct NotAHook;

fn main() {
    let pm = HookManager::builder().spec::<Double>().build();
    let _ = pm.register("p", |r| r.hook::<Double>(Arc::new(NotAHook)).add());
}
