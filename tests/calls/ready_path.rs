//! The common call (sequential, no wrapper, monitor, statistics, policy, deadline or
//! subscriber) runs its impls inline in its first poll and hands over to the general loop
//! only when an impl waits: the outcomes, their order, where a call stops, isolation and
//! cancellation are the same either way. On tokio's paused clock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hookspecs::{Compute, ComputeFirst};
use hookwire::outcome::OutcomeKind;
use hookwire::{FutureExt, HookFailure, HookManager, HookReturn, HookSpec, ImplOutcome};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An async impl of `S` that waits `wait` ms (not at all for 0), then returns `r`.
fn after<S: HookSpec<Args = u64, Output = u64>>(
    pm: &HookManager,
    plugin: &str,
    wait: u64,
    r: fn() -> HookReturn<u64>,
) {
    pm.register(plugin, |reg| {
        reg.hook_fn::<S>(move |_| {
            async move {
                if wait > 0 {
                    tokio::time::sleep(ms(wait)).await;
                }
                r()
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
}

/// A sync impl of `S` counting its calls in `calls` and answering `v`.
fn counting<S: HookSpec<Args = u64, Output = u64>>(
    pm: &HookManager,
    plugin: &str,
    calls: &Arc<AtomicUsize>,
    v: u64,
) {
    let calls = calls.clone();
    pm.register(plugin, |reg| {
        reg.sync_fn::<S>(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Some(v))
        })
        .add()
    })
    .unwrap();
}

fn kinds<T>(out: &hookwire::HookOutcome<T>) -> Vec<(String, OutcomeKind)> {
    out.iter().map(|(p, o)| (p.to_owned(), o.kind())).collect()
}

#[tokio::test(start_paused = true)]
async fn entries_made_before_an_impl_waits_are_kept_in_call_order_after_it() {
    let pm = HookManager::new();
    // Call order is the reverse of registration (LIFO).
    after::<Compute>(&pm, "ready-last", 0, || Ok(Some(4)));
    after::<Compute>(&pm, "waits", 10, || Ok(Some(3)));
    after::<Compute>(&pm, "declines", 0, || Ok(None));
    after::<Compute>(&pm, "ready-first", 0, || Ok(Some(1)));
    let t0 = tokio::time::Instant::now();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert_eq!(t0.elapsed(), ms(10));
    assert_eq!(
        kinds(&out),
        [
            ("ready-first".to_owned(), OutcomeKind::Value),
            ("declines".to_owned(), OutcomeKind::NoAnswer),
            ("waits".to_owned(), OutcomeKind::Value),
            ("ready-last".to_owned(), OutcomeKind::Value),
        ]
    );
    assert_eq!(out.into_values(), [1, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_first_result_call_stops_at_the_first_impl_that_answers_at_once() {
    let pm = HookManager::new();
    let calls = Arc::new(AtomicUsize::new(0));
    counting::<ComputeFirst>(&pm, "never-asked", &calls, 9);
    after::<ComputeFirst>(&pm, "answers", 0, || Ok(Some(0)));
    after::<ComputeFirst>(&pm, "declines", 0, || Ok(None));
    let out = pm.hook::<ComputeFirst>().call(&0).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        kinds(&out),
        [
            ("declines".to_owned(), OutcomeKind::NoAnswer),
            ("answers".to_owned(), OutcomeKind::Value),
        ]
    );
    assert_eq!(out.into_value(), Some(0), "a falsy value is an answer");
}

#[tokio::test(start_paused = true)]
async fn a_first_result_call_whose_first_impl_waits_then_declines_asks_the_next() {
    let pm = HookManager::new();
    let calls = Arc::new(AtomicUsize::new(0));
    counting::<ComputeFirst>(&pm, "never-asked", &calls, 9);
    after::<ComputeFirst>(&pm, "answers", 0, || Ok(Some(5)));
    after::<ComputeFirst>(&pm, "waits-declines", 10, || Ok(None));
    let out = pm.hook::<ComputeFirst>().call(&0).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        kinds(&out),
        [
            ("waits-declines".to_owned(), OutcomeKind::NoAnswer),
            ("answers".to_owned(), OutcomeKind::Value),
        ]
    );
    assert_eq!(out.into_value(), Some(5));
}

#[tokio::test(start_paused = true)]
async fn a_fail_fast_call_stops_at_the_first_failure_made_at_once() {
    let pm = HookManager::new();
    let calls = Arc::new(AtomicUsize::new(0));
    counting::<Compute>(&pm, "never-asked", &calls, 9);
    after::<Compute>(&pm, "fails", 0, || Err("refused".into()));
    after::<Compute>(&pm, "answers", 0, || Ok(Some(1)));
    let err = pm.hook::<Compute>().fail_fast().call(&0).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(err.plugin(), Some("fails"));
    assert_eq!(
        err.to_string(),
        "impl of hook `compute` in plugin `fails` returned an error: refused"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_an_impl_creates_its_future_is_its_panic_and_the_others_run() {
    let pm = HookManager::new();
    let calls = Arc::new(AtomicUsize::new(0));
    counting::<Compute>(&pm, "after", &calls, 2);
    pm.register("creates-badly", |r| {
        r.hook_fn::<Compute>(|_| -> BoxFuture<'_, HookReturn<u64>> { panic!("no future") })
            .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert!(matches!(
        out.get("creates-badly"),
        Some(ImplOutcome::Failed(HookFailure::Panic(m))) if m == "no future"
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(out.into_values(), [2]);
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_whose_impl_waits_drops_that_impls_future_and_starts_no_other() {
    let pm = HookManager::new();
    let calls = Arc::new(AtomicUsize::new(0));
    counting::<Compute>(&pm, "never-asked", &calls, 9);
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    pm.register("waits", move |r| {
        r.hook_fn::<Compute>(move |_| {
            let guard = DropFlag(flag.clone());
            async move {
                let _guard = guard;
                tokio::time::sleep(ms(10)).await;
                Ok(Some(1))
            }
            .boxed()
        })
        .add()
    })
    .unwrap();
    after::<Compute>(&pm, "ready", 0, || Ok(Some(0)));
    // One poll: "ready" answers, "waits" goes pending; then the call is dropped.
    assert!(pm.hook::<Compute>().call(&0).now_or_never().is_none());
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn statistics_count_every_impl_on_the_ready_path_those_that_wait_included() {
    let pm = HookManager::builder().stats(true).build();
    after::<Compute>(&pm, "fails", 0, || Err("nope".into()));
    after::<Compute>(&pm, "waits", 10, || Ok(Some(2)));
    after::<Compute>(&pm, "declines", 0, || Ok(None));
    after::<Compute>(&pm, "answers", 0, || Ok(Some(1)));
    for _ in 0..3 {
        let out = pm.hook::<Compute>().call(&0).await.unwrap();
        assert_eq!(
            kinds(&out),
            [
                ("answers".to_owned(), OutcomeKind::Value),
                ("declines".to_owned(), OutcomeKind::NoAnswer),
                ("waits".to_owned(), OutcomeKind::Value),
                ("fails".to_owned(), OutcomeKind::Error),
            ]
        );
    }
    // A call dropped while "waits" waits: counted as cancelled; "fails" never started.
    assert!(pm.hook::<Compute>().call(&0).now_or_never().is_none());
    let stats = pm.stats();
    let get = |p: &str| {
        let s = stats.get("compute", p).unwrap();
        (s.calls, s.answers, s.no_answers, s.errors, s.cancelled)
    };
    assert_eq!(get("answers"), (4, 4, 0, 0, 0));
    assert_eq!(get("declines"), (4, 0, 4, 0, 0));
    assert_eq!(get("waits"), (4, 3, 0, 0, 1));
    assert_eq!(get("fails"), (3, 0, 0, 3, 0));
    assert_eq!(
        stats.get("compute", "fails").unwrap().last_error.as_deref(),
        Some("returned an error: nope")
    );
}
