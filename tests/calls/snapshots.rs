//! Calls run on the impl list as it was when they started; registration never waits for calls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hookspecs::Compute;
use hookwire::{FutureExt, HookManager};
use tokio::sync::Notify;

#[tokio::test]
async fn registration_during_a_call_affects_later_calls_only() {
    let pm = HookManager::new();
    let gate = Arc::new(Notify::new());
    let g = gate.clone();
    pm.register("waiting", move |r| {
        let g = g.clone();
        r.hook_fn::<Compute>(move |x| {
            let g = g.clone();
            let x = *x;
            async move {
                g.notified().await;
                Ok(Some(x))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let caller = pm.hook::<Compute>();
    let mut call = Box::pin(caller.call(&1));
    assert!(futures::poll!(call.as_mut()).is_pending());

    // While the call is in flight: a new plugin arrives and the running one leaves.
    pm.register("newcomer", |r| {
        r.sync_fn::<Compute>(|x| Ok(Some(x + 100))).trylast().add()
    })
    .unwrap();
    assert!(pm.unregister_name("waiting"));

    gate.notify_one();
    let out = call.await.unwrap();
    assert_eq!(out.answers().collect::<Vec<_>>(), [("waiting", &1)]);
    let later = pm.hook::<Compute>().call(&1).await.unwrap();
    assert_eq!(later.answers().collect::<Vec<_>>(), [("newcomer", &101)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_calls_while_another_task_registers_and_unregisters() {
    let pm = HookManager::new();
    for i in 0..8 {
        pm.register(&format!("stable{i}"), |r| {
            r.sync_fn::<Compute>(|x| Ok(Some(*x))).add()
        })
        .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let pm = pm.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let h = pm
                    .register("churn", |r| {
                        r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).tryfirst().add()
                    })
                    .unwrap();
                tokio::task::yield_now().await;
                assert!(pm.unregister(&h));
                n += 1;
            }
            n
        })
    };
    let caller = pm.hook::<Compute>();
    let (mut with, mut without) = (0, 0);
    for _ in 0..5_000 {
        let out = caller.call(&1).await.unwrap();
        // Each call sees one consistent snapshot: all stable impls, churn either fully in or out.
        let values: Vec<u64> = out.values().copied().collect();
        match values.len() {
            9 => {
                assert_eq!(values[0], 2, "churn is tryfirst");
                assert!(values[1..].iter().all(|v| *v == 1));
                with += 1;
            }
            8 => {
                assert!(values.iter().all(|v| *v == 1));
                without += 1;
            }
            n => panic!("inconsistent snapshot with {n} impls"),
        }
        if (with + without) % 64 == 0 {
            tokio::task::yield_now().await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = churn.await.unwrap();
    assert!(rounds > 0);
    assert_eq!(with + without, 5_000);
    assert!(!pm.is_registered("churn"));
}
