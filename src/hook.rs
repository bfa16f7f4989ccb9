//! Hook impls: the traits a plugin implements, the options of an impl, the [`Registrar`] that
//! adds impls, wrappers, and the [`HookCaller`] a host calls a hook through.
//!
//! An impl answers a call with a [`HookReturn`]: `Ok(Some(value))` (an answer), `Ok(None)`
//! ("no answer", pluggy's `None`) or `Err(e)` with an error of the plugin's own type.
//!
//! - [`Hook<S>`](Hook): an async impl (`#[async_trait]`).
//! - [`SyncHook<S>`](SyncHook): a sync impl; called directly, no future is allocated for it.
//! - [`HookWrapper<S>`](HookWrapper): a wrapper around the other impls (below).
//! - closures: [`Registrar`]'s `hook_fn`, `sync_fn`, `blocking_fn` and `wrapper_fn`.
//!
//! A [`Registrar`] adds each impl with its [`ImplOptions`] (placement, priority, ordering
//! constraints, timeout, retry, circuit breaker):
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
//! # Wrappers
//! A wrapper (pluggy's new-style `wrapper=True`) gets the call's arguments and a [`Next`];
//! `next.run().await` runs the rest of the call (inner wrappers, then the plain impls) and
//! returns its [`HookOutcome`](crate::HookOutcome), which the wrapper may inspect, change,
//! replace or return as is. Code before `run` runs outermost-first, code after it
//! innermost-first, as in pluggy. A wrapper that returns `Err` (or panics) replaces the inner
//! outcome with its own failure, reported under its plugin's name; one that never calls `run`
//! short-circuits the call. The outcome's editing methods keep who produced what:
//! `force_result`, `replace_value`, `take_failure` / `take_first_failure` and `recover`.

pub use crate::caller::{AdHocImpl, HookCaller, ImplInfo};
pub use crate::exec::deadline::call_deadline;
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
