//! Review probes of the web fixes merged in `873152b` (wp-fixweb), over real HTTP on
//! 127.0.0.1: fail-closed request hooks when the checking plugins are not running,
//! `require_plugin`, `allow_unchecked_requests`, `merge_behind`, the per-plugin route guard
//! (404 once stopping, 500 on panic) and the bounded `/health`.
//!
//! Written by an independent review of that merge; the defects it showed are fixed (one that
//! is only documented, a health check blocking its thread, stays `#[ignore]`d with its reason).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/log_lines.rs"]
mod log_lines;

use log_lines::LogLines;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::routing::get;
use axum::Router;
use futures::FutureExt;
use hookwire::config::HostConfig;
use hookwire::plugin::Health;
use hookwire::web::{
    health_router, health_router_within, Decision, HeaderEdits, PluginRouter, PluginRoutes,
    Principal, RequestHooksLayer, RequestView, ResponseView, Server, ShutdownTrigger,
};
use hookwire::{
    async_trait, BoxError, HookReturn, Plugin, PluginContext, PluginHost, PluginMeta,
    RegisterError, Registrar,
};
use tracing_subscriber::layer::SubscriberExt;

hookwire::hookspec! {
    #[firstresult]
    pub struct Before(RequestView) -> Decision;
    pub struct After(ResponseView) -> HeaderEdits;
    pub struct Routes(()) -> PluginRoutes;
}

