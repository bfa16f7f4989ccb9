//! Reloading plugins while the host runs: [`PluginHost::stop`] and
//! [`PluginHost::restart`] (one plugin down and up again, the same instance), and
//! [`PluginHost::replace`] (a new instance in place of the one serving, in one swap).
//!
//! Each life of a plugin is a cell of its own: a restart or a replacement builds a new
//! [`Cell`] (wired to the dependencies as they are now), checks it, brings it up and puts it
//! in the registry in place of the old one. Nothing of the old life (its start-up outcome,
//! its context, its services) is carried over, so none of the set-once parts of a cell has to
//! be reset.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use super::cell::{Cell, Host, Up};
use super::config::DisabledBy;
use super::deps::resolve_refs;
use super::events::{AdminAction, PluginEvent};
use super::host::PluginHost;
use super::layer::Layer;
use super::lifecycle::PluginState;
use super::meta::PluginMeta;
use super::report::{write_group, PluginError};
use super::shutdown::{PluginStop, StopOutcome};
use super::Plugin;
use crate::manager::registrar::Registrar;
use crate::manager::PluginHandle;

/// What [`PluginHost::replace`] did after the swap.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReloadReport {
    /// The plugin replaced.
    pub plugin: String,
    /// How the old instance stopped ([`StopOutcome::NotStarted`] when it was not running:
    /// failed, stopped, or lazy and never called).
    pub old: PluginStop,
    /// The plugins that depend on it (directly or not) that were running, restarted in
    /// dependency order: stopped and started again, the same instances (a lazy one that had
    /// not started yet was registered again, behind its start gate).
    pub restarted: Vec<String>,
    /// Dependents that did not come back, with the reason (they are `Failed`, or still
    /// starting from before).
    pub failed: Vec<(String, String)>,
}

/// What an operator would log after a replacement: one line for the plugin and how its old
/// instance stopped, then one line per kind of dependent result, each only when it lists
/// something:
///
/// ```text
/// replaced db (old instance stopped)
/// restarted 2: auth, api
/// failed 1: reports (plugin `reports` failed: init failed: no db)
/// ```
///
/// The old instance's part reads `stopped`, `stop timed out after <grace>`, the reason its
/// stop failed, or `was not running (<state>)`.
impl std::fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "replaced {} (old instance ", self.plugin)?;
        match &self.old.outcome {
            StopOutcome::Stopped => f.write_str("stopped")?,
            StopOutcome::TimedOut { limit } => write!(f, "stop timed out after {limit:?}")?,
            StopOutcome::Failed(why) => f.write_str(why)?,
            StopOutcome::NotStarted(state) => write!(f, "was not running ({state})")?,
            StopOutcome::Disabled(by) => write!(f, "was not running: {}", by.phrase())?,
        }
        f.write_str(")")?;
        write_group(f, "restarted", &self.restarted, |f, p| f.write_str(p))?;
        write_group(f, "failed", &self.failed, |f, (p, why)| {
            write!(f, "{p} ({why})")
        })
    }
}

/// Fails a cell when dropped armed: the future of a reload was dropped while the cell was
/// starting or stopping. Failing releases what it holds (token cancelled, tasks aborted).
struct Abandon<'a> {
    host: &'a Host,
    cell: &'a Arc<Cell>,
    why: String,
    armed: bool,
}

impl<'a> Abandon<'a> {
    fn new(host: &'a Host, cell: &'a Arc<Cell>, why: String) -> Self {
        Abandon {
            host,
            cell,
            why,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.host.fail(self.cell, std::mem::take(&mut self.why));
            self.host
                .registry()
                .started
                .retain(|c| !Arc::ptr_eq(c, self.cell));
        }
    }
}

