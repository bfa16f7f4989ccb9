//! A process plugin's processes: one, or several behind one plugin (`instances`). Each call
//! goes to the instance with the fewest calls in flight. Each instance is watched: a crashed
//! one is started again after the restart policy's backoff while the others serve, and at the
//! start limit (crashes of all instances counted together) the plugin fails — its other
//! processes are stopped and its host is told, through the [`HostLink`] its context gave.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;
use tokio::task::JoinHandle;

use super::builder::ProcessPluginBuilder;
use super::child::{self, Process};
use super::error::ProcessError;
use super::protocol::HookImplDecl;
use super::restart::CrashHistory;
use crate::error::BoxError;
use crate::hookimpl::HookReturn;
use crate::limits::Quote;
use crate::manager::{HookManager, WeakManager};
use crate::plugin::{Health, HostLink, PluginEvent};

/// What serves one instance now.
enum Current {
    /// No process yet (built, not initialised).
    Idle,
    /// The host stopped it; `init` starts another.
    Stopped(Arc<Process>),
    /// A process serves.
    Running(Arc<Process>),
    /// The last process crashed; another starts after a backoff.
    Restarting { last: Arc<Process>, why: String },
    /// The plugin crashed too often: it stays stopped until its host restarts it.
    Failed { last: Arc<Process>, reason: String },
}

impl Current {
    fn process(&self) -> Option<&Arc<Process>> {
        match self {
            Current::Idle => None,
            Current::Running(p)
            | Current::Stopped(p)
            | Current::Restarting { last: p, .. }
            | Current::Failed { last: p, .. } => Some(p),
        }
    }
}

/// One instance: what serves it, and how many calls it has in flight.
struct Slot {
    current: Mutex<Current>,
    busy: AtomicUsize,
}

/// Gives back an instance's place in the count of calls in flight.
struct Busy<'a>(&'a AtomicUsize);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a process answered in the handshake: its version and hooks.
type Answer = (String, Vec<HookImplDecl>);

/// A process plugin across its instances and their restarts.
pub(super) struct Supervised {
    pub(super) name: Arc<str>,
    /// What the first process answered: every later one must answer the same, since the
    /// impls were registered from it.
    pub(super) answered: OnceLock<Answer>,
    pub(super) builder: ProcessPluginBuilder,
    /// The host's hooks, once a process was started for it.
    manager: OnceLock<WeakManager>,
    /// The configuration sent in `initialize` (the builder's, with the host's over it).
    config: Mutex<Value>,
    slots: Box<[Slot]>,
    /// The crashes of every instance, against the restart policy's start limit.
    crashes: Mutex<CrashHistory>,
    /// One task per instance, watching it (from `start` to `stop`).
    monitors: Mutex<Vec<JoinHandle<()>>>,
    /// Where crashes, restarts and the failure at the start limit are told (set by `init`).
    /// Shared with the processes' `host/call` handlers, which ask the host's gate through it.
    link: Arc<Mutex<Option<HostLink>>>,
    /// Where the search for the least busy instance starts (ties are taken in turn).
    turn: AtomicUsize,
    /// A host's `init` and the release of processes no host took (`release_unstarted`),
    /// one at a time: a release never stops what an `init` just found running.
    pub(super) lifecycle: tokio::sync::Mutex<()>,
}

