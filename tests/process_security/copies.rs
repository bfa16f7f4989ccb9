//! A process plugin whose manifest pins its files runs from a private copy checked before
//! every start and every restart (a fresh copy each time, checked against the pins): a file
//! replaced in the plugin's folder is refused at the next start or restart, and a hot reload
//! whose files do not match keeps the previous version serving. Each integrity failure is
//! one `integrity` record of the audit log.

use std::path::Path;
use std::time::Duration;

use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
use hookwire::plugin::PluginEvent;
use hookwire::security::{AuditOutcome, SecurityPolicy, TrustLevel};
use hookwire::PluginHost;
use serde_json::{json, Value};

use crate::{
    audit, discover, eventually, fixture_greeting, greet, host, plugin, records, sha, status,
    write_manifest, FIXTURE,
};

fn trusting(root: &Path) -> PluginHost {
    host(
        SecurityPolicy::builder()
            .folder(root, TrustLevel::Trusted)
            .build()
            .unwrap(),
    )
}

/// The folder the plugin runs in (`whoami`'s `cwd`).
async fn cwd(host: &PluginHost, name: &str) -> std::path::PathBuf {
    let me = greet(host, name, "whoami").await.unwrap();
    me["cwd"].as_str().unwrap().into()
}

/// The message of a pin mismatch of `plugin.py` in folder `dir`.
fn mismatch(dir: &Path, found: &str) -> String {
    format!(
        "{}: plugin.py: sha256 is {}, but plugin.toml pins {}; the file changed after it was pinned: restore it, or pin the new file (and sign the manifest again)",
        dir.join("plugin.toml").display(),
        sha(found),
        sha(FIXTURE)
    )
}

/// The start of the message of a pin mismatch of `plugin.py` (what a start failure shows: the
/// host cuts it after the hashes).
fn mismatch_start(found: &str) -> String {
    format!(
        "plugin.py: sha256 is {}, but plugin.toml pins {}; ",
        sha(found),
        sha(FIXTURE)
    )
}

