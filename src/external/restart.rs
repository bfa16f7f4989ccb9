//! Restarting a crashed process plugin: exponential backoff, and a start limit (systemd's
//! `StartLimitBurst` within `StartLimitIntervalSec`) after which it stays stopped.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// When and how often a crashed process plugin is started again.
///
/// The `n`-th crash within the window is followed by a restart after
/// `base × 2^(n-1)` (at most `max`); the `burst`-th crash within the window leaves the plugin
/// failed, stopped until the host restarts it. Default: 100 ms doubling up to 10 s, failed at
/// the 5th crash within 10 s (systemd's defaults for `StartLimitBurst` and
/// `StartLimitIntervalSec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// Whether a crashed plugin is restarted at all.
    pub enabled: bool,
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How many crashes within `window` leave the plugin failed (at least 1).
    pub burst: u32,
    /// The window in which crashes are counted.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            enabled: true,
            base: Duration::from_millis(100),
            max: Duration::from_secs(10),
            burst: 5,
            window: Duration::from_secs(10),
        }
    }
}

impl RestartPolicy {
    /// Never restart: a crashed plugin fails at once.
    pub fn never() -> Self {
        RestartPolicy {
            enabled: false,
            ..Self::default()
        }
    }

    /// The delays: `base` doubling up to `max`.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base = base;
        self.max = max.max(base);
        self
    }

    /// The start limit: the `burst`-th crash within `window` leaves the plugin failed.
    pub fn limit(mut self, burst: u32, window: Duration) -> Self {
        self.burst = burst.max(1);
        self.window = window;
        self
    }
}

/// The crashes of one plugin within the policy's window.
#[derive(Debug, Default)]
pub(crate) struct CrashHistory {
    times: VecDeque<Instant>,
}

impl CrashHistory {
    /// Records a crash at `now`: `Ok(delay)` to restart after `delay`, or `Err(reason)` to
    /// stay stopped.
    pub(crate) fn record(
        &mut self,
        now: Instant,
        policy: &RestartPolicy,
    ) -> Result<Duration, String> {
        if !policy.enabled {
            return Err("restarts are off".to_owned());
        }
        self.times.push_back(now);
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= policy.window)
        {
            self.times.pop_front();
        }
        let n = self.times.len() as u32;
        if n >= policy.burst {
            return Err(format!(
                "it crashed {n} times within {} ms (the start limit)",
                policy.window.as_millis()
            ));
        }
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        Ok(policy.base.saturating_mul(factor).min(policy.max))
    }

    /// How many crashes the window holds (after the last [`record`](Self::record)).
    pub(crate) fn count(&self) -> u32 {
        u32::try_from(self.times.len()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn crashes_back_off_exponentially_and_the_burst_th_in_the_window_fails() {
        let policy = RestartPolicy::default()
            .backoff(Duration::from_millis(100), Duration::from_millis(300))
            .limit(4, Duration::from_secs(10));
        let mut h = CrashHistory::default();
        let mut delays = Vec::new();
        for _ in 0..3 {
            delays.push(h.record(Instant::now(), &policy).unwrap());
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(delays, [100, 200, 300].map(Duration::from_millis));
        assert_eq!(
            h.record(Instant::now(), &policy).unwrap_err(),
            "it crashed 4 times within 10000 ms (the start limit)"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn crashes_older_than_the_window_are_forgotten() {
        let policy = RestartPolicy::default().limit(2, Duration::from_secs(10));
        let mut h = CrashHistory::default();
        assert_eq!(
            h.record(Instant::now(), &policy),
            Ok(Duration::from_millis(100))
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        // The first crash left the window: this one is the first again.
        assert_eq!(
            h.record(Instant::now(), &policy),
            Ok(Duration::from_millis(100))
        );
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(h.record(Instant::now(), &policy).is_err());
    }

    #[test]
    fn never_fails_at_the_first_crash() {
        let mut h = CrashHistory::default();
        assert_eq!(
            h.record(Instant::now(), &RestartPolicy::never())
                .unwrap_err(),
            "restarts are off"
        );
    }
}