#[derive(Clone)]
struct User(&'static str);

// ---------------------------------------------------------------- plugins

/// `Bearer s3cret` → proceed as `ada`; anything else → 401.
struct TokenAuth(&'static str);

impl Plugin for TokenAuth {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("token-auth", self.0)
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Before>(|req: &RequestView| -> HookReturn<Decision> {
            Ok(Some(match req.bearer_token() {
                Some("s3cret") => Decision::proceed_with(User("ada")),
                _ => Decision::respond(StatusCode::UNAUTHORIZED),
            }))
        })
        .add()
    }
}

/// A rate limiter that never limits: an impl of the before hook answering nothing.
struct RateLimit;

impl Plugin for RateLimit {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("rate-limit", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Before>(|_| Ok(None)).tryfirst().add()
    }
}

/// An observability plugin: a pass-through wrapper around the before hook (times the checks).
struct Observer;

impl Plugin for Observer {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("observer", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.wrapper_fn::<Before>(|_, next| async move { Ok(next.run().await) }.boxed())
            .add()
    }
}

/// Serves `/plugins/greeter/hello` answering its tag ("stopped" once its `stop` ran); its
/// `stop` takes `stop_delay`.
struct Greeter {
    tag: &'static str,
    version: &'static str,
    stop_delay: Duration,
    stopped: Arc<AtomicBool>,
    /// While set, the routes hook waits until it is cleared (to race a rebuild).
    hold: Option<Arc<tokio::sync::Notify>>,
}

impl Greeter {
    fn new(tag: &'static str, version: &'static str, stop_delay: Duration) -> Self {
        Greeter {
            tag,
            version,
            stop_delay,
            stopped: Arc::default(),
            hold: None,
        }
    }
}

#[async_trait]
impl Plugin for Greeter {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("greeter", self.version)
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let me = self.clone();
        r.hook_fn::<Routes>(move |_| {
            let me = me.clone();
            async move {
                if let Some(hold) = &me.hold {
                    hold.notified().await;
                }
                let (tag, stopped) = (me.tag, me.stopped.clone());
                Ok(Some(PluginRoutes(Router::new().route(
                    "/hello",
                    get(move || async move {
                        if stopped.load(Ordering::SeqCst) {
                            "stopped"
                        } else {
                            tag
                        }
                    }),
                ))))
            }
            .boxed()
        })
        .add()
    }
    async fn stop(&self, _: &PluginContext) -> Result<(), BoxError> {
        tokio::time::sleep(self.stop_delay).await;
        self.stopped.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// A plugin with a route and a configurable health check.
struct Checked {
    name: String,
    check: fn() -> futures::future::BoxFuture<'static, Health>,
}

#[async_trait]
impl Plugin for Checked {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(self.name.clone(), "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
    async fn health(&self) -> Health {
        (self.check)().await
    }
}

// ---------------------------------------------------------------- harness

struct Running {
    base: String,
    trigger: ShutdownTrigger,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    async fn stop(self) {
        self.trigger.shutdown();
        let _ = self.task.await;
    }
}

async fn spawn(server: Server) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = server.signals(false).grace(Duration::from_secs(2));
    let trigger = server.shutdown_trigger();
    let task = tokio::spawn(async move {
        server.run(listener).await.unwrap();
    });
    Running {
        base,
        trigger,
        task,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn fetch(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = http().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Polls `url` until it answers `want` (at most 5 s).
async fn until(url: &str, token: Option<&str>, want: (u16, &str)) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = fetch(url, token).await;
        if (got.0, got.1.as_str()) == want {
            return;
        }
        assert!(Instant::now() < deadline, "{url}: {got:?}, never {want:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn orders() -> Router {
    Router::new().route("/orders", get_handler())
}

fn get_handler() -> axum::routing::MethodRouter {
    get(|| async { "every order" })
}

/// `/orders` behind `layer`, `/health` open.
fn app(host: &PluginHost, layer: RequestHooksLayer<Before, After>) -> Router {
    orders().layer(layer).merge(health_router(host.clone()))
}

fn host() -> PluginHost {
    PluginHost::builder().environment(false).build()
}

// ---------------------------------------------------------------- hot replace, races

/// Hot replace of a plugin with routes, the server following the host
/// (`Server::plugin_routes`): every request during the swap is served by the old or the new
/// instance. Measured: the old routes answer 404 from the old instance's stop until the
/// rebuild, which waits for `replace` to return (the whole old `stop`: 675 of 710 requests
/// over 301 ms with this 300 ms stop; 2 of ~40 over 0.5–5 ms with an instant stop).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_replace_of_a_routes_plugin_never_answers_404() {
    let host = host();
    host.add(Greeter::new("v1", "1.0.0", Duration::from_millis(300)))
        .unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    let server =
        spawn(Server::new(host.clone(), plugins.router()).plugin_routes(plugins.clone())).await;
    let url = server.url("/plugins/greeter/hello");
    until(&url, None, (200, "v1")).await;

    let done = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (url, done) = (url.clone(), done.clone());
        async move {
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                let t = Instant::now();
                seen.push((t, fetch(&url, None).await));
            }
            seen
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    host.replace(
        "greeter",
        Greeter::new("v2", "1.1.0", Duration::ZERO),
        Duration::from_secs(2),
    )
    .await
    .unwrap();
    until(&url, None, (200, "v2")).await;
    done.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let bad: Vec<_> = seen
        .iter()
        .filter(|(_, (s, b))| !(*s == 200 && (b == "v1" || b == "v2")))
        .collect();
    let window = match (bad.first(), bad.last()) {
        (Some(a), Some(b)) => b.0 - a.0,
        _ => Duration::ZERO,
    };
    assert!(
        bad.is_empty(),
        "{} of {} requests during the replace were not served (first {:?}), over {window:?}",
        bad.len(),
        seen.len(),
        bad.first().map(|x| &x.1)
    );
    server.stop().await;
}

/// Hot replace of the auth plugin under load: no request is let through unchecked, none is
/// answered 503 (the impls are swapped in one store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_replace_of_the_auth_plugin_is_never_unchecked_nor_503() {
    let host = host();
    host.add(TokenAuth("1.0.0")).unwrap();
    host.add(RateLimit).unwrap();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks()).require_plugin("token-auth");
    let server = spawn(Server::new(host.clone(), app(&host, layer))).await;
    let url = server.url("/orders");
    until(&url, Some("s3cret"), (200, "every order")).await;
    let done = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (url, done) = (url.clone(), done.clone());
        async move {
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                seen.push((true, fetch(&url, Some("s3cret")).await.0));
                seen.push((false, fetch(&url, None).await.0));
            }
            seen
        }
    });
    for i in 0..20 {
        let v = if i % 2 == 0 { "1.1.0" } else { "1.0.0" };
        host.replace("token-auth", TokenAuth(v), Duration::from_secs(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    assert!(seen.len() > 20);
    for (with_token, status) in seen {
        assert_eq!(status, if with_token { 200 } else { 401 });
    }
    server.stop().await;
}

/// A rebuild whose routes call started before a replace and ended after it mounts the OLD
/// instance's router behind the NEW instance's running flag (the flag is looked up by name
/// after the call): once `replace` returned, the stopped old instance serves the route.
#[tokio::test]
async fn probe_rebuild_racing_replace_never_serves_the_stopped_instance() {
    let host = host();
    let hold = Arc::new(tokio::sync::Notify::new());
    let mut v1 = Greeter::new("v1", "1.0.0", Duration::ZERO);
    v1.hold = Some(hold.clone());
    host.add(v1).unwrap();
    host.start().await.unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    // The rebuild calls v1's routes impl, which waits.
    let rebuild = tokio::spawn({
        let plugins = plugins.clone();
        async move { plugins.rebuild().await }
    });
    tokio::task::yield_now().await;
    host.replace(
        "greeter",
        Greeter::new("v2", "1.1.0", Duration::ZERO),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    hold.notify_one();
    assert_eq!(rebuild.await.unwrap().unwrap(), ["greeter"]);
    let server = spawn(Server::new(host.clone(), plugins.router())).await;
    let got = fetch(&server.url("/plugins/greeter/hello"), None).await;
    assert_ne!(
        got,
        (200, "stopped".to_owned()),
        "the stopped v1 instance served its route"
    );
    server.stop().await;
}

/// The same race with `remove`: the removed plugin has no running flag any more, so the
/// router collected from it before the removal is mounted as "not a plugin of the host,
/// always served": the removed, stopped instance keeps serving its route.
#[tokio::test]
async fn probe_rebuild_racing_remove_never_serves_the_removed_plugin() {
    let host = host();
    let hold = Arc::new(tokio::sync::Notify::new());
    let mut v1 = Greeter::new("v1", "1.0.0", Duration::ZERO);
    v1.hold = Some(hold.clone());
    host.add(v1).unwrap();
    host.start().await.unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    let rebuild = tokio::spawn({
        let plugins = plugins.clone();
        async move { plugins.rebuild().await }
    });
    tokio::task::yield_now().await;
    host.remove("greeter", Duration::from_secs(1))
        .await
        .unwrap();
    hold.notify_one();
    assert_eq!(rebuild.await.unwrap().unwrap(), ["greeter"]);
    let server = spawn(Server::new(host.clone(), plugins.router())).await;
    let got = fetch(&server.url("/plugins/greeter/hello"), None).await;
    server.stop().await;
    assert_eq!(got.0, 404, "the removed plugin served its route: {got:?}");
}

/// The auth plugin disabled and enabled again and again under load (a rate limiter keeps the
/// hook non-empty, `token-auth` is required): no request without a token is ever served, a
/// request with one is served or 503, never 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_auth_plugin_disabled_and_enabled_under_load_is_never_unchecked() {
    let host = host();
    host.add(TokenAuth("1.0.0")).unwrap();
    host.add(RateLimit).unwrap();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks()).require_plugin("token-auth");
    let server = spawn(Server::new(host.clone(), app(&host, layer))).await;
    let url = server.url("/orders");
    until(&url, Some("s3cret"), (200, "every order")).await;
    let done = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn({
        let (url, done) = (url.clone(), done.clone());
        async move {
            let mut seen = Vec::new();
            while !done.load(Ordering::SeqCst) {
                seen.push((true, fetch(&url, Some("s3cret")).await.0));
                seen.push((false, fetch(&url, None).await.0));
            }
            seen
        }
    });
    for _ in 0..15 {
        host.disable("token-auth", Duration::from_secs(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
        host.enable("token-auth").await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    done.store(true, Ordering::SeqCst);
    let seen = load.await.unwrap();
    let closed = seen.iter().filter(|(_, s)| *s == 503).count();
    assert!(closed > 0, "the disabled periods were seen");
    for (with_token, status) in seen {
        if with_token {
            assert!(status == 200 || status == 503, "with a token: {status}");
        } else {
            assert!(status == 401 || status == 503, "without a token: {status}");
        }
    }
    server.stop().await;
}

/// A lazy plugin with routes: `Server::run`'s rebuild starts it (its routes call reaches it)
/// and its route serves; `/health` ok.
#[tokio::test]
async fn probe_a_lazy_plugin_s_routes_serve() {
    let host = host();
    host.add_lazy(Greeter::new("lazy", "1.0.0", Duration::ZERO))
        .unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    let app = plugins.router().merge(health_router(host.clone()));
    let server = spawn(Server::new(host.clone(), app).plugin_routes(plugins)).await;
    until(&server.url("/plugins/greeter/hello"), None, (200, "lazy")).await;
    assert_eq!(fetch(&server.url("/health"), None).await.0, 200);
    server.stop().await;
}

// ---------------------------------------------------------------- require_plugin, opt-in

/// `require_plugin` with a typo: every request is 503 for ever, while `/health` says `ok`
/// (200) and the log blames a plugin that "failed, disabled, stopped or removed" — a plugin
/// the host never had.
#[tokio::test]
async fn probe_require_plugin_with_a_typo_fails_loudly() {
    let errors = LogLines::hookwire_errors();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let host = host();
    host.add(TokenAuth("1.0.0")).unwrap();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks()).require_plugin("token_auth");
    // The layer's own health router: it knows the required plugins.
    let health = layer.health_router(host.clone());
    let server = spawn(Server::new(
        host.clone(),
        orders().layer(layer).merge(health),
    ))
    .await;
    let got = fetch(&server.url("/orders"), Some("s3cret")).await;
    assert_eq!(got.0, 503);
    let logged = errors.0.lock().unwrap().join("\n");
    assert!(
        logged.contains("token_auth"),
        "the reason names the plugin: {logged}"
    );
    let (health, body) = fetch(&server.url("/health"), None).await;
    server.stop().await;
    // What an operator needs: either the typo refused up front, or health and log saying
    // that no plugin of that name exists.
    assert!(
        health != 200 || logged.contains("no plugin named") || logged.contains("unknown"),
        "every request answered 503, /health {health} {body}; log: {logged}"
    );
    assert!(
        body.contains("required plugin `token_auth` is not registered"),
        "{body}"
    );
}

/// The single auth plugin disabled by an operator (or stopped/removed): the layer answers 503
/// to every request, `/health` answers 200 `ok` — a load balancer keeps sending traffic to
/// an instance that refuses all of it.
#[tokio::test]
async fn probe_health_agrees_with_the_layer_when_the_auth_plugin_is_disabled() {
    let host = host();
    host.add(TokenAuth("1.0.0")).unwrap();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks()).require_plugin("token-auth");
    let health = layer.health_router(host.clone());
    let server = spawn(Server::new(
        host.clone(),
        orders().layer(layer).merge(health),
    ))
    .await;
    until(&server.url("/orders"), Some("s3cret"), (200, "every order")).await;
    host.disable("token-auth", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(fetch(&server.url("/orders"), Some("s3cret")).await.0, 503);
    let (health, body) = fetch(&server.url("/health"), None).await;
    server.stop().await;
    assert_eq!(
        health, 503,
        "every request is refused but /health says {health}: {body}"
    );
    assert!(
        body.contains("required plugin `token-auth` is disabled"),
        "{body}"
    );
}

/// A plugin that only wraps the before hook (observability) keeps the hook "non-empty": with
/// the auth plugin disabled, requests go through unchecked — the fail-open the fix was for.
#[tokio::test]
async fn probe_a_wrapper_alone_does_not_count_as_a_check() {
    let host = host();
    host.add(TokenAuth("1.0.0")).unwrap();
    host.add(Observer).unwrap();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks());
    let server = spawn(Server::new(host.clone(), app(&host, layer))).await;
    assert_eq!(fetch(&server.url("/orders"), None).await.0, 401);
    host.disable("token-auth", Duration::from_secs(1))
        .await
        .unwrap();
    let got = fetch(&server.url("/orders"), None).await;
    server.stop().await;
    assert_eq!(
        got.0, 503,
        "no plugin checks requests any more, yet: {got:?}"
    );
}

/// `require_plugin` naming a plugin that only wraps the before hook: it never checks a
/// request, so the layer answers 503 (with the reason logged), even while another plugin
/// checks requests.
#[tokio::test]
async fn a_required_plugin_that_only_wraps_the_hook_does_not_count() {
    let errors = LogLines::hookwire_errors();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let host = host();
    host.add(TokenAuth("1.0.0")).unwrap();
    host.add(Observer).unwrap();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks()).require_plugin("observer");
    let server = spawn(Server::new(host.clone(), app(&host, layer))).await;
    let got = fetch(&server.url("/orders"), Some("s3cret")).await;
    server.stop().await;
    assert_eq!(got.0, 503, "{got:?}");
    let logged = errors.0.lock().unwrap().join("\n");
    assert!(
        logged.contains("required plugin `observer` has no impl of it"),
        "{logged}"
    );
}

/// A stopped (still registered) plugin's routes answer 503 with `Retry-After` before any
/// rebuild; once it is removed, 404.
#[tokio::test]
async fn a_stopped_plugin_s_routes_answer_503_with_retry_after_then_404_once_removed() {
    let host = host();
    host.add(Greeter::new("v1", "1.0.0", Duration::ZERO))
        .unwrap();
    host.start().await.unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    plugins.rebuild().await.unwrap();
    let server = spawn(Server::new(host.clone(), plugins.router())).await;
    let url = server.url("/plugins/greeter/hello");
    assert_eq!(fetch(&url, None).await, (200, "v1".to_owned()));
    host.stop("greeter", Duration::from_secs(1)).await.unwrap();
    let res = http().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    host.remove("greeter", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(fetch(&url, None).await.0, 404);
    server.stop().await;
}

/// A lazy auth plugin that is required: the first request starts it; checked requests pass,
/// others get 401; `/health` is ok before and after.
#[tokio::test]
async fn probe_a_required_lazy_auth_plugin_serves_from_its_first_request() {
    let host = host();
    host.add_lazy(TokenAuth("1.0.0")).unwrap();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks()).require_plugin("token-auth");
    let server = spawn(Server::new(host.clone(), app(&host, layer))).await;
    assert_eq!(fetch(&server.url("/health"), None).await.0, 200);
    assert_eq!(
        fetch(&server.url("/orders"), Some("s3cret")).await,
        (200, "every order".to_owned())
    );
    assert_eq!(fetch(&server.url("/orders"), None).await.0, 401);
    assert_eq!(
        host.plugins().get("token-auth").unwrap().state,
        hookwire::plugin::PluginState::Started
    );
    server.stop().await;
}

/// An auth plugin disabled by configuration at start, enabled later: 503 before, checked
/// from the moment `enable` returns.
#[tokio::test]
async fn probe_an_auth_plugin_enabled_after_start_checks_from_then_on() {
    let mut config = HostConfig::new();
    config.disable("token-auth");
    let host = PluginHost::builder()
        .config(config)
        .environment(false)
        .build();
    host.add(TokenAuth("1.0.0")).unwrap();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks());
    let server = spawn(Server::new(host.clone(), app(&host, layer))).await;
    assert_eq!(fetch(&server.url("/orders"), Some("s3cret")).await.0, 503);
    assert!(host.enable("token-auth").await.unwrap());
    assert_eq!(fetch(&server.url("/orders"), Some("s3cret")).await.0, 200);
    assert_eq!(fetch(&server.url("/orders"), None).await.0, 401);
    server.stop().await;
}

