//! Per impl and lane counters ([`Shard`]), and per-list call tallies ([`ListTally`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// The counters of one impl kept by one lane: one cache line, written only by the lane's owner
/// (the shared shard of a lane-less thread is written with `fetch_add`).
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct Shard {
    /// Calls counted here (not those counted by a [`ListTally`]), whatever their outcome.
    pub(super) calls: AtomicU64,
    /// Finished calls per outcome other than an answer.
    pub(super) other: [AtomicU64; OTHERS],
    /// The value of `calls` (low 32 bits) from which the next call is timed.
    pub(super) next_sample: AtomicU32,
}

impl Shard {
    /// Counts one call (its owner only). Before [`count_other`](Self::count_other): a reader
    /// that sees an outcome counted also sees its call.
    #[inline(always)]
    pub(crate) fn count_call(&self) {
        bump(&self.calls, Ordering::Relaxed);
    }

    /// Counts one finished call's outcome other than an answer (its owner only).
    #[inline(always)]
    pub(crate) fn count_other(&self, i: usize) {
        bump(&self.other[i], Ordering::Release);
    }

    /// Whether this lane's next call of the impl is to be timed.
    #[inline(always)]
    pub(crate) fn is_due(&self) -> bool {
        let calls = self.calls.load(Ordering::Relaxed) as u32;
        calls.wrapping_sub(self.next_sample.load(Ordering::Relaxed)) as i32 >= 0
    }

    /// Takes the sample that is due: schedules the next one and returns this one's weight (the
    /// calls it stands for). Its owner only.
    #[cold]
    pub(crate) fn take_sample(&self, stats: &ImplStats) -> u32 {
        let period = stats.period.load(Ordering::Relaxed).clamp(1, MAX_PERIOD);
        let calls = self.calls.load(Ordering::Relaxed) as u32;
        self.next_sample
            .store(calls.wrapping_add(period), Ordering::Relaxed);
        period
    }
}

// ---------------------------------------------------------------------------------------------
// Per list and lane.

/// The calls of one impl list that ran every impl (collect-all over sync impls), counted once
/// per call per lane, and the lane's latency sampler for those calls.
#[derive(Default)]
pub(crate) struct ListTally {
    pub(super) lanes: Lanes<TallyLane>,
}

/// One lane of a [`ListTally`]; written only by the lane's owner.
#[repr(C, align(64))]
#[derive(Default)]
pub(crate) struct TallyLane {
    pub(super) calls: AtomicU64,
    /// Impl calls until the next timed one, that one included (1: the next impl call is timed;
    /// 0, a fresh lane, times its first impl call too).
    pub(super) left: AtomicU64,
    /// The mean gap between timed impl calls (0 until the first sample).
    pub(super) gap: AtomicU32,
    /// Xorshift state for the gaps.
    pub(super) rng: AtomicU32,
    /// A moving average of the sampled impl calls' durations, in ns.
    pub(super) mean_ns: AtomicU64,
}

impl ListTally {
    #[inline(always)]
    pub(crate) fn lane(&self, lane: Lane) -> &TallyLane {
        self.lanes.get(lane)
    }

    /// The calls counted so far, over every lane.
    pub(super) fn calls(&self) -> u64 {
        let mut n = 0u64;
        self.lanes
            .for_each(|l| n = n.wrapping_add(l.calls.load(Ordering::Relaxed)));
        n
    }
}

impl TallyLane {
    /// Counts one call of every impl of the list (its owner only).
    #[inline(always)]
    pub(crate) fn count_call(&self) {
        bump(&self.calls, Ordering::Relaxed);
    }

    /// Takes back one call counted by [`count_call`](Self::count_call) (its owner only): the
    /// call was handed over to a loop that counts its impls one by one.
    #[cold]
    pub(crate) fn uncount_call(&self) {
        self.calls.store(
            self.calls.load(Ordering::Relaxed).wrapping_sub(1),
            Ordering::Relaxed,
        );
    }

    /// Accounts for a call of `n` impls if none of them is to be timed (`true`); else changes
    /// nothing ([`first_due`](Self::first_due) then finds the first that is).
    #[inline(always)]
    pub(crate) fn none_due(&self, n: usize) -> bool {
        let left = self.left.load(Ordering::Relaxed);
        if left > n as u64 {
            self.left.store(left - n as u64, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Accounts for a call of `n` impls: `None` if none of them is to be timed, else the index
    /// of the first that is. Then, until [`resume`](Self::resume), this lane times nothing (so
    /// an impl that calls its own hook again does not disturb the schedule).
    #[inline(always)]
    pub(crate) fn first_due(&self, n: usize) -> Option<usize> {
        let left = self.left.load(Ordering::Relaxed);
        if left > n as u64 {
            self.left.store(left - n as u64, Ordering::Relaxed);
            return None;
        }
        self.left.store(u64::MAX / 2, Ordering::Relaxed);
        Some(left.saturating_sub(1) as usize)
    }

    /// The weight of a sample (the mean gap: each impl call is timed with probability
    /// 1 / weight).
    #[inline]
    pub(crate) fn weight(&self) -> u32 {
        self.gap.load(Ordering::Relaxed).max(1)
    }

    /// Learns from a timed impl call and draws the gap to the next one.
    pub(crate) fn observed(&self, d: Duration) -> usize {
        let ns = d.as_nanos().min(u128::from(u64::MAX / 16)) as u64;
        let mean = match self.mean_ns.load(Ordering::Relaxed) {
            0 => ns.max(1),
            m => (m - m / 8 + ns / 8).max(1),
        };
        self.mean_ns.store(mean, Ordering::Relaxed);
        let gap = period_for(mean);
        self.gap.store(gap, Ordering::Relaxed);
        // Uniform in [1, 2 * gap - 1]: mean `gap`, and no impl favoured by the call's shape.
        let mut x = self.rng.load(Ordering::Relaxed);
        if x == 0 {
            x = 0x9E37_79B9 ^ (self as *const Self as usize as u32);
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.store(x, Ordering::Relaxed);
        1 + (x % (2 * gap - 1)) as usize
    }

    /// Ends a call of `n` impls whose next timed impl call is at index `next` (`>= n`).
    #[inline]
    pub(crate) fn resume(&self, next: usize, n: usize) {
        self.left.store((next + 1 - n) as u64, Ordering::Relaxed);
    }
}

/// The tallies of the lists an impl is in, and what the dropped ones counted.
#[derive(Default)]
pub(super) struct TallySet {
    pub(super) live: Vec<Arc<ListTally>>,
    pub(super) folded: u64,
}
