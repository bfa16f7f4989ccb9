use std::sync::Arc;

use hookwire::HookManager;

hookwire::hookspec! {
    pub struct Double(u64) -> u64;
}

struct NotAWrapper;

fn main() {
    let pm = HookManager::builder().spec::<Double>().build();
    let _ = pm.register("p", |r| r.wrapper::<Double>(Arc::new(NotAWrapper)).add());
}