impl Drop for Supervised {
    fn drop(&mut self) {
        stop_watch(&self.monitors);
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Supervised {
    pub(super) fn new(builder: ProcessPluginBuilder) -> Self {
        Supervised {
            name: builder.name.as_str().into(),
            answered: OnceLock::new(),
            manager: OnceLock::new(),
            config: Mutex::new(builder.config.clone()),
            slots: (0..builder.instances)
                .map(|_| Slot {
                    current: Mutex::new(Current::Idle),
                    busy: AtomicUsize::new(0),
                })
                .collect(),
            crashes: Mutex::new(CrashHistory::default()),
            monitors: Mutex::new(Vec::new()),
            link: Arc::new(Mutex::new(None)),
            turn: AtomicUsize::new(0),
            lifecycle: tokio::sync::Mutex::new(()),
            builder,
        }
    }

    pub(super) fn instances(&self) -> usize {
        self.slots.len()
    }

    /// Where crashes, restarts and failures are told from now on.
    /// Links the plugin to the host whose `init` runs it.
    ///
    /// # Errors
    /// When another host ran it, or another of its lives still runs (see
    /// `HostLink::refuses`): one set of processes serves one plugin.
    pub(super) fn set_link(&self, link: HostLink) -> Result<(), ()> {
        let mut current = lock(&self.link);
        if current.as_ref().is_some_and(|c| c.refuses(&link)) {
            return Err(());
        }
        *current = Some(link);
        Ok(())
    }

    /// Stops the processes [`spawn`](super::ProcessPluginBuilder::spawn) started, unless a
    /// host that ran the plugin's `init` still runs it (it owns them).
    pub(super) async fn release_unstarted(&self) {
        let _one = self.lifecycle.lock().await;
        if lock(&self.link).as_ref().is_some_and(HostLink::is_live) {
            return;
        }
        if let Err(e) = self.stop_all().await {
            tracing::warn!(target: "hookwire::external", plugin = %self.name, error = %e, "stopping the processes of a plugin that failed before its start");
        }
    }

    fn announce(&self, event: PluginEvent) {
        let link = lock(&self.link).clone();
        if let Some(link) = link {
            link.announce(event);
        }
    }

    /// The process serving each instance now (`None` where none does).
    pub(super) fn running(&self) -> Vec<Option<Arc<Process>>> {
        self.slots
            .iter()
            .map(|s| match &*lock(&s.current) {
                Current::Running(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// Each instance's current (or last) process, for those that had one.
    pub(super) fn lasts(&self) -> Vec<Arc<Process>> {
        self.slots
            .iter()
            .filter_map(|s| lock(&s.current).process().cloned())
            .collect()
    }

    /// Why an instance in `current` takes no call.
    fn unavailable(&self, current: &Current) -> ProcessError {
        match current {
            Current::Restarting { why, .. } => ProcessError::Restarting {
                plugin: self.name.to_string(),
                why: why.clone(),
            },
            Current::Failed { reason, .. } => ProcessError::Failed {
                plugin: self.name.to_string(),
                reason: reason.clone(),
            },
            Current::Idle | Current::Stopped(_) | Current::Running(_) => ProcessError::Lifecycle {
                plugin: self.name.to_string(),
                step: "hook/call",
                detail: "it is not started; its host starts it".to_owned(),
            },
        }
    }

    /// The instance with the fewest calls in flight (counted as one more from now on), or
    /// why none serves (the first instance's reason). Two calls picking at the same moment
    /// may pick the same instance: the count is a guide, not a lock.
    fn pick(&self) -> Result<(Busy<'_>, Arc<Process>), ProcessError> {
        let n = self.slots.len();
        let from = if n > 1 {
            self.turn.fetch_add(1, Ordering::Relaxed) % n
        } else {
            0
        };
        let mut best: Option<(usize, usize, Arc<Process>)> = None;
        let mut why = None;
        for k in 0..n {
            let i = (from + k) % n;
            let slot = &self.slots[i];
            match &*lock(&slot.current) {
                Current::Running(p) => {
                    let busy = slot.busy.load(Ordering::Relaxed);
                    if best.as_ref().is_none_or(|(_, b, _)| busy < *b) {
                        best = Some((i, busy, p.clone()));
                    }
                }
                other => {
                    if why.as_ref().is_none_or(|(j, _)| i < *j) {
                        why = Some((i, self.unavailable(other)));
                    }
                }
            }
        }
        match (best, why) {
            (Some((i, _, process)), _) => {
                let busy = &self.slots[i].busy;
                busy.fetch_add(1, Ordering::Relaxed);
                Ok((Busy(busy), process))
            }
            (None, Some((_, e))) => Err(e),
            (None, None) => unreachable!("a plugin has at least one instance"),
        }
    }

    /// One call, on the least busy instance.
    pub(super) async fn call(
        &self,
        hook: &str,
        args: &Value,
        timeout: Option<Duration>,
    ) -> HookReturn<Value> {
        let (_busy, process) = self.pick().map_err(|e| Box::new(e) as BoxError)?;
        process.call(hook, args, timeout).await
    }

    /// Whether every instance has a process serving.
    pub(super) fn all_running(&self) -> bool {
        self.running().iter().all(Option::is_some)
    }

    /// Starts every instance and shakes hands with each, sending `config`, offering the
    /// JSON hooks of `hooks`; the answers must agree with each other and with what the
    /// plugin's impls were registered from. The crash count starts again.
    ///
    /// # Errors
    /// The first instance's failure to start, [`ProcessError::InstancesDisagree`], or what
    /// [`accept`](Self::accept) refuses. Every process started is killed then.
    pub(super) async fn launch_all(
        &self,
        hooks: &HookManager,
        config: Value,
    ) -> Result<(), ProcessError> {
        *lock(&self.config) = config.clone();
        let _ = self.manager.set(hooks.downgrade());
        let launched = join_all(
            self.slots
                .iter()
                .map(|_| child::launch(&self.builder, hooks, &config, self.link.clone())),
        )
        .await;
        let processes = launched.into_iter().collect::<Result<Vec<_>, _>>()?;
        let first = answer(&processes[0]);
        for (i, p) in processes.iter().enumerate().skip(1) {
            if let Some(diff) = difference(&first, &answer(p)) {
                return Err(ProcessError::InstancesDisagree {
                    plugin: self.name.to_string(),
                    detail: format!("instance {i} answered {diff} (instance 0's)"),
                });
            }
        }
        for p in &processes {
            self.accept(p)?;
        }
        *lock(&self.crashes) = CrashHistory::default();
        for (slot, p) in self.slots.iter().zip(processes) {
            *lock(&slot.current) = Current::Running(Arc::new(p));
        }
        Ok(())
    }

    /// Watches every instance for crashes, then sends each `start`.
    ///
    /// The watch begins first: a process that ended since its handshake, or ends before it
    /// answers `start`, is a crash like one after its host marked the plugin `Started` — a
    /// `Crashed` event, then a restart or, at the start limit, the plugin failed through its
    /// [`HostLink`] (which fails a plugin still in its start, too). Such a crash is not this
    /// start's error.
    ///
    /// # Errors
    /// The first instance's failure to answer `start` other than its process ending (a
    /// refusal, the start timeout). The watch stops then (a restart under way is dropped with
    /// the process it was starting) and every process is stopped (`SIGTERM`, then `SIGKILL`
    /// after the grace period): a plugin whose start failed holds no process and no instance
    /// restarting; `init` starts new ones.
    ///
    /// # Cancel safety
    /// Dropped before every instance answered (the host's step timeout), it does the same.
    pub(super) async fn start_all(self: &Arc<Self>) -> Result<(), ProcessError> {
        let running: Vec<Arc<Process>> = self
            .running()
            .into_iter()
            .map(|p| p.ok_or_else(|| self.unavailable(&Current::Idle)))
            .collect::<Result<_, _>>()?;
        {
            let mut monitors = lock(&self.monitors);
            for task in monitors.drain(..) {
                task.abort();
            }
            for (i, p) in running.iter().enumerate() {
                monitors.push(tokio::spawn(monitor(Arc::downgrade(self), i, p.clone())));
            }
        }
        // Until every `start` is answered, a start that fails or is dropped part-way (the
        // host's step timeout, or its caller giving up: the host then fails the plugin) undoes
        // it: nothing is restarted, and nothing runs, for a plugin whose start did not happen.
        let mut undo = UndoStartOnDrop(Some(self));
        for started in join_all(running.iter().map(|p| p.start())).await {
            match started {
                Ok(()) => {}
                // Its monitor reports it and restarts it (or fails the plugin).
                Err(e) if e.is_exited() => {
                    tracing::debug!(target: "hookwire::external", plugin = %self.name, error = %e, "the process ended before it answered `start`; handled as a crash");
                }
                Err(e) => return Err(e),
            }
        }
        undo.0 = None;
        Ok(())
    }

    /// Undoes a start that failed: stops the watch (a restart under way is dropped, which
    /// kills the process it was starting), then marks every instance stopped and tells each
    /// process's supervisor to stop it (`SIGTERM`, `SIGKILL` after the grace period), without
    /// waiting. An instance a monitor failed meanwhile (the start limit, reached during this
    /// start) stays `Failed` with its reason: that failure is the root cause of the start's.
    fn undo_start(&self) {
        stop_watch(&self.monitors);
        for slot in self.slots.iter() {
            let mut current = lock(&slot.current);
            if let Some(p) = current.process().cloned() {
                p.kill.notify_one();
                if !matches!(*current, Current::Failed { .. }) {
                    *current = Current::Stopped(p);
                }
            }
        }
    }

    /// Stops watching, then stops every instance (`shutdown`, `exit`, then by force after
    /// the grace period), all at once.
    ///
    /// # Errors
    /// The first instance's stop error.
    pub(super) async fn stop_all(&self) -> Result<(), ProcessError> {
        stop_watch(&self.monitors);
        let processes: Vec<Arc<Process>> = self
            .slots
            .iter()
            .filter_map(|s| {
                let mut current = lock(&s.current);
                let p = current.process().cloned()?;
                *current = Current::Stopped(p.clone());
                Some(p)
            })
            .collect();
        for stopped in join_all(processes.iter().map(|p| p.stop())).await {
            stopped?;
        }
        Ok(())
    }

    /// Each instance's health, asked at once; for one instance its own. For several: healthy
    /// when all are, unhealthy when none is healthy or degraded, else degraded, naming the
    /// instances that are not healthy (`instance 1: restarting: ...`).
    pub(super) async fn health(&self) -> Health {
        let states: Vec<Result<Arc<Process>, ProcessError>> = self
            .slots
            .iter()
            .map(|s| match &*lock(&s.current) {
                Current::Running(p) => Ok(p.clone()),
                other => Err(self.unavailable(other)),
            })
            .collect();
        let checks = join_all(states.iter().map(|s| async move {
            match s {
                Ok(p) => p.health().await,
                Err(e) => Health::Unhealthy(e.to_string()),
            }
        }))
        .await;
        if checks.len() == 1 {
            return checks.into_iter().next().unwrap_or(Health::Healthy);
        }
        let mut problems = Vec::new();
        let mut unhealthy = 0;
        for (i, h) in checks.iter().enumerate() {
            match h {
                Health::Healthy => {}
                Health::Degraded(m) => problems.push(format!("instance {i}: {m}")),
                Health::Unhealthy(m) => {
                    unhealthy += 1;
                    problems.push(format!("instance {i}: {m}"));
                }
            }
        }
        match () {
            () if problems.is_empty() => Health::Healthy,
            () if unhealthy == checks.len() => Health::Unhealthy(problems.join("; ")),
            () => Health::Degraded(problems.join("; ")),
        }
    }

    /// Checks a new process's answer against what the plugin's impls were registered from:
    /// the declared hooks (exactly those), else the first process's answer (the same hooks
    /// and version), which the first process sets.
    fn accept(&self, process: &Process) -> Result<(), ProcessError> {
        if let Some(declared) = &self.builder.declared {
            let theirs: HashSet<&str> = process.hooks.iter().map(|h| h.name.as_str()).collect();
            let ours: HashSet<&str> = declared.iter().map(String::as_str).collect();
            let mut missing: Vec<&str> = ours.difference(&theirs).copied().collect();
            let mut extra: Vec<&str> = theirs.difference(&ours).copied().collect();
            if !missing.is_empty() || !extra.is_empty() {
                missing.sort_unstable();
                extra.sort_unstable();
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("the process does not implement {}", list(&missing)));
                }
                if !extra.is_empty() {
                    parts.push(format!("the manifest does not list {}", list(&extra)));
                }
                return Err(ProcessError::HooksMismatch {
                    plugin: self.name.to_string(),
                    detail: parts.join("; "),
                });
            }
        }
        let answered = answer(process);
        let first = self.answered.get_or_init(|| answered.clone());
        if self.builder.declared.is_none() {
            if let Some(diff) = difference(first, &answered) {
                return Err(ProcessError::Lifecycle {
                    plugin: self.name.to_string(),
                    step: "restart",
                    detail: format!("after its restart it answered {diff} (its first process's); replace the plugin through its host to take them"),
                });
            }
        }
        if let Some(v) = &self.builder.version {
            if *v != process.version {
                tracing::warn!(target: "hookwire::external", plugin = %self.name, manifest = %v, process = %process.version, "the process answers another version than its manifest's");
            }
        }
        Ok(())
    }

    /// Starts a new process in place of a crashed one: the same hooks, then `start`.
    async fn relaunch(&self) -> Result<Arc<Process>, ProcessError> {
        let Some(manager) = self.manager.get().and_then(WeakManager::upgrade) else {
            return Err(ProcessError::Lifecycle {
                plugin: self.name.to_string(),
                step: "restart",
                detail: "the host is gone".to_owned(),
            });
        };
        let config = lock(&self.config).clone();
        let process = child::launch(&self.builder, &manager, &config, self.link.clone()).await?;
        self.accept(&process)?;
        process.start().await?;
        Ok(Arc::new(process))
    }

    /// Whether `process` serves instance `i` (not stopped or failed on purpose since).
    fn is_current(&self, i: usize, process: &Arc<Process>) -> bool {
        matches!(&*lock(&self.slots[i].current), Current::Running(p) if Arc::ptr_eq(p, process))
    }

    /// Marks instance `i` restarting after `crashed` ended (`why`), if the crash is still its
    /// monitor's to handle: the instance still runs `crashed`, or is restarting already (the
    /// monitor's own restart failed). Not once it was stopped or failed on purpose meanwhile
    /// (its host stopped the plugin, or another instance's crash failed it).
    fn mark_restarting(&self, i: usize, crashed: &Arc<Process>, why: &str) -> bool {
        let mut current = lock(&self.slots[i].current);
        match &*current {
            Current::Running(p) if Arc::ptr_eq(p, crashed) => {}
            Current::Restarting { .. } => {}
            _ => return false,
        }
        *current = Current::Restarting {
            last: crashed.clone(),
            why: why.to_owned(),
        };
        true
    }

    /// Whether instance `i` still waits for its restart (not stopped or failed meanwhile).
    fn is_restarting(&self, i: usize) -> bool {
        matches!(*lock(&self.slots[i].current), Current::Restarting { .. })
    }

    /// The plugin reached its start limit: every instance is failed, the host is told (it
    /// fails the plugin and unregisters its impls), then the processes still running are
    /// stopped. The host is told first: a stop of the plugin it begins meanwhile (a
    /// shutdown) would end this task, and with it the failure, and would wait for these
    /// processes' stop.
    ///
    /// Once: when two monitors reach the limit together (two instances crashed at once),
    /// the first to fail the first instance fails the plugin, and its reason stands; the
    /// other does nothing. Both walk the instances in order, so the one that finds the first
    /// instance failed already is the second.
    async fn fail(&self, reason: String) {
        let mut running = Vec::new();
        for slot in self.slots.iter() {
            let mut current = lock(&slot.current);
            match &*current {
                Current::Failed { reason: first, .. } => {
                    tracing::debug!(target: "hookwire::external", plugin = %self.name, first = %first, "{reason}; the plugin failed already, the first reason stands");
                    return;
                }
                Current::Running(p) => running.push(p.clone()),
                _ => {}
            }
            if let Some(last) = current.process().cloned() {
                *current = Current::Failed {
                    last,
                    reason: reason.clone(),
                };
            }
        }
        tracing::error!(target: "hookwire::external", plugin = %self.name, "{reason}");
        let link = lock(&self.link).clone();
        if let Some(link) = link {
            link.fail(reason);
        }
        join_all(running.iter().map(|p| p.stop())).await;
    }
}

/// A process's handshake answer.
fn answer(process: &Process) -> Answer {
    (process.version.clone(), process.hooks.clone())
}

/// How `other` differs from `first` (`version `1.3.0` instead of `1.2.0`; no hook `items``),
/// or `None` when they are the same.
fn difference(first: &Answer, other: &Answer) -> Option<String> {
    let mut parts = Vec::new();
    if first.0 != other.0 {
        parts.push(format!(
            "version `{}` instead of `{}`",
            Quote(&other.0),
            Quote(&first.0)
        ));
    }
    let missing: Vec<&str> = first
        .1
        .iter()
        .filter(|h| !other.1.iter().any(|o| o.name == h.name))
        .map(|h| h.name.as_str())
        .collect();
    let extra: Vec<&str> = other
        .1
        .iter()
        .filter(|h| !first.1.iter().any(|f| f.name == h.name))
        .map(|h| h.name.as_str())
        .collect();
    let changed: Vec<&str> = other
        .1
        .iter()
        .filter(|h| first.1.iter().any(|f| f.name == h.name && f != *h))
        .map(|h| h.name.as_str())
        .collect();
    if !missing.is_empty() {
        parts.push(format!("no hook {}", list(&missing)));
    }
    if !extra.is_empty() {
        parts.push(format!("the extra hook {}", list(&extra)));
    }
    if !changed.is_empty() {
        parts.push(format!("other options for hook {}", list(&changed)));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `` `a`, `b` ``.
fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|h| format!("`{}`", Quote(h)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Watches instance `i`'s process; when it ends on its own, tells the host (`Crashed`) and
/// starts another after the policy's backoff (`Restarted`), or fails the plugin at its start
/// limit. Holds the plugin only weakly, so that dropping the plugin ends it (and kills the
/// process).
async fn monitor(plugin: Weak<Supervised>, i: usize, mut process: Arc<Process>) {
    loop {
        let mut exit = process.exit.clone();
        let _ = exit.wait_for(Option::is_some).await;
        let mut why = {
            let Some(sup) = plugin.upgrade() else { return };
            if !sup.is_current(i, &process) {
                return; // stopped or failed on purpose
            }
            process.gone().await.to_string()
        };
        loop {
            let Some(sup) = plugin.upgrade() else { return };
            if !sup.mark_restarting(i, &process, &why) {
                return; // stopped or failed on purpose while the crash was looked at
            }
            sup.announce(PluginEvent::Crashed {
                plugin: sup.name.to_string(),
                instance: i,
                detail: why.clone(),
            });
            let decision = {
                let mut crashes = lock(&sup.crashes);
                crashes
                    .record(tokio::time::Instant::now(), &sup.builder.restart)
                    .map(|delay| (delay, crashes.count()))
            };
            let (delay, attempt) = match decision {
                Ok(next) => next,
                Err(limit) => {
                    sup.fail(format!(
                        "{limit}; it stays stopped until its host restarts it (last: {why})"
                    ))
                    .await;
                    return;
                }
            };
            tracing::warn!(target: "hookwire::external", plugin = %sup.name, instance = i, delay_ms = delay.as_millis() as u64, "{why}; restarting it");
            drop(sup);
            tokio::time::sleep(delay).await;
            let Some(sup) = plugin.upgrade() else { return };
            if !sup.is_restarting(i) {
                return; // the plugin failed or was stopped during the backoff
            }
            match sup.relaunch().await {
                Ok(new) => {
                    let wanted = {
                        let mut current = lock(&sup.slots[i].current);
                        let wanted = matches!(*current, Current::Restarting { .. });
                        if wanted {
                            *current = Current::Running(new.clone());
                        }
                        wanted
                    };
                    if !wanted {
                        // The plugin failed (another instance reached the start limit) or
                        // was stopped while this instance restarted: the new process is not
                        // wanted.
                        let _ = new.stop().await;
                        return;
                    }
                    tracing::info!(target: "hookwire::external", plugin = %sup.name, instance = i, attempt, "restarted");
                    sup.announce(PluginEvent::Restarted {
                        plugin: sup.name.to_string(),
                        instance: i,
                        attempt,
                    });
                    process = new;
                    break;
                }
                Err(e) => {
                    tracing::warn!(target: "hookwire::external", plugin = %sup.name, instance = i, error = %e, "restart failed");
                    why = format!("it could not be started again: {e}");
                }
            }
        }
    }
}

/// Undoes [`Supervised::start_all`] when dropped armed (the start failed or was dropped
/// before every instance answered it): see [`Supervised::undo_start`].
struct UndoStartOnDrop<'a>(Option<&'a Supervised>);

impl Drop for UndoStartOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(sup) = self.0 {
            sup.undo_start();
        }
    }
}

/// Aborts every crash watch in `monitors`.
fn stop_watch(monitors: &Mutex<Vec<JoinHandle<()>>>) {
    for task in lock(monitors).drain(..) {
        task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::external::ProcessPlugin;
    use crate::spec::SpecInfo;

    /// Two monitors failing the plugin at once (two instances at the start limit together):
    /// the first reason stands in every instance, the second changes nothing.
    #[tokio::test]
    async fn a_second_failure_keeps_the_first_reason() {
        let hooks = HookManager::builder()
            .dynamic_spec(SpecInfo::json("greet"))
            .dynamic_spec(SpecInfo::json("items"))
            .dynamic_spec(SpecInfo::json("auth").firstresult())
            .build();
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/external/fixtures/plugin.py"
        );
        let builder = ProcessPlugin::builder("pool-fail-twice", "python3")
            .arg(fixture)
            .arg("ok")
            .instances(2)
            .start_timeout(Duration::from_secs(20))
            .grace(Duration::from_millis(500));
        let sup = Supervised::new(builder);
        sup.launch_all(&hooks, json!({})).await.unwrap();
        sup.fail("first: the start limit".to_owned()).await;
        sup.fail("second: the start limit".to_owned()).await;
        let failed = "plugin `pool-fail-twice` failed: first: the start limit";
        assert_eq!(
            sup.health().await,
            Health::Unhealthy(format!("instance 0: {failed}; instance 1: {failed}"))
        );
        sup.stop_all().await.unwrap();
    }
}
