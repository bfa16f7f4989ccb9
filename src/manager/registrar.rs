//! [`Registrar`]: how a plugin adds its impls, each with its options (documented in
//! [`crate::hook`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
#[cfg(feature = "json")]
use serde_json::Value;

#[cfg(feature = "json")]
use super::gate::gate_json;
use super::gate::{gate_typed, pass_blocking, Gate};
#[cfg(feature = "json")]
use super::record::JsonImpl;
use super::record::RecordFn;
use super::registry::PendingImpl;
use crate::error::RegisterError;
use crate::exec::breaker::BreakerConfig;
use crate::exec::retry::RetryPolicy;
use crate::exec::wrapper::{HookWrapper, Next, WrapResult};
use crate::hookimpl::{
    AsyncFn, BlockingFn, CancellableBlockingFn, Hook, HookReturn, ImplFn, ImplOptions, Placement,
    SyncFn, SyncHook, WrapperFn,
};
use crate::spec::HookSpec;
#[cfg(feature = "json")]
use crate::spec::{DynamicHook, TypeKey};
use tokio_util::sync::CancellationToken;

/// A plugin's pending impls. Most plugins add one: it is kept in place, without an allocation
/// of its own (thousands of plugins start faster for each allocation they do not make).
pub(crate) enum Impls {
    None,
    One(PendingImpl),
    Many(Vec<PendingImpl>),
}

impl Impls {
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host
    pub(crate) fn as_slice(&self) -> &[PendingImpl] {
        self
    }

    pub(crate) fn push(&mut self, p: PendingImpl) {
        *self = match std::mem::replace(self, Impls::None) {
            Impls::None => Impls::One(p),
            Impls::One(first) => Impls::Many(vec![first, p]),
            Impls::Many(mut all) => {
                all.push(p);
                Impls::Many(all)
            }
        };
    }
}

impl std::ops::Deref for Impls {
    type Target = [PendingImpl];

    fn deref(&self) -> &[PendingImpl] {
        match self {
            Impls::None => &[],
            Impls::One(p) => std::slice::from_ref(p),
            Impls::Many(all) => all,
        }
    }
}

impl std::ops::DerefMut for Impls {
    fn deref_mut(&mut self) -> &mut [PendingImpl] {
        match self {
            Impls::None => &mut [],
            Impls::One(p) => std::slice::from_mut(p),
            Impls::Many(all) => all,
        }
    }
}

/// Collects one plugin's impls; they are registered together, all or nothing.
///
/// A plugin gets one in `Plugin::register` (feature `plugins`; or in the closure given
/// to [`HookManager::register`](crate::HookManager::register)). Each method starts an
/// [`ImplBuilder`] for one impl — a [`Hook`] or [`SyncHook`] type, a closure, a blocking
/// function, a wrapper or a JSON function — whose options are set by chaining, and which
/// [`add`](ImplBuilder::add) queues:
///
/// ```
/// use std::time::Duration;
/// use hookwire::{FutureExt, HookManager};
/// use hookwire::policy::RetryPolicy;
/// hookwire::hookspec! { pub struct Fetch(String) -> String; }
///
/// let pm = HookManager::new();
/// pm.register("cache", |r| r.sync_fn::<Fetch>(|_| Ok(None)).tryfirst().add()).unwrap();
/// pm.register("http", |r| {
///     r.hook_fn::<Fetch>(|url| async move { Ok(Some(format!("body of {url}"))) }.boxed())
///     .after("cache")
///     .timeout(Duration::from_secs(2))
///     .retry(RetryPolicy::new(3))
///     .add()?;
///     // A second impl of the same plugin, for another hook, would be added here too.
///     Ok(())
/// })
/// .unwrap();
/// let impls = pm.hook::<Fetch>().impls();
/// assert_eq!(impls.iter().map(|i| i.plugin.as_ref()).collect::<Vec<_>>(), ["cache", "http"]);
/// ```
pub struct Registrar {
    plugin: Arc<str>,
    pub(crate) pending: Impls,
    gate: Option<Gate>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("plugin", &self.plugin)
            .field("impls", &self.pending.as_slice().len())
            .finish_non_exhaustive()
    }
}

