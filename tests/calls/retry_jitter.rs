//! Retry jitter: drawn from a per-policy generator, reproducible with `jitter_seed`, on tokio's
//! paused clock (every wait is exact and instant).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::{policy::RetryPolicy, policy::Retryable, FutureExt, HookManager};
use tokio::time::Instant;

/// Backoff 100 ms doubling (no cap in reach), five attempts, no budget.
pub fn policy() -> RetryPolicy {
    RetryPolicy::new(5)
        .backoff(Duration::from_millis(100), Duration::from_secs(60))
        .unbudgeted()
}

/// Calls an impl that always fails with a retryable error under `policy`, and returns the
/// waits between its attempts.
pub async fn waits(policy: RetryPolicy) -> Vec<Duration> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let pm = HookManager::new();
    let l = log.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    pm.register("flaky", move |r| {
        r.hook_fn::<Compute>(move |_| {
            l.lock().unwrap().push(Instant::now());
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { Err(Retryable::new(format!("flaky #{n}")).into()) }.boxed()
        })
        .retry(policy.clone())
        .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(out.entries().next().unwrap().attempts, 5);
    let at = log.lock().unwrap().clone();
    at.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn the_same_jitter_seed_waits_the_same_delays() {
    let a = waits(policy().jitter_seed(7)).await;
    let b = waits(policy().jitter_seed(7)).await;
    assert_eq!(a, b);
    // Equal jitter: each wait is within [d/2, d] of its backoff (the paused clock may round a
    // wait up to the next millisecond).
    let p = policy();
    for (n, w) in (1..).zip(&a) {
        let d = p.delay(n);
        assert!(
            *w >= d / 2 && *w <= d + Duration::from_millis(1),
            "wait {n}: {w:?}"
        );
    }
    let c = waits(policy().jitter_seed(8)).await;
    assert_ne!(a, c, "another seed, another sequence");
}

#[tokio::test(start_paused = true)]
async fn without_a_seed_two_policies_draw_different_jitter() {
    let a = waits(policy()).await;
    let b = waits(policy()).await;
    assert_ne!(a, b);
}

#[tokio::test(start_paused = true)]
async fn no_jitter_waits_exactly_the_backoff_whatever_the_seed() {
    let w = waits(policy().jitter_seed(7).no_jitter()).await;
    let ms = |n| Duration::from_millis(n);
    assert_eq!(w, [ms(100), ms(200), ms(400), ms(800)]);
}
