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

/// The host's subscribers' view of `events` so far: state changes, crashes and restarts.
fn seen(events: &mut tokio::sync::broadcast::Receiver<PluginEvent>) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(match e {
            PluginEvent::StateChanged { from, to, .. } => format!("{from} -> {to}"),
            PluginEvent::Crashed {
                instance, detail, ..
            } => format!("crashed {instance}: {detail}"),
            PluginEvent::Restarted {
                instance, attempt, ..
            } => format!("restarted {instance} (attempt {attempt})"),
            other => format!("{other:?}"),
        });
    }
    seen
}

/// The stderr tail of the fixture that exits after its handshake.
const AFTER_HANDSHAKE: &str = "exited with status 5; its last stderr lines: offered: auth,greet,items | config: {} | exiting after the handshake";

#[tokio::test]
async fn a_process_that_exits_right_after_its_handshake_is_a_crash_and_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("exited-once");
    let pm = manager();
    // Spawned (handshake done) before the host has it: it is gone by the time `start` runs.
    let p = fixture_plugin("r-early", "exit_after_handshake_once")
        .arg(&marker)
        .restart(
            RestartPolicy::default().backoff(Duration::from_millis(20), Duration::from_millis(20)),
        )
        .spawn(&pm)
        .await
        .unwrap();
    eventually("the first process to exit", || p.exit_status().is_some()).await;
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    eventually("the restart", || {
        p.is_serving() && p.exit_status().is_none()
    })
    .await;
    assert_eq!(host.state("r-early"), Some(PluginState::Started));
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        out.get("r-early").unwrap().value(),
        Some(&json!("Hello, Ada"))
    );
    let mut seen = seen(&mut events);
    // The host marks it `Started` once `start` returned; the restart runs on its own task.
    let started = seen.iter().position(|e| e == "initialized -> started");
    assert!(started.is_some(), "{seen:?}");
    seen.remove(started.unwrap());
    assert_eq!(
        seen,
        [
            "discovered -> registered".to_owned(),
            "registered -> initialized".to_owned(),
            format!("crashed 0: plugin `r-early` {AFTER_HANDSHAKE}"),
            "restarted 0 (attempt 1)".to_owned(),
        ]
    );
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}

