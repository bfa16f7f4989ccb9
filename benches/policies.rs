//! Execution policies against hand-written baselines, in the same run (see BENCHMARKS.md).
//!
//! Run: `cargo bench --bench policies`.
//!
//! - `g_parallel_ready`: a parallel collect-all call over N async impls that answer at once vs
//!   `futures::future::join_all` over the same kind of boxed futures, and vs one
//!   `tokio::spawn` per impl.
//! - `g_parallel_ready_mt`: the same call and the spawn-per-impl baseline on a multi-thread
//!   runtime (tokio's default flavour), measured inside a task on a worker.
//! - `h_parallel_sleep`: N = 100 impls that each sleep 1 ms (real timer) vs `join_all`.
//! - `i_timeout`: a per-impl timeout configured, impls answering at once, vs the same call
//!   without; and impls that wait (a yield) vs a hand-written `tokio::time::timeout` loop.
//! - `k_stats`: the collect-all call over N sync (and async) impls with per-impl statistics on
//!   (`.stats(true)`) vs off (the default), with the hand-written baselines in the same run.
//!   Run alone: `cargo bench --bench policies -- k_stats`.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::future::join_all;
use hookspecs::Compute;
use hookwire::{hook::ImplBuilder, FutureExt, HookCaller, HookManager, Registrar};
mod common;
use common::{configure, run_async, runtime};
use tokio::runtime::Runtime;

const ARG: u64 = 7;

type Boxed = Pin<Box<dyn Future<Output = u64> + Send>>;
type Factory = Box<dyn Fn(u64) -> Boxed + Send + Sync>;

fn manager(n: usize, make: impl Fn(&mut Registrar) -> ImplBuilder<'_>) -> HookCaller<Compute> {
    manager_with(false, n, make)
}

fn manager_with(
    stats: bool,
    n: usize,
    make: impl Fn(&mut Registrar) -> ImplBuilder<'_>,
) -> HookCaller<Compute> {
    let pm = HookManager::builder()
        .spec::<Compute>()
        .stats(stats)
        .build();
    for i in 0..n {
        pm.register(&format!("p{i}"), |r| make(r).add())
            .expect("register");
    }
    pm.hook::<Compute>()
}

fn ready(r: &mut Registrar) -> ImplBuilder<'_> {
    r.hook_fn::<Compute>(|x| {
        let v = *x + 1;
        async move { Ok(Some(v)) }.boxed()
    })
}

fn sync_ready(r: &mut Registrar) -> ImplBuilder<'_> {
    r.sync_fn::<Compute>(|x| Ok(Some(x + 1)))
}

fn yielding(r: &mut Registrar) -> ImplBuilder<'_> {
    r.hook_fn::<Compute>(|x| {
        let v = *x + 1;
        async move {
            tokio::task::yield_now().await;
            Ok(Some(v))
        }
        .boxed()
    })
}

fn ready_factories(n: usize) -> Vec<Factory> {
    (0..n)
        .map(|_| Box::new(|x: u64| Box::pin(async move { x + 1 }) as Boxed) as Factory)
        .collect()
}

