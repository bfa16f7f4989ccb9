//! [`PluginEvent`]: what happened to a plugin (a lifecycle transition, a refused reload or
//! removal), broadcast to every subscriber of [`PluginHost::events`](crate::PluginHost::events).

use super::lifecycle::PluginState;

/// Something that happened to a plugin.
///
/// Delivered on a `tokio::sync::broadcast` channel: a subscriber that falls more than the
/// channel's capacity behind receives `RecvError::Lagged` and then the newest events.
///
/// The state changes of one plugin name come in the order they happened and describe the
/// instance that serves under that name: a replacement instance's start-up, before it takes
/// over in [`PluginHost::replace`](crate::PluginHost::replace), and the old instance's stop
/// after it, are not state changes of the plugin (they are `tracing` events); a successful
/// replacement is one [`Replaced`](PluginEvent::Replaced) event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
#[non_exhaustive]
pub enum PluginEvent {
    /// The plugin moved from one [`PluginState`] to another.
    StateChanged {
        /// The plugin.
        plugin: String,
        /// Its state before.
        from: PluginState,
        /// Its state now.
        to: PluginState,
    },
    /// A new instance took over from the old one
    /// ([`PluginHost::replace`](crate::PluginHost::replace)); the old one is stopped next.
    Replaced {
        /// The plugin.
        plugin: String,
        /// The old instance's version (its metadata's, as written).
        old_version: String,
        /// The new instance's version.
        new_version: String,
    },
    /// A reload ([`PluginHost::replace`](crate::PluginHost::replace) or
    /// [`PluginHost::restart`](crate::PluginHost::restart)) failed before anything changed:
    /// the version that was serving (if any) still serves.
    ReloadFailed {
        /// The plugin.
        plugin: String,
        /// What went wrong (the text of the [`PluginError`](super::PluginError) the call
        /// returned).
        error: String,
    },
    /// [`PluginHost::remove`](crate::PluginHost::remove) was refused: plugins that require
    /// this one are registered or running.
    RemoveRefused {
        /// The plugin.
        plugin: String,
        /// The plugins that require it, by name.
        dependents: Vec<String>,
    },
}

impl PluginEvent {
    /// The plugin the event is about.
    pub fn plugin(&self) -> &str {
        match self {
            PluginEvent::StateChanged { plugin, .. }
            | PluginEvent::Replaced { plugin, .. }
            | PluginEvent::ReloadFailed { plugin, .. }
            | PluginEvent::RemoveRefused { plugin, .. } => plugin,
        }
    }
}
