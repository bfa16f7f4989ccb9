//! Per-impl statistics: counters and a latency histogram in atomics, no lock on the call path.
//!
//! **Lanes.** Every thread that records gets a *lane*: a small number taken from a pool the
//! first time it records and given back when it exits, so lanes stay few and are reused. A
//! per-lane value ([`Lanes`]) keeps one cache line per lane — the first [`FIRST_BUCKET`] lanes
//! inline, later ones in buckets allocated on first use. Only the thread that owns a lane
//! writes its line, so counting is a relaxed load and store into a line no other thread
//! writes: no locked read-modify-write, no cache line bouncing between cores. Readers sum the
//! lanes. (A thread whose lane is gone, while its thread-locals are torn down, counts with
//! `fetch_add` into a shared shard instead.)
//!
//! **Counts.** Each impl's [`ImplStats`] keeps a [`Shard`] per lane: its finished calls and one
//! counter per outcome other than an answer; answers are the calls no other counter claims, so
//! the common outcome costs nothing beyond the call count. The tight loop of a collect-all call
//! over sync impls does not even count per impl: a list reached again keeps a [`ListTally`]
//! whose lanes count the calls that ran every impl of the list — one count per call, not per
//! impl — and only outcomes other than an answer go to the impls' shards. Every impl knows the
//! tallies of the lists it is in ([`TallySet`], swapped whole, no lock), and when a list is
//! dropped (no call can run on it any more) its tally is folded into the impl's set. So a
//! [`snapshot`](ImplStats::snapshot) is exact for every call that finished before it.
//!
//! **Latency** is sampled. Per impl and lane, the shard keeps the call count at which the next
//! call is timed, with a period adapted to the impl's last sample; in the tight loop, each
//! tally lane draws random gaps (so no impl is sampled more than another) with a mean adapted
//! to the average sampled impl call. Either way the two clock reads (~25 ns each on a VM,
//! measured once per process) cost about 1/1000 of the time between samples, and at most
//! every [`MAX_PERIOD`]th call of a trivial impl is timed. A sample lands in a log-linear
//! histogram of microseconds (8 buckets per power of two, so percentiles are within ~9%)
//! *weighted by its period* (the calls it stands for), so fast and slow phases are represented
//! by how often they happen, not by how often they were sampled. Impls with a retry policy or
//! a breaker (on the slow path anyway) time every call, with weight 1.

use std::fmt::Display;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};

mod lanes;
mod snapshot;
mod tally;

pub(crate) use lanes::*;
pub use snapshot::{HookStats, ImplStatsSnapshot, StatsSnapshot};
pub(crate) use tally::*;

use crate::exec::breaker::BreakerState;
use crate::outcome::{ImplOutcome, OutcomeKind};

const SUB: usize = 8;
const OCTAVES: usize = 40;
const HIST_BUCKETS: usize = OCTAVES * SUB;

/// A sampled impl is timed about once per this many clock reads' worth of its own run time:
/// the two reads of a sample cost about 1/1000 of the time between samples.
const BUDGET_READS: u64 = 2048;
/// The longest sampling period (for impls that take next to no time).
pub(crate) const MAX_PERIOD: u32 = 1024;

/// Outcomes other than an answer, as indexes into [`Shard::other`].
pub(crate) const NO_ANSWER: usize = 0;
pub(crate) const ERROR: usize = 1;
pub(crate) const PANIC: usize = 2;
const TIMED_OUT: usize = 3;
const CIRCUIT_OPEN: usize = 4;
const CANCELLED: usize = 5;
const OTHERS: usize = 6;

/// The counter of an outcome, `None` for an answer.
#[inline(always)]
fn other_index(kind: OutcomeKind) -> Option<usize> {
    match kind {
        OutcomeKind::Value => None,
        OutcomeKind::NoAnswer => Some(NO_ANSWER),
        OutcomeKind::Error => Some(ERROR),
        OutcomeKind::Panic => Some(PANIC),
        OutcomeKind::TimedOut => Some(TIMED_OUT),
        OutcomeKind::CircuitOpen => Some(CIRCUIT_OPEN),
        OutcomeKind::Cancelled => Some(CANCELLED),
    }
}

