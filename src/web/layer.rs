//! [`RequestHooksLayer`]: the host's "before" and "after" request hooks around every request,
//! as a tower [`Layer`].
//!
//! Per request: a [`RequestView`] is built; the before hook is called with it. The first impl
//! that answers decides ([`Decision::Respond`] answers the request, [`Decision::Continue`]
//! adds its extensions to the request and calls the handler); no answer at all means
//! "continue". **Fail-closed**: if an impl ranked before the first answer failed (error,
//! panic, timeout, open circuit breaker) or the call itself failed, if the hook has no impl
//! at all (the plugins that check requests failed, were disabled or stopped), or if a plugin
//! the layer [requires](RequestHooksLayer::require_plugin) has no impl of it, the handler is
//! not called and the layer answers `503 Service Unavailable`: a request whose checks could
//! not run is never let through. Then the after hook is called with a [`ResponseView`] and
//! every impl's [`HeaderEdits`] are applied in call order; an after impl that fails is logged
//! and changes nothing (the response was already decided).
//!
//! The layer keeps two [`HookCaller`]s: each call reads the hook's current impl list from its
//! snapshot, without a lock, so plugins registering or leaving never block requests.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};
use tracing::Instrument;

use super::view::{Decision, HeaderEdits, RequestView, ResponseView};
use crate::error::CallError;
use crate::outcome::{HookOutcome, ImplOutcome, NameTable};
use crate::spec::{CallMode, HookSpec};
use crate::{HookCaller, HookManager};

/// The body of the fail-closed answer. Says nothing about the plugins: the log does.
const UNAVAILABLE: &str = "service unavailable: the request could not be checked";

/// A tower [`Layer`] that runs the host's request hooks around every request: `B` is the
/// "before" spec (first-result, [`RequestView`] → [`Decision`]), `A` the "after" spec
/// (collect-all, [`ResponseView`] → [`HeaderEdits`]).
///
/// Per request, the before hook is called with a [`RequestView`]: the first impl that
/// answers decides ([`Decision::Respond`] answers the request, [`Decision::Continue`] adds
/// its extensions to the request and calls the handler); no answer at all means "continue".
/// Then, for every response, the after hook is called with a [`ResponseView`] and the impls'
/// [`HeaderEdits`] are applied in call order; an after impl that fails is logged and changes
/// nothing.
///
/// **Fail-closed**: the handler is not called and the layer answers `503 Service
/// Unavailable` (the reason goes to the log at `error`) when
/// - an impl ranked before the first answer failed (error, panic, timeout, open circuit
///   breaker), or the call itself failed;
/// - the before hook has **no impl at all**: the plugins that check requests are not running
///   (their start failed, a lazy start failed, they were disabled, stopped or removed, a
///   process plugin reached its restart limit). An app that means to serve without any check
///   says so with [`allow_unchecked_requests`](Self::allow_unchecked_requests);
/// - a plugin named with [`require_plugin`](Self::require_plugin) has no impl of the before
///   hook (with several checking plugins, say `rate-limit` and `token-auth`, the hook is not
///   empty when only `token-auth` is down: require it).
///
/// Each call reads the hook's current impl list from its snapshot, without a lock: plugins
/// registering or leaving never block requests.
///
/// **Where it goes**: axum's [`Router::layer`](axum::Router::layer) wraps only the routes the
/// router has *when it is called*; a router merged afterwards is not behind it. Merge the
/// plugin routes ([`PluginRouter::router`](super::PluginRouter::router)) and every route that
/// must be checked first, then call `.layer(..)` (or use
/// [`PluginRouter::merge_behind`](super::PluginRouter::merge_behind), which does both in that
/// order). Routes meant to stay open (`/health` for a load balancer) are merged after it.
///
/// ```
/// use axum::{routing::get, Router};
/// use hookwire::web::{Decision, HeaderEdits, RequestHooksLayer, RequestView, ResponseView};
/// use hookwire::HookManager;
///
/// hookwire::hookspec! {
///     #[firstresult]
///     pub struct BeforeRequest(RequestView) -> Decision;
///     pub struct AfterRequest(ResponseView) -> HeaderEdits;
/// }
///
/// let pm = HookManager::new();
/// // ... plugins register impls of `BeforeRequest` (until one does, every request is 503).
/// let hooks = RequestHooksLayer::<BeforeRequest, AfterRequest>::new(&pm)
///     .require_plugin("token-auth"); // 503 whenever `token-auth` is not running
/// let app: Router = Router::new().route("/", get(|| async { "hello" })).layer(hooks);
/// ```
pub struct RequestHooksLayer<B: HookSpec, A: HookSpec> {
    hooks: Arc<Callers<B, A>>,
}

