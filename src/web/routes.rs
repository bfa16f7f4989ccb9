//! [`PluginRouter`]: the plugins' own HTTP routes, each plugin's [`axum::Router`] mounted
//! under `/plugins/{name}`, behind an `arc-swap` so that they change without a restart.
//!
//! axum's `Router` cannot change once it serves, so the `PluginRouter` is a small
//! [`tower::Service`] that dispatches each request to the router current when the request
//! arrived: [`rebuild`](PluginRouter::rebuild) collects the plugins' routers through the host's
//! hook, builds and checks the combined router, and only then swaps it in. A request in flight
//! keeps the router it started with.
//!
//! Each plugin's router is mounted behind a small guard: it answers 503 (`Retry-After: 1`;
//! 404 once the plugin is removed) as soon as the plugin's life stops (the host clears a flag before `disable`, `remove`, a stop or a failure
//! returns; the guard reads it without a lock), before the rebuild that takes the routes away,
//! and it turns a panicking handler into a `500 Internal Server Error` (logged at `error`,
//! naming the plugin) instead of a dropped connection.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use axum::Router;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::{broadcast, watch};
use tracing::Instrument;

use crate::exec::panic::panic_message;
use crate::outcome::OutcomeKind;
use crate::plugin::{PluginEvent, PluginState};
use crate::spec::HookSpec;
use crate::PluginHost;

use super::{Decision, HeaderEdits, RequestHooksLayer, RequestView, ResponseView};

/// What a plugin's impl of the host's routes hook answers: its own router, which the
/// [`PluginRouter`] mounts under `/plugins/{name}` (a route `/hello` of plugin `greeter` is
/// served at `/plugins/greeter/hello`).
///
/// The host declares the hook with this output, e.g.
/// `hookwire::hookspec! { pub struct Routes(()) -> PluginRoutes; }`, and names it in
/// [`PluginRouter::new`].
#[derive(Debug, Clone, Default)]
pub struct PluginRoutes(pub Router);

impl From<Router> for PluginRoutes {
    fn from(router: Router) -> Self {
        PluginRoutes(router)
    }
}

/// Why a [`PluginRouter::rebuild`] was refused. The routes that were served before still are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The plugin's name cannot be a path prefix: it is empty, has an empty segment or a
    /// character other than ASCII letters, digits, `-`, `.`, `_`, `~` and `/` between segments.
    #[error("plugin `{plugin}` cannot serve routes under `/plugins/{plugin}`: {reason}; rename the plugin (letters, digits, `-`, `.`, `_`, `~`, `/` between segments); the previous routes stay")]
    InvalidName {
        /// The plugin.
        plugin: String,
        /// What is wrong with the name.
        reason: String,
    },
    /// axum refused to mount the plugin's router: most often a route that overlaps a route of
    /// another plugin whose mount path is a prefix of this one's, or the reverse (`shop` serving
    /// `/admin/x` and `shop/admin` serving `/x`).
    #[error("{}: {message}; the previous routes stay", conflict_text(.plugin, .others))]
    Conflict {
        /// The plugin whose router could not be mounted.
        plugin: String,
        /// The plugins mounted before it whose paths may overlap its own, by name (empty when
        /// the plugin's router could not be mounted on its own).
        others: Vec<String>,
        /// axum's message.
        message: String,
    },
    /// The routes hook itself could not be called (e.g. a `fail_fast` spec with a failing
    /// impl).
    #[error("the routes hook `{hook}` failed: {message}; the previous routes stay")]
    Call {
        /// The hook.
        hook: String,
        /// What went wrong.
        message: String,
    },
}

fn conflict_text(plugin: &str, others: &[String]) -> String {
    if others.is_empty() {
        return format!(
            "the router of plugin `{plugin}` cannot be mounted under `/plugins/{plugin}`"
        );
    }
    let names: Vec<String> = others.iter().map(|o| format!("`{o}`")).collect();
    format!(
        "the routes of plugin `{plugin}` overlap those of plugin {}",
        names.join(", ")
    )
}

