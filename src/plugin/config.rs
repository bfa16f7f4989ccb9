//! Host configuration for plugins (stub: being written).

/// Where a plugin's "disabled" decision came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum DisabledBy {
    /// `enabled = false` in the plugin's section of a config file.
    File {
        /// The file.
        path: String,
    },
    /// An environment variable.
    Env {
        /// The variable's name.
        var: String,
    },
    /// The host's code.
    Host,
}

/// Whether a plugin is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Enablement {
    /// Enabled.
    Enabled,
    /// Disabled, and by what.
    Disabled(DisabledBy),
}

/// The host's plugin configuration.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {}
