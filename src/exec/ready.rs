//! The ready path: the common call — sequential, no wrapper, no monitor, no policy on any
//! impl, no deadline, no exclusion, no interested span subscriber — run as a plain loop
//! inside the call's first poll, without building the general loop ([`SeqLoop`]) at all.
//! Impls that keep statistics are counted as the general loop counts them.
//!
//! Each impl runs inside one `catch_unwind`: a sync impl is called; an async impl's future
//! is created, polled once and, if it is ready, dropped, all in the same isolation (a flag
//! tells a panic in the drop from one in the poll, so both become the same outcomes as on
//! the general path; a call whose latency sample is due for statistics is timed by the
//! general path's own code instead). When every impl answers at once the call completes
//! here (a first-result call stops at the first value, a fail-fast call at the first
//! failure). The first impl that goes pending hands the call over to [`SeqLoop`], with its
//! future and the entries so far: from there on the call runs exactly as it would have from
//! the start.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;

use super::fast::{
    async_timed, call_sync_timed, counter, write_counted, write_return, AsyncFast, Counter, Waiting,
};
use super::panic::{drop_caught, dropped_message, log_second_panic};
use super::sequential::{Results, SeqLoop};
use super::snapshot::{ImplEntry, ImplList, SyncLoop};
use super::{stats, CallPlan};
use crate::hookimpl::{Hook, HookReturn, ImplFn};
use crate::spec::HookSpec;

/// Whether a call on `list` takes the ready path: decided once per call, after the caller
/// has checked that there are no monitors and that it overrides none of what
/// [`ImplList::ready`] checks in the spec (no exclusion, deadline or parallel mode).
#[inline(always)]
pub(crate) fn applies<S: HookSpec>(list: &ImplList<S>, firstresult: bool) -> bool {
    list.ready
        // The tight loops (`run_all_sync`, and its variants counting statistics once per
        // call) are cheaper for collect-all calls of several sync impls.
        && (firstresult || list.sync_loop == SyncLoop::No || list.entries.len() <= 1)
        // No subscriber may want the call's `debug` span or the impls' `trace` spans: those
        // are created on the general path only.
        && !tracing::level_enabled!(tracing::Level::DEBUG)
}

/// The plan of a ready-path call (handed to the general loop if an impl waits).
#[inline(always)]
fn plan<'a>(firstresult: bool, fail_fast: bool) -> CallPlan<'a> {
    CallPlan {
        firstresult,
        fail_fast,
        exclude: &[],
        parallel: false,
        max_in_flight: usize::MAX,
        deadline: None,
    }
}

/// A ready-path call, awaited by [`HookCaller::call`](crate::HookCaller::call). Small: what
/// waits (the general loop, only once an impl waits) lives in the caller's `rest`, so that
/// awaiting this future moves a few words, not the loop.
pub(crate) struct ReadyCall<'r, 'a, S: HookSpec> {
    list: &'a ImplList<S>,
    args: &'a S::Args,
    firstresult: bool,
    fail_fast: bool,
    rest: &'r mut Option<SeqLoop<'a, S>>,
}

impl<'r, 'a, S: HookSpec> ReadyCall<'r, 'a, S> {
    /// A call of `list`'s impls with `args`; `rest` must be `None`.
    #[inline(always)]
    pub(crate) fn new(
        list: &'a ImplList<S>,
        args: &'a S::Args,
        firstresult: bool,
        fail_fast: bool,
        rest: &'r mut Option<SeqLoop<'a, S>>,
    ) -> Self {
        ReadyCall {
            list,
            args,
            firstresult,
            fail_fast,
            rest,
        }
    }
}

impl<S: HookSpec> Future for ReadyCall<'_, '_, S> {
    type Output = Results<S::Output>;

    /// # Cancel safety
    /// What is pending lives in `rest`: dropping it drops the waiting impl's future inside
    /// the isolation, as the general loop always does.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll(
            this.list,
            this.args,
            this.firstresult,
            this.fail_fast,
            this.rest,
            cx,
        )
    }
}