/// The plugins' routes, swappable while serving. Cheap to clone (shared).
///
/// - [`new`](Self::new) names the host's routes hook (output [`PluginRoutes`]) and its
///   arguments; it serves nothing until the first [`rebuild`](Self::rebuild).
/// - [`rebuild`](Self::rebuild) calls the hook, mounts each answer under `/plugins/{name}`
///   (the plugin named by the outcome's attribution), and swaps the new router in.
/// - [`follow`](Self::follow) rebuilds whenever a plugin starts, stops, fails or is replaced
///   (enable, disable, remove, hot reload).
/// - [`router`](Self::router) is what the app merges: `/plugins/{*path}` served by this —
///   **before** the app's [`RequestHooksLayer`], or the plugin routes are not behind the
///   request hooks ([`merge_behind`](Self::merge_behind) merges and layers in that order).
/// - A plugin's routes answer 503 with `Retry-After` as soon as the plugin stops (404 once it
///   is removed), before the rebuild; a replaced plugin's routes are rebuilt at the swap, so
///   the new instance serves them while the old one stops; a handler that panics answers 500.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use axum::routing::get;
/// use hookwire::web::{PluginRouter, PluginRoutes};
/// use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};
///
/// hookwire::hookspec! { pub struct Routes(()) -> PluginRoutes; }
///
/// struct Greeter;
/// impl Plugin for Greeter {
///     fn meta(&self) -> PluginMeta { PluginMeta::new("greeter", "1.0.0") }
///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
///         r.sync_fn::<Routes>(|_| {
///             Ok(Some(PluginRoutes(axum::Router::new().route("/hello", get(|| async { "hi" })))))
///         })
///         .add()
///     }
/// }
///
/// let host = PluginHost::new();
/// host.add(Greeter).unwrap();
/// host.start().await.unwrap();
/// let plugins = PluginRouter::new::<Routes>(host, ());
/// assert_eq!(plugins.rebuild().await.unwrap(), ["greeter"]);
/// assert_eq!(plugins.mounted(), ["greeter"]);
/// // `plugins.router()` now serves GET /plugins/greeter/hello.
/// # });
/// ```
#[derive(Clone)]
pub struct PluginRouter {
    shared: Arc<Shared>,
}

/// A routes hook answer or failure, by plugin.
enum Answer {
    Routes(Router),
    Failed(String),
}

type Collect = Box<
    dyn Fn(&PluginHost) -> BoxFuture<'static, Result<Vec<(String, Answer)>, RouteError>>
        + Send
        + Sync,
>;

struct Shared {
    host: PluginHost,
    hook: &'static str,
    collect: Collect,
    current: ArcSwap<Mounted>,
    /// One rebuild at a time, so an older build never replaces a newer one.
    rebuilding: tokio::sync::Mutex<()>,
    generation: watch::Sender<u64>,
}

/// The router being served and the plugins it mounts.
struct Mounted {
    router: Router,
    plugins: Vec<String>,
}

impl std::fmt::Debug for PluginRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRouter")
            .field("hook", &self.shared.hook)
            .field("mounted", &self.mounted())
            .finish_non_exhaustive()
    }
}

impl PluginRouter {
    /// A plugin router over hook `S` of `host`, called with `args` at each rebuild. It serves
    /// no plugin route (404) until the first [`rebuild`](Self::rebuild).
    pub fn new<S>(host: PluginHost, args: S::Args) -> Self
    where
        S: HookSpec<Output = PluginRoutes>,
    {
        let args = Arc::new(args);
        let collect: Collect = Box::new(move |host: &PluginHost| {
            let caller = host.hook::<S>();
            let args = Arc::clone(&args);
            async move {
                let outcome = caller.call(&args).await.map_err(|e| RouteError::Call {
                    hook: S::NAME.to_owned(),
                    message: e.to_string(),
                })?;
                let mut answers = Vec::new();
                for (plugin, out) in outcome.iter() {
                    let answer = match (out.value(), out.failure()) {
                        (Some(routes), _) => Answer::Routes(routes.0.clone()),
                        (None, Some(failure)) => Answer::Failed(failure.to_string()),
                        (None, None) if out.kind() == OutcomeKind::NoAnswer => continue,
                        (None, None) => Answer::Failed(format!("{:?}", out.kind())),
                    };
                    answers.push((plugin.to_owned(), answer));
                }
                Ok(answers)
            }
            .boxed()
        });
        PluginRouter {
            shared: Arc::new(Shared {
                host,
                hook: S::NAME,
                collect,
                current: ArcSwap::from_pointee(Mounted {
                    router: Router::new(),
                    plugins: Vec::new(),
                }),
                rebuilding: tokio::sync::Mutex::new(()),
                generation: watch::Sender::new(0),
            }),
        }
    }

