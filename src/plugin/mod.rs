//! Plugins: named bundles of impls with metadata, dependencies, a lifecycle, context and
//! configuration.
//!
//! - [`Plugin`]: what a plugin author implements — [`meta`](Plugin::meta),
//!   [`register`](Plugin::register) and async lifecycle methods with no-op defaults.
//! - [`PluginHost`]: the host side — add plugins, resolve their dependencies
//!   ([`resolve`](crate::deps::resolve)), start them in order with a [`PluginContext`], query them
//!   ([`PluginList`]), watch their [`PluginEvent`]s, stop them ([`PluginHost::shutdown`]).
//! - [`HostConfig`](crate::config::HostConfig): the configuration file and environment overrides.
//!
//! A host that only wants impls registered, without lifecycle, can use
//! [`HookManager::add_plugin`].

mod builder;
mod cell;
pub(crate) mod config;
mod context;
pub(crate) mod deps;
mod events;
mod host;
mod lifecycle;
mod list;
pub(crate) mod meta;
mod report;
mod shutdown;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use builder::PluginHostBuilder;
pub use context::{ContextError, PluginContext};
pub use events::PluginEvent;
pub use host::PluginHost;
pub use lifecycle::{IllegalTransition, PluginState};
pub use list::{PluginInfo, PluginList};
pub use meta::{MetaError, PluginMeta};
pub use report::{PluginError, StartReport};
pub use shutdown::{PluginStop, StopOutcome, StopReport};

use crate::error::{BoxError, RegisterError};
use crate::manager::registrar::Registrar;
use crate::manager::{HookManager, PluginHandle};

/// A plugin's own view of its health, as [`PluginHost::health`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
#[non_exhaustive]
pub enum Health {
    /// Working.
    Healthy,
    /// Working, with a problem worth knowing.
    Degraded(String),
    /// Not working.
    Unhealthy(String),
}

/// A plugin: metadata, impls, and an async lifecycle whose methods default to doing nothing.
///
/// Most plugins need not write this impl: `#[hookwire::plugin]` on an impl block generates it
/// (feature `macros`, see the crate docs). By hand:
///
/// ```
/// use std::sync::Arc;
/// use hookwire::{async_trait, Hook, HookManager, HookReturn, Plugin, Registrar, RegisterError};
/// hookwire::hookspec! { pub struct Greet(String) -> String; }
///
/// struct Polite;
/// #[async_trait]
/// impl Hook<Greet> for Polite {
///     async fn call(&self, name: &String) -> HookReturn<String> {
///         Ok(Some(format!("Good day, {name}")))
///     }
/// }
/// impl Plugin for Polite {
///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
///         r.hook::<Greet>(self).add()
///     }
/// }
///
/// let pm = HookManager::new();
/// let handle = pm.add_plugin(Polite).unwrap();
/// assert_eq!(handle.name(), "Polite");
/// ```
///
/// Lifecycle methods run in the plugin's span, `init`, `start` and `health` each under the
/// manager's step time limit (if one is set), `stop` within the grace of `remove`/`shutdown`;
/// an `Err` or a panic in `init`/`start` makes the plugin `Failed` with the message.
#[async_trait::async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Who the plugin is and what it needs. The default: named after the type (without its
    /// module path), version `0.0.0`, no dependencies.
    fn meta(&self) -> PluginMeta {
        let full = std::any::type_name::<Self>();
        let base = full.split('<').next().unwrap_or(full);
        PluginMeta::new(base.rsplit("::").next().unwrap_or(base), "0.0.0")
    }

    /// Adds the plugin's impls.
    ///
    /// # Errors
    /// Whatever the impls' [`add`](crate::hook::ImplBuilder::add) calls return, or a
    /// [`RegisterError::Plugin`] of the plugin's own.
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError>;

    /// Prepares the plugin after its dependencies started: read config
    /// ([`PluginContext::config`]), get services, [`provide`](PluginContext::provide) services
    /// for dependents.
    ///
    /// # Errors
    /// Any error: the plugin becomes `Failed` with its message, its impls are removed.
    // Written as `#[async_trait]` expands an `async fn` (an impl's `async fn init` matches
    // it), so that the default can return a zero-sized future: boxing it allocates nothing,
    // and most plugins keep some of the defaults.
    fn init<'life0, 'life1, 'async_trait>(
        &'life0 self,
        ctx: &'life1 PluginContext,
    ) -> LifecycleFuture<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let _ = ctx;
        Box::pin(NothingToDo)
    }

    /// Starts serving: spawn background work with [`PluginContext::spawn`].
    ///
    /// # Errors
    /// As [`init`](Self::init).
    fn start<'life0, 'life1, 'async_trait>(
        &'life0 self,
        ctx: &'life1 PluginContext,
    ) -> LifecycleFuture<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let _ = ctx;
        Box::pin(NothingToDo)
    }

    /// Stops: flush and release what `start` acquired. Runs after the plugin's impls were
    /// unregistered, before its cancellation token is cancelled and its tasks are awaited.
    ///
    /// # Errors
    /// Any error: reported in the [`StopReport`]; the plugin becomes `Failed`.
    fn stop<'life0, 'life1, 'async_trait>(
        &'life0 self,
        ctx: &'life1 PluginContext,
    ) -> LifecycleFuture<'async_trait>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let _ = ctx;
        Box::pin(NothingToDo)
    }

    /// The plugin's health; the default says [`Health::Healthy`].
    async fn health(&self) -> Health {
        Health::Healthy
    }
}

