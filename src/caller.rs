//! [`HookCaller`]: how application code calls a typed hook.
//!
//! Get one with [`HookManager::hook`](crate::HookManager::hook) and keep it: it is cheap to
//! clone, and each call takes the hook's current snapshot without taking any lock (the one the
//! caller cached, while the hook's generation says it is current).

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tracing::Instrument;

use crate::call::CallFuture;
use crate::error::{CallError, RegisterError};
use crate::exec::snapshot::{ImplEntry, ImplList};
use crate::exec::{call_span, ready, run_call, CallPlan, PlainLoop};
use crate::hookimpl::{AsyncFn, Hook, HookReturn, ImplFn, ImplOptions, Placement, SyncFn};
use crate::manager::cached::CachedList;
use crate::manager::slot::{HistoricCall, Slot};
use crate::manager::Shared;
use crate::monitor::{after_all, before_all, CallInfo, HookMonitor, ImplReport};
use crate::outcome::{HookOutcome, ImplOutcome, OutcomeKind};
use crate::spec::{CallMode, HookSpec};

/// Per-call overrides of the spec's defaults.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallOptions {
    pub(crate) fail_fast: Option<bool>,
    pub(crate) exclude: Option<Arc<[Arc<str>]>>,
    pub(crate) parallel: Option<bool>,
    pub(crate) max_in_flight: Option<usize>,
    pub(crate) deadline: Option<Duration>,
}

impl CallOptions {
    /// Whether this caller keeps a call on the ready path when the spec allows it: no
    /// exclusion, no deadline, not parallel.
    #[inline]
    fn keeps_ready_path(&self) -> bool {
        self.exclude.is_none() && self.deadline.is_none() && self.parallel != Some(true)
    }

    /// The plan of one call: the spec's defaults with this caller's overrides.
    #[inline(always)]
    pub(crate) fn plan<S: HookSpec>(&self, list: &ImplList<S>) -> CallPlan<'_> {
        let deadline = self.deadline.or(list.spec.deadline);
        CallPlan {
            firstresult: list.spec.mode == CallMode::FirstResult,
            fail_fast: self.fail_fast.unwrap_or(list.spec.fail_fast),
            exclude: self.exclude.as_deref().unwrap_or(&[]),
            parallel: self.parallel.unwrap_or(list.spec.parallel),
            max_in_flight: self.max_in_flight.unwrap_or(usize::MAX),
            // The clock is read only when there is a deadline.
            // A deadline too far to represent is no deadline.
            deadline: deadline.and_then(|d| Some((tokio::time::Instant::now().checked_add(d)?, d))),
        }
    }
}

/// Calls hook `S`. Cheap to clone; keep one around for hot paths.
///
/// A caller caches the hook's snapshot (its impls in call order) as it was when the caller
/// was made or cloned. A call uses that cache after one atomic load shows that no
/// registration has changed the hook since; otherwise it loads the current snapshot (so a call
/// always sees every registration and removal that returned before it started). The cache
/// keeps that snapshot alive: the impls of plugins removed since it was made (and what they
/// own) are released only when the caller is dropped. So make long-lived callers after the
/// plugins are registered; after plugins are reloaded or removed, replace them with a new
/// caller (or a clone: a clone caches the snapshot current then) and drop the old one — a
/// stale caller still sees every change, but each of its calls loads the current snapshot,
/// which costs more than the cached one.
///
/// Get one from [`HookManager::hook`](crate::HookManager::hook) (or
/// `PluginHost::hook`, feature `plugins`); its builder methods set per-call
/// overrides of the spec's defaults (mode, deadline, failure policy, excluded plugins):
///
/// ```
/// # futures::executor::block_on(async {
/// use std::time::Duration;
/// use hookwire::HookManager;
/// hookwire::hookspec! { pub struct Square(u64) -> u64; }
///
/// let pm = HookManager::new();
/// pm.register("math", |r| r.sync_fn::<Square>(|x| Ok(Some(x * x))).add()).unwrap();
/// pm.register("broken", |r| r.sync_fn::<Square>(|_| Err("overflow".into())).add()).unwrap();
///
/// let square = pm.hook::<Square>();
/// // By default failures are isolated: the outcome says who answered and who failed.
/// let outcome = square.call(&3).await?;
/// assert_eq!(outcome.values().collect::<Vec<_>>(), [&9]);
/// assert_eq!(outcome.errors().map(|(p, _)| p).collect::<Vec<_>>(), ["broken"]);
///
/// // Per-call overrides: all impls at once, within 50 ms, without `broken`.
/// let fast = square.clone().parallel().deadline(Duration::from_millis(50)).excluding(["broken"]);
/// assert!(!fast.call(&4).await?.has_errors());
///
/// // pluggy's behaviour: the first failure is the call's error, naming the plugin.
/// let err = square.fail_fast().call(&5).await.unwrap_err();
/// assert!(err.to_string().contains("broken"), "{err}");
/// # Ok::<(), hookwire::CallError>(())
/// # }).unwrap();
/// ```
pub struct HookCaller<S: HookSpec> {
    pub(crate) slot: Result<Arc<Slot<S>>, RegisterError>,
    /// The snapshot current when this caller was made or cloned (`manager/cached.rs`);
    /// `None` when `slot` is an error.
    pub(crate) cached: Option<CachedList<S>>,
    pub(crate) options: CallOptions,
    /// `options.keeps_ready_path()`, kept up to date by the builder methods.
    pub(crate) ready: bool,
}

