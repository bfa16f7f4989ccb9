//! Statistics on the ready path: a collect-all call is counted once on its list's tally
//! (as the tight sync loop counts its calls), each outcome other than an answer on its impl;
//! a call handed over to the general loop (an impl waits) is counted per impl instead, never
//! twice.

use hookspecs::Compute;
use hookwire::{FutureExt, HookManager};

fn counts(pm: &HookManager, plugin: &str) -> [u64; 5] {
    let stats = pm.stats();
    let s = stats.get("compute", plugin).unwrap();
    [s.calls, s.answers, s.no_answers, s.errors, s.panics]
}

/// The middle impl waits once on every call: each call starts on the ready path (counted on
/// the tally from the list's second call on) and is handed over to the general loop.
#[tokio::test]
async fn a_ready_call_handed_over_to_the_general_loop_is_counted_once_per_impl() {
    let pm = HookManager::builder().stats(true).build();
    pm.register("last", |r| r.sync_fn::<Compute>(|_| Ok(None)).add())
        .unwrap();
    pm.register("waits", |r| {
        r.hook_fn::<Compute>(|x| {
            let v = *x;
            async move {
                tokio::task::yield_now().await;
                Ok(Some(v))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("first", |r| {
        r.sync_fn::<Compute>(|_| Err("no".into())).add()
    })
    .unwrap();
    for i in 0..10u64 {
        let out = pm.hook::<Compute>().call(&i).await.unwrap();
        assert_eq!(out.values().collect::<Vec<_>>(), [&i]);
    }
    assert_eq!(counts(&pm, "first"), [10, 0, 0, 10, 0]);
    assert_eq!(counts(&pm, "waits"), [10, 10, 0, 0, 0]);
    assert_eq!(counts(&pm, "last"), [10, 0, 10, 0, 0]);
}

/// Many tasks on a multi-thread runtime, every outcome kind, some calls handed over: every
/// counter is exact, and the tally's sampler times impl calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ready_path_statistics_are_exact_from_many_tasks() {
    const TASKS: u64 = 8;
    const CALLS: u64 = 300;
    let pm = HookManager::builder().stats(true).build();
    pm.register("ok", |r| r.sync_fn::<Compute>(|x| Ok(Some(*x))).add())
        .unwrap();
    pm.register("odd-none", |r| {
        r.sync_fn::<Compute>(|x| Ok((*x % 2 == 0).then_some(*x)))
            .add()
    })
    .unwrap();
    pm.register("later", |r| {
        r.hook_fn::<Compute>(|x| {
            let x = *x;
            async move {
                if x % 3 == 0 {
                    tokio::task::yield_now().await;
                }
                Ok(Some(x))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("err", |r| {
        r.sync_fn::<Compute>(|x| {
            if *x % 5 == 0 {
                Err("five".into())
            } else {
                Ok(Some(*x))
            }
        })
        .add()
    })
    .unwrap();
    pm.register("bomb", |r| {
        r.sync_fn::<Compute>(|x| {
            assert!(*x % 97 != 1, "pow");
            Ok(Some(*x))
        })
        .add()
    })
    .unwrap();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let c = pm.hook::<Compute>();
            tokio::spawn(async move {
                for i in 0..CALLS {
                    let x = t * CALLS + i;
                    let out = c.call(&x).await.unwrap();
                    assert_eq!(out.len(), 5);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let n = TASKS * CALLS;
    let xs = || 0..n;
    let count = |pred: fn(u64) -> bool| xs().filter(|&x| pred(x)).count() as u64;
    let odd = count(|x| x % 2 == 1);
    let fives = count(|x| x % 5 == 0);
    let bombs = count(|x| x % 97 == 1);
    assert_eq!(counts(&pm, "ok"), [n, n, 0, 0, 0]);
    assert_eq!(counts(&pm, "odd-none"), [n, n - odd, odd, 0, 0]);
    assert_eq!(counts(&pm, "later"), [n, n, 0, 0, 0]);
    assert_eq!(counts(&pm, "err"), [n, n - fives, 0, fives, 0]);
    assert_eq!(counts(&pm, "bomb"), [n, n - bombs, 0, 0, bombs]);
    let stats = pm.stats();
    for p in ["ok", "odd-none", "later", "err", "bomb"] {
        assert!(stats.get("compute", p).unwrap().latency_samples >= 1, "{p}");
    }
    assert_eq!(
        stats.get("compute", "err").unwrap().last_error.as_deref(),
        Some("returned an error: five")
    );
}
