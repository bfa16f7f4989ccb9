//! [`PluginHost`]: plugins with a lifecycle on top of a [`HookManager`].
//!
//! `add` records a plugin (`Discovered`), `start` resolves the dependencies of every plugin
//! added so far and walks each through `Registered → Initialized → Started` in dependency
//! order, `shutdown` stops them in reverse. A plugin that fails (to register, init or start)
//! is `Failed` with the reason; the plugins that depend on it are `Failed` with "dependency
//! `x` failed" and never started; every other plugin starts normally.
//!
//! Lazy plugins are registered by `start` but initialised and started on the first call that
//! reaches one of their impls (see [`add_lazy`](PluginHost::add_lazy)).
//!
//! A stopped or failed plugin can be [`restart`](PluginHost::restart)ed, and a plugin
//! [`replace`](PluginHost::replace)d by a new instance while the others run (`reload.rs`);
//! a plugin can be [`disable`](PluginHost::disable)d and [`enable`](PluginHost::enable)d
//! while the host runs, whatever the configuration said (`enable.rs`).

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::builder::PluginHostBuilder;
use super::cell::{Cell, Host, LazyGate, Up};
use super::config::{env_name, DisabledBy, HostConfig};
use super::deps::resolve_refs;
use super::events::PluginEvent;
use super::layer::Layer;
use super::lifecycle::PluginState;
use super::list::PluginList;
use super::meta::PluginMeta;
use super::report::{PluginError, StartReport};
use super::Plugin;
use crate::exec::panic::panic_message;
use crate::hook::ImplInfo;
use crate::limits::Quote;
use crate::manager::registrar::Registrar;
use crate::spec::HookSpec;
use crate::{HookCaller, HookManager};

/// Plugins with metadata, dependencies, a lifecycle, context and configuration, on top of a
/// [`HookManager`]. Cheap to clone (shared).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use hookwire::{async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta,
///                Registrar, RegisterError};
/// hookwire::hookspec! { pub struct Greet(String) -> String; }
///
/// struct Db(&'static str);
/// struct Storage;
/// #[async_trait]
/// impl Plugin for Storage {
///     fn meta(&self) -> PluginMeta { PluginMeta::new("storage", "1.0.0") }
///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
///     async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
///         ctx.provide(Db("postgres://"))?;
///         Ok(())
///     }
/// }
/// struct Greeter;
/// #[async_trait]
/// impl Plugin for Greeter {
///     fn meta(&self) -> PluginMeta { PluginMeta::new("greeter", "1.0.0").requires("storage", "^1") }
///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
///         r.sync_fn::<Greet>(|n| Ok(Some(format!("hello {n}")))).add()
///     }
///     async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
///         assert_eq!(ctx.require::<Db>()?.0, "postgres://");
///         Ok(())
///     }
/// }
///
/// let pm = PluginHost::new();
/// pm.add(Greeter).unwrap();
/// pm.add(Storage).unwrap();
/// let report = pm.start().await.unwrap();
/// assert_eq!(report.started, ["storage", "greeter"]);
/// let out = pm.hook::<Greet>().call(&"ada".to_owned()).await.unwrap();
/// assert_eq!(out.into_value().as_deref(), Some("hello ada"));
/// let stopped = pm.shutdown(std::time::Duration::from_secs(5)).await;
/// assert_eq!(stopped.plugins.len(), 2);
/// assert!(pm.plugins().is_empty());
/// # });
/// ```
#[derive(Clone)]
pub struct PluginHost {
    pub(crate) inner: Arc<Host>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("plugins", &self.plugins())
            .finish_non_exhaustive()
    }
}

impl Default for PluginHost {
    fn default() -> Self {
        Self::new()
    }
}

impl PluginHost {
    /// A manager with an empty [`HookManager`], no services and an empty configuration.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for services, configuration, host API version and time limits.
    pub fn builder() -> PluginHostBuilder {
        PluginHostBuilder::new()
    }

    /// The hook manager the plugins' impls are registered with.
    pub fn hooks(&self) -> &HookManager {
        &self.inner.hooks
    }

