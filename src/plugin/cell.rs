//! One plugin's place in a [`PluginHost`](super::PluginHost): its [`Cell`] (metadata,
//! state, context) and bringing it up — `init` then `start`, exactly once however many
//! callers ask, dependencies first, failures released and reported — plus the start gate that
//! makes a lazy plugin's first call bring it up.

use std::collections::HashMap;
use std::future::{Future, Ready};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use futures::future::{BoxFuture, Either, Shared};
use futures::FutureExt;
use semver::Version;
use tokio::sync::broadcast;
use tracing::Instrument;

use super::config::{ConfigError, DisabledBy, HostConfig};
use super::context::{PluginContext, Provided, ServiceMap};
use super::events::PluginEvent;
use super::gate::{GateSubject, PluginGate, Refusal, TrustSource};
use super::layer::Layer;
use super::lifecycle::PluginState;
use super::list::PluginInfo;
use super::meta::PluginMeta;
use super::shutdown::StopOutcome;
use super::Plugin;
use crate::error::BoxError;
use crate::exec::panic::panic_message;
use crate::hook::ImplInfo;
use crate::limits::{Quote, QuoteEnds};
use crate::manager::gate::StartGate;
use crate::manager::{Places, PluginHandle};
use crate::HookManager;

pub(crate) struct Host {
    pub(crate) hooks: HookManager,
    pub(crate) services: Arc<ServiceMap>,
    pub(crate) config: Arc<HostConfig>,
    /// An environment override that did not parse: `start` reports it.
    pub(crate) config_error: Option<Arc<ConfigError>>,
    pub(crate) host_api: Option<Version>,
    /// What the host asks before it lets a plugin in, registers its impls or gives it a
    /// service; `None`: everything is allowed.
    pub(crate) gate: Option<Arc<dyn PluginGate>>,
    /// Whether administrators' requests are announced as `PluginEvent::Admin` (set by the
    /// builder, or by an audit log attached).
    pub(crate) admin_events: AtomicBool,
    pub(crate) step_timeout: Option<Duration>,
    pub(crate) events: broadcast::Sender<PluginEvent>,
    pub(crate) registry: Mutex<Registry>,
    /// Serialises start, remove and shutdown (lazy starts do not take it).
    pub(crate) ops: tokio::sync::Mutex<()>,
    /// How many plugins started without an optional dependency that had failed: a start
    /// looks at its plugins' `without` lists only when this moved.
    pub(crate) skips: AtomicUsize,
    /// The manifest cache of [`PluginHost::discover`](super::PluginHost::discover).
    #[cfg(feature = "discovery")]
    pub(crate) scanner: Mutex<crate::discovery::Scanner>,
}

impl Host {
    /// Announces an administrator's request about plugin `name` (a [`PluginEvent::Admin`]),
    /// if such events were asked for.
    pub(crate) fn admin(&self, name: &str, action: super::events::AdminAction) {
        if !self.admin_events.load(Ordering::Relaxed) {
            return;
        }
        let _ = self.events.send(PluginEvent::Admin {
            plugin: name.to_owned(),
            action,
        });
    }

    /// Announces that an administrator's request about plugin `name` was refused before
    /// anything was done (a [`PluginEvent::AdminRefused`]), when admin requests are announced.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn admin_refused(
        &self,
        name: &str,
        action: super::events::AdminAction,
        reason: String,
    ) {
        if !self.admin_events.load(Ordering::Relaxed) {
            return;
        }
        let _ = self.events.send(PluginEvent::AdminRefused {
            plugin: name.to_owned(),
            action,
            reason,
        });
    }

    /// Reports a refusal of the gate: a `PluginEvent::Refused` and a `tracing` warning.
    pub(crate) fn refused(&self, refusal: &Refusal) {
        tracing::warn!(plugin = %refusal.plugin(), permission = refusal.permission(), "{refusal}");
        let _ = self.events.send(PluginEvent::Refused {
            plugin: refusal.plugin().to_owned(),
            permission: refusal.permission().map(str::to_owned),
            error: refusal.to_string(),
        });
    }

    /// Whether the gate admits `meta` with the source and isolation of `layer` (code, in
    /// process, without one); always, without a gate. A refusal is reported.
    pub(crate) fn admit(&self, meta: &PluginMeta, layer: Option<&Layer>) -> Result<(), Refusal> {
        let Some(gate) = &self.gate else {
            return Ok(());
        };
        gate.admit(&subject(meta, layer))
            .inspect_err(|r| self.refused(r))
    }
}

