//! Hook implementations: the traits plugins implement and the options an impl carries.
//!
//! An impl answers a call with a [`HookReturn`]: `Ok(Some(value))` (an answer), `Ok(None)`
//! ("no answer", pluggy's `None`) or `Err(e)` with an error of the plugin's own type.
//!
//! - [`Hook<S>`]: an async impl (`#[async_trait]`).
//! - [`SyncHook<S>`]: a sync impl; called directly, no future is allocated for it.
//! - [`HookWrapper<S>`](crate::hook::HookWrapper): a wrapper around the other impls (see `exec`).
//!
//! Closures work too, through [`Registrar`](crate::Registrar)'s `hook_fn`, `sync_fn` and
//! `wrapper_fn`.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::error::BoxError;
use crate::exec::breaker::BreakerConfig;
use crate::exec::retry::RetryPolicy;
use crate::exec::wrapper::{HookWrapper, Next, WrapResult};
use crate::spec::HookSpec;

/// What an impl returns: a value, "no answer" (`Ok(None)`), or its own error.
pub type HookReturn<T> = Result<Option<T>, BoxError>;

/// An async implementation of hook `S`.
///
/// ```
/// use hookwire::{async_trait, Hook, HookReturn};
/// hookwire::hookspec! { pub struct Double(u64) -> u64; }
///
/// struct Doubler;
/// #[async_trait]
/// impl Hook<Double> for Doubler {
///     async fn call(&self, x: &u64) -> HookReturn<u64> {
///         Ok(Some(x * 2))
///     }
/// }
/// ```
///
/// A `call` whose argument or output type differs from the spec's does not compile; with
/// `#[async_trait]` the compiler reports a wrong output type at the attribute line, so compare
/// `HookReturn<..>` with the spec's output type first.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement hook `{S}`",
    label = "this type has no `impl Hook<{S}>`",
    note = "add `#[async_trait] impl Hook<{S}> for {Self} {{ async fn call(&self, args: &<{S} as HookSpec>::Args) -> HookReturn<<{S} as HookSpec>::Output> {{ .. }} }}`, or register a sync impl with `sync_hook`, or write the plugin as a `#[hookwire::plugin]` impl block with a `#[hookimpl(spec = {S})] async fn`"
)]
#[async_trait::async_trait]
pub trait Hook<S: HookSpec>: Send + Sync + 'static {
    /// Handle one call.
    ///
    /// # Errors
    /// Return `Err` with any error of your own type; it is reported in the call's outcome under
    /// your plugin's name (or stops the call, under the fail-fast policy).
    ///
    /// # Cancel safety
    /// The returned future may be dropped at any await point: when the caller is dropped, when
    /// the impl's `timeout` or the call's deadline passes, or when a parallel call no longer
    /// needs it. The engine drops it inside the same isolation as its polls: a panic in its
    /// `Drop` becomes the impl's outcome ([`HookFailure::Panic`](crate::HookFailure::Panic),
    /// the message ending in `(while its future was dropped)`), or is logged with a tracing
    /// `error!` when the whole call was dropped; it never reaches the caller.
    async fn call(&self, args: &S::Args) -> HookReturn<S::Output>;
}

/// A synchronous implementation of hook `S`: cheap, non-blocking work with no await.
///
/// Sync impls are called directly from the call's poll loop: no future is allocated for them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement sync hook `{S}`",
    label = "this type has no `impl SyncHook<{S}>`",
    note = "add `impl SyncHook<{S}> for {Self} {{ fn call(&self, args: &<{S} as HookSpec>::Args) -> HookReturn<<{S} as HookSpec>::Output> {{ .. }} }}`"
)]
pub trait SyncHook<S: HookSpec>: Send + Sync + 'static {
    /// Handle one call.
    ///
    /// # Errors
    /// As [`Hook::call`].
    fn call(&self, args: &S::Args) -> HookReturn<S::Output>;
}

/// Where an impl runs among the others (pluggy's tryfirst/trylast): `TryFirst` impls run before `Normal` ones, `TryLast` after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// pluggy's `tryfirst=True`.
    TryFirst,
    /// The default placement.
    #[default]
    Normal,
    /// pluggy's `trylast=True`.
    TryLast,
}

/// The options an impl was registered with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImplOptions {
    /// Where it runs among the others: tryfirst, normal or trylast.
    pub placement: Placement,
    /// Inside a placement, higher runs first (default 0).
    pub priority: i32,
    /// Whether this impl wraps the others.
    pub wrapper: bool,
    /// Plugins whose impls of the same hook this impl must run before.
    pub before: Vec<Arc<str>>,
    /// Plugins whose impls of the same hook this impl must run after.
    pub after: Vec<Arc<str>>,
    /// pluggy's `optionalhook`: no error from `check_pending` if the hook has no spec.
    pub optional: bool,
    /// Time limit of one attempt; counted from the moment the impl first waits.
    pub timeout: Option<Duration>,
    /// How failures are retried.
    pub retry: Option<RetryPolicy>,
    /// Skip the impl after repeated failures.
    pub breaker: Option<BreakerConfig>,
    /// A sync impl that runs on tokio's blocking pool.
    pub blocking: bool,
}

