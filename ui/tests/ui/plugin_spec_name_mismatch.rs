use hookwire::HookReturn;

hookwire::hookspec! {
    // No `#[name = "on_startup"]`: this spec's NAME is "OnStartup".
    pub struct OnStartup(()) -> String;
}

struct Banner;

#[hookwire::plugin(name = "banner")]
impl Banner {
    #[hookimpl]
    fn on_startup(&self, _: &()) -> HookReturn<String> {
        Ok(Some("hi".into()))
    }
}

fn main() {}