    /// A caller for hook `S`: shorthand for `pm.hooks().hook::<S>()`.
    pub fn hook<S: HookSpec>(&self) -> HookCaller<S> {
        self.inner.hooks.hook::<S>()
    }

    /// The host configuration.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// Subscribes to plugin events from now on: one [`PluginEvent::StateChanged`] per state
    /// change, and the outcomes of reloads and refused removals.
    pub fn events(&self) -> broadcast::Receiver<PluginEvent> {
        self.inner.events.subscribe()
    }

    /// Adds `plugin` (`Discovered`); [`start`](Self::start) registers and starts it. Whether it
    /// is enabled (and lazy) comes from the configuration.
    ///
    /// # Errors
    /// [`PluginError::Duplicate`] if a plugin of that name was added already (to add a second
    /// instance of one plugin type, name it: [`add_as`](Self::add_as));
    /// [`PluginError::Refused`] if the host's [`PluginGate`](super::PluginGate) refuses it
    /// (its trust level, or a permission it declares): it is not added.
    pub fn add<P: Plugin>(&self, plugin: P) -> Result<(), PluginError> {
        self.add_named(Arc::new(plugin), false, None)
    }

    /// Adds `plugin` under `name` instead of the name in its [`meta`](Plugin::meta): the way
    /// to add two instances of one plugin type. The instance is that name everywhere — its
    /// state, its impls (as the plugin name a [`HookOutcome`](crate::HookOutcome) reports),
    /// its configuration section, the dependencies of other plugins on it; the rest of its
    /// metadata (version, dependencies) is the plugin's own.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use hookwire::{Plugin, error::PluginError, PluginHost, PluginMeta, Registrar, RegisterError};
    ///
    /// struct Cache;
    /// impl Plugin for Cache {
    ///     fn meta(&self) -> PluginMeta { PluginMeta::new("cache", "1.0.0") }
    ///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
    /// }
    ///
    /// let pm = PluginHost::new();
    /// pm.add(Cache).unwrap();
    /// assert!(matches!(pm.add(Cache), Err(PluginError::Duplicate { .. })));
    /// pm.add_as("cache-2", Cache).unwrap();
    /// assert_eq!(pm.start().await.unwrap().started, ["cache", "cache-2"]);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`PluginError::Duplicate`] if a plugin named `name` was added already;
    /// [`PluginError::Refused`] as for [`add`](Self::add).
    pub fn add_as<P: Plugin>(&self, name: impl Into<String>, plugin: P) -> Result<(), PluginError> {
        self.add_named(Arc::new(plugin), false, Some(name.into()))
    }

    /// [`add_lazy`](Self::add_lazy) under `name`: see [`add_as`](Self::add_as).
    ///
    /// # Errors
    /// As [`add_as`](Self::add_as).
    pub fn add_lazy_as<P: Plugin>(
        &self,
        name: impl Into<String>,
        plugin: P,
    ) -> Result<(), PluginError> {
        self.add_named(Arc::new(plugin), true, Some(name.into()))
    }

    /// Adds `plugin` as lazy: `start` registers its impls, and the first call that reaches
    /// one of them initialises and starts it (and its dependencies), exactly once however many
    /// calls arrive together; they all wait for it. If it fails to start, those calls get an
    /// error outcome for its impls. `lazy = false` in the configuration overrides this.
    ///
    /// A lazy plugin that calls its own hooks while it starts gets an error for them, not a
    /// deadlock. Two lazy plugins whose `init`/`start` call each other's hooks, first called
    /// at the same time from two tasks, wait for each other: give the host a
    /// [`step_timeout`](super::PluginHostBuilder::step_timeout) if your plugins may do
    /// that.
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn add_lazy<P: Plugin>(&self, plugin: P) -> Result<(), PluginError> {
        self.add_named(Arc::new(plugin), true, None)
    }

    /// [`add`](Self::add) for a plugin that is already shared (an `Arc<dyn Plugin>`, e.g. one
    /// chosen at run time from a list).
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn add_arc(&self, plugin: Arc<dyn Plugin>) -> Result<(), PluginError> {
        self.add_named(plugin, false, None)
    }

