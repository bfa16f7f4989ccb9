//! Process plugins (`hookwire::external`) against the floor of a stdio echo loop, in one run.
//!
//! Run: `cargo bench -p hookwire-benches --features process --bench external`
//! (cargo builds the two child programs of this crate, `bench-echo-lines` and
//! `bench-ping-plugin`, in the bench profile, i.e. release). Options after `--`:
//! `--round-trips N` (timed one-at-a-time calls per repetition, default 2000), `--pipelined N`
//! (calls per throughput repetition, default 20000), `--reps N` (default 3), `--current-thread`
//! (the host on a current-thread runtime instead of the default multi-thread one),
//! `--only echo|rust|python` (measure only that peer; repeat it for several, e.g. to profile
//! one with `perf`), `--no-python` (`--only echo --only rust`).
//!
//! Three peers, each measured the same two ways, interleaved (echo, Rust, Python; then again,
//! `--reps` times) so that the machine's noise falls on all three alike:
//! - **echo**: the floor. `bench-echo-lines` (`external/echo.rs`) reads a line from stdin,
//!   writes it to stdout and flushes; the host writes a line of the size of a call request to
//!   the child's stdin pipe and reads the echoed line back (tokio `Command` pipes, as the
//!   process plugin uses). A Rust binary rather than `cat`: `cat` copies whatever `read`
//!   returns with no framing, whereas a plugin must find the end of a line before it answers;
//!   the echo loop does exactly that much and no more (no parsing, no task hop).
//! - **rust**: `pm.call_json("ping", n)` to `bench-ping-plugin` (`external/ping_plugin.rs`,
//!   the Rust SDK's `serve_stdio` with one trivial hook `ping(u64) -> u64`), a
//!   [`ProcessPlugin`] started by [`ProcessPlugin::builder`]`(..).spawn(&pm)` and a
//!   [`PluginHost`].
//! - **python**: the same hook in Python with the SDK (`external/ping_plugin.py`,
//!   `sdk/python/hookwire_plugin.py`), under `python3`.
//!
//! Figures: **round-trip** — one call at a time, each timed with `Instant` (p50, p99, mean
//! over all repetitions' samples, after a warm-up); **throughput** — `--pipelined` calls with
//! 16 in flight at all times (a `FuturesUnordered` refilled as each call ends; for the echo, a
//! writer task that may run 16 lines ahead of a reader task), calls per second, the median of
//! the repetitions. Ratios are of figures from this run.
//!
//! Targets (issue 23, BENCHMARKS.md (m)): the Rust plugin's round-trip p50 ≤ 3× the echo's;
//! its throughput ≥ 1/3 of the echo's pipelined throughput. The Python plugin: reported only.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use hookwire::external::{ProcessPlugin, RestartPolicy};
use hookwire::spec::SpecInfo;
use hookwire::{HookManager, PluginHost};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

/// Calls in flight for the throughput figures.
const IN_FLIGHT: usize = 16;
/// One-at-a-time calls before the timed ones, per peer and repetition.
const WARM_UP: usize = 200;

struct Options {
    round_trips: usize,
    pipelined: usize,
    reps: usize,
    current_thread: bool,
    /// The peers to measure (`--only`); all when empty.
    only: Vec<String>,
}

impl Options {
    fn wants(&self, peer: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == peer)
    }
}

fn options() -> Options {
    let mut o = Options {
        round_trips: 2000,
        pipelined: 20_000,
        reps: 3,
        current_thread: false,
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} takes a positive number"))
        };
        match a.as_str() {
            "--round-trips" => o.round_trips = number("--round-trips").max(1),
            "--pipelined" => o.pipelined = number("--pipelined").max(IN_FLIGHT),
            "--reps" => o.reps = number("--reps").max(1),
            "--current-thread" => o.current_thread = true,
            "--no-python" => o.only = vec!["echo".into(), "rust".into()],
            "--only" => match args.next().as_deref() {
                Some(p @ ("echo" | "rust" | "python")) => o.only.push(p.to_owned()),
                _ => panic!("--only takes echo, rust or python"),
            },
            // `cargo bench` passes `--bench`; filters mean nothing here.
            _ => {}
        }
    }
    o
}

/// A peer under measurement: one call at a time, or many in flight.
trait Peer {
    /// One round trip, checked.
    async fn round_trip(&mut self, n: u64);
    /// `total` round trips with [`IN_FLIGHT`] in flight; the time they took.
    async fn pipelined(&mut self, total: usize) -> Duration;
}

