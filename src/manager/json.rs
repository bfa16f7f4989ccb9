//! The dynamic (JSON) layer's side of a slot (feature `json`): the bridge between a typed spec
//! and JSON, and calls by name with JSON arguments.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::record::JsonImpl;
use super::slot::{mismatch, ErasedSlot, Slot};
use super::HookManager;
use crate::error::{CallError, JsonMismatch, RegisterError};
use crate::hookimpl::{Hook, HookReturn, ImplFn, SyncFn};
use crate::limits::{dismantle, quote, too_deep, too_deep_detail, Quote};
use crate::outcome::{HookOutcome, ImplOutcome};
use crate::spec::{DynamicHook, HookSpec, SpecInfo};

/// Converts between a typed spec and JSON; only exists for specs whose types are serde types.
pub(crate) struct JsonBridge<S: HookSpec> {
    pub(crate) adapt: fn(Arc<str>, JsonImpl) -> ImplFn<S>,
    pub(crate) decode_args: fn(Value) -> Result<S::Args, String>,
    pub(crate) encode: fn(S::Output) -> Result<Value, String>,
}

/// A hook reachable by name with JSON arguments.
pub(crate) trait JsonCall: Send + Sync {
    /// The hook's spec (its call mode, whether it is historic — not callable from JSON —,
    /// its JSON Schemas).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    fn spec(&self) -> SpecInfo;

    /// Calls the hook with JSON `args`, within `deadline` if given (the impls still running
    /// then are cut off, as for a typed caller's deadline).
    fn call_json(
        self: Arc<Self>,
        args: Value,
        deadline: Option<std::time::Duration>,
    ) -> BoxFuture<'static, Result<HookOutcome<Value>, CallError>>;
}

pub(crate) fn json_unreachable(spec: &SpecInfo, plugin: &str) -> RegisterError {
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

impl<S: HookSpec> JsonCall for Slot<S> {
    fn spec(&self) -> SpecInfo {
        self.list.load().spec.clone()
    }

    fn call_json(
        self: Arc<Self>,
        args: Value,
        deadline: Option<std::time::Duration>,
    ) -> BoxFuture<'static, Result<HookOutcome<Value>, CallError>> {
        Box::pin(async move {
            let Some(bridge) = self.json.get() else {
                unreachable!("json_call only hands out slots with a bridge")
            };
            let options = crate::caller::CallOptions {
                deadline,
                ..Default::default()
            };
            // The typed call's own paths (the ready path first), with the deadline given; its
            // snapshot also says what the spec is.
            let caller = crate::caller::HookCaller::with_options(self.clone(), options);
            let Some(list) = caller.snapshot() else {
                unreachable!("a caller of a slot has a snapshot")
            };
            let (name, historic, fail_fast) = (
                list.spec.name.clone(),
                list.spec.historic,
                list.spec.fail_fast,
            );
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
            let outcome = caller.call(&args).await?;
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
            if fail_fast {
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
        // The error names where (`$.user.id: invalid type: ...`), as for answers.
        decode(v)
    }
    fn answer_out(v: S::Output) -> Result<Value, String> {
        checked_json(&v, "the answer")
    }
    fn answer_in(v: Value) -> Result<S::Output, String> {
        // Inside the answer, the error names where (`$.items[2].id: invalid type: ...`).
        decode(v).map_err(|detail| format!("answer does not fit the hook's output type: {detail}"))
    }
}

/// `v` as a `T`; the error names where inside `v` it failed (`$.items[2].id: invalid type:
/// ...`; nothing for the whole value), quoted.
fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = json_path(e.path());
        if path == "$" {
            Quote(e.inner()).to_string()
        } else {
            Quote(format_args!("{path}: {}", e.inner())).to_string()
        }
    })
}

/// A serde path as a JSONPath: `$` for the whole value, `$.items[2].id` inside it.
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    use std::fmt::Write as _;
    let mut out = String::from("$");
    for segment in path.iter() {
        let _ = match segment {
            Segment::Seq { index } => write!(out, "[{index}]"),
            Segment::Map { key } => write!(out, ".{key}"),
            Segment::Enum { variant } => write!(out, ".{variant}"),
            Segment::Unknown => write!(out, ".?"),
        };
    }
    out
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

/// The dynamic (JSON) layer of a manager (feature `json`).
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
impl HookManager {
    /// Declares typed spec `S`, reachable by name from JSON; see
    /// [`HookManagerBuilder::json_spec`](crate::HookManagerBuilder::json_spec).
    ///
    /// # Errors
    /// As [`add_spec`](Self::add_spec), and when JSON impls already registered under the name
    /// cannot be checked.
    pub fn add_json_spec<S>(&self) -> Result<(), RegisterError>
    where
        S: HookSpec,
        S::Args: serde::Serialize + serde::de::DeserializeOwned,
        S::Output: serde::Serialize + serde::de::DeserializeOwned,
    {
        let shared = self.inner.shared.clone();
        self.declare(
            S::info(),
            |spec| Arc::new(Slot::<S>::new(spec, shared)),
            |slot| install_bridge(slot, json_bridge::<S, Serde>),
        )
    }