impl PluginHost {
    /// Stops the running plugin `name` and keeps it, `Stopped`, so that
    /// [`restart`](Self::restart) can bring it back: its impls are unregistered first (calls
    /// already running finish on their snapshot), then its `stop` runs within `grace`, its
    /// token is cancelled and its tasks get the rest of the grace (see
    /// [`shutdown`](Self::shutdown)). A `stop` that fails or times out leaves it `Failed`.
    ///
    /// A plugin that is not running (not started yet, lazy and never called, failed, stopped)
    /// is left as it is: the report says [`StopOutcome::NotStarted`] with its state
    /// ([`StopOutcome::Disabled`] for a disabled one). To stop a plugin and keep it off, so
    /// that neither [`start`](Self::start) nor `restart` brings it back, use
    /// [`disable`](Self::disable).
    ///
    /// # Errors
    /// [`PluginError::Unknown`] for a name that was never added; [`PluginError::Required`]
    /// while plugins that depend on it are registered or running (stop them first). Nothing
    /// changes then.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future while `stop` runs leaves the plugin `Started`
    /// with its impls unregistered; call `stop` again to finish.
    pub async fn stop(&self, name: &str, grace: Duration) -> Result<PluginStop, PluginError> {
        let host = &self.inner;
        let _ops = host.ops.lock().await;
        host.admin(name, AdminAction::Stop);
        let cell = self.cell(name)?;
        let state = cell.run().state.clone();
        if state != PluginState::Started {
            return Ok(PluginStop {
                plugin: name.to_owned(),
                outcome: cell.not_running(state),
                aborted_tasks: Vec::new(),
                panicked_tasks: Vec::new(),
            });
        }
        let dependents = self.live_dependents(name);
        if !dependents.is_empty() {
            return Err(PluginError::Required {
                plugin: name.to_owned(),
                dependents,
            });
        }
        self.unregister_keeping_places(&cell);
        let stop = host.stop_cell(&cell, grace).await;
        host.registry().started.retain(|c| !Arc::ptr_eq(c, &cell));
        Ok(stop)
    }

    /// Brings a `Stopped` or `Failed` plugin up again, the same instance: it is checked
    /// against the plugins running now (its dependencies must be running, at matching
    /// versions; conflicts, host API, the ordering constraints of its impls), then goes
    /// `Registered → Initialized → Started` (new `init` and `start`, with a fresh
    /// [`PluginContext`](crate::PluginContext)), and its impls are registered again — a lazy
    /// plugin too is started now. Plugins that run without it (it is their optional
    /// dependency) keep running without it, and plugins that failed because it had failed
    /// stay failed: restart them after it.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hookwire::{Plugin, PluginHost, PluginMeta, Registrar, RegisterError};
    /// hookwire::hookspec! { pub struct Ping(()) -> &'static str; }
    ///
    /// struct Pong;
    /// impl Plugin for Pong {
    ///     fn meta(&self) -> PluginMeta { PluginMeta::new("pong", "1.0.0") }
    ///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
    ///         r.sync_fn::<Ping>(|_| Ok(Some("pong"))).add()
    ///     }
    /// }
    ///
    /// let pm = PluginHost::new();
    /// pm.add(Pong).unwrap();
    /// pm.start().await.unwrap();
    /// pm.stop("pong", Duration::from_secs(1)).await.unwrap();
    /// assert_eq!(pm.state("pong").unwrap().to_string(), "stopped");
    /// assert_eq!(pm.hook::<Ping>().call(&()).await.unwrap().into_value(), None);
    ///
    /// pm.restart("pong").await.unwrap();
    /// assert_eq!(pm.state("pong").unwrap().to_string(), "started");
    /// assert_eq!(pm.hook::<Ping>().call(&()).await.unwrap().into_value(), Some("pong"));
    /// # });
    /// ```
    ///
    /// # Errors
    /// Each also sent as [`PluginEvent::ReloadFailed`]:
    /// - [`PluginError::Unknown`] for a name that was never added;
    /// - [`PluginError::NotRestartable`] for a plugin that is neither stopped nor failed;
    /// - [`PluginError::Disabled`] for a disabled plugin ([`enable`](Self::enable) it);
    /// - [`PluginError::Dependencies`] when it no longer fits with the plugins running (a
    ///   dependency removed or at another version, a new conflict),
    ///   [`PluginError::DependencyNotRunning`] for a required dependency that is there but
    ///   not running (or disabled), and [`PluginError::Failed`] for impls that cannot be
    ///   registered (an ordering cycle with the impls registered now): the plugin keeps its
    ///   state then;
    /// - [`PluginError::Failed`] when its `init` or `start` fails: it is `Failed` again, with
    ///   the new reason.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future while `init` or `start` runs fails the plugin
    /// ("its start was cancelled") and releases what it holds; call `restart` again.
    pub async fn restart(&self, name: &str) -> Result<(), PluginError> {
        let _ops = self.inner.ops.lock().await;
        self.inner.admin(name, AdminAction::Restart);
        let result = async {
            let old = self.cell(name)?;
            if let Some(by) = &old.disabled {
                return Err(PluginError::Disabled {
                    plugin: name.to_owned(),
                    by: by.clone(),
                });
            }
            let state = old.run().state.clone();
            if !matches!(state, PluginState::Stopped | PluginState::Failed(_)) {
                return Err(PluginError::NotRestartable {
                    plugin: name.to_owned(),
                    state,
                });
            }
            self.renew(&old, true, "restart").await
        }
        .await;
        if let Err(e) = &result {
            self.reload_failed(name, e);
        }
        result
    }