/// The two callers, shared by every clone of the service (one reference count per request).
/// Kept without their cached snapshots (a layer lives as long as the server: it must not keep
/// the impls of plugins removed since alive); each request clones them, which caches the
/// snapshots current then.
struct Callers<B: HookSpec, A: HookSpec> {
    before: HookCaller<B>,
    after: HookCaller<A>,
    /// Whether a before hook without any impl lets requests through.
    allow_unchecked: bool,
    /// Plugins that must have an impl of the before hook for requests to be served.
    required: Vec<Arc<str>>,
}

/// (For the builder methods' `Arc::make_mut`: the copy stays without cached snapshots.)
impl<B: HookSpec, A: HookSpec> Clone for Callers<B, A> {
    fn clone(&self) -> Self {
        Callers {
            before: self.before.clone().uncached(),
            after: self.after.clone().uncached(),
            allow_unchecked: self.allow_unchecked,
            required: self.required.clone(),
        }
    }
}

impl<B: HookSpec, A: HookSpec> Callers<B, A> {
    /// Why the before hook's snapshot cannot check this request: no plain impl at all
    /// (unless allowed), or a required plugin without one. Wrappers do not count: they
    /// observe the call, they do not answer it. `None` when it can.
    fn missing(&self, names: &dyn NameTable) -> Option<String> {
        let count = names.impl_count();
        let first = names.wrapper_count().min(count);
        if count == first && !self.allow_unchecked {
            return Some(
                "no plugin implements it (the plugins that check requests are not running)"
                    .to_owned(),
            );
        }
        let has = |plugin: &str| (first..count).any(|i| &**names.plugin_name(i as u32) == plugin);
        self.required.iter().find(|p| !has(p)).map(|p| {
            format!(
                "required plugin `{p}` has no impl of it (failed, disabled, stopped or removed; or only wraps the hook; or no plugin has that name: check `require_plugin`)"
            )
        })
    }
}

impl<B, A> RequestHooksLayer<B, A>
where
    B: HookSpec<Args = RequestView, Output = Decision>,
    A: HookSpec<Args = ResponseView, Output = HeaderEdits>,
{
    /// A layer calling `B` and `A` on `hooks` (declaring them there if they are not yet).
    ///
    /// `B` must be a `#[firstresult]` spec (a compile error otherwise: "first answer decides"
    /// is what makes fail-closed well defined).
    pub fn new(hooks: &HookManager) -> Self {
        const {
            assert!(
                matches!(B::MODE, CallMode::FirstResult),
                "the before-request spec of `RequestHooksLayer` must be `#[firstresult]`"
            );
        }
        RequestHooksLayer {
            hooks: Arc::new(Callers {
                before: hooks.hook::<B>().uncached(),
                after: hooks.hook::<A>().uncached(),
                allow_unchecked: false,
                required: Vec::new(),
            }),
        }
    }

    /// Lets requests through when the before hook has **no impl at all** (by default they are
    /// answered 503: the plugins that should check them are not running). For an app whose
    /// before hook is optional — plugins may add checks, none is needed — and that accepts
    /// serving every request unchecked while none is registered. Failures of the impls that
    /// are there still answer 503.
    ///
    /// ```
    /// use hookwire::web::{Decision, HeaderEdits, RequestHooksLayer, RequestView, ResponseView};
    /// use hookwire::HookManager;
    ///
    /// hookwire::hookspec! {
    ///     #[firstresult]
    ///     pub struct BeforeRequest(RequestView) -> Decision;
    ///     pub struct AfterRequest(ResponseView) -> HeaderEdits;
    /// }
    /// // Plugins may add request checks; none is required.
    /// let layer = RequestHooksLayer::<BeforeRequest, AfterRequest>::new(&HookManager::new())
    ///     .allow_unchecked_requests();
    /// ```
    pub fn allow_unchecked_requests(mut self) -> Self {
        Arc::make_mut(&mut self.hooks).allow_unchecked = true;
        self
    }

    /// Serves requests only while plugin `plugin` has an impl of the before hook: when it is
    /// not running (its start or lazy start failed, it was disabled, stopped or removed, a
    /// process plugin reached its restart limit: its impls are unregistered), every request
    /// is answered 503. Call it once per plugin that must check every request, e.g. the
    /// authentication plugin when other plugins (a rate limiter) implement the hook too.
    ///
    /// The check reads the call's snapshot (no lock). A lazy plugin's impls are registered
    /// before it starts: its first request starts it (and a failed start answers 503).
    ///
    /// Serve `/health` with [`health_router`](Self::health_router) so that it says so too
    /// (unhealthy, naming the plugin — or that no plugin has that name, for a typo).
    pub fn require_plugin(mut self, plugin: impl Into<String>) -> Self {
        let plugin: String = plugin.into();
        Arc::make_mut(&mut self.hooks)
            .required
            .push(Arc::from(plugin));
        self
    }
}