/// The floor: `bench-echo-lines` behind tokio's child pipes.
struct Echo {
    _child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<BufReader<ChildStdout>>,
    line: String,
}

/// A line of the size of the process plugin's call request for `ping` (measured: the
/// request `{"jsonrpc":"2.0","id":..,"method":"hook/call","params":{..}}` is about this long).
fn echo_line(n: u64) -> String {
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{n},\"method\":\"hook/call\",\"params\":{{\"hook\":\"ping\",\"args\":{n},\"depth\":0}}}}\n")
}

impl Echo {
    fn spawn() -> Echo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bench-echo-lines"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("bench-echo-lines starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().map(BufReader::new);
        Echo {
            _child: child,
            stdin,
            stdout,
            line: String::new(),
        }
    }
}

impl Peer for Echo {
    async fn round_trip(&mut self, n: u64) {
        let (Some(stdin), Some(stdout)) = (self.stdin.as_mut(), self.stdout.as_mut()) else {
            unreachable!("the pipes are put back after each pipelined run")
        };
        let sent = echo_line(n);
        stdin.write_all(sent.as_bytes()).await.expect("write");
        stdin.flush().await.expect("flush");
        self.line.clear();
        stdout.read_line(&mut self.line).await.expect("read");
        assert_eq!(self.line, sent);
    }

    async fn pipelined(&mut self, total: usize) -> Duration {
        let mut stdin = self.stdin.take().expect("stdin");
        let mut stdout = self.stdout.take().expect("stdout");
        let window = Arc::new(Semaphore::new(IN_FLIGHT));
        let t0 = Instant::now();
        let writer = {
            let window = window.clone();
            tokio::spawn(async move {
                for n in 0..total as u64 {
                    window.acquire().await.expect("open").forget();
                    stdin
                        .write_all(echo_line(n).as_bytes())
                        .await
                        .expect("write");
                    stdin.flush().await.expect("flush");
                }
                stdin
            })
        };
        let reader = tokio::spawn(async move {
            let mut line = String::new();
            for _ in 0..total {
                line.clear();
                stdout.read_line(&mut line).await.expect("read");
                assert!(line.ends_with('\n'));
                window.add_permits(1);
            }
            stdout
        });
        let stdin = writer.await.expect("writer");
        let stdout = reader.await.expect("reader");
        let took = t0.elapsed();
        self.stdin = Some(stdin);
        self.stdout = Some(stdout);
        took
    }
}

/// A process plugin implementing `ping`, behind a `HookManager` and a started `PluginHost`.
struct Plugin {
    pm: HookManager,
    host: PluginHost,
}

impl Plugin {
    async fn spawn(name: &str, program: &Path, args: &[&Path], env: &[(&str, &Path)]) -> Plugin {
        let pm = HookManager::builder()
            .dynamic_spec(SpecInfo::json("ping"))
            .build();
        let mut b = ProcessPlugin::builder(name, program)
            .args(args.iter().copied())
            .restart(RestartPolicy::never())
            .start_timeout(Duration::from_secs(30));
        for (k, v) in env {
            b = b.env(*k, *v);
        }
        let plugin = b
            .spawn(&pm)
            .await
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let host = PluginHost::builder().hooks(pm.clone()).build();
        host.add(plugin).expect("add");
        host.start().await.expect("start");
        Plugin { pm, host }
    }

    async fn call(pm: &HookManager, n: u64) {
        let out = pm.call_json("ping", json!(n)).await.expect("call");
        let answer = out.values().next();
        assert_eq!(answer, Some(&Value::from(n + 1)), "{out:?}");
    }
}

impl Peer for Plugin {
    async fn round_trip(&mut self, n: u64) {
        Plugin::call(&self.pm, n).await;
    }

    async fn pipelined(&mut self, total: usize) -> Duration {
        let pm = &self.pm;
        let t0 = Instant::now();
        let mut in_flight = FuturesUnordered::new();
        let mut started = 0u64;
        while (started as usize) < IN_FLIGHT.min(total) {
            in_flight.push(Plugin::call(pm, started));
            started += 1;
        }
        while in_flight.next().await.is_some() {
            if (started as usize) < total {
                in_flight.push(Plugin::call(pm, started));
                started += 1;
            }
        }
        t0.elapsed()
    }
}

