//! [`PluginContext`]: what a plugin gets from its host — typed services, its configuration, a
//! tracing span, a cancellation token and tracked background tasks.
//!
//! # Services
//!
//! Services are values looked up by type. The host provides some to every plugin
//! ([`PluginHostBuilder::service`](crate::plugin::PluginHostBuilder::service)); a plugin provides
//! its own during [`init`](crate::Plugin::init) with [`provide`](PluginContext::provide), and
//! only the plugins that *depend* on it (directly, required or optional) see them — a plugin
//! cannot reach into one it did not declare. Lookups search the host's services first, then
//! each dependency's in the order they were declared.
//!
//! # Background tasks
//!
//! [`spawn`](PluginContext::spawn) runs a task inside the plugin's span and tracks it. When the
//! plugin stops, its [`cancellation`](PluginContext::cancellation) token is cancelled and its
//! tasks get what is left of the stop's grace period to finish; the rest are aborted and named
//! in the [`StopReport`](crate::plugin::StopReport).

use std::any::{type_name, Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};

#[cfg(feature = "config")]
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};

use super::cell::{Cell, Host};
#[cfg(feature = "config")]
use super::config::ConfigError;
use super::config::HostConfig;
use super::events::PluginEvent;
use super::gate::{PluginGate, Refusal};
use super::link::HostLink;
use crate::HookManager;

/// A set of services keyed by type.
#[derive(Default, Clone)]
pub(crate) struct ServiceMap {
    map: HashMap<TypeId, (&'static str, Arc<dyn Any + Send + Sync>)>,
}

impl ServiceMap {
    pub(crate) fn insert<T: Any + Send + Sync>(&mut self, value: Arc<T>) -> bool {
        self.map
            .insert(TypeId::of::<T>(), (type_name::<T>(), value))
            .is_none()
    }

    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        let (_, v) = self.map.get(&TypeId::of::<T>())?;
        v.clone().downcast::<T>().ok()
    }

    pub(crate) fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.map.values().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names
    }
}

/// The services one plugin provides: writable during its `init` only.
#[derive(Default)]
pub(crate) struct Provided {
    open: AtomicBool,
    map: RwLock<ServiceMap>,
}

impl Provided {
    pub(crate) fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::Release);
    }

    /// Forgets every service (the plugin failed). They are dropped after the lock: a
    /// service's `Drop` may look at services itself.
    pub(crate) fn clear(&self) {
        let old = std::mem::take(&mut *self.map.write().unwrap_or_else(PoisonError::into_inner));
        drop(old);
    }

    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get()
    }

    /// The type names of the services provided, sorted.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .names()
    }
}

/// A problem using a [`PluginContext`]; each names the plugin and the service type.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextError {
    /// [`require`](PluginContext::require) found no service of that type.
    #[error("plugin `{plugin}` needs service `{service}`, but neither the host nor its dependencies ({}) provide it; provide it with `PluginHost::builder().service(..)`, or from a dependency's `init` with `ctx.provide(..)` and declare that dependency in `{plugin}`'s metadata", if .dependencies.is_empty() { "none".to_owned() } else { .dependencies.join(", ") })]
    MissingService {
        /// The plugin asking.
        plugin: String,
        /// The service's type name.
        service: &'static str,
        /// The plugins whose services it can see.
        dependencies: Vec<String>,
    },
    /// The host's [`PluginGate`](super::PluginGate) does not let the plugin use the service
    /// (the message names the permission).
    #[error(transparent)]
    Refused(Refusal),
    /// [`provide`](PluginContext::provide) was called outside `init`.
    #[error("plugin `{plugin}` provided service `{service}` outside `init`; provide services in `init`, before dependents start")]
    ProvideOutsideInit {
        /// The plugin.
        plugin: String,
        /// The service's type name.
        service: &'static str,
    },
    /// [`provide`](PluginContext::provide) was called twice for one type.
    #[error("plugin `{plugin}` provided service `{service}` twice; provide each type once (wrap variants in distinct types)")]
    AlreadyProvided {
        /// The plugin.
        plugin: String,
        /// The service's type name.
        service: &'static str,
    },
    /// [`spawn`](PluginContext::spawn) was called with no tokio runtime, or after the plugin
    /// began stopping.
    #[error("plugin `{plugin}` cannot spawn task `{task}`: {why}")]
    CannotSpawn {
        /// The plugin.
        plugin: String,
        /// The task's name.
        task: String,
        /// Why not.
        why: &'static str,
    },
}