/// Polls a ready-path call: on the first poll (`rest` is `None`) runs the impls in turn;
/// once one waits, `rest` holds the general loop that continues the call and every later
/// poll goes to it.
#[inline(always)]
fn poll<'a, S: HookSpec>(
    list: &'a ImplList<S>,
    args: &'a S::Args,
    firstresult: bool,
    fail_fast: bool,
    rest: &mut Option<SeqLoop<'a, S>>,
    cx: &mut Context<'_>,
) -> Poll<Results<S::Output>> {
    if let Some(general) = rest {
        return Pin::new(general).poll(cx);
    }
    let plan = plan(firstresult, fail_fast);
    if list.counted {
        return poll_counted(list, args, plan, rest, cx);
    }
    let mut results = Results::new();
    let n = list.entries.len();
    if n > 1 && !firstresult {
        results.reserve_exact(n);
    }
    for (i, entry) in list.entries.iter().enumerate() {
        let index = i as u32;
        let r = match &entry.func {
            ImplFn::Sync(h) => catch_unwind(AssertUnwindSafe(|| h.call(args))),
            ImplFn::Async(h) => match start(&**h, args, &entry.plugin, cx) {
                Started::Done(r) => r,
                Started::Pending(fut) => {
                    let waiting = waiting(fut);
                    *rest = Some(SeqLoop::resume(list, args, plan, results, index, waiting));
                    return Poll::Pending;
                }
            },
            // `ImplList::ready` holds only sync and async impls.
            ImplFn::Blocking(_) | ImplFn::Wrapper(_) => {
                unreachable!("the ready path runs only sync and async impls")
            }
        };
        if write_return(&mut results, index, r, &plan, |_, _| {}) {
            break;
        }
    }
    Poll::Ready(results)
}

/// [`poll`]'s first poll for a list with statistics: each impl is counted on this thread's
/// lane as the general loop counts it, after its call (a call whose latency sample is due is
/// timed by [`run_timed`], out of line, so the loop tests one flag per impl for it). A
/// function of its own, so that the loop without statistics stays as it is (inlined, it cost
/// that loop 10%; measured again for issue 20: `async` N = 10, 3,214 → 3,877 instructions).
#[inline(never)]
fn poll_counted<'a, S: HookSpec>(
    list: &'a ImplList<S>,
    args: &'a S::Args,
    plan: CallPlan<'a>,
    rest: &mut Option<SeqLoop<'a, S>>,
    cx: &mut Context<'_>,
) -> Poll<Results<S::Output>> {
    // Without a lane (this thread's thread-locals are torn down) the general loop counts.
    let Some(lane) = stats::lane() else {
        return Pin::new(rest.insert(SeqLoop::new(list, args, plan))).poll(cx);
    };
    let mut results = Results::new();
    let n = list.entries.len();
    if n > 1 && !plan.firstresult {
        results.reserve_exact(n);
    }
    for (i, entry) in list.entries.iter().enumerate() {
        let index = i as u32;
        let count = counter(entry, lane);
        // A call whose latency sample is due is timed, out of line.
        if let Some(c) = count.filter(|c| c.shard.is_due()) {
            match run_timed(entry, args, c, index, &mut results, &plan, cx) {
                AsyncFast::Done(false) => continue,
                AsyncFast::Done(true) => break,
                AsyncFast::Pending(waiting) => {
                    *rest = Some(SeqLoop::resume(list, args, plan, results, index, waiting));
                    return Poll::Pending;
                }
            }
        }
        let r = match &entry.func {
            ImplFn::Sync(h) => catch_unwind(AssertUnwindSafe(|| h.call(args))),
            ImplFn::Async(h) => match start(&**h, args, &entry.plugin, cx) {
                Started::Done(r) => r,
                Started::Pending(fut) => {
                    let waiting = waiting(fut);
                    *rest = Some(SeqLoop::resume(list, args, plan, results, index, waiting));
                    return Poll::Pending;
                }
            },
            ImplFn::Blocking(_) | ImplFn::Wrapper(_) => {
                unreachable!("the ready path runs only sync and async impls")
            }
        };
        // Counted after the call: an impl that calls its own hook again counts its inner
        // calls first.
        if write_counted(count, &mut results, index, r, &plan) {
            break;
        }
    }
    Poll::Ready(results)
}

