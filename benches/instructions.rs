//! A driver for counting instructions per hook call with callgrind, which is repeatable where
//! wall-clock timings on a shared machine are not (see BENCHMARKS.md).
//!
//! ```text
//! cargo bench --bench instructions --no-run
//! BIN=$(ls -t target/release/deps/instructions-* | grep -v '\.d$' | head -1)
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null $BIN sync 2000 100
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null $BIN sync 1000 100
//! ```
//! (difference of the two totals) / 1000 = instructions per call, set-up excluded.
//! Modes: `sync`, `sync-baseline`, `async`, `async-baseline` (collect-all over N async impls
//! ready at once, and the hand-written loop over N boxed async fns), `first`, `first-baseline`
//! (a first-result call whose first impl answers at once, and the hand-written loop stopping at
//! the first `Some`), `parallel`, `join-all`,
//! `pending-timeout`, `tokio-timeout` (impls that yield once, under a 1 s timeout),
//! `macro-sync`, `macro-async` (the `sync`/`async` impls written as `#[hookwire::plugin]`
//! methods) and `hand-sync`, `hand-async` (the same written by hand: `impl SyncHook`,
//! `#[async_trait] impl Hook`), and
//! `sync-stats`, `async-stats`
//! (the same calls with per-impl statistics on), and `start` (N plugins added and started on
//! a fresh `PluginHost`, per iteration); then iterations and N.
//! Run by `cargo bench` with no arguments it does a few calls of each mode and exits.
//!
//! Targets (instructions per call; results in BENCHMARKS.md, "Instruction counts"):
//! `async` ≤ 2.0× `async-baseline` at N = 10 and 100, and ≤ 1.6× at N = 1; `first` (N = 1)
//! ≤ 2.0× `first-baseline`; `sync-stats`/`async-stats` ≤ 1.10× `sync`/`async`.

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

#[path = "common/plugin_graph.rs"]
mod plugin_graph;

use hookspecs::{Compute, ComputeFirst};
use hookwire::{FutureExt, HookManager, HookReturn, Plugin};

/// `sync`'s impl, as a `#[hookwire::plugin]` method (a generated `SyncHook` impl).
struct MacroSync;

#[hookwire::plugin(name = "macro-sync")]
impl MacroSync {
    #[hookimpl]
    fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(x + 1))
    }
}

/// `async`'s impl, as a `#[hookwire::plugin]` method (a generated `Hook` impl).
struct MacroAsync;

#[hookwire::plugin(name = "macro-async")]
impl MacroAsync {
    #[hookimpl]
    async fn compute(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(x + 1))
    }
}

/// `macro-sync`/`macro-async`'s impls written by hand, as a user would without the macro.
struct HandWritten;

impl hookwire::SyncHook<Compute> for HandWritten {
    fn call(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(x + 1))
    }
}

#[hookwire::async_trait]
impl hookwire::Hook<Compute> for HandWritten {
    async fn call(&self, x: &u64) -> HookReturn<u64> {
        Ok(Some(x + 1))
    }
}

/// Registers `n` copies of a macro-written plugin, under names of their own.
fn register_plugins<P: Plugin>(pm: &HookManager, n: usize, make: impl Fn() -> P) {
    for i in 0..n {
        let p = std::sync::Arc::new(make());
        pm.register(&format!("p{i}"), |r| p.register(r))
            .expect("register");
    }
}

type BoxedFn = Box<dyn Fn(u64) -> Pin<Box<dyn Future<Output = u64> + Send>>>;
type BoxedOptFn = Box<dyn Fn(u64) -> Pin<Box<dyn Future<Output = Option<u64>> + Send>>>;

fn poll_ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A current-thread runtime with the time driver, for the modes whose impls wait.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

