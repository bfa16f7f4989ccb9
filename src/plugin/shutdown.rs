//! Stopping plugins: [`PluginHost::remove`] for one, [`PluginHost::shutdown`] for all.
//!
//! A plugin's impls are unregistered *before* it is stopped, so no new call reaches a plugin
//! that is shutting down (calls already running finish on their snapshot). Then, within the
//! grace period given for that plugin: its [`stop`](crate::Plugin::stop) runs, its
//! cancellation token is cancelled, and its tracked tasks get the rest of the grace period to
//! finish; the ones still running are aborted and named in the report.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use tokio::time::Instant;
use tracing::Instrument;

use super::cell::{Cell, Host, Up};
use super::config::DisabledBy;
use super::events::{AdminAction, PluginEvent};
use super::host::PluginHost;
use super::lifecycle::PluginState;
use super::report::{write_group, PluginError};
use crate::exec::panic::panic_message;
use crate::limits::Quote;

/// How one plugin's stop went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "detail")]
#[non_exhaustive]
pub enum StopOutcome {
    /// `stop` returned `Ok` in time.
    Stopped,
    /// `stop` did not finish within the grace period (it was dropped).
    TimedOut {
        /// The grace period.
        limit: Duration,
    },
    /// `stop` returned an error or panicked.
    Failed(String),
    /// The plugin was not running (never started, lazy and never called, or failed); `stop`
    /// was not called by this `remove`/`shutdown` (a plugin given up on while it was still
    /// starting stops itself when its start ends).
    NotStarted(PluginState),
    /// The plugin is disabled, by what this says (the configuration, or
    /// [`PluginHost::disable`] at run time): it was not running.
    Disabled(DisabledBy),
}

/// One plugin in a [`StopReport`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PluginStop {
    /// The plugin.
    pub plugin: String,
    /// How its `stop` went.
    pub outcome: StopOutcome,
    /// Tracked tasks still running at the end of the grace period, aborted.
    pub aborted_tasks: Vec<String>,
    /// Tracked tasks that panicked.
    pub panicked_tasks: Vec<String>,
}

/// What [`PluginHost::shutdown`] did, plugin by plugin, in the order they were stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StopReport {
    /// Started plugins in reverse start order (dependents before their dependencies), then the
    /// plugins that were not running, by name.
    pub plugins: Vec<PluginStop>,
}

impl StopReport {
    /// Whether every started plugin stopped in time, without errors or aborted tasks.
    pub fn is_clean(&self) -> bool {
        self.plugins.iter().all(|p| {
            matches!(
                p.outcome,
                StopOutcome::Stopped | StopOutcome::NotStarted(_) | StopOutcome::Disabled(_)
            ) && p.aborted_tasks.is_empty()
                && p.panicked_tasks.is_empty()
        })
    }
}

/// What an operator would log after a shutdown: one line per kind of result, in this order,
/// each only when it lists something (the first always), plugins in the report's order:
///
/// ```text
/// stopped 3: token-auth, storage, metrics
/// stop timed out 1: mailer (grace period 2s)
/// failed 1: cache (stop failed: flush refused)
/// not running 3: legacy-audit (disabled by environment variable HOOKWIRE_PLUGINS_DISABLE), old-cache (disabled at run time), reports (registered)
/// tasks aborted 1: flush (metrics)
/// tasks panicked 1: warm-up (cache)
/// ```
///
/// With no plugin stopped, the first line is `stopped none`. A plugin that was not running is
/// shown with its state — `discovered` (never started), `registered` (lazy and never called),
/// `failed: <reason>` — or, when it is disabled, with what disabled it: `disabled by <what>`
/// (see [`DisabledBy`]) or `disabled at run time` ([`PluginHost::disable`]).
impl std::fmt::Display for StopReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (mut stopped, mut timed_out, mut failed, mut not_running) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for p in &self.plugins {
            let name = &p.plugin;
            match &p.outcome {
                StopOutcome::Stopped => stopped.push(name.as_str()),
                StopOutcome::TimedOut { limit } => {
                    timed_out.push(format!("{name} (grace period {limit:?})"))
                }
                StopOutcome::Failed(why) => failed.push(format!("{name} ({why})")),
                StopOutcome::NotStarted(state) => not_running.push(format!("{name} ({state})")),
                StopOutcome::Disabled(by) => not_running.push(format!("{name} ({})", by.phrase())),
            }
        }
        if stopped.is_empty() {
            f.write_str("stopped none")?;
        } else {
            write!(f, "stopped {}: {}", stopped.len(), stopped.join(", "))?;
        }
        write_group(f, "stop timed out", &timed_out, |f, s| f.write_str(s))?;
        write_group(f, "failed", &failed, |f, s| f.write_str(s))?;
        write_group(f, "not running", &not_running, |f, s| f.write_str(s))?;
        let tasks = |pick: fn(&PluginStop) -> &Vec<String>| {
            self.plugins
                .iter()
                .flat_map(move |p| pick(p).iter().map(move |t| (t, &p.plugin)))
                .collect::<Vec<_>>()
        };
        write_group(
            f,
            "tasks aborted",
            tasks(|p| &p.aborted_tasks),
            |f, (t, p)| write!(f, "{t} ({p})"),
        )?;
        write_group(
            f,
            "tasks panicked",
            tasks(|p| &p.panicked_tasks),
            |f, (t, p)| write!(f, "{t} ({p})"),
        )
    }
}

