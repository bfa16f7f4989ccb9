// Known poor diagnostic (async-trait): the error points at `#[async_trait]` rather than the
// return type, and suggests replacing the attribute with a `Pin<Box<..>>` type.
use hookwire::{async_trait, Hook, HookReturn};

hookwire::hookspec! {
    pub struct Double(u64) -> u64;
}

struct Doubler;

#[async_trait]
impl Hook<Double> for Doubler {
    // The spec's output is `u64`, not `String`.
    async fn call(&self, x: &u64) -> HookReturn<String> {
        Ok(Some((x * 2).to_string()))
    }
}

fn main() {}
