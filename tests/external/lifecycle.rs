//! Start, health, stop: `shutdown` then `exit`, a kill after the grace period, and no process
//! left behind.

use std::time::Duration;

use hookwire::plugin::Health;
use hookwire::PluginHost;

use crate::support::{
    eventually, fixture_plugin, manager, processes_with, started, zombie_children,
};

#[tokio::test]
async fn stop_sends_shutdown_then_exit_and_the_process_exits() {
    let (host, p) = started("l-stop", "ok").await;
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(p.exit_status().as_deref(), Some("exited with status 0"));
    let tail = p.stderr_tail();
    assert_eq!(
        &tail[tail.len() - 2..],
        ["shutdown received", "exit received"]
    );
}

#[tokio::test]
async fn a_plugin_that_ignores_shutdown_is_killed_after_the_grace_period() {
    let pm = manager();
    let p = fixture_plugin("l-stubborn", "ignore_shutdown")
        .grace(Duration::from_millis(200))
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(p.exit_status().as_deref(), Some("was killed by SIGTERM"));
}

#[tokio::test]
async fn health_asks_the_plugin() {
    let (host, _p) = started("l-health", "ok").await;
    let health = host.health().await;
    assert_eq!(
        health,
        vec![("l-health".to_owned(), Health::Degraded("cache cold".into()))]
    );
}

#[tokio::test]
async fn dropping_the_host_and_the_plugin_kills_the_process() {
    let token = "token-l-drop";
    let pm = manager();
    let p = fixture_plugin("l-drop", "ok")
        .arg(token)
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p).unwrap();
    host.start().await.unwrap();
    assert_eq!(processes_with(token), 1);
    drop(host);
    drop(pm);
    eventually("the process to be gone", || processes_with(token) == 0).await;
    eventually("no zombie", || zombie_children() == 0).await;
}
