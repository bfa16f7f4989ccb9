//! Per-impl retries: exponential backoff with a cap and optional jitter, a predicate for what is
//! retryable, and a retry budget so that a failing plugin under load cannot multiply the
//! traffic it receives (as tower's `TpsBudget`).
//!
//! By default an impl's failure is retried when it timed out, or when the impl marked its error
//! [`Retryable`]. Panics are never retried; neither is a call whose deadline leaves no room for
//! the backoff and another attempt.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::HookFailure;

/// Marks an impl's error as worth retrying: `Err(Retryable::new(e).into())`.
#[derive(Debug)]
pub struct Retryable(pub crate::error::BoxError);

impl Retryable {
    /// Wraps an error of any type.
    pub fn new(e: impl Into<crate::error::BoxError>) -> Self {
        Retryable(e.into())
    }
}

impl fmt::Display for Retryable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Retryable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

/// Decides whether a failure is retried.
pub type RetryPredicate = Arc<dyn Fn(&HookFailure) -> bool + Send + Sync>;

/// How an impl is retried. Build with [`RetryPolicy::new`] and the builder methods.
///
/// ```
/// use std::time::Duration;
/// use hookwire::policy::RetryPolicy;
/// let p = RetryPolicy::new(3)
///     .backoff(Duration::from_millis(10), Duration::from_millis(200))
///     .no_jitter();
/// assert_eq!(p.delay(1), Duration::from_millis(10));
/// assert_eq!(p.delay(2), Duration::from_millis(20));
///
/// // A gentler growth: each wait 1.5 times the previous one.
/// let p = p.factor(1.5)?;
/// assert_eq!(p.delay(3), Duration::from_micros(22_500));
/// # Ok::<(), hookwire::error::RetryPolicyError>(())
/// ```
///
/// # When the retries run out
/// An impl that failed after more than one attempt — its attempts ran out, or its last
/// failure was not retryable, or the retry budget or the call's deadline left no room for
/// another — reports [`HookFailure::RetriesExhausted`] with the attempt count and the last
/// attempt's failure (`gave up after 3 attempts: returned an error: …`), wherever its outcome
/// is seen: [`HookOutcome::iter`](crate::HookOutcome::iter), [`get`](crate::HookOutcome::get),
/// [`entries`](crate::HookOutcome::entries), a fail-fast [`CallError`](crate::CallError),
/// monitors' reports. Its [`kind`](crate::ImplOutcome::kind) is the last failure's. A failure
/// on the first attempt, with no retry made, is reported as it is; a success on a later
/// attempt is a value (its attempt count is in [`entries`](crate::HookOutcome::entries)).
///
/// # Jitter
/// With jitter (the default) each wait is drawn uniformly in `[d/2, d]` ("equal jitter") from a
/// [`fastrand`] generator that belongs to the policy (and its clones). By default it is seeded
/// at random per policy — so every process, and every impl, draws its own sequence and a fleet
/// retrying the same failure spreads out; [`jitter_seed`](Self::jitter_seed) makes the
/// sequence reproducible (for tests).
#[derive(Clone)]
pub struct RetryPolicy {
    pub(crate) max_attempts: u32,
    pub(crate) base: Duration,
    pub(crate) cap: Duration,
    /// Each backoff is this many times the previous one (finite, at least 1).
    pub(crate) factor: f64,
    pub(crate) jitter: bool,
    /// The seed given to [`RetryPolicy::jitter_seed`], if any (the generator's state is not
    /// part of the policy's identity).
    pub(crate) jitter_seed: Option<u64>,
    /// Draws the jitter; shared by clones, locked only to draw (once per retry).
    pub(crate) rng: Arc<Mutex<fastrand::Rng>>,
    pub(crate) predicate: Option<RetryPredicate>,
    pub(crate) budget: Option<BudgetConfig>,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("base", &self.base)
            .field("cap", &self.cap)
            .field("factor", &self.factor)
            .field("jitter", &self.jitter)
            .field("jitter_seed", &self.jitter_seed)
            .field("custom_predicate", &self.predicate.is_some())
            .field("budget", &self.budget)
            .finish()
    }
}

impl PartialEq for RetryPolicy {
    fn eq(&self, o: &Self) -> bool {
        self.max_attempts == o.max_attempts
            && self.base == o.base
            && self.cap == o.cap
            && self.factor.to_bits() == o.factor.to_bits()
            && self.jitter == o.jitter
            && self.jitter_seed == o.jitter_seed
            && self.budget == o.budget
            && match (&self.predicate, &o.predicate) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
    }
}
impl Eq for RetryPolicy {}

/// A retry budget: retries are allowed while they stay under `min_per_sec` per second plus
/// `ratio` of the calls, both counted in consecutive windows of `ttl` (a new window starts
/// from zero; a `ttl` under a millisecond counts as one millisecond).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// Retries per call the budget allows on top of the floor (e.g. `0.2` = 20%).
    pub ratio: f32,
    /// Retries per second always allowed.
    pub min_per_sec: u32,
    /// The window calls and retries are counted over: `min_per_sec × ttl` retries (rounded
    /// up) are always allowed in one.
    pub ttl: Duration,
}

