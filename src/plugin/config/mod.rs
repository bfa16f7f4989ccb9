//! The implementation of [`crate::config`] (where the file format and precedence are
//! documented).

use std::collections::{BTreeMap, BTreeSet};
#[cfg(feature = "config")]
use std::ops::Range;
#[cfg(feature = "config")]
use std::path::Path;
#[cfg(feature = "config")]
use std::sync::Arc;

mod error;
pub(crate) mod locate;

pub use error::ConfigError;

#[cfg(feature = "config")]
use super::layer::{merge_tables, Layer};
#[cfg(feature = "config")]
use locate::{describe, dotted, key_span, line_col, locate, segments, table_entries, take_table};
use locate::{normalize, parse_switch};

#[cfg(feature = "config")]
use serde::de::DeserializeOwned;
#[cfg(feature = "config")]
use toml::de::DeTable;
#[cfg(feature = "config")]
use toml::{Spanned, Table, Value};

const DISABLE_VAR: &str = "HOOKWIRE_PLUGINS_DISABLE";
#[cfg(feature = "config")]
const RESERVED: [&str; 3] = ["enabled", "lazy", "priority"];
const ACCEPTED: &str = "true, false, 1, 0, yes, no, on, off";
const NO_FILE: &str = "(no config file)";
#[cfg(feature = "config")]
const PLUGINS: &str = "a table of `[plugins.<name>]` sections";
#[cfg(feature = "config")]
const SECTION: &str = "a table (`[plugins.<name>]`)";
#[cfg(feature = "config")]
const BOOL: &str = "a boolean (`true` or `false`)";
#[cfg(feature = "config")]
const PRIORITIES: &str = "a table of `hook-name = <integer priority>`";
#[cfg(feature = "config")]
const I32: &str = "an integer between -2147483648 and 2147483647";

/// The environment variable name part for `plugin`: upper-cased, `-` and `.` as `_`
/// (`token-auth` → `TOKEN_AUTH`, as in `HOOKWIRE_PLUGIN_TOKEN_AUTH_ENABLED`).
pub(crate) fn env_name(plugin: &str) -> String {
    normalize(plugin)
}

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
    /// The host's code ([`HostConfig::disable`]).
    Host,
    /// [`PluginHost::disable`](crate::PluginHost::disable) while the host runs (an
    /// administrator, e.g. the web admin's `POST /admin/plugins/{name}/disable`); not a
    /// configuration setting: [`HostConfig::disabled_by`] never answers it.
    Runtime,
}

impl DisabledBy {
    /// How a report says it: `disabled at run time`, or `disabled by <what>` (`disabled by
    /// environment variable HOOKWIRE_PLUGINS_DISABLE`).
    pub(crate) fn phrase(&self) -> String {
        match self {
            Self::Runtime => "disabled at run time".to_owned(),
            other => format!("disabled by {other}"),
        }
    }
}

impl std::fmt::Display for DisabledBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path } => write!(f, "`enabled = false` in {path}"),
            Self::Env { var } => write!(f, "environment variable {var}"),
            Self::Host => f.write_str("the host"),
            Self::Runtime => f.write_str("`PluginHost::disable` at run time"),
        }
    }
}

/// The host's plugin configuration: a parsed TOML file plus environment overrides (the
/// format and the precedence are in [the module docs](crate::config)).
///
/// ```
/// use hookwire::config::{DisabledBy, HostConfig};
/// use hookwire::PluginHost;
///
/// let text = r#"
/// [plugins.token-auth]
/// tokens = ["abc"]
/// [plugins.token-auth.priority]
/// authenticate = 10
///
/// [plugins.audit]
/// enabled = false
/// "#;
/// let config = HostConfig::parse(text, "hookwire.toml")?
///     .with_env([("HOOKWIRE_PLUGIN_AUDIT_ENABLED", "yes")])?; // the environment wins
/// assert_eq!(config.disabled_by("audit"), None);
/// assert_eq!(config.priority_overrides("token-auth").unwrap()["authenticate"], 10);
///
/// // A plugin reads its own section as its own type (see `PluginContext::config`).
/// #[derive(serde::Deserialize)]
/// struct Tokens { tokens: Vec<String> }
/// assert_eq!(config.plugin_config::<Tokens>("token-auth")?.tokens, ["abc"]);
///
/// let host = PluginHost::builder().config(config).build();
/// # let _ = host;
/// # Ok::<(), hookwire::error::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    source: Option<String>,
    /// The original text, re-parsed with spans by [`HostConfig::plugin_config`].
    #[cfg(feature = "config")]
    text: Option<Arc<str>>,
    #[cfg(feature = "config")]
    host: Table,
    sections: BTreeMap<String, Section>,
    host_disabled: BTreeSet<String>,
    /// Normalised names from `HOOKWIRE_PLUGINS_DISABLE`.
    env_disabled: BTreeSet<String>,
    /// Normalised name -> (value, variable) from `HOOKWIRE_PLUGIN_<NAME>_ENABLED`.
    env_enabled: BTreeMap<String, (bool, String)>,
}

