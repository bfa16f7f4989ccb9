//! Web services with axum 0.8 (feature `axum`): plugins around every request, handlers that
//! extract what plugins provide, an app lifecycle tied to the [`PluginHost`](crate::PluginHost),
//! plugin routes that come and go without a restart, health, admin and Prometheus metrics.
//!
//! - **Request hooks** ([`RequestHooksLayer`]): a tower layer calling the host's "before" hook
//!   (first-result: [`RequestView`] → [`Decision`], to answer a request — 401, 403, 429 — or
//!   let it through with values for the handler) and "after" hook (collect-all:
//!   [`ResponseView`] → [`HeaderEdits`]). The host picks the specs; the layer is generic.
//!   **Fail-closed**: a before impl that fails, panics or times out ahead of the first answer
//!   never lets the request through — the layer answers 503; so does a before hook left
//!   without any impl (its plugins failed, were disabled or stopped) unless the app
//!   [allows unchecked requests](RequestHooksLayer::allow_unchecked_requests), and one
//!   without an impl of a [required plugin](RequestHooksLayer::require_plugin). Put the layer
//!   *after* merging every route it must check, plugin routes included
//!   ([`PluginRouter::merge_behind`]).
//! - **Dependency injection**: [`Principal<T>`] (what the before hook passed on; 401 when
//!   absent) and [`Service<T>`] (a host or plugin service).
//! - **Lifecycle** ([`Server`]): plugins started and start-up hooks called before serving;
//!   on SIGTERM, Ctrl-C or a [`ShutdownTrigger`] the requests in flight finish, the shutdown
//!   hooks run and the plugins stop in reverse dependency order.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{http::StatusCode, routing::get, Router};
//! use hookwire::web::{Decision, HeaderEdits, Principal, RequestHooksLayer, RequestView,
//!                     ResponseView, Server};
//! use hookwire::{HookReturn, Plugin, PluginHost, RegisterError, Registrar};
//!
//! hookwire::hookspec! {
//!     /// Who may call: the first plugin that decides answers.
//!     #[firstresult]
//!     pub struct BeforeRequest(RequestView) -> Decision;
//!     /// Response headers from every plugin.
//!     pub struct AfterRequest(ResponseView) -> HeaderEdits;
//! }
//!
//! #[derive(Clone)]
//! struct User(String);
//!
//! struct TokenAuth;
//! impl Plugin for TokenAuth {
//!     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
//!         r.sync_fn::<BeforeRequest>(|req: &RequestView| -> HookReturn<Decision> {
//!             Ok(Some(match req.bearer_token() {
//!                 Some("s3cret") => Decision::proceed_with(User("ada".into())),
//!                 _ => Decision::respond(StatusCode::UNAUTHORIZED),
//!             }))
//!         })
//!         .add()
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let host = PluginHost::new();
//!     host.add(TokenAuth)?;
//!     let app = Router::new()
//!         .route("/me", get(|Principal(user): Principal<User>| async move { user.0 }))
//!         .layer(RequestHooksLayer::<BeforeRequest, AfterRequest>::new(host.hooks()));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     Server::new(host, app).run(listener).await?; // until SIGTERM or Ctrl-C
//!     Ok(())
//! }
//! ```
//!
//! ## Plugin routes, health, admin and metrics
//!
//! Each part is a plain [`axum::Router`] (or, for plugin routes, a [`tower::Service`] that a
//! router mounts), so a host merges what it wants into its own app:
//!
//! | function | routes |
//! |---|---|
//! | [`PluginRouter::router`] | `/plugins/{name}/…`: each plugin's own router, rebuilt when plugins change |
//! | [`health_router`] | `GET /health` (each plugin's check bounded by [`HEALTH_CHECK_LIMIT`]) |
//! | [`admin_router`] | `GET /admin/plugins`, `GET /admin/plugins/{name}`, `POST /admin/plugins/{name}/enable` and `/disable` |
//! | [`metrics_router`] | `GET /metrics` (Prometheus text format) |
//!
//! Plugin routes live under `/plugins/` and admin routes under `/admin/plugins`, so no plugin
//! name can shadow an admin route.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use hookwire::web::{self, AdminRequest, PluginRouter, PluginRoutes};
//! use hookwire::PluginHost;
//!
//! hookwire::hookspec! {
//!     /// Each plugin's HTTP routes, mounted under `/plugins/{name}`.
//!     pub struct Routes(()) -> PluginRoutes;
//! }
//!
//! let host = PluginHost::new();
//! // ... add plugins, `host.start().await` ...
//! let plugins = PluginRouter::new::<Routes>(host.clone(), ());
//! plugins.rebuild().await.expect("plugin routes");
//! tokio::spawn(plugins.follow()); // rebuild when plugins start, stop or are replaced
//!
//! let is_operator = |parts: &axum::http::request::Parts, _: &AdminRequest| {
//!     parts.headers.get("authorization").is_some_and(|v| v == "Bearer s3cret")
//! };
//! let app = axum::Router::new()
//!     .merge(plugins.router())
//!     .merge(web::health_router(host.clone()))
//!     .merge(web::admin_router(host.clone(), is_operator))
//!     .merge(web::metrics_router(host.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

mod admin;
mod extract;
mod health;
mod layer;
mod metrics;
mod routes;
mod serve;
mod view;

pub use admin::{admin_router, AdminRequest, Authorize, DenyAll};
pub use extract::{MissingPrincipal, MissingService, Principal, Service};
pub use health::{
    health_router, health_router_within, HealthReport, OverallStatus, PluginHealth,
    HEALTH_CHECK_LIMIT,
};
pub use layer::{RequestHooks, RequestHooksLayer};
pub use metrics::{metrics_router, StatsCollector};
pub use routes::{PluginRouter, PluginRoutes, RouteError};
pub use serve::{ServeError, Server, ShutdownTrigger};
pub use view::{Decision, HeaderEdit, HeaderEdits, RequestView, ResponseView};
