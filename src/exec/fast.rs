//! Fast paths: impls run straight from the call loop, with no [`ImplRun`] built unless one
//! goes pending. A sync impl without policy is called directly; an async one has its future
//! created and polled once in place; when every plain impl of a list is a plain sync impl, one
//! tight loop calls them all ([`tight`](super::tight)). Entries are written straight into
//! the call's result buffer ([`ResultBuf`]).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tokio::time::Sleep;
use tracing::Span;

use super::panic::{after_drop, drop_caught, log_second_panic, panic_outcome};
use super::run::arm_timer;
use super::snapshot::ImplEntry;
use super::stats::{self, ImplStats, Lane, Shard};
use super::CallPlan;
use crate::error::HookFailure;
use crate::hookimpl::{HookReturn, ImplFn};
use crate::outcome::{Entries, Entry, ImplOutcome};
use crate::spec::HookSpec;

/// A call's result buffer: the tight sync loops write entries into a `Vec`, the per-impl
/// loops into the outcome's own [`Entries`] (inline while the call has at most one result).
pub(crate) trait ResultBuf<T> {
    /// Appends `entry`.
    fn put(&mut self, entry: Entry<T>);
}

impl<T> ResultBuf<T> for Vec<Entry<T>> {
    #[inline(always)]
    fn put(&mut self, entry: Entry<T>) {
        if self.len() == self.capacity() {
            self.reserve(1);
        }
        let len = self.len();
        // SAFETY: `len < capacity` (reserved just above), so slot `len` is allocated and
        // uninitialised; the write initialises it before the length covers it. Written in
        // place (after inlining, per outcome variant): copying a freshly built entry through
        // the stack stalled on store forwarding. Measured 2026-12-03 (callgrind, mode `sync`):
        // `Vec::push` here costs 6,947 instructions per call at N=100 against 6,645 (+4.5%),
        // over issue 20's "N=10/100 within 3%" bound. Covered by every collect-all test of
        // several sync impls (e.g. `tests/calls/engine.rs`).
        unsafe {
            self.as_mut_ptr().add(len).write(entry);
            self.set_len(len + 1);
        }
    }
}

impl<T> ResultBuf<T> for Entries<T> {
    #[inline(always)]
    fn put(&mut self, entry: Entry<T>) {
        self.push(entry);
    }
}

/// Writes the entry of an impl that returned `r` (or panicked) into `results` and returns
/// whether the call stops here. `other` is told of every outcome but an answer (its counter
/// index and the outcome about to be written), for the statistics; it must not panic.
#[inline(always)]
pub(super) fn write_return<T, B: ResultBuf<T>>(
    results: &mut B,
    index: u32,
    r: std::thread::Result<HookReturn<T>>,
    plan: &CallPlan<'_>,
    other: impl FnOnce(usize, &ImplOutcome<T>),
) -> bool {
    // A plain collect-all call never stops early: skip the check.
    let stop = (plan.firstresult || plan.fail_fast)
        && match &r {
            Ok(Ok(Some(_))) => plan.firstresult,
            Ok(Ok(None)) => false,
            _ => plan.fail_fast,
        };
    match r {
        Ok(Ok(Some(v))) => {
            results.put(Entry::new(index, 1, ImplOutcome::Value(v)));
        }
        Ok(Ok(None)) => {
            other(stats::NO_ANSWER, &ImplOutcome::NoAnswer);
            results.put(Entry::new(index, 1, ImplOutcome::NoAnswer));
        }
        Ok(Err(e)) => {
            let e = Entry::new(index, 1, ImplOutcome::Failed(HookFailure::Error(e)));
            other(stats::ERROR, &e.outcome);
            results.put(e);
        }
        Err(payload) => {
            let e = Entry::new(index, 1, panic_outcome(payload));
            other(stats::PANIC, &e.outcome);
            results.put(e);
        }
    }
    stop
}

/// An impl's statistics and this thread's shard of them: counts a call that finishes on this
/// thread with a plain load and store (no locked instruction).
#[derive(Clone, Copy)]
pub(crate) struct Counter<'a> {
    pub(super) stats: &'a ImplStats,
    pub(super) shard: &'a Shard,
}

