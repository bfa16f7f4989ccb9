//! Run by hand, health, shutdown and exit.

use std::time::Duration;

use hookwire::plugin::Health;
use serde_json::json;

use super::{offering, raw, raw_fixture, start};
use crate::support::processes_with;

#[test]
fn run_by_hand_it_says_it_is_a_plugin_and_exits_with_1() {
    for marker in [None, Some("0")] {
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(raw_fixture())
            .arg("by-hand")
            .env_remove("HOOKWIRE_PLUGIN");
        if let Some(m) = marker {
            cmd.env("HOOKWIRE_PLUGIN", m);
        }
        let out = cmd.stdin(std::process::Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "this is a hookwire plugin; it is started by its host, not run by hand (see docs/protocol.md)\n"
        );
    }
}

#[tokio::test]
async fn health_is_what_the_plugin_answers() {
    let pm = offering();
    let (host, _p) = start(&pm, raw("k-health", "ok", json!([{"name": "greet"}]))).await;
    assert_eq!(
        host.health().await,
        [("k-health".to_owned(), Health::Healthy)]
    );
    pm.call_json(
        "greet",
        json!({"op": "health", "status": "degraded", "message": "cache cold"}),
    )
    .await
    .unwrap();
    assert_eq!(
        host.health().await,
        [("k-health".to_owned(), Health::Degraded("cache cold".into()))]
    );
    pm.call_json(
        "greet",
        json!({"op": "health", "status": "unhealthy", "message": "disk full"}),
    )
    .await
    .unwrap();
    assert_eq!(
        host.health().await,
        [("k-health".to_owned(), Health::Unhealthy("disk full".into()))]
    );
}

#[tokio::test]
async fn shutdown_then_exit_ends_the_process_with_status_0_and_leaves_none() {
    let token = "token-k-stop";
    let pm = offering();
    let (host, p) = start(
        &pm,
        raw("k-stop", "ok", json!([{"name": "greet"}])).arg(token),
    )
    .await;
    assert_eq!(processes_with(token), 1);
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(p.exit_status().as_deref(), Some("exited with status 0"));
    let tail = p.stderr_tail();
    assert_eq!(
        &tail[tail.len() - 2..],
        ["shutdown received", "exit received"]
    );
    assert_eq!(processes_with(token), 0);
}