#[derive(Default)]
pub(crate) struct Registry {
    /// By name (hashed: a sorted map compares names on every insert, each a read of another
    /// plugin's memory; name order is made when asked for, see [`Registry::by_name`]).
    pub(crate) cells: HashMap<Arc<str>, Arc<Cell>>,
    /// The enabled cells in the order they were added (passes over every plugin walk them in
    /// the order they sit in memory), shared with the `start` running, if any: it reads them
    /// without a reference count change per plugin (`Arc::make_mut` copies the list for an
    /// `add` or a removal meanwhile).
    pub(crate) enabled: Arc<Vec<Arc<Cell>>>,
    /// The disabled cells in the order they were added.
    pub(crate) disabled: Vec<Arc<Cell>>,
    /// Plugins in the order they reached `Started`: stop order is its reverse.
    pub(crate) started: Vec<Arc<Cell>>,
    /// Each plugin's environment variable name (see `config::env_name`), to warn when two
    /// plugins would share `HOOKWIRE_PLUGIN_<NAME>_ENABLED`.
    pub(crate) env_names: HashMap<String, String>,
}

/// One plugin and its life.
///
/// Cells hold their dependencies' cells: dropping one drops its dependency chain iteratively
/// (see the `Drop` impl), never by recursion, however long the chain.
pub(crate) struct Cell {
    pub(crate) run: Mutex<Run>,
    /// Bringing the plugin up (init + start): set once, to the outcome or to a shared future
    /// of the work every caller awaits (see [`Up`]).
    pub(crate) up: OnceLock<Up>,
    pub(crate) name: Arc<str>,
    /// Present dependencies, in declaration order: set once, by the `start` that resolves the
    /// plugin.
    pub(crate) deps: OnceLock<Vec<Arc<Cell>>>,
    pub(crate) plugin: Arc<dyn Plugin>,
    /// `true` while this life is `Started`: set when it gets there, cleared when its stop
    /// begins or it fails. What a lazy plugin's gates check and what the web's plugin routes
    /// check on each request (shared with them; lock-free).
    pub(crate) open: Arc<AtomicBool>,
    /// Set by `remove`/`shutdown` when they stop waiting for a bring-up still under way: the
    /// plugin stops itself (within this grace) when its start ends.
    pub(crate) closing: Mutex<Option<Duration>>,
    pub(crate) lazy: bool,
    /// The services the plugin provides to its dependents (writable during its `init` only).
    pub(crate) provided: Provided,
    pub(crate) disabled: Option<DisabledBy>,
    /// The optional dependencies that had failed when the plugin started: it runs without
    /// them (set once, by its start, which counts it in [`Host::skips`]).
    pub(crate) without: OnceLock<Box<[Arc<str>]>>,
    pub(crate) meta: PluginMeta,
    /// Whether its state changes are the plugin's, broadcast as [`PluginEvent`]s: not while a
    /// replacement instance starts before it takes over, nor once an instance was replaced.
    pub(crate) announce: AtomicBool,
    /// Whether it is a replacement instance starting, before it takes over: its state
    /// changes are not announced, but what its supervisor reports (a process plugin's crash
    /// and restart, through its `HostLink`) is: those processes are the plugin's.
    pub(crate) stand_in: AtomicBool,
    /// What a manifest sets for the plugin (config, priorities), below the host's file.
    pub(crate) layer: Option<Arc<Layer>>,
    /// The version the plugin stated once it ran, when its metadata could not know it (a
    /// process plugin built without a version states the one its process answered in the
    /// handshake, through its `HostLink`): what the host shows and reports for this life in
    /// place of `meta.version`. Dependencies were resolved against `meta` before it ran.
    pub(crate) stated_version: OnceLock<Version>,
}