/// `c += 1` by the only thread that writes `c`: a plain load and store, no locked instruction.
#[inline(always)]
fn bump(c: &AtomicU64, order: Ordering) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), order);
}

// ---------------------------------------------------------------------------------------------
// The clock and the sampling rate.

/// What one `Instant::now()` costs on this machine, in ns, measured once: the least mean of a
/// few runs of back-to-back reads (a run that was preempted only counts if all were).
fn clock_read_ns() -> u64 {
    static COST: OnceLock<u64> = OnceLock::new();
    *COST.get_or_init(|| {
        (0..8)
            .map(|_| {
                let t = Instant::now();
                for _ in 0..8 {
                    std::hint::black_box(Instant::now());
                }
                t.elapsed().as_nanos() as u64 / 9
            })
            .min()
            .unwrap_or(0)
            .max(1)
    })
}

/// How many calls apart to time an impl whose calls take `ns` on average: so that the time
/// between samples is about [`BUDGET_READS`] clock reads, between 1 and [`MAX_PERIOD`].
/// Relative to the clock's own cost, so the rate is the same where everything runs slower (a
/// profiler) and lower where reading the clock is dear.
fn period_for(ns: u64) -> u32 {
    let q = (clock_read_ns() * BUDGET_READS) / ns.max(1);
    q.clamp(1, u64::from(MAX_PERIOD)) as u32
}

/// [`period_for`], rounded down to a power of two.
fn period_after(d: Duration) -> u32 {
    let p = period_for(d.as_nanos().min(u128::from(u64::MAX)) as u64);
    1 << (31 - p.leading_zeros())
}

// ---------------------------------------------------------------------------------------------
// Per impl.

/// Live statistics of one impl (one plugin's impl of one hook).
pub(crate) struct ImplStats {
    shards: Lanes<Shard>,
    /// Counts of threads without a lane, by `fetch_add`.
    shared: Shard,
    tallies: ArcSwap<TallySet>,
    retries: AtomicU64,
    /// The sampling period of the per-impl sampler, set from the latest sample.
    period: AtomicU32,
    /// How many calls were timed.
    samples: AtomicU64,
    last_error: ArcSwapOption<String>,
    /// Sampled latencies, each weighted by the calls it stands for.
    latency: Box<[AtomicU64]>,
}

impl std::fmt::Debug for ImplStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImplStats")
            .field("calls", &self.totals().0)
            .finish()
    }
}