/// Runs an impl whose latency sample is due on `count`'s lane: takes the sample, times the
/// call, writes and counts its entry. Kept out of [`poll_counted`]'s loop.
#[cold]
#[inline(never)]
fn run_timed<'a, S: HookSpec>(
    entry: &'a ImplEntry<S>,
    args: &'a S::Args,
    count: Counter<'_>,
    index: u32,
    results: &mut Results<S::Output>,
    plan: &CallPlan<'_>,
    cx: &mut Context<'_>,
) -> AsyncFast<'a, S::Output> {
    let weight = count.shard.take_sample(count.stats);
    match &entry.func {
        ImplFn::Sync(h) => AsyncFast::Done(call_sync_timed(
            &**h, args, count, weight, index, results, plan,
        )),
        // No impl on the ready path has a timeout: the timer is never armed.
        ImplFn::Async(h) => async_timed(
            entry, &**h, args, count, weight, index, results, plan, &mut None, cx,
        ),
        ImplFn::Blocking(_) | ImplFn::Wrapper(_) => {
            unreachable!("the ready path runs only sync and async impls")
        }
    }
}

/// An impl that waits, not timed, with no timeout.
#[inline(always)]
fn waiting<T>(fut: BoxFuture<'_, HookReturn<T>>) -> Waiting<'_, T> {
    Waiting {
        fut,
        timer: None,
        timed: None,
    }
}

/// What creating and polling an async impl once gave.
enum Started<'a, T> {
    /// It finished (its future is dropped already): its return, or the panic of its
    /// creation, poll or drop.
    Done(std::thread::Result<HookReturn<T>>),
    /// It waits.
    Pending(BoxFuture<'a, HookReturn<T>>),
}

/// Creates an async impl's future and polls it once, dropping it if it is ready — the three
/// inside one `catch_unwind`.
#[inline(always)]
fn start<'a, S: HookSpec>(
    h: &'a dyn Hook<S>,
    args: &'a S::Args,
    plugin: &str,
    cx: &mut Context<'_>,
) -> Started<'a, S::Output> {
    // Kept outside the closure: a future whose poll panicked is not dropped while the panic
    // unwinds (its `Drop` may panic too), and neither is a result whose future's drop panicked.
    let mut fut = None;
    let mut polled = Poll::Pending;
    let mut dropping = false;
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let f: &mut BoxFuture<'a, HookReturn<S::Output>> = fut.insert(h.call(args));
        polled = f.as_mut().poll(cx);
        if polled.is_ready() {
            dropping = true;
            drop(fut.take());
        }
    }));
    match (caught, polled) {
        (Ok(()), Poll::Ready(r)) => Started::Done(Ok(r)),
        (Ok(()), Poll::Pending) => match fut {
            Some(f) => Started::Pending(f),
            None => unreachable!("a pending impl's future is kept"),
        },
        (Err(payload), _) => Started::Done(Err(caught_panic(payload, dropping, fut, plugin))),
    }
}

/// The payload for a panic caught by [`start`], as the general path reports it: a panic in
/// the ready future's drop says so; after a panic in the creation or the poll, the future
/// (if there is one) is dropped now, a second panic there logged.
#[cold]
#[inline(never)]
fn caught_panic<F>(
    payload: Box<dyn std::any::Any + Send>,
    dropping: bool,
    fut: Option<F>,
    plugin: &str,
) -> Box<dyn std::any::Any + Send> {
    if dropping {
        return Box::new(dropped_message(payload));
    }
    if let Some(msg) = fut.and_then(drop_caught) {
        log_second_panic(plugin, &msg);
    }
    payload
}
