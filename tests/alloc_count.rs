//! Heap allocations per hook call, counted by a global allocator.
//!
//! The allocator counts only on a thread that switched counting on (a thread-local flag), so
//! other threads of the test harness cannot interfere; the file holds a single `#[test]` too.
//! Calls are driven by polling their future by hand with a no-op waker (every impl is ready at
//! once), after a warm-up call, so the only allocations counted are the call's own.

use hookspecs::Compute;
use hookwire::{FutureExt, HookCaller, HookManager};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::cell::Cell;

use counting_alloc::{poll_ready, ALLOCS, COUNTING};

/// Allocations (including reallocations) made on this thread by one call of `caller`, the
/// outcome included (it is dropped inside the counted region; dropping frees, never allocates).
fn allocs_per_call(caller: &HookCaller<Compute>, n: usize) -> u64 {
    // Warm-up: first-use thread-locals (arc-swap's debt list, tracing's dispatcher state, ...).
    let warm = poll_ready(caller.call(&7)).expect("warm-up call");
    assert_eq!(warm.into_values(), vec![8; n]);

    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    let outcome = poll_ready(caller.call(&7));
    let len = outcome.as_ref().map(|o| o.len()).unwrap_or(usize::MAX);
    drop(outcome);
    COUNTING.with(|c| c.set(false));
    assert_eq!(len, n, "every impl answered");
    ALLOCS.with(Cell::get)
}

fn sync_caller(n: usize) -> HookCaller<Compute> {
    sync_caller_with(false, n)
}

fn sync_caller_with(stats: bool, n: usize) -> HookCaller<Compute> {
    let pm = HookManager::builder()
        .spec::<Compute>()
        .stats(stats)
        .build();
    for i in 0..n {
        pm.register(&format!("p{i}"), |r| {
            r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add()
        })
        .expect("register sync impl");
    }
    pm.hook::<Compute>()
}

fn async_caller(n: usize) -> HookCaller<Compute> {
    async_caller_with(false, n)
}

fn async_caller_with(stats: bool, n: usize) -> HookCaller<Compute> {
    let pm = HookManager::builder()
        .spec::<Compute>()
        .stats(stats)
        .build();
    for i in 0..n {
        pm.register(&format!("p{i}"), |r| {
            r.hook_fn::<Compute>(|x| {
                let v = *x + 1;
                async move { Ok(Some(v)) }.boxed()
            })
            .add()
        })
        .expect("register async impl");
    }
    pm.hook::<Compute>()
}

#[test]
fn allocations_per_collect_all_call() {
    let mut report = Vec::new();
    for n in [1usize, 10, 100] {
        let sync = allocs_per_call(&sync_caller(n), n);
        let asynchronous = allocs_per_call(&async_caller(n), n);
        // Parallel mode with impls that answer at once keeps no pending set.
        let parallel = allocs_per_call(&async_caller(n).parallel(), n);
        assert!(
            parallel <= n as u64 + 1,
            "N = {n} parallel async impls: got {parallel} allocations"
        );
        report.push((n, sync, asynchronous));
    }
    for &(n, sync, asynchronous) in &report {
        println!(
            "N = {n:3}: sync impls {sync} allocation(s), async impls {asynchronous} allocation(s)"
        );
    }
    // With statistics on, counting allocates nothing either. (A list's first calls set up
    // its statistics: its tally — sync impls' tight loop, and any collect-all call on the
    // ready path — is made on its second call; warm up past that.)
    for n in [1usize, 10, 100] {
        let sync = sync_caller_with(true, n);
        poll_ready(sync.call(&7)).expect("warm-up call");
        let sync = allocs_per_call(&sync, n);
        let asynchronous = async_caller_with(true, n);
        poll_ready(asynchronous.call(&7)).expect("warm-up call");
        let asynchronous = allocs_per_call(&asynchronous, n);
        println!(
            "N = {n:3}, statistics on: sync impls {sync} allocation(s), async impls {asynchronous} allocation(s)"
        );
        assert_eq!(sync, u64::from(n > 1), "N = {n} sync impls, statistics on");
        assert!(
            asynchronous <= n as u64 + 1,
            "N = {n} async impls, statistics on: got {asynchronous}"
        );
    }
    for &(n, sync, asynchronous) in &report {
        // One result is held inline in the outcome: no result vector.
        assert_eq!(
            sync,
            u64::from(n > 1),
            "N = {n} sync impls: only the result vector may allocate"
        );
        assert!(
            asynchronous <= n as u64 + 1,
            "N = {n} async impls: at most one boxed future per impl plus the result vector, got {asynchronous}"
        );
    }
}
