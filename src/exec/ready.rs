//! The ready path: the common call — sequential, no wrapper, no monitor, no policy on any
//! impl, no deadline, no exclusion, no interested span subscriber — run as a plain loop
//! inside the call's first poll, without building the general loop ([`SeqLoop`]) at all.
//! With statistics, a collect-all call is counted once on its list's tally, as the tight
//! sync loop counts its calls (then only an outcome other than an answer is counted per
//! impl, and the loop is the one without statistics); a first-result or fail-fast call, which
//! may not run every impl, is counted per impl as the general loop counts it.
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
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;

use super::fast::{
    async_timed, call_sync_timed, counter, write_counted, write_return, AsyncFast, Counter, Waiting,
};
use super::panic::{drop_caught, dropped_message, log_second_panic};
use super::sequential::{Results, SeqLoop};
use super::snapshot::{ImplEntry, ImplList};
use super::stats::Lane;
use super::tight::count_other_of;
use super::{stats, CallPlan};
use crate::error::CallError;
use crate::hookimpl::{Hook, HookReturn, ImplFn};
use crate::outcome::HookOutcome;
use crate::spec::HookSpec;

/// Whether a call on `list` takes the ready path: decided once per call, after the caller
/// has checked that there are no monitors and that it overrides none of what
/// [`ImplList::ready`] checks in the spec (no exclusion, deadline or parallel mode).
#[inline(always)]
pub(crate) fn applies<S: HookSpec>(list: &ImplList<S>) -> bool {
    // (`ready` also says that a collect-all list of several sync impls is left to the tight
    // loops, which are cheaper for it.)
    list.ready
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

/// A ready-path call on a snapshot the call loaded itself (a caller's stale cache), awaited by
/// `caller::call_general`; on a fresh cache `call::CallFuture` runs [`poll_into`] itself. Small: what
/// waits (the general loop, only once an impl waits) lives in the caller's `rest`, so that
/// awaiting this future moves a few words, not the loop.
pub(crate) struct ReadyCall<'r, 'a, S: HookSpec> {
    list: &'a Arc<ImplList<S>>,
    args: &'a S::Args,
    firstresult: bool,
    fail_fast: bool,
    rest: &'r mut Option<SeqLoop<'a, S>>,
}

impl<'r, 'a, S: HookSpec> ReadyCall<'r, 'a, S> {
    /// A call of `list`'s impls with `args`; `rest` must be `None`.
    #[inline(always)]
    pub(crate) fn new(
        list: &'a Arc<ImplList<S>>,
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
    /// The call's result, built here so that it is moved once, not through every await.
    type Output = Result<HookOutcome<S::Output>, CallError>;

    /// # Cancel safety
    /// What is pending lives in `rest`: dropping it drops the waiting impl's future inside
    /// the isolation, as the general loop always does.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Poll::Ready(results) = poll(
            this.list,
            this.args,
            this.firstresult,
            this.fail_fast,
            this.rest,
            cx,
        ) else {
            return Poll::Pending;
        };
        let mut outcome = HookOutcome::new(results, this.list.clone());
        if this.fail_fast {
            if let Some(e) = outcome.take_first_failure() {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(outcome))
    }
}

/// Polls a ready-path call: on the first poll (`rest` is `None`) runs the impls in turn;
/// once one waits, `rest` holds the general loop that continues the call and every later
/// poll goes to it.
#[inline(always)]
pub(crate) fn poll<'a, S: HookSpec>(
    list: &'a ImplList<S>,
    args: &'a S::Args,
    firstresult: bool,
    fail_fast: bool,
    rest: &mut Option<SeqLoop<'a, S>>,
    cx: &mut Context<'_>,
) -> Poll<Results<S::Output>> {
    let mut results = Results::new();
    poll_into(list, args, firstresult, fail_fast, rest, &mut results, cx).map(|()| results)
}