impl<S: HookSpec> std::fmt::Debug for HookCaller<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookCaller")
            .field("hook", &S::NAME)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: HookSpec> Clone for HookCaller<S> {
    fn clone(&self) -> Self {
        HookCaller {
            slot: self.slot.clone(),
            cached: cache_of(&self.slot),
            options: self.options.clone(),
            ready: self.ready,
        }
    }
}

/// One impl registered in a hook, as listed by [`HookCaller::impls`] and
/// [`HookManager::plugins`](crate::HookManager::plugins).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImplInfo {
    /// The plugin.
    pub plugin: Arc<str>,
    /// The hook.
    pub hook: Arc<str>,
    /// Its options.
    pub options: ImplOptions,
}

impl<S: HookSpec> HookCaller<S> {
    pub(crate) fn new(slot: Result<Arc<Slot<S>>, RegisterError>) -> Self {
        HookCaller {
            cached: cache_of(&slot),
            slot,
            options: CallOptions::default(),
            ready: true,
        }
    }

    /// A caller of `slot` with `options`: how the JSON layer calls a slot, through the same
    /// paths as a typed call.
    #[cfg_attr(not(feature = "json"), allow(dead_code))] // used by the JSON layer
    pub(crate) fn with_options(slot: Arc<Slot<S>>, options: CallOptions) -> Self {
        let slot = Ok(slot);
        HookCaller {
            cached: cache_of(&slot),
            slot,
            ready: options.keeps_ready_path(),
            options,
        }
    }

    /// Stop at the first failing impl and return it as the call's error (pluggy's behaviour).
    ///
    /// The error is the first failure *in call order*, also in a [`parallel`](Self::parallel)
    /// call: not the failure that happened first in time, so the same inputs always give the
    /// same error. A parallel call still waits for the impls ranked above the failing one
    /// (one of them may fail too, and then it is the error); the impls ranked below it are
    /// dropped as soon as it fails, and those not started yet never start.
    #[must_use]
    pub fn fail_fast(mut self) -> Self {
        self.options.fail_fast = Some(true);
        self
    }

    /// Isolate failures: report them in the outcome and run the other impls (the default,
    /// unless the spec says `fail_fast`).
    #[must_use]
    pub fn isolate(mut self) -> Self {
        self.options.fail_fast = Some(false);
        self
    }

    /// Run the impls concurrently in the calling task (no task spawned per impl); outcomes are
    /// still reported in call order, and the result does not depend on timing:
    ///
    /// - a first-result call returns the answer of the first impl *in call order* that
    ///   answers, not the fastest one. When the impl ranked `r` answers, the impls ranked
    ///   below `r` that still run are dropped at once (reported as
    ///   [`ImplOutcome::Cancelled`]) and no impl starts any more; the call still waits for the
    ///   impls ranked above `r`, since one of them may answer first in call order;
    /// - under [`fail_fast`](Self::fail_fast), the call's error is the first failure in call
    ///   order (not in time), with the same dropping of the impls ranked below it.
    #[must_use]
    pub fn parallel(mut self) -> Self {
        self.options.parallel = Some(true);
        self.ready = self.options.keeps_ready_path();
        self
    }

