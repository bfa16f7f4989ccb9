//! `hookwire::web` under load on loopback: CPU time per request, and the plugin-route swap
//! under load.
//!
//! Run: `cargo bench -p hookwire-benches --features axum --bench web` (prints a table; figures
//! in BENCHMARKS.md (n)). `HOOKWIRE_WEB_BENCH_REQUESTS` sets the requests per variant
//! (default 40,000).
//!
//! A bounded tokio load generator: `CONCURRENCY` HTTP/1.1 keep-alive connections (hyper's
//! client), each sending its share of the requests one after the other, every answer read to
//! the end and checked (200 and the expected body). Server and client run in one process on
//! one runtime, so the figure is the **process's CPU time** (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`, user +
//! system) per request, client included: the client's share is the same in every variant, so
//! the variants compare by their difference and ratio.
//!
//! Variants:
//! - `plain`: hello-world axum app (`GET /hello` → `"hello"`), no hookwire;
//! - `plugin route`: the same handler served as a plugin's route through a `PluginRouter`
//!   (`/plugins/hello/hello`: the arc-swap load and the router clone per request);
//! - `swap under load`: `plugin route` while another task rebuilds and swaps the plugin
//!   routes back to back; every request must succeed (failed requests: 0).
//!
//! The request hooks layer's cost is measured by `benches/web_layer.rs` (BENCHMARKS.md (o)).

use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use hookwire::web::{PluginRouter, PluginRoutes};
use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

const CONCURRENCY: usize = 16;

hookwire::hookspec! {
    /// Each plugin's routes.
    pub struct Routes(()) -> PluginRoutes;
}

fn hello_router() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

/// The hello-world app without hookwire.
fn plain_app() -> Router {
    hello_router()
}

/// A plugin serving `GET /hello` under `/plugins/hello`.
struct Hello;

impl Plugin for Hello {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("hello", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Routes>(|_| Ok(Some(PluginRoutes(hello_router()))))
            .add()
    }
}

/// Process CPU time (user + system, every thread) so far: `CLOCK_PROCESS_CPUTIME_ID`.
fn cpu_time() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Serves `app` on 127.0.0.1:0; its address.
async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, app).into_future());
    addr
}

/// What a load run did.
struct Load {
    requests: u64,
    failed: u64,
    wall: Duration,
    cpu: Duration,
}

/// `requests` GETs of `path` over `CONCURRENCY` keep-alive connections; each answer must be
/// 200 with body `expect`.
async fn load(
    addr: std::net::SocketAddr,
    path: &'static str,
    expect: &'static [u8],
    requests: u64,
) -> Load {
    let failed = Arc::new(AtomicU64::new(0));
    let per_conn = requests / CONCURRENCY as u64;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let mut conns = Vec::new();
    for _ in 0..CONCURRENCY {
        let failed = failed.clone();
        conns.push(tokio::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            for _ in 0..per_conn {
                let req = hyper::Request::get(path)
                    .header("host", "127.0.0.1")
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let ok = match send.send_request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                        status == 200 && body.is_ok_and(|b| b == expect)
                    }
                    Err(_) => false,
                };
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for c in conns {
        c.await.unwrap();
    }
    Load {
        requests: per_conn * CONCURRENCY as u64,
        failed: failed.load(Ordering::Relaxed),
        wall: t0.elapsed(),
        cpu: cpu_time() - cpu0,
    }
}

fn row(name: &str, l: &Load, base: Option<&Load>) {
    let per = l.cpu.as_nanos() as f64 / l.requests as f64 / 1000.0;
    let ratio = base.map_or(String::from("1.00"), |b| {
        format!(
            "{:.2}",
            l.cpu.as_secs_f64() / b.cpu.as_secs_f64() * b.requests as f64 / l.requests as f64
        )
    });
    println!(
        "{name:<16} {:>8} req  {:>8.0} req/s  {per:>7.1} µs CPU/req  ×{ratio} plain  failed {}",
        l.requests,
        l.requests as f64 / l.wall.as_secs_f64(),
        l.failed
    );
}

fn main() {
    let requests: u64 = std::env::var("HOOKWIRE_WEB_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let host = PluginHost::new();
        host.add(Hello).unwrap();
        host.start().await.unwrap();
        let plugins = PluginRouter::new::<Routes>(host.clone(), ());
        plugins.rebuild().await.unwrap();

        let plain = serve(plain_app()).await;
        let routed = serve(plugins.router()).await;
        // Warm-up: connections, allocator, page faults.
        load(plain, "/hello", b"hello", requests / 10).await;
        load(routed, "/plugins/hello/hello", b"hello", requests / 10).await;

        println!("CPU time per request (process: server + client), {CONCURRENCY} connections");
        let base = load(plain, "/hello", b"hello", requests).await;
        row("plain", &base, None);
        let routed_load = load(routed, "/plugins/hello/hello", b"hello", requests).await;
        row("plugin route", &routed_load, Some(&base));

        // The swap under load: rebuild (collect, build, check, swap) back to back.
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = tokio::spawn({
            let (plugins, stop) = (plugins.clone(), stop.clone());
            async move {
                let mut swaps = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    plugins.rebuild().await.unwrap();
                    swaps += 1;
                    tokio::task::yield_now().await;
                }
                swaps
            }
        });
        let swapped = load(routed, "/plugins/hello/hello", b"hello", requests).await;
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.await.unwrap();
        row("swap under load", &swapped, Some(&base));
        println!(
            "swaps during the run: {swaps}; failed requests: {}",
            swapped.failed
        );
        assert_eq!(swapped.failed, 0, "requests failed during route swaps");
        assert_eq!(base.failed + routed_load.failed, 0);
    });
}