    /// Calls the routes hook, builds the combined router (each answer under
    /// `/plugins/{name}`, in name order) and swaps it in; returns the names of the plugins
    /// now mounted. Requests already running finish on the router they started with.
    ///
    /// A plugin whose impl failed (error, panic, timeout) is left out, with a `tracing`
    /// warning; the others are mounted (failures are isolated, as in every call). A lazy
    /// plugin with an impl of the hook is started by the call, as by any call that reaches it.
    ///
    /// # Errors
    /// The combined router is checked before the swap; when it cannot be built nothing
    /// changes (the previous routes keep serving) and the error names the plugins:
    /// [`RouteError::InvalidName`], [`RouteError::Conflict`] (overlapping routes: axum's
    /// panic is caught, and goes to the process's panic hook like any panic), or
    /// [`RouteError::Call`].
    ///
    /// # Cancel safety
    /// Cancel safe: the swap is one store at the end; a dropped rebuild changes nothing.
    pub async fn rebuild(&self) -> Result<Vec<String>, RouteError> {
        let shared = &self.shared;
        let span = tracing::debug_span!("hookwire.web.routes.rebuild", hook = shared.hook);
        async {
            let _one = shared.rebuilding.lock().await;
            // The flags of the instances registered *before* the call: an instance that
            // answers is this one or a later one (then this one is stopped, and its routes
            // wait for the next rebuild). Looked up after the call, a plugin replaced or
            // removed meanwhile would mount the stopped instance's routes as running.
            let mut flags = shared.host.inner.running_flags();
            let answers = (shared.collect)(&shared.host).await?;
            let mut routers = BTreeMap::new();
            for (plugin, answer) in answers {
                match answer {
                    Answer::Routes(router) => {
                        // A plugin registered during the call: its flag now. Only impls
                        // registered on the hook manager directly, not through the host,
                        // have none: they are always served.
                        let running = flags
                            .remove(&plugin)
                            .or_else(|| shared.host.inner.running_flag(&plugin));
                        routers.insert(plugin, (router, running));
                    }
                    Answer::Failed(why) => {
                        tracing::warn!(plugin = %plugin, error = %why, "plugin routes left out: its routes hook failed");
                    }
                }
            }
            let generation = *shared.generation.borrow() + 1;
            let (router, plugins) = build(shared, generation, routers).inspect_err(|e| {
                tracing::warn!(error = %e, "plugin routes not rebuilt");
            })?;
            shared.current.store(Arc::new(Mounted {
                router,
                plugins: plugins.clone(),
            }));
            shared.generation.send_modify(|g| *g += 1);
            tracing::info!(plugins = ?plugins, "plugin routes swapped");
            Ok(plugins)
        }
        .instrument(span)
        .await
    }

    /// The plugins whose routes are served now, by name.
    pub fn mounted(&self) -> Vec<String> {
        self.shared.current.load().plugins.clone()
    }

