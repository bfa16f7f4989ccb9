//! Execution policies on tokio's paused clock: every timing below is exact and instant.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::{
    hook::ImplBuilder, outcome::OutcomeKind, policy::BreakerConfig, policy::RetryPolicy,
    policy::Retryable, FutureExt, HookFailure, HookManager, ImplOutcome, Registrar,
};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An async impl that waits `wait` then answers `value` (or declines with `None`).
fn slow(r: &mut Registrar, wait: u64, value: Option<u64>) -> ImplBuilder<'_> {
    r.hook_fn::<Compute>(move |_| {
        async move {
            tokio::time::sleep(ms(wait)).await;
            Ok(value)
        }
        .boxed()
    })
}

fn kinds(out: &hookwire::HookOutcome<u64>) -> Vec<(String, OutcomeKind)> {
    out.iter().map(|(p, o)| (p.to_owned(), o.kind())).collect()
}

#[tokio::test(start_paused = true)]
async fn timeout_in_sequential_mode_moves_on() {
    let pm = HookManager::new();
    pm.register("fast", |r| slow(r, 10, Some(1)).trylast().add())
        .unwrap();
    pm.register("slow", |r| slow(r, 1_000, Some(2)).timeout(ms(50)).add())
        .unwrap();
    let t0 = Instant::now();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert_eq!(t0.elapsed(), ms(60));
    let (who, failure) = out.errors().next().unwrap();
    assert_eq!(who, "slow");
    assert!(matches!(failure, HookFailure::TimedOut { limit } if *limit == ms(50)));
    assert_eq!(failure.to_string(), "timed out after 50ms");
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [1]);
}

