//! The linked plugin and helpers of the hot-reload tests under security (`integrity_watch`,
//! `security_watch`): a `greeter` whose `Greet` answer is its manifest's `config.greeting`,
//! submitted for link-time discovery (`#[path = "common/greeter_watch.rs"] mod greeter_watch;`,
//! each test in a binary of its own so that no other binary's `discover` sees it), and bounded
//! waits for the host's events.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hookwire::plugin::PluginEvent;
use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};

hookwire::hookspec! {
    /// The plugin answers with its manifest's `config.greeting`.
    pub struct Greet(()) -> String;
}

#[derive(serde::Deserialize)]
struct Config {
    greeting: String,
}

#[derive(Default)]
struct Greeter {
    greeting: OnceLock<String>,
}

#[async_trait]
impl Plugin for Greeter {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("greeter", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Greet>(move |()| Ok(self.greeting.get().cloned()))
            .add()
    }
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let config: Config = ctx.config()?;
        let _ = self.greeting.set(config.greeting);
        Ok(())
    }
}

hookwire::submit_plugin!(Greeter::default);

/// How long a test waits for an event.
const WAIT: Duration = Duration::from_secs(5);

/// What the host's `greeter` answers now.
pub async fn greeting(host: &PluginHost) -> Vec<String> {
    host.hook::<Greet>().call(&()).await.unwrap().into_values()
}

/// The first event that `pick` picks, within [`WAIT`].
pub async fn next<T>(
    events: &mut tokio::sync::broadcast::Receiver<PluginEvent>,
    mut pick: impl FnMut(&PluginEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("the host's event stream ended");
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    })
    .await
    .expect("no matching event within 5 s")
}
