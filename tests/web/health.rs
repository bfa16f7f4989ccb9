//! `GET /health`: the JSON shape, each plugin's state and check, 200 or 503 by the rule.

use std::time::Duration;

use hookwire::plugin::Health;
use hookwire::web::health_router;
use serde_json::{json, Value};

use crate::fixture::{host_with, Server, TestPlugin};

async fn health(server: &Server) -> (u16, Value) {
    let resp = reqwest::get(server.url("/health")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn all_healthy_is_ok_with_each_plugin_s_state_and_check() {
    let mut old = TestPlugin::new("archive");
    old.version = "0.3.0";
    let host = host_with([TestPlugin::new("auth"), old]).await;
    // Stopped by an operator: listed, not counted against the service.
    host.stop("archive", Duration::from_secs(1)).await.unwrap();
    let server = Server::start(health_router(host)).await;
    assert_eq!(
        health(&server).await,
        (
            200,
            json!({
                "status": "ok",
                "plugins": [
                    {"name": "archive", "version": "0.3.0", "state": "stopped", "disabled": false, "health": null},
                    {"name": "auth", "version": "1.0.0", "state": "started", "disabled": false,
                     "health": {"status": "healthy"}},
                ]
            })
        )
    );
}

#[tokio::test]
async fn a_degraded_check_is_degraded_and_still_200() {
    let host = host_with([
        TestPlugin::new("auth"),
        TestPlugin::new("cache").health(Health::Degraded("hit rate 3%".into())),
    ])
    .await;
    let server = Server::start(health_router(host)).await;
    let (status, body) = health(&server).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "degraded");
    assert_eq!(
        body["plugins"][1]["health"],
        json!({"status": "degraded", "reason": "hit rate 3%"})
    );
}

#[tokio::test]
async fn an_unhealthy_check_is_503() {
    let host = host_with([
        TestPlugin::new("cache").health(Health::Degraded("slow".into())),
        TestPlugin::new("db").health(Health::Unhealthy("connection refused".into())),
    ])
    .await;
    let server = Server::start(health_router(host)).await;
    let (status, body) = health(&server).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["plugins"][1]["health"],
        json!({"status": "unhealthy", "reason": "connection refused"})
    );
}

#[tokio::test]
async fn a_failed_plugin_is_503_with_its_reason() {
    let mut broken = TestPlugin::new("db");
    broken.fail_start = true;
    let host = host_with([TestPlugin::new("auth"), broken]).await;
    let server = Server::start(health_router(host)).await;
    let (status, body) = health(&server).await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["plugins"][1],
        json!({"name": "db", "version": "1.0.0", "state": "failed",
               "reason": "start failed: the database is unreachable", "disabled": false, "health": null})
    );
}

/// A plugin whose health check never returns (a backend that never answers).
struct Stuck(&'static str);

#[hookwire::async_trait]
impl hookwire::Plugin for Stuck {
    fn meta(&self) -> hookwire::PluginMeta {
        hookwire::PluginMeta::new(self.0, "1.0.0")
    }
    fn register(
        self: std::sync::Arc<Self>,
        _: &mut hookwire::Registrar,
    ) -> Result<(), hookwire::RegisterError> {
        Ok(())
    }
    async fn health(&self) -> Health {
        std::future::pending().await
    }
}

/// The host's defaults (no step time limit): the endpoint's own limit answers for a hanging
/// check, 503 with the reason, within the documented default.
#[tokio::test]
async fn health_answers_when_a_plugin_check_hangs() {
    assert_eq!(
        hookwire::web::HEALTH_CHECK_LIMIT,
        Duration::from_millis(500)
    );
    let host = host_with([TestPlugin::new("auth")]).await;
    host.add(Stuck("stuck")).unwrap();
    host.start().await.unwrap();
    let server = Server::start(health_router(host)).await;
    let started = std::time::Instant::now();
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
        .get(server.url("/health"))
        .send()
        .await
        .expect("GET /health answers within 2 s");
    let took = started.elapsed();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["plugins"][0]["health"],
        json!({"status": "healthy"}),
        "{body}"
    );
    assert_eq!(
        body["plugins"][1]["health"],
        json!({"status": "unhealthy", "reason": "health check timed out after 500ms"})
    );
    assert!(took >= Duration::from_millis(500), "{took:?}");
}

/// The checks run concurrently, each under the limit the router was given: ten hanging
/// checks take about one limit, not ten.
#[tokio::test]
async fn hanging_checks_run_concurrently_under_the_configured_limit() {
    let host = host_with([]).await;
    for name in ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9"] {
        host.add(Stuck(name)).unwrap();
    }
    host.start().await.unwrap();
    let limit = Duration::from_millis(200);
    let server = Server::start(hookwire::web::health_router_within(host, limit)).await;
    let started = std::time::Instant::now();
    let (status, body) = health(&server).await;
    let took = started.elapsed();
    assert_eq!(status, 503);
    let reasons: Vec<&Value> = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["health"]["reason"])
        .collect();
    assert_eq!(reasons, [&json!("health check timed out after 200ms"); 10]);
    // One after the other: 2 s at least.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

/// The host's step time limit applies when it is shorter than the endpoint's.
#[tokio::test(start_paused = true)]
async fn the_host_s_shorter_step_limit_applies() {
    let host = hookwire::PluginHost::builder()
        .step_timeout(Duration::from_millis(50))
        .build();
    host.add(Stuck("stuck")).unwrap();
    host.start().await.unwrap();
    let report = hookwire::web::HealthReport::collect_within(&host, Duration::from_secs(30)).await;
    assert_eq!(
        report.plugins[0].health,
        Some(Health::Unhealthy(
            "health check timed out after 50ms".into()
        ))
    );
    assert_eq!(report.http_status(), 503);
}
