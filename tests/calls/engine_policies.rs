//! Call-engine policies on tokio's paused clock: parallel first-result and fail-fast stops,
//! the retry backoff factor, cancellable blocking impls, and what an outcome says about the
//! call's deadline and each impl's attempts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookspecs::Compute;
use hookwire::{
    error::RetryPolicyError, hook::ImplBuilder, outcome::OutcomeKind, policy::RetryPolicy,
    policy::Retryable, CallError, CancellationToken, FutureExt, HookFailure, HookManager,
    HookOutcome, ImplOutcome, Registrar,
};
use tokio::time::Instant;

hookwire::hookspec! {
    #[firstresult]
    pub struct First(u64) -> u64;
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn kinds<T>(out: &HookOutcome<T>) -> Vec<(String, OutcomeKind)> {
    out.iter().map(|(p, o)| (p.to_owned(), o.kind())).collect()
}

/// When an impl's future was dropped (by the paused clock), and whether it ever finished.
#[derive(Clone, Default)]
struct Watch {
    dropped_at: Arc<Mutex<Option<Instant>>>,
    finished: Arc<AtomicBool>,
}

struct DropFlag(Watch);
impl Drop for DropFlag {
    fn drop(&mut self) {
        *self.0.dropped_at.lock().unwrap() = Some(Instant::now());
    }
}

/// An impl of `S` that waits `wait` ms then answers `value` (`Err` if `fail`), watched.
fn watched<'r, S>(
    r: &'r mut Registrar,
    watch: &Watch,
    wait: u64,
    value: Option<u64>,
    fail: bool,
) -> ImplBuilder<'r>
where
    S: hookwire::HookSpec<Args = u64, Output = u64>,
{
    let watch = watch.clone();
    r.hook_fn::<S>(move |_| {
        let watch = watch.clone();
        async move {
            let _flag = DropFlag(watch.clone());
            tokio::time::sleep(ms(wait)).await;
            watch.finished.store(true, Ordering::SeqCst);
            if fail {
                Err(format!("failed after {wait} ms").into())
            } else {
                Ok(value)
            }
        }
        .boxed()
    })
}

// --- point 2: parallel calls stop where a sequential call would, as soon as that is known ---

#[tokio::test(start_paused = true)]
async fn a_parallel_first_result_answer_drops_the_impls_ranked_below_it_at_once() {
    let (top, mid, low, lowest) = (
        Watch::default(),
        Watch::default(),
        Watch::default(),
        Watch::default(),
    );
    let pm = HookManager::new();
    // Call order: top, mid, low, lowest (priority inside the normal tier).
    pm.register("top", |r| {
        watched::<First>(r, &top, 100, None, false)
            .priority(4)
            .add()
    })
    .unwrap();
    pm.register("mid", |r| {
        watched::<First>(r, &mid, 10, Some(2), false)
            .priority(3)
            .add()
    })
    .unwrap();
    pm.register("low", |r| {
        watched::<First>(r, &low, 1_000, Some(3), false)
            .priority(2)
            .add()
    })
    .unwrap();
    pm.register("lowest", |r| {
        watched::<First>(r, &lowest, 1, Some(4), false)
            .priority(1)
            .add()
    })
    .unwrap();
    let t0 = Instant::now();
    // Three at once: `lowest` would start when a slot frees up.
    let out = pm
        .hook::<First>()
        .parallel()
        .max_in_flight(3)
        .call(&0)
        .await
        .unwrap();
    // The call waited for `top` (ranked above the answer), which declined at 100 ms.
    assert_eq!(t0.elapsed(), ms(100));
    assert_eq!(
        kinds(&out),
        [
            ("top".into(), OutcomeKind::NoAnswer),
            ("mid".into(), OutcomeKind::Value),
            ("low".into(), OutcomeKind::Cancelled),
        ],
        "`lowest` never started"
    );
    // `low` was dropped when `mid` answered, not when the call ended.
    assert_eq!(*low.dropped_at.lock().unwrap(), Some(t0 + ms(10)));
    assert!(!low.finished.load(Ordering::SeqCst));
    assert!(lowest.dropped_at.lock().unwrap().is_none(), "never started");
    assert!(top.finished.load(Ordering::SeqCst));
    assert_eq!(out.into_value(), Some(2));
}