/// [`poll`], the entries written into `results` (empty on the first poll), which may be the
/// outcome's own buffer: returned by value, the 48-byte buffer is copied at every level
/// between the loop and the caller's outcome.
#[inline(always)]
pub(crate) fn poll_into<'a, S: HookSpec>(
    list: &'a ImplList<S>,
    args: &'a S::Args,
    firstresult: bool,
    fail_fast: bool,
    rest: &mut Option<SeqLoop<'a, S>>,
    results: &mut Results<S::Output>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if let Some(general) = rest {
        return Pin::new(general).poll(cx).map(|r| *results = r);
    }
    let plan = plan(firstresult, fail_fast);
    // With statistics, a collect-all call is counted once on the list's tally (no per-impl
    // count, so the loop below is the same); the others count per impl, out of line.
    // (No lane is kept across the loop: the rare counts look it up again.)
    if list.counted && !tallied(list, &plan) {
        return poll_untallied(list, args, plan, rest, cx).map(|r| *results = r);
    }
    run(list, args, plan, rest, results, cx)
}

/// The ready path's loop: no per-impl count (a list with statistics has counted the call on
/// its tally).
#[inline(always)]
fn run<'a, S: HookSpec>(
    list: &'a ImplList<S>,
    args: &'a S::Args,
    plan: CallPlan<'a>,
    rest: &mut Option<SeqLoop<'a, S>>,
    results: &mut Results<S::Output>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let n = list.entries.len();
    if n > 1 && !plan.firstresult {
        results.reserve_exact(n);
    }
    for (i, entry) in list.entries.iter().enumerate() {
        let index = i as u32;
        let r = match &entry.func {
            ImplFn::Sync(h) => catch_unwind(AssertUnwindSafe(|| h.call(args))),
            ImplFn::Async(h) => match start(&**h, args, &entry.plugin, cx) {
                Started::Done(r) => r,
                Started::Pending(fut) => {
                    if list.counted {
                        untally_here(list, index);
                    }
                    let waiting = waiting(fut);
                    let so_far = std::mem::take(results);
                    *rest = Some(SeqLoop::resume(list, args, plan, so_far, index, waiting));
                    return Poll::Pending;
                }
            },
            // `ImplList::ready` holds only sync and async impls.
            ImplFn::Blocking(_) | ImplFn::Wrapper(_) => {
                unreachable!("the ready path runs only sync and async impls")
            }
        };
        // Only a list with statistics (tallied) has impls with statistics here.
        let stop = write_return(results, index, r, &plan, |k, o| {
            if let Some(stats) = &entry.stats {
                stats.count_other_here(k, o.failure());
            }
        });
        if stop {
            break;
        }
    }
    Poll::Ready(())
}

/// [`run`], out of line.
#[inline(never)]
fn poll_uncounted<'a, S: HookSpec>(
    list: &'a ImplList<S>,
    args: &'a S::Args,
    plan: CallPlan<'a>,
    rest: &mut Option<SeqLoop<'a, S>>,
    cx: &mut Context<'_>,
) -> Poll<Results<S::Output>> {
    let mut results = Results::new();
    run(list, args, plan, rest, &mut results, cx).map(|()| results)
}

/// The first poll of a ready-path call on a list with statistics that [`tallied`] did not
/// count: counted on a tally created just now ([`run`], out of line), per impl
/// ([`poll_counted`]), or with a latency sample due ([`poll_sampled`]).
#[inline(never)]
fn poll_untallied<'a, S: HookSpec>(
    list: &'a ImplList<S>,
    args: &'a S::Args,
    plan: CallPlan<'a>,
    rest: &mut Option<SeqLoop<'a, S>>,
    cx: &mut Context<'_>,
) -> Poll<Results<S::Output>> {
    match tally_start(list, &plan) {
        // A tally created just now: the loop without statistics, out of line this once.
        TallyStart::Counted => poll_uncounted(list, args, plan, rest, cx),
        TallyStart::PerImpl => poll_counted(list, args, plan, rest, cx),
        TallyStart::Sampled(l, due) => poll_sampled(list, args, plan, rest, l, due, cx),
    }
}

/// Counts a ready-path call on a list with statistics once on the list's tally, if it is a
/// collect-all call, the list has a tally and no latency sample is due on this thread's lane
/// (else it changes nothing and [`poll_untallied`] starts the call).
#[inline(always)]
fn tallied<S: HookSpec>(list: &ImplList<S>, plan: &CallPlan<'_>) -> bool {
    if plan.firstresult || plan.fail_fast {
        return false;
    }
    let (Some(tally), Some(lane)) = (list.existing_tally(), stats::lane()) else {
        return false;
    };
    let tl = tally.lane(lane);
    if !tl.none_due(list.entries.len()) {
        return false;
    }
    tl.count_call();
    true
}

