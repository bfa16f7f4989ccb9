//! The audit log: a sequence of host actions read back from the file, records that never tear
//! when many tasks log at once, an audit file that cannot be opened, a write error reported.

use std::path::Path;
use std::time::Duration;

use hookwire::plugin::{AdminAction, PluginEvent, PluginState};
use hookwire::security::{AuditError, AuditLog, AuditOutcome, AuditRecord};
use hookwire::PluginHost;

use crate::common::{policy, Probe};

const GRACE: Duration = Duration::from_secs(5);

fn read(path: &Path) -> Vec<AuditRecord> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn record {l:?}: {e}")))
        .collect()
}

/// Lets the log's task catch up until the file holds `n` records.
async fn settle(path: &Path, n: usize) {
    for _ in 0..10_000 {
        if read(path).len() >= n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!(
        "the audit log has {} records, expected {n}",
        read(path).len()
    );
}

#[tokio::test]
async fn a_sequence_of_host_actions_reads_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let host = PluginHost::builder().gate(policy()).build();
    let task = log.attach(&host);

    host.add(Probe::new("a")).unwrap();
    host.start().await.unwrap();
    settle(&path, 1).await;
    host.stop("a", GRACE).await.unwrap();
    host.restart("a").await.unwrap();
    settle(&path, 6).await;
    host.replace("a", Probe::new("a").version("1.1.0", "v2"), GRACE)
        .await
        .unwrap();
    // Asks for more: refused, the old one serves.
    host.replace("a", Probe::new("a").version("1.2.0", "v3").auth(), GRACE)
        .await
        .unwrap_err();
    host.remove("a", GRACE).await.unwrap();
    assert!(host.add(Probe::new("bad").permission("root")).is_err());
    drop(host);
    task.await.unwrap();

    let records = read(&path);
    let got: Vec<(&str, Option<&str>, &str, AuditOutcome)> = records
        .iter()
        .map(|r| {
            (
                r.plugin.as_str(),
                r.version.as_deref(),
                r.action.as_str(),
                r.outcome,
            )
        })
        .collect();
    use AuditOutcome::{Error, Ok, Refused, Requested};
    let v1 = Some("1.0.0");
    let v2 = Some("1.1.0");
    assert_eq!(
        got,
        [
            ("a", v1, "load", Ok),
            ("a", v1, "stop", Requested),
            ("a", v1, "unload", Ok),
            ("a", v1, "restart", Requested),
            ("a", v1, "restart", Ok),
            ("a", v1, "load", Ok),
            ("a", v1, "replace", Requested),
            ("a", v2, "reload", Ok),
            ("a", v2, "replace", Requested),
            ("a", v2, "permission", Refused),
            ("a", v2, "reload", Error),
            ("a", v2, "remove", Requested),
            ("a", v2, "unload", Ok),
            ("bad", None, "permission", Refused),
        ]
    );
    assert_eq!(records[0].detail, "initialized -> started");
    assert_eq!(records[7].detail, "1.0.0 -> 1.1.0");
    assert!(
        records[10].detail.contains("needs permission `auth`"),
        "{}",
        records[10].detail
    );
    assert!(
        records[13].detail.contains("unknown permission `root`"),
        "{}",
        records[13].detail
    );
    for r in &records {
        // RFC 3339, UTC, milliseconds: 2026-12-03T11:44:06.123Z
        assert_eq!(r.time.len(), 24, "{}", r.time);
        assert!(
            r.time.ends_with('Z') && r.time.as_bytes()[10] == b'T',
            "{}",
            r.time
        );
    }
    assert_eq!(log.write_errors(), 0);
}

