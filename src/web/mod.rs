//! Web services with axum 0.8 (feature `axum`): plugins around every request, handlers that
//! extract what plugins provide, and an app lifecycle tied to the [`PluginHost`](crate::PluginHost).
//!
//! - **Request hooks** ([`RequestHooksLayer`]): a tower layer calling the host's "before" hook
//!   (first-result: [`RequestView`] → [`Decision`], to answer a request — 401, 403, 429 — or
//!   let it through with values for the handler) and "after" hook (collect-all:
//!   [`ResponseView`] → [`HeaderEdits`]). The host picks the specs; the layer is generic.
//!   **Fail-closed**: a before impl that fails, panics or times out ahead of the first answer
//!   never lets the request through — the layer answers 503.
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

mod extract;
mod layer;
mod serve;
mod view;

// PART B modules: plugin routes behind arc-swap (`routes`), and the health, admin and
// metrics router (`health`, `admin`, `metrics`) are declared and re-exported here.

pub use extract::{MissingPrincipal, MissingService, Principal, Service};
pub use layer::{RequestHooks, RequestHooksLayer};
pub use serve::{ServeError, Server, ShutdownTrigger};
pub use view::{Decision, HeaderEdit, HeaderEdits, RequestView, ResponseView};
