//! [`ConfigError`]: what can be wrong with a host configuration, each naming what to fix.

use super::locate::at;
use super::ACCEPTED;

/// A configuration problem; every message names the file, variable, plugin and key to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read plugin config file {path}: {source}; {}", io_advice(.source))]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error(
        "{path}: invalid TOML at line {line}, column {column}: {message}; fix the syntax there"
    )]
    Parse {
        /// The file.
        path: String,
        /// 1-based line of the problem.
        line: u32,
        /// 1-based column of the problem.
        column: u32,
        /// The parser's description.
        message: String,
    },
    /// `plugins`, a plugin section or a reserved key has the wrong type or is out of range.
    #[error("{}: `{key}` must be {expected}, found {found}", at(.path, .line))]
    InvalidValue {
        /// The file.
        path: String,
        /// The plugin whose section is wrong (`None` when `plugins` itself is).
        plugin: Option<String>,
        /// The full dotted key, such as `plugins.token-auth.enabled`.
        key: String,
        /// What the key must hold.
        expected: &'static str,
        /// What it holds.
        found: String,
        /// 1-based line of the key, when known.
        line: Option<u32>,
    },
    /// A `HOOKWIRE_PLUGIN_<NAME>_ENABLED` variable holds something other than a switch.
    #[error(
        "environment variable {var}={value:?} is not a switch; use one of {} (any case)",
        ACCEPTED
    )]
    Env {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
    },
    /// The plugin's section has a key its config type does not use.
    #[error("{}: unknown key `{key}` in the config of plugin `{plugin}`; remove it or fix its spelling", at(.path, .line))]
    UnknownKey {
        /// The file.
        path: String,
        /// The plugin.
        plugin: String,
        /// The full dotted key inside the plugin's section, such as `limits.burst`.
        key: String,
        /// 1-based line of the key, when known.
        line: Option<u32>,
    },
    /// serde rejected a value of the plugin's section (wrong type, missing field, ...).
    #[error("{}: invalid config for plugin `{plugin}`{}: {message}", at(.path, .line), .key.as_ref().map(|k| format!(" at `{k}`")).unwrap_or_default())]
    InvalidPluginConfig {
        /// The file.
        path: String,
        /// The plugin.
        plugin: String,
        /// The dotted key inside the plugin's section, when known.
        key: Option<String>,
        /// 1-based line of the value, when known.
        line: Option<u32>,
        /// serde's message, such as `invalid type: string "x", expected u32`.
        message: String,
    },
}

/// What to do about a config file that could not be read.
fn io_advice(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::InvalidData => "the file is not UTF-8 text: save it as UTF-8",
        _ => "check the path and permissions",
    }
}
