use hookwire::HookReturn;

hookwire::hookspec! {
    #[name = "on_startup"]
    pub struct OnStartup(()) -> String;
}

struct Greeter;

#[hookwire::plugin(name = "banner")]
impl Greeter {
    // The spec is taken from the name: `Banner`, which does not exist.
    #[hookimpl]
    fn banner(&self, _: &()) -> HookReturn<String> {
        Ok(Some("hi".into()))
    }
}

fn main() {}