    /// Replaces plugin `name` by a new instance, `plugin`, without a moment where neither
    /// serves:
    ///
    /// 1. the new instance's metadata is checked against the plugins running now: its name
    ///    (the same, or the one the old instance's own `meta()` gives, for a plugin added
    ///    with [`add_as`](Self::add_as)), dependencies, conflicts, host API, and that the
    ///    plugins requiring `name` accept its version; its `register` runs and its impls are
    ///    checked (types, ordering constraints) as if the old ones were gone;
    /// 2. it is initialised and started (its dependencies are the running plugins) while the
    ///    old instance still serves — unless the old one is lazy and was never called: then
    ///    the new one is lazy too and starts on its first call;
    /// 3. **the swap**: all its impls replace all the old instance's, on every hook, under
    ///    one registry lock and with no await in between: each call runs either the old
    ///    impls or the new ones, never some of each. Calls already running finish on the
    ///    old impls (their snapshot); calls made after `replace` returns run the new ones.
    ///    The new impls take the old ones' places in the registration order (an impl the
    ///    old version did not have on a hook counts as registered now). From here the new
    ///    instance is the plugin (`state`, [`plugins`](Self::plugins), events):
    ///    [`PluginEvent::Replaced`];
    /// 4. the plugins that depend on it (directly or not) and were running are stopped,
    ///    dependents first; then the old instance is stopped (its `stop` within `grace`, its
    ///    token cancelled, its tasks given the rest of the grace); then those dependents are
    ///    started again in dependency order — the same instances, with a fresh context wired
    ///    to the new instance (their impls are not called between their stop and their
    ///    start). See [`ReloadReport`].
    ///
    /// Calls to a hook and then to another are two calls: each hook's list changes in one
    /// store, and all of them are stored one after the other under the lock, so a task that
    /// calls hook A and then hook B while the swap happens may see the new version on A and
    /// the old on B, for the duration of those stores.
    ///
    /// The old instance may be `Started`, `Failed` or `Stopped` (a failed plugin is replaced
    /// by a fixed one: nothing to stop), or lazy and never called.
    ///
    /// The old instance is stopped here, but dropped only once nothing holds its impls: a call
    /// in flight, or a [`HookCaller`](crate::HookCaller) made before the swap (which caches
    /// the snapshot it was made with): replace long-lived callers after a reload.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hookwire::{Plugin, PluginHost, PluginMeta, Registrar, RegisterError};
    /// hookwire::hookspec! { pub struct Greet(String) -> String; }
    ///
    /// struct Greeter(&'static str, &'static str);
    /// impl Plugin for Greeter {
    ///     fn meta(&self) -> PluginMeta { PluginMeta::new("greeter", self.0) }
    ///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
    ///         r.sync_fn::<Greet>(move |n| Ok(Some(format!("{} {n}", self.1)))).add()
    ///     }
    /// }
    ///
    /// let pm = PluginHost::new();
    /// pm.add(Greeter("1.0.0", "hello")).unwrap();
    /// pm.start().await.unwrap();
    /// let report = pm.replace("greeter", Greeter("1.1.0", "hi"), Duration::from_secs(1)).await.unwrap();
    /// assert!(report.restarted.is_empty());
    /// let out = pm.hook::<Greet>().call(&"ada".to_owned()).await.unwrap();
    /// assert_eq!(out.into_value().as_deref(), Some("hi ada"));
    /// # });
    /// ```
    ///
    /// # Errors
    /// Any error before the swap leaves the old instance serving, unchanged; the new one is
    /// dropped (stopped first if it had started). Each is also sent as
    /// [`PluginEvent::ReloadFailed`]:
    /// - [`PluginError::Unknown`] for a name that was never added;
    /// - [`PluginError::NameMismatch`] for an instance named otherwise;
    /// - [`PluginError::Refused`] when the host's [`PluginGate`](super::PluginGate) refuses
    ///   the new version (a permission it declares that its trust level may not be granted);
    ///   a new impl the gate refuses is a [`PluginError::Failed`] ("registration refused",
    ///   naming the hook and the permission);
    /// - [`PluginError::NotReplaceable`] for a plugin not started yet, or whose start is
    ///   under way; [`PluginError::Disabled`] for a disabled one;
    /// - [`PluginError::Dependencies`] for metadata that does not fit with the running
    ///   plugins (every problem listed), [`PluginError::DependencyNotRunning`] for a
    ///   required dependency that is there but not running;
    /// - [`PluginError::Failed`] when its impls
    ///   cannot be registered (`registration failed: …`, e.g. an ordering cycle), or when its
    ///   `init` or `start` fails (`init failed: …`).
    ///
    /// A dependent that does not start again is listed in [`ReloadReport::failed`] (and is
    /// `Failed`): the replacement stands.
    ///
    /// # Cancel safety
    /// The swap is never half done: it happens in one step with no await. Dropping the future
    /// **before the swap** (while the new instance starts) leaves the old instance serving
    /// unchanged; the new one is dropped, its token cancelled and its tasks aborted (its
    /// `stop` is not called: its `start` did not finish). Dropping it **after the swap** leaves
    /// the new instance serving; the old one, if its `stop` was under way, has its token
    /// cancelled and its tasks aborted; a dependent whose `stop` or `start` was under way is
    /// `Failed` the same way, and the dependents stopped but not started again stay `Stopped`
    /// ([`restart`](Self::restart) them); the others keep running as they were.
    pub async fn replace<P: Plugin>(
        &self,
        name: &str,
        plugin: P,
        grace: Duration,
    ) -> Result<ReloadReport, PluginError> {
        self.replace_arc(name, Arc::new(plugin), grace).await
    }

