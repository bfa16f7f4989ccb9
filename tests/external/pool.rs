//! Pooling: several processes behind one plugin (`instances`), each call on the least busy;
//! a crashed instance fails only its own calls and is restarted while the others serve.

use std::collections::BTreeSet;
use std::time::Duration;

use hookwire::external::{ProcessError, RestartPolicy};
use hookwire::plugin::{Health, PluginEvent, PluginState};
use hookwire::PluginHost;
use serde_json::{json, Value};

use crate::support::{events_of, eventually, failure_of, fixture_plugin, manager, processes_with};

/// The pid a `pid_after:<ms>` call answered.
fn pid_of(out: &hookwire::HookOutcome<Value>, plugin: &str) -> u32 {
    let v = out.get(plugin).and_then(|o| o.value()).cloned();
    let pid = v.as_ref().and_then(Value::as_u64);
    u32::try_from(pid.unwrap_or_else(|| panic!("no pid from `{plugin}`: {out:?}"))).unwrap()
}

#[tokio::test]
async fn calls_in_flight_together_go_to_different_instances() {
    let token = "token-p-spread";
    let pm = manager();
    let p = fixture_plugin("p-spread", "ok")
        .arg(token)
        .instances(3)
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    assert_eq!(p.instances(), 3);
    assert_eq!(processes_with(token), 3);
    let pids: BTreeSet<u32> = p.pids().into_iter().collect();
    assert_eq!(pids.len(), 3);

    // Three slow calls in flight at once: each on an instance of its own.
    let slow = || pm.call_json("greet", json!("pid_after:600"));
    let (a, b, c) = tokio::join!(slow(), slow(), slow());
    let answered: BTreeSet<u32> = [a, b, c]
        .iter()
        .map(|o| pid_of(o.as_ref().unwrap(), "p-spread"))
        .collect();
    assert_eq!(answered, pids);
    // Every instance is asked for its health (the fixture says "degraded: cache cold").
    assert_eq!(
        host.health().await,
        vec![(
            "p-spread".to_owned(),
            Health::Degraded(
                "instance 0: cache cold; instance 1: cache cold; instance 2: cache cold".to_owned()
            )
        )]
    );

    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(processes_with(token), 0);
}

#[tokio::test]
async fn a_crashed_instance_fails_only_its_call_and_comes_back_while_the_others_serve() {
    let token = "token-p-crash";
    let pm = manager();
    let p = fixture_plugin("p-crash", "ok")
        .arg(token)
        .instances(3)
        .restart(
            RestartPolicy::default().backoff(Duration::from_millis(50), Duration::from_millis(50)),
        )
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    let before: BTreeSet<u32> = p.pids().into_iter().collect();

    // Two slow calls hold two instances; the crash goes to the third, the least busy.
    let slow = || pm.call_json("greet", json!("pid_after:1000"));
    let (a, b, crashed) = tokio::join!(slow(), slow(), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        pm.call_json("greet", json!("crash")).await
    });
    let survivors: BTreeSet<u32> = [a, b]
        .iter()
        .map(|o| pid_of(o.as_ref().unwrap(), "p-crash"))
        .collect();
    assert_eq!(survivors.len(), 2, "the slow calls ran on two instances");
    assert!(survivors.is_subset(&before));
    let failure = failure_of(&crashed.unwrap(), "p-crash");
    assert!(
        failure.contains("plugin `p-crash` exited with status 3; its last stderr lines: "),
        "{failure}"
    );

    // The crashed instance comes back with a new process; the others kept theirs.
    eventually("the crashed instance to come back", || p.pids().len() == 3).await;
    let after: BTreeSet<u32> = p.pids().into_iter().collect();
    assert_eq!(after.len(), 3);
    assert!(survivors.is_subset(&after));
    assert_eq!(
        after.difference(&before).count(),
        1,
        "{before:?} -> {after:?}"
    );
    assert_eq!(processes_with(token), 3);
    let slow = || pm.call_json("greet", json!("pid_after:600"));
    let (a, b, c) = tokio::join!(slow(), slow(), slow());
    let answered: BTreeSet<u32> = [a, b, c]
        .iter()
        .map(|o| pid_of(o.as_ref().unwrap(), "p-crash"))
        .collect();
    assert_eq!(answered, after);

    // One crash and one restart, of the same instance.
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        match e {
            PluginEvent::Crashed { instance, .. } => seen.push(("crashed", instance, 0)),
            PluginEvent::Restarted {
                instance, attempt, ..
            } => seen.push(("restarted", instance, attempt)),
            _ => {}
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].0, seen[1].0), ("crashed", "restarted"));
    assert_eq!(seen[0].1, seen[1].1);
    assert_eq!(seen[1].2, 1);

    let report = host.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(processes_with(token), 0);
}

