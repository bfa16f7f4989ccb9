//! Each plugin's routes behind their guard: gone the moment the plugin stops (before the
//! rebuild), and a panicking handler answered 500 instead of a dropped connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use hookwire::web::{PluginRouter, PluginRoutes};
use hookwire::{
    async_trait, BoxError, Plugin, PluginContext, PluginHost, PluginMeta, RegisterError, Registrar,
};
use tower::ServiceExt;

use crate::fixture::{get_text, host_with, plugin_router, Routes, Server, TestPlugin};

/// A plugin whose route says whether the plugin was stopped when it served.
struct Stateful {
    stopped: Arc<AtomicBool>,
}

#[async_trait]
impl Plugin for Stateful {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("stateful", "1.0.0")
    }
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let stopped = self.stopped.clone();
        r.sync_fn::<Routes>(move |_| {
            let stopped = stopped.clone();
            Ok(Some(PluginRoutes(Router::new().route(
                "/db",
                get(move || {
                    let stopped = stopped.load(Ordering::SeqCst);
                    async move {
                        if stopped {
                            "served by a stopped plugin"
                        } else {
                            "served"
                        }
                    }
                }),
            ))))
        })
        .add()
    }
    async fn start(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        self.stopped.store(false, Ordering::SeqCst);
        Ok(())
    }
    async fn stop(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        self.stopped.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// `GET path` through `plugins`' service: status and body.
async fn oneshot(plugins: &PluginRouter, path: &str) -> (u16, String) {
    let res = plugins
        .router()
        .oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Once `host.disable(..)` (or `stop`) returned, the plugin's routes answer 503 (it is still
/// registered: they come back) although the follow task has not rebuilt yet (it is not even
/// running here).
#[tokio::test]
async fn a_disabled_plugin_s_routes_are_gone_when_disable_returns() {
    let host = PluginHost::new();
    host.add(Stateful {
        stopped: Arc::default(),
    })
    .unwrap();
    host.start().await.unwrap();
    let plugins = PluginRouter::new::<Routes>(host.clone(), ());
    plugins.rebuild().await.unwrap();
    assert_eq!(
        oneshot(&plugins, "/plugins/stateful/db").await,
        (200, "served".into())
    );
    host.disable("stateful", Duration::from_secs(1))
        .await
        .unwrap();
    // Still mounted (no rebuild), but not served.
    assert_eq!(plugins.mounted(), ["stateful"]);
    assert_eq!(
        oneshot(&plugins, "/plugins/stateful/db").await,
        (503, String::new())
    );
    // Enabled again: the rebuild mounts the new life's routes.
    host.enable("stateful").await.unwrap();
    plugins.rebuild().await.unwrap();
    assert_eq!(
        oneshot(&plugins, "/plugins/stateful/db").await,
        (200, "served".into())
    );
}

#[tokio::test]
async fn a_stopped_or_removed_plugin_s_routes_are_gone_before_the_rebuild() {
    let host = host_with([
        TestPlugin::new("a").route("/", "a"),
        TestPlugin::new("b").route("/", "b"),
        TestPlugin::new("c").route("/", "c"),
    ])
    .await;
    let plugins = plugin_router(&host).await;
    host.stop("a", Duration::from_secs(1)).await.unwrap();
    host.remove("b", Duration::from_secs(1)).await.unwrap();
    assert_eq!(plugins.mounted(), ["a", "b", "c"]);
    // Stopped but registered: 503 (retry); removed: 404.
    assert_eq!(oneshot(&plugins, "/plugins/a").await.0, 503);
    assert_eq!(oneshot(&plugins, "/plugins/b").await.0, 404);
    assert_eq!(oneshot(&plugins, "/plugins/c").await, (200, "c".into()));
}

#[tokio::test]
async fn a_panicking_plugin_route_answers_500_and_the_server_keeps_serving() {
    let boom = TestPlugin::new("boom").router(|| {
        Router::new()
            .route(
                "/x",
                get(|| async {
                    if true {
                        panic!("plugin bug");
                    }
                    "unreachable"
                }),
            )
            .route("/ok", get(|| async { "fine" }))
    });
    let host = host_with([boom]).await;
    let plugins = plugin_router(&host).await;
    let server = Server::start(plugins.router()).await;
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let res = http
            .get(server.url("/plugins/boom/x"))
            .send()
            .await
            .expect("answered, not dropped");
        assert_eq!(res.status(), 500);
    }
    assert_eq!(
        get_text(&http, &server.url("/plugins/boom/ok")).await,
        (200, "fine".into())
    );
}
