//! One hook's call-side state: the current snapshot (swapped whole, never locked by calls), the
//! historic calls to replay, and the JSON bridge when the spec's types are serde types.

use std::any::Any;
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
use crate::exec::snapshot::{ImplEntry, ImplList};
use crate::exec::stats::ImplStatsSnapshot;
use crate::hookimpl::{Hook, HookReturn, ImplFn, ImplOptions, SyncFn};
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
    /// registered), returns the replay of historic calls to their impls, if there is anything
    /// to replay.
    fn install(
        &self,
        prepared: Prepared,
        new_plugins: Option<std::ops::Range<u64>>,
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
            "plugin `{plugin}` implements it for spec type `{}`, but the hook's spec is `{}`",
            types.spec_name, spec.types.spec_name
        ),
    )
}

fn json_unreachable(spec: &SpecInfo, plugin: &str) -> RegisterError {
    mismatch(
        &spec.name,
        format!(
            "plugin `{plugin}` implements it with JSON, but spec `{}` is not reachable from JSON; add it with `json_spec::<{}>()`",
            spec.types.spec_name, spec.types.spec_name
        ),
    )
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
            .map(|r| (&*r.plugin, &r.func))
            .chain(new.iter().map(|n| (&**n.plugin, &n.pending.func)));
        for (plugin, func) in to_check {
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
        new_plugins: Option<std::ops::Range<u64>>,
    ) -> Option<BoxFuture<'static, ()>> {
        let Ok(list) = prepared.0.downcast::<ImplList<S>>() else {
            unreachable!("a slot only installs what it prepared")
        };
        let list: Arc<ImplList<S>> = Arc::from(list);
        // Storing under the history lock orders this against `call_historic`: a historic call
        // either sees the new impls in its snapshot or is in the history replayed below.
        let history = self.history();
        self.list.store(list.clone());
        let plugins = new_plugins?;
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
        Some(Box::pin(replay(replay_list, calls, self.shared.clone())))
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
        tier: o.tier,
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
            tier: r.options.tier,
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
async fn replay<S: HookSpec>(
    list: Arc<ImplList<S>>,
    calls: Vec<HistoricCall<S>>,
    shared: Arc<Shared>,
) {
    for call in calls {
        // As the original call was made: the spec's defaults with that caller's overrides
        // (a deadline counts from the start of each replay); monitors see it like a call.
        let plan = call.options.plan(&list);
        let outcome = run_monitored(&shared, list.clone(), &call.args, plan).await;
        for (plugin, o) in outcome.into_named() {
            (call.on_result)(&plugin, o);
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

/// The bridge for a spec whose types are serde types.
pub(crate) fn json_bridge<S>() -> JsonBridge<S>
where
    S: HookSpec,
    S::Args: serde::Serialize + serde::de::DeserializeOwned,
    S::Output: serde::Serialize + serde::de::DeserializeOwned,
{
    JsonBridge {
        adapt: adapt_json_impl::<S>,
        decode_args: |v| serde_json::from_value(v).map_err(|e| e.to_string()),
        encode: |v| serde_json::to_value(v).map_err(|e| e.to_string()),
    }
}

fn bad_json(hook: &str, detail: String) -> crate::error::BoxError {
    Box::new(JsonMismatch {
        hook: hook.to_owned(),
        detail,
    })
}

fn decode_answer<S: HookSpec>(hook: &str, v: Option<Value>) -> HookReturn<S::Output>
where
    S::Output: serde::de::DeserializeOwned,
{
    match v {
        None => Ok(None),
        Some(v) => serde_json::from_value(v).map(Some).map_err(|e| {
            bad_json(
                hook,
                format!("answer does not fit the hook's output type: {e}"),
            )
        }),
    }
}

/// Wraps a JSON impl so a typed call can run it: arguments out as JSON, the answer back in.
/// An answer that does not fit the output type is an error outcome of that plugin.
fn adapt_json_impl<S>(hook: Arc<str>, j: JsonImpl) -> ImplFn<S>
where
    S: HookSpec,
    S::Args: serde::Serialize,
    S::Output: serde::de::DeserializeOwned,
{
    match j {
        JsonImpl::Sync(f) => ImplFn::Sync(Arc::new(SyncFn(move |args: &S::Args| {
            let v = serde_json::to_value(args).map_err(|e| bad_json(&hook, e.to_string()))?;
            decode_answer::<S>(&hook, f(&v)?)
        }))),
        JsonImpl::Async(f) => ImplFn::Async(Arc::new(JsonAsync { hook, f })),
    }
}

/// A JSON async impl seen as a typed [`Hook`].
struct JsonAsync {
    hook: Arc<str>,
    f: super::record::JsonAsyncFn,
}

impl<S> Hook<S> for JsonAsync
where
    S: HookSpec,
    S::Args: serde::Serialize,
    S::Output: serde::de::DeserializeOwned,
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
        let v = serde_json::to_value(args);
        Box::pin(async move {
            let v = v.map_err(|e| bad_json(&self.hook, e.to_string()))?;
            let answer = (self.f)(&v).await?;
            decode_answer::<S>(&self.hook, answer)
        })
    }
}