#[tokio::test]
async fn instances_that_answer_the_handshake_differently_are_refused_naming_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("token-p-disagree");
    let pm = manager();
    let err = fixture_plugin("p-disagree", "marker")
        .arg(&marker)
        .instances(2)
        .spawn(&pm)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProcessError::InstancesDisagree { .. }),
        "{err:?}"
    );
    // Whichever instance made the marker first answered 1.2.0 with three hooks.
    let head = "plugin `p-disagree` runs instances that answer the handshake differently: instance 1 answered ";
    let tail = " (instance 0's); every instance must run the same program, version and hooks";
    let msg = err.to_string();
    assert!(
        msg == format!("{head}version `1.3.0` instead of `1.2.0`, no hook `auth`{tail}")
            || msg
                == format!("{head}version `1.2.0` instead of `1.3.0`, the extra hook `auth`{tail}"),
        "{msg}"
    );
    eventually("both processes to end", || {
        processes_with(&marker.display().to_string()) == 0
    })
    .await;
}

#[tokio::test]
async fn stop_stops_every_instance_gracefully_then_by_force() {
    let token = "token-p-stop";
    let pm = manager();
    let p = fixture_plugin("p-stop", "ignore_shutdown")
        .arg(token)
        .instances(2)
        .grace(Duration::from_millis(200))
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    assert_eq!(processes_with(token), 2);
    host.shutdown(Duration::from_secs(5)).await;
    assert_eq!(processes_with(token), 0);
    assert!(!p.is_serving());
}

#[tokio::test]
async fn an_instance_that_exits_right_after_its_handshake_is_restarted_while_the_other_serves() {
    let dir = tempfile::tempdir().unwrap();
    let pm = manager();
    let p = fixture_plugin("p-early", "exit_after_handshake_once")
        .arg(dir.path().join("exited-once"))
        .instances(2)
        .restart(
            RestartPolicy::default()
                .backoff(Duration::from_millis(300), Duration::from_millis(300)),
        )
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    let report = host.start().await.unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    // One instance crashed before it answered `start`; the other serves meanwhile (once the
    // crashed one is restarting: no call goes to it).
    eventually("the crashed instance to be restarting", || {
        p.pids().len() == 1
    })
    .await;
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        out.get("p-early").unwrap().value(),
        Some(&json!("Hello, Ada"))
    );
    eventually("the restart", || p.pids().len() == 2).await;
    let mut crashed = Vec::new();
    let mut restarted = Vec::new();
    while let Ok(e) = events.try_recv() {
        match e {
            PluginEvent::Crashed {
                instance, detail, ..
            } => crashed.push((instance, detail)),
            PluginEvent::Restarted {
                instance, attempt, ..
            } => restarted.push((instance, attempt)),
            _ => {}
        }
    }
    assert_eq!(crashed.len(), 1, "{crashed:?}");
    let (instance, detail) = &crashed[0];
    assert!(
        detail.ends_with("exited with status 5; its last stderr lines: offered: auth,greet,items | config: {} | exiting after the handshake"),
        "{detail}"
    );
    assert_eq!(restarted, [(*instance, 1)]);
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}

/// The fixture in `seq` mode: each process of `name` plays the next of `roles` (see
/// `fixtures/plugin.py`), numbered in `dir`.
fn seq_plugin(
    name: &str,
    dir: &std::path::Path,
    roles: &str,
) -> hookwire::external::ProcessPluginBuilder {
    fixture_plugin(name, "seq").arg(dir).arg(roles)
}

