//! `PluginHost::discover` with a `SignaturePolicy`: with signatures required, an unsigned or
//! badly signed plugin is not loaded (with the reason) and the others are; the signer of each
//! verified plugin is in the report.

use std::sync::Arc;

use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
use hookwire::plugin::PluginEvent;
use hookwire::security::{
    sign_plugin, AuditLog, AuditOutcome, AuditRecord, SignatureError, SignaturePolicy,
    SIGNATURE_FILE,
};
use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};

use crate::{key, write};

macro_rules! linked {
    ($ty:ident, $name:literal) => {
        #[derive(Default)]
        struct $ty;
        impl Plugin for $ty {
            fn meta(&self) -> PluginMeta {
                PluginMeta::new($name, "1.0.0")
            }
            fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
                Ok(())
            }
        }
        hookwire::submit_plugin!($ty::default);
    };
}

linked!(Signed, "signed");
linked!(Unsigned, "unsigned");
linked!(Stranger, "stranger");
linked!(Tampered, "tampered");

fn manifest(name: &str) -> String {
    format!("name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"linked\"\n")
}

/// Four plugin folders: `signed` (by `trusted`), `unsigned`, `stranger` (signed by another
/// key) and `tampered` (signed by `trusted`, then edited).
fn folders(trusted: &hookwire::security::PrivateKey) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for name in ["signed", "unsigned", "stranger", "tampered"] {
        write(root.path(), &format!("{name}/plugin.toml"), manifest(name));
    }
    sign_plugin(&root.path().join("signed"), trusted).unwrap();
    sign_plugin(&root.path().join("stranger"), &key()).unwrap();
    sign_plugin(&root.path().join("tampered"), trusted).unwrap();
    write(
        root.path(),
        "tampered/plugin.toml",
        format!("{}lazy = true\n", manifest("tampered")),
    );
    root
}

#[test]
fn with_signatures_required_unsigned_and_badly_signed_plugins_are_not_loaded_and_the_others_are() {
    let trusted = key();
    let root = folders(&trusted);
    let host = PluginHost::new();
    let report = host.discover(
        &DiscoveryOptions::new()
            .folder(root.path())
            .linked_without_manifest(false)
            .signatures(
                SignaturePolicy::new()
                    .require(true)
                    .trust(trusted.public_key()),
            ),
    );
    assert_eq!(report.loaded().collect::<Vec<_>>(), ["signed"]);
    let signed = report.get("signed").unwrap();
    assert!(matches!(
        signed.status,
        DiscoveryStatus::Loaded { lazy: false }
    ));
    assert_eq!(signed.signed_by.as_ref(), Some(trusted.public_key().id()));
    let rejected = |name: &str| match &report.get(name).unwrap().status {
        DiscoveryStatus::SignatureRejected(e) => e.clone(),
        other => panic!("{name}: {other}"),
    };
    assert!(matches!(
        rejected("unsigned"),
        SignatureError::Unsigned { .. }
    ));
    assert!(matches!(
        rejected("stranger"),
        SignatureError::UntrustedKey { .. }
    ));
    assert!(matches!(
        rejected("tampered"),
        SignatureError::Mismatch { .. }
    ));
    for name in ["unsigned", "stranger", "tampered"] {
        assert_eq!(report.get(name).unwrap().signed_by, None);
    }
    assert!(report.has_problems());
    let text = report.to_string();
    let sig = root.path().join("stranger").join(SIGNATURE_FILE);
    assert!(
        text.contains(&format!(
            "not loaded: signature rejected: {}: signed by key",
            sig.display()
        )),
        "{text}"
    );
    let names: Vec<String> = host.plugins().iter().map(|s| s.meta.name.clone()).collect();
    assert_eq!(names, ["signed"], "nothing of a rejected plugin is added");
}

#[tokio::test]
async fn each_rejected_signature_is_one_integrity_record_of_the_audit_log() {
    let trusted = key();
    let root = folders(&trusted);
    let logs = tempfile::tempdir().unwrap();
    let host = PluginHost::new();
    let log = AuditLog::open(logs.path().join("audit.jsonl")).unwrap();
    let task = log.attach(&host);
    let report = host.discover(
        &DiscoveryOptions::new()
            .folder(root.path())
            .linked_without_manifest(false)
            .signatures(
                SignaturePolicy::new()
                    .require(true)
                    .trust(trusted.public_key()),
            ),
    );
    drop(host);
    task.await.unwrap();
    let records: Vec<AuditRecord> = std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let integrity: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r.action == "integrity")
        .map(|r| (r.plugin.as_str(), r.detail.as_str()))
        .collect();
    let rejected = |name: &str| match &report.get(name).unwrap().status {
        DiscoveryStatus::SignatureRejected(e) => e.to_string(),
        other => panic!("{name}: {other}"),
    };
    assert_eq!(
        integrity,
        [
            ("stranger", rejected("stranger").as_str()),
            ("tampered", rejected("tampered").as_str()),
            ("unsigned", rejected("unsigned").as_str()),
        ]
    );
    assert!(records
        .iter()
        .filter(|r| r.action == "integrity")
        .all(|r| r.outcome == AuditOutcome::Refused));
}

#[test]
fn without_required_signatures_every_plugin_loads_and_verified_signers_are_recorded() {
    let trusted = key();
    let root = folders(&trusted);
    let host = PluginHost::new();
    let mut events = host.events();
    let report = host.discover(
        &DiscoveryOptions::new()
            .folder(root.path())
            .linked_without_manifest(false)
            .signatures(SignaturePolicy::new().trust(trusted.public_key())),
    );
    assert_eq!(
        report.loaded().collect::<Vec<_>>(),
        ["signed", "stranger", "tampered", "unsigned"]
    );
    // The rejected signatures are integrity failures all the same (an unsigned plugin is not).
    let mut rejected = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let PluginEvent::IntegrityFailed { plugin, error } = event {
            assert!(
                error.ends_with(" (signatures are not required: loaded unsigned)"),
                "{error}"
            );
            rejected.push(plugin);
        }
    }
    assert_eq!(rejected, ["stranger", "tampered"]);
    let signers: Vec<(&str, bool)> = report
        .plugins
        .iter()
        .map(|p| (p.name.as_str(), p.signed_by.is_some()))
        .collect();
    assert_eq!(
        signers,
        [
            ("signed", true),
            ("stranger", false),
            ("tampered", false),
            ("unsigned", false)
        ]
    );
}

#[test]
fn without_a_signature_policy_signatures_are_not_looked_at() {
    let trusted = key();
    let root = folders(&trusted);
    let report = PluginHost::new().discover(
        &DiscoveryOptions::new()
            .folder(root.path())
            .linked_without_manifest(false),
    );
    assert_eq!(report.loaded().count(), 4);
    assert!(report.plugins.iter().all(|p| p.signed_by.is_none()));
}

#[test]
fn a_required_signature_is_checked_on_process_plugins_before_anything_else() {
    let trusted = key();
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "worker/plugin.toml",
        "name = \"worker\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"sh\", \"main.sh\"]\n",
    );
    let report = PluginHost::new().discover(
        &DiscoveryOptions::new()
            .folder(root.path())
            .linked_without_manifest(false)
            .signatures(
                SignaturePolicy::new()
                    .require(true)
                    .trust(trusted.public_key()),
            ),
    );
    assert!(matches!(
        report.get("worker").unwrap().status,
        DiscoveryStatus::SignatureRejected(SignatureError::Unsigned { .. })
    ));
}