    /// [`replace`](Self::replace) with a shared instance.
    ///
    /// # Errors
    /// As [`replace`](Self::replace).
    ///
    /// # Cancel safety
    /// As [`replace`](Self::replace).
    pub async fn replace_arc(
        &self,
        name: &str,
        plugin: Arc<dyn Plugin>,
        grace: Duration,
    ) -> Result<ReloadReport, PluginError> {
        let _ops = self.inner.ops.lock().await;
        self.inner.admin(name, AdminAction::Replace);
        let result = self.replace_locked(name, plugin, None, grace).await;
        if let Err(e) = &result {
            self.reload_failed(name, e);
        }
        result
    }

    /// [`replace_arc`](Self::replace_arc) with the metadata, the [`Layer`] and the `lazy` the
    /// new instance gets (a changed manifest: its config, priorities, dependencies, `lazy`;
    /// the host configuration's `lazy` still wins), instead of its own metadata and the old
    /// instance's layer and `lazy`. A lazy plugin not called yet that becomes eager starts
    /// now; one that serves keeps serving when it becomes lazy (the new instance starts
    /// before the swap).
    #[cfg(feature = "watch")]
    pub(crate) async fn replace_layered(
        &self,
        name: &str,
        plugin: Arc<dyn Plugin>,
        meta: PluginMeta,
        layer: Option<Arc<Layer>>,
        lazy: bool,
        grace: Duration,
    ) -> Result<ReloadReport, PluginError> {
        let _ops = self.inner.ops.lock().await;
        let lazy = self.config().lazy(name).unwrap_or(lazy);
        let result = self
            .replace_locked(name, plugin, Some((meta, layer, lazy)), grace)
            .await;
        if let Err(e) = &result {
            self.reload_failed(name, e);
        }
        result
    }

