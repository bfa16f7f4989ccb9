//! An impl whose retries ran out: its failure says so (`HookFailure::RetriesExhausted`, with
//! the attempt count and the last attempt's failure) wherever the outcome is seen — `iter()`,
//! `get()`, `entries()`, a fail-fast error, monitors' reports. On tokio's paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::hook::ImplBuilder;
use hookwire::monitor::{CallInfo, HookMonitor, ImplReport};
use hookwire::outcome::OutcomeKind;
use hookwire::policy::{RetryPolicy, Retryable};
use hookwire::{CallError, FutureExt, HookFailure, HookManager, ImplOutcome, Registrar};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 10 ms backoff doubling, no jitter, no budget: every retryable failure is retried.
fn exact(max: u32) -> RetryPolicy {
    RetryPolicy::new(max)
        .backoff(ms(10), ms(1_000))
        .no_jitter()
        .unbudgeted()
}

/// An async impl failing its first `failures` attempts with a retryable error
/// (`"flaky #<attempt index>"`), then answering its argument.
fn flaky(r: &mut Registrar, failures: usize) -> ImplBuilder<'_> {
    let calls = Arc::new(AtomicUsize::new(0));
    r.hook_fn::<Compute>(move |x| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
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

/// A manager with one impl, `broken`, that fails every one of its 3 attempts.
fn always_failing() -> HookManager {
    let pm = HookManager::new();
    pm.register("broken", |r| flaky(r, usize::MAX).retry(exact(3)).add())
        .unwrap();
    pm
}

/// The attempt count and the last failure of a `RetriesExhausted` failure.
fn exhausted(f: &HookFailure) -> (u32, &HookFailure) {
    match f {
        HookFailure::RetriesExhausted { attempts, last } => (*attempts, &**last),
        other => panic!("expected RetriesExhausted, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn retries_exhausted_and_the_attempt_count_are_seen_through_iter_and_get() {
    let pm = always_failing();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();

    let (plugin, outcome) = out.iter().next().unwrap();
    assert_eq!(plugin, "broken");
    let (attempts, last) = exhausted(outcome.failure().unwrap());
    assert_eq!(attempts, 3);
    assert!(last.is_error());
    assert_eq!(last.to_string(), "returned an error: flaky #2");

    let (attempts, last) = exhausted(out.get("broken").unwrap().failure().unwrap());
    assert_eq!(attempts, 3);
    let e = last
        .as_error()
        .unwrap()
        .downcast_ref::<Retryable>()
        .unwrap();
    assert_eq!(e.to_string(), "flaky #2");

    // The same failure through `entries()`, with the same count.
    let e = out.entry("broken").unwrap();
    assert_eq!(e.attempts, 3);
    assert_eq!(exhausted(e.outcome.failure().unwrap()).0, 3);
    // Its kind is the last attempt's, and the failure answers as that one does.
    assert_eq!(outcome.kind(), OutcomeKind::Error);
    let f = outcome.failure().unwrap();
    assert!(f.is_error() && !f.is_panic() && !f.is_timeout());
    assert!(f.as_error().is_some(), "the last attempt's own error");
}

#[tokio::test(start_paused = true)]
async fn retries_exhausted_displays_the_attempt_count_then_the_last_failure() {
    let pm = always_failing();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();
    let f = out.get("broken").unwrap().failure().unwrap();
    assert_eq!(
        f.to_string(),
        "gave up after 3 attempts: returned an error: flaky #2"
    );
    // The call's summary keeps its own shape: the last failure, then the attempt count.
    assert_eq!(
        out.to_string(),
        "hook `compute`, 1 impl: 1 failed\n  broken: returned an error: flaky #2 (3 attempts)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_is_a_std_error_for_logs_and_error_chains() {
    let pm = always_failing();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();
    let f: &dyn std::error::Error = out.get("broken").unwrap().failure().unwrap();
    assert_eq!(
        f.to_string(),
        "gave up after 3 attempts: returned an error: flaky #2"
    );
    assert!(f.source().is_none(), "its Display already says why");
}

#[tokio::test(start_paused = true)]
async fn a_fail_fast_call_returns_retries_exhausted_as_its_error() {
    let pm = always_failing();
    let err = pm.hook::<Compute>().fail_fast().call(&7).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "impl of hook `compute` in plugin `broken` gave up after 3 attempts: returned an error: flaky #2"
    );
    let CallError::ImplFailed { failure, .. } = &err else {
        panic!("expected ImplFailed, got {err:?}");
    };
    assert_eq!(exhausted(failure).0, 3);
    assert!(!err.is_panic());
}

#[tokio::test(start_paused = true)]
async fn a_failure_with_no_retry_made_stays_as_it_is() {
    let pm = HookManager::new();
    // Not retryable: one attempt, and its failure unchanged.
    pm.register("permanent", |r| {
        r.sync_fn::<Compute>(|_| Err("permanent".into()))
            .retry(exact(5))
            .add()
    })
    .unwrap();
    // Panics are never retried.
    pm.register("panics", |r| {
        r.hook_fn::<Compute>(|_| async { panic!("boom") }.boxed())
            .retry(RetryPolicy::new(5).retry_if(|_| true).unbudgeted())
            .add()
    })
    .unwrap();
    // A retry policy of one attempt makes no retry.
    pm.register("single", |r| flaky(r, usize::MAX).retry(exact(1)).add())
        .unwrap();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();
    assert!(out.entries().all(|e| e.attempts == 1));
    assert!(matches!(
        out.get("permanent").unwrap().failure(),
        Some(HookFailure::Error(e)) if e.to_string() == "permanent"
    ));
    assert!(matches!(
        out.get("panics").unwrap().failure(),
        Some(HookFailure::Panic(m)) if m == "boom"
    ));
    assert_eq!(
        out.get("single").unwrap().failure().unwrap().to_string(),
        "returned an error: flaky #0"
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_on_the_second_attempt_is_a_value() {
    let pm = HookManager::new();
    pm.register("flaky", |r| flaky(r, 1).retry(exact(3)).add())
        .unwrap();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();
    assert!(matches!(out.get("flaky"), Some(ImplOutcome::Value(7))));
    assert_eq!(out.entry("flaky").unwrap().attempts, 2);
    assert!(!out.has_errors());
}

#[tokio::test(start_paused = true)]
async fn retries_exhausted_by_timeouts_or_ended_by_a_panic_keep_the_last_kind() {
    let pm = HookManager::new();
    // Every attempt hangs past its 20 ms timeout.
    pm.register("hangs", |r| {
        r.hook_fn::<Compute>(|_| futures::future::pending().boxed())
            .timeout(ms(20))
            .retry(exact(2))
            .add()
    })
    .unwrap();
    // A retried error, then a panic (never retried): the panic ends the run.
    let calls = Arc::new(AtomicUsize::new(0));
    pm.register("then-panics", move |r| {
        r.hook_fn::<Compute>(move |_| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    return Err(Retryable::new("first").into());
                }
                panic!("second")
            }
            .boxed()
        })
        .retry(exact(5))
        .add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&7).await.unwrap();

    let hangs = out.get("hangs").unwrap();
    assert_eq!(hangs.kind(), OutcomeKind::TimedOut);
    assert!(hangs.failure().unwrap().is_timeout());
    assert_eq!(
        hangs.failure().unwrap().to_string(),
        "gave up after 2 attempts: timed out after 20ms"
    );

    let panics = out.get("then-panics").unwrap();
    assert_eq!(panics.kind(), OutcomeKind::Panic);
    let (attempts, last) = exhausted(panics.failure().unwrap());
    assert_eq!(attempts, 2);
    assert!(matches!(last, HookFailure::Panic(m) if m == "second"));
    assert!(panics.failure().unwrap().is_panic());
}

#[tokio::test(start_paused = true)]
async fn a_deadline_that_cuts_a_retrying_impl_off_stays_deadline_exceeded() {
    let pm = always_failing();
    // Attempts at 0 and 10 ms; the third would start at 30 ms, past the deadline: the call
    // ends without it, as retries that cannot finish in time are not made.
    let out = pm
        .hook::<Compute>()
        .deadline(ms(25))
        .call(&7)
        .await
        .unwrap();
    let e = out.entry("broken").unwrap();
    assert_eq!(e.attempts, 2);
    assert_eq!(
        e.outcome.failure().unwrap().to_string(),
        "gave up after 2 attempts: returned an error: flaky #1"
    );
    assert!(!out.deadline_exceeded(), "no attempt was cut off");
}

/// Keeps each impl's reported error text.
#[derive(Default)]
struct Errors(Mutex<Vec<Option<String>>>);

impl HookMonitor for Errors {
    fn after_call(&self, _call: &CallInfo<'_>, results: &[ImplReport], _elapsed: Duration) {
        let mut seen = self.0.lock().unwrap();
        seen.extend(results.iter().map(|r| r.error.clone()));
    }
}

#[tokio::test(start_paused = true)]
async fn monitors_see_retries_exhausted_in_their_reports() {
    let pm = always_failing();
    let errors = Arc::new(Errors::default());
    let _handle = pm.add_monitor(errors.clone());
    pm.hook::<Compute>().call(&7).await.unwrap();
    assert_eq!(
        *errors.0.lock().unwrap(),
        [Some(
            "gave up after 3 attempts: returned an error: flaky #2".to_owned()
        )]
    );
}
