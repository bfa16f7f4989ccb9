//! Hot reload from plugin folders (feature `watch`): [`PluginHost::watch`] follows the
//! folders of a [`DiscoveryOptions`] and applies each debounced batch of file-system changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};
use tokio::sync::mpsc;

use super::{
    apply_manifest, linked, DiscoveryError, DiscoveryOptions, PluginKind, PluginManifest,
    ScannedPlugin,
};
use crate::plugin::PluginError;
use crate::PluginHost;

/// The debounce of [`PluginHost::watch`] unless [`DiscoveryOptions::debounce`] sets one.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(500);

/// The grace period of a replaced or removed plugin's `stop` unless
/// [`DiscoveryOptions::grace`] sets one.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// A running [`PluginHost::watch`]: while it lives, changes in the plugin folders reload
/// plugins. Dropping it stops watching (the file-system watcher is closed and the reload task
/// aborted; a reload under way is dropped part-way, see
/// [`PluginHost::replace`]'s cancel safety).
#[must_use = "dropping the Watcher stops watching"]
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").finish_non_exhaustive()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the watcher knows of one manifest when it last applied it: what the host's
/// [`Scanner`](super::Scanner) made of it — the parsed manifest, which the scanner hands out
/// again (the same `Arc`) while the file's content is unchanged, so an unchanged manifest is
/// not read again, or the error — and, with a signature policy, its signature file's bytes.
#[derive(Debug, Clone)]
struct Version {
    manifest: Result<Arc<PluginManifest>, String>,
    signature: Option<Vec<u8>>,
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        let same = match (&self.manifest, &other.manifest) {
            (Ok(a), Ok(b)) => Arc::ptr_eq(a, b),
            (Err(a), Err(b)) => a == b,
            _ => false,
        };
        same && self.signature == other.signature
    }
}

/// Per plugin name.
type Seen = BTreeMap<String, Version>;

impl PluginHost {
    /// Watches `options`' plugin folders and reloads plugins when their manifests change,
    /// until the returned [`Watcher`] is dropped. Call it after
    /// [`discover`](Self::discover) and [`start`](Self::start) with the same options: the
    /// manifests as they are now are the starting point.
    ///
    /// The folders are watched, not the files (editors save by writing a new file and renaming
    /// it over the old one), and the events are debounced
    /// ([`DiscoveryOptions::debounce`], default [`DEFAULT_DEBOUNCE`]): a burst of events
    /// gives one batch, and a batch reloads each plugin at most once. For each batch the
    /// folders are scanned again with the host's [`Scanner`](super::Scanner) and, for each
    /// plugin whose `plugin.toml` content changed (the scanner tells without reading a
    /// manifest whose file status is unchanged):
    ///
    /// - **changed**, valid, `kind = "linked"`, conditions met: a fresh instance from the
    ///   plugin's [`LinkedPlugin`](super::LinkedPlugin) constructor, with the new manifest's
    ///   config, priorities, dependencies and `lazy`, [`replace`](Self::replace)s the one
    ///   serving ([`PluginEvent::Replaced`](crate::plugin::PluginEvent::Replaced)). A lazy
    ///   plugin not called yet that becomes eager starts at once; one that serves and becomes
    ///   lazy keeps serving. A linked plugin's code cannot change while the host runs: a
    ///   reload means new settings;
    /// - **invalid** (bad manifest, a dependency that no longer resolves, an `init` that
    ///   fails, a process plugin, no linked plugin of that name): the old version keeps
    ///   running and [`PluginEvent::ReloadFailed`](crate::plugin::PluginEvent::ReloadFailed) says
    ///   why;
    /// - **added** folder: its plugin is added and started as [`discover`](Self::discover)
    ///   and [`start`](Self::start) would (a failure is a `ReloadFailed` event);
    /// - **removed** folder, or conditions no longer met: the plugin is
    ///   [`remove`](Self::remove)d — refused while other plugins require it
    ///   ([`PluginEvent::RemoveRefused`](crate::plugin::PluginEvent::RemoveRefused)); it is tried
    ///   again on the next batch.
    ///
    /// With a signature policy (`DiscoveryOptions::signatures`, feature `security`), a changed
    /// manifest is verified first: one that signatures required refuse is not applied
    /// (`ReloadFailed` names the signature file and key; the old version keeps running), and a
    /// new `plugin.toml.sig` alone counts as a change.
    ///
    /// A manifest saved with the same bytes changes nothing. A batch with changes calls every
    /// linked plugin's constructor once (the instances not used are dropped), and rescans on
    /// tokio's blocking pool. Replaced and removed plugins'
    /// `stop` gets [`DiscoveryOptions::grace`] (default [`DEFAULT_GRACE`]). The reloads run
    /// on a tokio task the `Watcher` owns, one batch after the other.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use hookwire::discovery::DiscoveryOptions;
    /// use hookwire::plugin::PluginEvent;
    /// use hookwire::PluginHost;
    ///
    /// let options = DiscoveryOptions::new().folder("plugins").debounce(Duration::from_millis(200));
    /// let host = PluginHost::new();
    /// host.discover(&options);
    /// host.start().await?;
    /// let mut events = host.events();
    /// let _watcher = host.watch(&options)?; // reloads until dropped
    /// while let Ok(event) = events.recv().await {
    ///     if let PluginEvent::ReloadFailed { plugin, error } = event {
    ///         eprintln!("{plugin}: {error} (the old version keeps running)");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`DiscoveryError::Watch`] when called outside a tokio runtime, or when a folder cannot
    /// be watched (it does not exist, or the system's limit of watches is reached).
    pub fn watch(&self, options: &DiscoveryOptions) -> Result<Watcher, DiscoveryError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| DiscoveryError::Watch {
            folder: None,
            reason: "`PluginHost::watch` must be called inside a tokio runtime".to_owned(),
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut debouncer =
            new_debouncer(options.debounce, None, move |batch: DebounceEventResult| {
                // The receiver is gone only when the watcher is being dropped.
                let _ = tx.send(batch);
            })
            .map_err(|e| DiscoveryError::Watch {
                folder: None,
                reason: e.to_string(),
            })?;
        for folder in &options.folders {
            debouncer
                .watch(folder, RecursiveMode::Recursive)
                .map_err(|e| DiscoveryError::Watch {
                    folder: Some(folder.clone()),
                    reason: e.to_string(),
                })?;
        }
        let seen = self.scan_seen(options).0;
        let task = runtime.spawn(reload_loop(self.clone(), options.clone(), rx, seen));
        Ok(Watcher {
            _debouncer: debouncer,
            task,
        })
    }

