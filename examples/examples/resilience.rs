//! Execution policies end to end: a flaky plugin is retried, a slow one times out, a broken one
//! is skipped by its circuit breaker, the impls run in parallel under a deadline, and the
//! per-impl statistics are printed at the end.
//!
//! Run with `cargo run --example resilience`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookspecs::{AuthRequest, Authenticate, Principal};
use hookwire::{BreakerConfig, FutureExt, HookManager, ImplOutcome, RetryPolicy, Retryable};

fn principal(user: &str) -> Principal {
    Principal {
        user: user.into(),
        roles: vec![],
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pm = HookManager::builder()
        .spec::<Authenticate>()
        .stats(true)
        .build();

    // Fails every other call with a retryable error; retried with backoff.
    let flips = Arc::new(AtomicU32::new(0));
    pm.register("flaky-ldap", move |r| {
        let flips = flips.clone();
        r.hook_fn::<Authenticate>(move |req| {
            let n = flips.fetch_add(1, Ordering::SeqCst);
            let user = req.token.clone();
            async move {
                if n % 2 == 0 {
                    Err(Retryable::new("ldap: connection reset").into())
                } else {
                    Ok(Some(principal(&format!("ldap:{user}"))))
                }
            }
            .boxed()
        })
        .retry(RetryPolicy::new(3).backoff(Duration::from_millis(5), Duration::from_millis(50)))
        .add()
    })?;

    // Takes 200 ms, but gets 30.
    pm.register("slow-sso", |r| {
        r.hook_fn::<Authenticate>(|_| {
            async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(Some(principal("sso")))
            }
            .boxed()
        })
        .timeout(Duration::from_millis(30))
        .tryfirst()
        .add()
    })?;

    // Always down: after 2 failures its breaker opens and it is skipped without being called.
    pm.register("broken-db", |r| {
        r.sync_fn::<Authenticate>(|_| Err("db: connection refused".into()))
            .circuit_breaker(BreakerConfig::new(2, Duration::from_secs(30)))
            .tryfirst()
            .add()
    })?;

    let auth = pm
        .hook::<Authenticate>()
        .parallel()
        .deadline(Duration::from_secs(1));
    for round in 1..=4 {
        let out = auth
            .call(&AuthRequest {
                token: format!("user{round}"),
            })
            .await?;
        println!("round {round}:");
        for e in out.entries() {
            let what = match e.outcome {
                ImplOutcome::Value(p) => format!("answered {}", p.user),
                ImplOutcome::Failed(f) => f.to_string(),
                other => other.kind().to_string(),
            };
            println!("  {:<11} {what} (attempts: {})", e.plugin, e.attempts);
        }
        println!("  -> {:?}", out.into_value().map(|p| p.user));
    }

    println!("\nstatistics:");
    let stats = pm.stats();
    for s in &stats.hooks[0].impls {
        println!(
            "  {:<11} calls {} answers {} errors {} timeouts {} skipped {} retries {} breaker {:?} p50 {:?}us last error {:?}",
            s.plugin, s.calls, s.answers, s.errors, s.timeouts, s.skipped, s.retries, s.breaker, s.p50_us, s.last_error
        );
    }
    println!("\nas JSON: {}", serde_json::to_string(&stats)?);
    Ok(())
}