    /// [`add_lazy`](Self::add_lazy) for a plugin that is already shared.
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn add_arc_lazy(&self, plugin: Arc<dyn Plugin>) -> Result<(), PluginError> {
        self.add_named(plugin, true, None)
    }

    /// Adds a plugin, under `name` if given (else its metadata's name).
    fn add_named(
        &self,
        plugin: Arc<dyn Plugin>,
        lazy: bool,
        name: Option<String>,
    ) -> Result<(), PluginError> {
        let mut meta = plugin.meta();
        if let Some(name) = name {
            meta.name = name;
        }
        self.add_layered(plugin, lazy, meta, None)
    }

    /// Adds a plugin with `meta` (its own, possibly extended) and the `layer` a manifest
    /// sets for it (config and priorities below the host's file).
    pub(crate) fn add_layered(
        &self,
        plugin: Arc<dyn Plugin>,
        lazy: bool,
        meta: PluginMeta,
        layer: Option<Arc<Layer>>,
    ) -> Result<(), PluginError> {
        if meta.name.is_empty() {
            return Err(PluginError::EmptyName);
        }
        self.inner
            .admit(&meta, layer.as_deref())
            .map_err(PluginError::Refused)?;
        let config = &self.inner.config;
        let disabled = config.disabled_by(&meta.name);
        let lazy = config.lazy(&meta.name).unwrap_or(lazy);
        let mut reg = self.inner.registry();
        if reg.cells.contains_key(meta.name.as_str()) {
            return Err(PluginError::Duplicate { plugin: meta.name });
        }
        let cell = Arc::new(Cell::new(
            plugin,
            meta,
            lazy,
            disabled,
            PluginState::Discovered,
            layer,
        ));
        // Only worth the allocation when the environment overrides anything at all.
        let mut shares_env = None;
        if config.has_env_overrides() {
            let env = env_name(&cell.name);
            match reg.env_names.get(&env) {
                Some(other) => shares_env = Some((env, other.clone())),
                None => {
                    reg.env_names.insert(env, cell.meta.name.clone());
                }
            }
        }
        if cell.disabled.is_some() {
            reg.disabled.push(cell.clone());
        } else {
            Arc::make_mut(&mut reg.enabled).push(cell.clone());
        }
        reg.cells.insert(cell.name.clone(), cell.clone());
        // Events after the lock: a subscriber may look at the manager.
        drop(reg);
        if let Some(by) = &cell.disabled {
            tracing::info!(plugin = %cell.name, disabled_by = %by, "plugin disabled");
        }
        if let Some((env, other)) = shares_env {
            tracing::warn!(
                plugin = %cell.name,
                other = %other,
                "plugins `{}` and `{other}` share the environment variable HOOKWIRE_PLUGIN_{env}_ENABLED; rename one to control them separately",
                cell.name
            );
        }
        Ok(())
    }

    /// The plugins, with their metadata, state and impls; query by name, capability and state.
    pub fn plugins(&self) -> PluginList {
        // One pass over the hook manager's registry (its own lock, not taken under ours).
        let mut impls: HashMap<Arc<str>, Vec<ImplInfo>> = self
            .hooks()
            .plugins()
            .into_iter()
            .map(|p| (p.name, p.impls))
            .collect();
        let reg = self.inner.registry();
        PluginList::new(
            reg.cells
                .values()
                .map(|c| c.status(impls.remove(&c.name).unwrap_or_default()))
                .collect(),
        )
    }

    /// The state of plugin `name`.
    pub fn state(&self, name: &str) -> Option<PluginState> {
        let cell = self.inner.registry().cells.get(name).cloned()?;
        let state = cell.run().state.clone();
        Some(state)
    }