    /// Scans the folders: each manifest by name, with what the watcher compares.
    fn scan_seen(&self, options: &DiscoveryOptions) -> (Seen, BTreeMap<String, ScannedPlugin>) {
        let scan = self.scan_folders(options);
        let mut seen = Seen::new();
        let mut found = BTreeMap::new();
        for p in scan.plugins {
            #[allow(unused_mut)]
            let mut version = Version {
                manifest: p.manifest.clone().map_err(|e| e.to_string()),
                signature: None,
            };
            // With a signature policy, a new signature alone is a change too (re-signing a
            // manifest whose reload was refused applies it).
            #[cfg(feature = "security")]
            if options.signatures.is_some() {
                version.signature =
                    std::fs::read(p.path.with_file_name(crate::security::SIGNATURE_FILE)).ok();
            }
            seen.insert(p.name.clone(), version);
            found.insert(p.name.clone(), p);
        }
        (seen, found)
    }

    /// Applies one batch: what changed since `seen`, which is updated.
    async fn apply_batch(&self, options: &DiscoveryOptions, seen: &mut Seen) {
        // Blocking file I/O: off the async workers.
        let (host, opts) = (self.clone(), options.clone());
        let (now, mut found) = match tokio::task::spawn_blocking(move || host.scan_seen(&opts))
            .await
        {
            Ok(scanned) => scanned,
            Err(e) => {
                tracing::error!(error = %e, "rescanning the plugin folders failed; this batch is skipped");
                return;
            }
        };
        let mut names: BTreeSet<String> = seen.keys().chain(now.keys()).cloned().collect();
        let mut linked_instances = None;
        // A removal refused because another plugin required it is tried again after the
        // others: that plugin may have gone in this batch.
        loop {
            let mut retry = BTreeSet::new();
            let mut progress = false;
            for name in std::mem::take(&mut names) {
                let (before, after) = (seen.get(&name), now.get(&name));
                if before == after {
                    continue;
                }
                let known = self.plugins().iter().any(|s| s.meta.name == name);
                let applied = match found.remove(&name) {
                    None => self.unload(&name, known, options.grace).await,
                    Some(scanned) => {
                        let instances = linked_instances.get_or_insert_with(linked::instances);
                        self.load(&name, scanned, known, instances, options).await
                    }
                };
                progress |= !matches!(applied, Applied::Retry);
                match applied {
                    Applied::Done => match after {
                        Some(version) => {
                            seen.insert(name, version.clone());
                        }
                        None => {
                            seen.remove(&name);
                        }
                    },
                    // The old version keeps running; the same bytes are not tried again.
                    Applied::Failed => {
                        if let Some(version) = after {
                            seen.insert(name, version.clone());
                        }
                    }
                    Applied::Retry => {
                        retry.insert(name);
                    }
                }
            }
            // Again while a pass got something done; else on the next batch.
            if retry.is_empty() || !progress {
                break;
            }
            names = retry;
        }
    }

    async fn unload(&self, name: &str, known: bool, grace: Duration) -> Applied {
        if !known {
            return Applied::Done;
        }
        match self.remove(name, grace).await {
            Ok(stop) => {
                tracing::info!(plugin = %name, outcome = ?stop.outcome, "plugin folder removed: plugin unloaded");
                Applied::Done
            }
            // Sent as `RemoveRefused` by `remove`.
            Err(PluginError::Required { .. }) => Applied::Retry,
            Err(PluginError::Unknown { .. }) => Applied::Done,
            Err(e) => {
                self.reload_failed_with(name, &e.to_string());
                Applied::Failed
            }
        }
    }

