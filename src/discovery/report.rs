//! [`DiscoveryReport`]: for every plugin found, where it came from, whether it loaded, and
//! why not. `Display` is what an operator reads; `Serialize` is for scripts.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::manifest::{ManifestError, PluginManifest};
use super::scan::{FolderError, ScanStats, Shadowed};
use crate::config::DisabledBy;

/// What [`PluginHost::discover`](crate::PluginHost::discover) found and did.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct DiscoveryReport {
    /// Every plugin found (linked, in a folder, or added by code before), sorted by name.
    pub plugins: Vec<DiscoveredPlugin>,
    /// Manifests hidden by one of the same name in a later folder.
    pub shadowed: Vec<Shadowed>,
    /// Folders that could not be listed.
    pub folder_errors: Vec<FolderError>,
    /// What the folder scan did (manifests parsed, reused, hashed).
    pub scan: ScanStats,
}

impl DiscoveryReport {
    /// The entry for plugin `name`.
    pub fn get(&self, name: &str) -> Option<&DiscoveredPlugin> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// The names of the plugins added to the host (enabled or disabled by configuration).
    pub fn loaded(&self) -> impl Iterator<Item = &str> + '_ {
        self.plugins
            .iter()
            .filter(|p| p.status.is_loaded())
            .map(|p| p.name.as_str())
    }

    /// Whether anything needs an operator's attention: an invalid manifest, a duplicate, a
    /// folder that could not be listed, a manifest naming no linked plugin.
    pub fn has_problems(&self) -> bool {
        !self.folder_errors.is_empty() || self.plugins.iter().any(|p| p.status.is_problem())
    }
}

/// One plugin found by discovery.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DiscoveredPlugin {
    /// The plugin's name (for an invalid manifest: its folder's name).
    pub name: String,
    /// Where it came from.
    pub source: PluginSource,
    /// Whether it loaded, and why not.
    pub status: DiscoveryStatus,
    /// The trusted key that signed its `plugin.toml` (feature `security`, when discovery was
    /// given a [`SignaturePolicy`](crate::security::SignaturePolicy) and the signature
    /// verified); `None` for unsigned and linked plugins. What a host maps to a trust level.
    #[cfg(feature = "security")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<crate::security::KeyId>,
}

/// Where a discovered plugin came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "source")]
#[non_exhaustive]
pub enum PluginSource {
    /// Linked into the binary ([`submit_plugin!`](crate::submit_plugin)), without a manifest.
    Linked {
        /// Where it was submitted (`file:line`).
        location: &'static str,
    },
    /// A manifest in a plugin folder (for `kind = "linked"`, with the linked plugin it
    /// configures, if found).
    Folder {
        /// The manifest.
        manifest: PathBuf,
        /// The linked plugin it configures: where it was submitted.
        #[serde(skip_serializing_if = "Option::is_none")]
        linked: Option<&'static str>,
    },
    /// Added by the host's code before discovery ran.
    Code,
}

/// Whether a discovered plugin was added to the host, and why not.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
#[non_exhaustive]
pub enum DiscoveryStatus {
    /// Added to the host ([`start`](crate::PluginHost::start) brings it up).
    Loaded {
        /// It starts on the first call of one of its hooks.
        lazy: bool,
    },
    /// Added, but disabled by configuration (it is not started).
    Disabled(DisabledBy),
    /// Not added: a condition of its manifest failed (the reason says which).
    Skipped(String),
    /// Not added: its manifest is not valid.
    #[serde(serialize_with = "as_display")]
    Invalid(ManifestError),
    /// Found, not loadable: `kind = "process"` plugins need hookwire's cargo feature
    /// `process`, which this build lacks.
    ProcessNotSupported,
    /// Not added: the manifest asks for something this host cannot do (the reason says
    /// what, and what to write instead).
    NotLoadable(String),
    /// Not added: a `kind = "linked"` manifest, but no linked plugin has its name.
    NoLinkedPlugin,
    /// Not added: several linked plugins have this name (where each was submitted).
    DuplicateLinked(Vec<&'static str>),
    /// Not added: the host has a plugin of this name already.
    AlreadyAdded,
    /// Not added: signatures are required
    /// ([`SignaturePolicy::require`](crate::security::SignaturePolicy::require)) and its
    /// `plugin.toml` is unsigned, signed by a key the host does not trust, or its signature
    /// does not match (the error says which file and key).
    #[cfg(feature = "security")]
    #[serde(serialize_with = "as_display")]
    SignatureRejected(crate::security::SignatureError),
}

impl DiscoveryStatus {
    /// Whether the plugin was added to the host ([`Loaded`](Self::Loaded) or
    /// [`Disabled`](Self::Disabled)).
    pub fn is_loaded(&self) -> bool {
        matches!(self, Self::Loaded { .. } | Self::Disabled(_))
    }