/// What `init`, `start` and `stop` return (what `#[async_trait]` makes of their `async fn`).
type LifecycleFuture<'a> = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;

/// The future of a default lifecycle method: done at once, and zero-sized, so a `Box` of it
/// allocates nothing.
struct NothingToDo;

impl Future for NothingToDo {
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(()))
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "plugins")))]
impl HookManager {
    /// Registers a [`Plugin`]'s impls under its name (from [`Plugin::meta`]), without any
    /// lifecycle: no dependencies, `init` or `start`. Use a [`PluginHost`] for those.
    ///
    /// # Errors
    /// As [`HookManager::register`].
    pub fn add_plugin<P: Plugin>(&self, plugin: P) -> Result<PluginHandle, RegisterError> {
        let plugin = Arc::new(plugin);
        let name = plugin.meta().name;
        self.register(&name, |r| plugin.register(r))
    }

    /// Registers a [`Plugin`]'s impls under `name` instead of the name its
    /// [`meta`](Plugin::meta) gives: how a second instance of one plugin type is added (both
    /// would otherwise take the type's name).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use hookwire::{HookManager, Plugin, Registrar, RegisterError};
    ///
    /// hookwire::hookspec! { pub struct Greet(String) -> String; }
    ///
    /// struct Greeter(&'static str);
    /// impl Plugin for Greeter {
    ///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
    ///         r.sync_fn::<Greet>(move |who| Ok(Some(format!("{} {who}", self.0)))).add()
    ///     }
    /// }
    ///
    /// let pm = HookManager::new();
    /// pm.add_plugin(Greeter("hello")).unwrap();
    /// // The same type again: its default name is taken, so name this instance.
    /// assert!(pm.add_plugin(Greeter("hi")).is_err());
    /// pm.add_plugin_as("greeter-informal", Greeter("hi")).unwrap();
    /// assert!(pm.is_registered("greeter-informal"));
    /// ```
    ///
    /// # Errors
    /// As [`HookManager::register`].
    pub fn add_plugin_as<P: Plugin>(
        &self,
        name: &str,
        plugin: P,
    ) -> Result<PluginHandle, RegisterError> {
        let plugin = Arc::new(plugin);
        self.register(name, |r| plugin.register(r))
    }
}