/// The hand-written baseline's `n` boxed async functions.
fn boxed_fns(n: usize) -> Vec<BoxedFn> {
    (0..n)
        .map(|_| {
            Box::new(|x: u64| {
                Box::pin(async move { x + 1 }) as Pin<Box<dyn Future<Output = u64> + Send>>
            }) as BoxedFn
        })
        .collect()
}

/// Registers `n` plugins, each with an async impl of `Compute` that is ready at once.
fn register_ready_async(pm: &HookManager, n: usize) {
    for i in 0..n {
        pm.register(&format!("p{i}"), |r| {
            r.hook_fn::<Compute>(|x| {
                let v = *x + 1;
                async move { Ok(Some(v)) }.boxed()
            })
            .add()
        })
        .expect("register");
    }
}

/// `iters` starts of `n` plugins (the graph of `benches/plugins.rs`), each on a fresh
/// `PluginHost`: `add` every plugin, `start`, drop.
fn start_plugins(iters: u64, n: usize) {
    let metas = plugin_graph::build(&plugin_graph::specs(n));
    let rt = runtime();
    for _ in 0..iters {
        let pm = hookwire::PluginHost::builder()
            .host_api(semver::Version::new(1, 4, 0))
            .build();
        for m in &metas {
            pm.add(plugin_graph::NoOp(m.clone())).expect("add");
        }
        let report = rt.block_on(pm.start()).expect("start");
        assert_eq!(report.started.len(), n);
    }
}

