//! One impl in one call: a small state machine that both call loops drive.
//!
//! It calls the impl (sync directly, async by polling its future in place, blocking on tokio's
//! blocking pool), catches panics, and applies the impl's policies: the circuit breaker before
//! the call, a timeout timer armed only once the impl actually waits, and retries with backoff
//! (respecting the call's deadline and the retry budget). An impl without policies costs no
//! timer, no clock read and no allocation beyond its own future.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tracing::Span;

use super::breaker::{CircuitBreaker, Permit};
use super::panic::{panic_message, panic_outcome, return_outcome};
use super::retry::{RetryBudget, RetryPolicy};
use super::snapshot::ImplEntry;
use super::stats::{self, ImplStats, Lane, ListTally, Shard};
use super::CallPlan;
use crate::error::HookFailure;
use crate::hookimpl::{HookReturn, ImplFn, ImplOptions};
use crate::outcome::{Entry, ImplOutcome, SkipReason};
use crate::spec::HookSpec;

/// The live policies of one impl, shared by all its calls (and kept across snapshots).
#[derive(Debug)]
pub(crate) struct ImplPolicy {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) breaker: Option<CircuitBreaker>,
}

impl ImplPolicy {
    /// Only a timeout: the fast path can run the impl, and `poll_run` arms the timer if it
    /// waits.
    #[inline]
    pub(crate) fn timeout_only(&self) -> bool {
        self.retry.is_none() && self.breaker.is_none()
    }

    pub(crate) fn from_options(o: &ImplOptions) -> Option<Arc<Self>> {
        if !o.has_policy() {
            return None;
        }
        Some(Arc::new(ImplPolicy {
            timeout: o.timeout,
            retry: o.retry.clone(),
            budget: o
                .retry
                .as_ref()
                .and_then(|r| r.budget)
                .map(RetryBudget::new),
            breaker: o.breaker.map(CircuitBreaker::new),
        }))
    }
}

enum State<'a, T> {
    Async {
        fut: BoxFuture<'a, HookReturn<T>>,
        timer: Option<Pin<Box<Sleep>>>,
    },
    Blocking {
        handle: JoinHandle<HookReturn<T>>,
        timer: Option<Pin<Box<Sleep>>>,
    },
    Backoff {
        sleep: Pin<Box<Sleep>>,
    },
    Idle,
}

/// An impl that has started and not finished.
pub(crate) struct ImplRun<'a, S: HookSpec> {
    entry: &'a ImplEntry<S>,
    args: &'a S::Args,
    index: u32,
    attempts: u32,
    state: State<'a, S::Output>,
    permit: Option<Permit>,
    deadline: Option<Instant>,
    span: Span,
    /// Set when tracing or latency sampling needs the impl's duration.
    started: Option<std::time::Instant>,
    /// The weight of this run's latency sample in the statistics, 0 if it is not sampled.
    sample: u32,
    finished: bool,
    /// The timeout timer of a finished attempt, kept so the call loop can reuse it.
    spent_timer: Option<Pin<Box<Sleep>>>,
}

/// What starting an impl gave.
pub(crate) enum Start<'a, S: HookSpec> {
    Done(Entry<S::Output>),
    Pending(ImplRun<'a, S>),
}

/// The span of one impl in one call. Created once per impl; with no interested subscriber it
/// is `Span::none()` and costs a callsite check.
#[inline(always)]
pub(crate) fn impl_span(hook: &str, plugin: &str) -> Span {
    tracing::trace_span!(
        "hook_impl",
        hook,
        plugin,
        outcome = tracing::field::Empty,
        attempts = tracing::field::Empty,
        duration_us = tracing::field::Empty
    )
}

/// Polls a timer that is armed on first use.
fn poll_timer(timer: &mut Option<Pin<Box<Sleep>>>, limit: Duration, cx: &mut Context<'_>) -> bool {
    let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
    t.as_mut().poll(cx).is_ready()
}

