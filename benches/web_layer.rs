//! The request hooks layer's cost: the server thread's CPU time per request for a
//! hello-world axum app with `RequestHooksLayer` and 3 cheap plugins, against the same app
//! without the layer (target ≤ 1.25×).
//!
//! `cargo bench --bench web_layer --features axum`
//!
//! The server runs on a current-thread runtime in its own OS thread, whose CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`, through `rustix`) is read before and after each measured batch; the load
//! generator is hyper's pooled client on another thread, `CONCURRENCY` requests in flight.
//! Rounds alternate between the two apps; medians are reported.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};
use axum::routing::get;
use axum::Router;
use hookwire::web::{Decision, HeaderEdits, RequestHooksLayer, RequestView, ResponseView};
use hookwire::PluginHost;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, oneshot};

hookwire::hookspec! {
    #[firstresult]
    pub struct Before(RequestView) -> Decision;
    pub struct After(ResponseView) -> HeaderEdits;
}

const CONCURRENCY: usize = 16;
const REQUESTS: usize = 20_000;
const ROUNDS: usize = 5;

/// The principal the `auth` plugin passes on (a realistic allocation per request).
#[derive(Clone)]
#[allow(dead_code)] // only carried
struct User(&'static str);

/// Which app a server runs.
#[derive(Clone, Copy)]
enum Variant {
    /// Hello-world alone.
    Plain,
    /// With the layer, no plugin registered (the layer's own cost).
    Empty,
    /// With the layer and 3 cheap plugins (the target).
    Hooked,
}

/// The app of `variant`.
fn app(variant: Variant) -> Router {
    let router = Router::new().route("/", get(|| async { "hello" }));
    let host = PluginHost::new();
    let hooks = host.hooks();
    match variant {
        Variant::Plain => return router,
        Variant::Empty => {
            // No impl: without the opt-in, every request would be answered 503.
            return router
                .layer(RequestHooksLayer::<Before, After>::new(hooks).allow_unchecked_requests());
        }
        Variant::Hooked => {}
    }
    let seen = Arc::new(AtomicU64::new(0));
    hooks
        .register("count", move |r| {
            r.sync_fn::<Before>(move |_| {
                seen.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            })
            .tryfirst()
            .add()
        })
        .unwrap();
    hooks
        .register("auth", |r| {
            r.sync_fn::<Before>(|req| {
                Ok(Some(match req.headers().get("x-user") {
                    Some(_) => Decision::proceed_with(User("ada")),
                    None => Decision::proceed(),
                }))
            })
            .add()
        })
        .unwrap();
    hooks
        .register("stamp", |r| {
            r.sync_fn::<After>(|_| {
                Ok(Some(HeaderEdits::new().insert(
                    HeaderName::from_static("x-served-by"),
                    HeaderValue::from_static("hookwire"),
                )))
            })
            .add()
        })
        .unwrap();
    router.layer(RequestHooksLayer::<Before, After>::new(hooks))
}

fn thread_cpu() -> Duration {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A server thread: answers each `()` on `measure` with its CPU time so far.
fn server(variant: Variant) -> (SocketAddr, mpsc::Sender<oneshot::Sender<Duration>>) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (measure, mut requests) = mpsc::channel::<oneshot::Sender<Duration>>(1);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            tokio::spawn(async move {
                while let Some(reply) = requests.recv().await {
                    let _ = reply.send(thread_cpu());
                }
            });
            axum::serve(listener, app(variant)).await.unwrap();
        });
    });
    (addr_rx.recv().unwrap(), measure)
}

/// `n` GETs with `CONCURRENCY` in flight.
async fn load(addr: SocketAddr, n: usize) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = format!("http://{addr}/").parse().unwrap();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, uri) = (client.clone(), uri.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..n / CONCURRENCY {
                let req = hyper::Request::get(uri.clone())
                    .header("x-user", "ada")
                    .body(Empty::new())
                    .unwrap();
                let res = client.request(req).await.unwrap();
                assert!(res.status().is_success());
                res.into_body().collect().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn cpu_of(measure: &mpsc::Sender<oneshot::Sender<Duration>>) -> Duration {
    let (tx, rx) = oneshot::channel();
    measure.send(tx).await.unwrap();
    rx.await.unwrap()
}

/// One measured batch: (server CPU per request, wall time of the batch).
async fn round(
    addr: SocketAddr,
    measure: &mpsc::Sender<oneshot::Sender<Duration>>,
) -> (f64, Duration) {
    let before = cpu_of(measure).await;
    let start = Instant::now();
    load(addr, REQUESTS).await;
    let wall = start.elapsed();
    let after = cpu_of(measure).await;
    ((after - before).as_nanos() as f64 / REQUESTS as f64, wall)
}

/// The layer's added cost without sockets: `Router::call` in a loop on one thread, in CPU
/// time per request (steadier than the loopback figures on a shared machine).
async fn in_process(variant: Variant, n: usize) -> f64 {
    use tower::Service;
    let mut router = app(variant);
    let start = thread_cpu();
    for _ in 0..n {
        let req = axum::http::Request::get("/")
            .header("host", "127.0.0.1")
            .header("x-user", "ada")
            .body(axum::body::Body::empty())
            .unwrap();
        let res = router.call(req).await.unwrap();
        std::hint::black_box(res);
    }
    (thread_cpu() - start).as_nanos() as f64 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (plain_addr, plain) = server(Variant::Plain);
        let (empty_addr, empty) = server(Variant::Empty);
        let (hooked_addr, hooked) = server(Variant::Hooked);
        // Warm-up: connections, allocator, caches.
        for addr in [plain_addr, empty_addr, hooked_addr] {
            load(addr, REQUESTS / 4).await;
        }
        let (mut p, mut e, mut h, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            let (pc, pw) = round(plain_addr, &plain).await;
            let (ec, _) = round(empty_addr, &empty).await;
            let (hc, hw) = round(hooked_addr, &hooked).await;
            println!(
                "round {i}: without {pc:>5.0} ns/req ({:>6.0} req/s), layer alone {ec:>5.0} ns/req, with 3 plugins {hc:>5.0} ns/req ({:>6.0} req/s): {:.3}x",
                REQUESTS as f64 / pw.as_secs_f64(),
                REQUESTS as f64 / hw.as_secs_f64(),
                hc / pc
            );
            p.push(pc);
            e.push(ec);
            h.push(hc);
            ratios.push(hc / pc);
        }
        let (mut ip, mut ie, mut ih) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ip.push(in_process(Variant::Plain, REQUESTS).await);
            ie.push(in_process(Variant::Empty, REQUESTS).await);
            ih.push(in_process(Variant::Hooked, REQUESTS).await);
        }
        let (ip, ie, ih) = (median(ip), median(ie), median(ih));
        println!(
            "in process (Router::call, no sockets), median CPU per request: without {ip:.0} ns, the layer alone {ie:.0} ns (+{:.0} ns), the layer and 3 plugins {ih:.0} ns (+{:.0} ns)",
            ie - ip,
            ih - ip
        );
        let (mp, me, mh) = (median(p), median(e), median(h));
        println!(
            "median server CPU per request: without the layer {mp:.0} ns, the layer alone {me:.0} ns ({:.3}x), the layer and 3 plugins {mh:.0} ns: {:.3}x (median of the rounds' ratios {:.3}x; target <= 1.25x)",
            me / mp,
            mh / mp,
            median(ratios)
        );
    });
}