/// How a ready-path call on a list with statistics is counted.
enum TallyStart {
    /// Once, on the list's tally (counted already), and each outcome other than an answer on
    /// the impl's own lane: the loop is the one without statistics.
    Counted,
    /// Per impl ([`poll_counted`]): a first-result or fail-fast call (it may not run every
    /// impl), the list's first call (it has no tally yet), or a thread without a lane.
    PerImpl,
    /// On the tally, with the impl call at this index (and maybe later ones) timed
    /// ([`poll_sampled`]).
    Sampled(Lane, usize),
}

/// Starts counting a ready-path call on a list with statistics: a collect-all call runs every
/// impl (or is handed over to the general loop, see [`untally`]), so it is counted once on
/// the list's tally, before any impl runs, as the tight loop counts its calls.
#[inline(always)]
fn tally_start<S: HookSpec>(list: &ImplList<S>, plan: &CallPlan<'_>) -> TallyStart {
    if plan.firstresult || plan.fail_fast {
        return TallyStart::PerImpl;
    }
    let (Some(tally), Some(lane)) = (list.tally(), stats::lane()) else {
        return TallyStart::PerImpl;
    };
    let tl = tally.lane(lane);
    tl.count_call();
    match tl.first_due(list.entries.len()) {
        None => TallyStart::Counted,
        Some(due) => TallyStart::Sampled(lane, due),
    }
}

/// A tallied ready-path call is handed over to the general loop at impl `index`, which
/// counts the impls from there on, each on its own: the impls before it are counted on their
/// own too, and the call is taken off the tally (after them, so that a reader never sees
/// fewer calls than outcomes).
#[cold]
#[inline(never)]
fn untally_here<S: HookSpec>(list: &ImplList<S>, index: u32) {
    if let Some(lane) = stats::lane() {
        untally(list, index, lane);
    }
}

/// [`untally_here`] on `lane`.
#[cold]
#[inline(never)]
fn untally<S: HookSpec>(list: &ImplList<S>, index: u32, lane: Lane) {
    for entry in &list.entries[..index as usize] {
        if let Some(c) = counter(entry, lane) {
            c.shard.count_call();
        }
    }
    if let Some(tally) = list.existing_tally() {
        tally.lane(lane).uncount_call();
    }
}

/// [`poll`]'s first poll for a tallied call whose lane has the impl call at `due` to time
/// (and maybe later ones, at the sampler's gaps): as the tight loop's `tallied_sampled`.
#[cold]
#[inline(never)]
fn poll_sampled<'a, S: HookSpec>(
    list: &'a ImplList<S>,
    args: &'a S::Args,
    plan: CallPlan<'a>,
    rest: &mut Option<SeqLoop<'a, S>>,
    lane: Lane,
    due: usize,
    cx: &mut Context<'_>,
) -> Poll<Results<S::Output>> {
    let n = list.entries.len();
    let Some(tl) = list.tally().map(|t| t.lane(lane)) else {
        unreachable!("a sampled call's list has a tally")
    };
    let mut results = Results::new();
    if n > 1 {
        results.reserve_exact(n);
    }
    let mut next = due;
    for (i, entry) in list.entries.iter().enumerate() {
        let index = i as u32;
        let timed = (i == next).then(|| (tl.weight(), Instant::now()));
        let r = match &entry.func {
            ImplFn::Sync(h) => catch_unwind(AssertUnwindSafe(|| h.call(args))),
            ImplFn::Async(h) => match start(&**h, args, &entry.plugin, cx) {
                Started::Done(r) => r,
                Started::Pending(fut) => {
                    // Not timed: the sampler times the next call's first impl instead.
                    tl.resume(next.max(n), n);
                    untally(list, index, lane);
                    let waiting = waiting(fut);
                    *rest = Some(SeqLoop::resume(list, args, plan, results, index, waiting));
                    return Poll::Pending;
                }
            },
            ImplFn::Blocking(_) | ImplFn::Wrapper(_) => {
                unreachable!("the ready path runs only sync and async impls")
            }
        };
        let d = timed.map(|(weight, t)| (weight, t.elapsed()));
        write_return(&mut results, index, r, &plan, |k, o| {
            count_other_of(entry, lane, k, o);
        });
        if let Some((weight, d)) = d {
            if let Some(stats) = &entry.stats {
                stats.record_sample(d, weight);
            }
            next = i + tl.observed(d);
        }
    }
    tl.resume(next.max(n), n);
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