#[derive(Default)]
pub(crate) struct Run {
    pub(crate) state: PluginState,
    pub(crate) handle: Option<PluginHandle>,
    pub(crate) ctx: Option<Arc<PluginContext>>,
    /// Where its impls were in the registration order, kept when a reload stops it, so that
    /// its next life's impls take the same places.
    pub(crate) places: Option<Places>,
}

impl Registry {
    /// The cells sorted by name.
    pub(crate) fn by_name(&self) -> Vec<Arc<Cell>> {
        let mut cells: Vec<Arc<Cell>> = self.cells.values().cloned().collect();
        cells.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        cells
    }
}

impl Cell {
    /// A cell for `plugin` (under `meta.name`) in state `state`, with nothing done yet in
    /// this life: a new plugin (`Discovered`), or a new life of one restarted or replaced.
    pub(crate) fn new(
        plugin: Arc<dyn Plugin>,
        meta: PluginMeta,
        lazy: bool,
        disabled: Option<DisabledBy>,
        state: PluginState,
        layer: Option<Arc<Layer>>,
    ) -> Self {
        Cell {
            name: Arc::from(meta.name.as_str()),
            plugin,
            meta,
            lazy,
            disabled,
            without: OnceLock::new(),
            provided: Provided::default(),
            open: Arc::new(AtomicBool::new(false)),
            up: OnceLock::new(),
            deps: OnceLock::new(),
            closing: Mutex::new(None),
            run: Mutex::new(Run {
                state,
                ..Run::default()
            }),
            announce: AtomicBool::new(true),
            stand_in: AtomicBool::new(false),
            layer,
            stated_version: OnceLock::new(),
        }
    }

    /// The plugin's version as the host shows it: the one it stated once it ran, else its
    /// metadata's (`None` when that is not valid semver).
    pub(crate) fn version(&self) -> Option<&Version> {
        self.stated_version.get().or(self.meta.version.as_ref())
    }

    /// The plugin's present dependencies (none before it is resolved).
    pub(crate) fn deps(&self) -> impl Iterator<Item = &Arc<Cell>> + '_ {
        self.deps.get().into_iter().flatten()
    }

    /// Whether the plugin declared its dependency `name` optional (every time it declared it:
    /// one required declaration makes it required).
    pub(crate) fn is_optional(&self, name: &str) -> bool {
        let mut declared = self.meta.dependencies.iter().filter(|d| d.name == name);
        declared.clone().next().is_some() && declared.all(|d| d.optional)
    }

    /// A dependency the plugin requires that is `Failed` (an optional one that failed is
    /// skipped when the plugin starts).
    pub(crate) fn failed_required_dep(&self) -> Option<&Arc<Cell>> {
        self.deps()
            .find(|d| matches!(d.run().state, PluginState::Failed(_)) && !self.is_optional(&d.name))
    }

    pub(crate) fn run(&self) -> MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn status(&self, impls: Vec<ImplInfo>) -> PluginInfo {
        let mut meta = self.meta.clone();
        meta.version = self.version().cloned();
        PluginInfo {
            meta,
            state: self.run().state.clone(),
            disabled: self.disabled.clone(),
            lazy: self.lazy,
            impls,
        }
    }

    /// How a stop reports the plugin when it is not running: disabled (and by what), else
    /// its `state`.
    pub(crate) fn not_running(&self, state: PluginState) -> StopOutcome {
        match &self.disabled {
            Some(by) => StopOutcome::Disabled(by.clone()),
            None => StopOutcome::NotStarted(state),
        }
    }

    /// The plugin failed before its `init` ran: what it holds from before it was added (a
    /// spawned process plugin's processes) is released, on a task of its own (a graceful stop
    /// takes up to its grace; the start that failed it does not wait, nor can it be dropped
    /// half-way through it). Not for a plugin whose `init` ran (the caller checks, before
    /// `fail` takes the context): `stop` is its release.
    pub(crate) fn release_unstarted(&self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let plugin = self.plugin.clone();
            rt.spawn(async move { plugin.release_unstarted().await });
        }
    }

    pub(crate) fn plugin(&self) -> &Arc<dyn Plugin> {
        &self.plugin
    }

    /// The plugin as the host's gate sees it.
    pub(crate) fn subject(&self) -> GateSubject<'_> {
        subject(&self.meta, self.layer.as_deref())
    }
}

