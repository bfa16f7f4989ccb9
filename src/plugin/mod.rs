//! Plugins: named bundles of impls with metadata, dependencies, a lifecycle, context and
//! configuration.
//!
//! - [`Plugin`]: what a plugin author implements — [`meta`](Plugin::meta),
//!   [`register`](Plugin::register) and async lifecycle methods with no-op defaults.
//! - [`PluginHost`]: the host side — add plugins, resolve their dependencies
//!   ([`Resolution::compute`](crate::deps::Resolution::compute)), start them in order with a
//!   [`PluginContext`], query them ([`PluginList`]), watch their [`PluginEvent`]s, stop them
//!   ([`PluginHost::shutdown`]), reload one while the others run ([`PluginHost::replace`]
//!   by a new instance in one swap, [`PluginHost::stop`] and [`PluginHost::restart`]), and
//!   turn one off or on at run time ([`PluginHost::disable`], [`PluginHost::enable`]).
//! - [`HostConfig`](crate::config::HostConfig): the configuration file and environment overrides.
//!
//! A host that only wants impls registered, without lifecycle, can use
//! [`HookManager::add_plugin`].
//!
//! # Lifecycle
//! Each plugin the host knows is in one [`PluginState`]:
//! `Discovered → Registered → Initialized → Started → Stopped`, or `Failed(reason)` from any
//! state but `Failed`. A restart ([`PluginHost::restart`]) goes round again: `Stopped →
//! Registered` and `Failed(reason) → Registered`. The host makes every move (no other move is
//! possible) and announces each one as a [`PluginEvent::StateChanged`]:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use hookwire::plugin::{PluginEvent, PluginState};
//! use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};
//!
//! struct Audit;
//! impl Plugin for Audit {
//!     fn meta(&self) -> PluginMeta { PluginMeta::new("audit", "1.0.0") }
//!     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
//! }
//!
//! let host = PluginHost::new();
//! let mut events = host.events();
//! host.add(Audit).unwrap();
//! assert_eq!(host.state("audit"), Some(PluginState::Discovered));
//! host.start().await.unwrap();
//! assert_eq!(host.state("audit"), Some(PluginState::Started));
//! assert!(host.shutdown(Duration::from_secs(1)).await.is_clean());
//! assert_eq!(host.state("audit"), None); // stopped, and no longer in the host
//!
//! let mut moves = Vec::new();
//! while let Ok(e) = events.try_recv() {
//!     if let PluginEvent::StateChanged { from, to, .. } = e {
//!         moves.push(format!("{from} -> {to}"));
//!     }
//! }
//! assert_eq!(
//!     moves,
//!     ["discovered -> registered", "registered -> initialized", "initialized -> started", "started -> stopped"]
//! );
//! # });
//! ```

mod builder;
mod cell;
pub(crate) mod config;
mod context;
pub(crate) mod deps;
mod enable;
mod events;
mod gate;
mod health;
mod host;
mod layer;
mod lifecycle;
mod link;
mod list;
pub(crate) mod meta;
mod reload;
mod report;
mod services;
mod shutdown;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use builder::PluginHostBuilder;
pub use context::{ContextError, PluginContext};
pub use events::{AdminAction, PluginEvent};
pub use gate::{DeclaredNames, GateSubject, Isolation, PluginGate, Refusal, TrustSource};
pub use host::PluginHost;
#[cfg(feature = "discovery")]
pub(crate) use layer::Layer;
pub use lifecycle::PluginState;
#[cfg(feature = "process")]
pub(crate) use link::HostLink;
pub use list::{PluginInfo, PluginList};
pub use meta::{MetaError, PluginMeta};
pub use reload::ReloadReport;
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
/// host's step time limit (if one is set), `stop` within the grace of `remove`/`shutdown`;
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

    /// Whether the host must call [`register`](Self::register) after [`init`](Self::init)
    /// rather than before (the default, `false`): for a plugin that learns its impls while
    /// it starts, such as a process plugin whose hooks its process names. The host then
    /// checks and registers its impls once it started (a failure stops it and fails it), and
    /// refuses to start it lazily. Such a plugin's impls register after those of the plugins
    /// added with it, which breaks ties between them.
    #[doc(hidden)]
    fn register_after_init(&self) -> bool {
        false
    }

    /// Prepares the plugin after its dependencies started: read config
    /// (`PluginContext::config`, feature `config`), get services, [`provide`](PluginContext::provide) services
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

    /// Called when the host gives up on the plugin before its [`init`](Self::init) (its
    /// registration or a dependency failed): release what the plugin acquired before the
    /// host started it. A process plugin spawned ahead of its start stops its processes;
    /// the default does nothing. `init` may still be called later (a `restart`).
    #[doc(hidden)]
    async fn release_unstarted(&self) {}

    /// The plugin's health; the default says [`Health::Healthy`].
    ///
    /// It must not block its thread (no `std::thread::sleep`, blocking I/O or a synchronous
    /// client call): the checks run concurrently in the caller's task (a `/health` request's),
    /// and a time limit can only end a check at an `.await`. Do blocking work in
    /// `tokio::task::spawn_blocking` and await it, or report a state kept up to date by a
    /// background task.
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
