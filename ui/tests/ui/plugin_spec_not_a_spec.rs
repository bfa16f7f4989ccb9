use hookwire::HookReturn;

hookwire::hookspec! {
    #[name = "on_startup"]
    pub struct OnStartup(()) -> String;
}

struct Banner;

#[hookwire::plugin(name = "banner")]
impl Banner {
    // The spec is taken from the name: `Banner`, which is the plugin, not a spec.
    #[hookimpl]
    fn banner(&self, _: &()) -> HookReturn<String> {
        Ok(Some("hi".into()))
    }
}

fn main() {}
