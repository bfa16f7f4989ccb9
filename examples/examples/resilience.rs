//! Execution policies end to end, on one first-result hook called in parallel under a deadline:
//! a flaky plugin is retried, a slow one times out, a hung one is cut off by the call's
//! deadline, a broken one is skipped once its circuit breaker opens; the per-impl statistics
//! are printed at the end.
//!
//! Run with `cargo run -p hookwire-examples --example resilience`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookwire::{
    policy::BreakerConfig, policy::BreakerState, policy::RetryPolicy, policy::Retryable, FutureExt,
    HookManager,
};

hookwire::hookspec! {
    /// Who owns this token? The first plugin (in call order) that answers wins.
    #[firstresult]
    #[name = "authenticate"]
    pub struct Authenticate(String) -> String;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pm = HookManager::builder()
        .spec::<Authenticate>()
        .stats(true) // per-impl statistics, printed at the end
        .build();

    // Fails every other call with a retryable error; retried after a short backoff.
    let flips = Arc::new(AtomicU32::new(0));
    pm.register("flaky-ldap", move |r| {
        let flips = flips.clone();
        r.hook_fn::<Authenticate>(move |token| {
            let n = flips.fetch_add(1, Ordering::SeqCst);
            let user = format!("ldap:{token}");
            async move {
                if n.is_multiple_of(2) {
                    Err(Retryable::new("ldap: connection reset").into())
                } else {
                    Ok(Some(user))
                }
            }
            .boxed()
        })
        .retry(RetryPolicy::new(3).backoff(Duration::from_millis(5), Duration::from_millis(50)))
        .add()
    })?;

    // Hangs, and has no timeout of its own: only the call's deadline stops it.
    pm.register("hung-kerberos", |r| {
        r.hook_fn::<Authenticate>(|_| std::future::pending().boxed())
            .tryfirst()
            .add()
    })?;

    // Takes 200 ms, but is given 30.
    pm.register("slow-sso", |r| {
        r.hook_fn::<Authenticate>(|_| {
            async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(Some("sso".to_owned()))
            }
            .boxed()
        })
        .timeout(Duration::from_millis(30))
        .tryfirst()
        .add()
    })?;

    // Always down: after 2 failures its breaker opens, and for 30 s it is skipped, not called.
    pm.register("broken-db", |r| {
        r.sync_fn::<Authenticate>(|_| Err("db: connection refused".into()))
            .circuit_breaker(BreakerConfig::new(2, Duration::from_secs(30)))
            .tryfirst()
            .add()
    })?;

    // All impls start at once; the call gives up on whatever still runs after 100 ms.
    let auth = pm
        .hook::<Authenticate>()
        .parallel()
        .deadline(Duration::from_millis(100));
    println!("Each round calls `authenticate` in parallel with a 100 ms deadline; per plugin, in");
    println!("call order, what it did (the outcome's Display), then the answer the app gets:");
    for round in 1..=3 {
        let out = auth.call(&format!("user{round}")).await?;
        println!("\nround {round}: {out}");
        if out.deadline_exceeded() {
            println!("  (the deadline cut the call short: it returns what it had by then)");
        }
        let who = out.into_value();
        println!(
            "  -> the app gets: {}",
            who.as_deref().unwrap_or("no answer")
        );
    }

    println!("\nStatistics per plugin (latency: upper bound of the histogram bucket, in µs):");
    let stats = pm.stats();
    for s in &stats.hooks[0].impls {
        let breaker = match s.breaker {
            None => "no breaker",
            Some(BreakerState::Closed) => "breaker closed",
            Some(BreakerState::Open) => "breaker OPEN",
            Some(BreakerState::HalfOpen) => "breaker half-open",
        };
        let p50 = s.p50_us.map_or("-".to_owned(), |us| us.to_string());
        println!(
            "  {:<13} calls {} answers {} errors {} timeouts {} circuit open {} retries {}; {breaker}; p50 {p50} µs",
            s.plugin, s.calls, s.answers, s.errors, s.timeouts, s.circuit_open, s.retries
        );
        if let Some(e) = &s.last_error {
            println!("  {:<13} last error: {e}", "");
        }
    }
    println!("\nThe same statistics as JSON (for a metrics endpoint):");
    println!("{}", serde_json::to_string_pretty(&stats)?);
    Ok(())
}
