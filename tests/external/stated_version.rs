//! A process plugin built without a version: its host lists it, and reports its hot
//! replacement, under the version its process answers in the handshake.

use std::time::Duration;

use hookwire::plugin::PluginEvent;
use hookwire::PluginHost;

use crate::support::{fixture_plugin, manager};

/// The version `host` lists for plugin `name`.
fn listed(host: &PluginHost, name: &str) -> String {
    let plugins = host.plugins();
    let info = plugins.get(name).expect("the plugin is listed");
    info.meta
        .version
        .as_ref()
        .map_or("invalid".to_owned(), ToString::to_string)
}

/// The `Replaced` events' versions, in order.
fn replaced(events: &mut tokio::sync::broadcast::Receiver<PluginEvent>) -> Vec<(String, String)> {
    std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|e| match e {
            PluginEvent::Replaced {
                old_version,
                new_version,
                ..
            } => Some((old_version, new_version)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_process_plugin_without_a_built_in_version_is_listed_and_replaced_under_its_processs() {
    let name = "v-stated";
    let host = PluginHost::builder().hooks(manager()).build();
    let mut events = host.events();
    // The fixture answers 1.2.0; in `marker` mode with its marker taken, 1.3.0.
    host.add(fixture_plugin(name, "ok").build()).unwrap();
    assert_eq!(listed(&host, name), "0.0.0", "nothing answered yet");
    host.start().await.unwrap();
    assert_eq!(listed(&host, name), "1.2.0");

    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("taken");
    std::fs::write(&marker, "").unwrap();
    let newer = fixture_plugin(name, "marker").arg(&marker).build();
    host.replace(name, newer, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        replaced(&mut events),
        [("1.2.0".to_owned(), "1.3.0".to_owned())]
    );
    assert_eq!(listed(&host, name), "1.3.0");
    // A restart is a new life: its process states the version again.
    host.stop(name, Duration::from_secs(5)).await.unwrap();
    host.restart(name).await.unwrap();
    assert_eq!(listed(&host, name), "1.3.0");

    // A version given to the builder stays the one shown (the process's differs: logged).
    let pinned = fixture_plugin(name, "ok").version("2.0.0").build();
    host.replace(name, pinned, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        replaced(&mut events),
        [("1.3.0".to_owned(), "2.0.0".to_owned())]
    );
    assert_eq!(listed(&host, name), "2.0.0");
    assert!(host.shutdown(Duration::from_secs(5)).await.is_clean());
}
