//! Dependency injection for handlers: [`Principal<T>`] (what the before hook's
//! [`Decision::Continue`](super::Decision::Continue) put in the request) and [`Service<T>`]
//! (a service of the [`PluginHost`]).

use std::any::type_name;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::PluginHost;

/// The authenticated principal: the `T` a before-hook impl added with
/// [`Decision::proceed_with`](super::Decision::proceed_with) (or in the extensions of a
/// `Continue`). Absent, the request is answered `401 Unauthorized`; take an
/// `Option<Principal<T>>` for routes that also serve anonymous callers.
///
/// ```
/// use hookwire::web::Principal;
///
/// #[derive(Clone)]
/// struct User { name: String }
///
/// async fn me(Principal(user): Principal<User>) -> String {
///     format!("you are {}", user.name)
/// }
/// # let _: axum::Router = axum::Router::new().route("/me", axum::routing::get(me));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal<T>(pub T);

/// The rejection of [`Principal<T>`]: no principal of that type in the request, answered
/// `401 Unauthorized`.
#[derive(Debug, thiserror::Error)]
#[error("no principal of type `{principal}` in the request: no before-request impl let it through with `Decision::proceed_with(principal)`; the route needs authentication")]
#[non_exhaustive]
pub struct MissingPrincipal {
    /// The principal's type name.
    pub principal: &'static str,
}

impl IntoResponse for MissingPrincipal {
    fn into_response(self) -> Response {
        tracing::debug!(principal = self.principal, "no principal: answering 401");
        (StatusCode::UNAUTHORIZED, "authentication required").into_response()
    }
}

impl<S, T> FromRequestParts<S> for Principal<T>
where
    S: Send + Sync,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = MissingPrincipal;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<T>()
            .cloned()
            .map(Principal)
            .ok_or(MissingPrincipal {
                principal: type_name::<T>(),
            })
    }
}

impl<S, T> OptionalFromRequestParts<S> for Principal<T>
where
    S: Send + Sync,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<T>().cloned().map(Principal))
    }
}

/// A service of the [`PluginHost`]: the host's own
/// ([`PluginHostBuilder::service`](crate::plugin::PluginHostBuilder::service)) or one a
/// started plugin provided ([`PluginContext::provide`](crate::PluginContext::provide)), as
/// [`PluginHost::service`] finds it. The router's state must give the host
/// (`PluginHost: FromRef<S>`: a `Router<PluginHost>`, or a state with an `impl FromRef`).
/// Absent, the request is answered `500 Internal Server Error` and the missing type is
/// logged.
///
/// (Named after what it extracts; next to tower's `Service` trait, write `web::Service<T>`.)
///
/// ```
/// use hookwire::{web, PluginHost};
///
/// struct Greeting(String);
///
/// async fn hello(web::Service(greeting): web::Service<Greeting>) -> String {
///     greeting.0.clone()
/// }
///
/// let host = PluginHost::builder().service(Greeting("hello".into())).build();
/// let app: axum::Router = axum::Router::new()
///     .route("/", axum::routing::get(hello))
///     .with_state(host);
/// ```
pub struct Service<T>(pub Arc<T>);

impl<T> std::fmt::Debug for Service<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Service").field(&type_name::<T>()).finish()
    }
}

impl<T> Clone for Service<T> {
    fn clone(&self) -> Self {
        Service(self.0.clone())
    }
}

/// The rejection of [`Service<T>`]: neither the host nor a started plugin provides a `T`,
/// answered `500 Internal Server Error`.
#[derive(Debug, thiserror::Error)]
#[error("no service of type `{service}`: provide it with `PluginHost::builder().service(..)`, or from a plugin's `init` with `ctx.provide(..)` (and check that the plugin started)")]
#[non_exhaustive]
pub struct MissingService {
    /// The service's type name.
    pub service: &'static str,
}

impl IntoResponse for MissingService {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "a handler's service is missing: answering 500");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
    }
}

impl<S, T> FromRequestParts<S> for Service<T>
where
    S: Send + Sync,
    PluginHost: FromRef<S>,
    T: Send + Sync + 'static,
{
    type Rejection = MissingService;

    async fn from_request_parts(_: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        PluginHost::from_ref(state)
            .service::<T>()
            .map(Service)
            .ok_or(MissingService {
                service: type_name::<T>(),
            })
    }
}
