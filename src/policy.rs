//! Per-impl policies: retry with backoff and a retry budget, and the circuit breaker.
//!
//! Set them on an impl with [`ImplBuilder::retry`](crate::hook::ImplBuilder::retry) and
//! [`ImplBuilder::circuit_breaker`](crate::hook::ImplBuilder::circuit_breaker). A timeout is a
//! plain `Duration` ([`ImplBuilder::timeout`](crate::hook::ImplBuilder::timeout)).
//!
//! - **Retry** ([`RetryPolicy`]): exponential backoff with a cap and optional jitter, a
//!   predicate for what is retryable, and a retry budget ([`BudgetConfig`]) so that a failing
//!   plugin under load cannot multiply the traffic it receives (as tower's `TpsBudget`). By
//!   default a failure is retried when it timed out, or when the impl marked its error
//!   [`Retryable`]. Panics are never retried; neither is a call whose deadline leaves no room
//!   for the backoff and another attempt.
//! - **Circuit breaker** ([`BreakerConfig`]): after `failure_threshold` failed calls in a row
//!   (errors, timeouts, panics; a call's retries count once) the impl is not called for
//!   `cool_down` — its outcome is [`ImplOutcome::CircuitOpen`](crate::ImplOutcome::CircuitOpen);
//!   then one half-open probe call decides: success closes the breaker, failure opens it again.
//!   Give an impl with a breaker a timeout: a probe that hangs keeps the breaker half-open.
//!
//! Both on one impl:
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