    /// Resolves the dependencies of every enabled plugin and brings up each one added since
    /// the last call:
    ///
    /// 1. every new plugin's impls are collected (`register`, with the configuration's
    ///    priority overrides; in the order the plugins were added, which is the registration
    ///    order that breaks ties between impls) and checked together — names, types,
    ///    ordering — without being registered (`Discovered → Registered`);
    /// 2. the eager ones are initialised and started in dependency order
    ///    (`→ Initialized → Started`);
    /// 3. the impls of every plugin that started (and of the lazy ones, behind their start
    ///    gate) become callable together, in one batch.
    ///
    /// So an impl is never called before its plugin started, and a plugin that fails never
    /// had its impls called. While `start` runs, calls (including those plugins make from
    /// their own `start`) see the plugins started by earlier `start` calls; use services
    /// ([`PluginContext::provide`](crate::PluginContext::provide)) to reach a dependency
    /// during start-up.
    ///
    /// With a [`PluginGate`](super::PluginGate) installed, each impl collected in step 1 is
    /// checked by it first: one refused fails its plugin ("registration refused: ..." naming
    /// the hook and the permission) and none of that plugin's impls is registered.
    ///
    /// Then the gate's [`check_names`](super::PluginGate::check_names): a gate that names a
    /// hook or service the host does not declare fails the whole start
    /// ([`PluginError::Gate`]), before anything is registered.
    ///
    /// A plugin that fails is `Failed` with the reason and its dependents are `Failed`
    /// ("dependency `x` failed") without being called; the others start normally and the call
    /// returns `Ok` with the failures listed in the report.
    ///
    /// # Errors
    /// [`PluginError::Dependencies`] listing every problem (missing or mismatched
    /// dependencies, conflicts, cycles, host API mismatches); [`PluginError::Config`] if an
    /// environment override did not parse; [`PluginError::Gate`] if the gate names a hook or
    /// service the host does not declare (the new plugins are `Failed` with its message).
    /// Nothing is started then.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future part-way leaves the plugins started so far
    /// running but not callable, the plugin being started `Failed` ("its start was
    /// cancelled") — a lazy dependency it was bringing up finishes starting on its own task —
    /// and the ones not reached yet `Registered`; call [`shutdown`](Self::shutdown) to clean
    /// up.
    pub async fn start(&self) -> Result<StartReport, PluginError> {
        let host = &self.inner;
        if let Some(e) = &host.config_error {
            return Err(PluginError::Config(e.clone()));
        }
        let _ops = host.ops.lock().await;
        let skips_before = host.skips.load(Ordering::Acquire);
        let (cells, disabled) = {
            let reg = host.registry();
            let disabled: Vec<(String, DisabledBy)> = reg
                .disabled
                .iter()
                .filter_map(|c| Some((String::from(&*c.name), c.disabled.clone()?)))
                .collect();
            (reg.enabled.clone(), disabled)
        };
        let metas: Vec<&PluginMeta> = cells.iter().map(|c| &c.meta).collect();
        let resolved = resolve_refs(&metas, host.host_api.as_ref()).map_err(|error| {
            PluginError::Dependencies {
                error,
                disabled: disabled.clone(),
            }
        })?;
        drop(metas);
        let mut report = StartReport {
            disabled,
            skipped_optional: resolved.skipped_optional.clone(),
            unknown_config_sections: self.unknown_sections(),
            ..StartReport::default()
        };

        // 1. One pass over the new plugins, in the order they were added (the registration
        //    order that breaks ties between impls, and the order they sit in memory): wire
        //    their dependencies and collect their impls. Then check all the impls together,
        //    registering nothing yet.
        let mut is_new = vec![false; cells.len()];
        // Lists over every plugin are sized up front: growing one of 10,000 step by step copies
        // it and faults in fresh pages each time.
        let mut batch = Vec::with_capacity(cells.len());
        let mut batch_cells = Vec::with_capacity(cells.len());
        // Plugins that name their impls only once they run: registered after their start.
        let mut late = Vec::new();
        let mut refused_hooks = Vec::new();
        for (i, cell) in cells.iter().enumerate() {
            if cell.run().state != PluginState::Discovered {
                continue;
            }
            // A plugin leaves `Discovered` in this pass (registered or failed; a panic in its
            // `register` is caught), with no await in between: it is wired once.
            let wired = cell.deps.set(
                resolved
                    .deps_of(i)
                    .iter()
                    .map(|&d| cells[d as usize].clone())
                    .collect(),
            );
            debug_assert!(wired.is_ok(), "a plugin is wired once");
            is_new[i] = true;
            if !cell.lazy && cell.plugin.register_after_init() {
                late.push(cell);
                continue;
            }
            // The hooks of impls the gate refuses count as declared for its names' check.
            match self.collect(cell).and_then(|r| {
                refused_hooks.extend(r.hook_names().map(str::to_owned));
                self.check_impls(cell, &r).map(|()| r)
            }) {
                Ok(r) => {
                    batch.push(r);
                    batch_cells.push(cell);
                }
                Err(reason) => self.fail_before_start(cell, reason),
            }
        }
        // The gate's names must be ones the host declares: a rule for a misspelt hook would
        // guard nothing. Checked before anything of this start is registered or started.
        if let Some(gate) = &host.gate {
            if let Err(e) = super::gate::check_names(&**gate, host, &batch, refused_hooks) {
                tracing::error!("{e}");
                for cell in batch_cells.iter().copied().chain(late.iter().copied()) {
                    self.fail_before_start(cell, e.to_string());
                }
                return Err(PluginError::Gate(Arc::new(e)));
            }
        }
        // The new plugins in start order, and their input positions.
        let fresh_at: Vec<u32> = resolved
            .order
            .iter()
            .copied()
            .filter(|&i| is_new[i as usize])
            .collect();
        let fresh: Vec<&Arc<Cell>> = fresh_at.iter().map(|&i| &cells[i as usize]).collect();
        // The registrars stay where they are (positions in `batch` move instead): each holds
        // its plugin's first impl, and thousands of them copied around add up.
        let verdicts = host.hooks.check_batch(&batch);
        let mut checked = Vec::with_capacity(batch.len());
        for (k, verdict) in verdicts.into_iter().enumerate() {
            let cell = batch_cells[k];
            match verdict {
                Ok(()) => {
                    host.transition(cell, PluginState::Registered);
                    checked.push(k);
                }
                Err(e) => self.fail_before_start(cell, format!("registration failed: {e}")),
            }
        }
        for cell in &late {
            host.transition(cell, PluginState::Registered);
        }

        // 2. Bring the eager ones up, in start order.
        report.start_order.reserve(fresh.len());
        let started_before = {
            let mut reg = host.registry();
            reg.started.reserve(fresh.len());
            reg.started.len()
        };
        for cell in &fresh {
            // The start order lists every new plugin, failed and lazy ones included.
            report.start_order.push(String::from(&*cell.name));
            if cell.lazy || cell.run().state != PluginState::Registered {
                continue;
            }
            let _ = host.start_eager(cell, "start").await;
        }

        // The impls of the plugins that name them once they run, now that they do.
        for cell in late {
            if cell.run().state != PluginState::Started {
                continue;
            }
            match self.registrar(cell) {
                Ok(r) => {
                    batch.push(r);
                    batch_cells.push(cell);
                    checked.push(batch.len() - 1);
                }
                Err(reason) => self.fail_started(cell, reason).await,
            }
        }

        // 3. Make the impls of every plugin that is up (or lazy, behind its gate) callable,
        //    in one batch: one snapshot rebuild per hook for the whole start.
        let mut live = Vec::with_capacity(checked.len());
        let mut live_at = Vec::with_capacity(checked.len());
        for &k in &checked {
            let cell = batch_cells[k];
            if cell.lazy {
                if let Some(dep) = cell.failed_required_dep() {
                    let reason = format!("dependency `{}` failed", dep.name);
                    // Brought up already (by an eager dependent) before its dependency
                    // failed late: stopped like any plugin that started.
                    if cell.run().ctx.is_some() {
                        self.fail_started(cell, reason).await;
                    } else {
                        self.fail_before_start(cell, reason);
                    }
                    continue;
                }
            }
            if matches!(
                cell.run().state,
                PluginState::Started | PluginState::Registered
            ) {
                live.push(cell);
                live_at.push(k);
            }
        }
        // A constraint naming a plugin that is not callable (failed) waits for it.
        let registrars: Vec<&Registrar> = live_at.iter().map(|&k| &batch[k]).collect();
        let results = host.hooks.register_batch(&registrars);
        for (k, result) in results.into_iter().enumerate() {
            let cell = live[k];
            match result {
                Ok(handle) => {
                    // A lazy plugin that a call brought up meanwhile may have failed already,
                    // before its handle was here to release.
                    let failed = {
                        let mut run = cell.run();
                        if matches!(run.state, PluginState::Failed(_)) {
                            Some(handle)
                        } else {
                            run.handle = Some(handle);
                            None
                        }
                    };
                    if let Some(handle) = failed {
                        host.hooks.unregister(&handle);
                    }
                }
                // Only a registration made directly on the hook manager since step 1 can
                // get here: stop the plugin, it cannot be called.
                Err(e) => {
                    self.fail_started(cell, format!("registration failed: {e}"))
                        .await
                }
            }
        }

        // What happened to each new plugin: failed and lazy in start order; started in the
        // order they started (lazy dependencies brought up by eager dependents included).
        let mut started_now: Vec<&Arc<Cell>> = Vec::with_capacity(fresh.len());
        let config_keys = host.config.has_own_keys();
        report.started.reserve(fresh.len());
        for cell in &fresh {
            let run = cell.run();
            match &run.state {
                PluginState::Started => {
                    started_now.push(cell);
                    if config_keys && !run.ctx.as_ref().is_some_and(|c| c.read_config()) {
                        for key in host.config.own_keys(&cell.name) {
                            report
                                .unread_config_keys
                                .push((String::from(&*cell.name), key.clone()));
                        }
                    }
                    // Read after seeing `Started`: a plugin sets `without` and counts itself
                    // before it starts, so this sees a lazy one that a call just brought up.
                    let skipped_some = host.skips.load(Ordering::Acquire) != skips_before;
                    let without = cell.without.get().filter(|_| skipped_some);
                    for dep in without.into_iter().flatten() {
                        report
                            .skipped_optional
                            .push((String::from(&*cell.name), String::from(&**dep)));
                    }
                }
                PluginState::Failed(reason) => {
                    report
                        .failed
                        .push((String::from(&*cell.name), reason.clone()));
                }
                PluginState::Registered if cell.lazy => report.lazy.push(String::from(&*cell.name)),
                _ => {}
            }
        }
        // Tracing after the locks: a subscriber may look at the manager.
        for (plugin, key) in &report.unread_config_keys {
            tracing::warn!(plugin = %plugin, key = %key, "the plugin never read this key of its config section: a typo, or settings for a plugin that takes none");
        }
        // The started list since step 2 may hold plugins of earlier starts (lazy ones that
        // calls brought up meanwhile) and may not hold yet a lazy one of ours that a call is
        // bringing up right now (it is `Started` a moment before it is listed): membership is
        // decided plugin by plugin.
        let mut ours: HashSet<*const Cell> = started_now.iter().map(|c| Arc::as_ptr(c)).collect();
        {
            let reg = host.registry();
            let since = &reg.started[started_before.min(reg.started.len())..];
            for cell in since {
                if ours.remove(&Arc::as_ptr(cell)) {
                    report.started.push(String::from(&*cell.name));
                }
            }
        }
        for cell in started_now {
            if ours.contains(&Arc::as_ptr(cell)) {
                report.started.push(String::from(&*cell.name));
            }
        }
        Ok(report)
    }

