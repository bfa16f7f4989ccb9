//! The fixed cost of a call: what a call allocates of its own, and that the outcome of a call
//! with few results still says who answered what.
//!
//! Allocations are counted by a global allocator on the thread that switched counting on (a
//! thread-local flag), so the harness's other threads cannot interfere. Calls are driven by
//! polling their future by hand with a no-op waker (every impl is ready at once), after a
//! warm-up call, so only the call's own allocations (and the impls' boxed futures) count.

use hookspecs::{Compute, ComputeFirst};
use hookwire::{FutureExt, HookManager, HookOutcome, HookSpec, ImplOutcome};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::cell::Cell;

use counting_alloc::{poll_ready, ALLOCS, COUNTING};

/// Allocations made on this thread by one call of `S` on `pm` (dropping frees, never
/// allocates), and the answers of that call.
fn allocs_per_call<S>(pm: &HookManager) -> (u64, Vec<u64>)
where
    S: HookSpec<Args = u64, Output = u64>,
{
    let caller = pm.hook::<S>();
    // Warm-up: first-use thread-locals (arc-swap's debt list, tracing's dispatcher state, ...).
    poll_ready(caller.call(&7)).expect("warm-up call");
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let outcome = poll_ready(caller.call(&7));
    COUNTING.with(|c| c.set(false));
    let n = ALLOCS.with(Cell::get);
    (n, outcome.map(HookOutcome::into_values).expect("call"))
}

/// A manager with `n` sync impls of `S`; impl `i` answers `x + 1 + i` if `answers(i)`.
fn sync_impls<S>(n: u64, answers: impl Fn(u64) -> bool) -> HookManager
where
    S: HookSpec<Args = u64, Output = u64>,
{
    let pm = HookManager::builder().spec::<S>().build();
    for i in 0..n {
        let answer = answers(i);
        pm.register(&format!("p{i}"), |r| {
            r.sync_fn::<S>(move |x| Ok(answer.then_some(x + 1 + i)))
                .add()
        })
        .expect("register sync impl");
    }
    pm
}

/// A manager with `n` async impls of `S`, each ready at once with `x + 1 + i`.
fn async_impls<S>(n: u64) -> HookManager
where
    S: HookSpec<Args = u64, Output = u64>,
{
    let pm = HookManager::builder().spec::<S>().build();
    for i in 0..n {
        pm.register(&format!("p{i}"), |r| {
            r.hook_fn::<S>(move |x| {
                let v = *x + 1 + i;
                async move { Ok(Some(v)) }.boxed()
            })
            .add()
        })
        .expect("register async impl");
    }
    pm
}

#[test]
fn a_call_of_one_impl_allocates_nothing_of_its_own() {
    let (allocs, values) = allocs_per_call::<Compute>(&sync_impls::<Compute>(1, |_| true));
    assert_eq!(values, vec![8]);
    assert_eq!(
        allocs, 0,
        "one sync impl: the outcome holds its entry inline"
    );

    let (allocs, values) = allocs_per_call::<Compute>(&async_impls::<Compute>(1));
    assert_eq!(values, vec![8]);
    assert_eq!(allocs, 1, "one async impl: only its boxed future allocates");
}

#[test]
fn a_first_result_call_whose_first_impl_answers_allocates_nothing_of_its_own() {
    // Registered last runs first (LIFO): "p2" answers, the others are never called.
    let (allocs, values) =
        allocs_per_call::<ComputeFirst>(&sync_impls::<ComputeFirst>(3, |_| true));
    assert_eq!(values, vec![10]);
    assert_eq!(allocs, 0, "sync impls: no result vector");

    let (allocs, values) = allocs_per_call::<ComputeFirst>(&async_impls::<ComputeFirst>(3));
    assert_eq!(values, vec![10]);
    assert_eq!(
        allocs, 1,
        "async impls: only the answering impl's boxed future"
    );
}

#[test]
fn a_first_result_outcome_past_declining_impls_names_every_plugin_in_call_order() {
    // Call order p3, p2, p1, p0: p3 and p2 decline, p1 answers, p0 is never called.
    let pm = sync_impls::<ComputeFirst>(4, |i| i < 2);
    let outcome = poll_ready(pm.hook::<ComputeFirst>().call(&7)).expect("call");
    let seen: Vec<(&str, bool)> = outcome
        .iter()
        .map(|(p, o)| (p, matches!(o, ImplOutcome::NoAnswer)))
        .collect();
    assert_eq!(seen, vec![("p3", true), ("p2", true), ("p1", false)]);
    assert_eq!(outcome.get("p1").and_then(ImplOutcome::value), Some(&9));
    assert_eq!(outcome.into_value(), Some(9));
}

#[test]
fn a_collect_all_call_of_one_impl_reports_its_failure_by_plugin() {
    let pm = HookManager::builder().spec::<Compute>().build();
    pm.register("broken", |r| {
        r.sync_fn::<Compute>(|_| Err("backend down".into())).add()
    })
    .expect("register");
    let outcome = poll_ready(pm.hook::<Compute>().call(&7)).expect("isolated call");
    let (plugin, failure) = outcome.errors().next().expect("one failure");
    assert_eq!(plugin, "broken");
    assert!(failure.to_string().contains("backend down"), "{failure}");
    let err = poll_ready(pm.hook::<Compute>().fail_fast().call(&7)).expect_err("fail-fast");
    assert!(err.to_string().contains("broken"), "{err}");
}

#[test]
fn a_call_future_stays_small_whatever_the_hook_could_need() {
    // The wrapper and monitor machinery lives behind a box: a call's future (moved into
    // every `async fn` that awaits it) holds only the common case's state.
    let pm = async_impls::<Compute>(1);
    let caller = pm.hook::<Compute>();
    let fut = caller.call(&7);
    let size = std::mem::size_of_val(&fut);
    drop(fut);
    assert!(size <= 768, "a call future takes {size} bytes");
}
