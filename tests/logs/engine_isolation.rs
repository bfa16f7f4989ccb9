//! Impl futures whose `Drop` panics: wherever the engine drops one (after it finished, by its
//! timeout, the call's deadline, a first-result or fail-fast stop, or with the whole call), the
//! panic stays inside the isolation — it becomes that impl's outcome, or is logged when no
//! outcome is left to carry it — and never reaches the caller. On tokio's paused clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use hookspecs::Compute;
use hookwire::{
    hook::ImplBuilder, policy::RetryPolicy, CallError, FutureExt, HookFailure, HookManager,
    HookOutcome, ImplOutcome, Registrar,
};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

hookwire::hookspec! {
    #[firstresult]
    pub struct First(u64) -> u64;
}

/// The message an impl's outcome carries when its future panicked while being dropped.
const DROP_PANIC: &str = "drop boom (while its future was dropped)";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A future whose `Drop` panics, whatever state it is in.
struct Bomb<'a, T>(BoxFuture<'a, T>);

impl<T> Future for Bomb<'_, T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.0.as_mut().poll(cx)
    }
}

impl<T> Drop for Bomb<'_, T> {
    fn drop(&mut self) {
        panic!("drop boom");
    }
}

/// The future of an impl that waits `wait` ms (0: answers at once) then answers `value`, and
/// panics when dropped.
fn bomb_future(wait: u64, value: Option<u64>) -> BoxFuture<'static, hookwire::HookReturn<u64>> {
    Bomb(
        async move {
            if wait > 0 {
                tokio::time::sleep(ms(wait)).await;
            }
            Ok(value)
        }
        .boxed(),
    )
    .boxed()
}

fn bomb(r: &mut Registrar, wait: u64, value: Option<u64>) -> ImplBuilder<'_> {
    r.hook_fn::<Compute>(move |_| bomb_future(wait, value))
}

fn bomb_first(r: &mut Registrar, wait: u64, value: Option<u64>) -> ImplBuilder<'_> {
    r.hook_fn::<First>(move |_| bomb_future(wait, value))
}

/// A well-behaved impl that waits `wait` ms then answers `value`.
fn plain_first(r: &mut Registrar, wait: u64, value: Option<u64>) -> ImplBuilder<'_> {
    r.hook_fn::<First>(move |_| {
        async move {
            tokio::time::sleep(ms(wait)).await;
            Ok(value)
        }
        .boxed()
    })
}

fn panic_of<'a, T>(out: &'a HookOutcome<T>, plugin: &str) -> Option<&'a str> {
    match out.get(plugin) {
        Some(ImplOutcome::Failed(HookFailure::Panic(msg))) => Some(msg),
        _ => None,
    }
}

/// A manager whose impls all take the general path (`ImplRun`): statistics on.
fn counted() -> HookManager {
    HookManager::builder().stats(true).build()
}