/// The opt-in only covers "no impl at all": a required plugin is still enforced, and a
/// failing impl is still 503.
#[tokio::test]
async fn probe_allow_unchecked_requests_keeps_required_plugins_and_failures_closed() {
    let host = host();
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks()).allow_unchecked_requests();
    let required = layer.clone().require_plugin("token-auth");
    let app = Router::new()
        .route("/open", get_handler())
        .layer(layer)
        .merge(
            Router::new()
                .route("/closed", get_handler())
                .layer(required),
        );
    let server = spawn(Server::new(host.clone(), app)).await;
    assert_eq!(fetch(&server.url("/open"), None).await.0, 200);
    assert_eq!(fetch(&server.url("/closed"), None).await.0, 503);
    host.hooks()
        .register("flaky-check", |r| {
            r.sync_fn::<Before>(|_| Err("store down".into())).add()
        })
        .unwrap();
    assert_eq!(fetch(&server.url("/open"), None).await.0, 503);
    server.stop().await;
}

// ---------------------------------------------------------------- composition, extractors

/// The README's composition pasted as is (no `require_plugin`) with the demo's plugin set
/// (an auth plugin and a rate limiter): with the auth plugin disabled, a plugin route that
/// does not extract the principal is served to anyone.
#[tokio::test]
async fn probe_readme_composition_stays_closed_when_auth_is_down() {
    let host = host();
    host.add(TokenAuth("1.0.0")).unwrap();
    host.add(RateLimit).unwrap();
    host.add(Greeter::new("hello", "1.0.0", Duration::ZERO))
        .unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    // As in README.md § Web services.
    let app = Router::new()
        .route(
            "/me",
            get(|Principal(user): Principal<User>| async move { user.0 }),
        )
        .with_state(host.clone())
        .merge(plugins.router())
        .layer(RequestHooksLayer::<Before, After>::new(host.hooks()).require_plugin("token-auth"))
        .merge(health_router(host.clone()));
    let server = spawn(Server::new(host.clone(), app).plugin_routes(plugins)).await;
    let url = server.url("/plugins/greeter/hello");
    until(&url, Some("s3cret"), (200, "hello")).await;
    assert_eq!(fetch(&url, None).await.0, 401);
    host.disable("token-auth", Duration::from_secs(1))
        .await
        .unwrap();
    let got = fetch(&url, None).await;
    server.stop().await;
    assert_ne!(got.0, 200, "served without authentication: {got:?}");
}

