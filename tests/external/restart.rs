//! A crashed process plugin is started again after a backoff, and stays stopped at its start
//! limit.

use std::time::Duration;

use hookwire::external::RestartPolicy;
use hookwire::plugin::Health;
use hookwire::PluginHost;
use serde_json::json;

use crate::support::{error_of, eventually, failure_of, fixture_plugin, manager, processes_with};

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
async fn at_its_start_limit_a_crashing_plugin_fails_and_stays_stopped() {
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
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    pm.call_json("greet", json!("crash")).await.unwrap();
    eventually("the restart", || {
        p.is_serving() && p.exit_status().is_none()
    })
    .await;
    pm.call_json("greet", json!("crash")).await.unwrap();
    eventually("the plugin to fail", || !p.is_serving()).await;
    let expected = "plugin `r-limit` failed: it crashed 2 times within 60000 ms (the start limit); it stays stopped until its host restarts it (last: plugin `r-limit` exited with status 3; its last stderr lines: offered: auth,greet,items | config: {} | about to crash | last words)";
    let out = pm.call_json("greet", json!("Bo")).await.unwrap();
    assert_eq!(error_of(&out, "r-limit"), expected);
    assert_eq!(
        host.health().await,
        vec![("r-limit".to_owned(), Health::Unhealthy(expected.to_owned()))]
    );
    // No restart is pending: nothing runs.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(processes_with(token), 0);
}