    /// A receiver of the number of swaps so far: it changes after each successful
    /// [`rebuild`](Self::rebuild) (one made by [`follow`](Self::follow) too), so a caller can
    /// wait until a change of plugins shows in the routes.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.generation.subscribe()
    }

    /// A future that rebuilds the routes whenever the host announces that a plugin started,
    /// stopped, failed, was replaced, or was registered (a lazy plugin, started by the
    /// rebuild's call if it has routes) — so enabling, disabling, removing and hot-reloading
    /// plugins change the routes; spawn it (`tokio::spawn(plugins.follow())`).
    ///
    /// Each rebuild waits for the host operation that sent the event (a start, stop, restart,
    /// replace, removal, enable or disable) to finish, so the routes hook sees the impls as that operation left
    /// them; events that arrive meanwhile are folded into one rebuild. A refused rebuild is a
    /// `tracing` warning (the previous routes stay). The future ends when every clone of this
    /// `PluginRouter` is dropped (at the next event) or the host is gone; abort its task to
    /// end it sooner.
    pub fn follow(&self) -> impl Future<Output = ()> + Send + 'static {
        let weak = Arc::downgrade(&self.shared);
        let mut events = self.shared.host.events();
        let span = tracing::debug_span!("hookwire.web.routes.follow", hook = self.shared.hook);
        async move {
            loop {
                let swapped = match events.recv().await {
                    Ok(event) if !changes_routes(&event) => continue,
                    Ok(event) => matches!(event, PluginEvent::Replaced { .. }),
                    Err(broadcast::error::RecvError::Lagged(_)) => false,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(shared) = weak.upgrade() else { return };
                // The host operation that sent the event holds this lock until it is done;
                // a replace announces the swap (new instance started, impls swapped) before
                // the old instance stops: its routes are rebuilt at once, so the new
                // instance serves them while the old one stops.
                if !swapped {
                    drop(shared.host.inner.ops.lock().await);
                }
                while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv()
                {
                }
                // Errors are logged by `rebuild`.
                let _ = PluginRouter { shared }.rebuild().await;
            }
        }
        .instrument(span)
    }

    /// An [`axum::Router`] serving `/plugins/{*path}` through this plugin router: merge it
    /// into the app. Unknown paths under `/plugins/` answer 404.
    ///
    /// Merge it **before** the app's [`RequestHooksLayer`] (`.merge(plugins.router())` then
    /// `.layer(..)`): axum's `Router::layer` only wraps the routes the router already has, so
    /// plugin routes merged after the layer are served without the request hooks (no
    /// authentication). [`merge_behind`](Self::merge_behind) does both in that order.
    pub fn router(&self) -> Router {
        Router::new().route_service("/plugins/{*path}", self.clone())
    }

    /// `app` with the plugin routes merged in, both behind `hooks`: the safe order
    /// (`app.merge(self.router()).layer(hooks)`), so every plugin route passes the request
    /// hooks like the app's own routes. Routes that must stay open (`/health` for a load
    /// balancer, admin routes with their own check) are merged into the result afterwards.
    ///
    /// ```
    /// use axum::{routing::get, Router};
    /// use hookwire::web::{self, Decision, HeaderEdits, PluginRouter, PluginRoutes,
    ///                     RequestHooksLayer, RequestView, ResponseView};
    /// use hookwire::PluginHost;
    ///
    /// hookwire::hookspec! {
    ///     #[firstresult]
    ///     pub struct BeforeRequest(RequestView) -> Decision;
    ///     pub struct AfterRequest(ResponseView) -> HeaderEdits;
    ///     pub struct Routes(()) -> PluginRoutes;
    /// }
    ///
    /// let host = PluginHost::new();
    /// let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    /// let app: Router = Router::new().route("/me", get(|| async { "me" }));
    /// let app = plugins
    ///     .merge_behind(app, RequestHooksLayer::<BeforeRequest, AfterRequest>::new(host.hooks()))
    ///     .merge(web::health_router(host.clone())); // open: not behind the hooks
    /// ```
    pub fn merge_behind<B, A>(&self, app: Router, hooks: RequestHooksLayer<B, A>) -> Router
    where
        B: HookSpec<Args = RequestView, Output = Decision>,
        A: HookSpec<Args = ResponseView, Output = HeaderEdits>,
    {
        app.merge(self.router()).layer(hooks)
    }
}