impl Registrar {
    pub(crate) fn new(plugin: Arc<str>) -> Self {
        Registrar {
            plugin,
            pending: Impls::None,
            gate: None,
        }
    }

    /// Every impl added from now on waits for `gate` before it runs (lazy plugins).
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host
    pub(crate) fn set_gate(&mut self, gate: Gate) {
        self.gate = Some(gate);
    }

    /// Replaces the priority of this plugin's impls of each hook named in `overrides`.
    ///
    /// # Errors
    /// [`RegisterError::Plugin`] naming a hook this plugin has no impl of (a typo in a
    /// configuration file); nothing is changed then.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host
    pub(crate) fn override_priorities(
        &mut self,
        overrides: &BTreeMap<String, i32>,
    ) -> Result<(), RegisterError> {
        if let Some(unknown) = overrides
            .keys()
            .find(|hook| !self.pending.iter().any(|p| &*p.hook == hook.as_str()))
        {
            let mut hooks: Vec<&str> = self.pending.iter().map(|p| &*p.hook).collect();
            hooks.sort_unstable();
            hooks.dedup();
            return Err(RegisterError::Plugin {
                plugin: self.plugin.to_string(),
                reason: format!(
                    "a priority override names hook `{unknown}`, but this plugin has no impl of it (its hooks: {}); fix the hook name in the configuration",
                    if hooks.is_empty() { "none".to_owned() } else { hooks.join(", ") }
                ),
            });
        }
        for p in self.pending.iter_mut() {
            if let Some(&priority) = overrides.get(&*p.hook) {
                Arc::make_mut(&mut p.options).priority = priority;
            }
        }
        Ok(())
    }

    fn typed<S: HookSpec>(&self, f: ImplFn<S>) -> RecordFn {
        match &self.gate {
            None => RecordFn::typed::<S>(f),
            Some(gate) => RecordFn::typed::<S>(gate_typed(gate, f)),
        }
    }

