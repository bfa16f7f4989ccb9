//! Plugin dependency resolution at scale.
//!
//! Run: `cargo bench --bench plugins`.
//!
//! The issue's target is "resolving and starting 1,000 no-op plugins ≤ 50 ms, and 10,000 ≤ 12×
//! the time of 1,000".
//!
//! - `start/N`: the target itself — a fresh `PluginManager`, N no-op plugins added (each with
//!   one sync impl of a shared hook, the default no-op lifecycle methods), `start()`: resolve,
//!   register every impl, init and start every plugin in dependency order, with a lifecycle
//!   event per transition. Dropping the manager is outside the measured time.
//! - `resolve/N`: `hookwire::resolve` alone on N ready-made `PluginMeta`s;
//! - `meta_and_resolve/N`: building the N `PluginMeta`s from strings (semver parsing of every
//!   version and requirement) and resolving them, what a host does from a folder of manifests.
//!
//! Graph: plugin `i` depends on up to 3 random earlier plugins (a random DAG, fixed seed, a
//! tiny xorshift), with requirements its dependencies match. Names are zero-padded and the
//! input is shuffled, so name order, input order and dependency order all differ.

use std::hint::black_box;
use std::time::Duration;

use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hookwire::{resolve, Plugin, PluginManager, PluginMeta, RegisterError, Registrar};
use semver::Version;

#[allow(dead_code)] // this bench uses only the runtime
mod common;

hookwire::hookspec! {
    /// The hook every benchmark plugin implements.
    pub struct Tick(u32) -> u32;
}

/// A no-op plugin: its metadata, one sync impl, default lifecycle.
struct NoOp(PluginMeta);

impl Plugin for NoOp {
    fn meta(&self) -> PluginMeta {
        self.0.clone()
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Tick>(|x| Ok(Some(*x))).add()
    }
}

const SIZES: [usize; 2] = [1_000, 10_000];

/// Marsaglia's xorshift64.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `(name, version, [(dependency, requirement)])` for `n` plugins, shuffled.
type Spec = (String, String, Vec<(String, String)>);

fn specs(n: usize) -> Vec<Spec> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let name = |i: usize| format!("plugin-{:05}", (i * 7919) % n.max(1));
    let mut out: Vec<Spec> = (0..n)
        .map(|i| {
            let deps = if i == 0 { 0 } else { rng.below(4) };
            let mut dep_idx: Vec<usize> = (0..deps).map(|_| rng.below(i)).collect();
            dep_idx.sort_unstable();
            dep_idx.dedup();
            let deps = dep_idx
                .into_iter()
                .map(|j| (name(j), format!("^{}.{}", 1 + j % 3, j % 5)))
                .collect();
            (name(i), format!("{}.{}.{}", 1 + i % 3, i % 5, i % 11), deps)
        })
        .collect();
    // Fisher-Yates with the same generator.
    for i in (1..out.len()).rev() {
        let j = rng.below(i + 1);
        out.swap(i, j);
    }
    out
}

fn build(specs: &[Spec]) -> Vec<PluginMeta> {
    specs
        .iter()
        .map(|(name, version, deps)| {
            deps.iter().fold(
                PluginMeta::new(name.as_str(), version).host_api("^1"),
                |m, (d, req)| m.requires(d.as_str(), req),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let host = Version::new(1, 4, 0);
    let mut g = c.benchmark_group("plugins");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for n in SIZES {
        let specs = specs(n);
        let metas = build(&specs);
        let res = resolve(&metas, &host).expect("the generated graph resolves");
        assert_eq!(res.start_order.len(), n);
        let rt = common::runtime();
        g.bench_with_input(BenchmarkId::new("start", n), &metas, |b, metas| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let pm = PluginManager::builder().host_api(host.clone()).build();
                    let t0 = Instant::now();
                    for m in metas {
                        pm.add(NoOp(m.clone())).unwrap();
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
            b.iter(|| resolve(black_box(metas), &host).unwrap());
        });
        g.bench_with_input(
            BenchmarkId::new("meta_and_resolve", n),
            &specs,
            |b, specs| b.iter(|| resolve(&build(black_box(specs)), &host).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