    fn unknown_sections(&self) -> Vec<String> {
        let unknown: Vec<String> = {
            let reg = self.inner.registry();
            self.inner
                .config
                .section_names()
                .filter(|s| !reg.cells.contains_key(*s))
                .map(str::to_owned)
                .collect()
        };
        for s in &unknown {
            tracing::warn!(section = %s, "config section names no plugin that was added");
        }
        unknown
    }

    /// A failure after `start` (its impls could not be registered): stopped, then failed.
    async fn fail_started(&self, cell: &Arc<Cell>, reason: String) {
        let host = &self.inner;
        let _ = cell.up.set(Up::Done(Err(reason.clone())));
        if cell.run().state == PluginState::Started {
            let grace = host.step_timeout.unwrap_or(Duration::from_secs(5));
            host.stop_cell(cell, grace).await;
            host.registry().started.retain(|c| !Arc::ptr_eq(c, cell));
        }
        host.fail(cell, reason);
    }

    /// A failure before `init`: no lifecycle method ran.
    /// (The report lists it: `start` reads every new plugin's final state.)
    fn fail_before_start(&self, cell: &Arc<Cell>, reason: String) {
        // Decided before `fail`, which takes the context away: no start was attempted (a
        // start sets `up`; one that failed before `init` released the plugin itself).
        let never_initialised = cell.up.get().is_none() && cell.run().ctx.is_none();
        let _ = cell.up.set(Up::Done(Err(reason.clone())));
        self.inner.fail(cell, reason);
        if never_initialised {
            cell.release_unstarted();
        }
    }