/// Whether an event can change which plugins have routes.
fn changes_routes(event: &PluginEvent) -> bool {
    match event {
        PluginEvent::StateChanged { to, .. } => {
            // `Registered`: a lazy plugin (an eager one's `Started` follows, in the same
            // operation, so the two make one rebuild).
            matches!(
                to,
                PluginState::Registered
                    | PluginState::Started
                    | PluginState::Stopped
                    | PluginState::Failed(_)
            )
        }
        PluginEvent::Replaced { .. } => true,
        _ => false,
    }
}

/// A plugin's router with the flag saying whether its life is running (`None`: not a plugin
/// of the host, always served).
type PluginRouterEntry = (Router, Option<Arc<AtomicBool>>);

/// Mounts each plugin's router under `/plugins/{name}`, in name order, each behind its
/// [`guard`].
fn build(
    shared: &Arc<Shared>,
    generation: u64,
    routers: BTreeMap<String, PluginRouterEntry>,
) -> Result<(Router, Vec<String>), RouteError> {
    let mut app = Router::new();
    let mut mounted: Vec<String> = Vec::with_capacity(routers.len());
    for (plugin, (router, running)) in routers {
        check_name(&plugin)?;
        let router = guard(shared, generation, &plugin, running, router);
        let prefix = format!("/plugins/{plugin}");
        match std::panic::catch_unwind(AssertUnwindSafe(move || app.nest(&prefix, router))) {
            Ok(next) => app = next,
            Err(payload) => {
                let others = mounted
                    .iter()
                    .filter(|m| nests(m, &plugin) || nests(&plugin, m))
                    .cloned()
                    .collect();
                return Err(RouteError::Conflict {
                    plugin,
                    others,
                    message: panic_message(payload),
                });
            }
        }
        mounted.push(plugin);
    }
    Ok((app, mounted))
}

/// `router` behind a guard that answers once the plugin's life stopped (`running` cleared:
/// without waiting for the rebuild) 503 with `Retry-After: 1` while a plugin of that name is
/// still registered (stopping, disabled: its routes come back), 404 once it is removed, and
/// for a replaced plugin the new instance's answer (from the rebuild that mounts it:
/// [`refused`]); 500 when a handler panics (logged at `error`, naming the plugin; the request
/// is answered, not dropped); a panic while the response body is produced is logged the
/// same way and ends the body with an error ([`GuardedBody`]). A request that passes takes
/// no lock.
fn guard(
    shared: &Arc<Shared>,
    generation: u64,
    plugin: &str,
    running: Option<Arc<AtomicBool>>,
    router: Router,
) -> Router {
    let plugin: Arc<str> = Arc::from(plugin);
    let weak = Arc::downgrade(shared);
    router.layer(axum::middleware::from_fn(
        move |req: Request<Body>, next: Next| {
            let plugin = plugin.clone();
            let running = running.clone();
            let weak = weak.clone();
            async move {
                if let Some(ours) = running.as_ref().filter(|r| !r.load(Ordering::Acquire)) {
                    return refused(weak, generation, &plugin, ours, req).await;
                }
                match AssertUnwindSafe(next.run(req)).catch_unwind().await {
                    Ok(response) => response.map(|body| {
                        Body::new(GuardedBody {
                            inner: body,
                            plugin,
                        })
                    }),
                    Err(panic) => {
                        tracing::error!(plugin = %plugin, panic = %panic_message(panic), "plugin route handler panicked; answering 500");
                        StatusCode::INTERNAL_SERVER_ERROR.into_response()
                    }
                }
            }
        },
    ))
}

