//! Composing the app as the README shows: plugin routes merged before the request hooks
//! layer are checked like the app's own routes (`merge_behind` does it in that order); routes
//! merged after the layer (`/health`) stay open.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use hookwire::web::{
    health_router, Decision, PluginRouter, PluginRoutes, Principal, RequestHooksLayer, RequestView,
    Server,
};
use hookwire::{HookReturn, Plugin, PluginHost, PluginMeta, RegisterError, Registrar};

use crate::common::{client, spawn, After, Before};
use crate::fixture::Routes;

#[derive(Clone)]
struct User(&'static str);

/// `Authorization: Bearer s3cret` lets the request through as `ada`; anything else is 401.
struct TokenAuth;

impl Plugin for TokenAuth {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("token-auth", "1.0.0")
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

/// Serves `/hello` under `/plugins/greeter`, greeting the principal.
struct Greeter;

impl Plugin for Greeter {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("greeter", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Routes>(|_| {
            Ok(Some(PluginRoutes(Router::new().route(
                "/hello",
                get(|Principal(user): Principal<User>| async move { format!("hello {}", user.0) }),
            ))))
        })
        .add()
    }
}

fn host() -> PluginHost {
    let host = PluginHost::new();
    host.add(TokenAuth).unwrap();
    host.add(Greeter).unwrap();
    host
}

/// Serves `app` with `plugins` kept up to date; checks `/me`, the plugin route and `/health`
/// without and with a token.
async fn check(host: PluginHost, plugins: PluginRouter, app: Router) {
    let server = spawn(Server::new(host, app).plugin_routes(plugins)).await;
    let http = client();
    let get = |path: &str, token: bool| {
        let req = http.get(server.url(path));
        let req = if token {
            req.bearer_auth("s3cret")
        } else {
            req
        };
        async move {
            let res = req.send().await.unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    assert_eq!(get("/me", false).await.0, 401);
    assert_eq!(
        get("/plugins/greeter/hello", false).await.0,
        401,
        "a plugin route without a token is not served"
    );
    assert_eq!(get("/me", true).await, (200, "ada".into()));
    assert_eq!(
        get("/plugins/greeter/hello", true).await,
        (200, "hello ada".into())
    );
    assert_eq!(get("/health", false).await.0, 200, "merged after: open");
    server.stop().await.unwrap();
}

fn me() -> Router {
    Router::new().route(
        "/me",
        get(|Principal(user): Principal<User>| async move { user.0 }),
    )
}

/// The README's order: merge the plugin routes, then the layer, then the open routes.
#[tokio::test]
async fn the_readme_composition_puts_plugin_routes_behind_the_request_hooks() {
    let host = host();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    let app = me()
        .merge(plugins.router())
        .layer(RequestHooksLayer::<Before, After>::new(host.hooks()))
        .merge(health_router(host.clone()));
    check(host, plugins, app).await;
}

#[tokio::test]
async fn merge_behind_puts_plugin_routes_behind_the_request_hooks() {
    let host = host();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    let app = plugins
        .merge_behind(me(), RequestHooksLayer::<Before, After>::new(host.hooks()))
        .merge(health_router(host.clone()));
    check(host, plugins, app).await;
}