impl<B: HookSpec, A: HookSpec> RequestHooksLayer<B, A> {
    /// [`health_router`](super::health_router) for an app behind this layer: `GET /health`
    /// is also `unhealthy` (503) while a plugin named with
    /// [`require_plugin`](Self::require_plugin) is not running — disabled, stopped, failed,
    /// removed, or never registered (a misspelt name) — with the reason in its `required`
    /// list: a load balancer stops sending requests the layer would answer 503.
    ///
    /// ```
    /// use axum::Router;
    /// use hookwire::web::{Decision, HeaderEdits, RequestHooksLayer, RequestView, ResponseView};
    /// use hookwire::PluginHost;
    ///
    /// hookwire::hookspec! {
    ///     #[firstresult]
    ///     pub struct BeforeRequest(RequestView) -> Decision;
    ///     pub struct AfterRequest(ResponseView) -> HeaderEdits;
    /// }
    /// let host = PluginHost::new();
    /// let layer = RequestHooksLayer::<BeforeRequest, AfterRequest>::new(host.hooks())
    ///     .require_plugin("token-auth");
    /// let app: Router = Router::new().layer(layer.clone()).merge(layer.health_router(host));
    /// ```
    pub fn health_router(&self, host: crate::PluginHost) -> axum::Router {
        super::health::health_router_requiring(host, self.hooks.required.clone())
    }
}

impl<B: HookSpec, A: HookSpec> Clone for RequestHooksLayer<B, A> {
    fn clone(&self) -> Self {
        RequestHooksLayer {
            hooks: self.hooks.clone(),
        }
    }
}

impl<B: HookSpec, A: HookSpec> std::fmt::Debug for RequestHooksLayer<B, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHooksLayer")
            .field("before", &B::NAME)
            .field("after", &A::NAME)
            .finish()
    }
}

impl<S, B: HookSpec, A: HookSpec> Layer<S> for RequestHooksLayer<B, A> {
    type Service = RequestHooks<S, B, A>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestHooks {
            inner,
            hooks: self.hooks.clone(),
        }
    }
}

/// The service [`RequestHooksLayer`] wraps around an inner service (a route or a router).
pub struct RequestHooks<S, B: HookSpec, A: HookSpec> {
    inner: S,
    hooks: Arc<Callers<B, A>>,
}

