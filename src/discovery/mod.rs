//! Finding plugins (feature `discovery`): plugins linked into the binary, and manifest folders
//! (`plugins/<name>/plugin.toml`), validated and cached, all added to one
//! [`PluginHost`].
//!
//! - **Linked plugins**: a plugin crate writes `hookwire::submit_plugin!(TokenAuth::default);`
//!   and the host calls [`PluginHost::discover_linked`](crate::PluginHost::discover_linked)
//!   (or [`discover`](crate::PluginHost::discover)). They come in name order, never link
//!   order. **The trap**: a crate that only appears in `Cargo.toml` is not linked at all, so
//!   its plugin is not found — the binary needs `use plugin_crate as _;`.
//! - **Manifest folders**: an ordered list of folders (say system, user, project; a later
//!   folder wins, and says so in the report), each holding one folder per plugin with a
//!   [`PluginManifest`] (`plugin.toml`). A `kind = "linked"` manifest enables and configures
//!   the linked plugin of its name — its `config` table above the plugin's defaults and below
//!   the host's config file, its `priority` overrides, `lazy`, and its
//!   `requires`/`optional`/`conflicts`/`host_api` added to the plugin's dependencies; its
//!   `conditions` decide whether it loads. `kind = "process"` manifests are
//!   `external::ProcessPlugin`s with feature `process` (without it,
//!   found and reported as not loadable); with feature `security` a signed one carries its
//!   signer to the host's gate, and one that pins its files starts from a verified copy.
//! - **Validation**: every field is checked (`serde` with `deny_unknown_fields`, then names,
//!   semver, limits); an error names the file, line and column, the field and what was
//!   expected. One bad manifest never stops the others.
//! - **Caching**: the host keeps a [`Scanner`]; a rescan re-parses only the manifests that
//!   changed (see [`scan`](Scanner) for the rules).
//! - **Hot reload** (feature `watch`): `PluginHost::watch`
//!   follows the folders; a changed manifest replaces its plugin (an invalid one is reported
//!   and the old version keeps running), an added folder loads a plugin, a removed one
//!   unloads it.
//! - **Report**: [`DiscoveryReport`] lists every plugin found (linked, in a folder, or added
//!   by code), where it came from, whether it loaded and why not; print it for an operator or
//!   serialise it for a script.
//!
//! Discovery sits above [`plugin`](crate::PluginHost): it reads files and adds plugins through
//! the host; the host knows nothing of files.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
//! use hookwire::{Plugin, PluginHost, PluginMeta, Registrar, RegisterError};
//!
//! // A plugin linked into this binary.
//! #[derive(Default)]
//! struct Audit;
//! impl Plugin for Audit {
//!     fn meta(&self) -> PluginMeta { PluginMeta::new("audit", "1.0.0") }
//!     fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> { Ok(()) }
//! }
//! hookwire::submit_plugin!(Audit::default);
//!
//! // A plugin folder with one manifest, which makes `audit` lazy and needs feature "beta".
//! let plugins = std::env::temp_dir().join(format!("hookwire-doc-{}", std::process::id()));
//! std::fs::create_dir_all(plugins.join("audit"))?;
//! std::fs::write(plugins.join("audit/plugin.toml"), r#"
//! name = "audit"
//! version = "1.0.0"
//! kind = "linked"
//! lazy = true
//! [conditions]
//! features = ["beta"]
//! "#)?;
//!
//! let host = PluginHost::new();
//! let report = host.discover(&DiscoveryOptions::new().folder(&plugins).features(["beta"]));
//! println!("{report}");
//! assert!(matches!(report.get("audit").unwrap().status, DiscoveryStatus::Loaded { lazy: true }));
//! assert_eq!(host.start().await.unwrap().lazy, ["audit"]);
//! # std::fs::remove_dir_all(&plugins)?;
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

mod conditions;
mod linked;
mod manifest;
#[cfg(feature = "process")]
mod process;
mod report;
mod scan;
#[cfg(feature = "watch")]
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};