#[test]
fn any_plugin_event_is_recorded_including_failures_and_refused_removals() {
    let failed = PluginEvent::StateChanged {
        plugin: "p".into(),
        from: PluginState::Started,
        to: PluginState::Failed("exit status 3".into()),
        version: Some("2.0.0".into()),
    };
    let r = AuditRecord::from_event(&failed, Some("2.0.0")).unwrap();
    assert_eq!(
        (
            r.plugin.as_str(),
            r.version.as_deref(),
            r.action.as_str(),
            r.outcome,
            r.detail.as_str()
        ),
        (
            "p",
            Some("2.0.0"),
            "fail",
            AuditOutcome::Error,
            "exit status 3"
        )
    );
    let refused = PluginEvent::RemoveRefused {
        plugin: "db".into(),
        dependents: vec!["a".into(), "b".into()],
    };
    let r = AuditRecord::from_event(&refused, None).unwrap();
    assert_eq!(
        (r.action.as_str(), r.outcome, r.detail.as_str()),
        ("remove", AuditOutcome::Refused, "required by a, b")
    );
    let admin = PluginEvent::Admin {
        plugin: "db".into(),
        action: AdminAction::Restart,
    };
    assert_eq!(
        AuditRecord::from_event(&admin, None).unwrap().action,
        "restart"
    );
    for (action, name) in [
        (AdminAction::Enable, "enable"),
        (AdminAction::Disable, "disable"),
    ] {
        let event = PluginEvent::Admin {
            plugin: "db".into(),
            action,
        };
        let r = AuditRecord::from_event(&event, Some("1.2.0")).unwrap();
        assert_eq!(
            (
                r.plugin.as_str(),
                r.version.as_deref(),
                r.action.as_str(),
                r.outcome
            ),
            ("db", Some("1.2.0"), name, AuditOutcome::Requested)
        );
    }
    // The steps of a start are not audit records; its end is.
    let step = PluginEvent::StateChanged {
        plugin: "p".into(),
        from: PluginState::Registered,
        to: PluginState::Initialized,
        version: None,
    };
    assert_eq!(AuditRecord::from_event(&step, None), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_never_tear_when_many_tasks_log_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::builder(&path).fsync(false).open().unwrap();
    let long = "x".repeat(3000);
    let tasks: Vec<_> = (0..16)
        .map(|t| {
            let log = log.clone();
            let long = long.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    let r = AuditRecord::new(
                        format!("p{t}"),
                        Some(format!("{i}.0.0")),
                        "load",
                        AuditOutcome::Ok,
                        long.clone(),
                    );
                    log.record(&r).unwrap();
                    if i % 10 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // A second log on the same file (another process, say) appends too.
    AuditLog::builder(&path)
        .fsync(true)
        .open()
        .unwrap()
        .record(&AuditRecord::new(
            "last",
            None,
            "load",
            AuditOutcome::Ok,
            "",
        ))
        .unwrap();
    let records = read(&path); // parses every line
    assert_eq!(records.len(), 16 * 100 + 1);
    for t in 0..16 {
        let versions: Vec<String> = records
            .iter()
            .filter(|r| r.plugin == format!("p{t}"))
            .map(|r| r.version.clone().unwrap())
            .collect();
        let expected: Vec<String> = (0..100).map(|i| format!("{i}.0.0")).collect();
        assert_eq!(versions, expected, "each task's records in its order");
    }
    assert!(records
        .iter()
        .all(|r| r.plugin == "last" || r.detail == long));
    assert_eq!(records.last().unwrap().plugin, "last");
}

#[test]
fn an_audit_file_that_cannot_be_opened_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-folder").join("audit.jsonl");
    let err = AuditLog::open(&path).unwrap_err();
    assert!(matches!(err, AuditError::Open { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot open audit log `{}` for appending: ",
            path.display()
        )),
        "{text}"
    );
    assert!(
        text.ends_with("; check that its folder exists and that the host may write there"),
        "{text}"
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_write_error_is_reported_and_never_stops_the_host() {
    // Every write to /dev/full fails with "no space left on device".
    let log = AuditLog::open("/dev/full").unwrap();
    let err = log
        .record(&AuditRecord::new("p", None, "load", AuditOutcome::Ok, ""))
        .unwrap_err();
    assert!(matches!(err, AuditError::Write { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot write to audit log `/dev/full`: "),
        "{err}"
    );
    assert_eq!(log.write_errors(), 1);

    // Attached to a host: its events are counted as failed writes, the host goes on.
    let host = PluginHost::new();
    let task = log.attach(&host);
    host.add(Probe::new("a")).unwrap();
    assert_eq!(host.start().await.unwrap().started, ["a"]);
    host.remove("a", GRACE).await.unwrap();
    drop(host);
    task.await.unwrap();
    // load, remove (requested), unload.
    assert_eq!(log.write_errors(), 4);
}

#[tokio::test]
async fn admin_requests_are_events_only_when_asked_for() {
    async fn admin_events(host: PluginHost) -> Vec<PluginEvent> {
        host.add(Probe::new("a")).unwrap();
        host.start().await.unwrap();
        let mut events = host.events();
        host.stop("a", GRACE).await.unwrap();
        host.restart("a").await.unwrap();
        host.disable("a", GRACE).await.unwrap();
        host.enable("a").await.unwrap();
        host.remove("a", GRACE).await.unwrap();
        let mut out = Vec::new();
        while let Ok(e) = events.try_recv() {
            if matches!(e, PluginEvent::Admin { .. }) {
                out.push(e);
            }
        }
        out
    }
    assert!(admin_events(PluginHost::new()).await.is_empty());
    let asked = admin_events(PluginHost::builder().admin_events(true).build()).await;
    let admin = |action| PluginEvent::Admin {
        plugin: "a".into(),
        action,
    };
    assert_eq!(
        asked,
        [
            admin(AdminAction::Stop),
            admin(AdminAction::Restart),
            admin(AdminAction::Disable),
            admin(AdminAction::Enable),
            admin(AdminAction::Remove)
        ]
    );
}

/// The `load` records of the log once it holds `n` of them (waiting up to 5 s).
async fn loads(path: &Path, n: usize) -> Vec<AuditRecord> {
    let start = std::time::Instant::now();
    loop {
        let loads: Vec<AuditRecord> = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap())
            .filter(|r| r.action == "load")
            .collect();
        if loads.len() >= n || start.elapsed() > Duration::from_secs(5) {
            return loads;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Review 12's probes: a plugin removed and added again in another version (an upgrade by
/// remove + add, not `replace`) is recorded with each version, whether the log's task read
/// the first load before the upgrade (it used to keep the first version it saw of a name) or
/// after it (it used to look the version up when reading the event).
#[tokio::test]
async fn the_audit_log_records_the_version_at_the_time_of_the_event() {
    for pause in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let host = PluginHost::new();
        let log = AuditLog::open(dir.path().join("audit.jsonl")).unwrap();
        let _task = log.attach(&host);
        host.add(Probe::new("billing").version("1.0.0", "v1"))
            .unwrap();
        host.start().await.unwrap();
        if pause {
            assert_eq!(loads(log.path(), 1).await.len(), 1);
        }
        host.remove("billing", GRACE).await.unwrap();
        host.add(Probe::new("billing").version("2.0.0", "v2"))
            .unwrap();
        host.start().await.unwrap();
        let versions: Vec<Option<String>> = loads(log.path(), 2)
            .await
            .into_iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(
            versions,
            [Some("1.0.0".to_owned()), Some("2.0.0".to_owned())],
            "pause: {pause}"
        );
    }
}
