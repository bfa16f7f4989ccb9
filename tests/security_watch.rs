//! Hot reload under a `SecurityPolicy` (`PluginHost::watch` + `PluginHostBuilder::gate`): a
//! `plugin.toml` rewritten to declare a permission its folder's trust level may not be granted
//! is refused with `ReloadFailed` naming that permission, and the old version keeps serving; a
//! later rewrite within the grants applies. Real folders, real file-system events, every wait
//! bounded. A binary of its own: its linked plugin must not be seen by other binaries'
//! `discover`.

use std::path::Path;
use std::time::Duration;

use hookwire::discovery::DiscoveryOptions;
use hookwire::plugin::PluginEvent;
use hookwire::security::{SecurityPolicy, TrustLevel};
use hookwire::PluginHost;

#[path = "common/greeter_watch.rs"]
mod greeter_watch;

use greeter_watch::{greeting, next};

/// `greeter/plugin.toml` (a `kind = "linked"` manifest) declaring `permissions`.
fn write_manifest(root: &Path, permissions: &str, greeting: &str) {
    std::fs::create_dir_all(root.join("greeter")).unwrap();
    std::fs::write(
        root.join("greeter/plugin.toml"),
        format!("name = \"greeter\"\nversion = \"1.0.0\"\nkind = \"linked\"\npermissions = [{permissions}]\n[config]\ngreeting = \"{greeting}\"\n"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_rewritten_to_ask_for_an_ungranted_permission_is_refused_on_reload() {
    let root = tempfile::tempdir().unwrap();
    write_manifest(root.path(), "\"net\"", "hello");
    // The folder is trusted, and trusted plugins may be granted `net` only (not `auth`).
    let policy = SecurityPolicy::builder()
        .permission("net")
        .permission("auth")
        .folder(root.path(), TrustLevel::Trusted)
        .grant(TrustLevel::Trusted, ["net"])
        .build()
        .unwrap();
    let options = DiscoveryOptions::new()
        .folder(root.path())
        .linked_without_manifest(false)
        .debounce(Duration::from_millis(150))
        .grace(Duration::from_secs(1));
    let host = PluginHost::builder().gate(policy).build();
    let report = host.discover(&options);
    assert_eq!(report.loaded().collect::<Vec<_>>(), ["greeter"]);
    host.start().await.unwrap();
    let mut events = host.events();
    let _watcher = host.watch(&options).unwrap();
    assert_eq!(greeting(&host).await, ["hello"]);

    write_manifest(root.path(), "\"net\", \"auth\"", "escalated");
    let error = next(&mut events, |e| match e {
        PluginEvent::ReloadFailed { plugin, error } if plugin == "greeter" => Some(error.clone()),
        PluginEvent::Replaced { .. } => panic!("a refused permission was applied: {e:?}"),
        _ => None,
    })
    .await;
    let folder = root.path().join("greeter");
    assert_eq!(
        error,
        format!(
            "plugin `greeter` is refused: it declares permission `auth`, which its trust level `trusted` (from folder `{}`) may not be granted; grant it in the policy (`grants = {{ trusted = [\"auth\"] }}`) or remove it from the plugin's permissions",
            folder.display()
        )
    );
    assert_eq!(
        greeting(&host).await,
        ["hello"],
        "the old version keeps serving"
    );
    let plugins = host.plugins();
    let greeter = plugins.get("greeter").unwrap();
    assert_eq!(greeter.meta.version.as_ref().unwrap().to_string(), "1.0.0");
    assert_eq!(greeter.meta.permissions, ["net"]);

    // A rewrite within the grants is applied: the watcher still reloads after a refusal.
    write_manifest(root.path(), "\"net\"", "within grants");
    next(&mut events, |e| match e {
        PluginEvent::Replaced { plugin, .. } if plugin == "greeter" => Some(()),
        PluginEvent::ReloadFailed { error, .. } => panic!("refused: {error}"),
        _ => None,
    })
    .await;
    assert_eq!(greeting(&host).await, ["within grants"]);
}