/// Integrity failures of `name` received so far.
fn integrity_failures(
    events: &mut tokio::sync::broadcast::Receiver<PluginEvent>,
    name: &str,
) -> Vec<String> {
    let mut found = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let PluginEvent::IntegrityFailed { plugin, error } = event {
            if plugin == name {
                found.push(error);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_pinned_process_plugin_runs_from_a_private_verified_copy_made_at_each_start() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "pinned", "", "", Some(FIXTURE));
    let host = trusting(root.path());
    discover(&host, root.path(), DiscoveryOptions::new());
    assert_eq!(host.start().await.unwrap().started, ["pinned"]);

    let first = cwd(&host, "pinned").await;
    assert_ne!(first, dir);
    assert_eq!(first.parent().unwrap(), std::env::temp_dir());
    let folder = first.file_name().unwrap().to_str().unwrap();
    assert!(folder.starts_with("hookwire-pinned-"), "{folder}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&first).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    // Exactly the pinned file, which is what runs.
    let me = greet(&host, "pinned", "whoami").await.unwrap();
    assert_eq!(me["file"], json!(first.join("plugin.py")));
    assert_eq!(std::fs::read_dir(&first).unwrap().count(), 1);

    // A restart by the host makes a new copy; the old one is removed with its process.
    host.stop("pinned", Duration::from_secs(5)).await.unwrap();
    host.restart("pinned").await.unwrap();
    let second = cwd(&host, "pinned").await;
    assert_ne!(second, first);
    eventually("the first copy to be removed", async || !first.exists()).await;
    host.shutdown(Duration::from_secs(5)).await;
    eventually("the second copy to be removed", async || !second.exists()).await;
}

#[tokio::test]
async fn a_file_replaced_after_discovery_refuses_the_start_naming_the_file_and_both_hashes() {
    let root = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "swapped", "", "", Some(FIXTURE));
    let host = trusting(root.path());
    let log = audit(&host, logs.path());
    let report = discover(&host, root.path(), DiscoveryOptions::new());
    assert!(matches!(
        status(&report, "swapped"),
        DiscoveryStatus::Loaded { .. }
    ));
    // Replaced between verification (discovery) and start.
    let evil = fixture_greeting("Pwned, ");
    std::fs::write(dir.join("plugin.py"), &evil).unwrap();

    let started = host.start().await.unwrap();
    assert!(started.started.is_empty(), "{started:?}");
    let (_, why) = &started.failed[0];
    let expected = format!("init failed: {}", mismatch_start(&evil));
    assert!(why.starts_with(&expected), "{why}");
    assert_eq!(
        greet(&host, "swapped", "ada").await,
        Err("no outcome of `swapped`".to_owned())
    );
    // The audit log: one `integrity` record, then the failed start.
    eventually("the audit records", async || {
        records(&log).iter().any(|r| r.action == "fail")
    })
    .await;
    let records = records(&log);
    let integrity: Vec<_> = records.iter().filter(|r| r.action == "integrity").collect();
    assert_eq!(integrity.len(), 1, "{records:?}");
    assert_eq!(integrity[0].plugin, "swapped");
    assert_eq!(integrity[0].version.as_deref(), Some("1.0.0"));
    assert_eq!(integrity[0].outcome, AuditOutcome::Refused);
    assert_eq!(integrity[0].detail, mismatch(&dir, &evil));
    let fail = records.iter().position(|r| r.action == "fail").unwrap();
    assert!(
        records
            .iter()
            .position(|r| r.action == "integrity")
            .unwrap()
            < fail
    );
    assert_eq!(records[fail].detail, *why);
}

#[tokio::test]
async fn a_file_replaced_while_the_plugin_runs_is_refused_at_its_restart_after_a_crash() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "crashy", "", "", Some(FIXTURE));
    let host = trusting(root.path());
    discover(&host, root.path(), DiscoveryOptions::new());
    assert_eq!(host.start().await.unwrap().started, ["crashy"]);
    let mut events = host.events();
    assert_eq!(greet(&host, "crashy", "ada").await, Ok(json!("Hello, ada")));

    // Replaced while it runs (the running process is the copy's: unaffected) ...
    let evil = fixture_greeting("Pwned, ");
    std::fs::write(dir.join("plugin.py"), &evil).unwrap();
    assert_eq!(greet(&host, "crashy", "ada").await, Ok(json!("Hello, ada")));
    // ... then it crashes: each restart makes a fresh copy, which does not match.
    assert!(greet(&host, "crashy", "crash").await.is_err());
    let mut failures = Vec::new();
    eventually("a refused restart", async || {
        failures.extend(integrity_failures(&mut events, "crashy"));
        !failures.is_empty()
    })
    .await;
    assert_eq!(failures[0], mismatch(&dir, &evil));
    let refused = greet(&host, "crashy", "ada").await.unwrap_err();
    assert!(refused.contains("crashy"), "{refused}");

    // Restored: the next restart runs it again (never the replaced file).
    std::fs::write(dir.join("plugin.py"), FIXTURE).unwrap();
    eventually("a restart from the restored file", async || {
        match greet(&host, "crashy", "ada").await {
            Ok(v) => {
                assert_eq!(v, json!("Hello, ada"), "only the pinned file runs");
                true
            }
            Err(_) => false,
        }
    })
    .await;
    host.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_reload_whose_pinned_file_does_not_match_keeps_the_previous_version() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "reloaded", "", "", Some(FIXTURE));
    let host = trusting(root.path());
    let options = DiscoveryOptions::new()
        .folder(root.path())
        .linked_without_manifest(false)
        .debounce(Duration::from_millis(100))
        .grace(Duration::from_secs(1));
    host.discover(&options);
    assert_eq!(host.start().await.unwrap().started, ["reloaded"]);
    let mut events = host.events();
    let _watcher = host.watch(&options).unwrap();
    let version = |host: &PluginHost| {
        host.plugins()
            .get("reloaded")
            .unwrap()
            .meta
            .version
            .as_ref()
            .unwrap()
            .to_string()
    };

    // Version 2 pins another text than the file it ships.
    let v2 = fixture_greeting("Hi, ");
    std::fs::write(dir.join("plugin.py"), &v2).unwrap();
    write_manifest(&dir, "reloaded", "2.0.0", "", "", Some(FIXTURE));
    let error = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await.unwrap() {
                PluginEvent::ReloadFailed { plugin, error } if plugin == "reloaded" => {
                    return error
                }
                PluginEvent::Replaced { .. } => panic!("a mismatching version was applied"),
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(error.contains(&mismatch_start(&v2)), "{error}");
    // The old version serves on, from its own copy.
    assert_eq!(version(&host), "1.0.0");
    assert_eq!(
        greet(&host, "reloaded", "ada").await,
        Ok(json!("Hello, ada"))
    );

    // Pinned right: applied.
    write_manifest(&dir, "reloaded", "2.0.0", "", "", Some(&v2));
    eventually("version 2", async || version(&host) == "2.0.0").await;
    assert_eq!(
        greet(&host, "reloaded", "ada").await,
        Ok(Value::from("Hi, ada"))
    );
    host.shutdown(Duration::from_secs(5)).await;
}
