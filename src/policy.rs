//! Per-impl policies: retry with backoff and a retry budget, and the circuit breaker.
//!
//! Set them on an impl with [`ImplBuilder::retry`](crate::hook::ImplBuilder::retry) and
//! [`ImplBuilder::circuit_breaker`](crate::hook::ImplBuilder::circuit_breaker). A timeout is a plain
//! `Duration` ([`ImplBuilder::timeout`](crate::hook::ImplBuilder::timeout)).
//!
//! A [`BreakerConfig`] opens an impl's circuit after so many failures in a row: the impl is
//! then not called (its outcome is [`ImplOutcome::CircuitOpen`](crate::ImplOutcome::CircuitOpen))
//! until the cool-down is over and one probe call succeeds. A [`RetryPolicy`] calls a failed
//! impl again, after a backoff, when the failure is retryable (a timeout, or an error marked
//! [`Retryable`]):
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! use std::time::Duration;
//! use hookwire::policy::{BreakerConfig, Retryable, RetryPolicy};
//! use hookwire::{HookManager, ImplOutcome};
//! hookwire::hookspec! { pub struct Query(String) -> u32; }
//!
//! let pm = HookManager::new();
//! pm.register("db", |r| {
//!     r.sync_fn::<Query>(|_| Err(Retryable("connection refused".into()).into()))
//!         .retry(RetryPolicy::new(3).backoff(Duration::from_millis(10), Duration::from_secs(1)))
//!         .circuit_breaker(BreakerConfig::new(1, Duration::from_secs(30)))
//!         .add()
//! })
//! .unwrap();
//! let query = pm.hook::<Query>();
//!
//! let first = query.call(&"q".into()).await.unwrap();
//! assert_eq!(first.entry("db").unwrap().attempts, 3); // retried twice, still failing
//! // That failed call (one failure for the breaker, whatever its attempts) opened the
//! // breaker: the next call does not reach the database.
//! let second = query.call(&"q".into()).await.unwrap();
//! assert!(matches!(second.get("db"), Some(ImplOutcome::CircuitOpen)));
//! # });
//! ```

pub use crate::exec::breaker::{BreakerConfig, BreakerState};
pub use crate::exec::retry::{BudgetConfig, RetryPolicy, RetryPolicyError, Retryable};