    async fn replace_locked(
        &self,
        name: &str,
        plugin: Arc<dyn Plugin>,
        layered: Option<(PluginMeta, Option<Arc<Layer>>, bool)>,
        grace: Duration,
    ) -> Result<ReloadReport, PluginError> {
        let host = &*self.inner;
        let old = self.cell(name)?;
        if let Some(by) = &old.disabled {
            return Err(PluginError::Disabled {
                plugin: name.to_owned(),
                by: by.clone(),
            });
        }
        let (mut meta, layer, lazy) = match layered {
            Some(layered) => layered,
            None => (plugin.meta(), old.layer.clone(), old.lazy),
        };
        if meta.name != name && meta.name != old.plugin.meta().name {
            return Err(PluginError::NameMismatch {
                plugin: name.to_owned(),
                found: meta.name,
            });
        }
        name.clone_into(&mut meta.name);
        // The new version passes the gate again (it may declare more permissions).
        host.admit(&meta, layer.as_deref())
            .map_err(PluginError::Refused)?;
        let old_state = old.run().state.clone();
        let never_called = old.lazy && old.up.get().is_none();
        match old_state {
            PluginState::Started | PluginState::Stopped | PluginState::Failed(_) => {}
            PluginState::Registered if never_called => {}
            state => {
                return Err(PluginError::NotReplaceable {
                    plugin: name.to_owned(),
                    state,
                })
            }
        }
        // A lazy plugin that was not called yet stays waiting for its first call, unless the
        // new instance is eager.
        let start_now = old_state != PluginState::Registered || !lazy;
        let cell = Arc::new(Cell::new(
            plugin,
            meta,
            lazy,
            None,
            PluginState::Discovered,
            layer,
        ));
        // Its state changes are not the plugin's until it takes over (its crashes are).
        cell.announce.store(false, Ordering::Release);
        cell.stand_in.store(true, Ordering::Release);
        let old_handle = old.run().handle.clone();
        let registrar = self.prepare(&cell, old_handle.as_ref())?;
        host.transition(&cell, PluginState::Registered);

        let mut abandon = Abandon::new(
            host,
            &cell,
            "its start was cancelled: the future of `PluginHost::replace` was dropped".to_owned(),
        );
        if start_now {
            if let Err(reason) = self.inner.start_eager(&cell, "replace").await {
                abandon.disarm();
                return Err(PluginError::Failed {
                    plugin: name.to_owned(),
                    reason,
                });
            }
        }
        // A plugin that names its impls once it runs: checked now that it does.
        let registrar = match registrar {
            Some(r) => r,
            None => match self.late_registrar(&cell, old_handle.as_ref()) {
                Ok(r) => r,
                Err(e) => {
                    host.stop_cell(&cell, grace).await;
                    host.registry().started.retain(|c| !Arc::ptr_eq(c, &cell));
                    abandon.disarm();
                    if let PluginError::Failed { reason, .. } = &e {
                        host.fail(&cell, reason.clone());
                    }
                    return Err(e);
                }
            },
        };
        // The swap: from the registration to the registry, no await, under the lock that a
        // failure through the plugin's link takes (a process plugin reaching its start limit
        // after its start ended): either that failure came first and the old instance stays,
        // or it comes after the swap and fails the plugin that took over.
        let closing = cell.closing.lock().unwrap_or_else(PoisonError::into_inner);
        if let PluginState::Failed(reason) = cell.run().state.clone() {
            drop(closing);
            abandon.disarm();
            return Err(PluginError::Failed {
                plugin: name.to_owned(),
                reason,
            });
        }
        let swapped = match &old_handle {
            Some(h) => host.hooks.replace(h, &registrar),
            // Not registered (failed, stopped): its impls go where its last life's were.
            None => {
                let places = old.run().places.take().unwrap_or_default();
                host.hooks.register_in_places(places, &registrar)
            }
        };
        let handle = match swapped {
            Ok(handle) => handle,
            // Only a registration made directly on the hook manager since the check can get
            // here.
            Err(e) => {
                drop(closing);
                let reason = format!("registration failed: {e}");
                if start_now {
                    host.stop_cell(&cell, grace).await;
                    host.registry().started.retain(|c| !Arc::ptr_eq(c, &cell));
                }
                abandon.disarm();
                let reason = host.fail(&cell, reason);
                return Err(PluginError::Failed {
                    plugin: name.to_owned(),
                    reason,
                });
            }
        };
        abandon.disarm();
        cell.run().handle = Some(handle);
        old.run().handle = None;
        old.announce.store(false, Ordering::Release);
        cell.announce.store(true, Ordering::Release);
        // Current first, then no longer a stand-in: an event announced in between is not lost.
        self.install_cell(&old, &cell);
        cell.stand_in.store(false, Ordering::Release);
        drop(closing);
        let version = |c: &Cell| {
            c.version()
                .map_or("invalid".to_owned(), ToString::to_string)
        };
        let (old_version, new_version) = (version(&old), version(&cell));
        tracing::info!(plugin = %name, old_version = %old_version, new_version = %new_version, "plugin replaced");
        self.send(PluginEvent::Replaced {
            plugin: name.to_owned(),
            old_version,
            new_version,
        });

        // After the swap: dependents down, the old instance down, dependents up.
        let dependents = self.dependents_of(&cell);
        let mut report = ReloadReport {
            plugin: name.to_owned(),
            old: PluginStop {
                plugin: name.to_owned(),
                outcome: StopOutcome::NotStarted(old_state),
                aborted_tasks: Vec::new(),
                panicked_tasks: Vec::new(),
            },
            restarted: Vec::new(),
            failed: Vec::new(),
        };
        // Per dependent (in dependency order): whether it comes back, and started or lazy.
        let mut comes_back = Vec::with_capacity(dependents.len());
        for dep in dependents.iter().rev() {
            let was = dep.run().state.clone();
            self.unregister_keeping_places(dep);
            let (_, given_up) = self.stop_guarded(dep, grace, "replace").await;
            comes_back.push(if given_up {
                Err("its start was still under way when the grace period ended; restart it once it stopped".to_owned())
            } else {
                Ok(was != PluginState::Registered)
            });
        }
        comes_back.reverse();
        report.old = self.stop_guarded(&old, grace, "replace").await.0;
        for (dep, back) in dependents.iter().zip(comes_back) {
            let name = String::from(&*dep.name);
            match back {
                Err(reason) => report.failed.push((name, reason)),
                Ok(start_now) => match self.renew(dep, start_now, "replace").await {
                    Ok(()) => report.restarted.push(name),
                    Err(e) => report.failed.push((name, e.to_string())),
                },
            }
        }
        Ok(report)
    }

