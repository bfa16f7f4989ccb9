//! Scanning plugin folders: cold and warm, 1,000 and 10,000 manifests.
//!
//! Run: `cargo bench --bench discovery --features discovery -- --sample-size 10`
//!
//! Targets (release build, wall clock): a cold scan of 1,000 manifests ≤ 200 ms, a warm rescan
//! of the same ≤ 10 % of the cold scan, 10,000 manifests ≤ 15× the time of 1,000. See
//! BENCHMARKS.md ("Discovery").
//!
//! - `cold/N`: a new `Scanner` (empty cache) scans one folder of N plugin folders, each with a
//!   realistic `plugin.toml` (dependencies, config, priorities, conditions): list, stat, read,
//!   parse, validate. The files may be in the OS page cache (the fixture is written once).
//! - `warm/N`: the same scanner scans again, nothing changed: the status of the folder (its
//!   listing is reused) and of each manifest (`statx` relative to the folder on Linux).
//! - `list_and_stat/N`: what the same check costs through `std::fs` — `read_dir` and one
//!   `std::fs::metadata` of the full path per manifest — the floor of a rescan that lists
//!   the folder and asks for each manifest's status by path (the scanner before 2026-12-03).
//!
//! Fixtures (the manifests and the folder) get modification times an hour in the past
//! (`File::set_modified`), so that the rule "a time within 2 s of the scan is not trusted"
//! does not force the warm scan to hash the manifests or to list the folder (asserted).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hookwire::discovery::Scanner;

const SIZES: [usize; 2] = [1_000, 10_000];

fn manifest(i: usize) -> String {
    format!(
        r#"name = "plugin-{i}"
version = "1.{i}.0"
description = "Benchmark plugin number {i}"
kind = "linked"
host_api = "^1"
permissions = ["net"]
lazy = {lazy}

[requires]
plugin-{dep} = "^1"

[config]
endpoint = "https://example.com/{i}"
retries = 3
tags = ["a", "b"]

[priority]
on_request = {i}

[conditions]
env_set = ["HOME"]
features = ["beta"]
"#,
        lazy = i.is_multiple_of(2),
        dep = i / 2,
    )
}

fn fixture(root: &Path, n: usize) {
    let past = SystemTime::now() - Duration::from_secs(3600);
    for i in 0..n {
        let dir = root.join(format!("plugin-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("plugin.toml");
        std::fs::write(&path, manifest(i)).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(past).unwrap();
    }
    std::fs::File::open(root)
        .unwrap()
        .set_modified(past)
        .unwrap();
}

fn discovery(c: &mut Criterion) {
    let mut group = c.benchmark_group("discovery");
    for n in SIZES {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), n);
        let folders = [dir.path()];
        // Every manifest is valid and the warm scan parses none.
        let mut scanner = Scanner::new();
        let first = scanner.scan(&folders);
        assert_eq!(first.plugins.len(), n);
        assert!(first.plugins.iter().all(|p| p.manifest.is_ok()));
        assert_eq!(scanner.scan(&folders).stats.parsed, 0);

        group.bench_with_input(BenchmarkId::new("cold", n), &n, |b, _| {
            b.iter(|| black_box(Scanner::new().scan(&folders)))
        });
        // Nothing changed and every modification time is old enough: the warm scan reads no
        // manifest and does not list the folder.
        let warm = scanner.scan(&folders).stats;
        assert_eq!(
            (warm.parsed, warm.hashed, warm.reused, warm.listed),
            (0, 0, n, 0)
        );
        group.bench_with_input(BenchmarkId::new("warm", n), &n, |b, _| {
            b.iter(|| black_box(scanner.scan(&folders)))
        });
        // The floor of a warm rescan: listing the folder and one `stat` per manifest.
        group.bench_with_input(BenchmarkId::new("list_and_stat", n), &n, |b, _| {
            b.iter(|| {
                for entry in std::fs::read_dir(dir.path()).unwrap() {
                    let path = entry.unwrap().path().join("plugin.toml");
                    black_box(std::fs::metadata(&path).unwrap().len());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, discovery);
criterion_main!(benches);
