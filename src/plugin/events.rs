//! [`PluginEvent`]: one lifecycle transition, broadcast to every subscriber of
//! [`PluginHost::events`](crate::PluginHost::events).

use super::lifecycle::PluginState;

/// A plugin moved from one [`PluginState`] to another.
///
/// Delivered on a `tokio::sync::broadcast` channel: a subscriber that falls more than the
/// channel's capacity behind receives `RecvError::Lagged` and then the newest events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PluginEvent {
    /// The plugin.
    pub plugin: String,
    /// Its state before.
    pub from: PluginState,
    /// Its state now.
    pub to: PluginState,
}
