//! The future of [`HookCaller::call`](crate::HookCaller::call).
//!
//! Written by hand rather than as an `async fn`, for the commonest call: one on the caller's
//! cached snapshot (`manager/cached.rs`, fresh while the slot's generation has not moved)
//! that takes the ready path (`exec/ready.rs`: sequential, no wrapper, monitor, policy,
//! deadline, exclusion or interested subscriber). The impls borrow the snapshot from the
//! caller, not from the future, so this future runs them in its first poll and, if one
//! waits, keeps the general loop that continues the call ([`SeqLoop`]) in itself without
//! borrowing from itself. The outcome is built once, in the poll's return value: no
//! `async fn` state machine moves it through its awaits.
//!
//! Every other call (a stale cache, or a call needing more than the ready path) runs
//! [`call_general`](crate::caller::call_general), the `async fn` that loads the slot's
//! current snapshot when the cache is stale, held inline here (not boxed). It is built
//! (not started) with this future, so that it is never moved after.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::caller::HookCaller;
use crate::error::CallError;
use crate::exec::ready;
use crate::exec::sequential::{Results, SeqLoop};
use crate::exec::snapshot::ImplList;
use crate::outcome::HookOutcome;
use crate::spec::HookSpec;

pin_project! {
    /// A call in flight: [`HookCaller::call`]'s future.
    ///
    /// # Cancel safety
    /// As [`HookCaller::call`]: dropping it drops the impl futures it started.
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub(crate) struct CallFuture<'a, S: HookSpec, G> {
        caller: &'a HookCaller<S>,
        args: &'a S::Args,
        stage: Stage,
        #[pin]
        inner: Inner<'a, S, G>,
    }
}

/// Where a [`CallFuture`] is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not polled yet (`Inner::General` holds the general path's future, not started).
    Start,
    /// On the ready path, an impl waiting: `Inner::Ready`.
    Ready,
    /// On the general path: `Inner::General`.
    General,
    /// Completed.
    Done,
}