    /// Run the impls one after the other (the default, unless the spec says `parallel`).
    #[must_use]
    pub fn sequential(mut self) -> Self {
        self.options.parallel = Some(false);
        self.ready = self.options.keeps_ready_path();
        self
    }

    /// In parallel mode, run at most `k` impls at once (at least 1); the others start in call
    /// order as running ones finish.
    #[must_use]
    pub fn max_in_flight(mut self, k: usize) -> Self {
        self.options.max_in_flight = Some(k.max(1));
        self
    }

    /// Give the call at most `d`: when it passes, impls still running are dropped and the call
    /// returns what it has, with the rest reported as cut off
    /// ([`HookFailure::DeadlineExceeded`](crate::HookFailure::DeadlineExceeded)). Needs a tokio
    /// runtime with the time driver.
    ///
    /// The deadline bounds wrappers too. When it passes while wrappers (or the impls inside
    /// them) run, no more wrapper code runs: each wrapper still running is reported as cut
    /// off, and the impls inside keep their entries as without wrappers — the answers and
    /// failures of those that finished in their plugins' names, those still running (or not
    /// started) cut off — so [`HookOutcome::deadline_exceeded`](crate::HookOutcome::deadline_exceeded)
    /// is `true`. That holds once the innermost running wrapper has called
    /// [`Next::run`](crate::hook::Next::run): a wrapper cut off before it did is reported
    /// alone (its impls never ran), and so is one cut off after `next.run()` returned, in its
    /// own code (the outcome it received is its own). A wrapper that the wrapper around it
    /// dropped (its own timeout) is no longer running: it is not reported.
    #[must_use]
    pub fn deadline(mut self, d: Duration) -> Self {
        self.options.deadline = Some(d);
        self.ready = self.options.keeps_ready_path();
        self
    }

    /// A subset caller: skip the impls of these plugins (pluggy's `subset_hook_caller`). Plugins
    /// registered later under these names are skipped too.
    #[must_use]
    pub fn excluding<I>(mut self, plugins: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut all: Vec<Arc<str>> = self.options.exclude.as_deref().unwrap_or(&[]).to_vec();
        all.extend(plugins.into_iter().map(|p| Arc::from(p.as_ref())));
        self.options.exclude = Some(all.into());
        self.ready = self.options.keeps_ready_path();
        self
    }