    /// Settles and stops `cell` (its impls already unregistered) within `grace`, and takes
    /// it off the started list. `true` with the report when it was still starting after the
    /// grace: it stops itself when its start ends. Dropped part-way, the cell is failed
    /// (token cancelled, tasks aborted), with a reason naming `by`.
    pub(super) async fn stop_guarded(
        &self,
        cell: &Arc<Cell>,
        grace: Duration,
        by: &'static str,
    ) -> (PluginStop, bool) {
        let host = &*self.inner;
        let why = format!("its stop was cancelled: the future of `PluginHost::{by}` was dropped");
        let mut abandon = Abandon::new(host, cell, why);
        let settled = host.settle(cell, grace).await;
        let waited = settled.waited;
        let done = match settled.given_up(cell) {
            Some(stop) => (stop, true),
            None => (host.stop_cell_after(cell, grace, waited).await, false),
        };
        abandon.disarm();
        host.registry().started.retain(|c| !Arc::ptr_eq(c, cell));
        done
    }

    /// A new life of `old`'s plugin (the same instance), which holds no impls and is not
    /// running: checked (nothing changes if that fails), put in the registry in `old`'s
    /// place, `Registered` (it may be already: a lazy plugin never called), brought up if
    /// `start_now`, and its impls registered. `by` names the operation (`"restart"`,
    /// `"replace"`).
    pub(super) async fn renew(
        &self,
        old: &Arc<Cell>,
        start_now: bool,
        by: &'static str,
    ) -> Result<(), PluginError> {
        let host = &*self.inner;
        let plugin = || String::from(&*old.name);
        let state = old.run().state.clone();
        let cell = Arc::new(Cell::new(
            old.plugin.clone(),
            old.meta.clone(),
            old.lazy,
            None,
            state.clone(),
            old.layer.clone(),
        ));
        let registrar = self.prepare(&cell, None)?;
        self.install_cell(old, &cell);
        let late = registrar.is_none();
        if state != PluginState::Registered {
            host.transition(&cell, PluginState::Registered);
        }
        if start_now {
            self.inner
                .start_eager(&cell, by)
                .await
                .map_err(|reason| PluginError::Failed {
                    plugin: plugin(),
                    reason,
                })?;
        }
        let registrar = match registrar {
            Some(r) => r,
            None => match self.late_registrar(&cell, None) {
                Ok(r) => r,
                Err(e) => {
                    let grace = host.step_timeout.unwrap_or(Duration::from_secs(5));
                    self.stop_guarded(&cell, grace, by).await;
                    if let PluginError::Failed { reason, .. } = &e {
                        host.fail(&cell, reason.clone());
                    }
                    return Err(e);
                }
            },
        };
        debug_assert!(
            !late || start_now,
            "a late-registering plugin is never lazy"
        );
        let places = old.run().places.take().unwrap_or_default();
        match host.hooks.register_in_places(places, &registrar) {
            Ok(handle) => {
                // A lazy plugin that a call brought up meanwhile may have failed already.
                let failed = {
                    let mut run = cell.run();
                    if run.state.is_failed() {
                        Some(handle)
                    } else {
                        run.handle = Some(handle);
                        None
                    }
                };
                if let Some(handle) = failed {
                    host.hooks.unregister(&handle);
                }
                Ok(())
            }
            Err(e) => {
                let reason = format!("registration failed: {e}");
                let _ = cell.up.set(Up::Done(Err(reason.clone())));
                if cell.run().state == PluginState::Started {
                    let grace = host.step_timeout.unwrap_or(Duration::from_secs(5));
                    self.stop_guarded(&cell, grace, by).await;
                }
                let reason = host.fail(&cell, reason);
                Err(PluginError::Failed {
                    plugin: plugin(),
                    reason,
                })
            }
        }
    }