/// What settling a plugin's start did: whether it gave up on a start still running (the
/// plugin's state then, and the tasks it aborted; the plugin stops itself, nobody else may),
/// and how much of the grace it used (the stop gets the rest).
pub(super) struct Settled {
    gave_up: Option<(PluginState, Vec<String>)>,
    pub(super) waited: Duration,
}

impl Settled {
    /// The report of a plugin given up on: not started, its aborted tasks named.
    pub(super) fn given_up(self, cell: &Cell) -> Option<PluginStop> {
        let (state, aborted_tasks) = self.gave_up?;
        Some(PluginStop {
            plugin: cell.name.to_string(),
            outcome: StopOutcome::NotStarted(state),
            aborted_tasks,
            panicked_tasks: Vec::new(),
        })
    }
}

impl Host {
    /// Settles a start that may be under way (or forbids one), waiting at most `grace`. A
    /// start that ends in time is stopped like any started plugin. One still running after
    /// that is told to stop itself when it ends, and what it holds is released now: its
    /// cancellation token is cancelled and its tracked tasks are aborted (their names are
    /// returned, for the report).
    pub(super) async fn settle(&self, cell: &Cell, grace: Duration) -> Settled {
        let began = Instant::now();
        let gave_up = self.settle_start(cell, grace).await;
        Settled {
            gave_up,
            waited: began.elapsed(),
        }
    }

    /// `None` if the start (if any) is over; otherwise the plugin's state when it was given up
    /// on and the tasks aborted then.
    async fn settle_start(
        &self,
        cell: &Cell,
        grace: Duration,
    ) -> Option<(PluginState, Vec<String>)> {
        let up = cell
            .up
            .get_or_init(|| {
                Up::Done(Err(
                    "the manager stopped the plugin before it started".to_owned()
                ))
            })
            .wait();
        if tokio::time::timeout(grace, up).await.is_ok() {
            return None;
        }
        let (state, ctx) = {
            let mut closing = cell.closing.lock().unwrap_or_else(PoisonError::into_inner);
            let run = cell.run();
            if run.state == PluginState::Started {
                // It ended between the timeout and the lock: stopped like the others.
                return None;
            }
            *closing = Some(grace);
            (run.state.clone(), run.ctx.clone())
        };
        let Some(ctx) = ctx else {
            return Some((state, Vec::new()));
        };
        ctx.cancel();
        let (set, mut names) = ctx.tasks().close();
        if let Some(mut set) = set {
            // Those already over are not aborted.
            while let Some(done) = set.try_join_next_with_id() {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                names.remove(&id);
            }
            set.abort_all();
            set.detach_all();
        }
        let mut aborted: Vec<String> = names.into_values().collect();
        aborted.sort();
        if !aborted.is_empty() {
            tracing::warn!(plugin = %cell.name, tasks = ?aborted, "aborted the tasks of a plugin still starting after the grace period");
        }
        Some((state, aborted))
    }

    /// Stops one cell whose impls are already unregistered.
    pub(crate) async fn stop_cell(&self, cell: &Arc<Cell>, grace: Duration) -> PluginStop {
        self.stop_cell_after(cell, grace, Duration::ZERO).await
    }

