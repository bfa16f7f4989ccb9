use hookwire::{BoxError, PluginContext};

struct Eager;

#[hookwire::plugin(name = "sync")]
impl Eager {
    fn init(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        Ok(())
    }
}

fn main() {}
