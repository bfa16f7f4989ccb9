//! Per-impl statistics: counters and a latency histogram in atomics, no lock on the call path.
//!
//! Each finished impl costs one relaxed `fetch_add` (its outcome's counter; the call count is
//! their sum). Latency is sampled: every 32nd impl call on a thread (and every call of an impl with
//! policies, which is on the slow path anyway) reads the clock twice and lands in a log-linear
//! histogram of microseconds (8 buckets per power of two, so percentiles are within ~9%).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::exec::breaker::BreakerState;
use crate::outcome::OutcomeKind;

const SUB: usize = 8;
const OCTAVES: usize = 40;
const BUCKETS: usize = OCTAVES * SUB;

/// A call's latency is sampled when its impl's call number is a multiple of this.
pub(crate) const SAMPLE_EVERY: u64 = 32;

/// Live counters of one impl (one plugin's impl of one hook).
pub(crate) struct ImplStats {
    answers: AtomicU64,
    no_answers: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
    panics: AtomicU64,
    skipped: AtomicU64,
    cancelled: AtomicU64,
    retries: AtomicU64,
    last_error: Mutex<Option<String>>,
    latency: Box<[AtomicU64]>,
}

impl std::fmt::Debug for ImplStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImplStats")
            .field("calls", &self.calls())
            .finish()
    }
}

impl Default for ImplStats {
    fn default() -> Self {
        ImplStats {
            answers: AtomicU64::new(0),
            no_answers: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            last_error: Mutex::new(None),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros() as usize; // >= 3
    let sub = ((us >> (octave - 3)) & (SUB as u64 - 1)) as usize;
    ((octave - 2) * SUB + sub).min(BUCKETS - 1)
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
    fn calls(&self) -> u64 {
        [
            &self.answers,
            &self.no_answers,
            &self.errors,
            &self.timeouts,
            &self.panics,
            &self.skipped,
            &self.cancelled,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }

    /// Whether this call should measure its latency: every [`SAMPLE_EVERY`]th impl call on
    /// this thread (a thread-local tick, so sampling costs no shared write).
    #[inline]
    pub(crate) fn sample() -> bool {
        thread_local! {
            static TICK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
        }
        TICK.with(|t| {
            let n = t.get().wrapping_add(1);
            t.set(n);
            n % SAMPLE_EVERY == 0
        })
    }

    /// Records one finished call.
    #[inline]
    pub(crate) fn record(
        &self,
        kind: OutcomeKind,
        attempts: u32,
        error: Option<&dyn std::fmt::Display>,
    ) {
        let counter = match kind {
            OutcomeKind::Value => &self.answers,
            OutcomeKind::NoAnswer => &self.no_answers,
            OutcomeKind::Error => &self.errors,
            OutcomeKind::Panic => &self.panics,
            OutcomeKind::TimedOut => &self.timeouts,
            OutcomeKind::Skipped => &self.skipped,
            OutcomeKind::Cancelled => &self.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if attempts > 1 {
            self.retries
                .fetch_add(u64::from(attempts - 1), Ordering::Relaxed);
        }
        if let Some(e) = error {
            *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
    }

    /// Records one finished call from its outcome.
    #[inline]
    pub(crate) fn record_outcome<T>(
        &self,
        outcome: &crate::outcome::ImplOutcome<T>,
        attempts: u32,
    ) {
        self.record(
            outcome.kind(),
            attempts,
            outcome.failure().map(|f| f as &dyn std::fmt::Display),
        );
    }

    #[inline]
    pub(crate) fn record_latency(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        self.latency[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    fn percentile(&self, counts: &[u64], total: u64, q: f64) -> Option<u64> {
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
        let samples: u64 = counts.iter().sum();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ImplStatsSnapshot {
            plugin: plugin.to_owned(),
            calls: self.calls(),
            answers: load(&self.answers),
            no_answers: load(&self.no_answers),
            errors: load(&self.errors),
            timeouts: load(&self.timeouts),
            panics: load(&self.panics),
            skipped: load(&self.skipped),
            cancelled: load(&self.cancelled),
            retries: load(&self.retries),
            breaker,
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            latency_samples: samples,
            p50_us: self.percentile(&counts, samples, 0.5),
            p99_us: self.percentile(&counts, samples, 0.99),
        }
    }
}

/// Statistics of one impl at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImplStatsSnapshot {
    /// The plugin.
    pub plugin: String,
    /// Calls that reached the impl (the sum of the outcome counters below).
    pub calls: u64,
    /// Calls it answered.
    pub answers: u64,
    /// Calls it declined ("no answer").
    pub no_answers: u64,
    /// Calls that ended in its own error.
    pub errors: u64,
    /// Calls that overran its timeout or the call's deadline.
    pub timeouts: u64,
    /// Calls in which it panicked.
    pub panics: u64,
    /// Calls skipped by its circuit breaker.
    pub skipped: u64,
    /// Calls dropped before it finished.
    pub cancelled: u64,
    /// Retries (attempts beyond the first).
    pub retries: u64,
    /// Its circuit breaker's state, if it has one.
    pub breaker: Option<BreakerState>,
    /// The text of its last error, timeout or panic.
    pub last_error: Option<String>,
    /// How many calls' latency was measured (a sample; see the module docs).
    pub latency_samples: u64,
    /// Median latency in µs (upper bound of its histogram bucket).
    pub p50_us: Option<u64>,
    /// 99th-percentile latency in µs (upper bound of its histogram bucket).
    pub p99_us: Option<u64>,
}

/// Statistics of one hook's impls, in call order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HookStats {
    /// The hook.
    pub hook: String,
    /// Its impls.
    pub impls: Vec<ImplStatsSnapshot>,
}

/// Statistics of every hook, from [`HookManager::stats`](crate::HookManager::stats).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Per hook, sorted by name.
    pub hooks: Vec<HookStats>,
}

impl StatsSnapshot {
    /// The statistics of `plugin`'s impl of `hook`.
    pub fn get(&self, hook: &str, plugin: &str) -> Option<&ImplStatsSnapshot> {
        self.hooks
            .iter()
            .find(|h| h.hook == hook)?
            .impls
            .iter()
            .find(|i| i.plugin == plugin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn percentiles_from_the_histogram() {
        let s = ImplStats::default();
        for _ in 0..99 {
            s.record_latency(Duration::from_micros(100));
        }
        s.record_latency(Duration::from_millis(50));
        let snap = s.snapshot("p", None);
        assert_eq!(snap.latency_samples, 100);
        let p50 = snap.p50_us.unwrap();
        assert!((100..=113).contains(&p50), "{p50}");
        let p99 = snap.p99_us.unwrap();
        assert!((100..=113).contains(&p99), "{p99}");
        s.record_latency(Duration::from_millis(50));
        let p99 = s.snapshot("p", None).p99_us.unwrap();
        assert!((50_000..=56_250).contains(&p99), "{p99}");
    }
}