fn g_parallel_ready(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("g_parallel_ready");
    configure(&mut g, 20);
    for n in [10usize, 100] {
        let caller = manager(n, ready).parallel();
        assert_eq!(rt.block_on(caller.call(&ARG)).unwrap().len(), n);
        g.bench_with_input(BenchmarkId::new("hookwire", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || caller.call(black_box(&ARG))))
        });
        let fs = ready_factories(n);
        g.bench_with_input(BenchmarkId::new("join_all", n), &n, |b, _| {
            b.iter_custom(|iters| {
                run_async(&rt, iters, || {
                    join_all(fs.iter().map(|f| f(black_box(ARG))))
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("spawn_per_impl", n), &n, |b, _| {
            b.iter_custom(|iters| {
                run_async(&rt, iters, || async {
                    let handles: Vec<_> =
                        fs.iter().map(|f| tokio::spawn(f(black_box(ARG)))).collect();
                    let mut out = Vec::with_capacity(handles.len());
                    for h in handles {
                        out.push(h.await.expect("task"));
                    }
                    out
                })
            })
        });
    }
    g.finish();
}

/// `g_parallel_ready` on tokio's default multi-thread runtime (2 workers), each measured loop
/// running inside a task on a worker — where an application's hook calls run. A spawned task
/// there goes through the worker's queue and may be stolen by the other worker.
fn g_parallel_ready_mt(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("multi-thread runtime");
    let mut g = c.benchmark_group("g_parallel_ready_mt");
    configure(&mut g, 20);
    for n in [10usize, 100] {
        let caller = manager(n, ready).parallel();
        g.bench_with_input(BenchmarkId::new("hookwire", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let caller = caller.clone();
                rt.block_on(rt.spawn(async move {
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        black_box(caller.call(black_box(&ARG)).await.ok());
                    }
                    start.elapsed()
                }))
                .expect("bench task")
            })
        });
        let fs = std::sync::Arc::new(ready_factories(n));
        g.bench_with_input(BenchmarkId::new("spawn_per_impl", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let fs = fs.clone();
                rt.block_on(rt.spawn(async move {
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        let handles: Vec<_> =
                            fs.iter().map(|f| tokio::spawn(f(black_box(ARG)))).collect();
                        let mut out = Vec::with_capacity(handles.len());
                        for h in handles {
                            out.push(h.await.expect("task"));
                        }
                        black_box(out);
                    }
                    start.elapsed()
                }))
                .expect("bench task")
            })
        });
    }
    g.finish();
}

fn h_parallel_sleep(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("h_parallel_sleep");
    configure(&mut g, 20);
    let caller = manager(100, |r| {
        r.hook_fn::<Compute>(|x| {
            let v = *x + 1;
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                Ok(Some(v))
            }
            .boxed()
        })
    })
    .parallel();
    g.bench_function("hookwire_100x1ms", |b| {
        b.iter_custom(|iters| run_async(&rt, iters, || caller.call(black_box(&ARG))))
    });
    let fs: Vec<Factory> = (0..100)
        .map(|_| {
            Box::new(|x: u64| {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    x + 1
                }) as Boxed
            }) as Factory
        })
        .collect();
    g.bench_function("join_all_100x1ms", |b| {
        b.iter_custom(|iters| {
            run_async(&rt, iters, || {
                join_all(fs.iter().map(|f| f(black_box(ARG))))
            })
        })
    });
    g.finish();
}

fn i_timeout(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("i_timeout");
    configure(&mut g, 20);
    let plain = manager(10, ready);
    let timed = manager(10, |r| ready(r).timeout(Duration::from_secs(1)));
    g.bench_function("ready_no_timeout", |b| {
        b.iter_custom(|iters| run_async(&rt, iters, || plain.call(black_box(&ARG))))
    });
    g.bench_function("ready_with_timeout", |b| {
        b.iter_custom(|iters| run_async(&rt, iters, || timed.call(black_box(&ARG))))
    });
    let timed_pending = manager(10, |r| yielding(r).timeout(Duration::from_secs(1)));
    g.bench_function("pending_with_timeout", |b| {
        b.iter_custom(|iters| run_async(&rt, iters, || timed_pending.call(black_box(&ARG))))
    });
    let fs: Vec<Factory> = (0..10)
        .map(|_| {
            Box::new(|x: u64| {
                Box::pin(async move {
                    tokio::task::yield_now().await;
                    x + 1
                }) as Boxed
            }) as Factory
        })
        .collect();
    g.bench_function("pending_tokio_timeout_loop", |b| {
        b.iter_custom(|iters| {
            run_async(&rt, iters, || async {
                let mut out = Vec::with_capacity(fs.len());
                for f in &fs {
                    out.push(
                        tokio::time::timeout(Duration::from_secs(1), f(black_box(ARG)))
                            .await
                            .ok(),
                    );
                }
                out
            })
        })
    });
    g.finish();
}

