//! Hot reload with required signatures (`PluginHost::watch` + `SignaturePolicy`): a manifest
//! edited without a new signature is refused and the old version keeps serving; signing it
//! applies it. Real folders, real file-system events, every wait bounded.

use std::path::Path;
use std::time::Duration;

use hookwire::discovery::DiscoveryOptions;
use hookwire::plugin::PluginEvent;
use hookwire::security::{sign_plugin, PrivateKey, SignaturePolicy, SIGNATURE_FILE};
use hookwire::PluginHost;

#[path = "common/greeter_watch.rs"]
mod greeter_watch;

use greeter_watch::{greeting, next};

fn write_manifest(root: &Path, greeting: &str) {
    std::fs::create_dir_all(root.join("greeter")).unwrap();
    std::fs::write(
        root.join("greeter/plugin.toml"),
        format!("name = \"greeter\"\nversion = \"1.0.0\"\nkind = \"linked\"\n[config]\ngreeting = \"{greeting}\"\n"),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_edited_without_a_new_signature_is_refused_and_signing_it_applies_it() {
    let root = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    write_manifest(root.path(), "hello");
    sign_plugin(&root.path().join("greeter"), &key).unwrap();
    let options = DiscoveryOptions::new()
        .folder(root.path())
        .linked_without_manifest(false)
        .debounce(Duration::from_millis(150))
        .grace(Duration::from_secs(1))
        .signatures(SignaturePolicy::new().require(true).trust(key.public_key()));
    let host = PluginHost::new();
    let report = host.discover(&options);
    assert_eq!(report.loaded().collect::<Vec<_>>(), ["greeter"]);
    host.start().await.unwrap();
    let mut events = host.events();
    let _watcher = host.watch(&options).unwrap();
    assert_eq!(greeting(&host).await, ["hello"]);

    write_manifest(root.path(), "tampered");
    let mut integrity = Vec::new();
    let error = next(&mut events, |e| match e {
        PluginEvent::IntegrityFailed { plugin, error } => {
            integrity.push((plugin.clone(), error.clone()));
            None
        }
        PluginEvent::ReloadFailed { plugin, error } if plugin == "greeter" => Some(error.clone()),
        PluginEvent::Replaced { .. } => panic!("an unsigned change was applied: {e:?}"),
        _ => None,
    })
    .await;
    assert_eq!(
        error,
        format!(
            "{}: the signature by key {} does not match {} (it changed after signing, or the signature is another file's); sign it again",
            root.path().join("greeter").join(SIGNATURE_FILE).display(),
            key.public_key().id(),
            root.path().join("greeter/plugin.toml").display()
        )
    );
    assert_eq!(
        greeting(&host).await,
        ["hello"],
        "the old version keeps serving"
    );
    // The rejection was also announced, first, as an integrity failure (the audit log's
    // `integrity` record).
    assert_eq!(integrity, [("greeter".to_owned(), error.clone())]);

    // The operator approves the change: only the signature file changes.
    sign_plugin(&root.path().join("greeter"), &key).unwrap();
    next(&mut events, |e| match e {
        PluginEvent::Replaced { plugin, .. } if plugin == "greeter" => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(greeting(&host).await, ["tampered"]);
}