    #[cfg(feature = "json")]
    fn json(&self, f: JsonImpl) -> RecordFn {
        match &self.gate {
            None => RecordFn::Json(f),
            Some(gate) => RecordFn::Json(gate_json(gate, f)),
        }
    }

    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host
    /// The hook names of the impls collected so far, in the order they were added.
    #[cfg_attr(not(feature = "plugins"), allow(dead_code))] // used by the plugin host's gate
    pub(crate) fn hook_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.pending.iter().map(|p| &*p.hook)
    }

    pub(crate) fn plugin_ref(&self) -> &Arc<str> {
        &self.plugin
    }

    /// The name of the plugin being registered.
    pub fn plugin_name(&self) -> &str {
        &self.plugin
    }

    fn builder(
        &mut self,
        hook: Cow<'static, str>,
        wrapper: bool,
        func: RecordFn,
    ) -> ImplBuilder<'_> {
        ImplBuilder {
            registrar: self,
            hook,
            options: ImplOptions {
                wrapper,
                ..ImplOptions::default()
            },
            tier: None,
            func,
        }
    }

    /// An async impl of `S` (a type implementing [`Hook<S>`]): `r.hook::<S>(self)`.
    pub fn hook<S: HookSpec>(&mut self, h: Arc<impl Hook<S>>) -> ImplBuilder<'_> {
        let f = self.typed::<S>(ImplFn::Async(h));
        self.builder(Cow::Borrowed(S::NAME), false, f)
    }

    /// A sync impl of `S` (a type implementing [`SyncHook<S>`]): `r.sync_hook::<S>(self)`.
    pub fn sync_hook<S: HookSpec>(&mut self, h: Arc<impl SyncHook<S>>) -> ImplBuilder<'_> {
        let f = self.typed::<S>(ImplFn::Sync(h));
        self.builder(Cow::Borrowed(S::NAME), false, f)
    }

    /// A wrapper around the other impls of `S` (a type implementing [`HookWrapper<S>`]):
    /// `r.wrapper::<S>(self)`.
    pub fn wrapper<S: HookSpec>(&mut self, w: Arc<impl HookWrapper<S>>) -> ImplBuilder<'_> {
        let f = self.typed::<S>(ImplFn::Wrapper(w));
        self.builder(Cow::Borrowed(S::NAME), true, f)
    }

    /// An async closure impl of `S`; return a boxed future
    /// (`|args| async move { .. }.boxed()`, with `futures::FutureExt`), which may borrow `args`.
    pub fn hook_fn<S: HookSpec>(
        &mut self,
        f: impl for<'a> Fn(&'a S::Args) -> BoxFuture<'a, HookReturn<S::Output>> + Send + Sync + 'static,
    ) -> ImplBuilder<'_> {
        self.hook::<S>(Arc::new(AsyncFn(f)))
    }

    /// A sync closure impl of `S`: called directly, no future is allocated.
    pub fn sync_fn<S: HookSpec>(
        &mut self,
        f: impl Fn(&S::Args) -> HookReturn<S::Output> + Send + Sync + 'static,
    ) -> ImplBuilder<'_> {
        self.sync_hook::<S>(Arc::new(SyncFn(f)))
    }

    /// A sync closure impl of `S` that runs on tokio's blocking pool (CPU-bound or blocking
    /// work), never on the async workers. The pool thread needs its own copy of the arguments,
    /// so `S::Args` must be `Clone` (wrap large arguments in an `Arc`). A timed-out blocking
    /// impl is reported as timed out, but its thread cannot be stopped: it runs to completion
    /// (use [`blocking_fn_cancellable`](Self::blocking_fn_cancellable) for work that can stop
    /// early).
    pub fn blocking_fn<S>(
        &mut self,
        f: impl Fn(&S::Args) -> HookReturn<S::Output> + Send + Sync + 'static,
    ) -> ImplBuilder<'_>
    where
        S: HookSpec,
        S::Args: Clone,
    {
        let func = match self.gate.clone() {
            None => RecordFn::typed::<S>(ImplFn::Blocking(Arc::new(BlockingFn(Arc::new(f))))),
            Some(gate) => {
                let gated = move |args: &S::Args| {
                    pass_blocking(&gate)?;
                    f(args)
                };
                RecordFn::typed::<S>(ImplFn::Blocking(Arc::new(BlockingFn(Arc::new(gated)))))
            }
        };
        let mut b = self.builder(Cow::Borrowed(S::NAME), false, func);
        b.options.blocking = true;
        b
    }

    /// Like [`blocking_fn`](Self::blocking_fn), for work that can stop early: the closure also
    /// receives a [`CancellationToken`](crate::CancellationToken), cancelled when the engine
    /// gives up on the attempt — the impl's `timeout` expires, the call's deadline cuts it
    /// off, a parallel call no longer needs it (an answer ranked above it, a fail-fast stop),
    /// or the call's future is dropped. It is not cancelled when the impl finishes on its own.
    /// Check `token.is_cancelled()` between steps and return early; what it returns then is
    /// discarded (the impl is already reported as timed out, cut off or cancelled). Each
    /// attempt (retries included) gets a fresh token.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use hookwire::HookManager;
    /// hookwire::hookspec! { pub struct Crunch(u64) -> u64; }
    ///
    /// let pm = HookManager::new();
    /// pm.register("cruncher", |r| {
    ///     r.blocking_fn_cancellable::<Crunch>(|n, token| {
    ///         let mut acc = 0u64;
    ///         for i in 0..*n {
    ///             if token.is_cancelled() {
    ///                 return Ok(None); // given up on: the result is discarded anyway
    ///             }
    ///             acc = acc.wrapping_add(i);
    ///         }
    ///         Ok(Some(acc))
    ///     })
    ///     .timeout(Duration::from_secs(5))
    ///     .add()
    /// })
    /// .unwrap();
    /// let sum = pm.hook::<Crunch>().call(&4).await.unwrap().into_value();
    /// assert_eq!(sum, Some(6));
    /// # }
    /// ```
    pub fn blocking_fn_cancellable<S>(
        &mut self,
        f: impl Fn(&S::Args, CancellationToken) -> HookReturn<S::Output> + Send + Sync + 'static,
    ) -> ImplBuilder<'_>
    where
        S: HookSpec,
        S::Args: Clone,
    {
        let func = match self.gate.clone() {
            None => RecordFn::typed::<S>(ImplFn::Blocking(Arc::new(CancellableBlockingFn(
                Arc::new(f),
            )))),
            Some(gate) => {
                let gated = move |args: &S::Args, token: CancellationToken| {
                    pass_blocking(&gate)?;
                    f(args, token)
                };
                RecordFn::typed::<S>(ImplFn::Blocking(Arc::new(CancellableBlockingFn(Arc::new(
                    gated,
                )))))
            }
        };
        let mut b = self.builder(Cow::Borrowed(S::NAME), false, func);
        b.options.blocking = true;
        b
    }

    /// A wrapper closure: `|args, next| async move { let o = next.run().await; Ok(o) }.boxed()`.
    pub fn wrapper_fn<S: HookSpec>(
        &mut self,
        f: impl for<'a> Fn(&'a S::Args, Next<'a, S>) -> BoxFuture<'a, WrapResult<S::Output>>
            + Send
            + Sync
            + 'static,
    ) -> ImplBuilder<'_> {
        self.wrapper::<S>(Arc::new(WrapperFn(f)))
    }

    /// A sync JSON impl of the hook named `hook`: a dynamic hook, or a typed hook added with
    /// `json_spec` (its arguments arrive as JSON, its answer must fit the output type, or it
    /// is reported as this plugin's error). An answer nested deeper than
    /// [`MAX_JSON_DEPTH`](crate::json::MAX_JSON_DEPTH) is this plugin's error too
    /// ([`JsonMismatch`](crate::error::JsonMismatch)).
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json_fn(
        &mut self,
        hook: &str,
        f: impl Fn(&Value) -> HookReturn<Value> + Send + Sync + 'static,
    ) -> ImplBuilder<'_> {
        let f = self.json(JsonImpl::Sync(Arc::new(f)));
        self.builder(Cow::Owned(hook.to_owned()), false, f)
    }

    /// An async JSON impl of the hook named `hook`; see [`json_fn`](Self::json_fn).
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json_async_fn(
        &mut self,
        hook: &str,
        f: impl for<'a> Fn(&'a Value) -> BoxFuture<'a, HookReturn<Value>> + Send + Sync + 'static,
    ) -> ImplBuilder<'_> {
        let f = self.json(JsonImpl::Async(Arc::new(f)));
        self.builder(Cow::Owned(hook.to_owned()), false, f)
    }
}