    /// Wires `cell` (a new life of a plugin, not in the registry yet) to the running plugins
    /// and checks it against them: its metadata (`resolve` over the running plugins with it
    /// in place of its name's current life), its `register` and its impls as if the
    /// registration `old` (its name's current one, if any) were gone. Changes nothing else.
    ///
    /// `None` for a plugin that names its impls only once it runs
    /// ([`Plugin::register_after_init`](super::Plugin::register_after_init)): see
    /// [`late_registrar`](Self::late_registrar), once it started.
    fn prepare(
        &self,
        cell: &Arc<Cell>,
        old: Option<&PluginHandle>,
    ) -> Result<Option<Registrar>, PluginError> {
        let host = &*self.inner;
        let plugin = || String::from(&*cell.name);
        let (live, disabled, not_running) = {
            let reg = host.registry();
            let live: Vec<Arc<Cell>> = reg
                .enabled
                .iter()
                .filter(|c| c.name != cell.name && is_live(&c.run().state))
                .cloned()
                .collect();
            // A required dependency that is there but not running (or disabled): say so,
            // rather than "missing".
            let not_running = cell
                .meta
                .dependencies
                .iter()
                .filter(|d| !d.optional && !live.iter().any(|c| *c.name == *d.name))
                .find_map(|d| {
                    let dep = reg.cells.get(d.name.as_str())?;
                    let state = dep.run().state.clone();
                    Some(PluginError::DependencyNotRunning {
                        plugin: plugin(),
                        dependency: d.name.clone(),
                        state,
                        disabled: dep.disabled.clone(),
                    })
                });
            let disabled: Vec<(String, DisabledBy)> = reg
                .disabled
                .iter()
                .filter_map(|c| Some((String::from(&*c.name), c.disabled.clone()?)))
                .collect();
            (live, disabled, not_running)
        };
        if let Some(e) = not_running {
            return Err(e);
        }
        let mut metas: Vec<&PluginMeta> = live.iter().map(|c| &c.meta).collect();
        metas.push(&cell.meta);
        let resolved = resolve_refs(&metas, host.host_api.as_ref())
            .map_err(|error| PluginError::Dependencies { error, disabled })?;
        let deps = resolved
            .deps_of(live.len())
            .iter()
            .map(|&d| live[d as usize].clone())
            .collect();
        let wired = cell.deps.set(deps);
        debug_assert!(wired.is_ok(), "a new cell is wired once");
        if !cell.lazy && cell.plugin.register_after_init() {
            return Ok(None);
        }
        self.late_registrar(cell, old).map(Some)
    }

    /// `cell`'s registrar, checked as if the registration `old` were gone.
    fn late_registrar(
        &self,
        cell: &Arc<Cell>,
        old: Option<&PluginHandle>,
    ) -> Result<Registrar, PluginError> {
        let host = &*self.inner;
        let plugin = || String::from(&*cell.name);
        let registrar = self.registrar(cell).map_err(|reason| PluginError::Failed {
            plugin: plugin(),
            reason,
        })?;
        host.hooks
            .check_replacement(old, &registrar)
            .map_err(|e| PluginError::Failed {
                plugin: plugin(),
                reason: format!("registration failed: {e}"),
            })?;
        Ok(registrar)
    }

