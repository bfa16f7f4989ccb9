//! The trust level of a process plugin comes from its folder or the key that signed it (the
//! more trusted of the two), and `sandboxed` runs it under Landlock and resource limits that
//! its manifest did not ask for.

use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
use hookwire::external::landlock_support;
use hookwire::security::{
    sign_plugin, PrivateKey, SandboxLimits, SecurityPolicy, SignaturePolicy, TrustLevel,
};
use serde_json::{json, Value};

use crate::{discover, greet, host, plugin, status, FIXTURE};

#[tokio::test]
async fn a_signed_process_plugin_gets_its_keys_level_and_an_unsigned_one_its_folders() {
    let root = tempfile::tempdir().unwrap();
    let (release, vendor, other) = (
        PrivateKey::generate().unwrap(),
        PrivateKey::generate().unwrap(),
        PrivateKey::generate().unwrap(),
    );
    let auth = "permissions = [\"auth\"]";
    // Signed process plugins pin their code: a signature covers it only through pins.
    let pin = Some(FIXTURE);
    sign_plugin(&plugin(root.path(), "release", auth, "", pin), &release).unwrap();
    plugin(root.path(), "unsigned", auth, "", None);
    sign_plugin(&plugin(root.path(), "vendor", auth, "", pin), &vendor).unwrap();
    sign_plugin(&plugin(root.path(), "other", "", "", pin), &other).unwrap();
    // The plugins' folder is not listed: only the keys give a level.
    let policy = SecurityPolicy::builder()
        .hook_named("auth", "auth")
        .key(release.public_key().id().as_str(), TrustLevel::Trusted)
        .key(vendor.public_key().id().as_str(), TrustLevel::Sandboxed)
        .grant(TrustLevel::Sandboxed, ["auth"])
        .build()
        .unwrap();
    let host = host(policy);
    // Every key is trusted to sign (signatures verify); the policy gives them levels.
    let signatures = SignaturePolicy::new()
        .trust(release.public_key())
        .trust(vendor.public_key())
        .trust(other.public_key());
    let report = discover(
        &host,
        root.path(),
        DiscoveryOptions::new().signatures(signatures),
    );

    assert!(matches!(
        status(&report, "release"),
        DiscoveryStatus::Loaded { .. }
    ));
    assert_eq!(
        report.get("release").unwrap().signed_by.as_ref(),
        Some(release.public_key().id())
    );
    assert!(matches!(
        status(&report, "vendor"),
        DiscoveryStatus::Loaded { .. }
    ));
    let folder = |name: &str| root.path().join(name).display().to_string();
    assert_eq!(
        skipped(status(&report, "unsigned")),
        (format!("plugin `unsigned` is refused: it comes from folder `{}`, which the security policy gives trust level `untrusted`; list its folder (or signing key) in the policy with level `trusted` or `sandboxed`", folder("unsigned")))
    );
    assert_eq!(
        skipped(status(&report, "other")),
        (format!("plugin `other` is refused: it comes from folder `{}`, signed by key `{}`, which the security policy gives trust level `untrusted`; list its folder (or signing key) in the policy with level `trusted` or `sandboxed`", folder("other"), other.public_key().id()))
    );

    let started = host.start().await.unwrap();
    // The release plugin is trusted: it may implement `auth`, which needs `auth`.
    let plugins = host.plugins();
    let impls = &plugins.get("release").unwrap().impls;
    assert!(impls.iter().any(|i| &*i.hook == "auth"), "{impls:?}");
    let who = host.hooks().call_json("auth", json!("t")).await.unwrap();
    assert_eq!(who.into_value(), Some(json!("ada")));
    assert_eq!(
        greet(&host, "release", "ada").await,
        Ok(json!("Hello, ada"))
    );
    // The vendor's key is `sandboxed`: it runs confined (where Landlock is available).
    if landlock_support().is_supported() {
        assert!(
            started.started.contains(&"vendor".to_owned()),
            "{started:?}"
        );
        let outside = tempfile::NamedTempFile::new().unwrap();
        let read = greet(
            &host,
            "vendor",
            &format!("read:{}", outside.path().display()),
        )
        .await
        .unwrap();
        assert_eq!(read, json!("denied: Permission denied"));
    } else {
        let (_, why) = started.failed.iter().find(|(p, _)| p == "vendor").unwrap();
        assert!(why.contains("Landlock"), "{why}");
    }
    host.shutdown(std::time::Duration::from_secs(5)).await;
}

fn skipped(status: DiscoveryStatus) -> String {
    match status {
        DiscoveryStatus::Skipped(why) => why,
        other => panic!("not skipped: {other}"),
    }
}