/// Arms a timeout of `limit` from now, reusing a spent timer's allocation when there is one.
fn arm_timer(spare: &mut Option<Pin<Box<Sleep>>>, limit: Duration) -> Option<Pin<Box<Sleep>>> {
    let at = Instant::now().checked_add(limit)?;
    Some(match spare.take() {
        Some(mut t) => {
            t.as_mut().reset(at);
            t
        }
        None => Box::pin(tokio::time::sleep_until(at)),
    })
}

/// Writes the entry of an impl that returned `r` (or panicked) straight into `results` (each
/// outcome variant stored in place, no temporary copied through the stack) and returns whether
/// the call stops here. `other` is told of every outcome but an answer (its counter index and
/// the outcome just written), for the statistics; it must not panic.
#[inline(always)]
fn write_return<T>(
    results: &mut Vec<Entry<T>>,
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
    if results.len() == results.capacity() {
        results.reserve(1);
    }
    let len = results.len();
    // SAFETY: `len < capacity` (reserved just above), so slot `len` is allocated and
    // uninitialised; it is fully initialised by the write before the length covers it, and
    // read (by `other`, which does not panic) only after that.
    unsafe {
        let slot = results.as_mut_ptr().add(len);
        match r {
            Ok(Ok(Some(v))) => slot.write(Entry::new(index, 1, ImplOutcome::Value(v))),
            Ok(Ok(None)) => {
                slot.write(Entry::new(index, 1, ImplOutcome::NoAnswer));
                other(stats::NO_ANSWER, &(*slot).outcome);
            }
            Ok(Err(e)) => {
                slot.write(Entry::new(
                    index,
                    1,
                    ImplOutcome::Failed(HookFailure::Error(e)),
                ));
                other(stats::ERROR, &(*slot).outcome);
            }
            Err(payload) => {
                slot.write(Entry::new(index, 1, panic_outcome(payload)));
                other(stats::PANIC, &(*slot).outcome);
            }
        }
        results.set_len(len + 1);
    }
    stop
}