#[tokio::test]
async fn a_process_that_always_exits_after_its_handshake_fails_at_its_start_limit() {
    let token = "token-r-early-limit";
    let pm = manager();
    let p = fixture_plugin("r-early-limit", "exit_after_handshake")
        .arg(token)
        .restart(
            RestartPolicy::default()
                .backoff(Duration::from_millis(20), Duration::from_millis(20))
                .limit(2, Duration::from_secs(60)),
        )
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    // Whether the start limit is reached before or after the host marks it `Started`, the
    // plugin ends `Failed` with the crash as its reason.
    let _ = host.start().await.unwrap();
    let last = format!("it could not be started again: plugin `r-early-limit` {AFTER_HANDSHAKE}");
    let reason = format!("it crashed 2 times within 60000 ms (the start limit); it stays stopped until its host restarts it (last: {last})");
    eventually("the host to fail the plugin", || {
        host.state("r-early-limit") == Some(PluginState::Failed(reason.clone()))
    })
    .await;
    assert!(!p.is_serving());
    let out = pm.call_json("greet", json!("Bo")).await.unwrap();
    assert!(out.get("r-early-limit").is_none(), "{out:?}");
    assert!(host
        .plugins()
        .get("r-early-limit")
        .unwrap()
        .impls
        .is_empty());
    let seen: Vec<String> = seen(&mut events)
        .into_iter()
        .filter(|e| e != "initialized -> started")
        .collect();
    let to_failed = [
        format!("initialized -> failed: {reason}"),
        format!("started -> failed: {reason}"),
    ];
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(
        seen[..4],
        [
            "discovered -> registered".to_owned(),
            "registered -> initialized".to_owned(),
            format!("crashed 0: plugin `r-early-limit` {AFTER_HANDSHAKE}"),
            format!("crashed 0: {last}"),
        ]
    );
    assert!(to_failed.contains(&seen[4]), "{seen:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(processes_with(token), 0);
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}

#[tokio::test]
async fn without_restarts_a_process_that_exits_after_its_handshake_fails_its_plugin_as_a_crash() {
    let pm = manager();
    let p = fixture_plugin("r-early-never", "exit_after_handshake")
        .restart(RestartPolicy::never())
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    let _ = host.start().await.unwrap();
    let reason = format!("restarts are off; it stays stopped until its host restarts it (last: plugin `r-early-never` {AFTER_HANDSHAKE})");
    eventually("the host to fail the plugin", || {
        host.state("r-early-never") == Some(PluginState::Failed(reason.clone()))
    })
    .await;
    let seen: Vec<String> = seen(&mut events)
        .into_iter()
        .filter(|e| e != "initialized -> started")
        .collect();
    assert_eq!(
        seen[..3],
        [
            "discovered -> registered".to_owned(),
            "registered -> initialized".to_owned(),
            format!("crashed 0: plugin `r-early-never` {AFTER_HANDSHAKE}"),
        ],
        "{seen:?}"
    );
    assert!(
        seen[3].ends_with(&format!("-> failed: {reason}")),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 4, "{seen:?}");
}

#[tokio::test]
async fn a_process_that_exits_right_after_answering_start_is_a_crash_too() {
    let pm = manager();
    let p = fixture_plugin("r-after-start", "exit_after_start")
        .restart(RestartPolicy::never())
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    let _ = host.start().await.unwrap();
    let reason = "restarts are off; it stays stopped until its host restarts it (last: plugin `r-after-start` exited with status 6; its last stderr lines: offered: auth,greet,items | config: {} | exiting after start)";
    eventually("the host to fail the plugin", || {
        host.state("r-after-start") == Some(PluginState::Failed(reason.to_owned()))
    })
    .await;
    let seen = seen(&mut events);
    assert!(
        seen.iter()
            .any(|e| e.starts_with("crashed 0: plugin `r-after-start` exited with status 6")),
        "{seen:?}"
    );
    assert!(
        seen.last()
            .unwrap()
            .ends_with(&format!("-> failed: {reason}")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_start_that_times_out_stops_the_watch_so_its_process_is_not_restarted() {
    // The process answers `start` only by exiting, 800 ms later; the host gives each step
    // 200 ms (the process is spawned and handshaken before, so the timeout is its start's).
    // The plugin fails with the timeout, and its process ending afterwards is no crash to
    // report or restart: its start never happened.
    let pm = manager();
    let p = fixture_plugin("r-slow-start", "slow_start_exit")
        .spawn(&pm)
        .await
        .expect("the fixture starts");
    let host = PluginHost::builder()
        .hooks(pm.clone())
        .step_timeout(Duration::from_millis(200))
        .build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    let _ = host.start().await;
    let failed = Some(PluginState::Failed(
        "start timed out after 200ms".to_owned(),
    ));
    assert_eq!(host.state("r-slow-start"), failed);
    // Past the process's exit, with room for a restart that must not come.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let seen = seen(&mut events);
    assert!(
        !seen
            .iter()
            .any(|e| e.starts_with("crashed") || e.starts_with("restarted")),
        "{seen:?}"
    );
    assert_eq!(host.state("r-slow-start"), failed);
}

#[tokio::test]
async fn a_replacement_whose_process_crashes_during_its_start_reports_the_crash_and_the_restart() {
    // The replacement runs two instances: process 0 exits after its handshake, and process 1
    // answers `start` only once process 2 (process 0's restart) exists. So the crash is
    // reported while the replacement starts, before it takes over.
    let dir = tempfile::tempdir().unwrap();
    let (host, _old) = crate::support::started("r-replace", "ok").await;
    let new = fixture_plugin("r-replace", "seq")
        .arg(dir.path())
        .arg("exit_after_handshake,start@2")
        .instances(2)
        .restart(
            RestartPolicy::default().backoff(Duration::from_millis(20), Duration::from_millis(20)),
        )
        .build();
    let mut events = host.events();
    let report = host
        .replace("r-replace", new.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    eventually("the restart", || new.pids().len() == 2).await;
    let seen = seen(&mut events);
    let at = |prefix: &str| {
        let found: Vec<usize> = (0..seen.len())
            .filter(|&i| seen[i].starts_with(prefix))
            .collect();
        assert_eq!(found.len(), 1, "one `{prefix}`: {seen:?}");
        found[0]
    };
    let crashed = at("crashed ");
    let restarted = at("restarted ");
    let replaced = at("Replaced ");
    assert!(crashed < restarted && crashed < replaced, "{seen:?}");
    let instance = &seen[crashed]["crashed ".len()..][..1];
    assert_eq!(
        seen[crashed],
        format!("crashed {instance}: plugin `r-replace` {AFTER_HANDSHAKE}")
    );
    assert_eq!(seen[restarted], format!("restarted {instance} (attempt 1)"));
    // The replacement's start-up is no state change of the plugin.
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
    assert_eq!(processes_with(&dir.path().display().to_string()), 0);
}

#[tokio::test]
async fn a_plugin_failing_at_its_start_limit_is_failed_before_its_other_processes_are_stopped() {
    // Two instances that ignore `shutdown`: stopping the survivor takes two grace periods.
    // One crashes (no restarts): the plugin fails, and its host knows before that stop, so a
    // shutdown meanwhile neither waits for it nor turns the failure into a plain stop.
    let token = "token-r-fail-first";
    let pm = manager();
    let p = fixture_plugin("r-fail-first", "ignore_shutdown")
        .arg(token)
        .instances(2)
        .grace(Duration::from_millis(300))
        .restart(RestartPolicy::never())
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    pm.call_json("greet", json!("crash")).await.unwrap();
    eventually("the survivor's stop to begin", || {
        crate::support::events_of("r-fail-first", "hookwire::external::stderr")
            .iter()
            .any(|e| e.field("message") == Some("shutdown received"))
    })
    .await;
    let reason = "restarts are off; it stays stopped until its host restarts it (last: plugin `r-fail-first` exited with status 3; its last stderr lines: offered: auth,greet,items | config: {} | about to crash | last words)";
    let failed = Some(PluginState::Failed(reason.to_owned()));
    assert_eq!(host.state("r-fail-first"), failed);
    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    // Neither stopped by the shutdown nor waited for: the failure is its last change.
    let seen = seen(&mut events);
    assert_eq!(
        seen[seen.len() - 2..],
        [
            format!("crashed {}", &seen[seen.len() - 2]["crashed ".len()..]),
            format!("started -> failed: {reason}"),
        ],
        "{seen:?}"
    );
    // The survivor is still stopped: killed after its two grace periods.
    eventually("the survivor to be killed", || processes_with(token) == 0).await;
}

#[tokio::test]
async fn a_start_dropped_at_the_hosts_step_timeout_stops_the_process() {
    // The process never answers `start`; the host gives the step 200 ms and drops it.
    let dir = tempfile::tempdir().unwrap();
    let pm = manager();
    let p = fixture_plugin("r-start-dropped", "seq")
        .arg(dir.path())
        .arg("start@never")
        .spawn(&pm)
        .await
        .expect("the fixture starts");
    let host = PluginHost::builder()
        .hooks(pm.clone())
        .step_timeout(Duration::from_millis(200))
        .build();
    host.add(p.clone()).unwrap();
    let _ = host.start().await;
    assert_eq!(
        host.state("r-start-dropped"),
        Some(PluginState::Failed(
            "start timed out after 200ms".to_owned()
        ))
    );
    assert!(!p.is_serving());
    eventually("the process to be stopped", || {
        processes_with(&dir.path().display().to_string()) == 0
    })
    .await;
}
