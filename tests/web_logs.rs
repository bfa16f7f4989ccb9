//! What `hookwire::web` logs at `error` when it keeps the app closed or answers for a plugin:
//! a plugin that failed to start (`Server::run`), the layer's 503 for a before hook without
//! impls, a panicking plugin route's 500.
//!
//! A binary of its own: tracing caches callsite interest process-wide, so a test without a
//! subscriber reaching these callsites first (the other web tests) could hide the events.

#[path = "common/log_lines.rs"]
mod log_lines;

use log_lines::LogLines;

use axum::routing::get;
use axum::Router;
use hookwire::web::{Decision, HeaderEdits, RequestHooksLayer, RequestView, ResponseView, Server};
use hookwire::PluginHost;
use tracing_subscriber::layer::SubscriberExt;

#[allow(dead_code)] // this binary uses a few of the fixtures
#[path = "web/fixture.rs"]
mod fixture;

use fixture::{plugin_router, TestPlugin};

hookwire::hookspec! {
    #[firstresult]
    pub struct Before(RequestView) -> Decision;
    pub struct After(ResponseView) -> HeaderEdits;
}

#[tokio::test]
async fn a_failed_plugin_the_closed_layer_and_a_panicking_route_are_logged_at_error() {
    let errors = LogLines::hookwire_errors();
    // The test's runtime is single-threaded: the server's tasks run on this thread.
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(errors.clone()));

    // A plugin whose start fails, and a plugin route that panics.
    let mut auth = TestPlugin::new("token-auth");
    auth.fail_start = true;
    let boom = TestPlugin::new("boom").router(|| {
        Router::new().route(
            "/x",
            get(|| async {
                if true {
                    panic!("plugin bug");
                }
                "unreachable"
            }),
        )
    });
    let host = PluginHost::new();
    host.add(auth).unwrap();
    host.add(boom).unwrap();
    let app = Router::new()
        .route("/orders", get(|| async { "every order" }))
        .layer(RequestHooksLayer::<Before, After>::new(host.hooks()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = Server::new(host.clone(), app).signals(false);
    let trigger = server.shutdown_trigger();
    let task = tokio::spawn(server.run(listener));
    let http = reqwest::Client::new();
    let orders = http.get(format!("{base}/orders")).send().await.unwrap();
    assert_eq!(orders.status(), 503);

    let plugins = plugin_router(&host).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let routes_base = format!("http://{}", listener.local_addr().unwrap());
    let routes = tokio::spawn(async move { axum::serve(listener, plugins.router()).await });
    let x = http
        .get(format!("{routes_base}/plugins/boom/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(x.status(), 500);
    routes.abort();
    trigger.shutdown();
    task.await.unwrap().unwrap();

    let errors = errors.0.lock().unwrap().clone();
    assert_eq!(
        errors,
        [
            "message=plugin failed to start: serving without it (its impls are not registered: a `RequestHooksLayer` whose before hook it implemented answers 503 while no impl is left or while it is required; GET /health says `unhealthy`) plugin=token-auth reason=start failed: the database is unreachable",
            "message=before-request hook cannot check the request; answering 503 (fail-closed) hook=Before reason=no plugin implements it (the plugins that check requests are not running)",
            "message=plugin route handler panicked; answering 500 plugin=boom panic=plugin bug",
        ],
    );
}