    /// Whether an operator must fix something (an invalid manifest, a duplicate, a manifest
    /// naming no linked plugin); disabled, skipped and not-yet-supported plugins are not.
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            Self::Invalid(_)
                | Self::NoLinkedPlugin
                | Self::DuplicateLinked(_)
                | Self::NotLoadable(_)
        ) || self.is_signature_rejected()
    }

    #[cfg(feature = "security")]
    fn is_signature_rejected(&self) -> bool {
        matches!(self, Self::SignatureRejected(_))
    }

    #[cfg(not(feature = "security"))]
    fn is_signature_rejected(&self) -> bool {
        false
    }
}

impl fmt::Display for DiscoveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loaded { lazy: false } => f.write_str("loaded"),
            Self::Loaded { lazy: true } => f.write_str("loaded (lazy)"),
            Self::Disabled(by) => write!(f, "disabled by {by}"),
            Self::Skipped(why) => write!(f, "skipped: {why}"),
            Self::Invalid(e) => write!(f, "invalid manifest: {e}"),
            Self::ProcessNotSupported => {
                f.write_str("found, not loadable: process plugins need hookwire's cargo feature `process`; enable it")
            }
            Self::NotLoadable(why) => write!(f, "not loaded: {why}"),
            Self::NoLinkedPlugin => f.write_str(
                "not loaded: the manifest is of kind \"linked\" but no linked plugin has this name (is its crate linked? a host needs `use plugin_crate as _;`)",
            ),
            Self::DuplicateLinked(at) => write!(
                f,
                "not loaded: {} linked plugins have this name (submitted at {}); rename one or link only one",
                at.len(),
                at.join(" and ")
            ),
            Self::AlreadyAdded => f.write_str("not loaded: the host has a plugin of this name already"),
            #[cfg(feature = "security")]
            Self::SignatureRejected(e) => write!(f, "not loaded: signature rejected: {e}"),
        }
    }
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linked { location } => write!(f, "linked ({location})"),
            Self::Folder {
                manifest,
                linked: Some(at),
            } => write!(f, "{} + linked ({at})", manifest.display()),
            Self::Folder {
                manifest,
                linked: None,
            } => write!(f, "{}", manifest.display()),
            Self::Code => f.write_str("code"),
        }
    }
}

impl fmt::Display for DiscoveryReport {
    /// One line of totals, then one line per plugin (name, status, source), then the
    /// shadowed manifests and folder errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loaded = self.plugins.iter().filter(|p| p.status.is_loaded()).count();
        let plural =
            |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        let (found, folders, parsed) = (self.plugins.len(), self.scan.folders, self.scan.parsed);
        writeln!(
            f,
            "{found} {} found, {loaded} loaded; {folders} {} scanned, {parsed} {} parsed, {} reused",
            plural(found, "plugin", "plugins"),
            plural(folders, "folder", "folders"),
            plural(parsed, "manifest", "manifests"),
            self.scan.reused
        )?;
        let width = self.plugins.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &self.plugins {
            // An invalid manifest's error names its file already.
            match &p.status {
                DiscoveryStatus::Invalid(_) => writeln!(f, "  {:width$}  {}", p.name, p.status)?,
                _ => writeln!(f, "  {:width$}  {}  [{}]", p.name, p.status, p.source)?,
            }
        }
        for s in &self.shadowed {
            writeln!(
                f,
                "  note: `{}` from {} is used; {} is ignored (a later folder wins)",
                s.name,
                s.used.display(),
                s.ignored.display()
            )?;
        }
        for e in &self.folder_errors {
            writeln!(f, "  error: {}: {}", e.folder.display(), e.message)?;
        }
        Ok(())
    }
}

/// Serialises a value as its `Display` text.
pub(crate) fn as_display<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Serialises a scanned manifest as the manifest, or `{"error": message}`.
pub(crate) fn manifest_result<S: Serializer>(
    v: &Result<Arc<PluginManifest>, ManifestError>,
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Error<'a> {
        #[serde(serialize_with = "as_display")]
        error: &'a ManifestError,
    }
    match v {
        Ok(m) => m.serialize(s),
        Err(error) => Error { error }.serialize(s),
    }
}