impl Eq for BudgetConfig {}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            ratio: 0.2,
            min_per_sec: 10,
            ttl: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// At most `max_attempts` attempts in all (so `max_attempts - 1` retries); backoff 50 ms
    /// doubling up to 2 s, with jitter drawn from a randomly seeded generator; the default
    /// retry budget.
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
            factor: 2.0,
            jitter: true,
            jitter_seed: None,
            rng: Arc::new(Mutex::new(fastrand::Rng::new())),
            predicate: None,
            budget: Some(BudgetConfig::default()),
        }
    }

    /// The first retry waits `base`, each next one [`factor`](Self::factor) times as long
    /// (twice, by default), never more than `cap`.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.base = base;
        self.cap = cap.max(base);
        self
    }

    /// How much longer each backoff is than the previous one: retry `n` waits
    /// `base × factor^(n-1)`, at most `cap` (before jitter). The default is `2.0`; `1.0` waits
    /// `base` every time.
    ///
    /// # Errors
    /// [`RetryPolicyError::InvalidFactor`] if `factor` is below 1 (the waits would shrink),
    /// infinite or NaN.
    pub fn factor(mut self, factor: f64) -> Result<Self, RetryPolicyError> {
        if !(factor.is_finite() && factor >= 1.0) {
            return Err(RetryPolicyError::InvalidFactor(factor));
        }
        self.factor = factor;
        Ok(self)
    }

    /// Wait exactly the backoff (no random part); useful in tests.
    pub fn no_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// Draw the jitter from a generator seeded with `seed`: policies with the same seed wait
    /// the same sequence of delays, which makes a test reproducible. Without it each policy's
    /// generator is seeded at random (from the process's random state), so that processes and
    /// impls do not retry in step. No effect with [`no_jitter`](Self::no_jitter).
    ///
    /// ```
    /// use hookwire::policy::RetryPolicy;
    /// let p = RetryPolicy::new(5).jitter_seed(42);
    /// assert_eq!(p, RetryPolicy::new(5).jitter_seed(42));
    /// ```
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self.rng = Arc::new(Mutex::new(fastrand::Rng::with_seed(seed)));
        self
    }

    /// Decide yourself which failures are retried (panics never are).
    pub fn retry_if(mut self, f: impl Fn(&HookFailure) -> bool + Send + Sync + 'static) -> Self {
        self.predicate = Some(Arc::new(f));
        self
    }

    /// Replace the retry budget.
    pub fn budget(mut self, budget: BudgetConfig) -> Self {
        self.budget = Some(budget);
        self
    }

    /// No retry budget: every retryable failure is retried up to `max_attempts`.
    pub fn unbudgeted(mut self) -> Self {
        self.budget = None;
        self
    }

    /// The backoff before retry number `retry` (1 for the first retry), without jitter:
    /// `base × factor^(retry-1)`, at most `cap`, rounded to the nanosecond.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let nanos = self.base.as_nanos() as f64 * self.factor.powi(exp);
        // An overflow gives infinity (or NaN from 0 × ∞): the cap.
        if nanos.is_nan() || nanos >= self.cap.as_nanos() as f64 {
            return self.cap;
        }
        Duration::from_nanos(nanos.round() as u64).min(self.cap)
    }

    /// The backoff with jitter applied ("equal jitter": uniformly in `[d/2, d]`).
    pub(crate) fn jittered_delay(&self, retry: u32) -> Duration {
        let d = self.delay(retry);
        if !self.jitter || d.is_zero() {
            return d;
        }
        let half = d / 2;
        // `d` is at most `cap`, a `Duration`: its nanoseconds fit a u64 for 584 years.
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        half + Duration::from_nanos(rng.u64(0..=span))
    }

    /// Whether `failure` is worth another attempt.
    pub(crate) fn is_retryable(&self, failure: &HookFailure) -> bool {
        if failure.is_panic() || matches!(failure, HookFailure::DeadlineExceeded { .. }) {
            return false;
        }
        match &self.predicate {
            Some(p) => p(failure),
            None => match failure {
                HookFailure::TimedOut { .. } => true,
                HookFailure::Error(e) => e.downcast_ref::<Retryable>().is_some(),
                _ => false,
            },
        }
    }
}

/// A [`RetryPolicy`] setting that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryPolicyError {
    /// The backoff factor is below 1, infinite or NaN.
    #[error(
        "invalid retry backoff factor {0}: use a finite factor of at least 1.0 (1.0 waits the \
         base delay every time, 2.0 doubles it)"
    )]
    InvalidFactor(f64),
}

/// The live state of a retry budget, shared by every call of one impl.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    config: BudgetConfig,
    state: Mutex<BudgetWindow>,
}

#[derive(Debug)]
struct BudgetWindow {
    /// Start of the current window.
    since: tokio::time::Instant,
    calls: u64,
    retries: u64,
}

