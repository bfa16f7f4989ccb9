//! What [`PluginHost`](crate::PluginHost) operations return: [`PluginError`] and
//! [`StartReport`].

use std::sync::Arc;

use super::config::{ConfigError, DisabledBy};
use super::deps::{DependencyError, DependencyProblem};
use super::lifecycle::PluginState;

/// What went wrong with a [`PluginHost`](crate::PluginHost) operation; the host is unchanged after it.
#[derive(Debug, thiserror::Error, Clone)]
#[non_exhaustive]
pub enum PluginError {
    /// The host's [`PluginGate`](super::PluginGate) refused the plugin (its trust level, a
    /// permission it declares, a hook it implements): nothing of it was added.
    #[error(transparent)]
    Refused(super::Refusal),
    /// The host's [`PluginGate`](super::PluginGate) names hooks or services the host does not
    /// declare ([`PluginGate::check_names`](super::PluginGate::check_names)): a security
    /// policy whose rule for a misspelt hook would guard nothing. Nothing of that start was
    /// registered or started; the plugins it would have brought up are `Failed` with this
    /// message. Fix the gate's names (the message says which, and what the host declares) and
    /// build the host again.
    #[error("{0}")]
    Gate(Arc<crate::BoxError>),
    /// A plugin of that name was added already.
    #[error("plugin `{plugin}` was added already; plugin names must be unique: remove the other copy, or give this instance a name of its own with `PluginHost::add_as(\"{plugin}-2\", plugin)` (or `add_lazy_as`)")]
    Duplicate {
        /// The name.
        plugin: String,
    },
    /// A plugin's name (from its `meta()`, or given to `add_as`) is empty.
    #[error("a plugin name must not be empty; give it one in its `meta()` or with `PluginHost::add_as(\"my-plugin\", plugin)`")]
    EmptyName,
    /// The dependencies of the plugins cannot be resolved; nothing was started.
    #[error("{error}{}", disabled_note(.error, .disabled))]
    Dependencies {
        /// Every problem found.
        error: DependencyError,
        /// Plugins that are disabled (and by what): a "missing" dependency may be one of them.
        disabled: Vec<(String, DisabledBy)>,
    },
    /// The configuration is invalid (a malformed environment override); nothing was started.
    #[error("invalid plugin configuration: {0}")]
    Config(Arc<ConfigError>),
    /// A plugin failed to register, init or start (returned by
    /// `testing::PluginHarness::start`, feature `testing`; a
    /// [`PluginHost::start`](crate::PluginHost::start) lists failures in its [`StartReport`] instead).
    #[error("plugin `{plugin}` failed: {reason}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// No plugin of that name.
    #[error("no plugin `{plugin}`; known plugins: {}", if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
    Unknown {
        /// The name asked for.
        plugin: String,
        /// The names there are.
        known: Vec<String>,
    },
    /// The plugin cannot be removed (or stopped) while plugins that depend on it are running.
    #[error("plugin `{plugin}` is required by running plugins {}; remove them first", .dependents.join(", "))]
    Required {
        /// The plugin.
        plugin: String,
        /// Its running dependents.
        dependents: Vec<String>,
    },
    /// The plugin is disabled (by the configuration, or by
    /// [`PluginHost::disable`](crate::PluginHost::disable)):
    /// [`restart`](crate::PluginHost::restart) and [`replace`](crate::PluginHost::replace)
    /// leave it off; [`enable`](crate::PluginHost::enable) brings it up.
    #[error("plugin `{plugin}` is {}: enable it first (`PluginHost::enable`)", .by.phrase())]
    Disabled {
        /// The plugin.
        plugin: String,
        /// What disabled it.
        by: DisabledBy,
    },
    /// A plugin brought up while the host runs ([`enable`](crate::PluginHost::enable),
    /// [`restart`](crate::PluginHost::restart), [`replace`](crate::PluginHost::replace))
    /// requires a plugin that is there but not running; nothing changed.
    #[error("plugin `{plugin}` requires `{dependency}`, which is {}", dependency_hint(.dependency, .state, .disabled.as_ref()))]
    DependencyNotRunning {
        /// The plugin.
        plugin: String,
        /// The dependency it requires.
        dependency: String,
        /// The dependency's state.
        state: PluginState,
        /// What disabled the dependency, if it is disabled.
        disabled: Option<DisabledBy>,
    },
    /// [`PluginHost::restart`](crate::PluginHost::restart) was asked for a plugin that is
    /// neither stopped nor failed.
    #[error("plugin `{plugin}` is {state}: only a stopped or failed plugin can be restarted; {}", restart_hint(.state))]
    NotRestartable {
        /// The plugin.
        plugin: String,
        /// Its state.
        state: PluginState,
    },
    /// [`PluginHost::replace`](crate::PluginHost::replace) was asked for a plugin that has
    /// not been started yet, or whose start is under way.
    #[error("plugin `{plugin}` is {state}: {}", replace_hint(.state))]
    NotReplaceable {
        /// The plugin.
        plugin: String,
        /// Its state.
        state: PluginState,
    },
    /// The instance given to [`PluginHost::replace`](crate::PluginHost::replace) has another
    /// name than the plugin it should replace.
    #[error("cannot replace plugin `{plugin}` by an instance named `{found}`: a replacement keeps the name; give it the same name in its `meta()`, or `remove` `{plugin}` and add the new plugin")]
    NameMismatch {
        /// The plugin to replace.
        plugin: String,
        /// The name the new instance's metadata gives.
        found: String,
    },
}