/// A plugin's tracked background tasks.
#[derive(Default)]
pub(crate) struct Tasks {
    closed: bool,
    /// Created with the first task (most plugins spawn none).
    set: Option<JoinSet<()>>,
    names: HashMap<tokio::task::Id, String>,
    /// Tasks that panicked and were collected before the stop, by name.
    pub(crate) panicked: Vec<String>,
}

impl Tasks {
    /// Takes the tasks out, refusing new ones from now on.
    pub(crate) fn close(&mut self) -> (Option<JoinSet<()>>, HashMap<tokio::task::Id, String>) {
        self.closed = true;
        (self.set.take(), std::mem::take(&mut self.names))
    }

    /// Forgets the tasks that are over (keeping the names of those that panicked), so a
    /// plugin spawning a task per request does not grow without bound.
    fn reap(&mut self) {
        let Some(set) = &mut self.set else {
            return;
        };
        while let Some(done) = set.try_join_next_with_id() {
            let (id, panicked) = match done {
                Ok((id, ())) => (id, false),
                Err(e) => (e.id(), e.is_panic()),
            };
            if let Some(name) = self.names.remove(&id) {
                if panicked {
                    self.panicked.push(name);
                }
            }
        }
    }
}

/// What a plugin gets from its host in [`init`](crate::Plugin::init),
/// [`start`](crate::Plugin::start) and [`stop`](crate::Plugin::stop): typed services, its
/// configuration, a tracing span, a cancellation token and tracked tasks.
///
/// Service lookups search the host's services, then those of the plugin's direct
/// dependencies in the order they were declared (a plugin sees nothing of plugins it does not
/// depend on); a plugin provides services in `init` only. On stop, the token is cancelled and
/// tracked tasks get the rest of the grace period; those still running are aborted and named.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hookwire::config::HostConfig;
/// use hookwire::{async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta};
/// use hookwire::{RegisterError, Registrar};
///
/// struct Db { url: String }
///
/// // Provides a service to its dependents.
/// struct Storage;
/// #[async_trait]
/// impl Plugin for Storage {
///     fn meta(&self) -> PluginMeta { PluginMeta::new("storage", "1.0.0") }
///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
///     async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
///         #[derive(serde::Deserialize)]
///         struct Config { url: String }
///         let config: Config = ctx.config()?; // its section of the host's configuration
///         ctx.provide(Db { url: config.url })?;
///         Ok(())
///     }
/// }
///
/// // Uses it, and runs a background task the host stops with the plugin.
/// struct Reports;
/// #[async_trait]
/// impl Plugin for Reports {
///     fn meta(&self) -> PluginMeta { PluginMeta::new("reports", "1.0.0").requires("storage", "^1") }
///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
///     async fn start(&self, ctx: &PluginContext) -> Result<(), BoxError> {
///         let db = ctx.require::<Db>()?;
///         assert_eq!(db.url, "postgres://db");
///         let stop = ctx.cancellation().clone();
///         ctx.spawn("refresh", async move { stop.cancelled().await })?;
///         Ok(())
///     }
/// }
///
/// let config = HostConfig::parse("[plugins.storage]\nurl = \"postgres://db\"\n", "host.toml").unwrap();
/// let host = PluginHost::builder().config(config).build();
/// host.add(Storage).unwrap();
/// host.add(Reports).unwrap();
/// assert_eq!(host.start().await.unwrap().started, ["storage", "reports"]);
/// // Stopping cancels the token: the task ends within the grace period.
/// assert!(host.shutdown(Duration::from_secs(1)).await.is_clean());
/// # });
/// ```
pub struct PluginContext {
    name: Arc<str>,
    host: Arc<ServiceMap>,
    /// The plugin's own cell: the services it provides, and its dependencies, whose services
    /// it sees (weak: the cell owns this context).
    own: Weak<Cell>,
    #[cfg_attr(not(feature = "config"), allow(dead_code))] // read by `config`
    config: Arc<HostConfig>,
    span: Span,
    /// Created when the plugin first asks for it (most never do); see [`Self::cancel`].
    token: OnceLock<CancellationToken>,
    /// The plugin was stopped: a token created from now on starts cancelled.
    cancelled: AtomicBool,
    pub(crate) tasks: Mutex<Tasks>,
    hooks: HookManager,
    /// The plugin read its configuration (see [`Self::read_config`]).
    config_read: AtomicBool,
    /// The host's gate, asked for every service (with where its refusals are announced).
    gate: Option<(Arc<dyn PluginGate>, broadcast::Sender<PluginEvent>)>,
    /// The host that made this context (for [`Self::host_link`]).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    owner: Weak<Host>,
}