#[tokio::test(start_paused = true)]
async fn a_higher_ranked_answer_arriving_later_still_wins_a_parallel_first_result_call() {
    let (top, mid, low) = (Watch::default(), Watch::default(), Watch::default());
    let pm = HookManager::new();
    pm.register("top", |r| {
        watched::<First>(r, &top, 50, Some(1), false)
            .priority(3)
            .add()
    })
    .unwrap();
    pm.register("mid", |r| {
        watched::<First>(r, &mid, 10, Some(2), false)
            .priority(2)
            .add()
    })
    .unwrap();
    pm.register("low", |r| {
        watched::<First>(r, &low, 30, Some(3), false)
            .priority(1)
            .add()
    })
    .unwrap();
    let t0 = Instant::now();
    let out = pm.hook::<First>().parallel().call(&0).await.unwrap();
    assert_eq!(t0.elapsed(), ms(50));
    assert_eq!(*low.dropped_at.lock().unwrap(), Some(t0 + ms(10)));
    assert!(!low.finished.load(Ordering::SeqCst));
    assert_eq!(
        kinds(&out),
        [
            ("top".into(), OutcomeKind::Value),
            ("mid".into(), OutcomeKind::Value),
            ("low".into(), OutcomeKind::Cancelled),
        ]
    );
    assert_eq!(out.into_value(), Some(1), "the first answer in call order");
}

#[tokio::test(start_paused = true)]
async fn a_parallel_fail_fast_call_fails_at_the_first_failure_in_call_order_not_in_time() {
    let (top, mid, low) = (Watch::default(), Watch::default(), Watch::default());
    let pm = HookManager::new();
    // `mid` fails first in time, `top` later; `low` would run long.
    pm.register("top", |r| {
        watched::<Compute>(r, &top, 50, None, true)
            .priority(3)
            .add()
    })
    .unwrap();
    pm.register("mid", |r| {
        watched::<Compute>(r, &mid, 10, None, true)
            .priority(2)
            .add()
    })
    .unwrap();
    pm.register("low", |r| {
        watched::<Compute>(r, &low, 1_000, Some(3), false)
            .priority(1)
            .add()
    })
    .unwrap();
    let t0 = Instant::now();
    let err = pm
        .hook::<Compute>()
        .parallel()
        .fail_fast()
        .call(&0)
        .await
        .unwrap_err();
    assert_eq!(t0.elapsed(), ms(50));
    match err {
        CallError::ImplFailed {
            plugin, failure, ..
        } => {
            assert_eq!(&*plugin, "top");
            assert_eq!(failure.to_string(), "returned an error: failed after 50 ms");
        }
        other => panic!("unexpected error: {other}"),
    }
    // `low` was dropped as soon as `mid` failed.
    assert_eq!(*low.dropped_at.lock().unwrap(), Some(t0 + ms(10)));
    assert!(!low.finished.load(Ordering::SeqCst));
}

// --- point 3: the backoff factor; blocking impls that observe cancellation ---

#[tokio::test(start_paused = true)]
async fn retry_backoff_grows_by_the_configured_factor() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    let pm = HookManager::new();
    pm.register("flaky", |r| {
        r.hook_fn::<Compute>(move |_| {
            seen.lock().unwrap().push(Instant::now());
            async { Err(Retryable::new("try again").into()) }.boxed()
        })
        .retry(
            RetryPolicy::new(4)
                .backoff(ms(10), ms(10_000))
                .no_jitter()
                .unbudgeted()
                .factor(3.0)
                .unwrap(),
        )
        .add()
    })
    .unwrap();
    let t0 = Instant::now();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    let at: Vec<Duration> = attempts.lock().unwrap().iter().map(|t| *t - t0).collect();
    // Waits of 10, 30 and 90 ms.
    assert_eq!(at, [ms(0), ms(10), ms(40), ms(130)]);
    assert_eq!(out.entry("flaky").unwrap().attempts, 4);
}

#[test]
fn an_invalid_backoff_factor_is_an_error_that_says_what_works() {
    let e = RetryPolicy::new(3).factor(0.5).unwrap_err();
    assert!(matches!(e, RetryPolicyError::InvalidFactor(f) if f == 0.5));
    assert_eq!(
        e.to_string(),
        "invalid retry backoff factor 0.5: use a finite factor of at least 1.0 (1.0 waits the \
         base delay every time, 2.0 doubles it)"
    );
    assert!(RetryPolicy::new(3).factor(f64::NAN).is_err());
}

