//! Process plugins (`hookwire::external`) against the floor of a stdio echo loop, in one run.
//!
//! Run: `cargo bench -p hookwire-benches --features process --bench external`
//! (cargo builds the two child programs of this crate, `bench-echo-lines` and
//! `bench-ping-plugin`, in the bench profile, i.e. release). Options after `--`:
//! `--round-trips N` (timed one-at-a-time calls per repetition, default 2000), `--pipelined N`
//! (calls per throughput repetition, default 20000), `--reps N` (default 3), `--current-thread`
//! (the host on a current-thread runtime instead of the default multi-thread one),
//! `--only echo|rust|typed|python` (measure only that peer; repeat it for several, e.g. to
//! profile one with `perf`), `--no-python` (`--only echo --only rust --only typed`),
//! `--driver block-on|tasks` (only that throughput driver, see below; both by default).
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
//! - **typed**: the same plugin called through the typed API,
//!   `pm.hook::<Ping>().call(&n)`, with `Ping(u64) -> u64` declared by `json_spec::<Ping>()`
//!   (its serde bridge: the plugin's JSON impl serves the typed spec).
//! - **python**: the same hook in Python with the SDK (`external/ping_plugin.py`,
//!   `sdk/python/hookwire_plugin.py`), under `python3`.
//!
//! Figures: **round-trip** — one call at a time, each timed with `Instant` (p50, p99, mean
//! over all repetitions' samples, after a warm-up); **throughput** — `--pipelined` calls with
//! 16 in flight at all times, calls per second, the median of the repetitions, with two
//! drivers: **block-on**, a `FuturesUnordered` refilled as each call ends, polled by the
//! `block_on` thread (the caller is not a runtime worker); **tasks**, 16 tasks spawned on the
//! runtime, each making calls one after the other until `--pipelined` calls were made (what a
//! server does: its handlers are tasks). For the echo both are the same: a writer task that
//! may run 16 lines ahead of a reader task. Ratios are of figures from this run.
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
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;

hookwire::hookspec! {
    /// The plugin's hook, typed: answers its argument plus one.
    #[name = "ping"]
    pub struct Ping(u64) -> u64;
}

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
    /// The throughput drivers to run: `[block-on, tasks]`.
    drivers: [bool; 2],
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
        drivers: [true, true],
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
            "--no-python" => o.only = vec!["echo".into(), "rust".into(), "typed".into()],
            "--only" => match args.next().as_deref() {
                Some(p @ ("echo" | "rust" | "typed" | "python")) => o.only.push(p.to_owned()),
                _ => panic!("--only takes echo, rust, typed or python"),
            },
            "--driver" => match args.next().as_deref() {
                Some("block-on") => o.drivers = [true, false],
                Some("tasks") => o.drivers = [false, true],
                _ => panic!("--driver takes block-on or tasks"),
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
    /// `total` round trips with [`IN_FLIGHT`] in flight, driven by the `block_on` thread; the
    /// time they took.
    async fn pipelined(&mut self, total: usize) -> Duration;
    /// The same driven by [`IN_FLIGHT`] tasks spawned on the runtime.
    async fn pipelined_tasks(&mut self, total: usize) -> Duration;
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

    async fn pipelined_tasks(&mut self, total: usize) -> Duration {
        // Its writer and reader are tasks already.
        self.pipelined(total).await
    }
}

/// A process plugin implementing `ping`, behind a `HookManager` and a started `PluginHost`.
struct Plugin {
    pm: HookManager,
    host: PluginHost,
    /// Called through the typed API (`Ping`) rather than `call_json`.
    typed: bool,
}

impl Plugin {
    async fn spawn(
        name: &str,
        typed: bool,
        program: &Path,
        args: &[&Path],
        env: &[(&str, &Path)],
    ) -> Plugin {
        let pm = match typed {
            true => HookManager::builder().json_spec::<Ping>().build(),
            false => HookManager::builder()
                .dynamic_spec(SpecInfo::json("ping"))
                .build(),
        };
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
        Plugin { pm, host, typed }
    }

    async fn call(pm: &HookManager, typed: bool, n: u64) {
        if typed {
            let out = pm.hook::<Ping>().call(&n).await.expect("call");
            assert_eq!(out.values().next(), Some(&(n + 1)), "{out:?}");
        } else {
            let out = pm.call_json("ping", json!(n)).await.expect("call");
            let answer = out.values().next();
            assert_eq!(answer, Some(&Value::from(n + 1)), "{out:?}");
        }
    }
}

impl Peer for Plugin {
    async fn round_trip(&mut self, n: u64) {
        Plugin::call(&self.pm, self.typed, n).await;
    }

