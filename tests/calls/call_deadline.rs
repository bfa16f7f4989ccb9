//! `hook::call_deadline`: where an impl running under a call's deadline sees it (parallel
//! impls, wrappers, retries, nested calls, blocking impls), and where nothing leaks (beside a
//! pending call, after a panic, in spawned tasks). Paused clock: the times are exact.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookwire::hook::call_deadline;
use hookwire::policy::{RetryPolicy, Retryable};
use hookwire::{FutureExt, HookManager};
use tokio::time::Instant;

hookwire::hookspec! {
    /// Answers the milliseconds left to the visible deadline (`-1`: none).
    pub struct Left(()) -> i64;
    /// An outer hook whose impl calls `Left` (nested).
    pub struct Outer(()) -> Vec<i64>;
}

fn left_now() -> i64 {
    call_deadline().map_or(-1, |at| {
        at.saturating_duration_since(Instant::now()).as_millis() as i64
    })
}

/// Registers `name` with an impl of `Left` that waits `ms` and answers what it sees then.
fn sleeper(pm: &HookManager, name: &str, ms: u64) {
    pm.register(name, |r| {
        r.hook_fn::<Left>(move |_| {
            async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(Some(left_now()))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
}

/// `Left` called with a deadline `ms` from now: what each impl saw.
async fn left_within(pm: &HookManager, ms: u64) -> Vec<i64> {
    let out = pm
        .hook::<Left>()
        .deadline(Duration::from_millis(ms))
        .call(&())
        .await
        .unwrap();
    out.into_values()
}

#[tokio::test(start_paused = true)]
async fn parallel_impls_see_the_deadline_after_they_waited() {
    let pm = HookManager::new();
    for name in ["a", "b"] {
        sleeper(&pm, name, 10);
    }
    let out = pm
        .hook::<Left>()
        .parallel()
        .deadline(Duration::from_millis(100))
        .call(&())
        .await
        .unwrap();
    assert_eq!(out.into_values(), [90, 90]);
    assert_eq!(call_deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn wrappers_and_the_impls_inside_see_the_deadline() {
    let pm = HookManager::new();
    sleeper(&pm, "plain", 5);
    pm.register("wrap", |r| {
        r.wrapper_fn::<Left>(|_, next| {
            async move {
                let before = left_now();
                let mut out = next.run().await;
                let after = left_now();
                for (_, o) in out.iter_mut() {
                    if let Some(v) = o.value_mut() {
                        *v = before * 1_000_000 + *v * 1000 + after;
                    }
                }
                Ok(out)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let out = left_within(&pm, 100).await;
    // before=100, inner=95, after=95
    assert_eq!(out, [100_095_095]);
}

#[tokio::test(start_paused = true)]
async fn a_retried_impl_sees_the_deadline_after_its_backoff() {
    let pm = HookManager::new();
    let tries = Arc::new(AtomicU32::new(0));
    let t = tries.clone();
    pm.register("flaky", |r| {
        r.hook_fn::<Left>(move |_| {
            let n = t.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    return Err(Retryable::new("first attempt fails").into());
                }
                Ok(Some(left_now()))
            }
            .boxed()
        })
        .retry(
            RetryPolicy::new(2)
                .backoff(Duration::from_millis(20), Duration::from_millis(20))
                .no_jitter()
                .unbudgeted(),
        )
        .add()
    })
    .unwrap();
    let out = left_within(&pm, 100).await;
    assert_eq!(out, [80]);
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn nested_calls_see_the_earliest_deadline_and_the_outer_one_is_restored() {
    let pm = HookManager::new();
    pm.register("inner", |r| {
        r.sync_fn::<Left>(|_| Ok(Some(left_now()))).add()
    })
    .unwrap();
    let inner_pm = pm.clone();
    pm.register("outer", move |r| {
        let pm = inner_pm.clone();
        r.hook_fn::<Outer>(move |_| {
            let pm = pm.clone();
            async move {
                let mut seen = vec![left_now()];
                // No deadline of its own: the outer one (100) bounds it.
                seen.extend(pm.hook::<Left>().call(&()).await?.into_values());
                // A nearer one of its own.
                seen.extend(
                    pm.hook::<Left>()
                        .deadline(Duration::from_millis(10))
                        .call(&())
                        .await?
                        .into_values(),
                );
                // A farther one: the outer one is still the nearer.
                seen.extend(
                    pm.hook::<Left>()
                        .deadline(Duration::from_millis(500))
                        .call(&())
                        .await?
                        .into_values(),
                );
                tokio::time::sleep(Duration::from_millis(30)).await;
                seen.push(left_now());
                Ok(Some(seen))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let out = pm
        .hook::<Outer>()
        .deadline(Duration::from_millis(100))
        .call(&())
        .await
        .unwrap();
    assert_eq!(out.into_values(), [vec![100, 100, 10, 100, 70]]);
    assert_eq!(call_deadline(), None);
}

#[tokio::test(start_paused = true)]
async fn nothing_leaks_to_a_future_polled_beside_a_pending_call_nor_after_a_panic() {
    let pm = HookManager::new();
    sleeper(&pm, "slow", 10);
    pm.register("panics", |r| {
        r.sync_fn::<Left>(|_| panic!("probe panic")).add()
    })
    .unwrap();
    let beside = async {
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(left_now());
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        seen
    };
    let caller = pm.hook::<Left>().deadline(Duration::from_millis(100));
    let (out, seen) = tokio::join!(caller.call(&()), beside);
    let out = out.unwrap();
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [90]);
    assert_eq!(seen, [-1, -1, -1]);
    assert_eq!(call_deadline(), None);
    let spawned = tokio::spawn(async { left_now() }).await.unwrap();
    assert_eq!(spawned, -1);
}

#[cfg(feature = "plugins")]
mod lazy {
    use super::*;

    /// A lazy plugin, started by the first call that reaches its impls, records the deadline it
    /// sees in its own `start` (no impl of any call: `hook::call_deadline` says `None` outside an
    /// impl, and a start is bounded by the host's step timeout, not by a caller's deadline).
    struct LazyProbe {
        seen_in_start: Arc<std::sync::Mutex<Vec<i64>>>,
    }

    #[hookwire::async_trait]
    impl hookwire::Plugin for LazyProbe {
        fn meta(&self) -> hookwire::PluginMeta {
            hookwire::PluginMeta::new("lazy-probe", "1.0.0")
        }

        fn register(
            self: Arc<Self>,
            r: &mut hookwire::Registrar,
        ) -> Result<(), hookwire::RegisterError> {
            r.sync_fn::<Left>(|_| Ok(Some(left_now()))).add()
        }

        async fn start(&self, _ctx: &hookwire::PluginContext) -> Result<(), hookwire::BoxError> {
            self.seen_in_start.lock().unwrap().push(left_now());
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lazy_plugins_start_does_not_see_the_deadline_of_the_call_that_triggered_it() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let host = hookwire::PluginHost::new();
        host.add_lazy(LazyProbe {
            seen_in_start: seen.clone(),
        })
        .unwrap();
        host.start().await.unwrap();
        let out = host
            .hook::<Left>()
            .deadline(Duration::from_millis(100))
            .call(&())
            .await
            .unwrap();
        // The impl sees the call's deadline: right.
        assert_eq!(out.into_values(), [100]);
        // Its plugin's `start`, shared by every caller waiting at the gate, is no impl of this
        // call: it should see none.
        assert_eq!(
            *seen.lock().unwrap(),
            [-1],
            "call_deadline() in the lazy plugin's `start`"
        );
    }
}

/// A `blocking_fn` impl (where a synchronous client of a remote service belongs) sees the
/// deadline its call had when it started the impl, on its pool thread.
#[tokio::test(start_paused = true)]
async fn a_blocking_impl_sees_the_calls_deadline() {
    let pm = HookManager::new();
    pm.register("blocking", |r| {
        r.blocking_fn::<Left>(|_| Ok(Some(left_now()))).add()
    })
    .unwrap();
    let left = left_within(&pm, 100_000).await;
    assert!(
        left.len() == 1 && left[0] > 0,
        "what the blocking impl saw (-1: no deadline): {left:?}"
    );
}