/// An impl's statistics and this thread's shard of them: counts a call that finishes on this
/// thread with a plain load and store (no locked instruction).
#[derive(Clone, Copy)]
pub(crate) struct Counter<'a> {
    stats: &'a ImplStats,
    shard: &'a Shard,
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
    fn write<T>(
        self,
        results: &mut Vec<Entry<T>>,
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
fn write_counted<T>(
    count: Option<Counter<'_>>,
    results: &mut Vec<Entry<T>>,
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
fn call_sync_timed<S: HookSpec>(
    h: &dyn crate::hookimpl::SyncHook<S>,
    args: &S::Args,
    count: Counter<'_>,
    weight: u32,
    index: u32,
    results: &mut Vec<Entry<S::Output>>,
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
    results: &mut Vec<Entry<S::Output>>,
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
    fut: BoxFuture<'a, HookReturn<T>>,
    /// Its timeout, armed.
    timer: Option<Pin<Box<Sleep>>>,
    /// When it started and the weight of its latency sample, if it is timed.
    timed: Option<(std::time::Instant, u32)>,
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
    results: &mut Vec<Entry<S::Output>>,
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
fn async_timed<'a, S: HookSpec>(
    entry: &'a ImplEntry<S>,
    h: &'a dyn crate::hookimpl::Hook<S>,
    args: &'a S::Args,
    count: Counter<'_>,
    sample: u32,
    index: u32,
    results: &mut Vec<Entry<S::Output>>,
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
fn async_in_place<'a, S: HookSpec>(
    entry: &'a ImplEntry<S>,
    h: &'a dyn crate::hookimpl::Hook<S>,
    args: &'a S::Args,
    count: Option<Counter<'_>>,
    timed: Option<(std::time::Instant, u32)>,
    index: u32,
    results: &mut Vec<Entry<S::Output>>,
    plan: &CallPlan<'_>,
    spare_timer: &mut Option<Pin<Box<Sleep>>>,
    cx: &mut Context<'_>,
) -> AsyncFast<'a, S::Output> {
    let r = match catch_unwind(AssertUnwindSafe(|| h.call(args))) {
        Err(payload) => Err(payload),
        Ok(mut fut) => match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(r)) => Ok(r),
            Err(payload) => Err(payload),
            Ok(Poll::Pending) => {
                // Arm the timeout now: nothing else polls this impl before it wakes the task.
                let mut timer = None;
                if let Some(limit) = entry.policy.as_ref().and_then(|p| p.timeout) {
                    timer = arm_timer(spare_timer, limit);
                    if let Some(t) = timer.as_mut() {
                        if t.as_mut().poll(cx).is_ready() {
                            *spare_timer = timer;
                            let outcome = ImplOutcome::Failed(HookFailure::TimedOut { limit });
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

/// Calls every sync impl of `entries` (all sync, no policy beyond a timeout, no statistics, no
/// span wanted) and writes each entry in place; stops early where `plan` says. The tight loop
/// of the most common call: no per-impl policy, span, exclusion or deadline checks. Not
/// inlined into the call loop, so that its code does not change with the loop's.
#[inline(never)]
pub(crate) fn run_all_sync<S: HookSpec>(
    entries: &[ImplEntry<S>],
    first_index: usize,
    args: &S::Args,
    results: &mut Vec<Entry<S::Output>>,
    plan: &CallPlan<'_>,
) {
    if plan.firstresult || plan.fail_fast {
        for (i, entry) in entries.iter().enumerate() {
            if call_sync_into(entry, args, (first_index + i) as u32, results, plan) {
                return;
            }
        }
    } else {
        // A plain collect-all call never stops early: no per-impl check.
        for (i, entry) in entries.iter().enumerate() {
            call_sync_into(entry, args, (first_index + i) as u32, results, plan);
        }
    }
}

/// One impl of [`run_all_sync`]: returns whether the call stops here.
#[inline(always)]
fn call_sync_into<S: HookSpec>(
    entry: &ImplEntry<S>,
    args: &S::Args,
    index: u32,
    results: &mut Vec<Entry<S::Output>>,
    plan: &CallPlan<'_>,
) -> bool {
    let ImplFn::Sync(h) = &entry.func else {
        unreachable!("only sync impls take this loop")
    };
    let r = catch_unwind(AssertUnwindSafe(|| h.call(args)));
    write_return(results, index, r, plan, |_, _| {})
}

/// [`run_all_sync`] for impls that all keep statistics: each call is counted on this thread's
/// shard (`lane`) of the impl's statistics — a load and a store, no locked instruction — and
/// the calls whose latency sample is due are timed out of line.
#[inline(never)]
pub(crate) fn run_all_sync_counted<S: HookSpec>(
    entries: &[ImplEntry<S>],
    first_index: usize,
    args: &S::Args,
    results: &mut Vec<Entry<S::Output>>,
    plan: &CallPlan<'_>,
    lane: Lane,
) {
    // The common case, a lane whose shard is inline, gets its own loop: no bucket lookup.
    match lane.inline() {
        Some(inline) => counted_loop(entries, first_index, args, results, plan, |s| {
            s.inline_shard(inline)
        }),
        None => counted_loop(entries, first_index, args, results, plan, |s| s.shard(lane)),
    }
}

#[inline(always)]
fn counted_loop<S: HookSpec>(
    entries: &[ImplEntry<S>],
    first_index: usize,
    args: &S::Args,
    results: &mut Vec<Entry<S::Output>>,
    plan: &CallPlan<'_>,
    shard_of: impl Fn(&ImplStats) -> &Shard,
) {
    for (i, entry) in entries.iter().enumerate() {
        let (ImplFn::Sync(h), Some(stats)) = (&entry.func, &entry.stats) else {
            unreachable!("only sync impls with statistics take this loop")
        };
        let count = Counter {
            stats,
            shard: shard_of(stats),
        };
        let index = (first_index + i) as u32;
        let stop = if count.shard.is_due() {
            call_sync_timed(&**h, args, count, count.sample(), index, results, plan)
        } else {
            let r = catch_unwind(AssertUnwindSafe(|| h.call(args)));
            // Counted after the call: an impl that calls its own hook again counts its inner
            // calls first, and the load here sees them.
            count.write(results, index, r, plan)
        };
        if stop {
            return;
        }
    }
}

/// [`run_all_sync`] for a collect-all call (no early stop) over impls that all keep
/// statistics, on a list that keeps a [`ListTally`]: the call is counted once, on this
/// thread's lane of the tally, before any impl runs; per impl, only an outcome other than an
/// answer is counted (out of line, on the impl's shard). A call in which the lane's sampler has
/// an impl call due takes [`tallied_sampled`] instead.
#[inline(never)]
pub(crate) fn run_all_sync_tallied<S: HookSpec>(
    entries: &[ImplEntry<S>],
    first_index: usize,
    args: &S::Args,
    results: &mut Vec<Entry<S::Output>>,
    plan: &CallPlan<'_>,
    tally: &ListTally,
    lane: Lane,
) {
    let tl = tally.lane(lane);
    tl.count_call();
    if let Some(due) = tl.first_due(entries.len()) {
        return tallied_sampled(entries, first_index, args, results, plan, tally, lane, due);
    }
    for (i, entry) in entries.iter().enumerate() {
        let ImplFn::Sync(h) = &entry.func else {
            unreachable!("only sync impls take this loop")
        };
        let r = catch_unwind(AssertUnwindSafe(|| h.call(args)));
        write_return(results, (first_index + i) as u32, r, plan, |k, o| {
            count_other_of(entry, lane, k, o)
        });
    }
}

/// Counts an outcome other than an answer of `entry` on `lane` (the calling thread's).
#[inline(always)]
fn count_other_of<S: HookSpec>(
    entry: &ImplEntry<S>,
    lane: Lane,
    k: usize,
    outcome: &ImplOutcome<S::Output>,
) {
    if let Some(stats) = &entry.stats {
        stats.count_other(lane, k);
        if let Some(f) = outcome.failure() {
            stats.note_error(f);
        }
    }
}

/// [`run_all_sync_tallied`] for a call in which impl call `due` (and maybe later ones) is to be
/// timed: kept out of line.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn tallied_sampled<S: HookSpec>(
    entries: &[ImplEntry<S>],
    first_index: usize,
    args: &S::Args,
    results: &mut Vec<Entry<S::Output>>,
    plan: &CallPlan<'_>,
    tally: &ListTally,
    lane: Lane,
    due: usize,
) {
    let tl = tally.lane(lane);
    let mut next = due;
    for (i, entry) in entries.iter().enumerate() {
        let ImplFn::Sync(h) = &entry.func else {
            unreachable!("only sync impls take this loop")
        };
        let index = (first_index + i) as u32;
        let other = |k, o: &ImplOutcome<S::Output>| count_other_of(entry, lane, k, o);
        if i != next {
            let r = catch_unwind(AssertUnwindSafe(|| h.call(args)));
            write_return(results, index, r, plan, other);
            continue;
        }
        let weight = tl.weight();
        let t = std::time::Instant::now();
        let r = catch_unwind(AssertUnwindSafe(|| h.call(args)));
        let d = t.elapsed();
        write_return(results, index, r, plan, other);
        if let Some(stats) = &entry.stats {
            stats.record_sample(d, weight);
        }
        next = i + tl.observed(d);
    }
    tl.resume(next.max(entries.len()), entries.len());
}

impl<'a, S: HookSpec> ImplRun<'a, S> {
    /// The run of an impl the async fast path started and that went pending.
    pub(crate) fn resume(
        entry: &'a ImplEntry<S>,
        args: &'a S::Args,
        index: u32,
        waiting: Waiting<'a, S::Output>,
        span: Span,
        deadline: Option<Instant>,
    ) -> Self {
        let Waiting { fut, timer, timed } = waiting;
        ImplRun {
            entry,
            args,
            index,
            attempts: 1,
            state: State::Async { fut, timer },
            permit: None,
            deadline,
            span,
            started: timed.map(|(t, _)| t),
            sample: timed.map_or(0, |(_, w)| w),
            finished: false,
            spent_timer: None,
        }
    }

    /// Starts the impl at `index` and polls it once in place: the general path, for impls the
    /// fast paths (`sync_fast_into`, `async_fast_into`) do not take — policies beyond a
    /// timeout, sampled statistics, an interested span subscriber, blocking impls. Applies the
    /// breaker and the retry budget, and times the impl for statistics and tracing.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        entry: &'a ImplEntry<S>,
        args: &'a S::Args,
        index: u32,
        span: Span,
        sample: u32,
        deadline: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Start<'a, S> {
        // Impls with a retry policy or a breaker are timed on every call.
        let always = entry.policy.as_ref().is_some_and(|p| !p.timeout_only());
        let sample = match &entry.stats {
            Some(_) if always => 1,
            Some(_) => sample,
            None => 0,
        };
        let started = (sample > 0 || !span.is_disabled()).then(std::time::Instant::now);
        let mut run = ImplRun {
            entry,
            args,
            index,
            attempts: 0,
            state: State::Idle,
            permit: None,
            deadline,
            span,
            started,
            sample,
            finished: false,
            spent_timer: None,
        };
        if let Some(policy) = &entry.policy {
            if let Some(breaker) = &policy.breaker {
                match breaker.acquire() {
                    Some(p) => run.permit = Some(p),
                    None => {
                        let outcome = ImplOutcome::Skipped(SkipReason::CircuitOpen);
                        return Start::Done(run.finish(outcome));
                    }
                }
            }
            if let Some(budget) = &policy.budget {
                budget.deposit();
            }
        }
        if let Some(r) = run.begin_attempt() {
            if let Some(done) = run.settle(r) {
                return Start::Done(done);
            }
        }
        match run.poll_run(cx) {
            Poll::Ready(done) => Start::Done(done),
            Poll::Pending => Start::Pending(run),
        }
    }

    /// The spent timeout timer of this run, if it had one, for reuse by the next impl.
    pub(crate) fn take_spent_timer(&mut self) -> Option<Pin<Box<Sleep>>> {
        self.spent_timer.take()
    }

    /// How many attempts this impl has made so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Calls the impl once more. A sync impl's result comes back at once.
    fn begin_attempt(&mut self) -> Option<ImplOutcome<S::Output>> {
        self.attempts += 1;
        let args = self.args;
        let _enter = self.span.enter();
        match &self.entry.func {
            ImplFn::Sync(h) => Some(match catch_unwind(AssertUnwindSafe(|| h.call(args))) {
                Ok(r) => return_outcome(r),
                Err(payload) => panic_outcome(payload),
            }),
            ImplFn::Async(h) => match catch_unwind(AssertUnwindSafe(|| h.call(args))) {
                Ok(fut) => {
                    self.state = State::Async { fut, timer: None };
                    None
                }
                Err(payload) => Some(panic_outcome(payload)),
            },
            // Spawning runs the user's `Clone` and needs a runtime: either may panic.
            ImplFn::Blocking(h) => match catch_unwind(AssertUnwindSafe(|| h.spawn(args))) {
                Ok(handle) => {
                    self.state = State::Blocking {
                        handle,
                        timer: None,
                    };
                    None
                }
                Err(payload) => Some(panic_outcome(payload)),
            },
            ImplFn::Wrapper(_) => unreachable!("wrappers are run by exec::wrapper"),
        }
    }

    /// An attempt ended: retry it, or finish. Returns the entry when finished.
    fn settle(&mut self, outcome: ImplOutcome<S::Output>) -> Option<Entry<S::Output>> {
        if let ImplOutcome::Failed(failure) = &outcome {
            if let Some(delay) = self.retry_delay(failure) {
                tracing::debug!(
                    parent: &self.span,
                    plugin = %self.entry.plugin,
                    attempt = self.attempts,
                    delay_ms = delay.as_millis() as u64,
                    error = %failure,
                    "retrying impl"
                );
                self.state = State::Backoff {
                    sleep: Box::pin(tokio::time::sleep(delay)),
                };
                return None;
            }
        }
        Some(self.finish(outcome))
    }

    /// The backoff before the next attempt, if `failure` is to be retried.
    fn retry_delay(&self, failure: &HookFailure) -> Option<Duration> {
        let policy = self.entry.policy.as_ref()?;
        let retry = policy.retry.as_ref()?;
        if self.attempts >= retry.max_attempts || !retry.is_retryable(failure) {
            return None;
        }
        let delay = retry.jittered_delay(self.attempts);
        if let Some(deadline) = self.deadline {
            // No retry that cannot finish in time.
            match Instant::now().checked_add(delay) {
                Some(at) if at < deadline => {}
                _ => return None,
            }
        }
        if let Some(budget) = &policy.budget {
            if !budget.withdraw() {
                tracing::debug!(plugin = %self.entry.plugin, "retry budget exhausted");
                return None;
            }
        }
        Some(delay)
    }

    /// Ends the run with `outcome` (its own, or one the call loop imposes: cancelled, cut off
    /// by the deadline) and records it in the breaker, the statistics and the span.
    pub(crate) fn finish(&mut self, outcome: ImplOutcome<S::Output>) -> Entry<S::Output> {
        self.finished = true;
        if let (Some(permit), Some(policy)) = (self.permit.take(), &self.entry.policy) {
            if let Some(b) = &policy.breaker {
                match outcome {
                    ImplOutcome::Value(_) | ImplOutcome::NoAnswer => b.record(permit, true),
                    ImplOutcome::Cancelled => b.release(permit),
                    _ => b.record(permit, false),
                }
            }
        }
        let kind = outcome.kind();
        let elapsed = self.started.map(|s| s.elapsed());
        if let Some(stats) = &self.entry.stats {
            stats.record(
                kind,
                self.attempts,
                outcome.failure().map(|f| f as &dyn std::fmt::Display),
            );
            if let (Some(d), true) = (elapsed, self.sample > 0) {
                stats.record_sample(d, self.sample);
            }
        }
        if let (Some(d), false) = (elapsed, self.span.is_disabled()) {
            self.span.record("outcome", tracing::field::display(kind));
            self.span.record("attempts", self.attempts);
            self.span.record("duration_us", d.as_micros() as u64);
        }
        Entry::new(self.index, self.attempts, outcome)
    }

    /// Drives the impl; `Ready` once it has a final outcome.
    pub(crate) fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Entry<S::Output>> {
        loop {
            let timeout = self.entry.policy.as_ref().and_then(|p| p.timeout);
            let outcome = match &mut self.state {
                State::Async { fut, timer } => {
                    let polled = {
                        let _enter = self.span.enter();
                        catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx)))
                    };
                    match polled {
                        Ok(Poll::Ready(r)) => return_outcome(r),
                        Err(payload) => panic_outcome(payload),
                        Ok(Poll::Pending) => match timeout {
                            Some(limit) if poll_timer(timer, limit, cx) => {
                                ImplOutcome::Failed(HookFailure::TimedOut { limit })
                            }
                            _ => return Poll::Pending,
                        },
                    }
                }
                State::Blocking { handle, timer } => match Pin::new(handle).poll(cx) {
                    Poll::Ready(Ok(r)) => return_outcome(r),
                    Poll::Ready(Err(e)) if e.is_panic() => {
                        ImplOutcome::Failed(HookFailure::Panic(panic_message(e.into_panic())))
                    }
                    Poll::Ready(Err(_)) => ImplOutcome::Cancelled,
                    Poll::Pending => match timeout {
                        // The pool thread cannot be stopped; it finishes on its own.
                        Some(limit) if poll_timer(timer, limit, cx) => {
                            ImplOutcome::Failed(HookFailure::TimedOut { limit })
                        }
                        _ => return Poll::Pending,
                    },
                },
                State::Backoff { sleep } => {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.state = State::Idle;
                    match self.begin_attempt() {
                        Some(outcome) => outcome,
                        None => continue,
                    }
                }
                State::Idle => unreachable!("an idle run is never polled"),
            };
            if let State::Async { timer, .. } = std::mem::replace(&mut self.state, State::Idle) {
                if timer.is_some() {
                    self.spent_timer = timer;
                }
            }
            if let Some(done) = self.settle(outcome) {
                return Poll::Ready(done);
            }
        }
    }
}

impl<S: HookSpec> Drop for ImplRun<'_, S> {
    fn drop(&mut self) {
        // Dropped before it finished (the call was dropped): counts as cancelled, and a
        // circuit-breaker probe gives its turn back.
        if !self.finished {
            let _ = self.finish(ImplOutcome::Cancelled);
        }
    }
}
