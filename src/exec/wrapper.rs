//! Wrappers (pluggy's new-style `wrapper=True`) as `Next`-style middleware.
//!
//! A wrapper gets the call's arguments and a [`Next`]; `next.run().await` runs the rest of the
//! call (inner wrappers, then the plain impls) and returns its [`HookOutcome`], which the wrapper
//! may inspect, change, replace or return as is. Code before `run` runs outermost-first, code
//! after it innermost-first, as in pluggy.
//!
//! A wrapper that returns `Err` (or panics) replaces the inner outcome with its own failure,
//! reported under its plugin's name; a wrapper that never calls `run` short-circuits the call.
//!
//! What pluggy's wrappers do by returning a new result or raising, a wrapper does with the
//! outcome's editing methods, which keep who produced what: [`HookOutcome::force_result`]
//! (one answer in the wrapper's name), [`HookOutcome::replace_value`] (still in the impl's
//! name), [`HookOutcome::take_failure`] / [`HookOutcome::take_first_failure`] (to chain a
//! failure into the wrapper's error) and [`HookOutcome::recover`] (a failure turned into an
//! answer in the wrapper's name).
//!
//! A call's deadline bounds the wrappers too: past it, the wrappers still running are cut off
//! and the entries of the impls inside them kept (see
//! [`HookCaller::deadline`](crate::HookCaller::deadline) and [`super::cutoff`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use futures::FutureExt;
use tracing::Instrument;

use super::cutoff::{cut_by_deadline, Ledger};
use super::panic::{log_second_panic, panic_outcome, DropCaught};
use super::snapshot::ImplList;
use super::CallPlan;
use crate::error::{BoxError, HookFailure};
use crate::hookimpl::ImplFn;
use crate::outcome::{Entry, HookOutcome, ImplId, ImplOutcome};
use crate::spec::HookSpec;

/// What a wrapper returns: the (possibly changed) outcome, or an error of its own.
pub type WrapResult<T> = Result<HookOutcome<T>, BoxError>;

/// A wrapper around the other impls of hook `S`.
///
/// ```
/// use hookwire::{async_trait, hook::HookWrapper, hook::Next, hook::WrapResult};
/// hookwire::hookspec! { pub struct Greet(String) -> String; }
///
/// /// Upper-cases every answer of the inner impls.
/// struct Shout;
/// #[async_trait]
/// impl HookWrapper<Greet> for Shout {
///     async fn wrap(&self, _name: &String, next: Next<'_, Greet>) -> WrapResult<String> {
///         let mut outcome = next.run().await;
///         // Each answer stays in the name of the plugin that gave it.
///         for (_plugin, o) in outcome.iter_mut() {
///             if let Some(v) = o.value_mut() {
///                 *v = v.to_uppercase();
///             }
///         }
///         Ok(outcome)
///     }
/// }
/// ```
///
/// A wrapper that turns any inner failure into a failure of its own (pluggy's
/// `raise ... from e`): its failure replaces the outcome, and the [`CallError`](crate::CallError)
/// it carries (wrap it in an error type of yours to add context) still names the plugin that
/// failed:
///
/// ```
/// use hookwire::{async_trait, hook::HookWrapper, hook::Next, hook::WrapResult};
/// hookwire::hookspec! { pub struct Greet(String) -> String; }
///
/// struct Strict;
/// #[async_trait]
/// impl HookWrapper<Greet> for Strict {
///     async fn wrap(&self, _name: &String, next: Next<'_, Greet>) -> WrapResult<String> {
///         let mut outcome = next.run().await;
///         match outcome.take_first_failure() {
///             Some(e) => Err(e.into()),
///             None => Ok(outcome),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement wrapper for hook `{S}`",
    label = "this type has no `impl HookWrapper<{S}>`",
    note = "add `#[async_trait] impl HookWrapper<{S}> for {Self} {{ async fn wrap(&self, args: &<{S} as HookSpec>::Args, next: Next<'_, {S}>) -> WrapResult<<{S} as HookSpec>::Output> {{ Ok(next.run().await) }} }}`"
)]
#[async_trait::async_trait]
pub trait HookWrapper<S: HookSpec>: Send + Sync + 'static {
    /// Wrap one call: run code before and after `next.run()`.
    ///
    /// # Errors
    /// An `Err` replaces the inner outcome with this wrapper's failure (or stops the call under
    /// the fail-fast policy).
    ///
    /// # Cancel safety
    /// The future may be dropped at any await point when the caller is dropped or the call's
    /// deadline passes; the inner call is dropped with it.
    async fn wrap(&self, args: &S::Args, next: Next<'_, S>) -> WrapResult<S::Output>;
}

