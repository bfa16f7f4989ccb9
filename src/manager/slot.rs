//! One hook's call-side state: the current snapshot (swapped whole, never locked by calls), the
//! historic calls to replay, and the JSON bridge when the spec's types are serde types.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(feature = "json")]
use std::sync::OnceLock;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use futures::future::BoxFuture;

#[cfg(feature = "json")]
use super::json::{json_unreachable, JsonBridge, JsonCall};
use super::record::{ImplRecord, RecordFn};
use super::registry::NewImpl;
use super::Shared;
use crate::caller::run_monitored;
use crate::caller::CallOptions;
use crate::error::RegisterError;
use crate::exec::panic::panic_message;
use crate::exec::snapshot::{ImplEntry, ImplList};
use crate::exec::stats::ImplStatsSnapshot;
use crate::hookimpl::{ImplFn, ImplOptions};
use crate::limits::Quote;
use crate::order::{call_order, OrderItem};
use crate::outcome::{HookOutcome, ImplOutcome};
use crate::spec::{HookSpec, SpecInfo, TypeKey};

/// A stored historic call, replayed to impls registered later.
pub(crate) struct HistoricCall<S: HookSpec> {
    pub(crate) args: Arc<S::Args>,
    pub(crate) on_result: HistoricCallback<S::Output>,
    /// The caller's options (exclusions, deadline, fail-fast, parallel), for the replays too.
    pub(crate) options: CallOptions,
}

/// Receives `(plugin, outcome)` for each impl a historic call reaches.
pub(crate) type HistoricCallback<T> = Arc<dyn Fn(&str, ImplOutcome<T>) + Send + Sync>;

impl<S: HookSpec> Clone for HistoricCall<S> {
    fn clone(&self) -> Self {
        HistoricCall {
            args: self.args.clone(),
            on_result: self.on_result.clone(),
            options: self.options.clone(),
        }
    }
}

/// A fail-fast replay failure, pinned on the plugin whose impl failed.
pub(crate) struct ReplayFailure {
    pub(crate) plugin_id: u64,
    pub(crate) plugin: Arc<str>,
    pub(crate) hook: Arc<str>,
    /// The failure, as the impl's outcome says it ("returned an error: ...").
    pub(crate) detail: String,
}

impl ReplayFailure {
    pub(crate) fn into_error(self) -> RegisterError {
        RegisterError::ReplayFailed {
            plugin: self.plugin.to_string(),
            hook: self.hook.to_string(),
            detail: self.detail,
        }
    }
}

/// What the historic replays of one registration report back to it: the fail-fast failures
/// that happened before the registration settled (they fail it), and whether it has settled.
#[derive(Default)]
pub(crate) struct ReplayLedger {
    state: Mutex<LedgerState>,
}

#[derive(Default)]
struct LedgerState {
    /// The registration has returned: a failure now can no longer fail it.
    settled: bool,
    failed: Vec<ReplayFailure>,
}

impl ReplayLedger {
    fn state(&self) -> MutexGuard<'_, LedgerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a replay failure already fails the registration of plugin `id`.
    fn has_failed(&self, id: u64) -> bool {
        self.state().failed.iter().any(|f| f.plugin_id == id)
    }

    /// Records a fail-fast failure. Returns `false` when it came too late to fail the
    /// registration (which has returned).
    fn fail(&self, failure: ReplayFailure) -> bool {
        let mut state = self.state();
        if state.settled {
            return false;
        }
        state.failed.push(failure);
        true
    }

    /// Ends the registration's part: returns the failures so far; later ones are late.
    pub(crate) fn settle(&self) -> Vec<ReplayFailure> {
        let mut state = self.state();
        state.settled = true;
        std::mem::take(&mut state.failed)
    }
}

/// The call side of one hook.
pub(crate) struct Slot<S: HookSpec> {
    /// The host declared this hook's spec (not only an impl naming it).
    pub(crate) declared: AtomicBool,
    pub(crate) list: ArcSwap<ImplList<S>>,
    /// Bumped (`Release`) after each store of `list`: a caller's cached snapshot is current
    /// while this has not moved (`manager/cached.rs`).
    pub(crate) generation: AtomicU64,
    pub(crate) history: Mutex<Vec<HistoricCall<S>>>,
    pub(crate) shared: Arc<Shared>,
    #[cfg(feature = "json")]
    pub(crate) json: OnceLock<JsonBridge<S>>,
}

