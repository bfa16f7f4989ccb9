//! Hook impls: the traits a plugin implements, the options of an impl, the [`Registrar`] that
//! adds impls, wrappers, and the [`HookCaller`] a host calls a hook through.
//!
//! An impl is a type implementing [`Hook<S>`](Hook) (async) or [`SyncHook<S>`](SyncHook), or a
//! closure; a [`Registrar`] adds it with its [`ImplOptions`] (placement, priority, ordering
//! constraints, timeout, retry, circuit breaker, blocking):
//!
//! ```
//! use hookwire::HookManager;
//! hookwire::hookspec! { pub struct Double(u64) -> u64; }
//!
//! let pm = HookManager::builder().spec::<Double>().build();
//! pm.register("doubler", |r| {
//!     r.sync_fn::<Double>(|x| Ok(Some(x * 2))).tryfirst().priority(10).add()
//! })
//! .unwrap();
//! assert!(pm.is_registered("doubler"));
//! ```
//!
//! A [`HookWrapper`] runs around the other impls of a call (pluggy's new-style wrappers): it
//! gets a [`Next`] to run the inner impls and returns their outcome, changed or not.

pub use crate::caller::{AdHocImpl, HookCaller, ImplInfo};
pub use crate::exec::wrapper::{HookWrapper, Next, WrapResult};
pub use crate::hookimpl::{Hook, HookReturn, ImplOptions, Placement, SyncHook};
pub use crate::manager::registrar::{ImplBuilder, Registrar};
pub use crate::manager::{ConstraintRelation, PluginHandle, PluginImpls, WaitingConstraint};

use crate::spec::HookSpec;

impl<S: HookSpec> std::fmt::Debug for Next<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next")
            .field("hook", &S::NAME)
            .field("me", &self.me())
            .finish_non_exhaustive()
    }
}