impl ImplOptions {
    /// Whether any execution policy is set (the call loop's fast path is for impls without).
    pub(crate) fn has_policy(&self) -> bool {
        self.timeout.is_some() || self.retry.is_some() || self.breaker.is_some() || self.blocking
    }
}

/// The pool task of a blocking impl's attempt, and the token it observes if it is cancellable.
pub(crate) type BlockingTask<T> = (
    tokio::task::JoinHandle<HookReturn<T>>,
    Option<CancellationToken>,
);

/// A sync impl run on tokio's blocking pool (`spawn_blocking`), so CPU-bound work never stalls
/// the async workers. Created by [`Registrar::blocking_fn`](crate::Registrar::blocking_fn) and
/// [`Registrar::blocking_fn_cancellable`](crate::Registrar::blocking_fn_cancellable).
pub(crate) trait BlockingHook<S: HookSpec>: Send + Sync + 'static {
    /// Starts one attempt. A cancellable impl also returns the token its closure got; the
    /// engine cancels it when it gives up on the attempt.
    fn spawn(&self, args: &S::Args) -> BlockingTask<S::Output>;
}

/// Adapts a closure into a [`BlockingHook`]; the arguments are cloned for the pool thread.
pub(crate) struct BlockingFn<F>(pub(crate) Arc<F>);

impl<S, F> BlockingHook<S> for BlockingFn<F>
where
    S: HookSpec,
    S::Args: Clone,
    F: Fn(&S::Args) -> HookReturn<S::Output> + Send + Sync + 'static,
{
    fn spawn(&self, args: &S::Args) -> BlockingTask<S::Output> {
        let args = args.clone();
        let f = self.0.clone();
        (
            tokio::task::spawn_blocking(crate::exec::deadline::carried(move || f(&args))),
            None,
        )
    }
}

/// Adapts a closure that observes cancellation into a [`BlockingHook`]: each attempt gets a
/// fresh [`CancellationToken`].
pub(crate) struct CancellableBlockingFn<F>(pub(crate) Arc<F>);

impl<S, F> BlockingHook<S> for CancellableBlockingFn<F>
where
    S: HookSpec,
    S::Args: Clone,
    F: Fn(&S::Args, CancellationToken) -> HookReturn<S::Output> + Send + Sync + 'static,
{
    fn spawn(&self, args: &S::Args) -> BlockingTask<S::Output> {
        let args = args.clone();
        let f = self.0.clone();
        let token = CancellationToken::new();
        let theirs = token.clone();
        (
            tokio::task::spawn_blocking(crate::exec::deadline::carried(move || f(&args, theirs))),
            Some(token),
        )
    }
}

/// The callable part of an impl, as the engine stores it.
pub(crate) enum ImplFn<S: HookSpec> {
    Sync(Arc<dyn SyncHook<S>>),
    Async(Arc<dyn Hook<S>>),
    Blocking(Arc<dyn BlockingHook<S>>),
    Wrapper(Arc<dyn HookWrapper<S>>),
}

impl<S: HookSpec> Clone for ImplFn<S> {
    fn clone(&self) -> Self {
        match self {
            ImplFn::Sync(f) => ImplFn::Sync(f.clone()),
            ImplFn::Async(f) => ImplFn::Async(f.clone()),
            ImplFn::Blocking(f) => ImplFn::Blocking(f.clone()),
            ImplFn::Wrapper(f) => ImplFn::Wrapper(f.clone()),
        }
    }
}

/// Adapts a closure `Fn(&Args) -> HookReturn<Output>` into a [`SyncHook`].
pub(crate) struct SyncFn<F>(pub(crate) F);

impl<S, F> SyncHook<S> for SyncFn<F>
where
    S: HookSpec,
    F: Fn(&S::Args) -> HookReturn<S::Output> + Send + Sync + 'static,
{
    #[inline]
    fn call(&self, args: &S::Args) -> HookReturn<S::Output> {
        (self.0)(args)
    }
}

/// Adapts a closure returning a boxed future into a [`Hook`], without a second boxing.
pub(crate) struct AsyncFn<F>(pub(crate) F);

impl<S, F> Hook<S> for AsyncFn<F>
where
    S: HookSpec,
    F: for<'a> Fn(&'a S::Args) -> BoxFuture<'a, HookReturn<S::Output>> + Send + Sync + 'static,
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
        (self.0)(args)
    }
}

/// Adapts a closure into a [`HookWrapper`], without a second boxing.
pub(crate) struct WrapperFn<F>(pub(crate) F);

impl<S, F> HookWrapper<S> for WrapperFn<F>
where
    S: HookSpec,
    F: for<'a> Fn(&'a S::Args, Next<'a, S>) -> BoxFuture<'a, WrapResult<S::Output>>
        + Send
        + Sync
        + 'static,
{
    fn wrap<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        args: &'life1 S::Args,
        next: Next<'life2, S>,
    ) -> BoxFuture<'async_trait, WrapResult<S::Output>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        (self.0)(args, next)
    }
}