impl Default for ImplStats {
    fn default() -> Self {
        ImplStats {
            shards: Lanes::default(),
            shared: Shard::default(),
            tallies: ArcSwap::from_pointee(TallySet::default()),
            retries: AtomicU64::new(0),
            period: AtomicU32::new(1),
            samples: AtomicU64::new(0),
            last_error: ArcSwapOption::empty(),
            latency: (0..HIST_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros() as usize; // >= 3
    let sub = ((us >> (octave - 3)) & (SUB as u64 - 1)) as usize;
    ((octave - 2) * SUB + sub).min(HIST_BUCKETS - 1)
}

/// The upper bound, in microseconds, of a bucket.
fn bucket_upper(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let octave = b / SUB + 2;
    let sub = (b % SUB) as u64;
    ((SUB as u64 + sub + 1) << (octave - 3)) - 1
}

impl ImplStats {
    /// This impl's shard of an inline lane.
    #[inline(always)]
    pub(crate) fn inline_shard(&self, lane: InlineLane) -> &Shard {
        self.shards.inline(lane)
    }

    /// This impl's shard of `lane`.
    #[inline(always)]
    pub(crate) fn shard(&self, lane: Lane) -> &Shard {
        self.shards.get(lane)
    }

    /// Counts an outcome other than an answer on this thread's lane.
    #[cold]
    pub(crate) fn count_other(&self, lane: Lane, i: usize) {
        self.shard(lane).count_other(i);
    }

    /// Counts an outcome other than an answer (`failure`, if it is a failure) on this
    /// thread's lane, looked up here.
    #[cold]
    #[inline(never)]
    pub(crate) fn count_other_here(&self, i: usize, failure: Option<&crate::error::HookFailure>) {
        match lane() {
            Some(lane) => self.count_other(lane, i),
            None => {
                self.shared.other[i].fetch_add(1, Ordering::Release);
            }
        }
        if let Some(f) = failure {
            self.note_error(f);
        }
    }

    /// From now on, `tally` counts calls of this impl too.
    pub(crate) fn add_tally(&self, tally: &Arc<ListTally>) {
        self.tallies.rcu(|set| TallySet {
            live: set.live.iter().chain([tally]).cloned().collect(),
            folded: set.folded,
        });
    }

    /// `tally` counts no more (its list is gone): keeps what it counted.
    pub(crate) fn fold_tally(&self, tally: &Arc<ListTally>) {
        let calls = tally.calls();
        self.tallies.rcu(|set| TallySet {
            live: set
                .live
                .iter()
                .filter(|t| !Arc::ptr_eq(t, tally))
                .cloned()
                .collect(),
            folded: set.folded.wrapping_add(calls),
        });
    }

    /// Records one finished call, on this thread's lane.
    pub(crate) fn record(&self, kind: OutcomeKind, attempts: u32, error: Option<&dyn Display>) {
        let other = other_index(kind);
        match lane() {
            Some(lane) => {
                let shard = self.shard(lane);
                shard.count_call();
                if let Some(i) = other {
                    shard.count_other(i);
                }
            }
            None => {
                self.shared.calls.fetch_add(1, Ordering::Relaxed);
                if let Some(i) = other {
                    self.shared.other[i].fetch_add(1, Ordering::Release);
                }
            }
        }
        if attempts > 1 {
            self.retries
                .fetch_add(u64::from(attempts - 1), Ordering::Relaxed);
        }
        if let Some(e) = error {
            self.note_error(e);
        }
    }

    /// Records one finished call from its outcome.
    #[inline]
    pub(crate) fn record_outcome<T>(&self, outcome: &ImplOutcome<T>, attempts: u32) {
        self.record(
            outcome.kind(),
            attempts,
            outcome.failure().map(|f| f as &dyn Display),
        );
    }

    /// Keeps the text of the latest failure. Never panics: an error's `Display` is plugin
    /// code, and the call loops count outcomes where a panic must not escape.
    #[cold]
    pub(crate) fn note_error(&self, e: &dyn Display) {
        let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.to_string()))
            .unwrap_or_else(|_| "<the error's Display panicked>".to_owned());
        self.last_error.store(Some(Arc::new(text)));
    }

    /// Records a timed call that stands for `weight` calls, and adapts the per-impl sampling
    /// period.
    #[cold]
    pub(crate) fn record_sample(&self, d: Duration, weight: u32) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.latency[bucket_of(us)].fetch_add(u64::from(weight), Ordering::Relaxed);
        self.samples.fetch_add(1, Ordering::Relaxed);
        let period = period_after(d);
        if self.period.load(Ordering::Relaxed) != period {
            self.period.store(period, Ordering::Relaxed);
        }
    }

    /// Calls and per-outcome counts summed over every lane and tally.
    fn totals(&self) -> (u64, [u64; OTHERS]) {
        let mut calls = 0u64;
        let mut other = [0u64; OTHERS];
        let mut add = |s: &Shard| {
            // Outcomes first (acquire), then calls: every outcome read has its call counted,
            // whether in a shard or (counted before the impl ran) in a tally.
            for (o, c) in other.iter_mut().zip(&s.other) {
                *o = o.wrapping_add(c.load(Ordering::Acquire));
            }
            calls = calls.wrapping_add(s.calls.load(Ordering::Relaxed));
        };
        add(&self.shared);
        self.shards.for_each(&mut add);
        let set = self.tallies.load();
        calls = set
            .live
            .iter()
            .fold(calls.wrapping_add(set.folded), |n, t| {
                n.wrapping_add(t.calls())
            });
        (calls, other)
    }

