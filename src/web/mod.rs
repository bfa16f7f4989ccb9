//! Web services with axum 0.8 (feature `axum`): plugin routes that come and go without a
//! restart, a health endpoint, admin endpoints and Prometheus metrics.
//!
//! Each part is a plain [`axum::Router`] (or, for plugin routes, a [`tower::Service`] that a
//! router mounts), so a host merges what it wants into its own app:
//!
//! | function | routes |
//! |---|---|
//! | [`PluginRouter::router`] | `/plugins/{name}/…`: each plugin's own router, rebuilt when plugins change |
//! | [`health_router`] | `GET /health` |
//! | [`admin_router`] | `GET /admin/plugins`, `GET /admin/plugins/{name}`, `POST /admin/plugins/{name}/enable` and `/disable` |
//! | [`metrics_router`] | `GET /metrics` (Prometheus text format) |
//!
//! Plugin routes live under `/plugins/` and admin routes under `/admin/plugins`, so no plugin
//! name can shadow an admin route.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use hookwire::web::{self, AdminAction, PluginRouter, PluginRoutes};
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
//! let is_operator = |parts: &axum::http::request::Parts, _: &AdminAction| {
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
mod health;
mod metrics;
mod routes;

pub use admin::{admin_router, AdminAction, Authorize, DenyAll};
pub use health::{health_router, HealthReport, OverallStatus, PluginHealth};
pub use metrics::{metrics_router, StatsCollector};
pub use routes::{PluginRouter, PluginRoutes, RouteError};
