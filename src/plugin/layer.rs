//! [`Layer`]: settings that a source outside the plugin's code (a manifest found by
//! discovery) lays over one plugin, below the host's configuration file.
//!
//! Three levels, most specific last (each key taken from the last level that sets it):
//! 1. the plugin's own defaults (its config type's `#[serde(default)]`, its impls' options);
//! 2. the layer: a manifest's `config` table and `priority` overrides;
//! 3. the host's configuration file (`[plugins.<name>]`, its `priority` table) and
//!    environment.

use std::collections::BTreeMap;

/// What a manifest sets for one plugin (see the module docs for where it sits).
#[derive(Debug, Clone, Default)]
pub(crate) struct Layer {
    /// Where the layer came from, for messages (a manifest's path).
    #[cfg_attr(not(feature = "config"), allow(dead_code))] // read by config messages
    pub(crate) source: String,
    /// The plugin's configuration, above its defaults and below the host's file.
    #[cfg(feature = "config")]
    pub(crate) config: toml::Table,
    /// Hook name -> priority for the plugin's impls of that hook, below the host file's.
    pub(crate) priority: BTreeMap<String, i32>,
    /// Where the plugin came from, for the host's [`PluginGate`](super::PluginGate) (a
    /// manifest's folder, and the key that signed it).
    pub(crate) trust: super::gate::TrustSource,
    /// How the plugin runs, for the gate (a process plugin, sandboxed or not).
    pub(crate) isolation: super::gate::Isolation,
}

#[cfg(feature = "config")]
/// Keys of `over` replace those of `under`; tables present in both are merged key by key.
pub(crate) fn merge_tables(under: &mut toml::Table, over: &toml::Table) {
    for (key, value) in over {
        match (under.get_mut(key), value) {
            (Some(toml::Value::Table(low)), toml::Value::Table(high)) => merge_tables(low, high),
            _ => {
                under.insert(key.clone(), value.clone());
            }
        }
    }
}
