//! [`PluginHost::service`]: the services of a running host, seen from outside any plugin
//! (a web handler, the host's own code).

use std::any::Any;
use std::sync::Arc;

use super::PluginHost;

impl PluginHost {
    /// The service of type `T`: the host's own
    /// ([`PluginHostBuilder::service`](crate::plugin::PluginHostBuilder::service)), else the
    /// one the earliest started plugin that provides a `T` provided
    /// ([`PluginContext::provide`](crate::PluginContext::provide)); `None` if there is none.
    ///
    /// Host services are read without a lock; looking through the plugins' takes the host's
    /// registry lock for the length of the search (no `.await` under it). A plugin's services
    /// are gone once it stops.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use hookwire::{async_trait, BoxError, Plugin, PluginContext, PluginHost};
    /// use hookwire::{RegisterError, Registrar};
    ///
    /// struct Clock(&'static str);
    /// struct Greeting(&'static str);
    /// struct Greeter;
    /// #[async_trait]
    /// impl Plugin for Greeter {
    ///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
    ///     async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
    ///         ctx.provide(Greeting("hello"))?;
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let host = PluginHost::builder().service(Clock("utc")).build();
    /// host.add(Greeter).unwrap();
    /// host.start().await.unwrap();
    /// assert_eq!(host.service::<Clock>().unwrap().0, "utc");
    /// assert_eq!(host.service::<Greeting>().unwrap().0, "hello");
    /// assert!(host.service::<String>().is_none());
    /// # });
    /// ```
    pub fn service<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let host = &self.inner;
        host.services.get::<T>().or_else(|| {
            let reg = host.registry();
            let found = reg.started.iter().find_map(|c| c.provided.get::<T>());
            found
        })
    }
}