    fn percentile(counts: &[u64], total: u64, q: f64) -> Option<u64> {
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_upper(b));
            }
        }
        None
    }

    pub(crate) fn snapshot(
        &self,
        plugin: &str,
        breaker: Option<BreakerState>,
    ) -> ImplStatsSnapshot {
        let counts: Vec<u64> = self
            .latency
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let weight: u64 = counts.iter().sum();
        let (calls, other) = self.totals();
        let answers = calls.saturating_sub(other.iter().sum());
        ImplStatsSnapshot {
            plugin: plugin.to_owned(),
            calls,
            answers,
            no_answers: other[NO_ANSWER],
            errors: other[ERROR],
            timeouts: other[TIMED_OUT],
            panics: other[PANIC],
            circuit_open: other[CIRCUIT_OPEN],
            cancelled: other[CANCELLED],
            retries: self.retries.load(Ordering::Relaxed),
            breaker,
            last_error: self.last_error.load_full().map(|s| (*s).clone()),
            latency_samples: self.samples.load(Ordering::Relaxed),
            p50_us: Self::percentile(&counts, weight, 0.5),
            p99_us: Self::percentile(&counts, weight, 0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_keeps_its_lane_and_gives_it_back_before_its_teardown_ends() {
        use std::sync::mpsc;

        /// Reads the lane from a thread-local destructor, which may run after the lane's guard
        /// gave the lane back (while another thread may have taken it).
        struct Probe(mpsc::Sender<(Option<Lane>, Option<Lane>)>, Option<Lane>);
        impl Drop for Probe {
            fn drop(&mut self) {
                let _ = self.0.send((self.1, lane()));
            }
        }
        thread_local! {
            static PROBE: std::cell::RefCell<Option<Probe>> = const { std::cell::RefCell::new(None) };
        }

        let (tx, rx) = mpsc::channel();
        for _ in 0..8 {
            let tx = tx.clone();
            std::thread::spawn(move || {
                // Registered before the lane's guard: destroyed after it (thread-local
                // destructors run in the reverse order of registration).
                PROBE.with(|p| *p.borrow_mut() = Some(Probe(tx, None)));
                let mine = lane();
                assert!(mine.is_some());
                assert_eq!(lane(), mine, "the same lane on every read");
                PROBE.with(|p| p.borrow_mut().as_mut().map(|p| p.1 = mine));
            })
            .join()
            .unwrap();
        }
        drop(tx);
        let mut seen = 0;
        for (mine, in_teardown) in rx {
            assert!(mine.is_some());
            assert_eq!(
                in_teardown, None,
                "read after the thread gave its lane {mine:?} back (another thread may own it)"
            );
            seen += 1;
        }
        assert_eq!(seen, 8);
    }

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for us in [0u64, 1, 7, 8, 9, 15, 16, 100, 1_000, 12_345, 1 << 30] {
            let b = bucket_of(us);
            assert!(b >= last, "{us}");
            assert!(
                bucket_upper(b) >= us,
                "{us} -> bucket {b} up to {}",
                bucket_upper(b)
            );
            assert!(bucket_upper(b) <= us + us / 8 + 1, "{us} too coarse");
            last = b;
        }
    }

    #[test]
    fn lanes_map_to_distinct_slots_in_growing_buckets() {
        for id in 0..FIRST_BUCKET {
            assert!(Lane::of(id).unwrap().inline().is_some());
        }
        let mut seen = std::collections::HashSet::new();
        for id in FIRST_BUCKET..5_000 {
            let lane = Lane::of(id).unwrap();
            assert!(lane.inline().is_none());
            let (b, offset) = lane.bucket_offset();
            assert!(
                (1..LANE_BUCKETS).contains(&b) && offset < FIRST_BUCKET << b,
                "{id}"
            );
            assert!(seen.insert((b, offset)), "{id} shares a slot");
        }
        assert!(Lane::of(u32::MAX as usize).is_none());
        let (b, offset) = Lane::of(u32::MAX as usize - 1).unwrap().bucket_offset();
        assert!(b < LANE_BUCKETS && offset < FIRST_BUCKET << b);
    }

    #[test]
    fn every_lane_is_summed_and_a_folded_tally_is_kept() {
        let stats = ImplStats::default();
        let tally = Arc::new(ListTally::default());
        stats.add_tally(&tally);
        for id in [0, 7, 8, 30, 300] {
            let lane = Lane::of(id).unwrap();
            let shard = stats.shard(lane);
            shard.count_call();
            shard.count_call();
            shard.count_other(ERROR);
            tally.lane(lane).count_call();
        }
        let snap = stats.snapshot("p", None);
        assert_eq!((snap.calls, snap.answers, snap.errors), (15, 10, 5));
        stats.fold_tally(&tally);
        drop(tally);
        let snap = stats.snapshot("p", None);
        assert_eq!((snap.calls, snap.answers, snap.errors), (15, 10, 5));
        assert!(stats.tallies.load().live.is_empty());
    }

    #[test]
    fn a_tally_lane_times_one_impl_call_in_about_gap() {
        let tl = TallyLane::default();
        // A fresh lane times the first impl call.
        assert_eq!(tl.first_due(10), Some(0));
        assert_eq!(tl.first_due(10), None, "nothing timed while a call runs");
        let gap = tl.observed(Duration::from_nanos(1));
        assert_eq!(tl.weight(), MAX_PERIOD);
        assert!((1..2 * MAX_PERIOD as usize).contains(&gap));
        tl.resume(gap.max(10), 10);
        // Over many calls the timed share is 1 / weight.
        let (mut timed, calls) = (0usize, 20_000usize);
        for _ in 0..calls {
            if let Some(i) = tl.first_due(10) {
                timed += 1;
                let next = i + tl.observed(Duration::from_nanos(1));
                tl.resume(next.max(10), 10);
            }
        }
        let expected = calls * 10 / MAX_PERIOD as usize;
        assert!(
            timed.abs_diff(expected) <= expected / 4,
            "{timed} vs {expected}"
        );
    }

    #[test]
    fn the_period_shrinks_as_impls_get_slower() {
        let mut last = u32::MAX;
        for ns in [1u64, 100, 1_000, 10_000, 100_000, 10_000_000] {
            let p = period_for(ns);
            assert!((1..=MAX_PERIOD).contains(&p) && p <= last, "{ns} ns: {p}");
            last = p;
        }
        assert_eq!(period_for(1), MAX_PERIOD);
        assert_eq!(period_for(u64::MAX), 1);
        assert!(period_after(Duration::from_nanos(1)).is_power_of_two());
    }

    #[test]
    fn samples_are_weighted_by_the_calls_they_stand_for() {
        let s = ImplStats::default();
        s.record_sample(Duration::from_micros(10), 1);
        s.record_sample(Duration::from_millis(5), 99);
        let snap = s.snapshot("p", None);
        assert_eq!(snap.latency_samples, 2);
        assert!(snap.p50_us.unwrap() >= 5_000, "{snap:?}");
    }

    #[test]
    fn an_error_text_that_panics_is_contained() {
        struct Bad;
        impl Display for Bad {
            fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                panic!("no text")
            }
        }
        let s = ImplStats::default();
        s.note_error(&Bad);
        let snap = s.snapshot("p", None);
        assert_eq!(
            snap.last_error.as_deref(),
            Some("<the error's Display panicked>")
        );
    }

    #[test]
    fn percentiles_from_the_histogram() {
        let s = ImplStats::default();
        for _ in 0..99 {
            s.record_sample(Duration::from_micros(100), 1);
        }
        s.record_sample(Duration::from_millis(50), 1);
        let snap = s.snapshot("p", None);
        assert_eq!(snap.latency_samples, 100);
        let p50 = snap.p50_us.unwrap();
        assert!((100..=113).contains(&p50), "{p50}");
        let p99 = snap.p99_us.unwrap();
        assert!((100..=113).contains(&p99), "{p99}");
        s.record_sample(Duration::from_millis(50), 1);
        let p99 = s.snapshot("p", None).p99_us.unwrap();
        assert!((50_000..=56_250).contains(&p99), "{p99}");
    }
}
