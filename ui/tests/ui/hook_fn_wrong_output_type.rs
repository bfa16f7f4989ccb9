use hookwire::{FutureExt, HookManager};

hookwire::hookspec! {
    pub struct Double(u64) -> u64;
}

fn main() {
    let pm = HookManager::builder().spec::<Double>().build();
    // The spec's output is `u64`, not `String`.
    let _ = pm.register("p", |r| {
        r.hook_fn::<Double>(|x| async move { Ok(Some(x.to_string())) }.boxed())
            .add()
    });
}
