//! One hook's call-side state: the current snapshot (swapped whole, never locked by calls), the
//! historic calls to replay, and the JSON bridge when the spec's types are serde types.

use std::any::Any;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use serde_json::Value;

use super::record::{ImplRecord, JsonImpl, RecordFn};
use super::registry::NewImpl;
use super::Shared;
use crate::caller::run_monitored;
use crate::caller::CallOptions;
use crate::error::{CallError, JsonMismatch, RegisterError};
use crate::exec::panic::panic_message;
use crate::exec::snapshot::{ImplEntry, ImplList};
use crate::exec::stats::ImplStatsSnapshot;
use crate::hookimpl::{Hook, HookReturn, ImplFn, ImplOptions, SyncFn};
use crate::limits::{dismantle, quote, too_deep, too_deep_detail, Quote};
use crate::order::{call_order, OrderItem};
use crate::outcome::{HookOutcome, ImplOutcome};
use crate::spec::{DynamicHook, HookSpec, SpecInfo, TypeKey};

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

/// Converts between a typed spec and JSON; only exists for specs whose types are serde types.
pub(crate) struct JsonBridge<S: HookSpec> {
    pub(crate) adapt: fn(Arc<str>, JsonImpl) -> ImplFn<S>,
    pub(crate) decode_args: fn(Value) -> Result<S::Args, String>,
    pub(crate) encode: fn(S::Output) -> Result<Value, String>,
}

/// The call side of one hook.
pub(crate) struct Slot<S: HookSpec> {
    /// The host declared this hook's spec (not only an impl naming it).
    pub(crate) declared: AtomicBool,
    pub(crate) list: ArcSwap<ImplList<S>>,
    pub(crate) history: Mutex<Vec<HistoricCall<S>>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) json: OnceLock<JsonBridge<S>>,
}

