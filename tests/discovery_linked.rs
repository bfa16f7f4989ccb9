//! Linked plugins: `submit_plugin!` in a plugin crate, `discover_linked` in the host, across
//! crates, in name order.

use std::sync::Arc;

use hookspecs::{AppInfo, OnStartup};
use hookwire::plugin::PluginError;
use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};

// The trap: listing `greeter-linked` in Cargo.toml is not enough, the binary must refer to it.
use greeter_linked as _;

struct Named(&'static str);
impl Plugin for Named {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(self.0, "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
}

// Submitted in an order that is neither name order nor the order a test expects.
hookwire::submit_plugin!(|| Named("zeta"));
hookwire::submit_plugin!(|| Named("alpha"));

fn app() -> AppInfo {
    AppInfo {
        name: "shop".into(),
        version: "1.0.0".into(),
    }
}

#[test]
fn discover_linked_adds_every_linked_plugin_in_name_order() {
    let host = PluginHost::new();
    let added = host.discover_linked().unwrap();
    assert_eq!(added, ["alpha", "greeter", "zeta"]);
    let mut names: Vec<String> = host.plugins().iter().map(|p| p.meta.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["alpha", "greeter", "zeta"]);
}

#[tokio::test]
async fn a_plugin_crate_linked_with_use_as_underscore_is_discovered_and_answers() {
    let host = PluginHost::new();
    host.discover_linked().unwrap();
    let report = host.start().await.unwrap();
    assert_eq!(report.started, ["alpha", "greeter", "zeta"]);
    let out = host.hook::<OnStartup>().call(&app()).await.unwrap();
    let lines: Vec<String> = out.into_values();
    assert_eq!(lines, ["Hello, shop!"]);
}

#[test]
fn discover_linked_refuses_a_name_the_host_has_already_and_adds_nothing() {
    let host = PluginHost::new();
    host.add(Named("greeter")).unwrap();
    let err = host.discover_linked().unwrap_err();
    assert!(matches!(
        err,
        hookwire::discovery::DiscoveryError::Plugin(PluginError::Duplicate { ref plugin }) if plugin == "greeter"
    ));
    assert_eq!(host.plugins().len(), 1, "nothing added");
}

#[test]
fn linked_plugins_lists_each_submission_with_where_it_was_submitted() {
    let mut found: Vec<(String, &str)> = hookwire::discovery::linked_plugins()
        .map(|p| (p.instantiate().meta().name, p.location()))
        .collect();
    found.sort();
    assert_eq!(found.len(), 3);
    assert!(
        found[0].1.starts_with("tests/discovery_linked.rs:"),
        "{found:?}"
    );
    assert!(found[1].1.contains("greeter-linked"), "{found:?}");
}
