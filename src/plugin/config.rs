//! Host configuration for plugins: one TOML file plus environment overrides.
//!
//! [`HostConfig`] interprets only the `[plugins]` table of the file; every other top-level key
//! belongs to the host application and stays available through [`HostConfig::host_table`].
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
//! ```
//! use hookwire::{DisabledBy, Enablement, HostConfig};
//! #[derive(serde::Deserialize)]
//! struct TokenAuth { tokens: Vec<String> }
//!
//! let text = "[server]\nport = 8080\n\n[plugins.token-auth]\nlazy = true\ntokens = [\"abc\"]\n";
//! let config = HostConfig::parse(text, "hookwire.toml")?
//!     .with_env([("HOOKWIRE_PLUGINS_DISABLE", "audit")])?;
//! let auth: TokenAuth = config.plugin_config("token-auth")?;
//! assert_eq!(auth.tokens, ["abc"]);
//! assert_eq!(config.lazy("token-auth"), Some(true));
//! assert_eq!(config.enablement("token-auth"), Enablement::Enabled);
//! assert_eq!(
//!     config.enablement("audit"),
//!     Enablement::Disabled(DisabledBy::Env { var: "HOOKWIRE_PLUGINS_DISABLE".into() })
//! );
//! assert_eq!(config.host_table()["server"]["port"].as_integer(), Some(8080));
//! # Ok::<(), hookwire::ConfigError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

const DISABLE_VAR: &str = "HOOKWIRE_PLUGINS_DISABLE";
const RESERVED: [&str; 3] = ["enabled", "lazy", "priority"];
const ACCEPTED: &str = "true, false, 1, 0, yes, no, on, off";
const NO_FILE: &str = "(no config file)";
const PLUGINS: &str = "a table of `[plugins.<name>]` sections";
const SECTION: &str = "a table (`[plugins.<name>]`)";
const BOOL: &str = "a boolean (`true` or `false`)";
const PRIORITIES: &str = "a table of `hook-name = <integer priority>`";
const I32: &str = "an integer between -2147483648 and 2147483647";

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
}

impl std::fmt::Display for DisabledBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File { path } => write!(f, "`enabled = false` in {path}"),
            Self::Env { var } => write!(f, "environment variable {var}"),
            Self::Host => f.write_str("the host"),
        }
    }
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

/// The host's plugin configuration: a parsed TOML file plus environment overrides.
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    source: Option<String>,
    /// The original text, re-parsed with spans by [`HostConfig::plugin_config`].
    text: Option<Arc<str>>,
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
            sections.insert(
                name.clone(),
                Section {
                    enabled,
                    lazy,
                    priority,
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

    /// Whether `plugin` is enabled and, if not, by what (see the module docs for precedence).
    pub fn enablement(&self, plugin: &str) -> Enablement {
        let key = normalize(plugin);
        if let Some((on, var)) = self.env_enabled.get(&key) {
            return match on {
                true => Enablement::Enabled,
                false => Enablement::Disabled(DisabledBy::Env { var: var.clone() }),
            };
        }
        if self.env_disabled.contains(&key) {
            return Enablement::Disabled(DisabledBy::Env {
                var: DISABLE_VAR.to_owned(),
            });
        }
        if self.host_disabled.contains(plugin) {
            return Enablement::Disabled(DisabledBy::Host);
        }
        match self.sections.get(plugin).and_then(|s| s.enabled) {
            Some(false) => Enablement::Disabled(DisabledBy::File {
                path: self.source.clone().unwrap_or_else(|| NO_FILE.to_owned()),
            }),
            _ => Enablement::Enabled,
        }
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
    pub fn host_table(&self) -> &Table {
        &self.host
    }

    /// Disables `plugin` from the host's code ([`DisabledBy::Host`]); the file cannot re-enable
    /// it, but `HOOKWIRE_PLUGIN_<NAME>_ENABLED=true` can.
    pub fn disable(&mut self, plugin: &str) {
        self.host_disabled.insert(plugin.to_owned());
    }
}

/// A configuration problem; every message names the file, variable, plugin and key to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read plugin config file {path}: {source}; check the path and permissions")]
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

fn at(path: &str, line: &Option<u32>) -> String {
    line.map_or_else(|| path.to_owned(), |l| format!("{path}, line {l}"))
}

fn normalize(name: &str) -> String {
    name.replace(['-', '.'], "_").to_uppercase()
}

fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Table(_) => "a table".to_owned(),
        Value::Array(_) => "an array".to_owned(),
        other => format!("{} {other}", other.type_str()),
    }
}

/// Joins keys with `.`, quoting those that are not bare TOML keys.
fn dotted<S: AsRef<str>>(keys: &[S]) -> String {
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let parts: Vec<String> = keys
        .iter()
        .map(|k| {
            if bare(k.as_ref()) {
                k.as_ref().to_owned()
            } else {
                format!("{:?}", k.as_ref())
            }
        })
        .collect();
    parts.join(".")
}

/// 1-based line and column (in characters) of byte offset `pos`, saturating at `u32::MAX`.
fn line_col(text: &str, pos: usize) -> (u32, u32) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    let line = before.matches('\n').count() + 1;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (clamp(line), clamp(column))
}

fn take_table<'i>(mut table: DeTable<'i>, key: &str) -> Option<Spanned<DeTable<'i>>> {
    let value = table.remove(key)?;
    let span = value.span();
    match value.into_inner() {
        DeValue::Table(t) => Some(Spanned::new(span, t)),
        _ => None,
    }
}

fn segments(path: &serde_ignored::Path<'_>) -> Vec<String> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut keys = segments(parent);
            keys.push(index.to_string());
            keys
        }
        P::Map { parent, key } => {
            let mut keys = segments(parent);
            keys.push(key.clone());
            keys
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            segments(parent)
        }
    }
}

/// The span of the last key of `keys` (or array element) below `root`.
fn key_span<S: AsRef<str>>(root: &DeTable<'_>, keys: &[S]) -> Option<Range<usize>> {
    let (first, rest) = keys.split_first()?;
    let (key, mut value) = root.get_key_value(first.as_ref())?;
    let mut span = key.span();
    for seg in rest {
        value = match value.get_ref() {
            DeValue::Table(t) => {
                let (k, v) = t.get_key_value(seg.as_ref())?;
                span = k.span();
                v
            }
            DeValue::Array(a) => {
                let v = a.get(seg.as_ref().parse::<usize>().ok()?)?;
                span = v.span();
                v
            }
            _ => return None,
        };
    }
    Some(span)
}

type Entry<'a, 'i> = (String, Range<usize>, &'a Spanned<DeValue<'i>>);

fn table_entries<'a, 'i>(table: &'a DeTable<'i>) -> Vec<Entry<'a, 'i>> {
    table
        .iter()
        .map(|(k, v)| (k.get_ref().to_string(), k.span(), v))
        .collect()
}

/// The path of the deepest key or element among `entries` whose key or value spans `pos`.
fn locate(entries: Vec<Entry<'_, '_>>, pos: usize) -> Option<Vec<String>> {
    entries.into_iter().find_map(|(seg, key, child)| {
        let below = match child.get_ref() {
            DeValue::Table(t) => table_entries(t),
            DeValue::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v.span(), v))
                .collect(),
            _ => Vec::new(),
        };
        let hit = key.contains(&pos) || child.span().contains(&pos);
        let mut path = locate(below, pos).or_else(|| hit.then(Vec::new))?;
        path.insert(0, seg);
        Some(path)
    })
}