impl std::fmt::Debug for PluginContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginContext")
            .field("plugin", &self.name)
            .field("host_services", &self.host.names())
            .field("dependencies", &self.dependency_names())
            .finish_non_exhaustive()
    }
}

impl PluginContext {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: Arc<str>,
        host: Arc<ServiceMap>,
        own: Weak<Cell>,
        config: Arc<HostConfig>,
        hooks: HookManager,
    ) -> Self {
        let span = tracing::info_span!("plugin", plugin = %name);
        PluginContext {
            name,
            host,
            own,
            config,
            span,
            token: OnceLock::new(),
            cancelled: AtomicBool::new(false),
            tasks: Mutex::new(Tasks::default()),
            hooks,
            config_read: AtomicBool::new(false),
            gate: None,
            owner: Weak::new(),
        }
    }

    /// The context belongs to `host` (what [`host_link`](Self::host_link) reaches).
    pub(crate) fn with_owner(mut self, host: Weak<Host>) -> Self {
        self.owner = host;
        self
    }

    /// A link through which the plugin tells its host, from its own tasks, what happened to
    /// it: an event, or that it failed (see [`HostLink`]).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn host_link(&self) -> HostLink {
        HostLink::new(self.owner.clone(), self.own.clone())
    }

    /// The context asks `gate` (if any) before it hands out a service, and its hook manager
    /// before the plugin changes registrations; refusals go to `events`. After
    /// [`with_owner`](Self::with_owner): the hook manager reaches the gate through the host.
    pub(crate) fn with_gate(
        mut self,
        gate: Option<Arc<dyn PluginGate>>,
        events: broadcast::Sender<PluginEvent>,
    ) -> Self {
        if gate.is_some() {
            // What the plugin changes through `hooks()` passes the gate too.
            let restriction = super::link::ContextHooks::new(self.host_link());
            self.hooks = self.hooks.restricted(Arc::new(restriction));
        }
        self.gate = gate.map(|g| (g, events));
        self
    }

    /// What the host's gate says of this plugin getting service `T` (always yes without a
    /// gate); a refusal is announced.
    fn check_service<T: Any>(&self) -> Result<(), ContextError> {
        let Some((gate, events)) = &self.gate else {
            return Ok(());
        };
        let checked = match self.own.upgrade() {
            Some(cell) => gate.check_service(&cell.subject(), TypeId::of::<T>(), type_name::<T>()),
            // The plugin is gone (a task kept its context): it holds no permission any more.
            None => {
                let meta = super::PluginMeta::new(&*self.name, "0.0.0");
                let source = super::TrustSource::Code;
                gate.check_service(
                    &super::GateSubject::new(&meta, &source),
                    TypeId::of::<T>(),
                    type_name::<T>(),
                )
            }
        };
        checked.map_err(|refusal| {
            tracing::warn!(plugin = %self.name, permission = refusal.permission(), "{refusal}");
            let _ = events.send(PluginEvent::Refused {
                plugin: self.name.to_string(),
                permission: refusal.permission().map(str::to_owned),
                error: refusal.to_string(),
            });
            ContextError::Refused(refusal)
        })
    }

    /// The names of the plugin's (present) dependencies, in declaration order.
    fn dependency_names(&self) -> Vec<String> {
        self.own.upgrade().map_or_else(Vec::new, |cell| {
            cell.deps().map(|d| d.name.to_string()).collect()
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The service of type `T`: the host's, else the first of the plugin's dependencies (in
    /// declaration order) that provides one; `None` if there is none, or if the host's
    /// [`PluginGate`](super::PluginGate) refuses it to this plugin (then
    /// [`require`](Self::require) says which permission is missing).
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.check_service::<T>().ok()?;
        self.find::<T>()
    }

    fn find<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.host.get::<T>().or_else(|| {
            // Through the plugin's cell, which knows its dependencies.
            let cell = self.own.upgrade()?;
            let found = cell.deps().find_map(|d| d.provided.get::<T>());
            found
        })
    }

    /// The service of type `T`, or an error saying where it was looked for.
    ///
    /// # Errors
    /// [`ContextError::MissingService`] naming the plugin, the type and the dependencies;
    /// [`ContextError::Refused`] naming the permission the host's gate requires for it.
    pub fn require<T: Any + Send + Sync>(&self) -> Result<Arc<T>, ContextError> {
        self.check_service::<T>()?;
        self.find::<T>()
            .ok_or_else(|| ContextError::MissingService {
                plugin: self.name.to_string(),
                service: type_name::<T>(),
                dependencies: self.dependency_names(),
            })
    }

    /// Provides a service of type `T` to the plugins that depend on this one. Call it in
    /// [`init`](crate::Plugin::init): dependents are initialised after this plugin.
    ///
    /// # Errors
    /// [`ContextError::ProvideOutsideInit`] outside `init`; [`ContextError::AlreadyProvided`]
    /// if this plugin already provided a `T`.
    pub fn provide<T: Any + Send + Sync>(&self, value: T) -> Result<(), ContextError> {
        self.provide_arc(Arc::new(value))
    }

    /// As [`provide`](Self::provide), for a value already in an `Arc`.
    ///
    /// # Errors
    /// As [`provide`](Self::provide).
    pub fn provide_arc<T: Any + Send + Sync>(&self, value: Arc<T>) -> Result<(), ContextError> {
        let service = type_name::<T>();
        let own = self.own.upgrade();
        let Some(own) = own
            .as_ref()
            .map(|cell| &cell.provided)
            .filter(|p| p.open.load(Ordering::Acquire))
        else {
            return Err(ContextError::ProvideOutsideInit {
                plugin: self.name.to_string(),
                service,
            });
        };
        let mut map = own.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.insert(value) {
            Ok(())
        } else {
            Err(ContextError::AlreadyProvided {
                plugin: self.name.to_string(),
                service,
            })
        }
    }

    /// The plugin's own configuration: its section of the host's config file, without the
    /// keys the host reserves (`enabled`, `lazy`, `priority`). A missing section reads as an
    /// empty table, so a config type with `#[serde(default)]` works without one. A plugin
    /// found through a manifest (feature `discovery`) reads the manifest's `config` table
    /// under the file's section: each key comes from the file if it sets it, else from the
    /// manifest, else from the type's defaults.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key, the plugin and the file for an unknown key or a value
    /// of the wrong type (except inside `#[serde(flatten)]` fields and untagged enums: see
    /// [`HostConfig::plugin_config`](crate::config::HostConfig::plugin_config)).
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    pub fn config<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        self.config_read.store(true, Ordering::Relaxed);
        match self.own.upgrade().and_then(|cell| cell.layer.clone()) {
            Some(layer) if !layer.config.is_empty() => {
                self.config.plugin_config_over(&self.name, &layer)
            }
            _ => self.config.plugin_config(&self.name),
        }
    }

    /// Whether the plugin asked for its configuration ([`config`](Self::config)).
    pub(crate) fn read_config(&self) -> bool {
        self.config_read.load(Ordering::Relaxed)
    }

    /// The plugin's span (`plugin{plugin=<name>}`): lifecycle methods and tracked tasks run in
    /// it; enter it for your own work.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Cancelled when the plugin stops (and when the host shuts down): background work
    /// should watch it (`token.cancelled().await`).
    pub fn cancellation(&self) -> &CancellationToken {
        let token = self.token.get_or_init(CancellationToken::new);
        // Against `cancel`: each side writes, fences, then reads what the other wrote, so at
        // least one of them sees the other's write and the token ends up cancelled.
        fence(Ordering::SeqCst);
        if self.cancelled.load(Ordering::Relaxed) {
            token.cancel();
        }
        token
    }

    /// Cancels the token, now or, if the plugin never asked for it, when it does.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if let Some(token) = self.token.get() {
            token.cancel();
        }
    }

    /// The hook manager the plugin's impls are registered with, to call hooks. When the host
    /// has a [`PluginGate`], what the plugin changes through it passes the gate like its own
    /// impls: registering an impl of a hook it lacks the permission of fails
    /// ([`RegisterError::Refused`](crate::RegisterError::Refused)), and it may unregister,
    /// block or unblock only its own name and the names it registered itself (another's is
    /// left alone: `false`, and a [`PluginEvent::Refused`]).
    pub fn hooks(&self) -> &HookManager {
        &self.hooks
    }

    /// Spawns a tracked background task named `task` on the current tokio runtime, inside the
    /// plugin's span. On stop it is given the rest of the grace period, then aborted and
    /// reported.
    ///
    /// # Errors
    /// [`ContextError::CannotSpawn`] outside a tokio runtime, or once the plugin is stopping.
    pub fn spawn<F>(&self, task: &str, fut: F) -> Result<AbortHandle, ContextError>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let cannot = |why| ContextError::CannotSpawn {
            plugin: self.name.to_string(),
            task: task.to_owned(),
            why,
        };
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| cannot("no tokio runtime; call it from async code in a runtime"))?;
        let mut tasks = self.tasks();
        if tasks.closed {
            return Err(cannot("the plugin is stopping"));
        }
        tasks.reap();
        let abort = tasks
            .set
            .get_or_insert_with(JoinSet::new)
            .spawn_on(fut.instrument(self.span.clone()), &handle);
        tasks.names.insert(abort.id(), task.to_owned());
        Ok(abort)
    }

    pub(crate) fn tasks(&self) -> MutexGuard<'_, Tasks> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier, Weak};

    use super::{HostConfig, PluginContext, ServiceMap};
    use crate::HookManager;

    /// `cancel` on one thread against the first `cancellation` on another: once both have
    /// returned, the token is cancelled, whoever went first. (The argument is in
    /// `cancellation`; on x86 this race test is weak evidence, elsewhere it is stronger.)
    #[test]
    fn a_token_asked_for_while_cancel_runs_ends_up_cancelled() {
        for _ in 0..2_000 {
            let ctx = Arc::new(PluginContext::new(
                "p".into(),
                Arc::new(ServiceMap::default()),
                Weak::new(),
                Arc::new(HostConfig::default()),
                HookManager::new(),
            ));
            let go = Arc::new(Barrier::new(2));
            let (c, g) = (ctx.clone(), go.clone());
            let asker = std::thread::spawn(move || {
                g.wait();
                c.cancellation().clone()
            });
            go.wait();
            ctx.cancel();
            let token = asker.join().unwrap();
            assert!(token.is_cancelled());
            assert!(ctx.cancellation().is_cancelled());
        }
    }
}