/// How long a request to a replaced plugin's old routes waits for the rebuild that mounts the
/// new instance's (started `follow` rebuilds at the swap: a few milliseconds).
const REPLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The URI a request had when it reached the [`PluginRouter`] (before `nest` stripped the
/// plugin's prefix), to serve it again from a newer router.
#[derive(Clone)]
struct PluginsUri(axum::http::Uri);

/// The answer of the routes of plugin `plugin` built at `generation` whose life `ours` has
/// stopped: a replaced plugin (another instance of that name running) is served by the
/// routes of the rebuild that mounts it (waiting up to [`REPLACE_WAIT`] for it); a plugin
/// still registered (stopping, disabled) is 503 with `Retry-After: 1`; a removed one 404.
async fn refused(
    weak: std::sync::Weak<Shared>,
    generation: u64,
    plugin: &str,
    ours: &Arc<AtomicBool>,
    mut req: Request<Body>,
) -> Response {
    let Some(shared) = weak.upgrade() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(current) = shared.host.inner.running_flag(plugin) else {
        tracing::debug!(plugin = %plugin, "plugin route of a removed plugin: 404");
        return StatusCode::NOT_FOUND.into_response();
    };
    let uri = req.extensions().get::<PluginsUri>().cloned();
    if let (false, true, Some(uri)) = (
        Arc::ptr_eq(&current, ours),
        current.load(Ordering::Acquire),
        uri,
    ) {
        let mut changes = shared.generation.subscribe();
        let newer = |g: &u64| *g > generation;
        if tokio::time::timeout(REPLACE_WAIT, changes.wait_for(newer))
            .await
            .is_ok_and(|r| r.is_ok())
        {
            tracing::debug!(plugin = %plugin, "plugin replaced: served by its new routes");
            *req.uri_mut() = uri.0;
            let mut router = shared.current.load().router.clone();
            return match tower::Service::call(&mut router, req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
    }
    tracing::debug!(plugin = %plugin, "plugin route of a plugin that is not running: 503");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "1")],
    )
        .into_response()
}

/// A plugin route's response body that turns a panic while producing it into a logged error
/// (naming the plugin) ending the body, where it would unwind in the connection's task.
struct GuardedBody {
    inner: Body,
    plugin: Arc<str>,
}

impl http_body::Body for GuardedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let inner = std::pin::Pin::new(&mut this.inner);
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll_frame(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                tracing::error!(plugin = %this.plugin, panic = %panic_message(panic), "plugin route response body panicked; ending the response with an error");
                this.inner = Body::empty();
                Poll::Ready(Some(Err(axum::Error::new(format!(
                    "the response body of plugin `{}` panicked",
                    this.plugin
                )))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Whether path `outer`'s segments are the first segments of `inner`.
fn nests(outer: &str, inner: &str) -> bool {
    inner
        .strip_prefix(outer)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn check_name(plugin: &str) -> Result<(), RouteError> {
    let invalid = |reason: &str| {
        Err(RouteError::InvalidName {
            plugin: plugin.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if plugin.split('/').any(str::is_empty) {
        return invalid("a path segment would be empty");
    }
    if let Some(c) = plugin
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '/')))
    {
        return invalid(&format!("`{c}` is not allowed in a path prefix"));
    }
    Ok(())
}

impl tower::Service<Request<Body>> for PluginRouter {
    type Response = Response;
    type Error = Infallible;
    type Future = RouteFuture<Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let uri = PluginsUri(req.uri().clone());
        req.extensions_mut().insert(uri);
        // The request owns its router from here: a swap does not touch it.
        let mut router = self.shared.current.load().router.clone();
        tower::Service::call(&mut router, req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_nest_by_whole_segments() {
        assert!(nests("shop", "shop/admin"));
        assert!(nests("shop", "shop"));
        assert!(!nests("shop", "shopping"));
        assert!(!nests("shop/admin", "shop"));
    }

    #[test]
    fn names_that_cannot_be_prefixes_are_refused() {
        assert!(check_name("greeter").is_ok());
        assert!(check_name("acme/greeter-2.v1").is_ok());
        let err = check_name("{id}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin `{id}` cannot serve routes under `/plugins/{id}`: `{` is not allowed in a path prefix; rename the plugin (letters, digits, `-`, `.`, `_`, `~`, `/` between segments); the previous routes stay"
        );
        assert!(matches!(
            check_name("a//b"),
            Err(RouteError::InvalidName { .. })
        ));
        assert!(matches!(
            check_name(""),
            Err(RouteError::InvalidName { .. })
        ));
    }
}