    /// Puts `new` in the registry in `old`'s place (the same place among the enabled
    /// plugins: the order that breaks ties and the next `start` walks).
    fn install_cell(&self, old: &Arc<Cell>, new: &Arc<Cell>) {
        let mut reg = self.inner.registry();
        reg.cells.insert(new.name.clone(), new.clone());
        // An enabled plugin that was disabled: no longer among the disabled ones.
        reg.disabled.retain(|c| !Arc::ptr_eq(c, old));
        let enabled = Arc::make_mut(&mut reg.enabled);
        match enabled.iter().position(|c| Arc::ptr_eq(c, old)) {
            Some(at) => enabled[at] = new.clone(),
            None => enabled.push(new.clone()),
        }
    }

    /// The running plugins that depend on `cell`'s plugin, directly or through others
    /// (required, or optional and wired), in dependency order (ties by name).
    fn dependents_of(&self, cell: &Arc<Cell>) -> Vec<Arc<Cell>> {
        let live: Vec<Arc<Cell>> = {
            let reg = self.inner.registry();
            reg.enabled
                .iter()
                .filter(|c| is_live(&c.run().state))
                .cloned()
                .collect()
        };
        // Walk them dependencies first: the resolution's order (the running plugins resolved
        // when they started, so this cannot fail; if it did, nobody would be restarted).
        let metas: Vec<&PluginMeta> = live.iter().map(|c| &c.meta).collect();
        let order = match resolve_refs(&metas, None) {
            Ok(resolved) => resolved.order,
            Err(e) => {
                tracing::error!(plugin = %cell.name, error = %e, "bug: the running plugins do not resolve; their dependents are not restarted");
                return Vec::new();
            }
        };
        let mut affected: Vec<Arc<str>> = vec![cell.name.clone()];
        let mut out = Vec::new();
        for i in order {
            let c = &live[i as usize];
            if !Arc::ptr_eq(c, cell) && c.deps().any(|d| affected.contains(&d.name)) {
                affected.push(c.name.clone());
                out.push(c.clone());
            }
        }
        out
    }

    /// Unregisters `cell`'s impls, keeping their places for its next life.
    pub(super) fn unregister_keeping_places(&self, cell: &Cell) {
        let handle = cell.run().handle.take();
        if let Some(h) = handle {
            let places = self.inner.hooks.unregister_keeping_places(&h);
            cell.run().places = places;
        }
    }

    /// The cell of plugin `name`.
    pub(super) fn cell(&self, name: &str) -> Result<Arc<Cell>, PluginError> {
        let reg = self.inner.registry();
        match reg.cells.get(name) {
            Some(c) => Ok(c.clone()),
            None => Err(PluginError::Unknown {
                plugin: name.to_owned(),
                known: reg
                    .by_name()
                    .iter()
                    .map(|c| String::from(&*c.name))
                    .collect(),
            }),
        }
    }

    pub(crate) fn send(&self, event: PluginEvent) {
        let events = &self.inner.events;
        if events.receiver_count() > 0 {
            let _ = events.send(event);
        }
    }

    /// Logs and sends [`PluginEvent::ReloadFailed`] for a reload that changed nothing.
    #[cfg(feature = "watch")]
    pub(crate) fn reload_failed_with(&self, name: &str, error: &str) {
        tracing::warn!(plugin = %name, error = %error, "reload failed; the version that was serving (if any) still serves");
        self.send(PluginEvent::ReloadFailed {
            plugin: name.to_owned(),
            error: error.to_owned(),
        });
    }

    fn reload_failed(&self, name: &str, error: &PluginError) {
        tracing::warn!(plugin = %name, error = %error, "reload failed; the version that was serving (if any) still serves");
        self.send(PluginEvent::ReloadFailed {
            plugin: name.to_owned(),
            error: error.to_string(),
        });
    }
}

/// Registered (lazy, waiting for its first call), starting or started.
fn is_live(state: &PluginState) -> bool {
    matches!(
        state,
        PluginState::Registered | PluginState::Initialized | PluginState::Started
    )
}