fn restart_hint(state: &PluginState) -> &'static str {
    match state {
        PluginState::Discovered => "it has not been started yet: call `PluginHost::start`",
        PluginState::Registered | PluginState::Initialized => {
            "it is registered or starting already: call it, or wait for `PluginHost::start` to return"
        }
        _ => "to run a new instance in its place use `PluginHost::replace`, or `PluginHost::stop` it first",
    }
}

fn dependency_hint(dependency: &str, state: &PluginState, disabled: Option<&DisabledBy>) -> String {
    match disabled {
        Some(by) => format!("{}: enable `{dependency}` first", by.phrase()),
        None => format!("not running ({state}): start or restart `{dependency}` first"),
    }
}

fn replace_hint(state: &PluginState) -> &'static str {
    match state {
        PluginState::Discovered => {
            "it has not been started yet: call `PluginHost::start` first, or `remove` it and add the new instance"
        }
        _ => "its start is under way: replace it once `PluginHost::start` returns",
    }
}

/// A note for each disabled plugin that a problem names as missing: it is there, but off.
fn disabled_note(error: &DependencyError, disabled: &[(String, DisabledBy)]) -> String {
    let missing = |name: &str| {
        error.problems().iter().any(|p| {
            matches!(p, DependencyProblem::MissingDependency { dependency, .. } if dependency == name)
        })
    };
    disabled
        .iter()
        .filter(|(name, _)| missing(name))
        .fold(String::new(), |mut s, (name, by)| {
            s.push_str(&format!("\n  note: plugin `{name}` is {}", by.phrase()));
            s
        })
}

/// What [`PluginHost::start`](crate::PluginHost::start) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct StartReport {
    /// The plugins this call handled, in dependency order (dependencies first).
    pub start_order: Vec<String>,
    /// The plugins it started, in the order they started.
    pub started: Vec<String>,
    /// Lazy plugins it registered; they start on their first call.
    pub lazy: Vec<String>,
    /// Plugins that failed, with the reason, in start order.
    pub failed: Vec<(String, String)>,
    /// Disabled plugins, and by what.
    pub disabled: Vec<(String, DisabledBy)>,
    /// `(plugin, optional dependency)` pairs the plugin runs without: the dependency is
    /// absent (sorted, first), or failed (in start order, after those; the failure is in
    /// [`failed`](Self::failed)).
    pub skipped_optional: Vec<(String, String)>,
    /// Sections of the config file that name no plugin (a typo, or a plugin not added).
    pub unknown_config_sections: Vec<String>,
    /// `(plugin, key)` pairs: keys of a started plugin's config section (other than
    /// `enabled`, `lazy`, `priority`) that it never read — it did not call
    /// `PluginContext::config` (feature `config`) in `init` or `start`: a
    /// misspelt reserved key (`enabeld = false`), or settings for a plugin that takes none.
    /// (A plugin that reads its configuration gets an error for a key it does not know.)
    pub unread_config_keys: Vec<(String, String)>,
}

/// Writes `label N: a, b, c` on a line of its own (after a newline unless `first`), one item
/// per element, nothing at all for no element.
pub(crate) fn write_group<I: IntoIterator>(
    f: &mut std::fmt::Formatter<'_>,
    label: &str,
    items: I,
    mut item: impl FnMut(&mut std::fmt::Formatter<'_>, I::Item) -> std::fmt::Result,
) -> std::fmt::Result
where
    I::IntoIter: ExactSizeIterator,
{
    let items = items.into_iter();
    if items.len() == 0 {
        return Ok(());
    }
    write!(f, "\n{label} {}: ", items.len())?;
    for (i, it) in items.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        item(f, it)?;
    }
    Ok(())
}

/// What an operator would log after a start: one line per kind of result, in this order,
/// each only when it lists something (the first always):
///
/// ```text
/// started 3: storage, metrics, token-auth
/// lazy 1: reports (each starts on its first call)
/// failed 1: mailer (init failed: smtp host not set)
/// disabled 2: legacy-audit (by environment variable HOOKWIRE_PLUGINS_DISABLE), old-cache (at run time)
/// running without optional dependencies 1: rate-limit (without redis)
/// unknown config sections 1: [plugins.storagee]
/// unread config keys 1: [plugins.metrics] flush_msec
/// ```
///
/// With nothing started, the first line is `started none`. The failure reasons are the
/// plugins' states' ([`PluginState::Failed`](crate::plugin::PluginState::Failed)), bounded already.
impl std::fmt::Display for StartReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.started.is_empty() {
            f.write_str("started none")?;
        } else {
            write!(
                f,
                "started {}: {}",
                self.started.len(),
                self.started.join(", ")
            )?;
        }
        if !self.lazy.is_empty() {
            write!(
                f,
                "\nlazy {}: {} (each starts on its first call)",
                self.lazy.len(),
                self.lazy.join(", ")
            )?;
        }
        write_group(f, "failed", &self.failed, |f, (p, why)| {
            write!(f, "{p} ({why})")
        })?;
        write_group(f, "disabled", &self.disabled, |f, (p, by)| match by {
            DisabledBy::Runtime => write!(f, "{p} (at run time)"),
            by => write!(f, "{p} (by {by})"),
        })?;
        write_group(
            f,
            "running without optional dependencies",
            &self.skipped_optional,
            |f, (p, dep)| write!(f, "{p} (without {dep})"),
        )?;
        write_group(
            f,
            "unknown config sections",
            &self.unknown_config_sections,
            |f, s| write!(f, "[plugins.{s}]"),
        )?;
        write_group(
            f,
            "unread config keys",
            &self.unread_config_keys,
            |f, (p, key)| write!(f, "[plugins.{p}] {key}"),
        )
    }
}