impl RetryBudget {
    pub(crate) fn new(config: BudgetConfig) -> Self {
        RetryBudget {
            config,
            state: Mutex::new(BudgetWindow {
                since: tokio::time::Instant::now(),
                calls: 0,
                retries: 0,
            }),
        }
    }

    /// The window length: `ttl`, at least a millisecond.
    fn ttl(&self) -> Duration {
        self.config.ttl.max(Duration::from_millis(1))
    }

    fn window(&self, now: tokio::time::Instant) -> std::sync::MutexGuard<'_, BudgetWindow> {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(w.since) >= self.ttl() {
            *w = BudgetWindow {
                since: now,
                calls: 0,
                retries: 0,
            };
        }
        w
    }

    /// Counts one call (first attempt).
    pub(crate) fn deposit(&self) {
        self.window(tokio::time::Instant::now()).calls += 1;
    }

    /// Takes one retry from the budget, if it allows one.
    pub(crate) fn withdraw(&self) -> bool {
        let mut w = self.window(tokio::time::Instant::now());
        // `min_per_sec` over one window, rounded up (so any floor allows at least one).
        let floor = (f64::from(self.config.min_per_sec) * self.ttl().as_secs_f64()).ceil() as u64;
        let allowed = floor + (w.calls as f64 * f64::from(self.config.ratio)) as u64;
        if w.retries < allowed {
            w.retries += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::new(10)
            .backoff(Duration::from_millis(10), Duration::from_millis(50))
            .no_jitter();
        let d: Vec<u128> = (1..=5).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(d, [10, 20, 40, 50, 50]);
        assert_eq!(p.delay(100), Duration::from_millis(50));
    }

    #[test]
    fn a_factor_below_one_or_not_finite_is_refused_with_a_message_saying_what_works() {
        for bad in [0.5, 0.0, -2.0, f64::NAN, f64::INFINITY] {
            let e = RetryPolicy::new(3).factor(bad).unwrap_err();
            assert!(matches!(e, RetryPolicyError::InvalidFactor(_)));
            assert!(e.to_string().contains("at least 1.0"), "{e}");
        }
        let flat = RetryPolicy::new(3)
            .backoff(Duration::from_millis(10), Duration::from_secs(1))
            .factor(1.0)
            .unwrap();
        assert_eq!(flat.delay(5), Duration::from_millis(10));
        let huge = RetryPolicy::new(3)
            .backoff(Duration::from_millis(10), Duration::from_secs(1))
            .factor(1e300)
            .unwrap();
        assert_eq!(
            huge.delay(u32::MAX),
            Duration::from_secs(1),
            "capped, no overflow"
        );
    }

    #[test]
    fn jitter_stays_within_half_and_full_delay() {
        let p = RetryPolicy::new(5).backoff(Duration::from_millis(100), Duration::from_secs(1));
        for n in 1..=4 {
            for _ in 0..100 {
                let d = p.jittered_delay(n);
                assert!(d >= p.delay(n) / 2 && d <= p.delay(n), "{d:?}");
            }
        }
    }

    #[test]
    fn default_predicate_retries_timeouts_and_marked_errors_only() {
        let p = RetryPolicy::new(3);
        assert!(p.is_retryable(&HookFailure::TimedOut {
            limit: Duration::from_secs(1)
        }));
        assert!(p.is_retryable(&HookFailure::Error(Box::new(Retryable::new("flaky")))));
        assert!(!p.is_retryable(&HookFailure::Error("plain".into())));
        assert!(!p.is_retryable(&HookFailure::Panic("boom".into())));
        let all = RetryPolicy::new(3).retry_if(|_| true);
        assert!(all.is_retryable(&HookFailure::Error("plain".into())));
        assert!(!all.is_retryable(&HookFailure::Panic("boom".into())));
    }

    #[tokio::test(start_paused = true)]
    async fn budget_limits_retries_to_floor_plus_ratio() {
        let b = RetryBudget::new(BudgetConfig {
            ratio: 0.5,
            min_per_sec: 1,
            ttl: Duration::from_secs(1),
        });
        for _ in 0..4 {
            b.deposit();
        }
        // floor 1 + 0.5 * 4 calls = 3 retries.
        let granted = (0..10).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 3);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(b.withdraw(), "a new window allows the floor again");
        assert!(!b.withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn the_floor_scales_with_a_window_shorter_or_longer_than_a_second() {
        let granted = |min_per_sec, ttl| {
            let b = RetryBudget::new(BudgetConfig {
                ratio: 0.0,
                min_per_sec,
                ttl,
            });
            (0..100).filter(|_| b.withdraw()).count()
        };
        assert_eq!(granted(10, Duration::from_millis(100)), 1);
        assert_eq!(granted(10, Duration::from_millis(1500)), 15);
        assert_eq!(granted(3, Duration::from_millis(100)), 1, "rounded up");
        assert_eq!(granted(0, Duration::from_secs(1)), 0);
        // A zero window is a millisecond long, not "no budget at all".
        assert_eq!(granted(10, Duration::ZERO), 1);
    }
}
