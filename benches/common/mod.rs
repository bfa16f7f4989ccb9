//! What every benchmark file shares: the runtime, the criterion settings and the driver that
//! runs all of a sample's iterations inside one `block_on` (what criterion's `to_async` does).

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use tokio::runtime::Runtime;

/// A current-thread runtime with the time driver (timeouts and sleeps need it).
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("current-thread runtime")
}

/// Short, comparable settings: the machine is shared and noisy, so we compare ratios in one run.
pub fn configure(g: &mut BenchmarkGroup<'_, WallTime>, samples: usize) {
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(samples);
}

/// Runs `iters` awaits of `f()` inside one `block_on`, returning the time they took.
pub fn run_async<F, Fut>(rt: &Runtime, iters: u64, f: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(f().await);
        }
        start.elapsed()
    })
}
