//! Statistics through the sequential loop's counted copy: one impl (counted inline in the call
//! future) and several (counted out of line), async impls ready at once.

use hookspecs::{Compute, ComputeFirst};
use hookwire::{outcome::OutcomeKind, FutureExt, HookManager};

#[tokio::test]
async fn statistics_of_a_single_ready_async_impl_count_every_call() {
    let pm = HookManager::builder().stats(true).build();
    pm.register("only", |r| {
        r.hook_fn::<Compute>(|x| {
            let v = *x + 1;
            async move { Ok(Some(v)) }.boxed()
        })
        .add()
    })
    .unwrap();
    for i in 0..5u64 {
        let out = pm.hook::<Compute>().call(&i).await.unwrap();
        assert_eq!(out.into_values(), [i + 1]);
    }
    let stats = pm.stats();
    let only = stats.get("compute", "only").unwrap();
    assert_eq!((only.calls, only.answers, only.no_answers), (5, 5, 0));
}

#[tokio::test]
async fn statistics_of_several_ready_async_impls_count_each_outcome_in_call_order() {
    let pm = HookManager::builder().stats(true).build();
    pm.register("answers", |r| {
        r.hook_fn::<Compute>(|x| {
            let v = *x * 2;
            async move { Ok(Some(v)) }.boxed()
        })
        .add()
    })
    .unwrap();
    pm.register("declines", |r| {
        r.hook_fn::<Compute>(|_| async { Ok(None) }.boxed()).add()
    })
    .unwrap();
    pm.register("fails", |r| {
        r.hook_fn::<Compute>(|_| async { Err("nope".into()) }.boxed())
            .add()
    })
    .unwrap();
    pm.register("panics", |r| {
        r.hook_fn::<Compute>(|_| async { panic!("pow") }.boxed())
            .add()
    })
    .unwrap();
    for _ in 0..3 {
        let out = pm.hook::<Compute>().call(&21).await.unwrap();
        let kinds: Vec<_> = out
            .entries()
            .map(|e| (e.plugin, e.outcome.kind()))
            .collect();
        assert_eq!(
            kinds,
            // The last registered runs first (as in pluggy).
            [
                ("panics", OutcomeKind::Panic),
                ("fails", OutcomeKind::Error),
                ("declines", OutcomeKind::NoAnswer),
                ("answers", OutcomeKind::Value),
            ]
        );
        assert_eq!(out.into_values(), [42]);
    }
    let stats = pm.stats();
    let get = |p: &str| stats.get("compute", p).unwrap().clone();
    let a = get("answers");
    assert_eq!((a.calls, a.answers), (3, 3));
    let d = get("declines");
    assert_eq!((d.calls, d.no_answers), (3, 3));
    let f = get("fails");
    assert_eq!((f.calls, f.errors), (3, 3));
    assert_eq!(f.last_error.as_deref(), Some("returned an error: nope"));
    let p = get("panics");
    assert_eq!((p.calls, p.panics), (3, 3));
}

#[tokio::test]
async fn statistics_of_a_first_result_call_count_only_the_impls_it_ran() {
    let pm = HookManager::builder().stats(true).build();
    // Registered last, "first" runs first (as in pluggy).
    for (name, answer) in [("third", Some(9)), ("second", Some(7)), ("first", None)] {
        pm.register(name, move |r| {
            r.hook_fn::<ComputeFirst>(move |_| async move { Ok(answer) }.boxed())
                .add()
        })
        .unwrap();
    }
    for _ in 0..2 {
        let out = pm.hook::<ComputeFirst>().call(&0).await.unwrap();
        assert_eq!(out.into_values(), [7]);
    }
    let stats = pm.stats();
    let get = |p: &str| stats.get("compute_first", p).map(|s| (s.calls, s.answers));
    assert_eq!(get("first"), Some((2, 0)));
    assert_eq!(get("second"), Some((2, 2)));
    assert_eq!(get("third").unwrap_or((0, 0)), (0, 0));
}
