//! Plugin dependency resolution and start at scale.
//!
//! Run: `cargo bench --bench plugins` (only the start: `cargo bench --bench plugins -- start`).
//!
//! Targets (ceilings, release build, wall clock): resolving and starting 1,000 plugins with a
//! random dependency DAG ≤ 50 ms, 10,000 ≤ 1 s. See BENCHMARKS.md (j).
//!
//! - `start/N`: a fresh `PluginHost`, N ready no-op plugins added (each with one sync impl
//!   of a shared hook, the default no-op lifecycle methods; building the plugin values is
//!   outside the measured time), `start()`: resolve, register every impl, init and start every
//!   plugin in dependency order, with a lifecycle event per transition. Dropping the manager
//!   is outside the measured time.
//! - `resolve/N`: `hookwire::deps::Resolution::compute` alone on N ready-made `PluginMeta`s;
//! - `meta_and_resolve/N`: building the N `PluginMeta`s from strings (semver parsing of every
//!   version and requirement) and resolving them, what a host does from a folder of manifests.
//!
//! Graph (`common/plugin_graph.rs`): plugin `i` depends on up to 3 random earlier plugins (a
//! random DAG, fixed seed), with requirements its dependencies match; names, input order and
//! dependency order all differ.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hookwire::{deps::Resolution, PluginHost};
use semver::Version;

#[allow(dead_code)] // this bench uses only the runtime
mod common;

#[path = "common/plugin_graph.rs"]
mod plugin_graph;

use plugin_graph::{build, specs, NoOp};

const SIZES: [usize; 2] = [1_000, 10_000];

fn plugins(c: &mut Criterion) {
    let host = Version::new(1, 4, 0);
    let rt = common::runtime();
    let mut g = c.benchmark_group("plugins");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in SIZES {
        let specs = specs(n);
        let metas = build(&specs);
        let res = Resolution::compute(&metas, &host).expect("the generated graph resolves");
        assert_eq!(res.start_order.len(), n);
        g.bench_with_input(BenchmarkId::new("start", n), &metas, |b, metas| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let pm = PluginHost::builder().host_api(host.clone()).build();
                    // The plugins exist before the host adds them (built by their
                    // authors' code, or loaded): making them is not part of the start.
                    let plugins: Vec<NoOp> = metas.iter().map(|m| NoOp(m.clone())).collect();
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
        g.bench_with_input(BenchmarkId::new("resolve", n), &metas, |b, metas| {
            b.iter(|| Resolution::compute(black_box(metas), &host).unwrap());
        });
        g.bench_with_input(
            BenchmarkId::new("meta_and_resolve", n),
            &specs,
            |b, specs| b.iter(|| Resolution::compute(&build(black_box(specs)), &host).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, plugins);
criterion_main!(benches);