    /// The hook's name.
    pub fn name(&self) -> &'static str {
        S::NAME
    }

    /// The impls a call would reach now, in call order (wrappers first).
    pub fn impls(&self) -> Vec<ImplInfo> {
        let Ok(slot) = &self.slot else {
            return Vec::new();
        };
        let list = slot.list.load();
        let exclude = self.options.exclude.as_deref().unwrap_or(&[]);
        list.entries
            .iter()
            .filter(|e| !exclude.contains(&e.plugin))
            .map(|e| ImplInfo {
                plugin: e.plugin.clone(),
                hook: list.spec.name.clone(),
                options: (*e.options).clone(),
            })
            .collect()
    }

    #[inline]
    fn slot(&self) -> Result<&Arc<Slot<S>>, CallError> {
        match &self.slot {
            Ok(slot) => Ok(slot),
            Err(e) => Err(unavailable(S::NAME, e)),
        }
    }

    /// Calls every impl (or, for first-result hooks, impls until one answers) and reports which
    /// plugin produced which value or failure.
    ///
    /// # Errors
    /// - [`CallError::Historic`] if the hook is historic (use [`call_historic`](Self::call_historic)).
    /// - [`CallError::ImplFailed`] under the fail-fast policy, for the first impl that failed.
    /// - [`CallError::Unavailable`] if the spec could not be added (its name is taken by another
    ///   spec type).
    ///
    /// # Cancel safety
    /// Dropping the future drops every impl future it started: no impl code runs afterwards
    /// (a blocking impl's pool thread finishes on its own; a
    /// [cancellable](crate::Registrar::blocking_fn_cancellable) one sees its token cancelled).
    /// A panic in an impl future's `Drop` is caught and logged, never unwound into the drop.
    ///
    /// # Panics
    /// The future panics if it is polled again after it completed (as an `async fn`'s does).
    pub fn call<'a>(
        &'a self,
        args: &'a S::Args,
    ) -> impl Future<Output = Result<HookOutcome<S::Output>, CallError>> + 'a {
        CallFuture::new(self, args, call_general(self, args))
    }

    /// Calls the hook with temporary extra impls for this call only (pluggy's `call_extra`).
    /// Extras run as plain impls registered last: after `tryfirst` impls and impls of higher
    /// priority, before the other plain impls; the last extra given runs first.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    ///
    /// # Cancel safety
    /// As [`call`](Self::call).
    pub async fn call_extra(
        &self,
        args: &S::Args,
        extras: impl IntoIterator<Item = AdHocImpl<S>>,
    ) -> Result<HookOutcome<S::Output>, CallError> {
        let slot = self.slot()?;
        let list = slot.list.load_full();
        if list.spec.historic {
            return Err(historic_misuse(&list.spec.name));
        }
        let mut entries = list.entries.clone();
        // After the last impl that runs before extras (a `before`/`after` constraint can put
        // a plain impl ahead of a `tryfirst` one: the extras still come after both).
        let at = entries
            .iter()
            .rposition(|e| {
                e.options.wrapper
                    || e.options.placement == Placement::TryFirst
                    || (e.options.placement == Placement::Normal && e.options.priority > 0)
            })
            .map_or(0, |i| i + 1);
        let extras: Vec<ImplEntry<S>> = extras
            .into_iter()
            .map(|x| ImplEntry {
                plugin: x.name,
                plugin_id: u64::MAX,
                options: Arc::default(),
                policy: None,
                stats: None,
                func: x.func,
            })
            .collect();
        entries.splice(at..at, extras.into_iter().rev());
        let temp = Arc::new(ImplList::new(list.spec.clone(), entries));
        run_checked(slot, temp, args, &self.options).await
    }

    /// Calls a historic hook: runs it now, stores it, and replays it to every impl registered
    /// later (in call order). `on_result` receives each impl's `(plugin, outcome)`, now and on
    /// every replay.
    ///
    /// Replays run inside registration; an async impl that goes pending during its replay is
    /// finished on a tracked task of the current tokio runtime (see
    /// [`HookManager::flush`](crate::HookManager::flush)). A late impl gets every stored call
    /// exactly once; when replays go pending while another `call_historic` runs concurrently,
    /// the late impl may see the newer call before older replays finish.
    ///
    /// Under fail-fast, a failing immediate run returns the error and passes nothing to
    /// `on_result` for that run (the call is still stored and replayed).
    ///
    /// A panic in `on_result` during the immediate run is the caller's own code panicking in
    /// the caller's task: it unwinds out of this call (the outcomes after it are not
    /// delivered; the call stays stored). During a replay it runs inside someone else's
    /// registration instead, so there it is caught and logged.
    ///
    /// # Errors
    /// [`CallError::Historic`] if the hook is not historic; fail-fast errors as in
    /// [`call`](Self::call) (the call is stored all the same).
    ///
    /// # Cancel safety
    /// The call is stored before the future first awaits; dropping the future cancels only the
    /// immediate run, not later replays.
    pub async fn call_historic(
        &self,
        args: S::Args,
        on_result: impl Fn(&str, ImplOutcome<S::Output>) + Send + Sync + 'static,
    ) -> Result<(), CallError> {
        let slot = self.slot()?;
        let call = HistoricCall::<S> {
            args: Arc::new(args),
            on_result: Arc::new(on_result),
            options: self.options.clone(),
        };
        let list = {
            let mut history = slot.history();
            let list = slot.list.load_full();
            if !list.spec.historic {
                return Err(CallError::Historic {
                    hook: list.spec.name.to_string(),
                    detail: "is not historic: call it with `call`",
                });
            }
            history.push(call.clone());
            list
        };
        let outcome = run_checked(slot, list, &call.args, &self.options).await?;
        for (plugin, o) in outcome.into_named() {
            (call.on_result)(&plugin, o);
        }
        Ok(())
    }
}