/// Statistics on vs off, paired: rounds that each time a batch of calls with statistics on and
/// one with them off back to back (alternating which goes first), so that both see the same
/// phase of the (shared, noisy) machine. Prints the on/off ratios' median and quartiles.
fn paired(rt: &Runtime, n: usize, what: &str, on: &HookCaller<Compute>, off: &HookCaller<Compute>) {
    const ROUNDS: usize = 41;
    // A few milliseconds per batch.
    let calls = 200_000 / n as u64;
    let batch = |c: &HookCaller<Compute>| run_async(rt, calls, || c.call(black_box(&ARG)));
    batch(on);
    batch(off);
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|round| {
            let (t_on, t_off) = if round % 2 == 0 {
                let t_on = batch(on);
                (t_on, batch(off))
            } else {
                let t_off = batch(off);
                (batch(on), t_off)
            };
            t_on.as_secs_f64() / t_off.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "k_stats/paired/{what}: on/off median {:.3} (quartiles {:.3}-{:.3}, {ROUNDS} rounds)",
        ratios[ROUNDS / 2],
        ratios[ROUNDS / 4],
        ratios[3 * ROUNDS / 4]
    );
}

/// Statistics on vs off. The pairs run back to back so that a slow phase of the machine hits
/// both; baselines: (b) boxed sync closures, (a) boxed async closures, into a pre-sized `Vec`.
/// Then the same pairs again, [`paired`]: the steadier comparison on a noisy machine.
fn k_stats(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("k_stats");
    configure(&mut g, 30);
    for n in [10usize, 100] {
        let on = manager_with(true, n, sync_ready);
        let off = manager_with(false, n, sync_ready);
        for caller in [&on, &off] {
            let values = rt.block_on(caller.call(&ARG)).unwrap().into_values();
            assert_eq!(values, vec![ARG + 1; n]);
        }
        g.bench_with_input(BenchmarkId::new("sync_stats_on", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || on.call(black_box(&ARG))))
        });
        g.bench_with_input(BenchmarkId::new("sync_stats_off", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || off.call(black_box(&ARG))))
        });
        let fs: Vec<Box<dyn Fn(u64) -> u64>> = (0..n)
            .map(|_| Box::new(|x: u64| x + 1) as Box<dyn Fn(u64) -> u64>)
            .collect();
        g.bench_with_input(BenchmarkId::new("sync_baseline", n), &n, |b, _| {
            b.iter_custom(|iters| {
                run_async(&rt, iters, || async {
                    let mut out = Vec::with_capacity(fs.len());
                    for f in &fs {
                        out.push(f(black_box(ARG)));
                    }
                    out
                })
            })
        });
        let on = manager_with(true, n, ready);
        let off = manager_with(false, n, ready);
        g.bench_with_input(BenchmarkId::new("async_stats_on", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || on.call(black_box(&ARG))))
        });
        g.bench_with_input(BenchmarkId::new("async_stats_off", n), &n, |b, _| {
            b.iter_custom(|iters| run_async(&rt, iters, || off.call(black_box(&ARG))))
        });
        let fs = ready_factories(n);
        g.bench_with_input(BenchmarkId::new("async_baseline", n), &n, |b, _| {
            b.iter_custom(|iters| {
                run_async(&rt, iters, || async {
                    let mut out = Vec::with_capacity(fs.len());
                    for f in &fs {
                        out.push(f(black_box(ARG)).await);
                    }
                    out
                })
            })
        });
    }
    g.finish();
    for n in [10usize, 100] {
        let on = manager_with(true, n, sync_ready);
        let off = manager_with(false, n, sync_ready);
        paired(&rt, n, &format!("sync/{n}"), &on, &off);
        let on = manager_with(true, n, ready);
        let off = manager_with(false, n, ready);
        paired(&rt, n, &format!("async/{n}"), &on, &off);
    }
}

criterion_group!(
    benches,
    g_parallel_ready,
    g_parallel_ready_mt,
    h_parallel_sleep,
    i_timeout,
    k_stats
);
criterion_main!(benches);
