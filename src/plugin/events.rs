//! [`PluginEvent`]: what happened to a plugin (a lifecycle transition, a refused reload or
//! removal, a refusal by the host's gate, an integrity failure, an administrator's request
//! (or its refusal), a process plugin's crash and restart), broadcast to every subscriber of [`PluginHost::events`](crate::PluginHost::events).

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
/// replacement is one [`Replaced`](PluginEvent::Replaced) event. A replacement's process
/// crashing (and restarted) while it starts is the plugin's, though: its
/// [`Crashed`](PluginEvent::Crashed) and [`Restarted`](PluginEvent::Restarted) events are
/// sent like any other instance's, before or after the `Replaced` event.
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
        /// The version of the instance whose state changed (its metadata's), as it was when
        /// the state changed; `None` if its version is not valid semver.
        version: Option<String>,
    },
    /// A new instance took over from the old one
    /// ([`PluginHost::replace`](crate::PluginHost::replace)); the old one is stopped next.
    Replaced {
        /// The plugin.
        plugin: String,
        /// The old instance's version (its metadata's, as written; for a plugin that states
        /// its version once it runs, such as a process plugin built without one, the version
        /// it stated: its process's answer in the handshake).
        old_version: String,
        /// The new instance's version (the same way).
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
    /// The host's [`PluginGate`](super::PluginGate) refused the plugin: adding it, one of
    /// its impls (it fails, nothing of it is registered) or a service it asked for.
    Refused {
        /// The plugin.
        plugin: String,
        /// The permission it lacked, if one was at fault.
        permission: Option<String>,
        /// The refusal's message (names the hook or service and what to change).
        error: String,
    },
    /// The plugin's files did not pass the integrity checks (feature `security`): its
    /// manifest's signature was rejected, or a pinned file did not match its pin when a
    /// verified copy was made for a start or restart. The plugin (or that version of it) was
    /// not loaded, or that process not started; what follows from it (a failed start, a
    /// failed reload) comes as its own event.
    IntegrityFailed {
        /// The plugin.
        plugin: String,
        /// What failed: the file, the key, the pinned and the found hash.
        error: String,
    },
    /// An administrator asked the host to act on the plugin through its API (announced
    /// before the action; its effects follow as other events). Only sent when asked for:
    /// [`PluginHostBuilder::admin_events`](super::PluginHostBuilder::admin_events), or an
    /// audit log attached.
    Admin {
        /// The plugin.
        plugin: String,
        /// What was asked.
        action: AdminAction,
    },
    /// An administrator's request to act on the plugin was refused before anything was done:
    /// the host's admin check (the admin endpoints' `web::Authorize`,
    /// feature `axum`) said no. Sent when [`Admin`](PluginEvent::Admin) events are, and only
    /// for a plugin the host has (a refused request naming none is only traced, so that an
    /// anonymous client cannot flood the events with names).
    AdminRefused {
        /// The plugin.
        plugin: String,
        /// What was asked.
        action: AdminAction,
        /// Who refused what, e.g. "the host's admin check refused `POST
        /// /admin/plugins/x/disable`".
        reason: String,
    },
    /// A process plugin's process ended without being asked to (sent by its supervisor,
    /// feature `process`). A restart follows ([`Restarted`](PluginEvent::Restarted)), or, at
    /// its start limit, the plugin becomes `Failed` (a `StateChanged` event).
    Crashed {
        /// The plugin.
        plugin: String,
        /// Which of its processes (0 unless it runs several: `instances`).
        instance: usize,
        /// How it ended and its last stderr lines ("plugin `x` exited with status 3; its
        /// last stderr lines: ..."), or why it could not be started again.
        detail: String,
    },
    /// A process plugin's crashed process was started again and serves (feature `process`).
    Restarted {
        /// The plugin.
        plugin: String,
        /// Which of its processes.
        instance: usize,
        /// Which restart this is among the crashes counted by its restart policy's window
        /// (1 for the first).
        attempt: u32,
    },
}

/// What an administrator asked of the host, in a [`PluginEvent::Admin`] (or
/// [`PluginEvent::AdminRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdminAction {
    /// [`PluginHost::stop`](crate::PluginHost::stop).
    Stop,
    /// [`PluginHost::remove`](crate::PluginHost::remove).
    Remove,
    /// [`PluginHost::restart`](crate::PluginHost::restart).
    Restart,
    /// [`PluginHost::replace`](crate::PluginHost::replace) (and its siblings).
    Replace,
    /// [`PluginHost::enable`](crate::PluginHost::enable).
    Enable,
    /// [`PluginHost::disable`](crate::PluginHost::disable).
    Disable,
}

impl AdminAction {
    /// Its name: `stop`, `remove`, `restart`, `replace`, `enable`, `disable`.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::Stop => "stop",
            AdminAction::Remove => "remove",
            AdminAction::Restart => "restart",
            AdminAction::Replace => "replace",
            AdminAction::Enable => "enable",
            AdminAction::Disable => "disable",
        }
    }
}

impl std::fmt::Display for AdminAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PluginEvent {
    /// The plugin the event is about.
    pub fn plugin(&self) -> &str {
        match self {
            PluginEvent::StateChanged { plugin, .. }
            | PluginEvent::Replaced { plugin, .. }
            | PluginEvent::ReloadFailed { plugin, .. }
            | PluginEvent::RemoveRefused { plugin, .. }
            | PluginEvent::Refused { plugin, .. }
            | PluginEvent::IntegrityFailed { plugin, .. }
            | PluginEvent::Admin { plugin, .. }
            | PluginEvent::AdminRefused { plugin, .. }
            | PluginEvent::Crashed { plugin, .. }
            | PluginEvent::Restarted { plugin, .. } => plugin,
        }
    }
}
