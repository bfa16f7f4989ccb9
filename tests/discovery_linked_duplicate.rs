//! Two linked plugins with one name: an error naming both, neither lost silently. (Its own
//! test binary: link-time registrations are global to a binary.)

use std::sync::Arc;

use hookwire::discovery::{DiscoveryError, DiscoveryOptions, DiscoveryStatus};
use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};

struct First;
impl Plugin for First {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("cache", "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
}
struct Second;
impl Plugin for Second {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("cache", "2.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
}
struct Other;
impl Plugin for Other {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("other", "1.0.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
}

hookwire::submit_plugin!(|| First);
hookwire::submit_plugin!(|| Second);
hookwire::submit_plugin!(|| Other);

#[test]
fn two_linked_plugins_with_one_name_are_an_error_naming_both() {
    let host = PluginHost::new();
    let err = host.discover_linked().unwrap_err();
    let DiscoveryError::DuplicateLinked { name, locations } = &err else {
        panic!("expected DuplicateLinked, got {err:?}")
    };
    assert_eq!(name, "cache");
    assert_eq!(
        locations,
        &[
            "tests/discovery_linked_duplicate.rs:37",
            "tests/discovery_linked_duplicate.rs:38"
        ]
    );
    assert_eq!(
        err.to_string(),
        "2 linked plugins are named `cache` (submitted at tests/discovery_linked_duplicate.rs:37 and tests/discovery_linked_duplicate.rs:38); rename one, or link only one of their crates"
    );
    assert!(host.plugins().is_empty(), "nothing is added");
}

#[test]
fn discover_reports_both_duplicates_and_adds_the_other_linked_plugins() {
    let host = PluginHost::new();
    let report = host.discover(&DiscoveryOptions::new());
    let cache = report.get("cache").unwrap();
    assert!(matches!(&cache.status, DiscoveryStatus::DuplicateLinked(at) if at.len() == 2));
    assert!(report.has_problems());
    assert!(report.to_string().contains("not loaded: 2 linked plugins have this name (submitted at tests/discovery_linked_duplicate.rs:37 and tests/discovery_linked_duplicate.rs:38)"), "{report}");
    assert_eq!(report.loaded().collect::<Vec<_>>(), ["other"]);
    assert!(host.plugins().get("cache").is_none());
}

/// The trap `submit_plugin!` documents: `greeter-linked` is a dependency of this test binary
/// (in Cargo.toml) but nothing here refers to it, so the linker drops it and its plugin with
/// it. `tests/discovery_linked.rs` writes `use greeter_linked as _;` and finds it.
#[test]
fn a_plugin_crate_only_in_cargo_toml_is_not_linked_so_not_discovered() {
    let names: Vec<String> = hookwire::discovery::linked_plugins()
        .map(|p| p.instantiate().meta().name)
        .collect();
    assert!(!names.iter().any(|n| n == "greeter"), "{names:?}");
}
