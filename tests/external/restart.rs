//! A crashed process plugin is started again after a backoff, and stays stopped at its start
//! limit.

use std::time::Duration;

use hookwire::external::RestartPolicy;
use hookwire::plugin::{PluginEvent, PluginState};
use hookwire::PluginHost;
use serde_json::json;

use crate::support::{eventually, failure_of, fixture_plugin, manager, processes_with};

#[tokio::test]
async fn a_crashed_plugin_is_restarted_after_a_backoff_and_serves_again() {
    let token = "token-r-again";
    let pm = manager();
    let p = fixture_plugin("r-again", "ok")
        .arg(token)
        .restart(
            RestartPolicy::default().backoff(Duration::from_millis(50), Duration::from_millis(50)),
        )
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    let out = pm.call_json("greet", json!("crash")).await.unwrap();
    assert!(
        failure_of(&out, "r-again").contains("plugin `r-again` exited with status 3"),
        "{out:?}"
    );
    eventually("the restart", || {
        p.is_serving() && p.exit_status().is_none()
    })
    .await;
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        out.get("r-again").unwrap().value(),
        Some(&json!("Hello, Ada"))
    );
    assert_eq!(processes_with(token), 1);
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(processes_with(token), 0);
}

#[tokio::test]
async fn at_its_start_limit_a_crashing_plugin_is_failed_in_its_host_and_no_longer_called() {
    let token = "token-r-limit";
    let pm = manager();
    let p = fixture_plugin("r-limit", "ok")
        .arg(token)
        .restart(
            RestartPolicy::default()
                .backoff(Duration::from_millis(20), Duration::from_millis(20))
                .limit(2, Duration::from_secs(60)),
        )
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    pm.call_json("greet", json!("crash")).await.unwrap();
    eventually("the restart", || {
        p.is_serving() && p.exit_status().is_none()
    })
    .await;
    pm.call_json("greet", json!("crash")).await.unwrap();
    let last = "plugin `r-limit` exited with status 3; its last stderr lines: offered: auth,greet,items | config: {} | about to crash | last words";
    let reason = format!("it crashed 2 times within 60000 ms (the start limit); it stays stopped until its host restarts it (last: {last})");
    eventually("the host to fail the plugin", || {
        host.state("r-limit") == Some(PluginState::Failed(reason.clone()))
    })
    .await;
    assert!(!p.is_serving());
    // Its impls are unregistered: a call does not reach it; `health` skips it.
    let out = pm.call_json("greet", json!("Bo")).await.unwrap();
    assert!(out.get("r-limit").is_none(), "{out:?}");
    assert!(host.plugins().get("r-limit").unwrap().impls.is_empty());
    assert_eq!(host.health().await, vec![]);
    // What the host's subscribers saw, in order.
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        match e {
            PluginEvent::StateChanged { from, to, .. } => seen.push(format!("{from} -> {to}")),
            PluginEvent::Crashed {
                instance, detail, ..
            } => seen.push(format!("crashed {instance}: {detail}")),
            PluginEvent::Restarted {
                instance, attempt, ..
            } => seen.push(format!("restarted {instance} (attempt {attempt})")),
            other => seen.push(format!("{other:?}")),
        }
    }
    assert_eq!(
        seen,
        [
            "discovered -> registered".to_owned(),
            "registered -> initialized".to_owned(),
            "initialized -> started".to_owned(),
            format!("crashed 0: {last}"),
            "restarted 0 (attempt 1)".to_owned(),
            format!("crashed 0: {last}"),
            format!("started -> failed: {reason}"),
        ]
    );
    // No restart is pending: nothing runs.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(processes_with(token), 0);

    // The host restarts it: a new process serves, and the crash count starts again.
    host.restart("r-limit").await.unwrap();
    assert_eq!(host.state("r-limit"), Some(PluginState::Started));
    let out = pm.call_json("greet", json!("Cy")).await.unwrap();
    assert_eq!(
        out.get("r-limit").unwrap().value(),
        Some(&json!("Hello, Cy"))
    );
    pm.call_json("greet", json!("crash")).await.unwrap();
    eventually("the restart after the host's", || {
        p.is_serving() && p.exit_status().is_none()
    })
    .await;
    assert_eq!(host.state("r-limit"), Some(PluginState::Started));
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(processes_with(token), 0);
}
