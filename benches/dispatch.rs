//! Dispatch overhead of `HookCaller::call` against hand-written baselines, in the same run.
//!
//! Run: `cargo bench --bench dispatch`. Every bench in a group is measured in the same process,
//! so compare within a group, as ratios (see BENCHMARKS.md).
//!
//! Driver: every measurement runs all of its iterations inside one `block_on` of a
//! current-thread tokio runtime (what criterion's `to_async` does, without needing its
//! `async_tokio` feature), for the library and for the baselines alike.
//!
//! Groups:
//! - `a_seq_async`: collect-all over N async impls vs a `Vec` of boxed async closures.
//! - `b_seq_sync`: collect-all over N sync impls vs a `Vec` of boxed sync closures.
//! - `c_firstresult`: first-result hook where the first impl answers, N = 1, 10, 100.
//! - `d_wrapper`: one wrapper around 10 async impls vs the same 10 impls without it.
//! - `e_tracing`: the 10-impl call with no subscriber vs with a layer-less
//!   `tracing_subscriber::registry()` as the thread's default, plus the cost of the same spans
//!   alone (no subscriber), to estimate what spans cost when nobody listens.
//! - `f_stats`: the collect-all call with per-impl statistics on (`.stats(true)`) vs off (the
//!   default).

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hookspecs::Compute;
use hookwire::{FutureExt, HookCaller, HookManager, HookSpec};
use tokio::runtime::Runtime;

mod common;
use common::{configure, run_async, runtime};

hookwire::hookspec! {
    /// `Compute`, but the first answer ends the call.
    #[firstresult]
    #[name = "compute_first"]
    pub struct ComputeFirst(u64) -> u64;
}

const SIZES: [usize; 3] = [1, 10, 100];
const ARG: u64 = 7;

type AsyncBaseline = Vec<Box<dyn Fn(u64) -> Pin<Box<dyn Future<Output = u64> + Send>>>>;
type SyncBaseline = Vec<Box<dyn Fn(u64) -> u64>>;

/// A manager with `n` async impls of `S`, each answering `x + 1`, and `wrappers` pass-through
/// wrappers.
fn async_manager<S: HookSpec<Args = u64, Output = u64>>(
    n: usize,
    wrappers: usize,
) -> HookCaller<S> {
    async_manager_in(HookManager::builder().spec::<S>().build(), n, wrappers)
}

fn async_manager_in<S: HookSpec<Args = u64, Output = u64>>(
    pm: HookManager,
    n: usize,
    wrappers: usize,
) -> HookCaller<S> {
    for i in 0..wrappers {
        pm.register(&format!("w{i}"), |r| {
            r.wrapper_fn::<S>(|_x, next| async move { Ok(next.run().await) }.boxed())
                .add()
        })
        .expect("register wrapper");
    }
    for i in 0..n {
        pm.register(&format!("p{i}"), |r| {
            r.hook_fn::<S>(|x| {
                let v = *x + 1;
                async move { Ok(Some(v)) }.boxed()
            })
            .add()
        })
        .expect("register async impl");
    }
    pm.hook::<S>()
}

/// A manager with `n` sync impls of `S`, each answering `x + 1`.
fn sync_manager<S: HookSpec<Args = u64, Output = u64>>(n: usize) -> HookCaller<S> {
    sync_manager_in(HookManager::builder().spec::<S>().build(), n)
}

fn sync_manager_in<S: HookSpec<Args = u64, Output = u64>>(
    pm: HookManager,
    n: usize,
) -> HookCaller<S> {
    for i in 0..n {
        pm.register(&format!("p{i}"), |r| {
            r.sync_fn::<S>(|x| Ok(Some(x + 1))).add()
        })
        .expect("register sync impl");
    }
    pm.hook::<S>()
}

fn async_baseline(n: usize) -> AsyncBaseline {
    (0..n)
        .map(|_| {
            Box::new(|x: u64| -> Pin<Box<dyn Future<Output = u64> + Send>> {
                Box::pin(async move { x + 1 })
            }) as Box<dyn Fn(u64) -> Pin<Box<dyn Future<Output = u64> + Send>>>
        })
        .collect()
}

fn sync_baseline(n: usize) -> SyncBaseline {
    (0..n)
        .map(|_| Box::new(|x: u64| x + 1) as Box<dyn Fn(u64) -> u64>)
        .collect()
}

async fn call_async_baseline(fs: &AsyncBaseline, x: u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(fs.len());
    for f in fs {
        out.push(f(x).await);
    }
    out
}

fn call_sync_baseline(fs: &SyncBaseline, x: u64) -> Vec<u64> {
    let mut out = Vec::with_capacity(fs.len());
    for f in fs {
        out.push(f(x));
    }
    out
}

/// Checks that a caller answers `n` times `ARG + 1` (so the benches measure real calls).
fn check<S: HookSpec<Args = u64, Output = u64>>(rt: &Runtime, caller: &HookCaller<S>, n: usize) {
    let outcome = rt.block_on(caller.call(&ARG)).expect("call");
    let values: Vec<u64> = outcome.into_values();
    assert_eq!(values, vec![ARG + 1; n]);
}

fn a_seq_async(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("a_seq_async");
    configure(&mut g, 30);
    for n in SIZES {
        let caller = async_manager::<Compute>(n, 0);
        check(&rt, &caller, n);
        g.bench_with_input(BenchmarkId::new("hookwire", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || caller.call(black_box(&ARG))))
        });
        let fs = async_baseline(n);
        assert_eq!(rt.block_on(call_async_baseline(&fs, ARG)), vec![ARG + 1; n]);
        g.bench_with_input(BenchmarkId::new("baseline", n), &n, |b, _| {
            b.iter_custom(|iters| {
                run_async(&rt, iters, || call_async_baseline(&fs, black_box(ARG)))
            })
        });
    }
    g.finish();
}

