//! Fail-closed when the plugins that check requests are not running: a before hook left with
//! no impl (the auth plugin's start or lazy start failed, it was disabled) answers 503 unless
//! the app allowed unchecked requests; a required plugin without an impl answers 503 even when
//! other plugins implement the hook. `/health` says why.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use hookwire::web::{health_router, Decision, RequestHooksLayer, RequestView};
use hookwire::{
    async_trait, BoxError, HookReturn, Plugin, PluginContext, PluginHost, PluginMeta,
    RegisterError, Registrar,
};

use crate::common::{client, serve, After, Before};

const UNAVAILABLE: &str = "service unavailable: the request could not be checked";

#[derive(Clone)]
#[allow(dead_code)] // only carried
struct User(&'static str);

/// `Authorization: Bearer s3cret` lets the request through as `ada`; anything else is 401.
/// With `fail_start`, its `start` fails.
struct TokenAuth {
    fail_start: bool,
}

#[async_trait]
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
    async fn start(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        if self.fail_start {
            return Err("cannot reach the token store".into());
        }
        Ok(())
    }
}

/// A rate limiter that never limits here: an impl of the before hook that answers nothing.
struct RateLimit;

impl Plugin for RateLimit {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("rate-limit", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        r.sync_fn::<Before>(|_| Ok(None)).tryfirst().add()
    }
}

/// `/orders` behind `layer`, `/health` open next to it.
fn app(host: &PluginHost, layer: RequestHooksLayer<Before, After>) -> Router {
    Router::new()
        .route("/orders", get(|| async { "every order" }))
        .layer(layer)
        .merge(health_router(host.clone()))
}

fn layer(host: &PluginHost) -> RequestHooksLayer<Before, After> {
    RequestHooksLayer::new(host.hooks())
}

async fn status_and_body(url: String) -> (u16, String) {
    let res = client().get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn an_auth_plugin_that_failed_to_start_leaves_the_app_closed_and_health_says_why() {
    let host = PluginHost::new();
    host.add(TokenAuth { fail_start: true }).unwrap();
    let server = serve(host.clone(), app(&host, layer(&host))).await;
    assert_eq!(
        status_and_body(server.url("/orders")).await,
        (503, UNAVAILABLE.to_owned())
    );
    // With a token too: nothing can check it.
    let res = client()
        .get(server.url("/orders"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let health = client().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let report: serde_json::Value = health.json().await.unwrap();
    assert_eq!(report["status"], "unhealthy");
    assert_eq!(report["plugins"][0]["state"], "failed");
    assert_eq!(
        report["plugins"][0]["reason"],
        "start failed: cannot reach the token store"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_failed_lazy_auth_plugin_keeps_the_app_closed() {
    let host = PluginHost::new();
    host.add_lazy(TokenAuth { fail_start: true }).unwrap();
    let server = serve(host.clone(), app(&host, layer(&host))).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(status_and_body(server.url("/orders")).await.0);
    }
    assert!(
        host.state("token-auth").unwrap().is_failed(),
        "{:?}",
        host.state("token-auth")
    );
    assert_eq!(statuses, [503, 503, 503]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_disabled_auth_plugin_closes_the_app_until_it_is_enabled_again() {
    let host = PluginHost::new();
    host.add(TokenAuth { fail_start: false }).unwrap();
    let server = serve(host.clone(), app(&host, layer(&host))).await;
    let http = client();
    let authed = || http.get(server.url("/orders")).bearer_auth("s3cret").send();
    assert_eq!(authed().await.unwrap().status(), 200);
    assert_eq!(status_and_body(server.url("/orders")).await.0, 401);

    host.disable("token-auth", Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(
        status_and_body(server.url("/orders")).await,
        (503, UNAVAILABLE.to_owned())
    );
    assert_eq!(authed().await.unwrap().status(), 503);

    host.enable("token-auth").await.unwrap();
    assert_eq!(authed().await.unwrap().status(), 200);
    assert_eq!(status_and_body(server.url("/orders")).await.0, 401);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_required_plugin_that_failed_closes_the_app_although_another_implements_the_hook() {
    // Without `require_plugin`: the rate limiter's impl is there, answers nothing, and the
    // request goes through (what `require_plugin` is for).
    let host = PluginHost::new();
    host.add(RateLimit).unwrap();
    host.add(TokenAuth { fail_start: true }).unwrap();
    let server = serve(host.clone(), app(&host, layer(&host))).await;
    assert_eq!(
        status_and_body(server.url("/orders")).await,
        (200, "every order".to_owned())
    );
    server.stop().await.unwrap();

    let host = PluginHost::new();
    host.add(RateLimit).unwrap();
    host.add(TokenAuth { fail_start: true }).unwrap();
    let required = layer(&host).require_plugin("token-auth");
    let server = serve(host.clone(), app(&host, required)).await;
    assert_eq!(
        status_and_body(server.url("/orders")).await,
        (503, UNAVAILABLE.to_owned())
    );
    server.stop().await.unwrap();

    // Running, the required plugin decides as usual.
    let host = PluginHost::new();
    host.add(RateLimit).unwrap();
    host.add(TokenAuth { fail_start: false }).unwrap();
    let required = layer(&host).require_plugin("token-auth");
    let server = serve(host.clone(), app(&host, required)).await;
    assert_eq!(status_and_body(server.url("/orders")).await.0, 401);
    let res = client()
        .get(server.url("/orders"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_app_that_allows_unchecked_requests_serves_them_without_any_impl() {
    let host = PluginHost::new();
    host.add(TokenAuth { fail_start: true }).unwrap();
    let open = layer(&host).allow_unchecked_requests();
    let server = serve(host.clone(), app(&host, open)).await;
    assert_eq!(
        status_and_body(server.url("/orders")).await,
        (200, "every order".to_owned())
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_before_hook_without_any_impl_answers_503_by_default() {
    let host = PluginHost::new();
    let server = serve(host.clone(), app(&host, layer(&host))).await;
    assert_eq!(
        status_and_body(server.url("/orders")).await,
        (503, UNAVAILABLE.to_owned())
    );
    // Open routes merged after the layer still answer.
    assert_eq!(status_and_body(server.url("/health")).await.0, 200);
    server.stop().await.unwrap();
}