pub use conditions::Conditions;
pub use linked::{linked_plugins, LinkedPlugin};
#[cfg(feature = "security")]
pub(crate) use manifest::open_no_wait;
#[cfg(feature = "security")]
pub(crate) use manifest::read_manifest as read_manifest_bytes;
pub use manifest::{
    is_valid_name, ManifestError, ManifestProblem, PluginKind, PluginManifest, ProcessLimits,
    ProcessSpec, RestartPolicy, MANIFEST_FILE, MAX_MANIFEST_BYTES,
};
pub use report::{DiscoveredPlugin, DiscoveryReport, DiscoveryStatus, PluginSource};
pub use scan::{FolderError, Scan, ScanStats, ScannedPlugin, Scanner, Shadowed, TRUSTED_AGE};
#[cfg(feature = "watch")]
pub use watch::{Watcher, DEFAULT_DEBOUNCE, DEFAULT_GRACE};

use crate::plugin::Layer;
use crate::plugin::{Isolation, PluginError, TrustSource};
use crate::{PluginHost, PluginMeta};

/// Support for [`submit_plugin!`](crate::submit_plugin); not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::Plugin;
    pub use inventory;
}

/// An error of [`PluginHost::discover_linked`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// Several linked plugins have one name.
    #[error("{} linked plugins are named `{name}` (submitted at {}); rename one, or link only one of their crates", .locations.len(), .locations.join(" and "))]
    DuplicateLinked {
        /// The name.
        name: String,
        /// Where each was submitted (`file:line` of its `submit_plugin!`).
        locations: Vec<&'static str>,
    },
    /// The host refused a plugin (an empty name, or a name added already).
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// [`PluginHost::watch`] could not start watching.
    #[cfg(feature = "watch")]
    #[error("cannot watch the plugin folders{}: {reason}", .folder.as_ref().map(|f| format!(" (`{}`: check that it exists)", f.display())).unwrap_or_default())]
    Watch {
        /// The folder that could not be watched, if it is about one.
        folder: Option<PathBuf>,
        /// What went wrong.
        reason: String,
    },
}