    /// `cell`'s impls, collected (with the configuration's priority overrides and, for a
    /// lazy plugin, its start gate) but not registered yet.
    pub(super) fn registrar(&self, cell: &Arc<Cell>) -> Result<Registrar, String> {
        let r = self.collect(cell)?;
        self.check_impls(cell, &r)?;
        Ok(r)
    }

    /// `cell`'s impls, collected as [`registrar`](Self::registrar) says, before the gate.
    fn collect(&self, cell: &Arc<Cell>) -> Result<Registrar, String> {
        let host = &self.inner;
        if let Some(failed) = cell.failed_required_dep() {
            return Err(format!("dependency `{}` failed", failed.name));
        }
        if cell.lazy && cell.plugin.register_after_init() {
            return Err("it cannot start lazily: it names its impls only once it runs (a process plugin: list its hooks in its manifest's `[process] hooks`)".to_owned());
        }
        let mut r = Registrar::new(cell.name.clone());
        if cell.lazy {
            r.set_gate(Arc::new(LazyGate::new(host, cell)));
        }
        // A panic in `register` fails this plugin, not the whole `start` (which would leave
        // the plugins after it half-way through this pass).
        let plugin = cell.plugin.clone();
        let registered = std::panic::catch_unwind(AssertUnwindSafe(|| plugin.register(&mut r)))
            .map_err(|p| format!("registration panicked: {}", Quote(panic_message(p))))?;
        // A manifest's overrides sit below the host file's, hook by hook.
        let file = host.config.priority_overrides(&cell.name);
        let merged;
        let overrides = match cell.layer.as_deref().filter(|l| !l.priority.is_empty()) {
            None => file,
            Some(layer) => {
                let mut all = layer.priority.clone();
                all.extend(file.into_iter().flatten().map(|(h, p)| (h.clone(), *p)));
                merged = all;
                Some(&merged)
            }
        };
        registered
            .and_then(|()| match overrides {
                Some(o) => r.override_priorities(o),
                None => Ok(()),
            })
            .map_err(|e| format!("registration failed: {e}"))?;
        Ok(r)
    }

