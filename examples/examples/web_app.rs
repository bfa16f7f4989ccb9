//! The web service demo: an axum app made pluggable with hookwire.
//!
//! Four plugins, none of which the app's routes know about:
//! - `rate-limit` (before hook, `tryfirst`): at most `limit` requests per client address in
//!   each `window`; the next one is answered `429 Too Many Requests`;
//! - `token-auth` (before hook): `Authorization: Bearer <token>` must name a known token,
//!   else `401`; the user it names goes to the handler (`Principal<User>`);
//! - `request-ids` (after hook): `x-request-id` (the client's, or a new one) and
//!   `server-timing` on every response;
//! - `greeter`: serves `/plugins/greeter/hello` (a plugin route: mounted while the plugin
//!   runs) and provides a `Greeting` service, which the app's own `/hello` extracts.
//!
//! ```sh
//! cargo run -p hookwire-examples --example web_app --features web_app
//! curl -i -H 'Authorization: Bearer demo-token' http://127.0.0.1:3000/plugins/greeter/hello
//! ```
//!
//! `HOOKWIRE_WEB_ADDR` changes the address (default `127.0.0.1:3000`); Ctrl-C or SIGTERM
//! stops it gracefully.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::routing::get;
use axum::Router;
use hookwire::web::{
    Decision, HeaderEdits, PluginRouter, PluginRoutes, Principal, RequestHooksLayer, RequestView,
    ResponseView, Server, Service,
};
use hookwire::{BoxError, HookReturn, PluginContext, PluginHost};

hookwire::hookspec! {
    /// Before each request: the first plugin that decides answers (or lets it through).
    #[firstresult]
    #[name = "before_request"]
    pub struct BeforeRequest(RequestView) -> Decision;
    /// After each request: every plugin may change the response's headers.
    #[name = "after_request"]
    pub struct AfterRequest(ResponseView) -> HeaderEdits;
    /// Once, before the first request.
    #[name = "on_startup"]
    pub struct OnStartup(()) -> ();
    /// Once, after the last request.
    #[name = "on_shutdown"]
    pub struct OnShutdown(()) -> ();
    /// Each plugin's own routes, mounted under `/plugins/{name}`.
    #[name = "routes"]
    pub struct Routes(()) -> PluginRoutes;
}

/// Who is calling: what `token-auth` passes to the handlers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The user's name.
    pub name: String,
}

/// The demo's settings.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// Bearer token → user name.
    pub tokens: Vec<(String, String)>,
    /// Requests per client address in each window; the next is answered 429.
    pub limit: u32,
    /// The rate limiter's window.
    pub window: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            tokens: vec![("demo-token".into(), "ada".into())],
            limit: 5,
            window: Duration::from_secs(10),
        }
    }
}

/// `Authorization: Bearer <token>` → the token's user, or 401.
pub struct TokenAuth {
    tokens: HashMap<String, User>,
}

#[hookwire::plugin(name = "token-auth", version = "1.0.0")]
impl TokenAuth {
    #[hookimpl]
    fn before_request(&self, req: &RequestView) -> HookReturn<Decision> {
        let user = req.bearer_token().and_then(|t| self.tokens.get(t));
        Ok(Some(match user {
            Some(user) => Decision::proceed_with(user.clone()),
            None => Decision::respond((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a valid `Authorization: Bearer <token>` header is required\n",
            )),
        }))
    }
}

/// A fixed window per client address.
pub struct RateLimit {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

#[hookwire::plugin(name = "rate-limit", version = "1.0.0")]
impl RateLimit {
    /// Runs before `token-auth`: answers only to refuse, so the next plugin decides.
    #[hookimpl(tryfirst)]
    fn before_request(&self, req: &RequestView) -> HookReturn<Decision> {
        let client = req.remote_addr().map(|a| a.ip());
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let (since, count) = seen.entry(client).or_insert((now, 0));
        if now.duration_since(*since) >= self.window {
            (*since, *count) = (now, 0);
        }
        *count += 1;
        if *count <= self.limit {
            return Ok(None);
        }
        let retry = self.window.saturating_sub(now.duration_since(*since));
        Ok(Some(Decision::respond((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, (retry.as_secs() + 1).to_string())],
            format!("more than {} requests in {:?}\n", self.limit, self.window),
        ))))
    }
}

/// `x-request-id` and `server-timing` on every response.
#[derive(Default)]
pub struct RequestIds {
    next: AtomicU64,
}

