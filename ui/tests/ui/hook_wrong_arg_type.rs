use hookwire::{async_trait, Hook, HookReturn};

hookwire::hookspec! {
    pub struct Double(u64) -> u64;
}

struct Doubler;

#[async_trait]
impl Hook<Double> for Doubler {
    // The spec's argument is `u64`, not `String`.
    async fn call(&self, x: &String) -> HookReturn<u64> {
        Ok(Some(x.len() as u64 * 2))
    }
}

fn main() {}