impl<S: HookSpec> Slot<S> {
    pub(crate) fn new(spec: SpecInfo, shared: Arc<Shared>) -> Self {
        Slot {
            declared: AtomicBool::new(false),
            list: ArcSwap::from_pointee(ImplList::empty(spec)),
            generation: AtomicU64::new(0),
            history: Mutex::new(Vec::new()),
            shared,
            #[cfg(feature = "json")]
            json: OnceLock::new(),
        }
    }

    pub(crate) fn history(&self) -> MutexGuard<'_, Vec<HistoricCall<S>>> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A typed snapshot built by [`ErasedSlot::prepare`], installed by [`ErasedSlot::install`].
pub(crate) struct Prepared(Box<dyn Any + Send>);

/// What the registry needs from a slot without knowing its spec type.
pub(crate) trait ErasedSlot: Send + Sync + 'static {
    fn types(&self) -> TypeKey;
    /// Orders `records` and builds the typed snapshot, or says why it cannot.
    /// `declared`: the host added the spec. JSON impls of an undeclared hook without a JSON
    /// bridge stay pending (left out of the snapshot) instead of being an error.
    fn prepare(
        &self,
        spec: &SpecInfo,
        records: &[ImplRecord],
        declared: bool,
    ) -> Result<Prepared, RegisterError>;
    /// The checks of [`prepare`](Self::prepare) without building anything: the types of the
    /// impls in `new` (and of the `existing` records too with `check_existing`: a new slot
    /// has checked none), and the order when any has a `before`/`after` constraint (without
    /// one there can be no cycle).
    fn check(
        &self,
        spec: &SpecInfo,
        existing: &[ImplRecord],
        new: &[NewImpl<'_>],
        check_existing: bool,
        declared: bool,
    ) -> Result<(), RegisterError>;
    /// Marks the hook as declared by the host.
    fn mark_declared(&self);
    /// Makes a prepared snapshot current. With `new_plugins` (the ids of the plugins just
    /// registered, and the ledger their replays report fail-fast failures to), returns the
    /// replay of historic calls to their impls, if there is anything to replay.
    fn install(
        &self,
        prepared: Prepared,
        new_plugins: Option<(std::ops::Range<u64>, &Arc<ReplayLedger>)>,
    ) -> Option<BoxFuture<'static, ()>>;
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    #[cfg(feature = "json")]
    fn json_call(self: Arc<Self>) -> Option<Arc<dyn JsonCall>>;
    fn stats(&self) -> Vec<ImplStatsSnapshot>;
}

fn type_mismatch(spec: &SpecInfo, plugin: &str, types: &TypeKey) -> RegisterError {
    mismatch(
        &spec.name,
        format!(
            "plugin `{}` implements it for spec type `{}`, but the hook's spec is `{}`",
            Quote(plugin),
            types.spec_name,
            spec.types.spec_name
        ),
    )
}

/// pluggy refuses a wrapper on a historic hook, and so do we: a historic call is replayed
/// to each plain impl registered later, but a wrapper wraps a whole call, which a replay to
/// one late impl is not, so it would never see the stored calls.
fn historic_wrapper(spec: &SpecInfo, plugin: &str) -> RegisterError {
    RegisterError::InvalidImpl {
        hook: spec.name.to_string(),
        plugin: plugin.to_owned(),
        detail: "the hook is historic, and a wrapper cannot be replayed to (its calls are replayed to each plain impl registered later, while a wrapper wraps a whole call); register a plain impl instead".into(),
    }
}

pub(super) fn mismatch(hook: &str, detail: String) -> RegisterError {
    RegisterError::SpecMismatch {
        hook: hook.to_owned(),
        detail,
    }
}

impl<S: HookSpec> ErasedSlot for Slot<S> {
    fn types(&self) -> TypeKey {
        TypeKey::of::<S>()
    }

    fn mark_declared(&self) {
        self.declared.store(true, Ordering::Relaxed);
    }

