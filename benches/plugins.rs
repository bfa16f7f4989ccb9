//! Plugin dependency resolution at scale.
//!
//! Run: `cargo bench --bench plugins`.
//!
//! The issue's target is "resolving and starting 1,000 no-op plugins ≤ 50 ms, and 10,000 ≤ 12×
//! the time of 1,000".
//!
//! - `start/N`: the start the issue times — a fresh `PluginManager`, N ready no-op plugins added
//!   (each with one sync impl of a shared hook, the default no-op lifecycle methods; building
//!   the plugin values is outside the measured time), `start()`: resolve,
//!   register every impl, init and start every plugin in dependency order, with a lifecycle
//!   event per transition. Dropping the manager is outside the measured time.
//! - `start_cold/N`: the same, with the CPU caches flushed before each start (64 MiB written
//!   outside the measured time), as when a process starts its plugins once at boot; the warm
//!   loop of `start/N` keeps 1,000 plugins' memory in cache from one iteration to the next,
//!   which no real start-up enjoys (10,000 plugins' does not fit: warm and cold take the same
//!   time there). So this is the like-for-like comparison of the two sizes, the growth the
//!   issue bounds; `start/N`'s ratio also measures the 1,000 plugins' cache residency;
//! - `start_boot/N`: one start per fresh process (this benchmark runs itself as a child that
//!   builds the plugins, adds and starts them once and reports the time of that): what a host
//!   pays at boot, first touch of all the memory included; neither size inherits caches or a
//!   grown heap from an earlier iteration.
//! - `resolve/N`: `hookwire::resolve` alone on N ready-made `PluginMeta`s;
//! - `meta_and_resolve/N`: building the N `PluginMeta`s from strings (semver parsing of every
//!   version and requirement) and resolving them, what a host does from a folder of manifests.
//!
//! Graph (`common/plugin_graph.rs`): plugin `i` depends on up to 3 random earlier plugins (a
//! random DAG, fixed seed), with requirements its dependencies match; names, input order and
//! dependency order all differ.
//!
//! Each size runs in a process of its own (this benchmark runs itself once per size, with the
//! same arguments): measured in one process after the 1,000-plugin benchmarks, 10,000 plugins
//! inherit a heap those shaped (and a 64 MiB flush buffer freed) and took 14–20% longer than
//! alone, which is the benchmark's history, not the start's cost.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode};
use hookwire::{resolve, PluginManager};
use semver::Version;

#[allow(dead_code)] // this bench uses only the runtime
mod common;

#[path = "common/plugin_graph.rs"]
mod plugin_graph;

use plugin_graph::{build, specs, NoOp};

const SIZES: [usize; 2] = [1_000, 10_000];

/// Set (to N) in the child process of `start_boot/N`.
const BOOT_VAR: &str = "HOOKWIRE_BENCH_BOOT";

/// Set (to N) in the process that runs the benchmarks of size N.
const SIZE_VAR: &str = "HOOKWIRE_BENCH_SIZE";

/// `start_boot/N`'s child: one start of N plugins; prints its time in nanoseconds.
fn boot_child(n: usize) {
    let rt = common::runtime();
    let metas = build(&specs(n));
    let pm = PluginManager::builder()
        .host_api(Version::new(1, 4, 0))
        .build();
    let plugins: Vec<NoOp> = metas.iter().map(|m| NoOp(m.clone())).collect();
    let t0 = Instant::now();
    for p in plugins {
        pm.add(p).unwrap();
    }
    let report = rt.block_on(pm.start()).unwrap();
    let elapsed = t0.elapsed();
    assert_eq!(report.started.len(), n);
    println!("{}", elapsed.as_nanos());
}

/// Runs one `start_boot` child and returns the time it measured.
fn boot_once(n: usize) -> Duration {
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let out = Command::new(exe)
        .env(BOOT_VAR, n.to_string())
        .output()
        .expect("the benchmark runs itself");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nanos: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the child prints nanoseconds");
    Duration::from_nanos(nanos)
}

/// The benchmarks of `n` plugins.
fn bench(c: &mut Criterion, n: usize) {
    let host = Version::new(1, 4, 0);
    let mut g = c.benchmark_group("plugins");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let specs = specs(n);
    let metas = build(&specs);
    let res = resolve(&metas, &host).expect("the generated graph resolves");
    assert_eq!(res.start_order.len(), n);
    let rt = common::runtime();
    for (label, cold) in [("start", false), ("start_cold", true)] {
        g.bench_with_input(BenchmarkId::new(label, n), &metas, |b, metas| {
            let mut flush = vec![0u8; if cold { 64 << 20 } else { 0 }];
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let pm = PluginManager::builder().host_api(host.clone()).build();
                    // The plugins exist before the host adds them (built by their
                    // authors' code, or loaded): making them is not part of the start.
                    let plugins: Vec<NoOp> = metas.iter().map(|m| NoOp(m.clone())).collect();
                    // Evicts everything the previous iteration (and making the plugins)
                    // left in the caches.
                    for (j, byte) in flush.iter_mut().enumerate().step_by(64) {
                        *byte = (i as usize + j) as u8;
                    }
                    black_box(&flush);
                    let t0 = Instant::now();
                    for p in plugins {
                        pm.add(p).unwrap();
                    }
                    let report = rt.block_on(pm.start()).unwrap();
                    total += t0.elapsed();
                    assert_eq!(report.started.len(), n);
                    drop(black_box(pm));
                }
                total
            });
        });
    }
    g.bench_with_input(BenchmarkId::new("resolve", n), &metas, |b, metas| {
        b.iter(|| resolve(black_box(metas), &host).unwrap());
    });
    g.bench_with_input(
        BenchmarkId::new("meta_and_resolve", n),
        &specs,
        |b, specs| b.iter(|| resolve(&build(black_box(specs)), &host).unwrap()),
    );
    g.finish();

    // A process per start: few of them, each sample one start.
    let mut g = c.benchmark_group("plugins");
    g.sample_size(15)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(1))
        .warm_up_time(Duration::from_millis(200));
    g.bench_function(BenchmarkId::new("start_boot", n), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| boot_once(n)).sum());
    });
    g.finish();
}

/// The size this process benchmarks, from `var`.
fn size_from(var: &str) -> Option<usize> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

fn main() {
    if let Some(n) = size_from(BOOT_VAR) {
        boot_child(n);
        return;
    }
    if let Some(n) = size_from(SIZE_VAR) {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c, n);
        c.final_summary();
        return;
    }
    // One process per size, each with this process's arguments (filters, baselines, ...).
    let exe = std::env::current_exe().expect("the benchmark's own path");
    for n in SIZES {
        let status = Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .env(SIZE_VAR, n.to_string())
            .status()
            .expect("the benchmark runs itself");
        assert!(status.success(), "the benchmarks of {n} plugins failed");
    }
}