/// The soft limit named `name` in `/proc/<pid>/limits`.
fn limit(pid: u64, name: &str) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
    line[name.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_sandboxed_process_plugin_runs_under_landlock_and_the_policys_limits() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "the host's secret").unwrap();
    // Its manifest asks for no sandbox and sets one limit of its own.
    plugin(
        root.path(),
        "confined",
        "permissions = [\"net\"]",
        "[process.limits]\nopen_files = 48",
        None,
    );
    // One asking for a permission its level may not be granted: refused, never started.
    plugin(
        root.path(),
        "greedy",
        "permissions = [\"net\", \"db\"]",
        "",
        None,
    );
    let policy = SecurityPolicy::builder()
        .permission("net")
        .permission("db")
        .folder(root.path(), TrustLevel::Sandboxed)
        .grant(TrustLevel::Sandboxed, ["net"])
        .sandbox_limits(SandboxLimits::default().memory_mb(512).open_files(64))
        .build()
        .unwrap();
    let host = host(policy);
    let report = discover(&host, root.path(), DiscoveryOptions::new());
    assert!(matches!(
        status(&report, "confined"),
        DiscoveryStatus::Loaded { .. }
    ));
    assert_eq!(
        skipped(status(&report, "greedy")),
        format!("plugin `greedy` is refused: it declares permission `db`, which its trust level `sandboxed` (from folder `{}`) may not be granted; grant it in the policy (`grants = {{ sandboxed = [\"db\"] }}`) or remove it from the plugin's permissions", root.path().join("greedy").display())
    );
    let started = host.start().await.unwrap();
    if !landlock_support().is_supported() {
        // Never unconfined by surprise: the start fails.
        let (_, why) = &started.failed[0];
        assert!(why.contains("Landlock"), "{why}");
        return;
    }
    assert_eq!(started.started, ["confined"], "{started:?}");
    let me = greet(&host, "confined", "whoami").await.unwrap();
    let pid = me["pid"].as_u64().unwrap();
    // The policy's memory limit, the manifest's own file limit.
    assert_eq!(limit(pid, "Max address space"), (512u64 << 20).to_string());
    assert_eq!(limit(pid, "Max open files"), "48");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // Landlock: its own folder is readable, a file elsewhere is not (the host can read it).
    assert_eq!(
        greet(&host, "confined", "read:plugin.py").await.unwrap(),
        Value::from(crate::FIXTURE)
    );
    let denied = greet(&host, "confined", &format!("read:{}", secret.display()))
        .await
        .unwrap();
    assert_eq!(denied, json!("denied: Permission denied"));
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "the host's secret"
    );
    host.shutdown(std::time::Duration::from_secs(5)).await;
}

/// Review 12's probe: "one signature covers every file" holds only through pins. A signed
/// process manifest that pins no file would run whatever its folder holds at the key's level:
/// with signatures required it is rejected, saying what to pin; without, it loads as unsigned
/// (its folder's level, no signer) and the host is told why.
#[tokio::test]
async fn a_signed_manifest_that_pins_nothing_does_not_count_as_signed() {
    use hookwire::plugin::PluginEvent;
    let root = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    let dir = plugin(root.path(), "unpinned", "", "", None);
    sign_plugin(&dir, &key).unwrap();
    let expected = format!(
        "{}: signed, but this process plugin pins no file, so the signature covers plugin.toml only, not the code it runs; pin every file it runs in plugin.toml's `[sha256]` table (`\"plugin.py\" = \"<sha256>\"`, as `sha256sum` prints) and sign it again",
        dir.join("plugin.toml").display()
    );
    let policy = || {
        SecurityPolicy::builder()
            .key(key.public_key().id().as_str(), TrustLevel::Trusted)
            .folder(root.path(), TrustLevel::Sandboxed)
            .build()
            .unwrap()
    };
    let required = SignaturePolicy::new().require(true).trust(key.public_key());
    let host_a = host(policy());
    let report = discover(
        &host_a,
        root.path(),
        DiscoveryOptions::new().signatures(required),
    );
    match status(&report, "unpinned") {
        DiscoveryStatus::SignatureRejected(e) => assert_eq!(e.to_string(), expected),
        other => panic!("{other:?}"),
    }
    assert!(host_a.plugins().get("unpinned").is_none());

    // Not required: loaded as unsigned (its folder's level, not the key's).
    let host_b = host(policy());
    let mut events = host_b.events();
    let optional = SignaturePolicy::new().trust(key.public_key());
    let report = discover(
        &host_b,
        root.path(),
        DiscoveryOptions::new().signatures(optional),
    );
    let found = report.get("unpinned").unwrap();
    assert!(found.status.is_loaded(), "{report}");
    assert_eq!(found.signed_by, None);
    let mut failures = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let PluginEvent::IntegrityFailed { plugin, error } = e {
            failures.push((plugin, error));
        }
    }
    assert_eq!(
        failures,
        [(
            "unpinned".to_owned(),
            format!("{expected} (signatures are not required: loaded as unsigned)")
        )]
    );
}

/// Review 12's probe: `require_signatures = true` in the policy file the host installs as its
/// gate applies to discovery without the host also building a `SignaturePolicy`: an unsigned
/// plugin is rejected, as the README's `[security]` example says.
#[tokio::test]
async fn require_signatures_in_the_policy_file_keeps_unsigned_plugins_out() {
    let root = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    plugin(root.path(), "unsigned", "", "", None);
    sign_plugin(&plugin(root.path(), "signed", "", "", Some(FIXTURE)), &key).unwrap();
    let text = format!(
        "[security]\nfolders = {{ {:?} = \"trusted\" }}\nrequire_signatures = true\ntrusted_keys = [\"{}\"]\n",
        root.path().display().to_string(),
        key.public_key().to_base64()
    );
    let host = host(SecurityPolicy::from_toml(&text, "app.toml").unwrap());
    let report = discover(&host, root.path(), DiscoveryOptions::new());
    match status(&report, "unsigned") {
        DiscoveryStatus::SignatureRejected(e) => assert_eq!(
            e.to_string(),
            format!(
                "{}: missing; this host requires signed plugins: sign it with `hookwire plugins sign <dir> --key <file>`",
                root.path().join("unsigned/plugin.toml.sig").display()
            )
        ),
        other => panic!("an unsigned plugin was not rejected: {other:?}"),
    }
    let signed = report.get("signed").unwrap();
    assert!(signed.status.is_loaded(), "{report}");
    assert_eq!(
        signed.signed_by.as_ref().map(|k| k.to_string()),
        Some(key.public_key().id().to_string())
    );
}
