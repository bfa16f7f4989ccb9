//! `kind = "process"` manifests (feature `process`): the [`ProcessPlugin`] a manifest
//! describes, confined as the host's security policy says, and (feature `security`) started
//! from a verified copy of its pinned files.

use std::path::Path;
use std::sync::Arc;

use super::{manifest_layer, Layer, PluginManifest, ProcessSpec, RestartPolicy};
use crate::external::{LaunchSpec, ProcessPlugin};
use crate::plugin::Isolation;
use crate::{PluginHost, PluginMeta};

/// A process plugin found in a folder: the plugin, its metadata, `lazy` and its [`Layer`].
pub(crate) type FoundProcess = (Arc<dyn crate::Plugin>, PluginMeta, bool, Option<Arc<Layer>>);

impl PluginHost {
    /// The process plugin of manifest `m` (whose `[process]` table is `spec`; signed by key
    /// `signer` if its signature was verified), not started: launched as
    /// [`LaunchSpec::from_manifest`] says in the manifest's folder, with its
    /// `start_timeout_ms`, `restart` (`never`, or on failure with the default backoff and
    /// start limit), `call_timeout_ms` (the impls' timeout unless the process declares a
    /// smaller one), its version (before the process answers) and, when given, its `hooks`
    /// (registered before the process runs: required for a lazy plugin). Returns it with its
    /// metadata, `lazy` and the [`Layer`] of its `[config]`, `[priority]`, trust source and
    /// isolation.
    ///
    /// With feature `security`:
    /// - when the host's gate is a `SecurityPolicy` that gives the plugin trust level
    ///   `sandboxed`, the process runs under the Landlock sandbox and resource limits even if
    ///   its manifest did not ask for them (the policy's `SandboxLimits` fill the limits the
    ///   manifest does not set);
    /// - when the manifest pins files (`[sha256]`), every start and every restart first copies
    ///   them into a new private folder, checks the copy and runs the process from it; a
    ///   mismatch refuses that start (a `PluginEvent::IntegrityFailed`, then the start's
    ///   failure).
    ///
    /// # Errors
    /// What the host cannot do, saying what to write instead: a lazy plugin without `hooks`.
    pub(crate) fn process_plugin(
        &self,
        m: &PluginManifest,
        spec: &ProcessSpec,
        signer: Option<&str>,
    ) -> Result<FoundProcess, String> {
        if m.lazy && spec.hooks.is_empty() {
            return Err("lazy = true: a lazy process plugin is registered before its process runs, so its manifest must list the hooks it implements: `[process] hooks = [\"...\"]`".to_owned());
        }
        #[cfg_attr(not(feature = "security"), allow(unused_mut))]
        let mut spec = spec.clone();
        #[cfg(feature = "security")]
        self.confine(m, signer, &mut spec);
        let isolation = match (spec.sandbox, spec.limits) {
            (true, l)
                if l.memory_mb.is_some() || l.cpu_seconds.is_some() || l.open_files.is_some() =>
            {
                Isolation::Sandboxed
            }
            _ => Isolation::Process,
        };
        let folder = m.path.parent().unwrap_or_else(|| Path::new("."));
        let mut builder = ProcessPlugin::builder(m.meta.name.clone(), "")
            .launch_spec(LaunchSpec::from_manifest(&spec, folder))
            .start_timeout(spec.start_timeout)
            .instances(usize::try_from(spec.instances).unwrap_or(usize::MAX))
            .restart(match spec.restart {
                RestartPolicy::Never => crate::external::RestartPolicy::never(),
                _ => crate::external::RestartPolicy::default(),
            });
        #[cfg(feature = "security")]
        if !m.pinned.is_empty() {
            builder = builder.prepare(self.verified_start(m, &spec));
        }
        if let Some(v) = &m.meta.version {
            builder = builder.version(v.to_string());
        }
        if !spec.hooks.is_empty() {
            builder = builder.hooks(spec.hooks.iter().cloned());
        }
        if let Some(ms) = spec.limits.call_timeout_ms {
            builder = builder.call_timeout(std::time::Duration::from_millis(ms));
        }
        let mut meta = m.meta.clone();
        for p in &m.permissions {
            if !meta.permissions.contains(p) {
                meta.permissions.push(p.clone());
            }
        }
        Ok((
            Arc::new(builder.build()),
            meta,
            m.lazy,
            Some(manifest_layer(m, signer, isolation)),
        ))
    }

    /// Turns the sandbox and the policy's default limits on in `spec` when the host's
    /// `SecurityPolicy` gives the plugin trust level `sandboxed`.
    #[cfg(feature = "security")]
    fn confine(&self, m: &PluginManifest, signer: Option<&str>, spec: &mut ProcessSpec) {
        use crate::security::{SecurityPolicy, TrustLevel};
        let Some(gate) = &self.inner.gate else { return };
        let gate: &dyn std::any::Any = &**gate;
        let Some(policy) = gate.downcast_ref::<SecurityPolicy>() else {
            return;
        };
        if policy.level(&super::manifest_trust(m, signer)) != TrustLevel::Sandboxed {
            return;
        }
        let defaults = policy.sandbox_limits();
        let limits = &mut spec.limits;
        limits.memory_mb = limits.memory_mb.or(defaults.memory_mb);
        limits.cpu_seconds = limits.cpu_seconds.or(defaults.cpu_seconds);
        limits.open_files = limits.open_files.or(defaults.open_files);
        if !spec.sandbox {
            tracing::debug!(plugin = %m.meta.name, "trust level `sandboxed`: the process runs under the Landlock sandbox");
        }
        spec.sandbox = true;
    }

    /// Before each start: a verified copy of `m`'s pinned files, and the launch spec that runs
    /// `spec` from it. A mismatch is reported as an integrity failure and refuses the start.
    #[cfg(feature = "security")]
    fn verified_start(&self, m: &PluginManifest, spec: &ProcessSpec) -> crate::external::Prepare {
        let manifest = m.clone();
        let folder = m.path.parent().unwrap_or_else(|| Path::new("."));
        // Paths the sandbox may read stay the plugin folder's, not the copy's.
        let mut spec = spec.clone();
        for path in &mut spec.allowed_paths {
            *path = folder.join(&*path);
        }
        let host = Arc::downgrade(&self.inner);
        crate::external::Prepare(Arc::new(move || {
            match crate::security::verified_copy(&manifest, None) {
                Ok(copy) => {
                    let launch = LaunchSpec::from_manifest(&spec, copy.path());
                    tracing::debug!(plugin = %manifest.meta.name, copy = %copy.path().display(), "starting from a verified copy");
                    Ok((launch, Box::new(copy) as crate::external::StartGuard))
                }
                Err(e) => {
                    let error = format!("{}: {e}", manifest.path.display());
                    if let Some(inner) = host.upgrade() {
                        PluginHost { inner }.integrity_failed(&manifest.meta.name, &error);
                    }
                    // The start failure says the rest: the reason comes first, as the host cuts
                    // a start failure's text after a few hundred bytes.
                    Err(e.to_string())
                }
            }
        }))
    }
}