#[tokio::test(start_paused = true)]
async fn timeouts_in_parallel_mode_run_concurrently() {
    let pm = HookManager::new();
    pm.register("a", |r| slow(r, 1_000, Some(1)).timeout(ms(30)).add())
        .unwrap();
    pm.register("b", |r| slow(r, 1_000, Some(2)).timeout(ms(50)).add())
        .unwrap();
    pm.register("c", |r| slow(r, 20, Some(3)).add()).unwrap();
    let t0 = Instant::now();
    let out = pm.hook::<Compute>().parallel().call(&0).await.unwrap();
    assert_eq!(t0.elapsed(), ms(50));
    assert_eq!(
        kinds(&out),
        [
            ("c".into(), OutcomeKind::Value),
            ("b".into(), OutcomeKind::TimedOut),
            ("a".into(), OutcomeKind::TimedOut)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn deadline_returns_partial_results_in_both_modes() {
    let pm = HookManager::new();
    pm.register("late", |r| slow(r, 10, Some(3)).trylast().add())
        .unwrap();
    pm.register("stuck", |r| slow(r, 10_000, Some(2)).add())
        .unwrap();
    pm.register("quick", |r| slow(r, 10, Some(1)).tryfirst().add())
        .unwrap();

    let t0 = Instant::now();
    let out = pm
        .hook::<Compute>()
        .deadline(ms(100))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(
        kinds(&out),
        [
            ("quick".into(), OutcomeKind::Value),
            ("stuck".into(), OutcomeKind::TimedOut),
            ("late".into(), OutcomeKind::TimedOut)
        ]
    );
    let msgs: Vec<String> = out.errors().map(|(_, f)| f.to_string()).collect();
    assert_eq!(
        msgs,
        [
            "was cut off by the call's deadline of 100ms",
            "did not start before the call's deadline of 100ms"
        ]
    );

    // Parallel: everything starts at once, so "late" answers too.
    let t0 = Instant::now();
    let out = pm
        .hook::<Compute>()
        .parallel()
        .deadline(ms(100))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(
        kinds(&out),
        [
            ("quick".into(), OutcomeKind::Value),
            ("stuck".into(), OutcomeKind::TimedOut),
            ("late".into(), OutcomeKind::Value)
        ]
    );

    // A spec can carry a default deadline.
    hookwire::hookspec! {
        #[deadline_ms = 40]
        #[parallel]
        pub struct Bounded(()) -> u8;
    }
    pm.register("forever", |r| {
        r.hook_fn::<Bounded>(|_| futures::future::pending().boxed())
            .add()
    })
    .unwrap();
    let t0 = Instant::now();
    let out = pm.hook::<Bounded>().call(&()).await.unwrap();
    assert_eq!(t0.elapsed(), ms(40));
    assert_eq!(out.errors().count(), 1);
}

/// An impl failing `failures` times with a retryable error, then answering; records the
/// instant of each attempt.
fn flaky(
    r: &mut Registrar,
    failures: usize,
    log: Arc<Mutex<Vec<Duration>>>,
    t0: Instant,
) -> ImplBuilder<'_> {
    let calls = Arc::new(AtomicUsize::new(0));
    r.hook_fn::<Compute>(move |x| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        log.lock().unwrap().push(t0.elapsed());
        let x = *x;
        async move {
            if n < failures {
                Err(Retryable::new(format!("flaky #{n}")).into())
            } else {
                Ok(Some(x))
            }
        }
        .boxed()
    })
}

fn exact(max: u32) -> RetryPolicy {
    RetryPolicy::new(max)
        .backoff(ms(10), ms(1_000))
        .no_jitter()
        .unbudgeted()
}

#[tokio::test(start_paused = true)]
async fn retry_succeeds_on_attempt_three_with_exact_backoff() {
    let t0 = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let pm = HookManager::new();
    let l = log.clone();
    pm.register("flaky", move |r| flaky(r, 2, l, t0).retry(exact(5)).add())
        .unwrap();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();
    assert_eq!(*log.lock().unwrap(), [ms(0), ms(10), ms(30)]);
    let e = out.entries().next().unwrap();
    assert_eq!((e.plugin, e.attempts), ("flaky", 3));
    assert_eq!(e.outcome.value(), Some(&7));
}

#[tokio::test(start_paused = true)]
async fn retry_gives_up_and_reports_the_last_error() {
    let t0 = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let pm = HookManager::new();
    let l = log.clone();
    pm.register("broken", move |r| {
        flaky(r, 100, l, t0).retry(exact(3)).add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();
    assert_eq!(*log.lock().unwrap(), [ms(0), ms(10), ms(30)]);
    let e = out.entries().next().unwrap();
    assert_eq!(e.attempts, 3);
    assert_eq!(
        e.outcome.failure().unwrap().to_string(),
        "gave up after 3 attempts: returned an error: flaky #2"
    );
}

#[tokio::test(start_paused = true)]
async fn no_retry_past_the_deadline() {
    let t0 = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let pm = HookManager::new();
    let l = log.clone();
    pm.register("flaky", move |r| flaky(r, 100, l, t0).retry(exact(5)).add())
        .unwrap();
    // Attempts at 0 and 10 ms; the next would start at 30 ms, past the 25 ms deadline.
    let out = pm
        .hook::<Compute>()
        .deadline(ms(25))
        .call(&7)
        .await
        .unwrap();
    assert_eq!(*log.lock().unwrap(), [ms(0), ms(10)]);
    assert_eq!(t0.elapsed(), ms(10));
    let e = out.entries().next().unwrap();
    assert_eq!(e.attempts, 2);
    assert_eq!(
        e.outcome.failure().unwrap().to_string(),
        "gave up after 2 attempts: returned an error: flaky #1"
    );
}

#[tokio::test(start_paused = true)]
async fn non_retryable_errors_and_panics_are_not_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pm = HookManager::new();
    let c = calls.clone();
    pm.register("plain-error", move |r| {
        r.sync_fn::<Compute>(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            Err("permanent".into())
        })
        .retry(exact(5))
        .add()
    })
    .unwrap();
    let c = calls.clone();
    pm.register("panics", move |r| {
        r.sync_fn::<Compute>(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("boom")
        })
        .retry(RetryPolicy::new(5).retry_if(|_| true).unbudgeted())
        .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(out.entries().all(|e| e.attempts == 1));
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_retried() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let pm = HookManager::new();
    let a = attempts.clone();
    pm.register("sluggish", move |r| {
        r.hook_fn::<Compute>(move |_| {
            let n = a.fetch_add(1, Ordering::SeqCst);
            async move {
                // First attempt hangs, the second answers at once.
                if n == 0 {
                    futures::future::pending::<()>().await;
                }
                Ok(Some(5))
            }
            .boxed()
        })
        .timeout(ms(20))
        .retry(exact(3))
        .add()
    })
    .unwrap();
    let t0 = Instant::now();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert_eq!(t0.elapsed(), ms(30));
    assert_eq!(out.entries().next().unwrap().attempts, 2);
    assert_eq!(out.into_values(), [5]);
}

#[tokio::test(start_paused = true)]
async fn retry_budget_stops_a_retry_storm() {
    let calls = Arc::new(AtomicUsize::new(0));
    let pm = HookManager::new();
    let c = calls.clone();
    let policy = RetryPolicy::new(10)
        .backoff(ms(1), ms(1))
        .no_jitter()
        .budget(hookwire::policy::BudgetConfig {
            ratio: 0.0,
            min_per_sec: 1,
            ttl: Duration::from_secs(1),
        });
    pm.register("down", move |r| {
        r.sync_fn::<Compute>(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            Err(Retryable::new("down").into())
        })
        .retry(policy)
        .add()
    })
    .unwrap();
    for _ in 0..5 {
        pm.hook::<Compute>().call(&0).await.unwrap();
    }
    // 5 calls, and the budget allowed one retry in the window: 6 attempts, not 50.
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_opens_skips_probes_and_closes() {
    let healthy = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let pm = HookManager::new();
    let (h, c) = (healthy.clone(), calls.clone());
    pm.register("db", move |r| {
        r.sync_fn::<Compute>(move |x| {
            c.fetch_add(1, Ordering::SeqCst);
            if h.load(Ordering::SeqCst) {
                Ok(Some(*x))
            } else {
                Err("connection refused".into())
            }
        })
        .circuit_breaker(BreakerConfig::new(2, Duration::from_secs(1)))
        .add()
    })
    .unwrap();
    let caller = pm.hook::<Compute>();
    let kind = |out: hookwire::HookOutcome<u64>| out.iter().next().map(|(_, o)| o.kind()).unwrap();

    assert_eq!(kind(caller.call(&1).await.unwrap()), OutcomeKind::Error);
    assert_eq!(kind(caller.call(&1).await.unwrap()), OutcomeKind::Error);
    // Open: skipped without a call.
    let out = caller.call(&1).await.unwrap();
    assert!(matches!(out.get("db"), Some(ImplOutcome::CircuitOpen)));
    assert_eq!(out.entries().next().unwrap().attempts, 0);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Cool-down over: one probe, which fails: open again.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(kind(caller.call(&1).await.unwrap()), OutcomeKind::Error);
    assert_eq!(
        kind(caller.call(&1).await.unwrap()),
        OutcomeKind::CircuitOpen
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Next probe succeeds: closed.
    tokio::time::advance(Duration::from_secs(1)).await;
    healthy.store(true, Ordering::SeqCst);
    assert_eq!(kind(caller.call(&1).await.unwrap()), OutcomeKind::Value);
    assert_eq!(kind(caller.call(&1).await.unwrap()), OutcomeKind::Value);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn bounded_concurrency_never_exceeds_k_and_starts_in_call_order() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(Mutex::new(Vec::new()));
    let pm = HookManager::new();
    for i in 0..10u64 {
        let (f, p, s) = (in_flight.clone(), peak.clone(), started.clone());
        pm.register(&format!("p{i}"), move |r| {
            r.hook_fn::<Compute>(move |_| {
                let (f, p, s) = (f.clone(), p.clone(), s.clone());
                async move {
                    s.lock().unwrap().push(i);
                    let now = f.fetch_add(1, Ordering::SeqCst) + 1;
                    p.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(ms(10)).await;
                    f.fetch_sub(1, Ordering::SeqCst);
                    Ok(Some(i))
                }
                .boxed()
            })
            .priority(i as i32)
            .add()
        })
        .unwrap();
    }
    let t0 = Instant::now();
    let out = pm
        .hook::<Compute>()
        .parallel()
        .max_in_flight(3)
        .call(&0)
        .await
        .unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(t0.elapsed(), ms(40));
    let order: Vec<u64> = (0..10).rev().collect();
    assert_eq!(*started.lock().unwrap(), order);
    assert_eq!(out.into_values(), order, "reported in call order");
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn parallel_firstresult_returns_the_highest_priority_answer_and_cancels_the_rest() {
    hookwire::hookspec! {
        #[firstresult]
        pub struct Pick(()) -> &'static str;
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let ran_after_win = Arc::new(AtomicBool::new(false));
    let pm = HookManager::new();
    let wait = |name: &'static str, t: u64| {
        move |r: &mut Registrar| {
            r.hook_fn::<Pick>(move |_| {
                async move {
                    tokio::time::sleep(ms(t)).await;
                    Ok(Some(name))
                }
                .boxed()
            })
            .priority(match name {
                "high" => 3,
                "fast" => 2,
                _ => 1,
            })
            .add()
        }
    };
    pm.register("high", wait("high", 50)).unwrap();
    pm.register("fast", wait("fast", 10)).unwrap();
    let (d, ran) = (dropped.clone(), ran_after_win.clone());
    pm.register("slowest", move |r| {
        r.hook_fn::<Pick>(move |_| {
            let guard = DropFlag(d.clone());
            let ran = ran.clone();
            async move {
                let _guard = guard;
                tokio::time::sleep(ms(500)).await;
                ran.store(true, Ordering::SeqCst);
                Ok(Some("slowest"))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let t0 = Instant::now();
    let out = pm.hook::<Pick>().parallel().call(&()).await.unwrap();
    assert_eq!(
        t0.elapsed(),
        ms(50),
        "decided as soon as the highest-priority answer came"
    );
    let seen: Vec<(&str, OutcomeKind)> = out.iter().map(|(p, o)| (p, o.kind())).collect();
    assert_eq!(
        seen,
        [
            ("high", OutcomeKind::Value),
            ("fast", OutcomeKind::Value),
            ("slowest", OutcomeKind::Cancelled)
        ]
    );
    assert!(dropped.load(Ordering::SeqCst));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!ran_after_win.load(Ordering::SeqCst));
    assert_eq!(out.into_value(), Some("high"));
}

#[tokio::test(start_paused = true)]
async fn dropping_a_parallel_call_runs_no_impl_code_afterwards() {
    let flipped = Arc::new(AtomicBool::new(false));
    let pm = HookManager::new();
    for i in 0..3 {
        let f = flipped.clone();
        pm.register(&format!("p{i}"), move |r| {
            r.hook_fn::<Compute>(move |_| {
                let f = f.clone();
                async move {
                    tokio::time::sleep(ms(10)).await;
                    f.store(true, Ordering::SeqCst);
                    Ok(Some(1))
                }
                .boxed()
            })
            .add()
        })
        .unwrap();
    }
    let caller = pm.hook::<Compute>().parallel();
    let mut call = Box::pin(caller.call(&0));
    assert!(futures::poll!(call.as_mut()).is_pending());
    drop(call);
    tokio::time::sleep(ms(100)).await;
    assert!(!flipped.load(Ordering::SeqCst));
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_parallel_impl_does_not_cancel_its_siblings() {
    let pm = HookManager::new();
    pm.register("ok1", |r| slow(r, 20, Some(1)).add()).unwrap();
    pm.register("bomb", |r| {
        r.hook_fn::<Compute>(|_| {
            async {
                tokio::time::sleep(ms(5)).await;
                panic!("kaboom")
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("ok2", |r| slow(r, 30, Some(2)).add()).unwrap();
    let out = pm.hook::<Compute>().parallel().call(&0).await.unwrap();
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [2, 1]);
    assert_eq!(
        out.errors().next().unwrap().1.to_string(),
        "panicked: kaboom"
    );
    // Fail-fast cancels the siblings instead.
    let out = pm.hook::<Compute>().parallel().fail_fast().call(&0).await;
    assert!(out.unwrap_err().is_panic());
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_impls_run_off_the_async_worker() {
    hookwire::hookspec! {
        pub struct Crunch(u64) -> u64;
    }
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let rx = Arc::new(Mutex::new(rx));
    let pm = HookManager::new();
    // Blocks its thread until the other task sends: on the runtime's only thread this would
    // deadlock.
    pm.register("cpu", move |r| {
        r.blocking_fn::<Crunch>(move |x| Ok(Some(x + rx.lock().unwrap().recv().unwrap())))
            .add()
    })
    .unwrap();
    pm.register("explodes", |r| {
        r.blocking_fn::<Crunch>(|_| panic!("in the pool")).add()
    })
    .unwrap();
    let sender = tokio::spawn(async move {
        tokio::task::yield_now().await;
        tx.send(40).unwrap();
    });
    let out = tokio::time::timeout(Duration::from_secs(10), pm.hook::<Crunch>().call(&2))
        .await
        .expect("the blocking impl stalled the runtime")
        .unwrap();
    sender.await.unwrap();
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [42]);
    assert_eq!(
        out.errors().next().unwrap().1.to_string(),
        "panicked: in the pool"
    );
}

// Real clock: tokio does not auto-advance a paused clock while a blocking task runs.
#[tokio::test]
async fn a_timed_out_blocking_impl_is_reported() {
    let pm = HookManager::new();
    pm.register("stuck", |r| {
        r.blocking_fn::<Compute>(|_| {
            std::thread::sleep(Duration::from_millis(300));
            Ok(Some(1))
        })
        .timeout(ms(10))
        .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert_eq!(out.iter().next().unwrap().1.kind(), OutcomeKind::TimedOut);
}

#[tokio::test(start_paused = true)]
async fn wrappers_wrap_the_whole_parallel_call() {
    let pm = HookManager::new();
    pm.register("a", |r| slow(r, 20, Some(1)).add()).unwrap();
    pm.register("b", |r| slow(r, 20, Some(2)).add()).unwrap();
    pm.register("sum", |r| {
        r.wrapper_fn::<Compute>(|_, next| {
            async move {
                let me = next.me();
                let mut out = next.run().await;
                let total: u64 = out.values().sum();
                out.push(me, ImplOutcome::Value(total));
                Ok(out)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let t0 = Instant::now();
    let out = pm.hook::<Compute>().parallel().call(&0).await.unwrap();
    assert_eq!(t0.elapsed(), ms(20));
    assert_eq!(out.into_values(), [2, 1, 3]);
}

#[tokio::test(start_paused = true)]
async fn stats_count_every_outcome_per_impl() {
    let pm = HookManager::builder().stats(true).build();
    let t0 = Instant::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    pm.register("flaky", move |r| flaky(r, 1, l, t0).retry(exact(3)).add())
        .unwrap();
    pm.register("bad", |r| {
        r.sync_fn::<Compute>(|_| Err("nope".into())).add()
    })
    .unwrap();
    pm.register("slow", |r| slow(r, 100, Some(1)).timeout(ms(10)).add())
        .unwrap();
    pm.register("bomb", |r| r.sync_fn::<Compute>(|_| panic!("pow")).add())
        .unwrap();
    pm.register("quiet", |r| r.sync_fn::<Compute>(|_| Ok(None)).add())
        .unwrap();
    pm.register("gate", |r| {
        r.sync_fn::<Compute>(|_| Err("down".into()))
            .circuit_breaker(BreakerConfig::new(1, Duration::from_secs(60)))
            .add()
    })
    .unwrap();
    for _ in 0..3 {
        pm.hook::<Compute>().call(&1).await.unwrap();
    }
    let stats = pm.stats();
    let get = |p: &str| stats.get("compute", p).unwrap().clone();
    let flaky = get("flaky");
    assert_eq!((flaky.calls, flaky.answers, flaky.retries), (3, 3, 1));
    let bad = get("bad");
    assert_eq!((bad.calls, bad.errors), (3, 3));
    assert_eq!(bad.last_error.as_deref(), Some("returned an error: nope"));
    assert_eq!(get("slow").timeouts, 3);
    assert_eq!(get("bomb").panics, 3);
    assert_eq!(get("quiet").no_answers, 3);
    let gate = get("gate");
    assert_eq!((gate.errors, gate.circuit_open), (1, 2));
    assert_eq!(gate.breaker, Some(hookwire::policy::BreakerState::Open));
    // Impls with a retry policy or a breaker are always timed; the others are sampled.
    assert_eq!(get("flaky").latency_samples, 3);
    assert_eq!(get("gate").latency_samples, 3);
    // Serialisable for a health endpoint.
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["hooks"][0]["hook"], "compute");

    // A manager built without statistics (the default) reports none.
    let quiet = HookManager::new();
    quiet
        .register("x", |r| r.sync_fn::<Compute>(|_| Ok(None)).add())
        .unwrap();
    quiet.hook::<Compute>().call(&1).await.unwrap();
    assert!(quiet.stats().hooks.is_empty());
}

#[tokio::test(start_paused = true)]
async fn stats_count_cancelled_impls_when_a_call_is_dropped() {
    let pm = HookManager::builder().stats(true).build();
    pm.register("hang", |r| slow(r, 1_000, Some(1)).add())
        .unwrap();
    let caller = pm.hook::<Compute>();
    let mut call = Box::pin(caller.call(&0));
    assert!(futures::poll!(call.as_mut()).is_pending());
    drop(call);
    assert_eq!(pm.stats().get("compute", "hang").unwrap().cancelled, 1);
}

#[tokio::test(start_paused = true)]
async fn the_deadline_bounds_wrappers_too() {
    let pm = HookManager::new();
    pm.register("a", |r| slow(r, 10, Some(1)).add()).unwrap();
    pm.register("dawdler", |r| {
        r.wrapper_fn::<Compute>(|_, next| {
            async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(next.run().await)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let t0 = Instant::now();
    let out = pm
        .hook::<Compute>()
        .deadline(ms(100))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(kinds(&out), [("dawdler".into(), OutcomeKind::TimedOut)]);
}

#[tokio::test]
async fn parallel_calls_stop_starting_impls_after_the_deadline() {
    let pm = HookManager::new();
    pm.register("later", |r| {
        r.sync_fn::<Compute>(|_| Ok(Some(2))).trylast().add()
    })
    .unwrap();
    pm.register("hog", |r| {
        r.sync_fn::<Compute>(|_| {
            std::thread::sleep(Duration::from_millis(30));
            Ok(Some(1))
        })
        .add()
    })
    .unwrap();
    let out = pm
        .hook::<Compute>()
        .parallel()
        .deadline(ms(5))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(
        kinds(&out),
        [
            ("hog".into(), OutcomeKind::Value),
            ("later".into(), OutcomeKind::TimedOut)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_fail_fast_stops_where_sequential_would() {
    hookwire::hookspec! {
        #[firstresult]
        pub struct First(()) -> u8;
    }
    let pm = HookManager::new();
    pm.register("answers-later", |r| {
        r.hook_fn::<First>(|_| {
            async {
                tokio::time::sleep(ms(10)).await;
                Ok(Some(1))
            }
            .boxed()
        })
        .tryfirst()
        .add()
    })
    .unwrap();
    pm.register("fails-now", |r| {
        r.sync_fn::<First>(|_| Err("no".into())).trylast().add()
    })
    .unwrap();
    let seq = pm.hook::<First>().fail_fast().call(&()).await.unwrap();
    let par = pm
        .hook::<First>()
        .parallel()
        .fail_fast()
        .call(&())
        .await
        .unwrap();
    assert_eq!(seq.into_value(), Some(1));
    assert_eq!(par.into_value(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn huge_durations_do_not_panic() {
    let pm = HookManager::new();
    pm.register("flaky", |r| {
        r.sync_fn::<Compute>(|_| Err(Retryable::new("x").into()))
            .retry(
                RetryPolicy::new(3)
                    .backoff(Duration::MAX, Duration::MAX)
                    .unbudgeted(),
            )
            .circuit_breaker(BreakerConfig::new(100, Duration::MAX))
            .add()
    })
    .unwrap();
    // A deadline too far to represent is no deadline; the (paused) clock runs through the
    // enormous backoffs.
    let out = pm
        .hook::<Compute>()
        .deadline(Duration::MAX)
        .call(&0)
        .await
        .unwrap();
    assert_eq!(out.entries().next().unwrap().attempts, 3);
    let out = pm
        .hook::<Compute>()
        .deadline(ms(10))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(
        out.entries().next().unwrap().attempts,
        1,
        "no room to retry"
    );
}

#[test]
fn a_blocking_impl_outside_a_runtime_fails_alone() {
    let pm = HookManager::new();
    pm.register("pool", |r| r.blocking_fn::<Compute>(|x| Ok(Some(*x))).add())
        .unwrap();
    pm.register("plain", |r| r.sync_fn::<Compute>(|x| Ok(Some(*x))).add())
        .unwrap();
    let out = futures::executor::block_on(pm.hook::<Compute>().call(&3)).unwrap();
    assert_eq!(out.values().copied().collect::<Vec<_>>(), [3]);
    assert!(out.get("pool").unwrap().failure().unwrap().is_panic());
}

hookwire::hookspec! {
    /// Sync impls only: collect-all calls take the tight loop (one count per call).
    #[name = "tally"]
    pub struct Tally(u64) -> u64;
}

hookwire::hookspec! {
    /// An impl that never answers, for dropped calls.
    #[name = "hang"]
    pub struct Hang(u64) -> u64;
}

/// `(calls, answers, no_answers, errors, timeouts, panics, circuit_open, cancelled, retries)`.
fn counts(s: &hookwire::stats::ImplStatsSnapshot) -> [u64; 9] {
    [
        s.calls,
        s.answers,
        s.no_answers,
        s.errors,
        s.timeouts,
        s.panics,
        s.circuit_open,
        s.cancelled,
        s.retries,
    ]
}

fn count_of(xs: impl Iterator<Item = u64>, pred: impl Fn(u64) -> bool) -> u64 {
    xs.filter(|&x| pred(x)).count() as u64
}

/// Exact counts from many tasks on a multi-thread runtime and from short-lived threads (more
/// of them alive at once than a statistics record keeps inline), across every path that counts:
/// the tight sync loop (one count per call), its fail-fast variant (per impl), the per-impl
/// loop (exclusion), async fast and general paths (retries, timeouts, a breaker), and calls
/// dropped while pending; while the impl list is replaced under the running calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stats_are_exact_from_many_threads() {
    const TASKS: u64 = 8;
    const CALLS: u64 = 500;
    const THREADS: u64 = 12;
    const THREAD_CALLS: u64 = 200;
    const HANGS: u64 = 25;
    let pm = HookManager::builder().stats(true).build();

    // Compute: sync and async impls, with policies.
    let sync_impl = |r: &mut Registrar, f: fn(u64) -> Result<Option<u64>, &'static str>| {
        r.sync_fn::<Compute>(move |x| f(*x).map_err(Into::into))
            .add()
    };
    pm.register("ok", |r| sync_impl(r, |x| Ok(Some(x))))
        .unwrap();
    pm.register("none", |r| sync_impl(r, |_| Ok(None))).unwrap();
    pm.register("err", |r| {
        sync_impl(r, |x| {
            if x % 3 == 0 {
                Err("three")
            } else {
                Ok(Some(x))
            }
        })
    })
    .unwrap();
    pm.register("bomb", |r| {
        r.sync_fn::<Compute>(|x| {
            assert!(*x % 997 != 1, "pow");
            Ok(Some(*x))
        })
        .add()
    })
    .unwrap();
    pm.register("later", |r| {
        r.hook_fn::<Compute>(|x| {
            let x = *x;
            async move {
                if x % 2 == 0 {
                    tokio::task::yield_now().await;
                }
                Ok(Some(x))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("retry", |r| {
        r.hook_fn::<Compute>(|x| {
            let x = *x;
            async move {
                if x % 250 == 0 {
                    Err(Retryable::new("again").into())
                } else {
                    Ok(Some(x))
                }
            }
            .boxed()
        })
        .retry(
            RetryPolicy::new(3)
                .backoff(ms(1), ms(1))
                .no_jitter()
                .unbudgeted(),
        )
        .add()
    })
    .unwrap();
    pm.register("slow", |r| {
        r.hook_fn::<Compute>(|x| {
            let x = *x;
            async move {
                if x % 500 == 7 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok(Some(x))
            }
            .boxed()
        })
        .timeout(ms(20))
        .add()
    })
    .unwrap();
    pm.register("gate", |r| {
        r.sync_fn::<Compute>(|_| Err("down".into()))
            .circuit_breaker(BreakerConfig::new(1, Duration::from_secs(3600)))
            .add()
    })
    .unwrap();
    // Tally: sync impls only; "t_err" runs first, so a fail-fast call stops there.
    pm.register("t_ok", |r| r.sync_fn::<Tally>(|x| Ok(Some(*x))).add())
        .unwrap();
    pm.register("t_none", |r| {
        r.sync_fn::<Tally>(|x| Ok((*x % 2 == 1).then_some(*x)))
            .add()
    })
    .unwrap();
    pm.register("t_err", |r| {
        r.sync_fn::<Tally>(|x| {
            if *x % 7 == 0 {
                Err("seven".into())
            } else {
                Ok(Some(*x))
            }
        })
        .tryfirst()
        .add()
    })
    .unwrap();
    pm.register("hang", |r| {
        r.hook_fn::<Hang>(|_| futures::future::pending().boxed())
            .add()
    })
    .unwrap();

    let compute = pm.hook::<Compute>();
    let tally = pm.hook::<Tally>();
    // An outcome keeps its impl list alive: the list replaced below stays counted meanwhile.
    let held = tally.call(&1).await.unwrap();
    let progress = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (compute, tally, progress) = (compute.clone(), tally.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            for x in t * CALLS..(t + 1) * CALLS {
                compute.call(&x).await.unwrap();
                tally.call(&x).await.unwrap();
                let _ = tally.clone().fail_fast().call(&x).await;
                tally.clone().excluding(["t_none"]).call(&x).await.unwrap();
                progress.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let reach = |part: u64| {
        let progress = progress.clone();
        async move {
            while progress.load(Ordering::Relaxed) < TASKS * CALLS * part / 4 {
                tokio::time::sleep(ms(1)).await;
            }
        }
    };
    // Threads that all live at once, so that their lanes are distinct and go past the inline ones.
    let barrier = Arc::new(std::sync::Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (tally, barrier) = (tally.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..THREAD_CALLS {
                    let x = 1_000_000 + t * THREAD_CALLS + i;
                    futures::executor::block_on(tally.call(&x)).unwrap();
                }
                barrier.wait();
            })
        })
        .collect();
    // Replace the lists while calls run (a new plugin on both hooks), then retire it.
    reach(1).await;
    let late = pm
        .register("late", |r| {
            r.sync_fn::<Tally>(|x| Ok(Some(*x))).add()?;
            r.sync_fn::<Compute>(|x| Ok(Some(*x))).add()
        })
        .unwrap();
    reach(2).await;
    assert!(pm.unregister(&late));
    // Calls dropped while their impl waits.
    let hang = pm.hook::<Hang>();
    for x in 0..HANGS {
        let mut call = Box::pin(hang.call(&x));
        assert!(futures::poll!(call.as_mut()).is_pending());
    }
    for t in tasks {
        t.await.unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }

    let check = |stats: &hookwire::stats::StatsSnapshot| {
        let get = |hook: &str, p: &str| counts(stats.get(hook, p).unwrap());
        let n = TASKS * CALLS;
        let xs = || 0..n;
        let threes = count_of(xs(), |x| x % 3 == 0);
        let bombs = count_of(xs(), |x| x % 997 == 1);
        let retried = count_of(xs(), |x| x % 250 == 0);
        let slow = count_of(xs(), |x| x % 500 == 7);
        assert_eq!(get("compute", "ok"), [n, n, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(get("compute", "none"), [n, 0, n, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            get("compute", "err"),
            [n, n - threes, 0, threes, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            get("compute", "bomb"),
            [n, n - bombs, 0, 0, 0, bombs, 0, 0, 0]
        );
        assert_eq!(get("compute", "later"), [n, n, 0, 0, 0, 0, 0, 0, 0]);
        let r = [n, n - retried, 0, retried, 0, 0, 0, 0, 2 * retried];
        assert_eq!(get("compute", "retry"), r);
        assert_eq!(
            get("compute", "slow"),
            [n, n - slow, 0, 0, slow, 0, 0, 0, 0]
        );
        let gate = get("compute", "gate");
        assert_eq!((gate[0], gate[1], gate[3] + gate[6]), (n, 0, n));
        assert!(gate[3] >= 1 && gate[6] >= 1, "{gate:?}");

        // Tally: plain calls (tasks, threads, the held one), fail-fast calls (stopped by
        // "t_err" on multiples of 7), calls excluding "t_none".
        let plain = || {
            (0..n)
                .chain(1_000_000..1_000_000 + THREADS * THREAD_CALLS)
                .chain([1])
        };
        let p = n + THREADS * THREAD_CALLS + 1;
        let sevens = count_of(plain(), |x| x % 7 == 0);
        let odd = count_of(plain(), |x| x % 2 == 1);
        let ff_sevens = count_of(xs(), |x| x % 7 == 0);
        let ff_odd_reached = count_of(xs(), |x| x % 7 != 0 && x % 2 == 1);
        let calls = p + 2 * n - ff_sevens; // plain + exclusion + fail-fast past "t_err"
        let t_ok = [calls, calls, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(get("tally", "t_ok"), t_ok);
        let t_none_calls = p + n - ff_sevens;
        let t_none_answers = odd + ff_odd_reached;
        let t_none = [t_none_calls, t_none_answers, t_none_calls - t_none_answers];
        assert_eq!(get("tally", "t_none")[..3], t_none);
        let t_err_errors = sevens + 2 * ff_sevens;
        let t_err = [p + 2 * n, p + 2 * n - t_err_errors, 0, t_err_errors];
        assert_eq!(get("tally", "t_err")[..4], t_err);
        assert_eq!(get("hang", "hang"), [HANGS, 0, 0, 0, 0, 0, 0, HANGS, 0]);
        for hook in &stats.hooks {
            for s in &hook.impls {
                assert!(
                    s.latency_samples >= 1,
                    "{} of {}: no sample",
                    s.plugin,
                    hook.hook
                );
                assert!(s.p50_us.is_some() && s.p99_us.is_some(), "{s:?}");
            }
        }
        let err = stats.get("compute", "err").unwrap();
        assert_eq!(err.last_error.as_deref(), Some("returned an error: three"));
    };
    check(&pm.stats());
    // Once the old list is gone, what its tally counted is kept.
    drop(held);
    check(&pm.stats());
}

#[tokio::test]
async fn statistics_are_those_of_the_plain_impls_not_the_wrappers() {
    let pm = HookManager::builder().stats(true).build();
    pm.register("p", |r| {
        r.wrapper_fn::<Compute>(|_, next| async move { Ok(next.run().await) }.boxed())
            .add()?;
        r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add()
    })
    .unwrap();
    for _ in 0..3 {
        pm.hook::<Compute>().call(&1).await.unwrap();
    }
    let stats = pm.stats();
    let rows: Vec<(&str, u64)> = stats.hooks[0]
        .impls
        .iter()
        .map(|i| (i.plugin.as_str(), i.calls))
        .collect();
    assert_eq!(rows, [("p", 3)], "one row, the plain impl's");
    assert_eq!(stats.get("compute", "p").unwrap().calls, 3);
}