/// `merge_behind`: plugin routes checked, `/health` open; `Principal` behind a layer whose
/// required auth plugin is down is 503 (not 401, not served).
#[tokio::test]
async fn probe_merge_behind_and_principal_when_auth_is_down() {
    let host = host();
    host.add(TokenAuth("1.0.0")).unwrap();
    host.add(RateLimit).unwrap();
    host.add(Greeter::new("hello", "1.0.0", Duration::ZERO))
        .unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    let app = Router::new().route(
        "/me",
        get(|Principal(user): Principal<User>| async move { user.0 }),
    );
    let layer = RequestHooksLayer::<Before, After>::new(host.hooks()).require_plugin("token-auth");
    let app = plugins
        .merge_behind(app, layer)
        .merge(health_router(host.clone()));
    let server = spawn(Server::new(host.clone(), app).plugin_routes(plugins)).await;
    let hello = server.url("/plugins/greeter/hello");
    until(&hello, Some("s3cret"), (200, "hello")).await;
    assert_eq!(fetch(&hello, None).await.0, 401);
    assert_eq!(
        fetch(&server.url("/me"), Some("s3cret")).await,
        (200, "ada".to_owned())
    );
    host.disable("token-auth", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(fetch(&hello, Some("s3cret")).await.0, 503);
    assert_eq!(fetch(&server.url("/me"), Some("s3cret")).await.0, 503);
    assert_eq!(fetch(&server.url("/health"), None).await.0, 200);
    server.stop().await;
}

// ---------------------------------------------------------------- after hook, panics

/// After impls that fail and panic change nothing; the others' edits apply — also on the 500
/// of a panicking plugin route and on the layer's own 503.
#[tokio::test]
async fn probe_after_hook_failures_and_a_panicking_route_behind_the_layer() {
    let host = host();
    host.hooks()
        .register("app", |r| {
            r.sync_fn::<Before>(|_| Ok(Some(Decision::proceed())))
                .add()?;
            r.sync_fn::<After>(|_| Err("after store down".into()))
                .add()?;
            r.sync_fn::<After>(|_| {
                if true {
                    panic!("after bug");
                }
                Ok(None)
            })
            .add()?;
            r.sync_fn::<After>(|v: &ResponseView| {
                Ok(Some(HeaderEdits::new().insert(
                    HeaderName::from_static("x-seen"),
                    HeaderValue::from(v.status().as_u16()),
                )))
            })
            .add()
        })
        .unwrap();
    host.add(Panicky).unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    let app = plugins.merge_behind(
        orders(),
        RequestHooksLayer::<Before, After>::new(host.hooks()),
    );
    let server = spawn(Server::new(host.clone(), app).plugin_routes(plugins.clone())).await;
    let res = http().get(server.url("/orders")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-seen"], "200");
    assert_eq!(res.text().await.unwrap(), "every order");
    let mut changes = plugins.changes();
    if plugins.mounted().is_empty() {
        changes.changed().await.unwrap();
    }
    let res = http()
        .get(server.url("/plugins/panicky/boom"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["x-seen"], "500");
    server.stop().await;
}

/// Its `/boom` panics in the handler, its `/stream` in the response body's stream.
struct Panicky;

impl Plugin for Panicky {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("panicky", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Routes>(|_| {
            Ok(Some(PluginRoutes(
                Router::new()
                    .route(
                        "/boom",
                        get(|| async {
                            if true {
                                panic!("handler bug");
                            }
                            ""
                        }),
                    )
                    .route(
                        "/stream",
                        get(|| async {
                            let chunks = futures::stream::iter(0..2).map(|i| {
                                if i == 1 {
                                    panic!("body stream bug");
                                }
                                Ok::<_, std::io::Error>(bytes_of("first chunk "))
                            });
                            Body::from_stream(chunks)
                        }),
                    )
                    .route("/ok", get(|| async { "fine" })),
            )))
        })
        .add()
    }
}

fn bytes_of(s: &'static str) -> axum::body::Bytes {
    axum::body::Bytes::from_static(s.as_bytes())
}

use futures::StreamExt;

/// A plugin route whose response body stream panics: the guard only wraps the handler's
/// future, so the panic unwinds in hyper's connection task: the connection is dropped
/// mid-body and nothing is logged naming the plugin (only the process panic hook runs).
#[tokio::test]
async fn probe_a_panic_in_a_plugin_route_body_stream_is_caught_and_logged() {
    let errors = LogLines::hookwire_errors();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));
    let host = host();
    host.add(Panicky).unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    let server = spawn(Server::new(host.clone(), plugins.router()).plugin_routes(plugins)).await;
    until(&server.url("/plugins/panicky/ok"), None, (200, "fine")).await;
    let res = http()
        .get(server.url("/plugins/panicky/stream"))
        .send()
        .await;
    let outcome = match res {
        Ok(res) => format!("{} then body {:?}", res.status(), res.text().await),
        Err(e) => format!("no response: {e}"),
    };
    // The server keeps serving.
    assert_eq!(
        fetch(&server.url("/plugins/panicky/ok"), None).await,
        (200, "fine".to_owned())
    );
    server.stop().await;
    let logged = errors.0.lock().unwrap().join("\n");
    assert!(
        logged.contains("panicky") && logged.contains("body stream bug"),
        "client saw {outcome}; hookwire logged: {logged:?}"
    );
}

// ---------------------------------------------------------------- health

fn hung() -> futures::future::BoxFuture<'static, Health> {
    std::future::pending().boxed()
}