impl<S: Clone, B: HookSpec, A: HookSpec> Clone for RequestHooks<S, B, A> {
    fn clone(&self) -> Self {
        RequestHooks {
            inner: self.inner.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

impl<S, B: HookSpec, A: HookSpec> std::fmt::Debug for RequestHooks<S, B, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestHooks")
            .field("before", &B::NAME)
            .field("after", &A::NAME)
            .finish_non_exhaustive()
    }
}

impl<S, B, A> Service<Request> for RequestHooks<S, B, A>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: HookSpec<Args = RequestView, Output = Decision>,
    A: HookSpec<Args = ResponseView, Output = HeaderEdits>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The clone is not ready; the one `poll_ready` readied is taken (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let hooks = self.hooks.clone();
        let span = tracing::debug_span!("request", method = %req.method(), path = req.uri().path());
        // The before call's and the after step's futures are boxed: the request's future
        // stays under 1 KiB (2 KiB unboxed), cheaper to move and to allocate (measured in
        // `benches/web_layer.rs`, in process: the layer's own cost 910 → 630 ns a request).
        let fut = async move {
            let started = Instant::now();
            let view = RequestView::from_request(&req);
            let before = hooks.before.clone();
            let response = match decide(B::NAME, &hooks, Box::pin(before.call(&view)).await) {
                Verdict::Respond(response) => response,
                Verdict::Continue(extensions) => {
                    req.extensions_mut().extend(extensions);
                    inner.call(req).await?
                }
                Verdict::Unavailable => {
                    (StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE).into_response()
                }
            };
            let after = hooks.after.clone();
            Ok(Box::pin(finish(&after, view, response, started)).await)
        };
        // Without a subscriber for the span, no `Instrumented` (one move less of a large
        // future).
        if span.is_disabled() {
            Box::pin(fut)
        } else {
            Box::pin(fut.instrument(span))
        }
    }
}

/// What the before hook's outcome means for the request.
enum Verdict {
    Respond(Response),
    Continue(axum::http::Extensions),
    Unavailable,
}

/// The first answer decides, unless an impl before it failed or the plugins that check
/// requests are missing (fail-closed).
fn decide<B: HookSpec, A: HookSpec>(
    hook: &str,
    callers: &Callers<B, A>,
    result: Result<HookOutcome<Decision>, CallError>,
) -> Verdict {
    let mut outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::error!(hook, %error, "before-request hook call failed; answering 503");
            return Verdict::Unavailable;
        }
    };
    if let Some(why) = callers.missing(&*outcome.names) {
        tracing::error!(hook, reason = %why, "before-request hook cannot check the request; answering 503 (fail-closed)");
        return Verdict::Unavailable;
    }
    for (plugin, answer) in outcome.iter_mut() {
        match std::mem::replace(answer, ImplOutcome::NoAnswer) {
            ImplOutcome::Value(Decision::Respond(response)) => {
                tracing::debug!(hook, plugin, status = %response.status(), "answered by a plugin");
                return Verdict::Respond(response);
            }
            ImplOutcome::Value(Decision::Continue(extensions)) => {
                return Verdict::Continue(extensions)
            }
            ImplOutcome::NoAnswer => {}
            ImplOutcome::Failed(failure) => {
                tracing::error!(hook, plugin, %failure, "before-request impl failed; answering 503 (fail-closed)");
                return Verdict::Unavailable;
            }
            other => {
                tracing::error!(hook, plugin, outcome = %other.kind(), "before-request impl did not run; answering 503 (fail-closed)");
                return Verdict::Unavailable;
            }
        }
    }
    Verdict::Continue(axum::http::Extensions::new())
}

/// Calls the after hook and applies its edits in call order.
async fn finish<A>(
    after: &HookCaller<A>,
    request: RequestView,
    response: Response,
    started: Instant,
) -> Response
where
    A: HookSpec<Args = ResponseView, Output = HeaderEdits>,
{
    let (mut parts, body) = response.into_parts();
    let view = ResponseView::new(
        request,
        parts.status,
        std::mem::take(&mut parts.headers),
        started.elapsed(),
    );
    let result = after.call(&view).await;
    let (_, headers) = view.into_parts();
    parts.headers = headers;
    match result {
        Ok(outcome) => {
            for (plugin, answer) in outcome.iter() {
                if let Some(failure) = answer.failure() {
                    tracing::warn!(hook = A::NAME, plugin, %failure, "after-request impl failed; its headers are not applied");
                }
            }
            for edits in outcome.into_values() {
                edits.apply(&mut parts.headers);
            }
        }
        Err(error) => {
            tracing::warn!(hook = A::NAME, %error, "after-request hook call failed; no header edits applied")
        }
    }
    Response::from_parts(parts, body)
}