fn b_seq_sync(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("b_seq_sync");
    configure(&mut g, 30);
    for n in SIZES {
        let caller = sync_manager::<Compute>(n);
        check(&rt, &caller, n);
        g.bench_with_input(BenchmarkId::new("hookwire", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || caller.call(black_box(&ARG))))
        });
        let fs = sync_baseline(n);
        assert_eq!(call_sync_baseline(&fs, ARG), vec![ARG + 1; n]);
        // Same driver as ours: an `async` block awaited inside the runtime's `block_on`.
        g.bench_with_input(BenchmarkId::new("baseline", n), &n, |b, _| {
            b.iter_custom(|iters| {
                run_async(&rt, iters, || async {
                    call_sync_baseline(&fs, black_box(ARG))
                })
            })
        });
    }
    g.finish();
}

fn c_firstresult(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("c_firstresult");
    configure(&mut g, 30);
    for n in SIZES {
        let caller = async_manager::<ComputeFirst>(n, 0);
        check(&rt, &caller, 1);
        g.bench_with_input(BenchmarkId::new("async", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || caller.call(black_box(&ARG))))
        });
    }
    for n in SIZES {
        let caller = sync_manager::<ComputeFirst>(n);
        check(&rt, &caller, 1);
        g.bench_with_input(BenchmarkId::new("sync", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || caller.call(black_box(&ARG))))
        });
    }
    g.finish();
}

fn d_wrapper(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("d_wrapper");
    configure(&mut g, 30);
    let plain = async_manager::<Compute>(10, 0);
    check(&rt, &plain, 10);
    g.bench_function("10_impls", |b| {
        b.iter_custom(|iters| run_async(&rt, iters, || plain.call(black_box(&ARG))))
    });
    let wrapped = async_manager::<Compute>(10, 1);
    check(&rt, &wrapped, 10);
    g.bench_function("1_wrapper_10_impls", |b| {
        b.iter_custom(|iters| run_async(&rt, iters, || wrapped.call(black_box(&ARG))))
    });
    g.finish();
}

/// The spans one 10-impl call creates, alone: what `exec::run_call` and `exec::run` create
/// and enter for a sequential collect-all call over async impls (the impl span is entered once
/// to create the impl's future and once to poll it).
fn spans_only(name: &str, plugins: &[String]) -> usize {
    let span = tracing::debug_span!(
        "hook_call",
        hook = %name,
        mode = ?hookwire::CallMode::CollectAll,
        parallel = false,
        impls = plugins.len()
    );
    let _call = span.enter();
    let mut live = 0;
    for plugin in plugins {
        let s = tracing::trace_span!(
            "hook_impl",
            hook = name,
            plugin = plugin.as_str(),
            outcome = tracing::field::Empty,
            attempts = tracing::field::Empty,
            duration_us = tracing::field::Empty
        );
        let started = if s.is_disabled() {
            None
        } else {
            Some(Instant::now())
        };
        {
            let _e = s.enter();
        }
        {
            let _e = s.enter();
        }
        live += usize::from(started.is_some());
    }
    live
}

fn e_tracing(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("e_tracing");
    configure(&mut g, 30);
    let caller = async_manager::<Compute>(10, 0);
    check(&rt, &caller, 10);
    // No subscriber first: once a subscriber has registered interest in a callsite, that
    // interest stays cached for the rest of the process.
    g.bench_function("10_impls_no_subscriber", |b| {
        b.iter_custom(|iters| run_async(&rt, iters, || caller.call(black_box(&ARG))))
    });
    let plugins: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    g.bench_function("spans_only_no_subscriber", |b| {
        b.iter(|| spans_only(black_box("compute"), black_box(&plugins)))
    });
    let fs = async_baseline(10);
    g.bench_function("baseline_10_no_spans", |b| {
        b.iter_custom(|iters| run_async(&rt, iters, || call_async_baseline(&fs, black_box(ARG))))
    });
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("10_impls_registry_subscriber", |b| {
            b.iter_custom(|iters| run_async(&rt, iters, || caller.call(black_box(&ARG))))
        });
    });
    g.finish();
}

fn f_stats(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("f_stats");
    configure(&mut g, 30);
    let with = |stats: bool| {
        HookManager::builder()
            .spec::<Compute>()
            .stats(stats)
            .build()
    };
    for n in [10, 100] {
        let on = sync_manager_in::<Compute>(with(true), n);
        let off = sync_manager_in::<Compute>(with(false), n);
        check(&rt, &on, n);
        check(&rt, &off, n);
        g.bench_with_input(BenchmarkId::new("sync_stats_on", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || on.call(black_box(&ARG))))
        });
        g.bench_with_input(BenchmarkId::new("sync_stats_off", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || off.call(black_box(&ARG))))
        });
        let on = async_manager_in::<Compute>(with(true), n, 0);
        let off = async_manager_in::<Compute>(with(false), n, 0);
        check(&rt, &on, n);
        check(&rt, &off, n);
        g.bench_with_input(BenchmarkId::new("async_stats_on", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || on.call(black_box(&ARG))))
        });
        g.bench_with_input(BenchmarkId::new("async_stats_off", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || off.call(black_box(&ARG))))
        });
    }
    g.finish();
}

// `e_tracing` runs last: it installs a subscriber, and the callsite interest that registers
// stays cached for the rest of the process.
criterion_group!(
    benches,
    a_seq_async,
    b_seq_sync,
    c_firstresult,
    d_wrapper,
    f_stats,
    e_tracing
);
criterion_main!(benches);