    /// [`stop_cell`](Self::stop_cell) when `used` of the grace went to waiting for the
    /// plugin's start: the stop gets the rest.
    pub(super) async fn stop_cell_after(
        &self,
        cell: &Arc<Cell>,
        grace: Duration,
        used: Duration,
    ) -> PluginStop {
        let deadline = Instant::now() + grace.saturating_sub(used);
        let (state, ctx) = {
            let run = cell.run();
            (run.state.clone(), run.ctx.clone())
        };
        let mut report = PluginStop {
            plugin: cell.name.to_string(),
            outcome: StopOutcome::Stopped,
            aborted_tasks: Vec::new(),
            panicked_tasks: Vec::new(),
        };
        let (PluginState::Started, Some(ctx)) = (&state, ctx) else {
            report.outcome = cell.not_running(state);
            return report;
        };
        // Lazy gates closed again: a call waiting at one gets an error, not a stopping plugin.
        cell.open.store(false, std::sync::atomic::Ordering::Release);
        let stop = AssertUnwindSafe(cell.plugin().stop(&ctx))
            .catch_unwind()
            .instrument(ctx.span().clone());
        report.outcome = match tokio::time::timeout_at(deadline, stop).await {
            Ok(Ok(Ok(()))) => StopOutcome::Stopped,
            Ok(Ok(Err(e))) => StopOutcome::Failed(format!("stop failed: {}", Quote(e))),
            Ok(Err(p)) => {
                StopOutcome::Failed(format!("stop panicked: {}", Quote(panic_message(p))))
            }
            Err(_) => StopOutcome::TimedOut { limit: grace },
        };
        ctx.cancel();
        let (set, mut names) = {
            let mut tasks = ctx.tasks();
            report.panicked_tasks = std::mem::take(&mut tasks.panicked);
            tasks.close()
        };
        // A plugin that never spawned a task has no set.
        if let Some(mut set) = set {
            loop {
                match tokio::time::timeout_at(deadline, set.join_next_with_id()).await {
                    Ok(None) => break,
                    Ok(Some(Ok((id, ())))) => {
                        names.remove(&id);
                    }
                    Ok(Some(Err(e))) => {
                        if let Some(name) = names.remove(&e.id()) {
                            if e.is_panic() {
                                report.panicked_tasks.push(name);
                            }
                        }
                    }
                    Err(_) => {
                        set.abort_all();
                        let mut left: Vec<String> = names.drain().map(|(_, n)| n).collect();
                        left.sort();
                        report.aborted_tasks = left;
                        break;
                    }
                }
            }
        }
        report.panicked_tasks.sort();
        if !report.aborted_tasks.is_empty() {
            tracing::warn!(plugin = %cell.name, tasks = ?report.aborted_tasks, "aborted plugin tasks that outlived the grace period");
        }
        let to = match &report.outcome {
            StopOutcome::Stopped => PluginState::Stopped,
            StopOutcome::TimedOut { limit } => {
                PluginState::Failed(format!("stop timed out after {limit:?}"))
            }
            StopOutcome::Failed(reason) => PluginState::Failed(reason.clone()),
            StopOutcome::NotStarted(_) | StopOutcome::Disabled(_) => {
                unreachable!("handled above")
            }
        };
        self.transition(cell, to);
        cell.run().ctx = None;
        report
    }

    pub(super) fn unregister_cell(&self, cell: &Cell) {
        if let Some(h) = cell.run().handle.take() {
            self.hooks.unregister(&h);
        }
    }
}

