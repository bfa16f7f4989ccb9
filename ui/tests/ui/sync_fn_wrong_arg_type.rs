use hookwire::HookManager;

hookwire::hookspec! {
    pub struct Double(u64) -> u64;
}

fn main() {
    let pm = HookManager::builder().spec::<Double>().build();
    // The spec's argument is `u64`, not `String`.
    let _ = pm.register("p", |r| {
        r.sync_fn::<Double>(|x: &String| Ok(Some(x.len() as u64)))
            .add()
    });
}