    async fn pipelined(&mut self, total: usize) -> Duration {
        let (pm, typed) = (&self.pm, self.typed);
        let t0 = Instant::now();
        let mut in_flight = FuturesUnordered::new();
        let mut started = 0u64;
        while (started as usize) < IN_FLIGHT.min(total) {
            in_flight.push(Plugin::call(pm, typed, started));
            started += 1;
        }
        while in_flight.next().await.is_some() {
            if (started as usize) < total {
                in_flight.push(Plugin::call(pm, typed, started));
                started += 1;
            }
        }
        t0.elapsed()
    }

    async fn pipelined_tasks(&mut self, total: usize) -> Duration {
        let started = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let callers: Vec<_> = (0..IN_FLIGHT)
            .map(|_| {
                let (pm, typed, started) = (self.pm.clone(), self.typed, started.clone());
                tokio::spawn(async move {
                    loop {
                        let n = started.fetch_add(1, Ordering::Relaxed);
                        if n >= total {
                            return;
                        }
                        Plugin::call(&pm, typed, n as u64).await;
                    }
                })
            })
            .collect();
        for c in callers {
            c.await.expect("caller");
        }
        t0.elapsed()
    }
}

/// One peer's samples over all repetitions.
#[derive(Default)]
struct Figures {
    latencies: Vec<Duration>,
    /// Calls per second, per driver: block-on, tasks.
    throughputs: [Vec<f64>; 2],
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

    /// The median calls per second of `driver` (0: block-on, 1: tasks); NaN if not run.
    fn throughput(&self, driver: usize) -> f64 {
        let mut t = self.throughputs[driver].clone();
        t.sort_by(f64::total_cmp);
        t.get(t.len() / 2).copied().unwrap_or(f64::NAN)
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
    if o.drivers[0] {
        let took = peer.pipelined(o.pipelined).await;
        figures.throughputs[0].push(o.pipelined as f64 / took.as_secs_f64());
    }
    if o.drivers[1] {
        let took = peer.pipelined_tasks(o.pipelined).await;
        figures.throughputs[1].push(o.pipelined as f64 / took.as_secs_f64());
    }
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
        true => Some(Plugin::spawn("ping-rs", false, &rust_exe, &[], &[]).await),
        false => None,
    };
    let mut typed = match o.wants("typed") {
        true => Some(Plugin::spawn("ping-rs", true, &rust_exe, &[], &[]).await),
        false => None,
    };
    let mut python = match o.wants("python") {
        true => Some(
            Plugin::spawn(
                "ping-py",
                false,
                Path::new("python3"),
                &[&script],
                &[("PYTHONPATH", &sdk)],
            )
            .await,
        ),
        false => None,
    };

    let [mut fe, mut fr, mut ft, mut fp] = [(); 4].map(|_| Figures::default());
    for rep in 0..o.reps {
        eprintln!("repetition {}/{}", rep + 1, o.reps);
        if let Some(echo) = echo.as_mut() {
            measure(echo, &mut fe, &o).await;
        }
        if let Some(rust) = rust.as_mut() {
            measure(rust, &mut fr, &o).await;
        }
        if let Some(typed) = typed.as_mut() {
            measure(typed, &mut ft, &o).await;
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
        "{:<10} {:>10} {:>10} {:>10} {:>18} {:>16}",
        "peer", "p50 µs", "p99 µs", "mean µs", "calls/s (block-on)", "calls/s (tasks)"
    );
    for (name, f) in [
        ("echo", &fe),
        ("rust", &fr),
        ("typed", &ft),
        ("python", &fp),
    ] {
        if f.latencies.is_empty() {
            continue;
        }
        println!(
            "{:<10} {:>10.1} {:>10.1} {:>10.1} {:>18.0} {:>16.0}",
            name,
            micros(f.percentile(0.5)),
            micros(f.percentile(0.99)),
            micros(f.mean()),
            f.throughput(0),
            f.throughput(1),
        );
    }
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    for (name, f) in [("rust", &fr), ("typed", &ft)] {
        if fe.latencies.is_empty() || f.latencies.is_empty() {
            continue;
        }
        let p50_ratio = micros(f.percentile(0.5)) / micros(fe.percentile(0.5));
        let [block_on, tasks] = [0, 1].map(|d| f.throughput(d) / fe.throughput(d));
        println!(
            "{name}/echo p50 = {p50_ratio:.2}x (target <= 3: {}); throughput = {block_on:.2} block-on, {tasks:.2} tasks (target >= 0.33: {}, {})",
            verdict(p50_ratio <= 3.0),
            verdict(block_on >= 1.0 / 3.0),
            verdict(tasks >= 1.0 / 3.0),
        );
    }
    if !fe.latencies.is_empty() && !fp.latencies.is_empty() {
        println!(
            "python/echo p50 = {:.2}x; python/echo throughput = {:.3} block-on, {:.3} tasks (reported, no target)",
            micros(fp.percentile(0.5)) / micros(fe.percentile(0.5)),
            fp.throughput(0) / fe.throughput(0),
            fp.throughput(1) / fe.throughput(1),
        );
    }

    for p in rust.into_iter().chain(typed).chain(python) {
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
