//! Start gates: impls that wait for their plugin to be ready before their first run.
//!
//! A lazy plugin's impls are registered before the plugin is started. The [`Registrar`]
//! wraps each of them (only for plugins that have a gate, so other impls pay nothing) in an
//! adapter that checks the gate — one atomic load once it is open — and otherwise awaits
//! [`StartGate::open`], which starts the plugin exactly once. The engine knows nothing of this:
//! a gated impl is an ordinary async impl (a sync impl loses its no-future fast path).
//!
//! [`Registrar`]: super::registrar::Registrar

use std::sync::Arc;

use futures::future::BoxFuture;
#[cfg(feature = "json")]
use serde_json::Value;

#[cfg(feature = "json")]
use super::record::JsonImpl;
use crate::error::BoxError;
use crate::exec::wrapper::{HookWrapper, Next, WrapResult};
use crate::hookimpl::{Hook, HookReturn, ImplFn, SyncHook};
use crate::spec::HookSpec;

/// What must be ready before a gated impl runs.
pub(crate) trait StartGate: Send + Sync + 'static {
    /// Whether it is open already (cheap; checked on every call).
    fn is_open(&self) -> bool;
    /// Opens it (at most once, however many callers wait) and waits; an error fails the
    /// calling impl.
    fn open(&self) -> BoxFuture<'static, Result<(), BoxError>>;
}

pub(crate) type Gate = Arc<dyn StartGate>;

async fn pass(gate: &Gate) -> Result<(), BoxError> {
    if gate.is_open() {
        Ok(())
    } else {
        gate.open().await
    }
}

/// Blocks the current (blocking-pool) thread until the gate is open.
pub(crate) fn pass_blocking(gate: &Gate) -> Result<(), BoxError> {
    if gate.is_open() {
        return Ok(());
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(gate.open()),
        Err(_) => futures::executor::block_on(gate.open()),
    }
}

struct GatedAsync<S: HookSpec> {
    gate: Gate,
    inner: Arc<dyn Hook<S>>,
}

#[async_trait::async_trait]
impl<S: HookSpec> Hook<S> for GatedAsync<S> {
    async fn call(&self, args: &S::Args) -> HookReturn<S::Output> {
        pass(&self.gate).await?;
        self.inner.call(args).await
    }
}

struct GatedSync<S: HookSpec> {
    gate: Gate,
    inner: Arc<dyn SyncHook<S>>,
}

#[async_trait::async_trait]
impl<S: HookSpec> Hook<S> for GatedSync<S> {
    async fn call(&self, args: &S::Args) -> HookReturn<S::Output> {
        pass(&self.gate).await?;
        self.inner.call(args)
    }
}

struct GatedWrapper<S: HookSpec> {
    gate: Gate,
    inner: Arc<dyn HookWrapper<S>>,
}

#[async_trait::async_trait]
impl<S: HookSpec> HookWrapper<S> for GatedWrapper<S> {
    async fn wrap(&self, args: &S::Args, next: Next<'_, S>) -> WrapResult<S::Output> {
        // A wrapper that cannot run must not take the other plugins' results with it: the
        // call goes on without it (its plain impls, if any, report the error).
        if let Err(e) = pass(&self.gate).await {
            tracing::warn!(error = %e, "skipping the wrapper of a plugin that could not start");
            return Ok(next.run().await);
        }
        self.inner.wrap(args, next).await
    }
}

/// `f` behind `gate`. Blocking impls are gated where they are built (their closure checks
/// the gate on the pool thread), so they pass through unchanged here.
pub(crate) fn gate_typed<S: HookSpec>(gate: &Gate, f: ImplFn<S>) -> ImplFn<S> {
    let gate = gate.clone();
    match f {
        ImplFn::Sync(inner) => ImplFn::Async(Arc::new(GatedSync { gate, inner })),
        ImplFn::Async(inner) => ImplFn::Async(Arc::new(GatedAsync { gate, inner })),
        ImplFn::Wrapper(inner) => ImplFn::Wrapper(Arc::new(GatedWrapper { gate, inner })),
        blocking @ ImplFn::Blocking(_) => blocking,
    }
}

/// A JSON impl behind `gate`.
#[cfg(feature = "json")]
pub(crate) fn gate_json(gate: &Gate, f: JsonImpl) -> JsonImpl {
    let gate = gate.clone();
    JsonImpl::Async(Arc::new(move |args: &Value| {
        let gate = gate.clone();
        let f = f.clone();
        Box::pin(async move {
            pass(&gate).await?;
            match f {
                JsonImpl::Sync(f) => f(args),
                JsonImpl::Async(f) => f(args).await,
            }
        })
    }))
}