/// What [`PluginHost::discover`] looks at: plugin folders, the features the host declares,
/// the environment for manifests' conditions, and whether to add linked plugins.
///
/// ```
/// use hookwire::discovery::DiscoveryOptions;
/// let options = DiscoveryOptions::new()
///     .folder("/usr/share/app/plugins")      // system
///     .folder("/home/ada/.config/app/plugins") // user
///     .folder("plugins")                      // project: wins over the others
///     .features(["beta"])
///     .env([("MODE", "prod")]);
/// ```
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    folders: Vec<PathBuf>,
    features: Vec<String>,
    env: Option<BTreeMap<String, String>>,
    linked: bool,
    #[cfg(feature = "security")]
    signatures: Option<crate::security::SignaturePolicy>,
    #[cfg(feature = "watch")]
    debounce: std::time::Duration,
    #[cfg(feature = "watch")]
    grace: std::time::Duration,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl DiscoveryOptions {
    /// No folders, no features, the process environment, linked plugins added.
    pub fn new() -> Self {
        Self {
            folders: Vec::new(),
            features: Vec::new(),
            env: None,
            linked: true,
            #[cfg(feature = "security")]
            signatures: None,
            #[cfg(feature = "watch")]
            debounce: watch::DEFAULT_DEBOUNCE,
            #[cfg(feature = "watch")]
            grace: watch::DEFAULT_GRACE,
        }
    }

    /// How long [`PluginHost::watch`] waits for the file-system events of a burst to settle
    /// before it applies them (default [`DEFAULT_DEBOUNCE`], 500 ms): an editor's save (write
    /// a temporary file, rename it over the manifest) gives one reload.
    #[cfg(feature = "watch")]
    pub fn debounce(mut self, debounce: std::time::Duration) -> Self {
        self.debounce = debounce;
        self
    }

    /// The grace period of the `stop` of a plugin that [`PluginHost::watch`] replaces or
    /// removes (default [`DEFAULT_GRACE`], 5 s).
    #[cfg(feature = "watch")]
    pub fn grace(mut self, grace: std::time::Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Adds a plugin folder after those given so far (a later folder wins a name).
    pub fn folder(mut self, folder: impl Into<PathBuf>) -> Self {
        self.folders.push(folder.into());
        self
    }

    /// Adds plugin folders, in order, after those given so far.
    pub fn folders<I: IntoIterator<Item = P>, P: Into<PathBuf>>(mut self, folders: I) -> Self {
        self.folders.extend(folders.into_iter().map(Into::into));
        self
    }

    /// Declares features for manifests' `conditions.features` (e.g. `["beta"]`).
    pub fn features<I: IntoIterator<Item = S>, S: Into<String>>(mut self, features: I) -> Self {
        self.features.extend(features.into_iter().map(Into::into));
        self
    }

    /// The environment that manifests' `conditions.env_set`/`conditions.env` see, instead of
    /// the process environment (tests, or a host that filters it).
    pub fn env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = Some(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// Whether [`PluginHost::discover`] adds linked plugins that have no manifest (default
    /// `true`). With `false`, a linked plugin is added only when a `kind = "linked"` manifest
    /// names it: the folders decide what runs.
    pub fn linked_without_manifest(mut self, add: bool) -> Self {
        self.linked = add;
        self
    }

    /// Checks the signatures of the manifests in the folders with `policy` (feature
    /// `security`): when it requires them, a plugin whose `plugin.toml` is unsigned, signed by
    /// an untrusted key or badly signed is not loaded
    /// ([`DiscoveryStatus::SignatureRejected`], also on hot reload: the old version keeps
    /// running); either way, each verified signer is reported in
    /// [`DiscoveredPlugin::signed_by`]. The host's `SecurityPolicy` (its gate) may require
    /// signatures too (`require_signatures`, `trusted_keys` in its `[security]` table, or
    /// `SecurityPolicyBuilder::signatures`): both apply, signatures being required if either
    /// requires them and every key either trusts verifying. Without either, signatures are
    /// not looked at.
    ///
    /// ```
    /// use hookwire::discovery::DiscoveryOptions;
    /// use hookwire::security::{PublicKey, SignaturePolicy};
    /// let release = PublicKey::parse("noCFqDmccGCvKQe4S84SqDkiYYSXd0jadle4H6pYTOo=", "release key")?;
    /// let options = DiscoveryOptions::new()
    ///     .folder("plugins")
    ///     .signatures(SignaturePolicy::new().require(true).trust(release));
    /// # Ok::<(), hookwire::security::KeyError>(())
    /// ```
    #[cfg(feature = "security")]
    #[cfg_attr(docsrs, doc(cfg(feature = "security")))]
    pub fn signatures(mut self, policy: crate::security::SignaturePolicy) -> Self {
        self.signatures = Some(policy);
        self
    }

    /// Applies the signature policy to manifest `m`, read from `path`: the manifest to use
    /// (parsed from the verified bytes) and its signer, or why it is refused. A signature
    /// rejected while signatures are not required is reported to `host` as an integrity
    /// failure (the plugin loads unsigned); one rejected while they are is the caller's to
    /// report.
    #[cfg(feature = "security")]
    pub(crate) fn check_signature(
        &self,
        host: &PluginHost,
        path: &std::path::Path,
        m: Arc<PluginManifest>,
    ) -> Result<
        (Arc<PluginManifest>, Option<crate::security::KeyId>),
        crate::security::SignatureError,
    > {
        use crate::security::{verify_signature, SecurityPolicy, SignatureError};
        // The options' policy and the host's security policy's (its `require_signatures`).
        let gate: Option<&SecurityPolicy> = host.inner.gate.as_deref().and_then(|g| {
            let g: &dyn std::any::Any = g;
            g.downcast_ref::<SecurityPolicy>()
        });
        let from_gate = gate
            .map(SecurityPolicy::signatures)
            .filter(|p| !p.is_empty());
        let both;
        let policy = match (&self.signatures, from_gate) {
            (None, None) => return Ok((m, None)),
            (Some(p), None) | (None, Some(p)) => p,
            (Some(a), Some(b)) => {
                both = a.union(b);
                &both
            }
        };
        let folder = path.parent().unwrap_or(std::path::Path::new("."));
        match verify_signature(folder, policy.trusted()) {
            Ok(verified) => {
                // The bytes verified must be those parsed: a manifest swapped between the scan
                // and the check is refused.
                match PluginManifest::from_bytes(&verified.manifest, path) {
                    // A process plugin runs files of its folder: a signature covers them
                    // only through pins.
                    Ok(parsed)
                        if parsed == *m
                            && m.pinned.is_empty()
                            && matches!(m.kind, PluginKind::Process(_)) =>
                    {
                        let e = SignatureError::NothingPinned {
                            manifest: path.to_owned(),
                        };
                        if policy.is_required() {
                            return Err(e);
                        }
                        host.integrity_failed(
                            &m.meta.name,
                            &format!("{e} (signatures are not required: loaded as unsigned)"),
                        );
                        Ok((m, None))
                    }
                    Ok(parsed) if parsed == *m => Ok((m, Some(verified.key_id))),
                    _ => Err(SignatureError::Changed {
                        manifest: path.to_owned(),
                    }),
                }
            }
            Err(e) if policy.is_required() => Err(e),
            Err(SignatureError::Unsigned { .. }) => Ok((m, None)),
            Err(e) => {
                host.integrity_failed(
                    &m.meta.name,
                    &format!("{e} (signatures are not required: loaded unsigned)"),
                );
                Ok((m, None))
            }
        }
    }

    /// The folders, in order.
    pub fn folder_list(&self) -> &[PathBuf] {
        &self.folders
    }

    fn var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(env) => env.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
}

impl PluginHost {
    /// Scans `options`' folders with the host's [`Scanner`] (its cache kept between scans).
    pub(crate) fn scan_folders(&self, options: &DiscoveryOptions) -> Scan {
        self.inner
            .scanner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .scan(&options.folders)
    }

    /// Finds plugins and adds them to the host: the linked plugins
    /// ([`submit_plugin!`](crate::submit_plugin)) and the manifests in `options`' folders (a
    /// later folder wins a name). For each name, in name order:
    ///
    /// - an invalid manifest: not loaded, with the error (a linked plugin of that name is not
    ///   added either: its manifest meant to configure it);
    /// - a manifest whose conditions fail: skipped, with the reason;
    /// - `kind = "process"` (feature `process`; without it, found and not loadable): a
    ///   `external::ProcessPlugin` started by `start` (or, lazy, by
    ///   the first call that reaches it), launched as its `[process]` table says; with
    ///   feature `security`, confined when the host's `SecurityPolicy` gives it trust level
    ///   `sandboxed`, and started from a verified copy of its files when it pins them;
    /// - `kind = "linked"`: the linked plugin of that name is added with the manifest's
    ///   `config` (above the plugin's defaults, below the host's config file), `priority`
    ///   overrides (below the file's), `lazy` (the file's `lazy` wins), and its
    ///   `requires`/`optional`/`conflicts`/`host_api` added to the plugin's own; a manifest
    ///   naming no linked plugin is reported;
    /// - a linked plugin without a manifest is added as it is (unless
    ///   [`linked_without_manifest(false)`](DiscoveryOptions::linked_without_manifest)).
    ///
    /// Plugins the host had already are listed as added by code; a found plugin whose name
    /// the host has already is not added. Call [`start`](Self::start) next: it resolves the
    /// dependencies of everything added.
    ///
    /// The folder scan is blocking file I/O (one thread per folder); the host keeps its
    /// [`Scanner`], so calling `discover` again re-parses only the manifests that changed.
    /// From async code, run it with `tokio::task::spawn_blocking` if the folders are large or
    /// slow.
    ///
    /// # Panics
    /// If a linked plugin's constructor panics.
    pub fn discover(&self, options: &DiscoveryOptions) -> DiscoveryReport {
        let scan = self.scan_folders(options);
        let mut linked = linked::instances();
        let before: BTreeSet<String> = self.plugins().iter().map(|s| s.meta.name.clone()).collect();
        let mut report = DiscoveryReport {
            shadowed: scan.shadowed,
            folder_errors: scan.folder_errors,
            scan: scan.stats,
            plugins: Vec::new(),
        };
        let mut manifests: BTreeMap<String, ScannedPlugin> = scan
            .plugins
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        let mut names: BTreeSet<String> = manifests.keys().cloned().collect();
        names.extend(linked.keys().cloned());
        for name in names {
            let found = manifests.remove(&name);
            let mut instances = linked.remove(&name).unwrap_or_default();
            let duplicate = (instances.len() > 1).then(|| {
                DiscoveryStatus::DuplicateLinked(instances.iter().map(|i| i.location).collect())
            });
            let instance = if instances.len() == 1 {
                instances.pop()
            } else {
                None
            };
            let entry = match found {
                None if !options.linked && duplicate.is_none() => continue,
                None => {
                    let location = instance.as_ref().map_or("", |i| i.location);
                    let status = match (duplicate, instance) {
                        (Some(d), _) => d,
                        (None, Some(i)) => self.add_found(i, None, &before),
                        (None, None) => continue,
                    };
                    DiscoveredPlugin {
                        name,
                        source: PluginSource::Linked { location },
                        status,
                        #[cfg(feature = "security")]
                        signed_by: None,
                    }
                }
                Some(found) => {
                    let source = PluginSource::Folder {
                        manifest: found.path.clone(),
                        linked: instance.as_ref().map(|i| i.location),
                    };
                    #[cfg(feature = "security")]
                    let mut signed_by = None;
                    let status = 'status: {
                        let m = match found.manifest {
                            Err(e) => break 'status DiscoveryStatus::Invalid(e),
                            Ok(m) => m,
                        };
                        #[cfg(feature = "security")]
                        let m = match options.check_signature(self, &found.path, m) {
                            Ok((m, signer)) => {
                                signed_by = signer;
                                m
                            }
                            Err(e) => {
                                self.integrity_failed(&name, &e.to_string());
                                break 'status DiscoveryStatus::SignatureRejected(e);
                            }
                        };
                        #[cfg(feature = "security")]
                        let signer = signed_by.as_ref().map(|k| k.as_str().to_owned());
                        #[cfg(not(feature = "security"))]
                        let signer: Option<String> = None;
                        match m.conditions.check(
                            |var| options.var(var),
                            std::env::consts::OS,
                            &options.features,
                        ) {
                            Err(why) => DiscoveryStatus::Skipped(why),
                            Ok(()) => match (&m.kind, duplicate, instance) {
                                #[cfg(feature = "process")]
                                (PluginKind::Process(spec), _, _) => {
                                    self.add_process(&m, spec, signer.as_deref(), &before)
                                }
                                #[cfg(not(feature = "process"))]
                                (PluginKind::Process(_), _, _) => {
                                    DiscoveryStatus::ProcessNotSupported
                                }
                                (_, Some(d), _) => d,
                                (_, None, None) => DiscoveryStatus::NoLinkedPlugin,
                                (_, None, Some(i)) => {
                                    self.add_found(i, Some((&m, signer.as_deref())), &before)
                                }
                            },
                        }
                    };
                    DiscoveredPlugin {
                        name,
                        source,
                        status,
                        #[cfg(feature = "security")]
                        signed_by,
                    }
                }
            };
            // Something to fix (an invalid manifest, ...) is a warning: a host logging warnings
            // only must not lose a plugin silently. Skipped or disabled is information.
            if entry.status.is_problem() {
                tracing::warn!(plugin = %entry.name, source = %entry.source, status = %entry.status, "discovered plugin not loaded");
            } else if !entry.status.is_loaded() {
                tracing::info!(plugin = %entry.name, source = %entry.source, status = %entry.status, "discovered plugin not loaded");
            }
            report.plugins.push(entry);
        }
        let claimed: BTreeSet<String> = report.plugins.iter().map(|p| p.name.clone()).collect();
        for status in self.plugins().iter() {
            let name = &status.meta.name;
            if !claimed.contains(name) && before.contains(name) {
                report.plugins.push(DiscoveredPlugin {
                    #[cfg(feature = "security")]
                    signed_by: None,
                    name: name.clone(),
                    source: PluginSource::Code,
                    status: match &status.disabled {
                        Some(by) => DiscoveryStatus::Disabled(by.clone()),
                        None => DiscoveryStatus::Loaded { lazy: status.lazy },
                    },
                });
            }
        }
        report.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        report
    }

    /// Adds the process plugin of manifest `m`.
    #[cfg(feature = "process")]
    fn add_process(
        &self,
        m: &PluginManifest,
        spec: &ProcessSpec,
        signer: Option<&str>,
        before: &BTreeSet<String>,
    ) -> DiscoveryStatus {
        if before.contains(&m.meta.name) {
            return DiscoveryStatus::AlreadyAdded;
        }
        let (plugin, meta, lazy, layer) = match self.process_plugin(m, spec, signer) {
            Ok(found) => found,
            Err(why) => return DiscoveryStatus::NotLoadable(why),
        };
        let name = meta.name.clone();
        match self.add_layered(plugin, lazy, meta, layer) {
            Ok(()) => {}
            Err(PluginError::Duplicate { .. }) => return DiscoveryStatus::AlreadyAdded,
            Err(e) => return DiscoveryStatus::Skipped(e.to_string()),
        }
        match self.config().disabled_by(&name) {
            Some(by) => DiscoveryStatus::Disabled(by),
            None => DiscoveryStatus::Loaded {
                lazy: self.config().lazy(&name).unwrap_or(lazy),
            },
        }
    }

    /// Adds a linked plugin with its manifest's settings (and its signer), if any.
    fn add_found(
        &self,
        instance: linked::Instance,
        manifest: Option<(&PluginManifest, Option<&str>)>,
        before: &BTreeSet<String>,
    ) -> DiscoveryStatus {
        let linked::Instance {
            plugin, mut meta, ..
        } = instance;
        if before.contains(&meta.name) {
            return DiscoveryStatus::AlreadyAdded;
        }
        let (lazy, layer) = match manifest {
            Some((m, signer)) => apply_manifest(&mut meta, m, signer),
            None => (false, None),
        };
        let name = meta.name.clone();
        match self.add_layered(plugin, lazy, meta, layer) {
            Ok(()) => {}
            Err(PluginError::Duplicate { .. }) => return DiscoveryStatus::AlreadyAdded,
            Err(e) => return DiscoveryStatus::Skipped(e.to_string()),
        }
        match self.config().disabled_by(&name) {
            Some(by) => DiscoveryStatus::Disabled(by),
            None => DiscoveryStatus::Loaded {
                lazy: self.config().lazy(&name).unwrap_or(lazy),
            },
        }
    }
}

/// Lays manifest `m` (signed by key `signer`, if verified) over a linked plugin's metadata
/// (description if it has none, its dependencies, conflicts and host API requirement added);
/// returns its `lazy` and the [`Layer`] (config, priorities, trust) it sets.
fn apply_manifest(
    meta: &mut PluginMeta,
    m: &PluginManifest,
    signer: Option<&str>,
) -> (bool, Option<Arc<Layer>>) {
    if m.meta.version != meta.version {
        tracing::warn!(
            plugin = %meta.name,
            manifest = %m.path.display(),
            "the manifest's version differs from the linked plugin's; the plugin's is used"
        );
    }
    if meta.description.is_none() {
        meta.description.clone_from(&m.meta.description);
    }
    meta.dependencies
        .extend(m.meta.dependencies.iter().cloned());
    meta.conflicts.extend(m.meta.conflicts.iter().cloned());
    for p in &m.permissions {
        if !meta.permissions.contains(p) {
            meta.permissions.push(p.clone());
        }
    }
    if let Some(req) = &m.meta.host_api {
        // Both the plugin's and the manifest's requirement must hold.
        let mut all = meta.host_api.take().unwrap_or(semver::VersionReq::STAR);
        all.comparators.extend(req.comparators.iter().cloned());
        meta.host_api = Some(all);
    }
    (
        m.lazy,
        Some(manifest_layer(m, signer, Isolation::InProcess)),
    )
}

/// Where the plugin of manifest `m` comes from, for the host's gate: its folder, and the key
/// that signed its manifest if the signature was verified.
fn manifest_trust(m: &PluginManifest, signer: Option<&str>) -> TrustSource {
    let folder = m
        .path
        .parent()
        .map_or_else(|| m.path.clone(), Path::to_path_buf);
    match signer {
        Some(key) => TrustSource::Signed {
            folder,
            key: key.to_owned(),
        },
        None => TrustSource::Folder(folder),
    }
}

/// The [`Layer`] manifest `m` sets: its `[config]`, `[priority]` and, for the host's gate,
/// where it came from (its folder and signer, which the security policy maps to a trust
/// level) and how it runs.
fn manifest_layer(m: &PluginManifest, signer: Option<&str>, isolation: Isolation) -> Arc<Layer> {
    Arc::new(Layer {
        source: m.path.display().to_string(),
        config: m.config.clone(),
        priority: m.priority.clone(),
        trust: manifest_trust(m, signer),
        isolation,
    })
}

impl PluginHost {
    /// Reports that plugin `name` failed the integrity checks (a rejected signature, a pinned
    /// file that does not match): a `PluginEvent::IntegrityFailed` (what the audit log
    /// records) and a `tracing` warning.
    #[cfg_attr(not(feature = "security"), allow(dead_code))]
    pub(crate) fn integrity_failed(&self, name: &str, error: &str) {
        tracing::warn!(plugin = %name, error = %error, "plugin integrity check failed");
        let _ = self
            .inner
            .events
            .send(crate::plugin::PluginEvent::IntegrityFailed {
                plugin: name.to_owned(),
                error: error.to_owned(),
            });
    }
}