/// A plugin with metadata `meta` and manifest `layer` as the host's gate sees it: without a
/// layer, the host's code, running in its process.
fn subject<'a>(meta: &'a PluginMeta, layer: Option<&'a Layer>) -> GateSubject<'a> {
    static CODE: TrustSource = TrustSource::Code;
    match layer {
        Some(l) => GateSubject::new(meta, &l.trust).with_isolation(l.isolation),
        None => GateSubject::new(meta, &CODE),
    }
}

impl Drop for Cell {
    /// Drops the dependencies this cell was the last holder of, and theirs, with a list
    /// instead of recursion: a chain of 100,000 plugins would overflow a thread's stack.
    fn drop(&mut self) {
        let mut last: Vec<Arc<Cell>> = self.deps.take().unwrap_or_default();
        while let Some(dep) = last.pop() {
            if let Some(mut cell) = Arc::into_inner(dep) {
                last.extend(cell.deps.take().into_iter().flatten());
                // `cell` drops here, without dependencies.
            }
        }
    }
}

impl Host {
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The flag of plugin `name`'s current life that is `true` while it is `Started` (see
    /// [`Cell::open`]): cleared before a stop, disable, removal or failure of the plugin
    /// returns, so a holder checking it per request sees the plugin gone without a lock.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn running_flag(&self, name: &str) -> Option<Arc<AtomicBool>> {
        self.registry().cells.get(name).map(|c| c.open.clone())
    }

    /// The running flags of every registered plugin's current instance, by name.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn running_flags(&self) -> std::collections::HashMap<String, Arc<AtomicBool>> {
        self.registry()
            .cells
            .iter()
            .map(|(name, c)| (String::from(&**name), c.open.clone()))
            .collect()
    }

    /// Moves `cell` to `to`, with a tracing event and a broadcast [`PluginEvent`].
    pub(crate) fn transition(&self, cell: &Cell, to: PluginState) {
        let changed = self.change_state(cell, to.clone());
        Self::trace_transition(cell, changed, &to);
    }

    /// [`transition`](Self::transition) without its tracing event, for a caller that holds a
    /// lock: it passes the result to [`trace_transition`](Self::trace_transition) after.
    fn change_state(&self, cell: &Cell, to: PluginState) -> Result<PluginState, String> {
        {
            let mut run = cell.run();
            let from = run.state.clone();
            run.state
                .advance(to.clone())
                .map(|()| {
                    // Sent under the lock (a send never waits), so subscribers get each plugin's
                    // changes in the order they happened.
                    if self.events.receiver_count() > 0 && cell.announce.load(Ordering::Acquire) {
                        let _ = self.events.send(PluginEvent::StateChanged {
                            plugin: cell.name.to_string(),
                            from: from.clone(),
                            to: to.clone(),
                            version: cell.meta.version.as_ref().map(ToString::to_string),
                        });
                    }
                    from
                })
                .map_err(|e| e.to_string())
        }
    }

    /// The tracing event of a state change, emitted after every lock is released: a
    /// subscriber may look at the host.
    fn trace_transition(cell: &Cell, changed: Result<PluginState, String>, to: &PluginState) {
        match changed {
            Ok(from) => tracing::info!(plugin = %cell.name, from = ?from, to = ?to, "plugin state"),
            Err(e) => {
                tracing::error!(plugin = %cell.name, error = %e, "bug: illegal plugin state change ignored");
            }
        }
    }

    /// Marks `cell` failed (unless it already is) and releases what it holds. Returns the
    /// reason it is failed for: `reason`, or the first one when it had failed already.
    pub(crate) fn fail(&self, cell: &Cell, reason: String) -> String {
        // Failed twice (a lazy plugin whose dependency failed, found by two paths; a process
        // plugin failed by its supervisor while its `start` was failing): the first reason
        // stands, in the state, its event and what the caller reports; what it holds is
        // released either way. Checked and changed under one lock: two at once fail it once.
        cell.open.store(false, Ordering::Release);
        let standing = match self.change_state(cell, PluginState::Failed(reason.clone())) {
            Ok(from) => {
                Self::trace_transition(cell, Ok(from), &PluginState::Failed(reason.clone()));
                reason
            }
            Err(_) => match &cell.run().state {
                PluginState::Failed(first) => first.clone(),
                _ => reason,
            },
        };
        // What it provided is gone: a dependent that uses it optionally runs on without it.
        cell.provided.clear();
        let (handle, ctx) = {
            let mut run = cell.run();
            (run.handle.take(), run.ctx.take())
        };
        if let Some(h) = handle {
            self.hooks.unregister(&h);
        }
        if let Some(ctx) = ctx {
            ctx.cancel();
            if let (Some(mut set), _) = ctx.tasks().close() {
                set.abort_all();
                set.detach_all();
            }
        }
        standing
    }

    /// Runs one lifecycle step with the step time limit, catching panics.
    async fn step(
        &self,
        what: &str,
        fut: impl Future<Output = Result<(), BoxError>>,
    ) -> Result<(), String> {
        let fut = AssertUnwindSafe(fut).catch_unwind();
        let done = match self.step_timeout {
            None => Ok(fut.await),
            Some(limit) => tokio::time::timeout(limit, fut)
                .await
                .map_err(|_| format!("{what} timed out after {limit:?}")),
        }?;
        match done {
            Ok(Ok(())) => Ok(()),
            // The end of a failure often says the most (a process's last stderr line).
            Ok(Err(e)) => Err(format!("{what} failed: {}", QuoteEnds(e))),
            Err(panic) => Err(format!(
                "{what} panicked: {}",
                QuoteEnds(panic_message(panic))
            )),
        }
    }

    /// Initialises and starts `cell` (dependencies first), exactly once however many callers
    /// ask; later callers get the first outcome. The work is a shared future kept in the cell,
    /// so a caller that gives up (an impl timeout, a call deadline) never cancels it or makes
    /// it run twice: the next caller carries on from where it stopped. With `detach` (lazy
    /// starts, triggered by a call or by a dependent's start) it also runs on its own task, so
    /// it progresses even when whatever triggered it gave up.
    pub(crate) fn bring_up(
        self: &Arc<Self>,
        cell: Arc<Cell>,
        detach: bool,
    ) -> BoxFuture<'static, Result<(), String>> {
        let host = self.clone();
        Box::pin(async move {
            if is_starting(&cell) {
                return Err(format!(
                    "plugin `{}` was called while it is starting (from its own `init`/`start`, or from a plugin it starts first); call it once start-up is over",
                    cell.name
                ));
            }
            let up = cell
                .up
                .get_or_init(|| {
                    let work = {
                        let (host, cell) = (host.clone(), cell.clone());
                        async move { host.init_and_start(&cell).await }
                    };
                    // Only a lazy plugin can be called while it starts (an eager one's impls
                    // are published after `start`), so only lazy ones join the list.
                    let work = if cell.lazy {
                        let parent = STARTING.try_with(Clone::clone).ok().flatten();
                        let stack = Some(Arc::new(Starting {
                            cell: cell_id(&cell),
                            parent,
                        }));
                        STARTING.scope(stack, work).boxed()
                    } else {
                        work.boxed()
                    };
                    Up::Running(match tokio::runtime::Handle::try_current() {
                        Ok(rt) if detach => {
                            let task = rt.spawn(work);
                            async move {
                                task.await.unwrap_or_else(|e| {
                                    Err(format!("its start-up task ended: {}", Quote(e)))
                                })
                            }
                            .boxed()
                            .shared()
                        }
                        _ => work.shared(),
                    })
                })
                .wait();
            up.await
        })
    }

    /// Brings up an eager plugin for `start`, in the calling task and without a shared
    /// future: nothing else can wait for it (its impls are published after `start`, and its
    /// dependents start after it). If the caller drops this future part-way, the plugin is
    /// `Failed` ("its start was cancelled") and everything it holds is released.
    /// `by` names the operation, for that reason (`"start"`, `"restart"`, `"replace"`).
    pub(crate) async fn start_eager(
        self: &Arc<Self>,
        cell: &Arc<Cell>,
        by: &'static str,
    ) -> Result<(), String> {
        /// Fails the plugin unless defused: the start was dropped part-way.
        struct Cancelled<'a>(Option<(&'a Host, &'a Cell, &'static str)>);
        impl Drop for Cancelled<'_> {
            fn drop(&mut self) {
                if let Some((host, cell, by)) = self.0.take() {
                    let reason = format!("its start was cancelled: the future of `PluginHost::{by}` was dropped while the plugin was starting");
                    let reason = host.fail(cell, reason);
                    let _ = cell.up.set(Up::Done(Err(reason)));
                }
            }
        }
        if let Some(up) = cell.up.get() {
            return up.wait().await;
        }
        let mut armed = Cancelled(Some((self, cell, by)));
        let result = self.init_and_start(cell).await;
        armed.0 = None;
        let _ = cell.up.set(Up::Done(result.clone()));
        result
    }

    async fn init_and_start(self: &Arc<Self>, cell: &Arc<Cell>) -> Result<(), String> {
        let mut without = Vec::new();
        for dep in cell.deps() {
            // A dependency not brought up yet (a lazy one) starts on its own task, so that it
            // finishes even if this start is dropped part-way.
            let up = match dep.up.get().and_then(Up::peek) {
                Some(done) => done.is_ok(),
                None => self.bring_up(dep.clone(), true).await.is_ok(),
            };
            // A plugin that started can still fail later (its impls could not be registered).
            if !up || matches!(dep.run().state, PluginState::Failed(_)) {
                if cell.is_optional(&dep.name) {
                    // Optional: the plugin works without it, as if it were absent.
                    tracing::warn!(plugin = %cell.name, dependency = %dep.name, "optional dependency failed; the plugin starts without it");
                    if !without.contains(&dep.name) {
                        without.push(dep.name.clone());
                    }
                    continue;
                }
                let reason = self.fail(cell, format!("dependency `{}` failed", dep.name));
                cell.release_unstarted();
                return Err(reason);
            }
        }
        if !without.is_empty() && cell.without.set(without.into_boxed_slice()).is_ok() {
            self.skips.fetch_add(1, Ordering::Release);
        }
        let ctx = Arc::new(
            PluginContext::new(
                cell.name.clone(),
                self.services.clone(),
                Arc::downgrade(cell),
                self.config.clone(),
                self.hooks.clone(),
            )
            .with_owner(Arc::downgrade(self))
            .with_gate(self.gate.clone(), self.events.clone()),
        );
        cell.run().ctx = Some(ctx.clone());
        let span = ctx.span().clone();
        cell.provided.set_open(true);
        let init = self
            .step("init", cell.plugin.init(&ctx))
            .instrument(span.clone())
            .await;
        cell.provided.set_open(false);
        if let Err(reason) = init {
            return Err(self.fail(cell, reason));
        }
        self.transition(cell, PluginState::Initialized);
        if let Err(reason) = self
            .step("start", cell.plugin.start(&ctx))
            .instrument(span)
            .await
        {
            // A failure through its `HostLink` while `start` ran (a process plugin at its
            // start limit) may have caused this one: its reason stands.
            return Err(self.fail(cell, reason));
        }
        // `Started` and listed, unless `remove`/`shutdown` gave up waiting for this start
        // meanwhile (decided under the `closing` lock, which they set it under): then the
        // plugin stops here, and nobody else stops it.
        let (closing, changed) = {
            let closing = cell.closing.lock().unwrap_or_else(PoisonError::into_inner);
            let changed = self.change_state(cell, PluginState::Started);
            if closing.is_none() && changed.is_ok() {
                cell.open.store(true, Ordering::Release);
                self.registry().started.push(cell.clone());
            }
            (*closing, changed)
        };
        // It failed on its own while `start` ran (a process plugin whose process crashed at
        // its start limit, through its `HostLink`): that is the start's outcome.
        if changed.is_err() {
            if let PluginState::Failed(reason) = cell.run().state.clone() {
                tracing::debug!(plugin = %cell.name, reason = %reason, "the plugin failed while it was starting");
                return Err(reason);
            }
        }
        Self::trace_transition(cell, changed, &PluginState::Started);
        if let Some(grace) = closing {
            let stop = self.stop_cell(cell, grace).await;
            tracing::info!(plugin = %cell.name, outcome = ?stop.outcome, "stopped a plugin whose start ended after the manager stopped waiting");
            return Err("the manager stopped the plugin while it was starting".to_owned());
        }
        Ok(())
    }
}