/// The counter of `entry` on `lane`, this thread's: `None` if the impl keeps no statistics.
#[inline(always)]
pub(crate) fn counter<S: HookSpec>(entry: &ImplEntry<S>, lane: Lane) -> Option<Counter<'_>> {
    let stats = entry.stats.as_deref()?;
    Some(Counter {
        stats,
        shard: stats.shard(lane),
    })
}

impl Counter<'_> {
    /// The weight of this call's latency sample, 0 if it is not timed.
    #[inline(always)]
    pub(crate) fn sample(self) -> u32 {
        if self.shard.is_due() {
            self.shard.take_sample(self.stats)
        } else {
            0
        }
    }

    /// [`write_return`], counting the call.
    #[inline(always)]
    pub(super) fn write<T, B: ResultBuf<T>>(
        self,
        results: &mut B,
        index: u32,
        r: std::thread::Result<HookReturn<T>>,
        plan: &CallPlan<'_>,
    ) -> bool {
        write_counted(Some(self), results, index, r, plan)
    }

    #[inline(always)]
    fn count_other<T>(self, i: usize, outcome: &ImplOutcome<T>) {
        self.shard.count_other(i);
        if let Some(f) = outcome.failure() {
            self.stats.note_error(f);
        }
    }
}

/// [`write_return`], counting the call if there is a counter.
#[inline(always)]
pub(super) fn write_counted<T, B: ResultBuf<T>>(
    count: Option<Counter<'_>>,
    results: &mut B,
    index: u32,
    r: std::thread::Result<HookReturn<T>>,
    plan: &CallPlan<'_>,
) -> bool {
    if let Some(c) = count {
        c.shard.count_call();
    }
    write_return(results, index, r, plan, |i, o| {
        if let Some(c) = count {
            c.count_other(i, o);
        }
    })
}

/// Calls a sync impl whose latency sample is due (weight `weight`), writes its entry and counts
/// it. Returns whether the call stops here. Kept out of the loops.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(super) fn call_sync_timed<S: HookSpec, B: ResultBuf<S::Output>>(
    h: &dyn crate::hookimpl::SyncHook<S>,
    args: &S::Args,
    count: Counter<'_>,
    weight: u32,
    index: u32,
    results: &mut B,
    plan: &CallPlan<'_>,
) -> bool {
    let started = std::time::Instant::now();
    let r = catch_unwind(AssertUnwindSafe(|| h.call(args)));
    let d = started.elapsed();
    let stop = count.write(results, index, r, plan);
    count.stats.record_sample(d, weight);
    stop
}

/// The sync fast path: a sync impl with no policy (a timeout does not count: a sync impl
/// cannot overrun it) and no interested span subscriber is called right here and its entry
/// written into `results` (and counted on `count`, timed if `sample > 0`). Returns `None` when
/// the impl needs the general path, else whether the call stops here. The caller passes a
/// counter for every impl that keeps statistics (or does not take the fast paths at all).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sync_fast_into<S: HookSpec>(
    entry: &ImplEntry<S>,
    args: &S::Args,
    span: &Span,
    count: Option<Counter<'_>>,
    sample: u32,
    index: u32,
    results: &mut Entries<S::Output>,
    plan: &CallPlan<'_>,
) -> Option<bool> {
    let ImplFn::Sync(h) = &entry.func else {
        return None;
    };
    if !entry.policy.as_ref().is_none_or(|p| p.timeout_only()) || !span.is_disabled() {
        return None;
    }
    if sample > 0 {
        return Some(call_sync_timed(
            &**h, args, count?, sample, index, results, plan,
        ));
    }
    let r = catch_unwind(AssertUnwindSafe(|| h.call(args)));
    // Counted after the call: an impl that calls its own hook again counts its inner calls
    // first, and the load here sees them.
    Some(write_counted(count, results, index, r, plan))
}

/// What the async fast path did.
pub(crate) enum AsyncFast<'a, T> {
    /// The impl finished at once; its entry is written. Whether the call stops.
    Done(bool),
    /// The impl waits: what [`ImplRun::resume`] needs.
    Pending(Waiting<'a, T>),
}

/// An impl the async fast path started and that waits.
pub(crate) struct Waiting<'a, T> {
    pub(super) fut: BoxFuture<'a, HookReturn<T>>,
    /// Its timeout, armed.
    pub(super) timer: Option<Pin<Box<Sleep>>>,
    /// When it started and the weight of its latency sample, if it is timed.
    pub(super) timed: Option<(std::time::Instant, u32)>,
}