/// The rest of a call, handed to a wrapper.
pub struct Next<'a, S: HookSpec> {
    list: &'a Arc<ImplList<S>>,
    args: &'a S::Args,
    plan: CallPlan<'a>,
    pos: usize,
    me: u32,
    /// The call's ledger when it has a deadline (see [`super::cutoff`]).
    ledger: Option<&'a Ledger<S::Output>>,
}

impl<'a, S: HookSpec> Next<'a, S> {
    /// The wrapper's own identity in this call, to answer in its own name:
    /// [`push`](HookOutcome::push), [`force_result`](HookOutcome::force_result),
    /// [`recover`](HookOutcome::recover).
    pub fn me(&self) -> ImplId {
        ImplId {
            index: self.me,
            list: Arc::as_ptr(self.list) as *const () as usize,
        }
    }

    /// The call's arguments.
    pub fn args(&self) -> &'a S::Args {
        self.args
    }

    /// Run the inner wrappers and impls and return what they produced.
    ///
    /// Under a call [deadline](crate::HookCaller::deadline), once the deadline stops the inner
    /// impls this does not return: the call ends there, the wrapper with it (reported as cut
    /// off), and the inner entries go to the caller's outcome.
    ///
    /// # Cancel safety
    /// Dropping the future drops every inner impl future it started.
    pub async fn run(self) -> HookOutcome<S::Output> {
        run_from(self.list, self.args, self.plan, self.pos, self.ledger).await
    }
}

/// Runs the call from wrapper position `pos` inwards. With a `ledger` (the call has a
/// deadline), the running wrappers are noted in it, and a plain loop that the deadline stopped
/// leaves its entries there and never returns: the call is over, and its own deadline timer
/// ends it (see [`super::cutoff`]).
pub(crate) async fn run_from<'a, S: HookSpec>(
    list: &'a Arc<ImplList<S>>,
    args: &'a S::Args,
    plan: CallPlan<'a>,
    pos: usize,
    ledger: Option<&'a Ledger<S::Output>>,
) -> HookOutcome<S::Output> {
    let Some(i) = (pos..list.n_wrappers).find(|&i| plan.includes(&list.entries[i].plugin)) else {
        let results = super::PlainLoop::new(list, args, plan).await;
        if let Some(ledger) = ledger.filter(|_| cut_by_deadline(&results)) {
            ledger.keep(results);
            return std::future::pending().await;
        }
        return HookOutcome::new(results, list.clone());
    };
    let entry = &list.entries[i];
    let ImplFn::Wrapper(w) = &entry.func else {
        unreachable!("entries before n_wrappers are wrappers")
    };
    let next = Next {
        list,
        args,
        plan,
        pos: i + 1,
        me: i as u32,
        ledger,
    };
    let running = ledger.map(|ledger| ledger.enter(i as u32));
    let span = tracing::trace_span!("hook_wrapper", hook = %list.spec.name, plugin = %entry.plugin);
    let result = match catch_unwind(AssertUnwindSafe(|| w.wrap(args, next))) {
        Ok(fut) => {
            // The wrapper's future is dropped inside the isolation: once it finished (a panic
            // in its `Drop` is the wrapper's failure) or with the call (logged).
            let mut fut = DropCaught::new(fut, &entry.plugin);
            let r = AssertUnwindSafe(&mut fut)
                .catch_unwind()
                .instrument(span)
                .await;
            match (r, fut.close()) {
                (r, None) => r,
                (Ok(_), Some(msg)) => Err(Box::new(msg) as Box<dyn std::any::Any + Send>),
                (Err(payload), Some(msg)) => {
                    log_second_panic(&entry.plugin, &msg);
                    Err(payload)
                }
            }
        }
        Err(payload) => Err(payload),
    };
    drop(running);
    let failed = match result {
        Ok(Ok(outcome)) => return outcome,
        Ok(Err(e)) => ImplOutcome::Failed(HookFailure::Error(e)),
        Err(payload) => panic_outcome(payload),
    };
    HookOutcome::new(
        smallvec::smallvec![Entry::new(i as u32, 1, failed)],
        list.clone(),
    )
}