/// The gate a lazy plugin's impls wait on.
///
/// It holds the manager and the cell weakly: the hook manager owns the gate, and the cell owns
/// a context that owns the hook manager, so strong references would form a cycle.
pub(crate) struct LazyGate {
    host: Weak<Host>,
    cell: Weak<Cell>,
    name: Arc<str>,
    open: Arc<AtomicBool>,
}

impl LazyGate {
    pub(crate) fn new(host: &Arc<Host>, cell: &Arc<Cell>) -> Self {
        LazyGate {
            host: Arc::downgrade(host),
            cell: Arc::downgrade(cell),
            name: cell.name.clone(),
            open: cell.open.clone(),
        }
    }
}

impl StartGate for LazyGate {
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    fn open(&self) -> BoxFuture<'static, Result<(), BoxError>> {
        let cell = self.cell.upgrade();
        let host = self.host.upgrade();
        let name = self.name.clone();
        Box::pin(async move {
            let (Some(host), Some(cell)) = (host, cell) else {
                return Err(format!("plugin `{name}` was removed from its manager").into());
            };
            host.bring_up(cell.clone(), true)
                .await
                .map_err(|r| format!("lazy plugin `{}` could not start: {r}", cell.name))?;
            // It started, but may have been stopped since (a call waiting at the gate while
            // `remove`/`shutdown` ran): its impls no longer run.
            let state = cell.run().state.clone();
            match state {
                PluginState::Started => Ok(()),
                other => {
                    Err(format!("plugin `{}` is no longer running ({other:?})", cell.name).into())
                }
            }
        })
    }
}