/// Options of one impl; finish with [`add`](Self::add).
#[must_use = "an impl is only registered when `.add()` is called"]
pub struct ImplBuilder<'r> {
    registrar: &'r mut Registrar,
    /// A typed impl's hook name is its spec's `&'static str`: no allocation per impl.
    hook: Cow<'static, str>,
    options: ImplOptions,
    tier: Option<Result<Placement, (Placement, Placement)>>,
    func: RecordFn,
}

impl std::fmt::Debug for ImplBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImplBuilder")
            .field("plugin", &self.registrar.plugin)
            .field("hook", &self.hook)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ImplBuilder<'_> {
    fn set_tier(mut self, tier: Placement) -> Self {
        self.tier = Some(match self.tier {
            None => Ok(tier),
            Some(Ok(t)) if t == tier => Ok(tier),
            Some(Ok(t)) | Some(Err((t, _))) => Err((t, tier)),
        });
        self
    }

    /// Run before the normal impls (pluggy's `tryfirst`).
    pub fn tryfirst(self) -> Self {
        self.set_tier(Placement::TryFirst)
    }

    /// Run after the normal impls (pluggy's `trylast`).
    pub fn trylast(self) -> Self {
        self.set_tier(Placement::TryLast)
    }

    /// Inside its tier, higher priority runs first (default 0).
    pub fn priority(mut self, priority: i32) -> Self {
        self.options.priority = priority;
        self
    }

    /// Run before the impls of `plugin` for this hook. `plugin` need not be registered: the
    /// constraint applies whenever it is, and waits while it is not (listed by
    /// [`HookManager::waiting_constraints`](crate::HookManager::waiting_constraints)); it
    /// lasts as long as this plugin is registered. A constraint that would close an ordering
    /// cycle fails the registration that closes it, whichever plugin that is.
    pub fn before(mut self, plugin: &str) -> Self {
        self.options.before.push(Arc::from(plugin));
        self
    }

    /// Run after the impls of `plugin` for this hook; as [`before`](Self::before), the
    /// constraint waits while `plugin` is not registered.
    pub fn after(mut self, plugin: &str) -> Self {
        self.options.after.push(Arc::from(plugin));
        self
    }

    /// Limit each attempt to `d` (counted from when the impl first waits); an overrun is a
    /// `TimedOut` failure and, in sequential mode, the call moves on. No timer is armed for an
    /// impl that answers without waiting.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.options.timeout = Some(d);
        self
    }

    /// Retry failures as `policy` says (by default: timeouts and errors marked
    /// [`Retryable`](crate::policy::Retryable); never panics).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.options.retry = Some(policy);
        self
    }

    /// Skip this impl (reported as [`ImplOutcome::CircuitOpen`](crate::ImplOutcome::CircuitOpen)) after repeated failures.
    pub fn circuit_breaker(mut self, config: BreakerConfig) -> Self {
        self.options.breaker = Some(config);
        self
    }

    /// pluggy's `optionalhook`: no `check_pending` error when the host has no spec for it.
    pub fn optional(mut self) -> Self {
        self.options.optional = true;
        self
    }

    /// Adds the impl to the plugin's registration.
    ///
    /// # Errors
    /// [`RegisterError::InvalidImpl`] for contradictory options (`tryfirst` and `trylast`, or a
    /// `before`/`after` naming the plugin itself). Other problems (ordering cycles, type
    /// mismatches, a wrapper on a historic hook) are reported when the plugin is committed.
    pub fn add(mut self) -> Result<(), RegisterError> {
        let invalid = |detail: String| RegisterError::InvalidImpl {
            hook: self.hook.to_string(),
            plugin: self.registrar.plugin.to_string(),
            detail,
        };
        match self.tier {
            Some(Err((a, b))) => {
                return Err(invalid(format!(
                    "conflicting tiers {a:?} and {b:?}: choose one of tryfirst/trylast"
                )))
            }
            Some(Ok(t)) => self.options.placement = t,
            None => {}
        }
        if self.options.wrapper
            && (self.options.timeout.is_some()
                || self.options.retry.is_some()
                || self.options.breaker.is_some())
        {
            return Err(invalid(
                "timeout, retry and circuit breaker apply to plain impls, not to wrappers; give the call a `deadline` instead".into(),
            ));
        }
        #[cfg(feature = "json")]
        if let RecordFn::Typed { types, .. } = &self.func {
            if *types == TypeKey::of::<DynamicHook>() {
                return Err(invalid(
                    "a dynamic hook is implemented by name: use `json_fn`/`json_async_fn` with the hook's name".into(),
                ));
            }
        }
        let me = &self.registrar.plugin;
        if self
            .options
            .before
            .iter()
            .chain(&self.options.after)
            .any(|p| p == me)
        {
            return Err(invalid(
                "a plugin cannot order its impl before or after itself".into(),
            ));
        }
        self.registrar.pending.push(PendingImpl {
            hook: self.hook,
            options: shared_options(self.options),
            func: self.func,
        });
        Ok(())
    }
}

/// `options` in an `Arc`; impls with the default options (most of them) share one, so they
/// cost no allocation and every impl that reads them reads the same, cached, memory. Changes
/// go through `Arc::make_mut`, which copies a shared value first.
fn shared_options(options: ImplOptions) -> Arc<ImplOptions> {
    static DEFAULT: OnceLock<Arc<ImplOptions>> = OnceLock::new();
    if options == ImplOptions::default() {
        DEFAULT
            .get_or_init(|| Arc::new(ImplOptions::default()))
            .clone()
    } else {
        Arc::new(options)
    }
}
