//! Host configuration for plugins: one TOML file plus environment overrides.
//!
//! [`HostConfig`] interprets only the `[plugins]` table of the file; every other top-level key
//! belongs to the host application and stays available through `HostConfig::host_table` (feature
//! `config`).
//!
//! ```toml
//! [server]                        # the host's own
//! port = 8080
//!
//! [plugins.token-auth]
//! enabled = true                  # reserved: boolean
//! lazy = false                    # reserved: boolean (start on first call)
//! tokens = ["abc"]                # everything else is the plugin's own typed config
//! [plugins.token-auth.priority]   # reserved: hook name -> i32 priority override
//! authenticate = 10
//! ```
//!
//! # Enabling and disabling
//! Most specific wins:
//! 1. `HOOKWIRE_PLUGIN_<NAME>_ENABLED=true|false` (also `1/0`, `yes/no`, `on/off`, any case),
//!    where `<NAME>` is the plugin name upper-cased with `-` and `.` replaced by `_`;
//! 2. `HOOKWIRE_PLUGINS_DISABLE=a,b` (comma-separated plugin names, normalised the same way);
//! 3. [`HostConfig::disable`] called by the host's code;
//! 4. `enabled = false` in the plugin's section of the file;
//! 5. otherwise the plugin is enabled.
//!
//! This decides what [`PluginHost::start`](crate::PluginHost::start) starts. While the host
//! runs, [`PluginHost::enable`](crate::PluginHost::enable) brings a disabled plugin up (the
//! configuration is not changed, so the next process start disables it again) and
//! [`PluginHost::disable`](crate::PluginHost::disable) stops one and keeps it off
//! ([`DisabledBy::Runtime`]).
//!
//! ```
//! use hookwire::{config::DisabledBy, config::HostConfig};
//! #[derive(serde::Deserialize)]
//! struct TokenAuth { tokens: Vec<String> }
//!
//! let text = "[server]\nport = 8080\n\n[plugins.token-auth]\nlazy = true\ntokens = [\"abc\"]\n";
//! let config = HostConfig::parse(text, "hookwire.toml")?
//!     .with_env([("HOOKWIRE_PLUGINS_DISABLE", "audit")])?;
//! let auth: TokenAuth = config.plugin_config("token-auth")?;
//! assert_eq!(auth.tokens, ["abc"]);
//! assert_eq!(config.lazy("token-auth"), Some(true));
//! assert_eq!(config.disabled_by("token-auth"), None);
//! assert_eq!(
//!     config.disabled_by("audit"),
//!     Some(DisabledBy::Env { var: "HOOKWIRE_PLUGINS_DISABLE".into() })
//! );
//! assert_eq!(config.host_table()["server"]["port"].as_integer(), Some(8080));
//! # Ok::<(), hookwire::error::ConfigError>(())
//! ```

pub use crate::plugin::config::{ConfigError, DisabledBy, HostConfig};