fn run(mode: &str, iters: u64, n: usize) {
    if mode == "start" {
        return start_plugins(iters, n);
    }
    let (mode, stats) = match mode.strip_suffix("-stats") {
        Some(m) => (m, true),
        None => (mode, false),
    };
    let pm = HookManager::builder()
        .spec::<Compute>()
        .spec::<ComputeFirst>()
        .stats(stats)
        .build();
    match mode {
        "sync" => {
            for i in 0..n {
                pm.register(&format!("p{i}"), |r| {
                    r.sync_fn::<Compute>(|x| Ok(Some(x + 1))).add()
                })
                .expect("register");
            }
            let c = pm.hook::<Compute>();
            for _ in 0..iters {
                black_box(poll_ready(c.call(black_box(&7))).expect("call"));
            }
        }
        "macro-sync" | "macro-async" => {
            if mode == "macro-sync" {
                register_plugins(&pm, n, || MacroSync);
            } else {
                register_plugins(&pm, n, || MacroAsync);
            }
            let c = pm.hook::<Compute>();
            for _ in 0..iters {
                black_box(poll_ready(c.call(black_box(&7))).expect("call"));
            }
        }
        "hand-sync" | "hand-async" => {
            let h = std::sync::Arc::new(HandWritten);
            for i in 0..n {
                pm.register(&format!("p{i}"), |r| {
                    if mode == "hand-sync" {
                        r.sync_hook::<Compute>(h.clone()).add()
                    } else {
                        r.hook::<Compute>(h.clone()).add()
                    }
                })
                .expect("register");
            }
            let c = pm.hook::<Compute>();
            for _ in 0..iters {
                black_box(poll_ready(c.call(black_box(&7))).expect("call"));
            }
        }
        "parallel" => {
            register_ready_async(&pm, n);
            let c = pm.hook::<Compute>().parallel();
            for _ in 0..iters {
                black_box(poll_ready(c.call(black_box(&7))).expect("call"));
            }
        }
        "join-all" => {
            let fs = boxed_fns(n);
            for _ in 0..iters {
                black_box(poll_ready(futures::future::join_all(
                    fs.iter().map(|f| f(black_box(7))),
                )));
            }
        }
        "pending-timeout" => {
            for i in 0..n {
                pm.register(&format!("p{i}"), |r| {
                    r.hook_fn::<Compute>(|x| {
                        let v = *x + 1;
                        async move {
                            tokio::task::yield_now().await;
                            Ok(Some(v))
                        }
                        .boxed()
                    })
                    .timeout(std::time::Duration::from_secs(1))
                    .add()
                })
                .expect("register");
            }
            let c = pm.hook::<Compute>();
            runtime().block_on(async {
                for _ in 0..iters {
                    black_box(c.call(black_box(&7)).await.expect("call"));
                }
            });
        }
        "tokio-timeout" => {
            let fs: Vec<BoxedFn> = (0..n)
                .map(|_| {
                    Box::new(|x: u64| {
                        Box::pin(async move {
                            tokio::task::yield_now().await;
                            x + 1
                        }) as Pin<Box<dyn Future<Output = u64> + Send>>
                    }) as BoxedFn
                })
                .collect();
            runtime().block_on(async {
                for _ in 0..iters {
                    let mut out = Vec::with_capacity(fs.len());
                    for f in &fs {
                        out.push(
                            tokio::time::timeout(
                                std::time::Duration::from_secs(1),
                                f(black_box(7)),
                            )
                            .await
                            .ok(),
                        );
                    }
                    black_box(out);
                }
            });
        }
        "async" => {
            register_ready_async(&pm, n);
            let c = pm.hook::<Compute>();
            for _ in 0..iters {
                black_box(poll_ready(c.call(black_box(&7))).expect("call"));
            }
        }
        "first" => {
            for i in 0..n {
                pm.register(&format!("p{i}"), |r| {
                    r.hook_fn::<ComputeFirst>(|x| {
                        let v = *x + 1;
                        async move { Ok(Some(v)) }.boxed()
                    })
                    .add()
                })
                .expect("register");
            }
            let c = pm.hook::<ComputeFirst>();
            for _ in 0..iters {
                black_box(poll_ready(c.call(black_box(&7))).expect("call"));
            }
        }
        "first-baseline" => {
            let fs: Vec<BoxedOptFn> = (0..n)
                .map(|_| {
                    Box::new(|x: u64| {
                        Box::pin(async move { Some(x + 1) })
                            as Pin<Box<dyn Future<Output = Option<u64>> + Send>>
                    }) as BoxedOptFn
                })
                .collect();
            for _ in 0..iters {
                black_box(poll_ready(async {
                    for f in &fs {
                        if let Some(v) = f(black_box(7)).await {
                            return Some(v);
                        }
                    }
                    None
                }));
            }
        }
        "sync-baseline" => {
            let fs: Vec<Box<dyn Fn(u64) -> u64>> = (0..n)
                .map(|_| Box::new(|x: u64| x + 1) as Box<dyn Fn(u64) -> u64>)
                .collect();
            for _ in 0..iters {
                let mut out = Vec::with_capacity(fs.len());
                for f in &fs {
                    out.push(f(black_box(7)));
                }
                black_box(out);
            }
        }
        "async-baseline" => {
            let fs = boxed_fns(n);
            for _ in 0..iters {
                black_box(poll_ready(async {
                    let mut out = Vec::with_capacity(fs.len());
                    for f in &fs {
                        out.push(f(black_box(7)).await);
                    }
                    out
                }));
            }
        }
        other => panic!(
            "unknown mode {other:?}: sync, sync-baseline, async, async-baseline, first, first-baseline, macro-sync, macro-async, hand-sync, hand-async, parallel, join-all, pending-timeout, tokio-timeout, sync-stats, async-stats"
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(mode) if !mode.starts_with('-') => {
            let iters = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
            run(mode, iters, n);
        }
        // `cargo bench` passes `--bench`: a smoke run of every mode.
        _ => {
            for mode in [
                "sync",
                "sync-baseline",
                "async",
                "async-baseline",
                "macro-sync",
                "macro-async",
                "hand-sync",
                "hand-async",
                "first",
                "first-baseline",
                "parallel",
                "join-all",
                "pending-timeout",
                "tokio-timeout",
                "sync-stats",
                "async-stats",
                "start",
            ] {
                run(mode, 10, 10);
            }
        }
    }
}