/// [`HookCaller::call`] when [`CallFuture`] does not run it on the caller's cached snapshot
/// itself: the cache is stale (the slot's current snapshot is loaded), or the call needs more than the ready path
/// (wrappers, monitors, policies, a deadline, parallel mode, a subscriber).
pub(crate) async fn call_general<S: HookSpec>(
    caller: &HookCaller<S>,
    args: &S::Args,
) -> Result<HookOutcome<S::Output>, CallError> {
    let slot = caller.slot()?;
    let list = match caller.cached.as_ref().and_then(|c| c.fresh(slot)) {
        Some(list) => list.clone(),
        None => slot.list.load_full(),
    };
    // The commonest case: no wrappers, monitors, policies, deadline or subscriber,
    // sequential (`ready::applies` also means: not historic). The impls run inline in
    // the first poll; the general loop is built only if one waits.
    let firstresult = list.firstresult;
    if caller.ready && ready::applies(&list) && !slot.shared.monitored() {
        let fail_fast = caller.options.fail_fast.unwrap_or(list.spec.fail_fast);
        let mut rest = None;
        return ready::ReadyCall::new(&list, args, firstresult, fail_fast, &mut rest).await;
    }
    if list.spec.historic {
        return Err(historic_misuse(&list.spec.name));
    }
    // The common case in one state machine: no wrappers, no monitors, no subscriber.
    if list.n_wrappers == 0 && !slot.shared.monitored() {
        let plan = caller.options.plan(&list);
        let span = call_span(&list, &plan);
        let results = if span.is_disabled() {
            PlainLoop::new(&list, args, plan).await
        } else {
            PlainLoop::new(&list, args, plan).instrument(span).await
        };
        let mut outcome = HookOutcome::new(results, list);
        if plan.fail_fast {
            if let Some(e) = outcome.take_first_failure() {
                return Err(e);
            }
        }
        return Ok(outcome);
    }
    // Boxed: the wrapper and monitor machinery would make every call's future (also the
    // common case's) about three times larger, a cost paid in each move of the future.
    Box::pin(run_checked(slot, list, args, &caller.options)).await
}

impl<S: HookSpec> HookCaller<S> {
    /// The snapshot this caller cached (`None` when its spec could not be added).
    #[cfg_attr(not(feature = "json"), allow(dead_code))] // used by the JSON layer
    pub(crate) fn snapshot(&self) -> Option<&Arc<ImplList<S>>> {
        self.cached.as_ref().map(CachedList::list)
    }

    /// This caller without its cached snapshot: kept for a long time (as the web layer keeps
    /// its callers), it holds no impls alive; clone it for each call (a clone caches the
    /// snapshot current then).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))] // used by the web layer
    pub(crate) fn uncached(mut self) -> Self {
        self.cached = None;
        self
    }
}

/// A new cache of `slot`'s snapshot.
fn cache_of<S: HookSpec>(slot: &Result<Arc<Slot<S>>, RegisterError>) -> Option<CachedList<S>> {
    slot.as_ref().ok().map(|slot| CachedList::new(slot))
}

#[cold]
fn unavailable(hook: &str, e: &RegisterError) -> CallError {
    CallError::Unavailable {
        hook: hook.to_owned(),
        detail: e.to_string(),
    }
}

#[cold]
fn historic_misuse(hook: &str) -> CallError {
    CallError::Historic {
        hook: hook.to_owned(),
        detail: "is historic: call it with `call_historic`, which also replays it to impls registered later",
    }
}

async fn run_checked<S: HookSpec>(
    slot: &Slot<S>,
    list: Arc<ImplList<S>>,
    args: &S::Args,
    options: &CallOptions,
) -> Result<HookOutcome<S::Output>, CallError> {
    let plan = options.plan(&list);
    let fail_fast = plan.fail_fast;
    let mut outcome = run_monitored(&slot.shared, list, args, plan).await;
    if fail_fast {
        if let Some(e) = outcome.take_first_failure() {
            return Err(e);
        }
    }
    Ok(outcome)
}

