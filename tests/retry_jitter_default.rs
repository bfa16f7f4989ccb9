//! The default retry jitter is seeded at random: a process no longer draws the fixed sequence
//! every hookwire process used to draw (a global xorshift starting from one constant), which
//! made a fleet of processes retry in step. Alone in its test binary, so that its draws are
//! the process's first ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::{policy::RetryPolicy, policy::Retryable, FutureExt, HookManager};
use tokio::time::Instant;

/// The waits the old generator gave the first retries of a process (backoff 100 ms doubling).
fn old_fixed_waits(retries: u32) -> Vec<Duration> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (1..=retries)
        .map(|n| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let d = Duration::from_millis(100) * 2u32.pow(n - 1);
            let half = d / 2;
            half + Duration::from_nanos(x % (d - half).as_nanos() as u64)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_default_jitter_is_not_the_old_fixed_sequence() {
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
        .retry(
            RetryPolicy::new(5)
                .backoff(Duration::from_millis(100), Duration::from_secs(60))
                .unbudgeted(),
        )
        .add()
    })
    .unwrap();
    pm.hook::<Compute>().call(&1).await.unwrap();
    let at = log.lock().unwrap().clone();
    let waits: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    let old = old_fixed_waits(4);
    assert_eq!(waits.len(), old.len());
    // The paused clock rounds a wait up to the millisecond: compare within a millisecond.
    let close = |a: Duration, b: Duration| a.abs_diff(b) <= Duration::from_millis(1);
    assert!(
        !waits.iter().zip(&old).all(|(w, o)| close(*w, *o)),
        "drew the old fixed sequence {old:?}: {waits:?}"
    );
}
