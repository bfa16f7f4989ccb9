//! [`PluginList`]: a snapshot of the plugins a [`PluginHost`](crate::PluginHost) knows,
//! queryable by name, capability (indexed) and state.

use std::collections::BTreeMap;

use super::config::DisabledBy;
use super::lifecycle::PluginState;
use super::meta::PluginMeta;
use crate::hook::ImplInfo;

/// One plugin as [`PluginHost::plugins`](crate::PluginHost::plugins) saw it: its metadata,
/// state and configuration, and its impls.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PluginInfo {
    /// Its metadata (name, version, capabilities, dependencies, ...).
    pub meta: PluginMeta,
    /// Where it is in its lifecycle (a plugin disabled by the configuration stays
    /// `Discovered`; one disabled at run time keeps the state its stop left it in, `Stopped`
    /// for a plugin that ran).
    pub state: PluginState,
    /// `Some` when it is disabled, saying by what (file, environment, host code, or
    /// [`PluginHost::disable`](crate::PluginHost::disable) at run time).
    pub disabled: Option<DisabledBy>,
    /// Whether it starts on the first call that reaches one of its impls.
    pub lazy: bool,
    /// Its impls registered with the hook manager, grouped by hook name (empty until `start`
    /// registered them, and for a disabled or failed plugin). Not serialised.
    #[serde(skip)]
    pub impls: Vec<ImplInfo>,
}

impl PluginInfo {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }
}

/// The plugins of a manager at one moment, sorted by name, with a capability index.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use hookwire::{Plugin, PluginHost, PluginMeta, plugin::PluginState, Registrar, RegisterError};
///
/// struct Store;
/// impl Plugin for Store {
///     fn meta(&self) -> PluginMeta { PluginMeta::new("store", "1.0.0").capability("storage") }
///     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
/// }
/// let pm = PluginHost::new();
/// pm.add(Store).unwrap();
/// pm.start().await.unwrap();
/// let plugins = pm.plugins();
/// let storage: Vec<&str> = plugins.with_capability("storage").map(|p| p.name()).collect();
/// assert_eq!(storage, ["store"]);
/// assert_eq!(plugins.get("store").unwrap().state, PluginState::Started);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct PluginList {
    plugins: Vec<PluginInfo>,
    by_capability: BTreeMap<String, Vec<usize>>,
}

impl PluginList {
    pub(crate) fn new(mut plugins: Vec<PluginInfo>) -> Self {
        plugins.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        let mut by_capability: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, p) in plugins.iter().enumerate() {
            for cap in &p.meta.capabilities {
                let list = by_capability.entry(cap.clone()).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        PluginList {
            plugins,
            by_capability,
        }
    }

    /// Every plugin, by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &PluginInfo> + '_ {
        self.plugins.iter()
    }

    /// How many plugins there are.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Option<&PluginInfo> {
        self.plugins
            .binary_search_by(|p| p.meta.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.plugins[i])
    }

    /// The plugins that declare capability `capability`, by name (an index lookup).
    pub fn with_capability<'a>(
        &'a self,
        capability: &str,
    ) -> impl Iterator<Item = &'a PluginInfo> + 'a {
        self.by_capability
            .get(capability)
            .into_iter()
            .flatten()
            .map(|&i| &self.plugins[i])
    }

    /// Every capability declared, sorted.
    pub fn capabilities(&self) -> impl Iterator<Item = &str> + '_ {
        self.by_capability.keys().map(String::as_str)
    }

    /// The plugins in the same kind of state as `state` (any reason matches for
    /// `Failed(_)`), by name.
    pub fn in_state<'a>(
        &'a self,
        state: &PluginState,
    ) -> impl Iterator<Item = &'a PluginInfo> + 'a {
        let kind = std::mem::discriminant(state);
        self.plugins
            .iter()
            .filter(move |p| std::mem::discriminant(&p.state) == kind)
    }

    /// The disabled plugins, by name.
    pub fn disabled(&self) -> impl Iterator<Item = &PluginInfo> + '_ {
        self.plugins.iter().filter(|p| p.disabled.is_some())
    }
}

impl<'a> IntoIterator for &'a PluginList {
    type Item = &'a PluginInfo;
    type IntoIter = std::slice::Iter<'a, PluginInfo>;
    fn into_iter(self) -> Self::IntoIter {
        self.plugins.iter()
    }
}