impl<S: HookSpec> Slot<S> {
    pub(crate) fn new(spec: SpecInfo, shared: Arc<Shared>) -> Self {
        Slot {
            declared: AtomicBool::new(false),
            list: ArcSwap::from_pointee(ImplList::empty(spec)),
            history: Mutex::new(Vec::new()),
            shared,
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
    fn json_call(self: Arc<Self>) -> Option<Arc<dyn JsonCall>>;
    fn stats(&self) -> Vec<ImplStatsSnapshot>;
}

/// A hook reachable by name with JSON arguments.
pub(crate) trait JsonCall: Send + Sync {
    fn call_json(
        self: Arc<Self>,
        args: Value,
    ) -> BoxFuture<'static, Result<HookOutcome<Value>, CallError>>;
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

fn json_unreachable(spec: &SpecInfo, plugin: &str) -> RegisterError {
    mismatch(
        &spec.name,
        format!(
            "plugin `{}` implements it with JSON, but spec `{}` is not reachable from JSON; add it with `json_spec::<{}>()`",
            Quote(plugin),
            spec.types.spec_name,
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

fn mismatch(hook: &str, detail: String) -> RegisterError {
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

impl<S: HookSpec> JsonCall for Slot<S> {
    fn call_json(
        self: Arc<Self>,
        args: Value,
    ) -> BoxFuture<'static, Result<HookOutcome<Value>, CallError>> {
        Box::pin(async move {
            let Some(bridge) = self.json.get() else {
                unreachable!("json_call only hands out slots with a bridge")
            };
            let (name, historic) = {
                let list = self.list.load();
                (list.spec.name.clone(), list.spec.historic)
            };
            if historic {
                return Err(CallError::Historic {
                    hook: name.to_string(),
                    detail: "is historic and cannot be called from JSON (its calls are kept for impls registered later): call it from Rust with `hook::<T>().call_historic(..)`",
                });
            }
            let args = (bridge.decode_args)(args).map_err(|detail| CallError::BadArgs {
                hook: name.to_string(),
                detail,
            })?;
            let encode = bridge.encode;
            let outcome = crate::caller::call_slot(&self, &args, &Default::default()).await?;
            let mut outcome = outcome.map(|v| match encode(v) {
                Ok(v) => ImplOutcome::Value(v),
                Err(detail) => {
                    ImplOutcome::Failed(crate::error::HookFailure::Error(Box::new(JsonMismatch {
                        hook: name.to_string(),
                        detail,
                    })))
                }
            });
            // An answer that cannot be encoded fails the call like any failure, under
            // fail-fast (the impls after it have run, though: encoding comes last).
            if self.list.load().spec.fail_fast {
                if let Some(e) = outcome.take_first_failure() {
                    return Err(e);
                }
            }
            Ok(outcome)
        })
    }
}

/// How a spec's values cross to and from JSON. Every conversion error is quoted with
/// [`Quote`] (serde's messages quote the offending value).
pub(crate) trait Codec<S: HookSpec>: 'static {
    /// The arguments as JSON, for a JSON impl.
    fn args_out(args: &S::Args) -> Result<Cow<'_, Value>, String>;
    /// JSON arguments (their depth already checked) as the spec's argument type.
    fn args_in(v: Value) -> Result<S::Args, String>;
    /// An answer as JSON, for a JSON caller.
    fn answer_out(v: S::Output) -> Result<Value, String>;
    /// A JSON impl's answer (its depth already checked) as the spec's output type.
    fn answer_in(v: Value) -> Result<S::Output, String>;
}

/// The codec of a typed spec whose types are serde types.
///
/// The JSON coming in is checked before it is converted. Typed values (arguments a Rust caller
/// passes, answers of typed impls) are Rust code's own: their `Serialize` and `Drop` recurse
/// as deep as they are, which no codec can prevent; the JSON made of them is checked like any
/// other, so no value nested deeper than [`MAX_JSON_DEPTH`](crate::json::MAX_JSON_DEPTH) leaves the
/// layer.
pub(crate) struct Serde;

/// `v` as JSON, refused when it nests too deep (`what` names it in the message).
fn checked_json<T: serde::Serialize + ?Sized>(v: &T, what: &str) -> Result<Value, String> {
    let v = serde_json::to_value(v).map_err(quote)?;
    if too_deep(&v) {
        dismantle(v);
        return Err(too_deep_detail(what));
    }
    Ok(v)
}

impl<S> Codec<S> for Serde
where
    S: HookSpec,
    S::Args: serde::Serialize + serde::de::DeserializeOwned,
    S::Output: serde::Serialize + serde::de::DeserializeOwned,
{
    fn args_out(args: &S::Args) -> Result<Cow<'_, Value>, String> {
        checked_json(args, "the argument value").map(Cow::Owned)
    }
    fn args_in(v: Value) -> Result<S::Args, String> {
        serde_json::from_value(v).map_err(quote)
    }
    fn answer_out(v: S::Output) -> Result<Value, String> {
        checked_json(&v, "the answer")
    }
    fn answer_in(v: Value) -> Result<S::Output, String> {
        serde_json::from_value(v)
            .map_err(|e| format!("answer does not fit the hook's output type: {}", Quote(e)))
    }
}

/// The codec of dynamic hooks: JSON on both sides, passed as is (no copy, no conversion).
pub(crate) struct AsIs;

impl Codec<DynamicHook> for AsIs {
    fn args_out(args: &Value) -> Result<Cow<'_, Value>, String> {
        Ok(Cow::Borrowed(args))
    }
    fn args_in(v: Value) -> Result<Value, String> {
        Ok(v)
    }
    fn answer_out(v: Value) -> Result<Value, String> {
        Ok(v)
    }
    fn answer_in(v: Value) -> Result<Value, String> {
        Ok(v)
    }
}

/// The bridge of spec `S` with codec `C`.
pub(crate) fn json_bridge<S: HookSpec, C: Codec<S>>() -> JsonBridge<S> {
    JsonBridge {
        adapt: adapt_json_impl::<S, C>,
        decode_args: C::args_in,
        encode: C::answer_out,
    }
}

fn bad_json(hook: &str, detail: String) -> crate::error::BoxError {
    Box::new(JsonMismatch {
        hook: hook.to_owned(),
        detail,
    })
}

/// A JSON impl's answer as the spec's output. An answer nested too deep is refused (and
/// taken apart without recursion) before anything converts or drops it.
fn decode_answer<S: HookSpec, C: Codec<S>>(hook: &str, v: Option<Value>) -> HookReturn<S::Output> {
    match v {
        None => Ok(None),
        Some(v) if too_deep(&v) => {
            dismantle(v);
            Err(bad_json(hook, too_deep_detail("the answer")))
        }
        Some(v) => C::answer_in(v).map(Some).map_err(|d| bad_json(hook, d)),
    }
}

/// Wraps a JSON impl so a typed call can run it: arguments out as JSON, the answer back in.
/// An answer that does not fit the output type is an error outcome of that plugin.
fn adapt_json_impl<S: HookSpec, C: Codec<S>>(hook: Arc<str>, j: JsonImpl) -> ImplFn<S> {
    match j {
        JsonImpl::Sync(f) => ImplFn::Sync(Arc::new(SyncFn(move |args: &S::Args| {
            let v = C::args_out(args).map_err(|d| bad_json(&hook, d))?;
            decode_answer::<S, C>(&hook, f(&v)?)
        }))),
        JsonImpl::Async(f) => ImplFn::Async(Arc::new(JsonAsync::<C> {
            hook,
            f,
            codec: PhantomData,
        })),
    }
}

/// A JSON async impl seen as a typed [`Hook`], converting with codec `C`.
struct JsonAsync<C> {
    hook: Arc<str>,
    f: super::record::JsonAsyncFn,
    codec: PhantomData<fn() -> C>,
}

impl<S, C> Hook<S> for JsonAsync<C>
where
    S: HookSpec,
    C: Codec<S>,
{
    fn call<'life0, 'life1, 'async_trait>(
        &'life0 self,
        args: &'life1 S::Args,
    ) -> BoxFuture<'async_trait, HookReturn<S::Output>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let v = C::args_out(args);
        Box::pin(async move {
            let v = v.map_err(|d| bad_json(&self.hook, d))?;
            let answer = (self.f)(&v).await?;
            decode_answer::<S, C>(&self.hook, answer)
        })
    }
}