/// Runs one call on `list`, reported to the manager's monitors if there are any (calls and
/// historic replays alike). Monitors nest (last added outermost) and a monitor's panic is
/// caught and reported, never changing the outcome (`monitor::before_all`/`after_all`).
pub(crate) async fn run_monitored<S: HookSpec>(
    shared: &Shared,
    list: Arc<ImplList<S>>,
    args: &S::Args,
    plan: CallPlan<'_>,
) -> HookOutcome<S::Output> {
    let Some(monitors) = shared.monitors() else {
        return run_call(list, args, plan).await;
    };
    let names = list.clone();
    let info = CallInfo {
        hook: &names.spec.name,
        mode: names.spec.mode,
        plugins: names
            .entries
            .iter()
            .filter(|e| plan.includes(&e.plugin))
            .map(|e| &*e.plugin)
            .collect(),
        args,
    };
    before_all(&monitors, &info);
    // tokio's clock, like deadlines and timeouts (paused in tests).
    let started = tokio::time::Instant::now();
    let mut cancelled = AfterCancel {
        monitors: &monitors,
        info: &info,
        started,
        armed: true,
    };
    let outcome = run_call(list, args, plan).await;
    cancelled.armed = false;
    let elapsed = started.elapsed();
    let reports: Vec<ImplReport> = outcome
        .iter()
        .map(|(plugin, o)| ImplReport {
            plugin: Arc::from(plugin),
            kind: o.kind(),
            error: o.failure().map(|f| f.to_string()),
        })
        .collect();
    after_all(&monitors, &info, &reports, elapsed);
    outcome
}

/// Reports a call dropped part-way to the monitors that saw it begin: every impl it
/// included as [`OutcomeKind::Cancelled`], in the same nesting order as a finished call.
struct AfterCancel<'a, 'i> {
    monitors: &'a [Arc<dyn HookMonitor>],
    info: &'a CallInfo<'i>,
    started: tokio::time::Instant,
    armed: bool,
}

impl Drop for AfterCancel<'_, '_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let reports: Vec<ImplReport> = self
            .info
            .plugins
            .iter()
            .map(|p| ImplReport {
                plugin: Arc::from(*p),
                kind: OutcomeKind::Cancelled,
                error: None,
            })
            .collect();
        // Never unwinds: each monitor's panic is caught (a panic in a `drop` during an
        // unwind would abort).
        after_all(self.monitors, self.info, &reports, self.started.elapsed());
    }
}

/// A temporary impl for one [`HookCaller::call_extra`].
pub struct AdHocImpl<S: HookSpec> {
    name: Arc<str>,
    func: ImplFn<S>,
    _spec: PhantomData<fn() -> S>,
}

impl<S: HookSpec> std::fmt::Debug for AdHocImpl<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdHocImpl")
            .field("name", &self.name)
            .field("hook", &S::NAME)
            .finish_non_exhaustive()
    }
}

impl<S: HookSpec> AdHocImpl<S> {
    /// A sync closure, reported under `name`.
    pub fn sync(
        name: &str,
        f: impl Fn(&S::Args) -> HookReturn<S::Output> + Send + Sync + 'static,
    ) -> Self {
        AdHocImpl {
            name: Arc::from(name),
            func: ImplFn::Sync(Arc::new(SyncFn(f))),
            _spec: PhantomData,
        }
    }

    /// An async closure returning a boxed future, reported under `name`.
    pub fn from_fn<F>(name: &str, f: F) -> Self
    where
        F: for<'a> Fn(&'a S::Args) -> BoxFuture<'a, HookReturn<S::Output>> + Send + Sync + 'static,
    {
        AdHocImpl {
            name: Arc::from(name),
            func: ImplFn::Async(Arc::new(AsyncFn(f))),
            _spec: PhantomData,
        }
    }

    /// An async [`Hook`] impl, reported under `name`.
    pub fn hook(name: &str, h: Arc<impl Hook<S>>) -> Self {
        AdHocImpl {
            name: Arc::from(name),
            func: ImplFn::Async(h),
            _spec: PhantomData,
        }
    }
}