#[tokio::test]
async fn a_start_refused_while_another_instance_restarts_stops_every_process_and_the_restart() {
    // Process 0 exits after its handshake: its instance restarts (process 2, whose `start` is
    // never answered) while the other's process 1 refuses `start` once process 2 exists, so
    // the start fails in the middle of that restart.
    let dir = tempfile::tempdir().unwrap();
    let pm = manager();
    let p = seq_plugin(
        "p-refused",
        dir.path(),
        "exit_after_handshake,refuse_start@2,start@never",
    )
    .instances(2)
    .restart(RestartPolicy::default().backoff(Duration::from_millis(20), Duration::from_millis(20)))
    .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    let report = host.start().await.unwrap();
    let reason =
        "start failed: plugin `p-refused` failed `start`: not starting today (code -32000)";
    assert_eq!(
        report.failed,
        [("p-refused".to_owned(), reason.to_owned())],
        "{report:?}"
    );
    assert_eq!(
        host.state("p-refused"),
        Some(PluginState::Failed(reason.to_owned()))
    );
    // Nothing serves, nothing is left restarting, and no process outlives the failed start
    // (neither the one that refused nor the restart's).
    let health = hookwire::Plugin::health(&p).await;
    assert!(
        matches!(&health, Health::Unhealthy(m) if !m.contains("restarting")),
        "{health:?}"
    );
    assert_eq!(p.pids(), Vec::<u32>::new());
    eventually("every process to end", || {
        processes_with(&dir.path().display().to_string()) == 0
    })
    .await;
    let restarted = std::iter::from_fn(|| events.try_recv().ok())
        .filter(|e| matches!(e, PluginEvent::Restarted { .. }))
        .count();
    assert_eq!(restarted, 0);

    // Its host restarts it: two new processes (3 and 4, `ok`) serve.
    host.restart("p-refused").await.unwrap();
    assert_eq!(p.pids().len(), 2);
    let out = pm.call_json("greet", json!("Ada")).await.unwrap();
    assert_eq!(
        out.get("p-refused").unwrap().value(),
        Some(&json!("Hello, Ada"))
    );
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
    assert_eq!(processes_with(&dir.path().display().to_string()), 0);
}

#[tokio::test]
async fn a_restart_that_ends_after_the_plugin_failed_stops_its_process_instead_of_serving() {
    // Process 0 exits after its handshake: its instance restarts as process 2, whose `start`
    // waits for the test. Process 1 exits once process 2 exists: the second crash, the start
    // limit, so the plugin fails while process 2 starts. Only then is process 2 let answer.
    let dir = tempfile::tempdir().unwrap();
    let pm = manager();
    let p = seq_plugin(
        "p-late",
        dir.path(),
        "exit_after_handshake,exit_after_start@2,start@go",
    )
    .instances(2)
    .restart(
        RestartPolicy::default()
            .backoff(Duration::from_millis(20), Duration::from_millis(20))
            .limit(2, Duration::from_secs(60)),
    )
    .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let mut events = host.events();
    host.add(p.clone()).unwrap();
    let _ = host.start().await.unwrap();
    eventually("the plugin to fail at its start limit", || {
        matches!(host.state("p-late"), Some(PluginState::Failed(r))
            if r.starts_with("it crashed 2 times within 60000 ms (the start limit)")
                && r.contains("exited with status 6"))
    })
    .await;
    std::fs::write(dir.path().join("go"), "").unwrap();
    eventually("process 2 to answer `start`", || {
        events_of("p-late", "hookwire::external::stderr")
            .iter()
            .any(|e| e.field("message") == Some("answering start"))
    })
    .await;
    // Its restart ends, finds the plugin failed, and stops process 2.
    eventually("process 2 to be stopped", || {
        processes_with(&dir.path().display().to_string()) == 0
    })
    .await;
    assert_eq!(p.pids(), Vec::<u32>::new());
    assert!(matches!(host.state("p-late"), Some(PluginState::Failed(_))));
    let seen: Vec<PluginEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert_eq!(
        seen.iter()
            .filter(|e| matches!(e, PluginEvent::Crashed { .. }))
            .count(),
        2,
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, PluginEvent::Restarted { .. })),
        "{seen:?}"
    );
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}
