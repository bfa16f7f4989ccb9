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