/// The async fast path: an async impl with no policy but a timeout and no interested span
/// subscriber is created and polled once right here; if it answers, its entry is written into
/// `results` and counted on `count` (timed, out of line, if `sample > 0`). `None` when the impl
/// needs the general path.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn async_fast_into<'a, S: HookSpec>(
    entry: &'a ImplEntry<S>,
    args: &'a S::Args,
    span: &Span,
    count: Option<Counter<'_>>,
    sample: u32,
    index: u32,
    results: &mut Entries<S::Output>,
    plan: &CallPlan<'_>,
    spare_timer: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> Option<AsyncFast<'a, S::Output>> {
    let ImplFn::Async(h) = &entry.func else {
        return None;
    };
    if !entry.policy.as_ref().is_none_or(|p| p.timeout_only()) || !span.is_disabled() {
        return None;
    }
    if sample > 0 {
        return Some(async_timed(
            entry,
            &**h,
            args,
            count?,
            sample,
            index,
            results,
            plan,
            spare_timer,
            cx,
        ));
    }
    Some(async_in_place(
        entry,
        &**h,
        args,
        count,
        None,
        index,
        results,
        plan,
        spare_timer,
        cx,
    ))
}

/// [`async_fast_into`] for a call that is timed: kept out of the loops.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(super) fn async_timed<'a, S: HookSpec>(
    entry: &'a ImplEntry<S>,
    h: &'a dyn crate::hookimpl::Hook<S>,
    args: &'a S::Args,
    count: Counter<'_>,
    sample: u32,
    index: u32,
    results: &mut Entries<S::Output>,
    plan: &CallPlan<'_>,
    spare_timer: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> AsyncFast<'a, S::Output> {
    let started = std::time::Instant::now();
    let timed = Some((started, sample));
    let done = async_in_place(
        entry,
        h,
        args,
        Some(count),
        timed,
        index,
        results,
        plan,
        spare_timer,
        cx,
    );
    if let AsyncFast::Done(_) = done {
        count.stats.record_sample(started.elapsed(), sample);
    }
    done
}

/// Creates an async impl's future and polls it once in place; writes (and counts) its entry if
/// it is ready.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn async_in_place<'a, S: HookSpec>(
    entry: &'a ImplEntry<S>,
    h: &'a dyn crate::hookimpl::Hook<S>,
    args: &'a S::Args,
    count: Option<Counter<'_>>,
    timed: Option<(std::time::Instant, u32)>,
    index: u32,
    results: &mut Entries<S::Output>,
    plan: &CallPlan<'_>,
    spare_timer: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> AsyncFast<'a, S::Output> {
    let r = match catch_unwind(AssertUnwindSafe(|| h.call(args))) {
        Err(payload) => Err(payload),
        Ok(mut fut) => match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            // The finished future is dropped here, inside the isolation: a panic in its
            // `Drop` is the impl's panic.
            Ok(Poll::Ready(r)) => match drop_caught(fut) {
                None => Ok(r),
                Some(msg) => Err(Box::new(msg) as Box<dyn std::any::Any + Send>),
            },
            Err(payload) => {
                if let Some(msg) = drop_caught(fut) {
                    log_second_panic(&entry.plugin, &msg);
                }
                Err(payload)
            }
            Ok(Poll::Pending) => {
                // Arm the timeout now: nothing else polls this impl before it wakes the task.
                let mut timer = None;
                if let Some(limit) = entry.policy.as_ref().and_then(|p| p.timeout) {
                    timer = arm_timer(spare_timer, limit);
                    if let Some(t) = timer.as_mut() {
                        if t.as_mut().poll(cx).is_ready() {
                            *spare_timer = timer;
                            let outcome = after_drop(
                                ImplOutcome::Failed(HookFailure::TimedOut { limit }),
                                drop_caught(fut),
                                &entry.plugin,
                            );
                            if let Some(stats) = &entry.stats {
                                stats.record_outcome(&outcome, 1);
                            }
                            results.push(Entry::new(index, 1, outcome));
                            return AsyncFast::Done(plan.fail_fast);
                        }
                    }
                }
                return AsyncFast::Pending(Waiting { fut, timer, timed });
            }
        },
    };
    AsyncFast::Done(write_counted(count, results, index, r, plan))
}