impl PluginHost {
    /// Stops every plugin and empties the host, which can then be used again (add and
    /// start plugins anew). All impls are unregistered first; then each started plugin is
    /// stopped in reverse start order (every plugin before the plugins it depends on), each
    /// with its own `grace` period: its `stop` runs, its cancellation token is cancelled, its
    /// tracked tasks get what is left of the grace, and those still running are aborted and
    /// named in the report. Plugins that were not
    /// running are listed as [`StopOutcome::NotStarted`].
    ///
    /// A lazy plugin still starting is waited for, up to `grace`: if it starts in that time
    /// it is stopped like the others, within what is left of its grace; if not, its cancellation token is cancelled, its
    /// tracked tasks are aborted (and named), it is listed as `NotStarted`, and it stops
    /// itself when its start ends.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future part-way leaves the remaining plugins in the
    /// manager, their impls unregistered; call `shutdown` again to finish.
    pub async fn shutdown(&self, grace: Duration) -> StopReport {
        let host = &self.inner;
        let _ops = host.ops.lock().await;
        let cells = host.registry().by_name();
        let handles: Vec<_> = cells.iter().filter_map(|c| c.run().handle.take()).collect();
        host.hooks.unregister_many(&handles);
        // What settling did, for the plugins that were starting, by cell address (the map
        // lives across awaits).
        let mut settled: std::collections::HashMap<usize, Settled> =
            std::collections::HashMap::new();
        for cell in &cells {
            let s = host.settle(cell, grace).await;
            if s.gave_up.is_some() || !s.waited.is_zero() {
                settled.insert(Arc::as_ptr(cell) as usize, s);
            }
        }
        // How much of a plugin's grace went to waiting for its start (its stop gets the rest).
        let used_of = |cell: &Arc<Cell>, settled: &std::collections::HashMap<usize, Settled>| {
            settled
                .get(&(Arc::as_ptr(cell) as usize))
                .map_or(Duration::ZERO, |s| s.waited)
        };
        let started: Vec<Arc<Cell>> = std::mem::take(&mut host.registry().started);
        let mut report = StopReport::default();
        for cell in started.iter().rev() {
            let used = used_of(cell, &settled);
            report
                .plugins
                .push(host.stop_cell_after(cell, grace, used).await);
        }
        // Addresses, not pointers: the set lives across awaits and must be `Send`.
        let was_started: std::collections::HashSet<usize> =
            started.iter().map(|c| Arc::as_ptr(c) as usize).collect();
        for cell in &cells {
            let at = Arc::as_ptr(cell) as usize;
            if !was_started.contains(&at) {
                let used = used_of(cell, &settled);
                // Given up on while starting: it stops itself, whatever its state is now.
                let stop = match settled.remove(&at).and_then(|s| s.given_up(cell)) {
                    Some(stop) => stop,
                    None => host.stop_cell_after(cell, grace, used).await,
                };
                report.plugins.push(stop);
            }
        }
        // Plugins added while this ran stay (they were never started).
        let gone: std::collections::HashSet<usize> =
            cells.iter().map(|c| Arc::as_ptr(c) as usize).collect();
        let mut reg = host.registry();
        reg.cells
            .retain(|_, c| !gone.contains(&(Arc::as_ptr(c) as usize)));
        Arc::make_mut(&mut reg.enabled).retain(|c| !gone.contains(&(Arc::as_ptr(c) as usize)));
        reg.disabled
            .retain(|c| !gone.contains(&(Arc::as_ptr(c) as usize)));
        let env_names = std::mem::take(&mut reg.env_names);
        reg.env_names = env_names
            .into_iter()
            .filter(|(_, n)| reg.cells.contains_key(n.as_str()))
            .collect();
        drop(reg);
        report
    }

    /// Stops plugin `name` (see [`shutdown`](Self::shutdown)) and removes it from the host.
    ///
    /// # Errors
    /// [`PluginError::Unknown`] for a name that was never added; [`PluginError::Required`]
    /// while plugins that depend on it are registered or running (remove them first), also
    /// sent as [`PluginEvent::RemoveRefused`]. The manager is unchanged then.
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future part-way leaves the plugin unregistered but in the
    /// manager; call `remove` again to finish.
    pub async fn remove(&self, name: &str, grace: Duration) -> Result<PluginStop, PluginError> {
        let host = &self.inner;
        let _ops = host.ops.lock().await;
        host.admin(name, AdminAction::Remove);
        let cell = {
            let reg = host.registry();
            match reg.cells.get(name) {
                Some(c) => c.clone(),
                None => {
                    return Err(PluginError::Unknown {
                        plugin: name.to_owned(),
                        known: reg
                            .by_name()
                            .iter()
                            .map(|c| String::from(&*c.name))
                            .collect(),
                    })
                }
            }
        };
        let dependents = self.live_dependents(name);
        if !dependents.is_empty() {
            tracing::warn!(plugin = %name, dependents = ?dependents, "refused to remove a plugin that running plugins require");
            if host.events.receiver_count() > 0 {
                let _ = host.events.send(PluginEvent::RemoveRefused {
                    plugin: name.to_owned(),
                    dependents: dependents.clone(),
                });
            }
            return Err(PluginError::Required {
                plugin: name.to_owned(),
                dependents,
            });
        }
        host.unregister_cell(&cell);
        let settled = host.settle(&cell, grace).await;
        let waited = settled.waited;
        // Given up on while starting: it stops itself, whatever its state is now.
        let stop = match settled.given_up(&cell) {
            Some(stop) => stop,
            None => host.stop_cell_after(&cell, grace, waited).await,
        };
        let mut reg = host.registry();
        reg.started.retain(|c| !Arc::ptr_eq(c, &cell));
        reg.cells.remove(name);
        Arc::make_mut(&mut reg.enabled).retain(|c| !Arc::ptr_eq(c, &cell));
        reg.disabled.retain(|c| !Arc::ptr_eq(c, &cell));
        reg.env_names.retain(|_, n| n != name);
        Ok(stop)
    }
}
