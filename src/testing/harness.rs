//! [`PluginHarness`]: one plugin, alone, against the host's specs.

use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "config")]
use crate::error::ConfigError;
use crate::{
    config::HostConfig, error::PluginError, plugin::PluginHostBuilder, plugin::PluginState,
    plugin::StopReport, HookCaller, HookManager, HookSpec, Plugin, PluginHost,
};

/// Runs one plugin alone (with stand-ins for the plugins it depends on) so a plugin author
/// can unit-test it in a few lines; see the [module docs](super) for an example.
#[must_use]
pub struct PluginHarness {
    plugin: Arc<dyn Plugin>,
    name: String,
    lazy: bool,
    host_specs: bool,
    builder: PluginHostBuilder,
    dependencies: Vec<Arc<dyn Plugin>>,
}

impl std::fmt::Debug for PluginHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHarness")
            .field("name", &self.name)
            .field("lazy", &self.lazy)
            .field("dependencies", &self.dependencies.len())
            .field("builder", &self.builder)
            .finish_non_exhaustive()
    }
}

impl PluginHarness {
    /// A harness for `plugin`, with an empty [`HookManager`].
    pub fn new<P: Plugin>(plugin: P) -> Self {
        let name = plugin.meta().name;
        PluginHarness {
            plugin: Arc::new(plugin),
            name,
            lazy: false,
            host_specs: false,
            builder: PluginHost::builder().environment(false),
            dependencies: Vec::new(),
        }
    }

    /// Uses the host's hook manager (with its specs), so the plugin is checked against them:
    /// an impl whose types differ from the host's spec fails registration, and an impl of a
    /// hook the host does not declare (and not marked `optional`) fails
    /// [`start`](Self::start), as `check_pending` would.
    pub fn hooks(mut self, hooks: HookManager) -> Self {
        self.host_specs = true;
        self.builder = self.builder.hooks(hooks);
        self
    }

    /// A host service the plugin expects.
    pub fn service<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.builder = self.builder.service(value);
        self
    }

    /// The configuration.
    pub fn config(mut self, config: HostConfig) -> Self {
        self.builder = self.builder.config(config);
        self
    }

    /// The configuration, from TOML text (as in `hookwire.toml`).
    ///
    /// # Errors
    /// [`ConfigError`] for text that is not a valid configuration.
    #[cfg(feature = "config")]
    #[cfg_attr(docsrs, doc(cfg(feature = "config")))]
    pub fn config_toml(self, text: &str) -> Result<Self, ConfigError> {
        let config = HostConfig::parse(text, "<harness config>")?;
        Ok(self.config(config))
    }

    /// A stand-in for a plugin the tested one depends on (typically a
    /// [`FakePlugin`](super::FakePlugin) that provides a service in `init`).
    pub fn dependency<P: Plugin>(mut self, plugin: P) -> Self {
        self.dependencies.push(Arc::new(plugin));
        self
    }

    /// Adds the plugin as lazy (started by its first call).
    pub fn lazy(mut self) -> Self {
        self.lazy = true;
        self
    }

    /// Starts the stand-ins and the plugin.
    ///
    /// # Errors
    /// [`PluginError::Dependencies`] when the plugin's dependencies are not met;
    /// [`PluginError::Failed`] when it (or a stand-in) failed to register, init or start, or
    /// implements a hook the host's specs (given with [`hooks`](Self::hooks)) do not declare;
    /// everything started is then stopped again (each within 5 s) and unregistered.
    ///
    /// # Cancel safety
    /// Not cancel safe (see [`PluginHost::start`]).
    pub async fn start(self) -> Result<RunningPlugin, PluginError> {
        let pm = self.builder.build();
        for d in self.dependencies {
            pm.add_arc(d)?;
        }
        if self.lazy {
            pm.add_arc_lazy(self.plugin)?;
        } else {
            pm.add_arc(self.plugin)?;
        }
        let report = pm.start().await?;
        let failed = match report.failed.into_iter().next() {
            Some((plugin, reason)) => Some(PluginError::Failed { plugin, reason }),
            None if self.host_specs => pm.hooks().check_pending().err().map(|e| {
                PluginError::Failed {
                    // The plugin with an undeclared hook (the tested one, or a stand-in).
                    plugin: e
                        .pending
                        .first()
                        .map_or_else(|| self.name.clone(), |(p, _)| p.clone()),
                    reason: e.to_string(),
                }
            }),
            None => None,
        };
        if let Some(e) = failed {
            // Leave nothing running or registered behind (the host's hook manager may be
            // shared with other harnesses).
            pm.shutdown(FAILED_START_GRACE).await;
            return Err(e);
        }
        Ok(RunningPlugin {
            pm,
            name: self.name,
        })
    }
}

/// How long each plugin gets to stop when a harness start fails.
const FAILED_START_GRACE: Duration = Duration::from_secs(5);

/// A plugin started by a [`PluginHarness`].
#[derive(Debug, Clone)]
pub struct RunningPlugin {
    pm: PluginHost,
    name: String,
}

impl RunningPlugin {
    /// A caller for hook `S`.
    pub fn hook<S: HookSpec>(&self) -> HookCaller<S> {
        self.pm.hook::<S>()
    }

    /// The plugin's state.
    pub fn state(&self) -> PluginState {
        self.pm.state(&self.name).unwrap_or_default()
    }

    /// The manager running it.
    pub fn manager(&self) -> &PluginHost {
        &self.pm
    }

    /// Stops everything, each plugin within `grace`.
    ///
    /// # Cancel safety
    /// Not cancel safe (see [`PluginHost::shutdown`]).
    pub async fn shutdown(&self, grace: Duration) -> StopReport {
        self.pm.shutdown(grace).await
    }
}