/// One peer's samples over all repetitions.
#[derive(Default)]
struct Figures {
    latencies: Vec<Duration>,
    throughputs: Vec<f64>,
}

impl Figures {
    fn percentile(&self, p: f64) -> Duration {
        let mut s = self.latencies.clone();
        s.sort_unstable();
        let i = ((s.len() as f64 - 1.0) * p).round() as usize;
        s[i]
    }

    fn mean(&self) -> Duration {
        self.latencies.iter().sum::<Duration>() / self.latencies.len() as u32
    }

    fn throughput(&self) -> f64 {
        let mut t = self.throughputs.clone();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }
}

async fn measure(peer: &mut impl Peer, figures: &mut Figures, o: &Options) {
    for n in 0..WARM_UP as u64 {
        peer.round_trip(n).await;
    }
    for n in 0..o.round_trips as u64 {
        let t0 = Instant::now();
        peer.round_trip(n).await;
        figures.latencies.push(t0.elapsed());
    }
    let took = peer.pipelined(o.pipelined).await;
    figures
        .throughputs
        .push(o.pipelined as f64 / took.as_secs_f64());
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn run(o: Options) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let sdk = root
        .join("../sdk/python")
        .canonicalize()
        .expect("sdk/python");
    let script = root.join("external/ping_plugin.py");
    let rust_exe = PathBuf::from(env!("CARGO_BIN_EXE_bench-ping-plugin"));

    let mut echo = o.wants("echo").then(Echo::spawn);
    let mut rust = match o.wants("rust") {
        true => Some(Plugin::spawn("ping-rs", &rust_exe, &[], &[]).await),
        false => None,
    };
    let mut python = match o.wants("python") {
        true => Some(
            Plugin::spawn(
                "ping-py",
                Path::new("python3"),
                &[&script],
                &[("PYTHONPATH", &sdk)],
            )
            .await,
        ),
        false => None,
    };

    let [mut fe, mut fr, mut fp] = [(); 3].map(|_| Figures::default());
    for rep in 0..o.reps {
        eprintln!("repetition {}/{}", rep + 1, o.reps);
        if let Some(echo) = echo.as_mut() {
            measure(echo, &mut fe, &o).await;
        }
        if let Some(rust) = rust.as_mut() {
            measure(rust, &mut fr, &o).await;
        }
        if let Some(python) = python.as_mut() {
            measure(python, &mut fp, &o).await;
        }
    }

    println!(
        "external: {} round trips x {} reps, {} pipelined calls ({IN_FLIGHT} in flight) x {} reps, {} runtime",
        o.round_trips,
        o.reps,
        o.pipelined,
        o.reps,
        if o.current_thread { "current-thread" } else { "multi-thread" },
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>14}",
        "peer", "p50 µs", "p99 µs", "mean µs", "calls/s (16)"
    );
    for (name, f) in [("echo", &fe), ("rust", &fr), ("python", &fp)] {
        if f.latencies.is_empty() {
            continue;
        }
        println!(
            "{:<10} {:>10.1} {:>10.1} {:>10.1} {:>14.0}",
            name,
            micros(f.percentile(0.5)),
            micros(f.percentile(0.99)),
            micros(f.mean()),
            f.throughput()
        );
    }
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    if !fe.latencies.is_empty() && !fr.latencies.is_empty() {
        let p50_ratio = micros(fr.percentile(0.5)) / micros(fe.percentile(0.5));
        let thr_ratio = fr.throughput() / fe.throughput();
        println!(
            "rust/echo p50 = {p50_ratio:.2}x (target <= 3: {}); rust/echo throughput = {thr_ratio:.2} (target >= 0.33: {})",
            verdict(p50_ratio <= 3.0),
            verdict(thr_ratio >= 1.0 / 3.0)
        );
    }
    if !fe.latencies.is_empty() && !fp.latencies.is_empty() {
        println!(
            "python/echo p50 = {:.2}x; python/echo throughput = {:.3} (reported, no target)",
            micros(fp.percentile(0.5)) / micros(fe.percentile(0.5)),
            fp.throughput() / fe.throughput()
        );
    }

    for p in rust.into_iter().chain(python) {
        p.host.shutdown(Duration::from_secs(2)).await;
    }
    drop(echo);
}

fn main() {
    let o = options();
    let mut rt = if o.current_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let rt = rt.enable_all().build().expect("tokio runtime");
    rt.block_on(run(o));
}