/// How far bringing a plugin up got: over, with its outcome (eager plugins, and plugins that
/// failed or were stopped before they started), or under way as a future shared by every
/// caller of [`Host::bring_up`].
pub(crate) enum Up {
    Done(Result<(), String>),
    Running(Shared<BoxFuture<'static, Result<(), String>>>),
}

impl Up {
    /// The outcome, if it is over.
    pub(crate) fn peek(&self) -> Option<&Result<(), String>> {
        match self {
            Up::Done(done) => Some(done),
            Up::Running(work) => work.peek(),
        }
    }

    /// Waits for the outcome.
    pub(crate) fn wait(&self) -> Either<Ready<Result<(), String>>, UpFuture> {
        match self {
            Up::Done(done) => Either::Left(std::future::ready(done.clone())),
            Up::Running(work) => Either::Right(work.clone()),
        }
    }
}

type UpFuture = Shared<BoxFuture<'static, Result<(), String>>>;

tokio::task_local! {
    /// The plugins whose start-up the current task is part of, innermost first: a call that
    /// reaches one of them would wait for itself.
    static STARTING: Option<Arc<Starting>>;
}

/// One plugin being started (its cell's address) and the start it is part of: a list shared
/// by the tasks of nested lazy starts, so a start adds one node rather than copying the list
/// (a chain of lazy plugins would otherwise copy it once per link).
struct Starting {
    cell: usize,
    parent: Option<Arc<Starting>>,
}

impl Drop for Starting {
    /// Unlinks the rest of the list iteratively: a long chain of starts must not drop
    /// recursively.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(node) = next {
            next = Arc::into_inner(node).and_then(|mut n| n.parent.take());
        }
    }
}

fn cell_id(cell: &Cell) -> usize {
    std::ptr::from_ref(cell) as usize
}

/// Whether the current task is part of `cell`'s start-up. Only a start under way can be one:
/// the list is walked only then (a plugin whose start has not begun is on no list).
fn is_starting(cell: &Cell) -> bool {
    let under_way = matches!(cell.up.get(), Some(Up::Running(work)) if work.peek().is_none());
    under_way
        && STARTING
            .try_with(|s| {
                let mut at = s.as_deref();
                while let Some(node) = at {
                    if node.cell == cell_id(cell) {
                        return true;
                    }
                    at = node.parent.as_deref();
                }
                false
            })
            .unwrap_or(false)
}