pin_project! {
    /// What a [`CallFuture`] keeps across polls.
    #[project = InnerProj]
    enum Inner<'a, S: HookSpec, G> {
        /// The ready path's general loop, continuing the call after an impl waited.
        Ready { rest: Option<SeqLoop<'a, S>> },
        /// The general path.
        General { #[pin] fut: G },
    }
}

impl<'a, S, G> CallFuture<'a, S, G>
where
    S: HookSpec,
    G: Future<Output = Result<HookOutcome<S::Output>, CallError>>,
{
    /// A call of `caller` with `args`; `general` is the general path's future (not started:
    /// an `async fn`'s future only stores its arguments until it is first polled, and is
    /// built here in place rather than moved into the future later).
    #[inline(always)]
    pub(crate) fn new(caller: &'a HookCaller<S>, args: &'a S::Args, general: G) -> Self {
        CallFuture {
            caller,
            args,
            stage: Stage::Start,
            inner: Inner::General { fut: general },
        }
    }
}

impl<'a, S, G> Future for CallFuture<'a, S, G>
where
    S: HookSpec,
    G: Future<Output = Result<HookOutcome<S::Output>, CallError>>,
{
    type Output = Result<HookOutcome<S::Output>, CallError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.stage != Stage::Start {
            return self.poll_started(cx);
        }
        let this = self.project();
        let caller: &'a HookCaller<S> = this.caller;
        let args: &'a S::Args = this.args;
        let Some(list) = ready_list(caller) else {
            *this.stage = Stage::General;
            return poll_inner(caller, args, this.stage, this.inner, cx);
        };
        // The outcome first, its buffer filled by the loop in place.
        let mut outcome = HookOutcome::new(Results::new(), list.clone());
        let fail_fast = caller.options.fail_fast.unwrap_or(list.spec.fail_fast);
        let mut rest = None;
        let polled = ready::poll_into(
            list,
            args,
            list.firstresult,
            fail_fast,
            &mut rest,
            &mut outcome.entries,
            cx,
        );
        if polled.is_pending() {
            hand_over(rest, this.stage, this.inner);
            return Poll::Pending;
        }
        *this.stage = Stage::Done;
        if fail_fast {
            if let Some(e) = outcome.take_first_failure() {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(outcome))
    }
}

impl<'a, S, G> CallFuture<'a, S, G>
where
    S: HookSpec,
    G: Future<Output = Result<HookOutcome<S::Output>, CallError>>,
{
    /// Every poll after the first (out of line: the first poll's ready path stays small).
    #[inline(never)]
    fn poll_started(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<<Self as Future>::Output> {
        let this = self.project();
        if *this.stage == Stage::Done {
            panic!("`HookCaller::call`'s future polled after it completed")
        }
        poll_inner(this.caller, this.args, this.stage, this.inner, cx)
    }
}

/// The ready path's first impl that waits: the call continues in its general loop (the
/// general path's future, never started, is dropped).
#[cold]
#[inline(never)]
fn hand_over<'a, S: HookSpec, G>(
    rest: Option<SeqLoop<'a, S>>,
    stage: &mut Stage,
    mut inner: Pin<&mut Inner<'a, S, G>>,
) {
    *stage = Stage::Ready;
    inner.set(Inner::Ready { rest });
}

/// Polls a started call's state (what is left of it, a finished loop or future, is dropped
/// with this future).
fn poll_inner<'a, S, G>(
    caller: &'a HookCaller<S>,
    args: &'a S::Args,
    stage: &mut Stage,
    inner: Pin<&mut Inner<'a, S, G>>,
    cx: &mut Context<'_>,
) -> Poll<Result<HookOutcome<S::Output>, CallError>>
where
    S: HookSpec,
    G: Future<Output = Result<HookOutcome<S::Output>, CallError>>,
{
    let polled = match inner.project() {
        InnerProj::Ready { rest } => {
            let Some(list) = caller.cached.as_ref().map(|c| c.list()) else {
                unreachable!("a call on the ready path has a cached snapshot")
            };
            poll_ready(caller, list, args, rest, cx)
        }
        InnerProj::General { fut } => fut.poll(cx),
    };
    if polled.is_ready() {
        *stage = Stage::Done;
    }
    polled
}

/// The caller's cached snapshot, if it is fresh and the call takes the ready path on it (this
/// caller's options, the snapshot, no monitor and no interested subscriber).
#[inline(always)]
fn ready_list<S: HookSpec>(caller: &HookCaller<S>) -> Option<&Arc<ImplList<S>>> {
    let (Ok(slot), Some(cached)) = (&caller.slot, &caller.cached) else {
        return None;
    };
    let list = cached.fresh(slot)?;
    (caller.ready && ready::applies(list) && !slot.shared.monitored()).then_some(list)
}

/// Polls a ready-path call on `list` (borrowed from the caller), and on completion builds its
/// outcome (and takes the first failure out under fail-fast).
#[inline(always)]
fn poll_ready<'a, S: HookSpec>(
    caller: &'a HookCaller<S>,
    list: &'a Arc<ImplList<S>>,
    args: &'a S::Args,
    rest: &mut Option<SeqLoop<'a, S>>,
    cx: &mut Context<'_>,
) -> Poll<Result<HookOutcome<S::Output>, CallError>> {
    let fail_fast = caller.options.fail_fast.unwrap_or(list.spec.fail_fast);
    let Poll::Ready(results) = ready::poll(list, args, list.firstresult, fail_fast, rest, cx)
    else {
        return Poll::Pending;
    };
    Poll::Ready(outcome(results, list, fail_fast))
}

/// A ready-path call's outcome.
#[inline(always)]
fn outcome<S: HookSpec>(
    results: Results<S::Output>,
    list: &Arc<ImplList<S>>,
    fail_fast: bool,
) -> Result<HookOutcome<S::Output>, CallError> {
    let mut outcome = HookOutcome::new(results, list.clone());
    if fail_fast {
        if let Some(e) = outcome.take_first_failure() {
            return Err(e);
        }
    }
    Ok(outcome)
}