/// Registers a cancellable blocking impl that hands its token out, then waits for its
/// cancellation (if `wait`) and answers 7.
fn cancellable(
    pm: &HookManager,
    wait: bool,
    timeout: Option<Duration>,
) -> tokio::sync::mpsc::UnboundedReceiver<CancellationToken> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    pm.register("crunch", move |r| {
        let b = r.blocking_fn_cancellable::<Compute>(move |_, token: CancellationToken| {
            let _ = tx.send(token.clone());
            if wait {
                futures::executor::block_on(token.cancelled());
            }
            Ok(Some(7))
        });
        match timeout {
            Some(t) => b.timeout(t).add(),
            None => b.add(),
        }
    })
    .unwrap();
    rx
}

#[tokio::test(start_paused = true)]
async fn a_cancellable_blocking_impl_sees_its_token_cancelled_when_it_times_out() {
    let pm = HookManager::new();
    let mut tokens = cancellable(&pm, true, Some(ms(50)));
    let caller = pm.hook::<Compute>();
    let call = caller.call(&0);
    let drive = async {
        let token = tokens.recv().await.unwrap();
        assert!(!token.is_cancelled());
        // The pool thread holds the clock still: move it by hand.
        tokio::time::advance(ms(50)).await;
        token
    };
    let (out, token) = tokio::join!(call, drive);
    let out = out.unwrap();
    assert!(token.is_cancelled());
    assert!(matches!(
        out.get("crunch"),
        Some(ImplOutcome::Failed(HookFailure::TimedOut { limit })) if *limit == ms(50)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_cancellable_blocking_impl_sees_its_token_cancelled_when_the_call_is_dropped() {
    let pm = HookManager::new();
    let mut tokens = cancellable(&pm, true, None);
    let caller = pm.hook::<Compute>();
    let mut call = Box::pin(caller.call(&0));
    assert!(futures::poll!(call.as_mut()).is_pending());
    let token = tokens.recv().await.unwrap();
    assert!(!token.is_cancelled());
    drop(call);
    assert!(token.is_cancelled());
}

#[tokio::test(start_paused = true)]
async fn a_cancellable_blocking_impl_that_finishes_keeps_its_token_uncancelled() {
    let pm = HookManager::new();
    let mut tokens = cancellable(&pm, false, Some(ms(50)));
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    assert_eq!(out.into_value(), Some(7));
    let token = tokens.recv().await.unwrap();
    assert!(!token.is_cancelled());
}

// --- point 4: the deadline at the call level; attempts through `entry` ---

#[tokio::test(start_paused = true)]
async fn an_outcome_says_whether_the_deadline_cut_the_call_short() {
    let w = Watch::default();
    let pm = HookManager::new();
    pm.register("slow", |r| {
        watched::<Compute>(r, &w, 100, Some(1), false).add()
    })
    .unwrap();
    for parallel in [false, true] {
        let caller = pm.hook::<Compute>();
        let caller = if parallel { caller.parallel() } else { caller };
        let cut = caller.clone().deadline(ms(50)).call(&0).await.unwrap();
        assert!(cut.deadline_exceeded(), "parallel: {parallel}");
        let in_time = caller.clone().deadline(ms(500)).call(&0).await.unwrap();
        assert!(!in_time.deadline_exceeded(), "parallel: {parallel}");
        let none = caller.call(&0).await.unwrap();
        assert!(!none.deadline_exceeded(), "parallel: {parallel}");
    }
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_show_their_attempt_count_through_entry() {
    let pm = HookManager::new();
    pm.register("flaky", |r| {
        r.hook_fn::<Compute>(|_| async { Err(Retryable::new("backend down").into()) }.boxed())
            .retry(RetryPolicy::new(3).backoff(ms(10), ms(100)).unbudgeted())
            .add()
    })
    .unwrap();
    pm.register("fine", |r| {
        r.sync_fn::<Compute>(|_| Ok(Some(1))).trylast().add()
    })
    .unwrap();
    let out = pm.hook::<Compute>().call(&0).await.unwrap();
    let flaky = out.entry("flaky").unwrap();
    assert_eq!(flaky.plugin, "flaky");
    assert_eq!(flaky.attempts, 3);
    assert!(flaky.outcome.is_failed());
    assert_eq!(out.entry("fine").unwrap().attempts, 1);
    assert!(out.entry("absent").is_none());
}