/// 40 plugins whose checks hang, 10 concurrent `/health` requests: each answers 503 in about
/// the limit, every plugin `unhealthy` with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_health_under_many_hung_checks_answers_in_time() {
    let host = host();
    for i in 0..40 {
        host.add(Checked {
            name: format!("p{i:02}"),
            check: hung,
        })
        .unwrap();
    }
    let server = spawn(Server::new(
        host.clone(),
        health_router_within(host.clone(), Duration::from_millis(100)),
    ))
    .await;
    let url = server.url("/health");
    let started = Instant::now();
    let answers = futures::future::join_all((0..10).map(|_| async {
        let res = http().get(&url).send().await.unwrap();
        (
            res.status().as_u16(),
            res.json::<serde_json::Value>().await.unwrap(),
        )
    }))
    .await;
    let took = started.elapsed();
    for (status, report) in answers {
        assert_eq!(status, 503);
        assert_eq!(report["status"], "unhealthy");
        let plugins = report["plugins"].as_array().unwrap();
        assert_eq!(plugins.len(), 40);
        for p in plugins {
            assert_eq!(
                p["health"]["reason"], "health check timed out after 100ms",
                "{p}"
            );
        }
    }
    assert!(took < Duration::from_secs(2), "10 × /health took {took:?}");
    server.stop().await;
}

/// A check that blocks its thread (a synchronous client inside `health`) is not bounded: the
/// checks are joined in the request's task, so the time-out cannot fire until it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "documented limit (Plugin::health, health_within): a check must not block its thread; a time limit ends a check only at an .await"]
async fn probe_health_is_bounded_with_a_blocking_check() {
    fn blocking() -> futures::future::BoxFuture<'static, Health> {
        async {
            std::thread::sleep(Duration::from_millis(400));
            Health::Healthy
        }
        .boxed()
    }
    let host = host();
    host.add(Checked {
        name: "sync-db".into(),
        check: blocking,
    })
    .unwrap();
    let server = spawn(Server::new(
        host.clone(),
        health_router_within(host.clone(), Duration::from_millis(50)),
    ))
    .await;
    let started = Instant::now();
    let (status, body) = fetch(&server.url("/health"), None).await;
    let took = started.elapsed();
    server.stop().await;
    assert!(
        took < Duration::from_millis(300),
        "/health with a 50 ms limit took {took:?} ({status} {body})"
    );
}
