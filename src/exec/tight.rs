//! The tight loop of the most common call: every impl of a list is a plain sync impl, so one
//! loop calls them all and writes each entry in place — plain, counting the call once per
//! list (a tally), or counting per impl — with no per-impl policy, span, exclusion or
//! deadline checks.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::fast::{call_sync_timed, write_return, Counter};
use super::snapshot::ImplEntry;
use super::stats::{ImplStats, Lane, ListTally, Shard};
use super::CallPlan;
use crate::hookimpl::ImplFn;
use crate::outcome::{Entry, ImplOutcome};
use crate::spec::HookSpec;

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
pub(super) fn call_sync_into<S: HookSpec>(
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
pub(super) fn counted_loop<S: HookSpec>(
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
pub(super) fn count_other_of<S: HookSpec>(
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
pub(super) fn tallied_sampled<S: HookSpec>(
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