    async fn load(
        &self,
        name: &str,
        scanned: ScannedPlugin,
        known: bool,
        instances: &mut BTreeMap<String, Vec<linked::Instance>>,
        options: &DiscoveryOptions,
    ) -> Applied {
        let manifest = match scanned.manifest {
            Ok(m) => m,
            Err(e) => {
                self.reload_failed_with(name, &e.to_string());
                return Applied::Failed;
            }
        };
        #[cfg(feature = "security")]
        let (manifest, signer) = match options.check_signature(self, &scanned.path, manifest) {
            Ok((m, signer)) => (m, signer.map(|k| k.as_str().to_owned())),
            Err(e) => {
                self.integrity_failed(name, &e.to_string());
                self.reload_failed_with(name, &e.to_string());
                return Applied::Failed;
            }
        };
        #[cfg(not(feature = "security"))]
        let signer: Option<String> = None;
        if let Err(why) = manifest.conditions.check(
            |var| options.var(var),
            std::env::consts::OS,
            &options.features,
        ) {
            tracing::info!(plugin = %name, reason = %why, "manifest conditions not met: plugin unloaded");
            return self.unload(name, known, options.grace).await;
        }
        if let PluginKind::Process(spec) = &manifest.kind {
            #[cfg(feature = "process")]
            return match self.process_plugin(&manifest, spec, signer.as_deref()) {
                Ok((plugin, meta, lazy, layer)) => {
                    self.load_instance(name, plugin, meta, lazy, layer, known, options)
                        .await
                }
                Err(why) => {
                    self.reload_failed_with(name, &format!("{}: {why}", scanned.path.display()));
                    Applied::Failed
                }
            };
            #[cfg(not(feature = "process"))]
            {
                let _ = spec;
                self.reload_failed_with(
                    name,
                    &format!(
                        "{}: process plugins need hookwire's cargo feature `process`",
                        scanned.path.display()
                    ),
                );
                return Applied::Failed;
            }
        }
        let instance = match instances.get_mut(name).map(std::mem::take) {
            Some(mut list) if list.len() == 1 => list.pop(),
            _ => None,
        };
        let Some(linked::Instance {
            plugin, mut meta, ..
        }) = instance
        else {
            self.reload_failed_with(
                name,
                &format!(
                    "{}: no plugin named `{name}` is linked into this binary (or several are)",
                    scanned.path.display()
                ),
            );
            return Applied::Failed;
        };
        let (lazy, layer) = apply_manifest(&mut meta, &manifest, signer.as_deref());
        self.load_instance(name, plugin, meta, lazy, layer, known, options)
            .await
    }

    /// Replaces plugin `name` (if `known`) by `plugin`, or adds and starts it.
    #[allow(clippy::too_many_arguments)]
    async fn load_instance(
        &self,
        name: &str,
        plugin: Arc<dyn crate::Plugin>,
        meta: crate::PluginMeta,
        lazy: bool,
        layer: Option<Arc<crate::plugin::Layer>>,
        known: bool,
        options: &DiscoveryOptions,
    ) -> Applied {
        if known {
            return match self
                .replace_layered(name, plugin, meta, layer, lazy, options.grace)
                .await
            {
                Ok(report) => {
                    tracing::info!(plugin = %name, %report, "manifest changed: plugin replaced");
                    Applied::Done
                }
                // Sent as `ReloadFailed` by `replace_layered`.
                Err(_) => Applied::Failed,
            };
        }
        if let Err(e) = self.add_layered(plugin, lazy, meta, layer) {
            self.reload_failed_with(name, &e.to_string());
            return Applied::Failed;
        }
        match self.start().await {
            Ok(report) => {
                if let Some((_, why)) = report.failed.iter().find(|(p, _)| p == name) {
                    self.reload_failed_with(name, why);
                    return Applied::Failed;
                }
                tracing::info!(plugin = %name, "plugin folder added: plugin loaded");
                Applied::Done
            }
            Err(e) => {
                // Not startable with the plugins running: take it out again.
                let _ = self.remove(name, options.grace).await;
                self.reload_failed_with(name, &e.to_string());
                Applied::Failed
            }
        }
    }
}

/// What became of one plugin's change.
enum Applied {
    Done,
    Failed,
    Retry,
}

async fn reload_loop(
    host: PluginHost,
    options: DiscoveryOptions,
    mut rx: mpsc::UnboundedReceiver<DebounceEventResult>,
    mut seen: Seen,
) {
    while let Some(batch) = rx.recv().await {
        match batch {
            Ok(events) if events.is_empty() => continue,
            Ok(events) => {
                tracing::debug!(events = events.len(), "plugin folders changed");
            }
            Err(errors) => {
                for e in &errors {
                    tracing::warn!(error = %e, "watching the plugin folders");
                }
            }
        }
        // Batches that arrived meanwhile are covered by this scan.
        while rx.try_recv().is_ok() {}
        host.apply_batch(&options, &mut seen).await;
    }
}