    /// Whether the gate lets `cell` register every impl of `r` (a refusal is announced).
    fn check_impls(&self, cell: &Arc<Cell>, r: &Registrar) -> Result<(), String> {
        let host = &self.inner;
        // Every impl passes the gate before any is registered.
        if let Some(gate) = &host.gate {
            let subject = cell.subject();
            for hook in r.hook_names() {
                if let Err(refusal) = gate.check_hook(&subject, hook) {
                    host.refused(&refusal);
                    return Err(format!("registration refused: {refusal}"));
                }
            }
        }
        Ok(())
    }

    /// Names of the enabled plugins wired to `name` as a dependency (required, or optional and
    /// present when they started) that are registered or running.
    pub(crate) fn live_dependents(&self, name: &str) -> Vec<String> {
        let reg = self.inner.registry();
        // A failed plugin holds up none of the plugins that use it optionally: they run (or
        // will start) without it.
        let failed = reg
            .cells
            .get(name)
            .is_some_and(|c| matches!(c.run().state, PluginState::Failed(_)));
        let mut names: Vec<String> = reg
            .cells
            .values()
            .filter(|c| {
                if c.disabled.is_some() {
                    return false;
                }
                let run = c.run();
                matches!(
                    run.state,
                    PluginState::Registered | PluginState::Initialized | PluginState::Started
                ) && c.deps().any(|d| &*d.name == name)
                    && !(failed && c.is_optional(name))
            })
            .map(|c| String::from(&*c.name))
            .collect();
        names.sort_unstable();
        names
    }
}
