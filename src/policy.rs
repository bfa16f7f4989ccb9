//! Per-impl policies: retry with backoff and a retry budget, and the circuit breaker.
//!
//! Set them on an impl with [`ImplBuilder::retry`](crate::hook::ImplBuilder::retry) and
//! [`ImplBuilder::circuit_breaker`](crate::hook::ImplBuilder::circuit_breaker). A timeout is a plain
//! `Duration` ([`ImplBuilder::timeout`](crate::hook::ImplBuilder::timeout)).

pub use crate::exec::breaker::{BreakerConfig, BreakerState};
pub use crate::exec::retry::{BudgetConfig, RetryPolicy, RetryPolicyError, Retryable};
