//! Manifest plugins get the trust level the policy gives their folder, and the permissions
//! their manifest declares are checked: real `plugin.toml` files found by discovery.

use std::path::Path;

use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
use hookwire::security::{SecurityPolicy, TrustLevel};
use hookwire::PluginHost;

use crate::common::{Authenticate, Greet, Probe};

// The linked plugin the manifests configure (the only linked plugin of this binary).
hookwire::submit_plugin!(|| Probe::new("fetcher"));

fn manifest(root: &Path, extra: &str) {
    let dir = root.join("fetcher");
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!("name = \"fetcher\"\nversion = \"1.0.0\"\nkind = \"linked\"\n{extra}");
    std::fs::write(dir.join("plugin.toml"), text).unwrap();
}

fn policy(folder: &Path) -> SecurityPolicy {
    SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .permission("net")
        .folder(folder, TrustLevel::Sandboxed)
        .grant(TrustLevel::Sandboxed, ["net"])
        .build()
        .unwrap()
}

fn status(host: &PluginHost, root: &Path) -> DiscoveryStatus {
    let report = host.discover(&DiscoveryOptions::new().folder(root));
    report.get("fetcher").unwrap().status.clone()
}

#[tokio::test]
async fn a_linked_plugin_from_a_sandboxed_folder_is_refused_as_it_would_run_in_process() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path(), "permissions = [\"net\"]\n");
    let host = PluginHost::builder().gate(policy(dir.path())).build();
    let DiscoveryStatus::Skipped(why) = status(&host, dir.path()) else {
        panic!("not skipped")
    };
    let folder = dir.path().join("fetcher");
    assert_eq!(
        why,
        format!("plugin `fetcher` is refused: it comes from folder `{}`, which the security policy gives trust level `sandboxed`, and it would run in the host's process: a sandboxed plugin runs only as a process plugin under a Landlock sandbox and resource limits; ship it as a `kind = \"process\"` plugin, or give its folder (or signing key) level `trusted`", folder.display())
    );
    assert!(host.plugins().is_empty());
}

#[tokio::test]
async fn a_linked_plugin_from_a_trusted_folder_gets_what_that_level_is_granted() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path(), "permissions = [\"net\"]\n");
    let policy = SecurityPolicy::builder()
        .hook::<Authenticate>("auth")
        .permission("net")
        .folder(dir.path(), TrustLevel::Trusted)
        .grant(TrustLevel::Trusted, ["net"])
        .build()
        .unwrap();
    let host = PluginHost::builder().gate(policy).build();
    assert!(matches!(
        status(&host, dir.path()),
        DiscoveryStatus::Loaded { .. }
    ));
    assert_eq!(host.start().await.unwrap().started, ["fetcher"]);
    assert_eq!(
        host.plugins().get("fetcher").unwrap().meta.permissions,
        ["net"]
    );
    let out = host.hook::<Greet>().call(&"x".to_owned()).await.unwrap();
    assert_eq!(out.into_value().as_deref(), Some("v1:x"));
}

#[tokio::test]
async fn a_manifest_asking_for_more_than_its_folder_may_be_granted_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path(), "permissions = [\"net\", \"auth\"]\n");
    let host = PluginHost::builder().gate(policy(dir.path())).build();
    let DiscoveryStatus::Skipped(why) = status(&host, dir.path()) else {
        panic!("not skipped")
    };
    let folder = dir.path().join("fetcher");
    assert_eq!(
        why,
        format!("plugin `fetcher` is refused: it declares permission `auth`, which its trust level `sandboxed` (from folder `{}`) may not be granted; grant it in the policy (`grants = {{ sandboxed = [\"auth\"] }}`) or remove it from the plugin's permissions", folder.display())
    );
    assert!(host.plugins().is_empty());
}

#[tokio::test]
async fn a_manifest_asking_for_an_unknown_permission_is_skipped_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    manifest(dir.path(), "permissions = [\"nett\"]\n");
    let host = PluginHost::builder().gate(policy(dir.path())).build();
    let DiscoveryStatus::Skipped(why) = status(&host, dir.path()) else {
        panic!("not skipped")
    };
    assert!(
        why.contains("unknown permission `nett` (known permissions: auth, net)"),
        "{why}"
    );
}

#[tokio::test]
async fn a_manifest_from_a_folder_the_policy_does_not_list_is_untrusted() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    manifest(dir.path(), "");
    let host = PluginHost::builder().gate(policy(other.path())).build();
    let DiscoveryStatus::Skipped(why) = status(&host, dir.path()) else {
        panic!("not skipped")
    };
    assert!(
        why.contains("which the security policy gives trust level `untrusted`"),
        "{why}"
    );
    assert!(host.plugins().is_empty());
}