#[derive(Debug, Clone, Default)]
struct Section {
    enabled: Option<bool>,
    lazy: Option<bool>,
    priority: Option<BTreeMap<String, i32>>,
    /// The plugin's own keys (all but the reserved ones), sorted.
    own_keys: Vec<String>,
}

impl HostConfig {
    /// An empty configuration: every plugin enabled, no settings, no file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and parses the TOML file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Io`] if the file cannot be read, otherwise as [`HostConfig::parse`].
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, shown),
            Err(source) => Err(ConfigError::Io {
                path: shown,
                source,
            }),
        }
    }

    /// Parses TOML `text`; `source` names the file in messages and in [`DisabledBy::File`].
    ///
    /// # Errors
    /// [`ConfigError::Parse`] for malformed TOML, [`ConfigError::InvalidValue`] when `plugins`,
    /// a plugin section or a reserved key (`enabled`, `lazy`, `priority`) has the wrong type.
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    pub fn parse(text: &str, source: impl Into<String>) -> Result<Self, ConfigError> {
        let path = source.into();
        let mut host: Table = toml::from_str(text).map_err(|e| {
            let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
            let message = e.message().trim().to_owned();
            ConfigError::Parse {
                path: path.clone(),
                line,
                column,
                message,
            }
        })?;
        let bad = |keys: &[&str], expected, found: &Value| {
            let line = DeTable::parse(text)
                .ok()
                .and_then(|doc| key_span(doc.get_ref(), keys));
            ConfigError::InvalidValue {
                path: path.clone(),
                plugin: keys.get(1).map(|p| (*p).to_owned()),
                key: dotted(keys),
                expected,
                found: describe(found),
                line: line.map(|s| line_col(text, s.start).0),
            }
        };
        let plugins = match host.remove("plugins") {
            None => Table::new(),
            Some(Value::Table(plugins)) => plugins,
            Some(other) => return Err(bad(&["plugins"], PLUGINS, &other)),
        };
        let mut sections = BTreeMap::new();
        for (name, value) in &plugins {
            let table = value
                .as_table()
                .ok_or_else(|| bad(&["plugins", name], SECTION, value))?;
            let flag = |key: &str| match table.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_bool()
                    .map(Some)
                    .ok_or_else(|| bad(&["plugins", name, key], BOOL, v)),
            };
            let priority = match table.get("priority") {
                None => None,
                Some(v) => {
                    let hooks = v
                        .as_table()
                        .ok_or_else(|| bad(&["plugins", name, "priority"], PRIORITIES, v))?;
                    let priority = |(hook, v): (&String, &Value)| {
                        let p = v.as_integer().and_then(|i| i32::try_from(i).ok());
                        let p =
                            p.ok_or_else(|| bad(&["plugins", name, "priority", hook], I32, v))?;
                        Ok((hook.clone(), p))
                    };
                    Some(
                        hooks
                            .iter()
                            .map(priority)
                            .collect::<Result<_, ConfigError>>()?,
                    )
                }
            };
            let (enabled, lazy) = (flag("enabled")?, flag("lazy")?);
            let mut own_keys: Vec<String> = table
                .keys()
                .filter(|k| !RESERVED.contains(&k.as_str()))
                .cloned()
                .collect();
            own_keys.sort_unstable();
            sections.insert(
                name.clone(),
                Section {
                    enabled,
                    lazy,
                    priority,
                    own_keys,
                },
            );
        }
        Ok(Self {
            text: Some(text.into()),
            source: Some(path),
            host,
            sections,
            ..Self::default()
        })
    }

    /// Applies environment overrides from `vars` (name, value pairs); other variables are
    /// ignored. Calling it again layers more overrides on top.
    ///
    /// # Errors
    /// [`ConfigError::Env`] when a `HOOKWIRE_PLUGIN_<NAME>_ENABLED` value is not a switch.
    pub fn with_env<I, K, V>(mut self, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (var, value) in vars {
            let (var, value) = (var.as_ref(), value.as_ref());
            if var == DISABLE_VAR {
                let names = value.split(',').map(str::trim).filter(|n| !n.is_empty());
                self.env_disabled.extend(names.map(normalize));
            } else if let Some(name) = var
                .strip_prefix("HOOKWIRE_PLUGIN_")
                .and_then(|rest| rest.strip_suffix("_ENABLED"))
                .filter(|name| !name.is_empty())
            {
                let on = parse_switch(value).ok_or_else(|| ConfigError::Env {
                    var: var.to_owned(),
                    value: value.to_owned(),
                })?;
                self.env_enabled
                    .insert(normalize(name), (on, var.to_owned()));
            }
        }
        Ok(self)
    }

    /// [`with_env`](Self::with_env) with the process environment (lossily converted to UTF-8).
    ///
    /// # Errors
    /// As [`with_env`](Self::with_env).
    pub fn with_process_env(self) -> Result<Self, ConfigError> {
        let vars = std::env::vars_os().map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        });
        self.with_env(vars)
    }

    /// `None` when `plugin` is enabled; otherwise what disabled it (the most specific setting
    /// wins: see [the precedence](crate::config#enabling-and-disabling)). The value
    /// [`PluginInfo::disabled`](crate::plugin::PluginInfo::disabled) starts with (the host's
    /// [`enable`](crate::PluginHost::enable) and [`disable`](crate::PluginHost::disable)
    /// change that one, not the configuration).
    ///
    /// ```
    /// use hookwire::config::{DisabledBy, HostConfig};
    /// let mut config = HostConfig::new();
    /// config.disable("audit");
    /// assert_eq!(config.disabled_by("audit"), Some(DisabledBy::Host));
    /// assert_eq!(config.disabled_by("token-auth"), None);
    /// ```
    pub fn disabled_by(&self, plugin: &str) -> Option<DisabledBy> {
        if self.has_env_overrides() {
            let key = normalize(plugin);
            if let Some((on, var)) = self.env_enabled.get(&key) {
                return match on {
                    true => None,
                    false => Some(DisabledBy::Env { var: var.clone() }),
                };
            }
            if self.env_disabled.contains(&key) {
                return Some(DisabledBy::Env {
                    var: DISABLE_VAR.to_owned(),
                });
            }
        }
        if self.host_disabled.contains(plugin) {
            return Some(DisabledBy::Host);
        }
        match self.sections.get(plugin).and_then(|s| s.enabled) {
            Some(false) => Some(DisabledBy::File {
                path: self.source.clone().unwrap_or_else(|| NO_FILE.to_owned()),
            }),
            _ => None,
        }
    }

    /// Whether any environment override was read.
    pub(crate) fn has_env_overrides(&self) -> bool {
        !self.env_enabled.is_empty() || !self.env_disabled.is_empty()
    }

    /// The plugin's `lazy` setting, if its section has one.
    pub fn lazy(&self, plugin: &str) -> Option<bool> {
        self.sections.get(plugin)?.lazy
    }

    /// The plugin's `[plugins.<name>.priority]` table (hook name -> priority), if present.
    pub fn priority_overrides(&self, plugin: &str) -> Option<&BTreeMap<String, i32>> {
        self.sections.get(plugin)?.priority.as_ref()
    }

    /// Deserialises the plugin's section, minus the reserved keys, into `T`; a missing section
    /// deserialises from an empty table (so `#[serde(default)]` configs work).
    ///
    /// # Errors
    /// [`ConfigError::UnknownKey`] for a key `T` does not use (even without
    /// `deny_unknown_fields`), [`ConfigError::InvalidPluginConfig`] when serde rejects a value.
    /// Both name the key, except inside `#[serde(flatten)]` fields and untagged enums, which
    /// serde reads through a buffer (and where `deny_unknown_fields` does not work either):
    /// there unknown keys go unnoticed and a bad value is reported at the section.
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    pub fn plugin_config<T: DeserializeOwned>(&self, plugin: &str) -> Result<T, ConfigError> {
        let path = self.source.as_deref().unwrap_or(NO_FILE);
        let text = self.text.as_deref().unwrap_or("");
        let doc = DeTable::parse(text)
            .map(Spanned::into_inner)
            .unwrap_or_default();
        let found = take_table(doc, "plugins").and_then(|p| take_table(p.into_inner(), plugin));
        let located = found.is_some();
        let mut section = found.unwrap_or_else(|| Spanned::new(0..0, DeTable::default()));
        for key in RESERVED {
            section.get_mut().remove(key);
        }
        let line_of = |span: Range<usize>| located.then(|| line_col(text, span.start).0);
        let mut unknown = Vec::new();
        let de = toml::de::Deserializer::from(section.clone());
        let value = serde_ignored::deserialize(de, |p| unknown.push(segments(&p)));
        let value: T = value.map_err(|e| {
            let keys = e
                .span()
                .and_then(|s| locate(table_entries(section.get_ref()), s.start));
            ConfigError::InvalidPluginConfig {
                path: path.to_owned(),
                plugin: plugin.to_owned(),
                key: keys.map(|k| dotted(&k)),
                line: e.span().and_then(line_of),
                message: e.message().trim().to_owned(),
            }
        })?;
        match unknown.first() {
            None => Ok(value),
            Some(keys) => Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                plugin: plugin.to_owned(),
                key: dotted(keys),
                line: key_span(section.get_ref(), keys).and_then(line_of),
            }),
        }
    }

    /// [`plugin_config`](Self::plugin_config) with `layer`'s config table under the plugin's
    /// section: each key from the file if it sets it, else from the layer (tables merged key
    /// by key), else from `T`'s defaults. Values of the merged table carry no positions, so
    /// errors name the files and the key but no line.
    #[cfg(feature = "config")]
    pub(crate) fn plugin_config_over<T: DeserializeOwned>(
        &self,
        plugin: &str,
        layer: &Layer,
    ) -> Result<T, ConfigError> {
        let mut merged = layer.config.clone();
        let mut file_keys = Table::new();
        if let Some(text) = self.text.as_deref() {
            let doc: Table = toml::from_str(text).unwrap_or_default();
            if let Some(Value::Table(section)) = doc.get("plugins").and_then(|p| p.get(plugin)) {
                file_keys = section.clone();
                for key in RESERVED {
                    file_keys.remove(key);
                }
            }
        }
        merge_tables(&mut merged, &file_keys);
        let file = self.source.as_deref().unwrap_or(NO_FILE);
        // The file that set a key's first segment (the host file wins), for messages.
        let from = |keys: &[String]| match keys.first() {
            Some(k) if file_keys.contains_key(k) => file.to_owned(),
            Some(k) if layer.config.contains_key(k) => layer.source.clone(),
            _ => format!("{} under {file}", layer.source),
        };
        let mut unknown = Vec::new();
        let value = serde_ignored::deserialize(Value::Table(merged), |p| {
            unknown.push(segments(&p));
        });
        let value: T = value.map_err(|e| ConfigError::InvalidPluginConfig {
            path: format!("{} under {file}", layer.source),
            plugin: plugin.to_owned(),
            key: None,
            line: None,
            message: e.message().trim().to_owned(),
        })?;
        match unknown.first() {
            None => Ok(value),
            Some(keys) => Err(ConfigError::UnknownKey {
                path: from(keys),
                plugin: plugin.to_owned(),
                key: dotted(keys),
                line: None,
            }),
        }
    }

    /// The keys of the plugin's section that are its own (not `enabled`, `lazy`, `priority`),
    /// sorted; empty without a section.
    pub(crate) fn own_keys(&self, plugin: &str) -> &[String] {
        self.sections.get(plugin).map_or(&[], |s| &s.own_keys)
    }

    /// Whether any plugin section has keys of the plugin's own.
    pub(crate) fn has_own_keys(&self) -> bool {
        self.sections.values().any(|s| !s.own_keys.is_empty())
    }

    /// Whether the file has a `[plugins.<plugin>]` section.
    pub fn has_section(&self, plugin: &str) -> bool {
        self.sections.contains_key(plugin)
    }

    /// The names of all plugin sections in the file, sorted.
    pub fn section_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.sections.keys().map(String::as_str)
    }

    /// The file this configuration was loaded or parsed from, if any.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The file's top-level keys other than `plugins`: the host application's own settings.
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    pub fn host_table(&self) -> &Table {
        &self.host
    }

    /// Disables `plugin` from the host's code ([`DisabledBy::Host`]); the file cannot re-enable
    /// it, but `HOOKWIRE_PLUGIN_<NAME>_ENABLED=true` can.
    pub fn disable(&mut self, plugin: &str) {
        self.host_disabled.insert(plugin.to_owned());
    }
}
