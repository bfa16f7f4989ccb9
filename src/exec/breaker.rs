//! Per-impl circuit breaker: after `failure_threshold` consecutive failures (errors, timeouts,
//! panics) the impl is skipped for `cool_down`; then one half-open probe call decides: success
//! closes the breaker, failure opens it again. Only one probe runs at a time.
//!
//! State lives in atomics, shared by every call of the impl; it survives re-registrations of
//! other plugins (snapshots share it).
//!
//! The probe holds its turn until it finishes or its call is dropped: give an impl with a
//! breaker a `timeout`, or a probe that hangs keeps the breaker half-open (every other call
//! skips the impl meanwhile).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// When a breaker opens and for how long: after `failure_threshold` consecutive failures the
/// impl is skipped ([`ImplOutcome::CircuitOpen`](crate::ImplOutcome::CircuitOpen)) until
/// `cool_down` has passed; then one probe call decides whether it closes again.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// use std::time::Duration;
/// use hookwire::policy::BreakerConfig;
/// use hookwire::{HookManager, ImplOutcome};
/// hookwire::hookspec! { pub struct Lookup(u32) -> String; }
///
/// let pm = HookManager::new();
/// pm.register("db", |r| {
///     r.sync_fn::<Lookup>(|_| Err("connection refused".into()))
///         .circuit_breaker(BreakerConfig::new(2, Duration::from_secs(30)))
///         .add()
/// })
/// .unwrap();
/// let lookup = pm.hook::<Lookup>();
/// for _ in 0..2 {
///     assert!(lookup.call(&7).await.unwrap().get("db").unwrap().is_failed());
/// }
/// // Two failures in a row: the breaker is open, the impl is not called.
/// let out = lookup.call(&7).await.unwrap();
/// assert!(matches!(out.get("db"), Some(ImplOutcome::CircuitOpen)));
/// // After the cool-down one probe is let through (it fails again here: open again).
/// tokio::time::advance(Duration::from_secs(30)).await;
/// assert!(lookup.call(&7).await.unwrap().get("db").unwrap().is_failed());
/// assert!(matches!(lookup.call(&7).await.unwrap().get("db"), Some(ImplOutcome::CircuitOpen)));
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before a probe is allowed.
    pub cool_down: Duration,
}

impl BreakerConfig {
    /// Opens after `failure_threshold` consecutive failures, probes again after `cool_down`.
    pub fn new(failure_threshold: u32, cool_down: Duration) -> Self {
        BreakerConfig {
            failure_threshold: failure_threshold.max(1),
            cool_down,
        }
    }
}

/// A breaker's state, as reported by statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped.
    Open,
    /// One probe call is deciding.
    HalfOpen,
}

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// The live breaker of one impl.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    config: BreakerConfig,
    state: AtomicU8,
    failures: AtomicU32,
    /// When it last opened, as nanoseconds since `epoch`.
    opened_at: AtomicU64,
    epoch: Instant,
}

/// Permission to call the impl; report how the call went with [`CircuitBreaker::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permit {
    Normal,
    Probe,
}

impl CircuitBreaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        CircuitBreaker {
            config,
            state: AtomicU8::new(CLOSED),
            failures: AtomicU32::new(0),
            opened_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(Instant::now().duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// May the impl be called now? `None`: skip it, the breaker is open.
    pub(crate) fn acquire(&self) -> Option<Permit> {
        match self.state.load(Ordering::Acquire) {
            CLOSED => Some(Permit::Normal),
            OPEN => {
                let opened = self.opened_at.load(Ordering::Acquire);
                let cool = u64::try_from(self.config.cool_down.as_nanos()).unwrap_or(u64::MAX);
                if self.now_nanos().saturating_sub(opened) < cool {
                    return None;
                }
                // Exactly one caller wins the probe.
                self.state
                    .compare_exchange(OPEN, HALF_OPEN, Ordering::AcqRel, Ordering::Acquire)
                    .ok()
                    .map(|_| Permit::Probe)
            }
            _ => None,
        }
    }

    fn open(&self) {
        self.opened_at.store(self.now_nanos(), Ordering::Release);
        self.state.store(OPEN, Ordering::Release);
    }

    /// Records the result of a permitted call.
    pub(crate) fn record(&self, permit: Permit, success: bool) {
        match (permit, success) {
            (Permit::Normal, true) => self.failures.store(0, Ordering::Relaxed),
            (Permit::Normal, false) => {
                let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
                if n >= self.config.failure_threshold
                    && self.state.load(Ordering::Acquire) == CLOSED
                {
                    tracing::warn!(failures = n, "circuit breaker opened");
                    self.open();
                }
            }
            (Permit::Probe, true) => {
                self.failures.store(0, Ordering::Relaxed);
                self.state.store(CLOSED, Ordering::Release);
                tracing::info!("circuit breaker closed after a successful probe");
            }
            (Permit::Probe, false) => {
                tracing::warn!("circuit breaker probe failed; open again");
                self.open();
            }
        }
    }

    /// A permitted call ended without a result (cancelled): a probe gives its turn back.
    pub(crate) fn release(&self, permit: Permit) {
        if permit == Permit::Probe {
            let _ =
                self.state
                    .compare_exchange(HALF_OPEN, OPEN, Ordering::AcqRel, Ordering::Acquire);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_probes_once_and_closes_or_reopens() {
        let b = CircuitBreaker::new(BreakerConfig::new(2, Duration::from_secs(5)));
        let p = b.acquire().unwrap();
        b.record(p, false);
        assert_eq!(b.state(), BreakerState::Closed);
        let p = b.acquire().unwrap();
        b.record(p, false);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.acquire(), None);
        tokio::time::advance(Duration::from_secs(5)).await;
        let probe = b.acquire().unwrap();
        assert_eq!(probe, Permit::Probe);
        assert_eq!(b.acquire(), None, "only one probe at a time");
        b.record(probe, false);
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(5)).await;
        let probe = b.acquire().unwrap();
        b.release(probe);
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a cancelled probe gives its turn back"
        );
        let probe = b.acquire().unwrap();
        b.record(probe, true);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.acquire(), Some(Permit::Normal));
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_failure_count() {
        let b = CircuitBreaker::new(BreakerConfig::new(2, Duration::from_secs(1)));
        b.record(Permit::Normal, false);
        b.record(Permit::Normal, true);
        b.record(Permit::Normal, false);
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