    /// [`add_json_spec`](Self::add_json_spec) with the JSON Schemas of the spec's argument and
    /// answer types (draft 2020-12, made by `schemars`), which process plugins are offered in
    /// the handshake; see
    /// [`HookManagerBuilder::json_spec_with_schema`](crate::HookManagerBuilder::json_spec_with_schema).
    ///
    /// # Errors
    /// As [`add_json_spec`](Self::add_json_spec).
    #[cfg(feature = "schema")]
    #[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
    pub fn add_json_spec_with_schema<S>(&self) -> Result<(), RegisterError>
    where
        S: HookSpec,
        S::Args: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema,
        S::Output: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema,
    {
        let args = schemars::SchemaGenerator::default()
            .into_root_schema_for::<S::Args>()
            .to_value();
        let result = schemars::SchemaGenerator::default()
            .into_root_schema_for::<S::Output>()
            .to_value();
        let shared = self.inner.shared.clone();
        let mut info = S::info();
        info.schemas = Some(Arc::new((args, result)));
        self.declare(
            info,
            |spec| Arc::new(Slot::<S>::new(spec, shared)),
            |slot| install_bridge(slot, json_bridge::<S, Serde>),
        )
    }

    /// Declares a dynamic (JSON) hook, e.g. `SpecInfo::json("user.login")`.
    ///
    /// # Errors
    /// [`RegisterError::SpecMismatch`] if the name is taken by a typed spec.
    pub fn add_dynamic_spec(&self, spec: SpecInfo) -> Result<(), RegisterError> {
        let shared = self.inner.shared.clone();
        self.declare(
            spec,
            |spec| Arc::new(Slot::<DynamicHook>::new(spec, shared)),
            |slot| install_bridge(slot, json_bridge::<DynamicHook, AsIs>),
        )
    }

    /// Why hook `hook`, a typed spec of this manager, cannot be called from JSON (and how to
    /// make it so); `None` when there is no typed spec of that name.
    pub(crate) fn not_json_reachable(&self, hook: &str) -> Option<String> {
        let spec_type = self
            .registry()
            .hooks
            .get(hook)
            .and_then(|r| r.spec.as_ref())
            .map(|spec| spec.types.spec_name)?;
        Some(format!(
            "its spec type `{spec_type}` is not reachable from JSON; declare it with `json_spec::<{spec_type}>()` (its argument and answer types must be serde types)"
        ))
    }

    /// The specs of the hooks reachable from JSON that a call can reach (not historic ones),
    /// by name: what a process plugin is offered.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn json_hooks(&self) -> Vec<SpecInfo> {
        let map = self.inner.by_name.load();
        let mut hooks: Vec<SpecInfo> = map
            .values()
            .map(|call| call.spec())
            .filter(|spec| !spec.historic)
            .collect();
        hooks.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        hooks
    }

    /// Calls a hook by name with JSON arguments: a dynamic hook, or a typed hook declared with
    /// `json_spec` (its answers are converted to JSON).
    ///
    /// `args` is untrusted input: arguments nested deeper than [`MAX_JSON_DEPTH`](crate::json::MAX_JSON_DEPTH) are refused
    /// (and dropped without recursion, so no depth overflows the stack), and error messages
    /// quote at most 200 bytes of the name or the value (then `… (N bytes)`). A dynamic hook's
    /// arguments reach its JSON impls as they are, without a copy. An answer nested too deep
    /// (a JSON impl's, or a typed impl's once converted) is that impl's error
    /// ([`JsonMismatch`](crate::error::JsonMismatch)).
    ///
    /// # Errors
    /// [`CallError::UnknownHook`] for an unknown name, [`CallError::BadArgs`] when `args` nests
    /// too deep or does not fit the hook's argument type, and the errors of
    /// [`HookCaller::call`](crate::HookCaller::call).
    ///
    /// # Cancel safety
    /// As [`HookCaller::call`](crate::HookCaller::call).
    pub async fn call_json(
        &self,
        hook: &str,
        args: Value,
    ) -> Result<HookOutcome<Value>, CallError> {
        self.call_json_within(hook, args, None).await
    }

    /// [`call_json`](Self::call_json) within `deadline`, if given: a process plugin's
    /// `host/call` inheriting the time left to the call it serves.
    pub(crate) async fn call_json_within(
        &self,
        hook: &str,
        args: Value,
        deadline: Option<std::time::Duration>,
    ) -> Result<HookOutcome<Value>, CallError> {
        if too_deep(&args) {
            dismantle(args);
            return Err(CallError::BadArgs {
                hook: quote(hook),
                detail: too_deep_detail("the value"),
            });
        }
        let target = self.inner.by_name.load().get(hook).cloned();
        match target {
            Some(t) => t.call_json(args, deadline).await,
            None => {
                // A typed spec of that name, not reachable from JSON: say how to make it so.
                if let Some(detail) = self.not_json_reachable(hook) {
                    return Err(CallError::Unavailable {
                        hook: quote(hook),
                        detail,
                    });
                }
                let map = self.inner.by_name.load();
                let mut known: Vec<&str> = map.keys().map(|k| &**k).collect();
                known.sort_unstable();
                Err(CallError::UnknownHook {
                    hook: quote(hook),
                    known: if known.is_empty() {
                        "none".to_owned()
                    } else {
                        quote(known.join(", "))
                    },
                })
            }
        }
    }
}

fn install_bridge<S: HookSpec>(slot: &Arc<dyn ErasedSlot>, bridge: fn() -> JsonBridge<S>) {
    if let Ok(slot) = slot.clone().as_any().downcast::<Slot<S>>() {
        let _ = slot.json.set(bridge());
    }
}
