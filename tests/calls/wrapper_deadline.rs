//! A call's deadline passing while wrappers and the impls inside them run (paused clock): the
//! entries of the impls that finished are kept in their plugins' names, the impls still
//! running and every wrapper still running are reported as cut off.

use std::time::Duration;

use hookspecs::Compute;
use hookwire::{
    hook::ImplBuilder, outcome::OutcomeKind, FutureExt, HookFailure, HookManager, HookOutcome,
    ImplOutcome, Registrar,
};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every entry as `(plugin, kind, value)`, in call order.
fn entries(out: &HookOutcome<u64>) -> Vec<(String, OutcomeKind, Option<u64>)> {
    out.iter()
        .map(|(p, o)| (p.to_owned(), o.kind(), o.value().copied()))
        .collect()
}

fn entry(p: &str, kind: OutcomeKind, v: Option<u64>) -> (String, OutcomeKind, Option<u64>) {
    (p.to_owned(), kind, v)
}

use OutcomeKind::{TimedOut, Value};

/// An async impl that answers `value` after `wait` ms.
fn slow(r: &mut Registrar, wait: u64, value: u64) -> ImplBuilder<'_> {
    r.hook_fn::<Compute>(move |_| {
        async move {
            tokio::time::sleep(ms(wait)).await;
            Ok(Some(value))
        }
        .boxed()
    })
}

/// In call order: `quick` (answers 1 after 10 ms), `stuck` (would answer after 10 s), and
/// `late` (answers 3 after 10 ms, trylast), wrapped by `wrapper` (`slow_post`: sleeps an
/// hour after `next.run()`, as a wrapper that logs somewhere slow would).
fn manager(slow_post: bool) -> HookManager {
    let pm = HookManager::new();
    pm.register("late", |r| slow(r, 10, 3).trylast().add())
        .unwrap();
    pm.register("stuck", |r| slow(r, 10_000, 2).add()).unwrap();
    pm.register("quick", |r| slow(r, 10, 1).tryfirst().add())
        .unwrap();
    pm.register("wrapper", move |r| {
        r.wrapper_fn::<Compute>(move |_, next| {
            async move {
                let outcome = next.run().await;
                if slow_post {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok(outcome)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    pm
}

fn is_cut(o: &ImplOutcome<u64>, started: bool) -> bool {
    matches!(
        o,
        ImplOutcome::Failed(HookFailure::DeadlineExceeded { deadline, started: s })
            if *deadline == ms(100) && *s == started
    )
}

#[tokio::test(start_paused = true)]
async fn a_wrapper_cut_off_keeps_the_entries_of_the_impls_inside_it() {
    for slow_post in [true, false] {
        let pm = manager(slow_post);
        let t0 = Instant::now();
        let out = pm
            .hook::<Compute>()
            .deadline(ms(100))
            .call(&0)
            .await
            .unwrap();
        assert_eq!(t0.elapsed(), ms(100), "slow_post: {slow_post}");
        assert_eq!(
            entries(&out),
            [
                entry("wrapper", TimedOut, None),
                entry("quick", Value, Some(1)),
                entry("stuck", TimedOut, None),
                entry("late", TimedOut, None),
            ],
            "slow_post: {slow_post}"
        );
        assert!(out.deadline_exceeded());
        let cut: Vec<(&str, bool)> = out
            .iter()
            .filter(|(_, o)| o.is_failed())
            .map(|(p, o)| (p, is_cut(o, true)))
            .collect();
        assert_eq!(cut, [("wrapper", true), ("stuck", true), ("late", false)]);
        let msgs: Vec<String> = out.errors().map(|(_, f)| f.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "was cut off by the call's deadline of 100ms",
                "was cut off by the call's deadline of 100ms",
                "did not start before the call's deadline of 100ms"
            ]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn in_parallel_mode_too() {
    let pm = manager(true);
    let t0 = Instant::now();
    let out = pm
        .hook::<Compute>()
        .parallel()
        .deadline(ms(100))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), ms(100));
    // Everything starts at once, so `late` answers too.
    assert_eq!(
        entries(&out),
        [
            entry("wrapper", TimedOut, None),
            entry("quick", Value, Some(1)),
            entry("stuck", TimedOut, None),
            entry("late", Value, Some(3)),
        ]
    );
    assert!(out.deadline_exceeded());
}

#[tokio::test(start_paused = true)]
async fn every_wrapper_still_running_is_cut_off() {
    let pm = manager(false);
    // Outermost: waits for the inner call, then would dawdle.
    pm.register("outer", |r| {
        r.wrapper_fn::<Compute>(|_, next| {
            async move {
                let outcome = next.run().await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(outcome)
            }
            .boxed()
        })
        .tryfirst()
        .add()
    })
    .unwrap();
    let out = pm
        .hook::<Compute>()
        .deadline(ms(100))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(
        entries(&out),
        [
            entry("outer", TimedOut, None),
            entry("wrapper", TimedOut, None),
            entry("quick", Value, Some(1)),
            entry("stuck", TimedOut, None),
            entry("late", TimedOut, None),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_wrapper_cut_off_after_the_inner_call_ended_takes_its_outcome_with_it() {
    // Every impl finished in time and handed its outcome to the wrapper, which holds it when
    // the deadline passes: the entries are the wrapper's, dropped with it.
    let pm = HookManager::new();
    pm.register("quick", |r| r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add())
        .unwrap();
    pm.register("dawdler", |r| {
        r.wrapper_fn::<Compute>(|_, next| {
            async move {
                let outcome = next.run().await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(outcome)
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let out = pm
        .hook::<Compute>()
        .deadline(ms(100))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(entries(&out), [entry("dawdler", TimedOut, None)]);
    assert!(out.deadline_exceeded());
}

#[tokio::test(start_paused = true)]
async fn a_wrapper_dropped_by_the_wrapper_around_it_is_not_reported_as_cut_off() {
    // `outer` gives its inner call 20 ms of its own, then waits an hour; `inner` just runs
    // its inner call, where `stuck` never answers in time. At 20 ms `outer` drops `inner`
    // (with `stuck`): at the call's deadline only `outer` is still running.
    let pm = HookManager::new();
    pm.register("stuck", |r| slow(r, 10_000, 2).add()).unwrap();
    pm.register("inner", |r| {
        r.wrapper_fn::<Compute>(|_, next| async move { Ok(next.run().await) }.boxed())
            .add()
    })
    .unwrap();
    pm.register("outer", |r| {
        r.wrapper_fn::<Compute>(|_, next| {
            async move {
                let _ = tokio::time::timeout(ms(20), next.run()).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err("never".into())
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    let start = Instant::now();
    let out = pm
        .hook::<Compute>()
        .deadline(ms(100))
        .call(&0)
        .await
        .unwrap();
    assert_eq!(start.elapsed(), ms(100));
    assert_eq!(entries(&out), [entry("outer", TimedOut, None)]);
    assert!(is_cut(out.get("outer").unwrap(), true));
    assert!(out.deadline_exceeded());
}