    fn check(
        &self,
        spec: &SpecInfo,
        existing: &[ImplRecord],
        new: &[NewImpl<'_>],
        check_existing: bool,
        declared: bool,
    ) -> Result<(), RegisterError> {
        #[cfg(not(feature = "json"))]
        let _ = declared; // only JSON impls depend on it
        let existing_to_check = if check_existing { existing } else { &[] };
        let to_check = existing_to_check
            .iter()
            .map(|r| (&*r.plugin, &r.func, &*r.options))
            .chain(
                new.iter()
                    .map(|n| (&**n.plugin, &n.pending.func, &*n.pending.options)),
            );
        for (plugin, func, options) in to_check {
            if spec.historic && options.wrapper {
                return Err(historic_wrapper(spec, plugin));
            }
            match func {
                RecordFn::Typed { types, .. } if *types != spec.types => {
                    return Err(type_mismatch(spec, plugin, types))
                }
                #[cfg(feature = "json")]
                RecordFn::Json(_) if declared && self.json.get().is_none() => {
                    return Err(json_unreachable(spec, plugin))
                }
                _ => {}
            }
        }
        check_order(&spec.name, existing, new)?;
        Ok(())
    }

    fn prepare(
        &self,
        spec: &SpecInfo,
        records: &[ImplRecord],
        declared: bool,
    ) -> Result<Prepared, RegisterError> {
        #[cfg(not(feature = "json"))]
        let _ = declared; // only JSON impls depend on it
        let order = order_records(&spec.name, records)?;
        let mut entries = Vec::with_capacity(records.len());
        for &i in &order {
            let r = &records[i];
            if spec.historic && r.options.wrapper {
                return Err(historic_wrapper(spec, &r.plugin));
            }
            let func = match &r.func {
                RecordFn::Typed { types, func, .. } => func
                    .downcast_ref::<ImplFn<S>>()
                    .cloned()
                    .ok_or_else(|| type_mismatch(spec, &r.plugin, types))?,
                #[cfg(feature = "json")]
                RecordFn::Json(j) => match self.json.get() {
                    Some(bridge) => (bridge.adapt)(spec.name.clone(), j.clone()),
                    // Pending until the host declares the spec (check_pending lists it).
                    None if !declared => continue,
                    None => return Err(json_unreachable(spec, &r.plugin)),
                },
            };
            entries.push(ImplEntry {
                plugin: r.plugin.clone(),
                plugin_id: r.plugin_id,
                options: r.options.clone(),
                policy: r.policy.clone(),
                stats: r.stats.clone(),
                func,
            });
        }
        Ok(Prepared(Box::new(ImplList::new(spec.clone(), entries))))
    }

    fn install(
        &self,
        prepared: Prepared,
        new_plugins: Option<(std::ops::Range<u64>, &Arc<ReplayLedger>)>,
    ) -> Option<BoxFuture<'static, ()>> {
        let Ok(list) = prepared.0.downcast::<ImplList<S>>() else {
            unreachable!("a slot only installs what it prepared")
        };
        let list: Arc<ImplList<S>> = Arc::from(list);
        // Storing under the history lock orders this against `call_historic`: a historic call
        // either sees the new impls in its snapshot or is in the history replayed below.
        let history = self.history();
        self.list.store(list.clone());
        // After the store: a caller that sees this generation sees this list or a newer one.
        self.generation.fetch_add(1, Ordering::Release);
        let (plugins, ledger) = new_plugins?;
        if history.is_empty() {
            return None;
        }
        let fresh: Vec<ImplEntry<S>> = list
            .entries
            .iter()
            .filter(|e| plugins.contains(&e.plugin_id) && !e.options.wrapper)
            .cloned()
            .collect();
        if fresh.is_empty() {
            return None;
        }
        let replay_list = Arc::new(ImplList::new(list.spec.clone(), fresh));
        let calls = history.clone();
        drop(history);
        Some(Box::pin(replay(
            replay_list,
            calls,
            self.shared.clone(),
            ledger.clone(),
        )))
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn stats(&self) -> Vec<ImplStatsSnapshot> {
        self.list.load().stats()
    }

    #[cfg(feature = "json")]
    fn json_call(self: Arc<Self>) -> Option<Arc<dyn JsonCall>> {
        if self.json.get().is_some() {
            Some(self)
        } else {
            None
        }
    }
}

/// Checks that `existing` records and `new` impls together can be ordered (no `before`/`after`
/// cycle); without any constraint there is nothing to check.
pub(crate) fn check_order(
    hook: &str,
    existing: &[ImplRecord],
    new: &[NewImpl<'_>],
) -> Result<(), RegisterError> {
    let constrained = |o: &ImplOptions| !o.before.is_empty() || !o.after.is_empty();
    if !existing.iter().any(|r| constrained(&r.options))
        && !new.iter().any(|n| constrained(&n.pending.options))
    {
        return Ok(());
    }
    let items: Vec<OrderItem<'_>> = existing
        .iter()
        .map(|r| order_item(&r.plugin, &r.options, r.seq))
        .chain(
            new.iter()
                .map(|n| order_item(n.plugin, &n.pending.options, n.seq)),
        )
        .collect();
    call_order(hook, &items).map(drop)
}

fn order_item<'a>(plugin: &'a Arc<str>, o: &'a ImplOptions, seq: u64) -> OrderItem<'a> {
    OrderItem {
        plugin,
        tier: o.placement,
        priority: o.priority,
        seq,
        wrapper: o.wrapper,
        before: &o.before,
        after: &o.after,
    }
}

/// The call order of `records` (ordering rules and before/after constraints).
pub(crate) fn order_records(
    hook: &str,
    records: &[ImplRecord],
) -> Result<Vec<usize>, RegisterError> {
    let items: Vec<OrderItem<'_>> = records
        .iter()
        .map(|r| OrderItem {
            plugin: &r.plugin,
            tier: r.options.placement,
            priority: r.options.priority,
            seq: r.seq,
            wrapper: r.options.wrapper,
            before: &r.options.before,
            after: &r.options.after,
        })
        .collect();
    call_order(hook, &items)
}

/// Runs each stored historic call, in order, on the newly registered impls.
///
/// Under isolation a call is replayed to all of them at once and every outcome goes to the
/// call's `on_result`. Under fail-fast it is replayed to each new plugin on its own (one
/// plugin's failure must not keep the call from the others): a failure recorded in `ledger`
/// before the registration settles fails that plugin's registration (nothing of that run goes
/// to `on_result`, and the plugin gets no further replays); one after it is too late for
/// that: its outcomes, the failure included, go to `on_result`, and it is logged.
async fn replay<S: HookSpec>(
    list: Arc<ImplList<S>>,
    calls: Vec<HistoricCall<S>>,
    shared: Arc<Shared>,
    ledger: Arc<ReplayLedger>,
) {
    let mut per_plugin: Option<Vec<Arc<ImplList<S>>>> = None;
    for call in calls {
        // As the original call was made: the spec's defaults with that caller's overrides
        // (a deadline counts from the start of each replay); monitors see it like a call.
        let plan = call.options.plan(&list);
        if !plan.fail_fast {
            let outcome = run_monitored(&shared, list.clone(), &call.args, plan).await;
            deliver(&call, &list.spec.name, outcome);
            continue;
        }
        let groups = per_plugin.get_or_insert_with(|| split_per_plugin(&list));
        for group in groups.iter() {
            let id = group.entries[0].plugin_id;
            if ledger.has_failed(id) {
                continue;
            }
            let plan = call.options.plan(group);
            let outcome = run_monitored(&shared, group.clone(), &call.args, plan).await;
            let failed = outcome.iter().find_map(|(plugin, o)| match o {
                ImplOutcome::Failed(f) => Some((Arc::<str>::from(plugin), f.to_string())),
                _ => None,
            });
            if let Some((plugin, detail)) = failed {
                let failure = ReplayFailure {
                    plugin_id: id,
                    plugin: plugin.clone(),
                    hook: list.spec.name.clone(),
                    detail: detail.clone(),
                };
                if ledger.fail(failure) {
                    continue;
                }
                tracing::error!(
                    hook = %list.spec.name,
                    plugin = %plugin,
                    "a fail-fast replay of a historic call failed after the registration had returned, so the plugin stays registered: it {detail}"
                );
            }
            deliver(&call, &list.spec.name, outcome);
        }
    }
}

/// `list` split into one list per plugin (in call order); `list` itself when it holds one
/// plugin's impls (a plain `register`).
fn split_per_plugin<S: HookSpec>(list: &Arc<ImplList<S>>) -> Vec<Arc<ImplList<S>>> {
    let mut ids: Vec<u64> = Vec::new();
    for e in &list.entries {
        if !ids.contains(&e.plugin_id) {
            ids.push(e.plugin_id);
        }
    }
    if ids.len() == 1 {
        return vec![list.clone()];
    }
    ids.into_iter()
        .map(|id| {
            let entries = list
                .entries
                .iter()
                .filter(|e| e.plugin_id == id)
                .cloned()
                .collect();
            Arc::new(ImplList::new(list.spec.clone(), entries))
        })
        .collect()
}

/// Passes a replay's outcomes to the historic call's `on_result`. The callback is the
/// caller's code running inside someone else's registration: a panic in it is caught and
/// logged, never passed on to the registration (which stands).
fn deliver<S: HookSpec>(call: &HistoricCall<S>, hook: &str, outcome: HookOutcome<S::Output>) {
    for (plugin, o) in outcome.into_named() {
        let on_result = &call.on_result;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| on_result(&plugin, o))) {
            tracing::error!(
                hook,
                plugin = %plugin,
                "the `on_result` callback of a historic call panicked while the call was replayed to this plugin: {}; the plugin's registration stands",
                Quote(panic_message(payload))
            );
        }
    }
}
