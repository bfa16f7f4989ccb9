use hookwire::HookManager;

hookwire::hookspec! {
    pub struct Double(u64) -> u64;
}

fn main() {
    let pm = HookManager::builder().spec::<Double>().build();
    let _ = futures::executor::block_on(pm.hook::<Double>().call(&"2".to_owned()));
}
