//! A caller's cached snapshot (checked against the hook's generation on each call) never lets
//! a call run on a list older than the last registration that returned before it started.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use hookspecs::{Compute, ComputeFirst};
use hookwire::{FutureExt, HookManager};

/// Registers version `k`: an async first-result impl and a sync collect-all impl, both
/// answering `k`, run before older versions.
fn register_version(pm: &HookManager, k: u64) -> hookwire::hook::PluginHandle {
    pm.register(&format!("v{k}"), move |r| {
        r.hook_fn::<ComputeFirst>(move |_| async move { Ok(Some(k)) }.boxed())
            .tryfirst()
            .add()?;
        r.sync_fn::<Compute>(move |_| Ok(Some(k))).tryfirst().add()
    })
    .unwrap()
}

#[test]
fn a_call_sees_every_registration_that_returned_before_it_started() {
    let pm = HookManager::builder()
        .spec::<Compute>()
        .spec::<ComputeFirst>()
        .build();
    let mut current = register_version(&pm, 1);
    // The newest version whose registration (and its predecessor's removal) has returned.
    let latest = Arc::new(AtomicU64::new(1));
    let stop = Arc::new(AtomicBool::new(false));

    let callers: Vec<_> = (0..3)
        .map(|t| {
            let (pm, latest, stop) = (pm.clone(), latest.clone(), stop.clone());
            thread::spawn(move || {
                let mut first = pm.hook::<ComputeFirst>();
                let mut all = pm.hook::<Compute>();
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) || calls < 2_000 {
                    // Fresh caches now and then (a clone loads the current snapshot), stale
                    // ones in between: both paths must hold the guarantee.
                    if calls.is_multiple_of(8 + t) {
                        first = first.clone();
                        all = all.clone();
                    }
                    let floor = latest.load(Ordering::SeqCst);
                    let out = futures::executor::block_on(first.call(&0)).unwrap();
                    let answer = out.into_value().expect("some version answers");
                    assert!(answer >= floor, "first-result call on v{answer}, v{floor} had returned");
                    let out = futures::executor::block_on(all.call(&0)).unwrap();
                    let values: Vec<u64> = out.into_values();
                    assert!(!values.is_empty(), "no version in the snapshot");
                    assert!(
                        values.iter().all(|v| *v >= floor),
                        "collect-all call on {values:?}, v{floor} had returned (older ones were removed)"
                    );
                    calls += 1;
                }
                calls
            })
        })
        .collect();

    for k in 2..=400 {
        let next = register_version(&pm, k);
        assert!(pm.unregister(&current));
        current = next;
        latest.store(k, Ordering::SeqCst);
        if k.is_multiple_of(4) {
            // Let the callers run on an unchanged hook for a while (their caches fresh).
            thread::yield_now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        assert!(c.join().unwrap() >= 2_000);
    }
    let last = futures::executor::block_on(pm.hook::<ComputeFirst>().call(&0)).unwrap();
    assert_eq!(last.answers().collect::<Vec<_>>(), [("v400", &400)]);
}

#[tokio::test]
async fn a_caller_made_before_a_change_sees_it_and_its_clone_too() {
    let pm = HookManager::new();
    let caller = pm.hook::<Compute>();
    assert!(caller.call(&1).await.unwrap().is_empty());

    let h = pm
        .register("late", |r| r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    // The caller's cache is stale: the call loads the current snapshot.
    let out = caller.call(&1).await.unwrap();
    assert_eq!(out.answers().collect::<Vec<_>>(), [("late", &2)]);
    // A clone caches the current snapshot.
    let fresh = caller.clone();
    assert_eq!(fresh.call(&2).await.unwrap().into_values(), [3]);

    assert!(pm.unregister(&h));
    assert!(caller.call(&1).await.unwrap().is_empty());
    assert!(
        fresh.call(&1).await.unwrap().is_empty(),
        "a stale cache is never used"
    );
}

#[tokio::test]
async fn a_call_whose_impl_waits_on_the_cached_snapshot_finishes_on_it() {
    let pm = HookManager::new();
    let gate = Arc::new(tokio::sync::Notify::new());
    let g = gate.clone();
    pm.register("waits", move |r| {
        let g = g.clone();
        r.hook_fn::<Compute>(move |x| {
            let (g, x) = (g.clone(), *x);
            async move {
                g.notified().await;
                Ok(Some(x * 10))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("ready", |r| r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    let caller = pm.hook::<Compute>();
    let mut call = Box::pin(caller.call(&4));
    assert!(futures::poll!(call.as_mut()).is_pending());
    // Registration while the call waits changes nothing for it.
    pm.register("newcomer", |r| r.sync_fn::<Compute>(|_| Ok(Some(0))).add())
        .unwrap();
    gate.notify_one();
    let out = call.await.unwrap();
    assert_eq!(
        out.answers().collect::<Vec<_>>(),
        [("ready", &5), ("waits", &40)]
    );
}

#[test]
fn a_call_polled_again_after_it_completed_panics_and_runs_no_impl_again() {
    use std::future::Future;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::task::{Context, Poll};

    let pm = HookManager::new();
    let runs = Arc::new(AtomicU64::new(0));
    let counted = runs.clone();
    pm.register("once", move |r| {
        r.sync_fn::<ComputeFirst>(move |x| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(Some(*x))
        })
        .add()
    })
    .unwrap();
    let caller = pm.hook::<ComputeFirst>();
    let mut call = std::pin::pin!(caller.call(&5));
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    match call.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(outcome)) => assert_eq!(outcome.into_value(), Some(5)),
        other => panic!("a ready impl answers in the first poll, got {other:?}"),
    }
    let again = catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(&mut cx)));
    let panic = again.expect_err("a completed call polled again must panic");
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(message.contains("polled after it completed"), "{message}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}