#[tokio::test(start_paused = true)]
async fn a_future_panicking_in_drop_after_answering_at_once_is_that_impls_panic() {
    let _trace = errors_only();
    for pm in [HookManager::new(), counted()] {
        pm.register("bomb", |r| bomb(r, 0, Some(1)).add()).unwrap();
        pm.register("after", |r| {
            r.sync_fn::<Compute>(|_| Ok(Some(2))).trylast().add()
        })
        .unwrap();
        let out = pm.hook::<Compute>().call(&0).await.unwrap();
        assert_eq!(panic_of(&out, "bomb"), Some(DROP_PANIC));
        assert_eq!(out.values().copied().collect::<Vec<_>>(), [2]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_future_panicking_in_drop_after_waiting_is_that_impls_panic() {
    let _trace = errors_only();
    // Without statistics the sequential loop polls the waiting impl itself; with them, and
    // with a policy, an `ImplRun` does; the parallel loop always uses one.
    for (pm, parallel) in [
        (HookManager::new(), false),
        (counted(), false),
        (HookManager::new(), true),
    ] {
        pm.register("bomb", |r| bomb(r, 10, Some(1)).add()).unwrap();
        pm.register("policy", |r| {
            bomb(r, 10, Some(3))
                .retry(RetryPolicy::new(1))
                .trylast()
                .add()
        })
        .unwrap();
        let caller = pm.hook::<Compute>();
        let caller = if parallel { caller.parallel() } else { caller };
        let out = caller.call(&0).await.unwrap();
        assert_eq!(
            panic_of(&out, "bomb"),
            Some(DROP_PANIC),
            "parallel: {parallel}"
        );
        assert_eq!(
            panic_of(&out, "policy"),
            Some(DROP_PANIC),
            "parallel: {parallel}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_future_panicking_in_drop_when_its_timeout_drops_it_is_that_impls_panic() {
    let _trace = errors_only();
    for (pm, parallel) in [
        (HookManager::new(), false),
        (counted(), false),
        (HookManager::new(), true),
    ] {
        pm.register("slow", |r| bomb(r, 1_000, Some(1)).timeout(ms(50)).add())
            .unwrap();
        pm.register("slow-retried", |r| {
            bomb(r, 1_000, Some(2))
                .timeout(ms(50))
                .retry(RetryPolicy::new(1))
                .trylast()
                .add()
        })
        .unwrap();
        // A zero timeout fires at the first poll, in the fast path itself.
        pm.register("zero", |r| {
            bomb(r, 1_000, Some(3)).timeout(ms(0)).tryfirst().add()
        })
        .unwrap();
        let caller = pm.hook::<Compute>();
        let caller = if parallel { caller.parallel() } else { caller };
        let out = caller.call(&0).await.unwrap();
        for plugin in ["zero", "slow", "slow-retried"] {
            assert_eq!(
                panic_of(&out, plugin),
                Some(DROP_PANIC),
                "{plugin}, parallel: {parallel}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_future_panicking_in_drop_when_the_deadline_cuts_it_off_stays_cut_off_by_the_deadline() {
    let _trace = errors_only();
    for (pm, parallel) in [
        (HookManager::new(), false),
        (counted(), false),
        (HookManager::new(), true),
    ] {
        pm.register("stuck", |r| bomb(r, 10_000, Some(1)).add())
            .unwrap();
        pm.register("late", |r| {
            r.sync_fn::<Compute>(|_| Ok(Some(2))).trylast().add()
        })
        .unwrap();
        let caller = pm.hook::<Compute>().deadline(ms(100));
        let caller = if parallel { caller.parallel() } else { caller };
        let t0 = tokio::time::Instant::now();
        let out = caller.call(&0).await.unwrap();
        assert_eq!(t0.elapsed(), ms(100));
        // The deadline decided its outcome before the drop: that stays (the call says it was
        // cut short), and the drop's panic is caught and logged, never the caller's.
        assert!(
            matches!(
                out.get("stuck"),
                Some(ImplOutcome::Failed(HookFailure::DeadlineExceeded {
                    started: true,
                    ..
                }))
            ),
            "parallel: {parallel}: {out:?}"
        );
        assert!(out.deadline_exceeded());
        if !parallel {
            // Not started when the deadline passed.
            assert!(matches!(
                out.get("late"),
                Some(ImplOutcome::Failed(HookFailure::DeadlineExceeded {
                    started: false,
                    ..
                }))
            ));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_future_panicking_in_drop_when_a_first_result_stop_drops_it_is_that_impls_panic() {
    let _trace = errors_only();
    let pm = HookManager::new();
    pm.register("low", |r| bomb_first(r, 1_000, Some(2)).trylast().add())
        .unwrap();
    pm.register("high", |r| plain_first(r, 10, Some(1)).tryfirst().add())
        .unwrap();
    let out = pm.hook::<First>().parallel().call(&0).await.unwrap();
    assert_eq!(panic_of(&out, "low"), Some(DROP_PANIC));
    assert_eq!(out.into_value(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_future_panicking_in_drop_when_a_fail_fast_stop_drops_it_does_not_change_the_error() {
    let _trace = errors_only();
    let pm = HookManager::new();
    pm.register("low", |r| bomb(r, 1_000, Some(2)).trylast().add())
        .unwrap();
    pm.register("failing", |r| {
        r.hook_fn::<Compute>(|_| {
            async {
                tokio::time::sleep(ms(10)).await;
                Err("broken".into())
            }
            .boxed()
        })
        .tryfirst()
        .add()
    })
    .unwrap();
    let err = pm
        .hook::<Compute>()
        .parallel()
        .fail_fast()
        .call(&0)
        .await
        .unwrap_err();
    match err {
        CallError::ImplFailed {
            plugin, failure, ..
        } => {
            assert_eq!(&*plugin, "failing");
            assert_eq!(failure.to_string(), "returned an error: broken");
        }
        other => panic!("unexpected error: {other}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_drop_after_a_panic_in_poll_keeps_the_first_panic() {
    let _trace = errors_only();
    let pm = HookManager::new();
    pm.register("twice", |r| {
        r.hook_fn::<Compute>(|_| Bomb(async { panic!("poll boom") }.boxed()).boxed())
            .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert_eq!(panic_of(&out, "twice"), Some("poll boom"));
}

// --- the whole call dropped by its caller ---

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Records `ERROR` events only (so the engine's fast paths, taken when no subscriber wants
/// `trace` spans, stay in use).
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

impl<S: tracing::Subscriber> Layer<S> for Errors {
    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        *metadata.level() == tracing::Level::ERROR
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::ERROR)
    }
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(fields);
    }
}

/// Every test of this file runs under an error-recording subscriber, even those that do not
/// read it: a thread with none that reaches a logging callsite first could otherwise have
/// tracing cache that callsite as uninteresting while another test installs its subscriber
/// (tracing's interest cache is global), and that test would miss its events.
fn errors_only() -> tracing::subscriber::DefaultGuard {
    tracing::subscriber::set_default(tracing_subscriber::registry().with(Errors::default()))
}

#[tokio::test(start_paused = true)]
async fn a_future_panicking_in_drop_when_the_call_is_dropped_is_caught_and_logged() {
    let _trace = errors_only();
    let errors = Errors::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    for (pm, parallel) in [
        (HookManager::new(), false),
        (counted(), false),
        (HookManager::new(), true),
    ] {
        errors.0.lock().unwrap().clear();
        pm.register("waiting", |r| bomb(r, 1_000, Some(1)).add())
            .unwrap();
        if parallel {
            pm.register("policy", |r| {
                bomb(r, 1_000, Some(2))
                    .retry(RetryPolicy::new(1))
                    .trylast()
                    .add()
            })
            .unwrap();
        }
        let caller = pm.hook::<Compute>();
        let caller = if parallel { caller.parallel() } else { caller };
        // The call is dropped by the timeout while its impls wait.
        let cut = tokio::time::timeout(ms(10), caller.call(&0)).await;
        assert!(cut.is_err(), "the call was still running");
        let logged = errors.0.lock().unwrap().clone();
        let mut plugins: Vec<&str> = logged.iter().map(|e| e["plugin"].as_str()).collect();
        plugins.sort_unstable();
        let expected: &[&str] = if parallel {
            &["policy", "waiting"]
        } else {
            &["waiting"]
        };
        assert_eq!(plugins, expected, "parallel: {parallel}");
        for e in &logged {
            assert_eq!(e["panic"], DROP_PANIC);
            assert!(
                e["message"].contains("dropped with its call"),
                "{}",
                e["message"]
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_future_panicking_in_drop_when_the_call_is_dropped_counts_as_its_panic() {
    let _trace = errors_only();
    let pm = counted();
    pm.register("waiting", |r| bomb(r, 1_000, Some(1)).add())
        .unwrap();
    let cut = tokio::time::timeout(ms(10), pm.hook::<Compute>().call(&0)).await;
    assert!(cut.is_err());
    let stats = pm.stats();
    let s = stats
        .get("compute", "waiting")
        .expect("statistics of `waiting`");
    assert_eq!(s.panics, 1, "{s:?}");
}

#[tokio::test(start_paused = true)]
async fn a_wrapper_future_panicking_in_drop_after_it_finished_is_the_wrappers_failure() {
    let _trace = errors_only();
    let pm = HookManager::new();
    pm.register("inner", |r| r.sync_fn::<Compute>(|_| Ok(Some(1))).add())
        .unwrap();
    pm.register("wrap", |r| {
        r.wrapper_fn::<Compute>(|_, next| Bomb(async move { Ok(next.run().await) }.boxed()).boxed())
            .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(panic_of(&out, "wrap"), Some(DROP_PANIC));
}

#[tokio::test(start_paused = true)]
async fn a_wrapper_future_panicking_in_drop_when_the_call_is_dropped_is_caught_and_logged() {
    let _trace = errors_only();
    let errors = Errors::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let pm = HookManager::new();
    pm.register("inner", |r| bomb(r, 1_000, Some(1)).add())
        .unwrap();
    pm.register("wrap", |r| {
        r.wrapper_fn::<Compute>(|_, next| Bomb(async move { Ok(next.run().await) }.boxed()).boxed())
            .add()
    })
    .unwrap();
    let cut = tokio::time::timeout(ms(10), pm.hook::<Compute>().call(&0)).await;
    assert!(cut.is_err(), "the call was still running");
    let mut plugins: Vec<String> = errors
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|e| e["plugin"].clone())
        .collect();
    plugins.sort_unstable();
    assert_eq!(plugins, ["inner", "wrap"]);
}
