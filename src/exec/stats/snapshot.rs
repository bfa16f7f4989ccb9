//! What [`HookManager::stats`](crate::HookManager::stats) returns: plain, serialisable
//! copies of the counters.

use serde::Serialize;

use crate::exec::breaker::BreakerState;

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
    /// Calls its open circuit breaker refused: the impl was not called
    /// ([`ImplOutcome::CircuitOpen`](crate::ImplOutcome::CircuitOpen)).
    pub circuit_open: u64,
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
