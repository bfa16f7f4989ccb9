//! Statistics on the ready path when an impl's latency sample is due (a fresh lane times its
//! first call of every impl): the timed call, sync or async, is counted and recorded like any
//! other, and its entry keeps its place in call order.

use hookspecs::{Compute, ComputeFirst};
use hookwire::{outcome::OutcomeKind, FutureExt, HookManager};

fn kinds<T>(out: &hookwire::HookOutcome<T>) -> Vec<(String, OutcomeKind)> {
    out.iter().map(|(p, o)| (p.to_owned(), o.kind())).collect()
}

#[tokio::test]
async fn timed_sync_and_async_impls_on_the_ready_path_are_counted_and_sampled_in_call_order() {
    let pm = HookManager::builder().stats(true).build();
    pm.register("async-answers", |r| {
        r.hook_fn::<Compute>(|x| {
            let v = *x + 1;
            async move { Ok(Some(v)) }.boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("sync-declines", |r| {
        r.sync_fn::<Compute>(|_| Ok(None)).add()
    })
    .unwrap();
    pm.register("async-fails", |r| {
        r.hook_fn::<Compute>(|_| async { Err("broken".into()) }.boxed())
            .add()
    })
    .unwrap();
    for i in 0..3u64 {
        let out = pm.hook::<Compute>().call(&i).await.unwrap();
        assert_eq!(
            kinds(&out),
            [
                ("async-fails".to_owned(), OutcomeKind::Error),
                ("sync-declines".to_owned(), OutcomeKind::NoAnswer),
                ("async-answers".to_owned(), OutcomeKind::Value),
            ]
        );
    }
    let stats = pm.stats();
    let get = |p: &str| {
        let s = stats.get("compute", p).unwrap();
        (s.calls, s.answers, s.no_answers, s.errors)
    };
    assert_eq!(get("async-answers"), (3, 3, 0, 0));
    assert_eq!(get("sync-declines"), (3, 0, 3, 0));
    assert_eq!(get("async-fails"), (3, 0, 0, 3));
    for p in ["async-answers", "sync-declines", "async-fails"] {
        assert!(stats.get("compute", p).unwrap().latency_samples >= 1, "{p}");
    }
    assert_eq!(
        stats
            .get("compute", "async-fails")
            .unwrap()
            .last_error
            .as_deref(),
        Some("returned an error: broken")
    );
}

#[tokio::test]
async fn a_timed_first_result_call_on_the_ready_path_stops_at_the_first_answer() {
    let pm = HookManager::builder().stats(true).build();
    pm.register("second", |r| {
        r.sync_fn::<ComputeFirst>(|x| Ok(Some(x + 2))).add()
    })
    .unwrap();
    pm.register("first", |r| {
        r.hook_fn::<ComputeFirst>(|x| {
            let v = *x + 1;
            async move { Ok(Some(v)) }.boxed()
        })
        .add()
    })
    .unwrap();
    // The first call times "first" (a fresh lane): it must still stop the call.
    let out = pm.hook::<ComputeFirst>().call(&1).await.unwrap();
    assert_eq!(out.into_values(), [2]);
    let stats = pm.stats();
    let first = stats.get("compute_first", "first").unwrap();
    assert_eq!(
        (first.calls, first.answers, first.latency_samples),
        (1, 1, 1)
    );
    assert_eq!(stats.get("compute_first", "second").unwrap().calls, 0);
}