#[hookwire::plugin(name = "request-ids", version = "1.0.0")]
impl RequestIds {
    #[hookimpl]
    fn after_request(&self, res: &ResponseView) -> HookReturn<HeaderEdits> {
        let id = match res.request().headers().get("x-request-id") {
            Some(id) => id.clone(),
            None => HeaderValue::from(self.next.fetch_add(1, Ordering::Relaxed) + 1),
        };
        let millis = res.elapsed().as_secs_f64() * 1000.0;
        let timing = HeaderValue::from_str(&format!("app;dur={millis:.3}"))?;
        Ok(Some(
            HeaderEdits::new()
                .insert(HeaderName::from_static("x-request-id"), id)
                .insert(HeaderName::from_static("server-timing"), timing),
        ))
    }
}

/// What `greeter` greets with: a service it provides to the app's handlers.
#[derive(Clone)]
pub struct Greeting(pub String);

/// Provides a [`Greeting`] and serves `/plugins/greeter/hello`.
pub struct Greeter {
    greeting: Greeting,
}

impl Default for Greeter {
    fn default() -> Self {
        Greeter {
            greeting: Greeting("Hello".into()),
        }
    }
}

#[hookwire::plugin(name = "greeter", version = "1.0.0")]
impl Greeter {
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        ctx.provide(self.greeting.clone())?;
        Ok(())
    }

    #[hookimpl]
    fn on_startup(&self, _: &()) -> HookReturn<()> {
        say("greeter: ready");
        Ok(None)
    }

    /// Its routes, which the host mounts under `/plugins/greeter` (and takes away when the
    /// plugin is disabled or removed).
    #[hookimpl]
    fn routes(&self, _: &()) -> HookReturn<PluginRoutes> {
        let greeting = self.greeting.0.clone();
        let hello = move |Principal(user): Principal<User>| async move {
            format!("{greeting}, {}!\n", user.name)
        };
        Ok(Some(PluginRoutes(
            Router::new().route("/hello", get(hello)),
        )))
    }
}

/// The app's own `/hello`: the principal from `token-auth`, the service from `greeter`.
async fn hello(Principal(user): Principal<User>, Service(greeting): Service<Greeting>) -> String {
    format!("{}, {}!\n", greeting.0, user.name)
}

/// The demo talks on stderr (a library would use `tracing`).
fn say(line: &str) {
    eprintln!("{line}");
}

/// The plugin host with the four plugins, the plugins' routes (`/plugins/{name}/…`, kept up
/// to date by the server: [`Server::plugin_routes`]) and the app: its routes and the
/// plugins' behind the request hooks.
pub fn build(config: &DemoConfig) -> (PluginHost, PluginRouter, Router) {
    let host = PluginHost::new();
    let tokens = config
        .tokens
        .iter()
        .map(|(token, name)| (token.clone(), User { name: name.clone() }))
        .collect();
    let added = [
        host.add(RateLimit {
            limit: config.limit,
            window: config.window,
            seen: Mutex::default(),
        }),
        host.add(TokenAuth { tokens }),
        host.add(RequestIds::default()),
        host.add(Greeter::default()),
    ];
    for result in added {
        result.expect("the demo's plugins have distinct names");
    }
    let plugin_routes = PluginRouter::new::<Routes>(host.clone(), ());
    let router = Router::new()
        .route("/", get(|| async { "hookwire web demo\n" }))
        .route("/hello", get(hello))
        .with_state(host.clone())
        .merge(plugin_routes.router())
        // After the merge, so that the plugin routes are checked too. Fail-closed: 503 while
        // `token-auth` is not running, though `rate-limit` still implements the hook.
        .layer(
            RequestHooksLayer::<BeforeRequest, AfterRequest>::new(host.hooks())
                .require_plugin("token-auth"),
        );
    (host, plugin_routes, router)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("HOOKWIRE_WEB_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let (host, plugin_routes, router) = build(&DemoConfig::default());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    say(&format!(
        "listening on http://{} (token `demo-token`; Ctrl-C stops)",
        listener.local_addr()?
    ));
    let stopped = Server::new(host, router)
        .on_startup::<OnStartup>(())
        .on_shutdown::<OnShutdown>(())
        .plugin_routes(plugin_routes)
        .run(listener)
        .await?;
    say(&stopped.to_string());
    Ok(())
}
