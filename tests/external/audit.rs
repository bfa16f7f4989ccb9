//! A process plugin's crash and restart in the audit log (feature `security`): one record
//! each, read back from the file.

use std::time::Duration;

use hookwire::external::RestartPolicy;
use hookwire::security::{AuditLog, AuditOutcome, AuditRecord};
use hookwire::PluginHost;
use serde_json::json;

use crate::support::{eventually, fixture_plugin, manager};

#[tokio::test]
async fn a_crash_and_its_restart_are_one_audit_record_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let pm = manager();
    let p = fixture_plugin("a-audit", "ok")
        .restart(
            RestartPolicy::default().backoff(Duration::from_millis(50), Duration::from_millis(50)),
        )
        .spawn(&pm)
        .await
        .unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let task = log.attach(&host);
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    pm.call_json("greet", json!("crash")).await.unwrap();
    eventually("the restart", || {
        p.is_serving() && p.exit_status().is_none()
    })
    .await;
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
    drop((host, pm, p));
    task.await.unwrap();

    let records: Vec<AuditRecord> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &AuditRecord| r.plugin == "a-audit")
        .collect();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        ["load", "crash", "restart", "unload"],
        "{records:#?}"
    );
    let crash = &records[1];
    assert_eq!(crash.outcome, AuditOutcome::Error);
    assert_eq!(crash.version.as_deref(), Some("1.2.0"));
    assert_eq!(
        crash.detail,
        "instance 0: plugin `a-audit` exited with status 3; its last stderr lines: offered: auth,greet,items | config: {} | about to crash | last words"
    );
    let restart = &records[2];
    assert_eq!(restart.outcome, AuditOutcome::Ok);
    assert_eq!(restart.detail, "instance 0 started again (attempt 1)");
}

#[tokio::test]
async fn a_crash_right_after_the_handshake_is_audited_like_any() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let marker = dir.path().join("exited-once");
    let log = AuditLog::open(&path).unwrap();
    let pm = manager();
    let p = fixture_plugin("a-audit-early", "exit_after_handshake_once")
        .arg(&marker)
        .restart(
            RestartPolicy::default().backoff(Duration::from_millis(20), Duration::from_millis(20)),
        )
        .build();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let task = log.attach(&host);
    host.add(p.clone()).unwrap();
    host.start().await.unwrap();
    eventually("the restart", || {
        p.is_serving() && p.exit_status().is_none()
    })
    .await;
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
    drop((host, pm, p));
    task.await.unwrap();

    let records: Vec<AuditRecord> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &AuditRecord| r.plugin == "a-audit-early")
        .collect();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    let crash = records.iter().find(|r| r.action == "crash").unwrap();
    assert_eq!(crash.outcome, AuditOutcome::Error);
    assert_eq!(
        crash.detail,
        "instance 0: plugin `a-audit-early` exited with status 5; its last stderr lines: offered: auth,greet,items | config: {} | exiting after the handshake"
    );
    let restart = records.iter().find(|r| r.action == "restart").unwrap();
    assert_eq!(restart.detail, "instance 0 started again (attempt 1)");
    assert_eq!(
        actions.iter().filter(|a| **a == "crash").count(),
        1,
        "{actions:?}"
    );
    assert_eq!(actions.last(), Some(&"unload"), "{actions:?}");
}

#[tokio::test]
async fn a_replacement_crashing_during_its_start_is_audited_too() {
    // As in `restart.rs`: the replacement's process 0 exits after its handshake, and its
    // process 1 answers `start` once process 0's restart exists.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let seq = dir.path().join("seq");
    std::fs::create_dir(&seq).unwrap();
    let log = AuditLog::open(&path).unwrap();
    let pm = manager();
    let old = fixture_plugin("a-replace", "ok").spawn(&pm).await.unwrap();
    let host = PluginHost::builder().hooks(pm.clone()).build();
    let task = log.attach(&host);
    host.add(old).unwrap();
    host.start().await.unwrap();
    let new = fixture_plugin("a-replace", "seq")
        .arg(&seq)
        .arg("exit_after_handshake,start@2")
        .instances(2)
        .restart(
            RestartPolicy::default().backoff(Duration::from_millis(20), Duration::from_millis(20)),
        )
        .build();
    host.replace("a-replace", new.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    eventually("the restart", || new.pids().len() == 2).await;
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
    drop((host, pm, new));
    task.await.unwrap();

    let records: Vec<AuditRecord> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|r: &AuditRecord| r.plugin == "a-replace")
        .collect();
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    let at = |action: &str| {
        let found: Vec<usize> = (0..actions.len())
            .filter(|&i| actions[i] == action)
            .collect();
        assert_eq!(found.len(), 1, "one `{action}`: {records:#?}");
        found[0]
    };
    let (crash, restart, reload) = (at("crash"), at("restart"), at("reload"));
    assert!(crash < restart && crash < reload, "{actions:?}");
    assert_eq!((actions[0], actions[actions.len() - 1]), ("load", "unload"));
    assert_eq!(actions.len(), 6, "{actions:?}"); // and the `replace` asked for
    assert_eq!(records[crash].outcome, AuditOutcome::Error);
    assert!(
        records[crash].detail.ends_with(": plugin `a-replace` exited with status 5; its last stderr lines: offered: auth,greet,items | config: {} | exiting after the handshake"),
        "{:?}",
        records[crash].detail
    );
    assert!(
        records[restart]
            .detail
            .ends_with(" started again (attempt 1)"),
        "{:?}",
        records[restart].detail
    );
}
