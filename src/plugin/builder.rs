//! [`PluginHostBuilder`]: host services, configuration, host API version, time limits, gate.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use semver::Version;
use tokio::sync::broadcast;

use super::cell::{Host, Registry};
use super::config::HostConfig;
use super::context::ServiceMap;
use super::gate::PluginGate;
use super::host::PluginHost;
use crate::HookManager;

/// Builds a [`PluginHost`]: host services, configuration, host API version, time limits.
#[must_use]
pub struct PluginHostBuilder {
    hooks: Option<HookManager>,
    services: ServiceMap,
    config: HostConfig,
    host_api: Option<Version>,
    step_timeout: Option<Duration>,
    event_capacity: usize,
    environment: bool,
    gate: Option<Arc<dyn PluginGate>>,
    admin_events: bool,
}

impl std::fmt::Debug for PluginHostBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHostBuilder")
            .field("hooks", &self.hooks)
            .field("config", &self.config)
            .field("host_api", &self.host_api)
            .field("step_timeout", &self.step_timeout)
            .field("event_capacity", &self.event_capacity)
            .field("environment", &self.environment)
            .field("gate", &self.gate)
            .field("admin_events", &self.admin_events)
            .finish_non_exhaustive()
    }
}

impl PluginHostBuilder {
    pub(crate) fn new() -> Self {
        PluginHostBuilder {
            hooks: None,
            services: ServiceMap::default(),
            config: HostConfig::new(),
            host_api: None,
            step_timeout: None,
            event_capacity: 1024,
            environment: true,
            gate: None,
            admin_events: false,
        }
    }

    /// Whether the process environment's overrides (`HOOKWIRE_PLUGINS_DISABLE`,
    /// `HOOKWIRE_PLUGIN_<NAME>_ENABLED`) apply on top of the configuration — by default they
    /// do, so an operator can disable a plugin without the host's help. Pass `false` to
    /// ignore them (tests, or a host with its own rules).
    pub fn environment(mut self, apply: bool) -> Self {
        self.environment = apply;
        self
    }

    /// Uses `hooks` (with its specs) instead of an empty [`HookManager`].
    pub fn hooks(mut self, hooks: HookManager) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// A service every plugin can get with [`PluginContext::get`](crate::PluginContext::get)`::<T>()`.
    pub fn service<T: Send + Sync + 'static>(self, value: T) -> Self {
        self.service_arc(Arc::new(value))
    }

    /// As [`service`](Self::service), for a value already shared.
    pub fn service_arc<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.services.insert(value);
        self
    }

    /// The plugins' configuration: enabled/disabled, lazy, priority overrides, settings.
    pub fn config(mut self, config: HostConfig) -> Self {
        self.config = config;
        self
    }

    /// The host's API version, checked against each plugin's [`PluginMeta::host_api`](crate::PluginMeta::host_api). Without
    /// one, plugins' host API requirements are not checked.
    pub fn host_api(mut self, version: Version) -> Self {
        self.host_api = Some(version);
        self
    }

    /// Limits each plugin's `init` and `start` (each on its own) to `limit`, an overrun
    /// failing the plugin, and each `health` check, an overrun making it `Unhealthy`. (`stop`
    /// has the grace given to `remove`/`shutdown`.) Default: no limit.
    pub fn step_timeout(mut self, limit: Duration) -> Self {
        self.step_timeout = Some(limit);
        self
    }

    /// Installs `gate`, which the host asks before it adds a plugin, registers one of its
    /// impls or gives it a service (see [`PluginGate`]); `hookwire::security::SecurityPolicy`
    /// (feature `security`) is one. Without a gate (the default) everything is allowed and
    /// nothing is checked. The gate costs nothing on hook calls: it is consulted when plugins
    /// are added, collected (start, restart, replace) and call
    /// [`PluginContext::get`](crate::PluginContext::get), and on each `host/call` of a process
    /// plugin.
    pub fn gate(self, gate: impl PluginGate) -> Self {
        self.gate_arc(Arc::new(gate))
    }

    /// As [`gate`](Self::gate), for a gate already shared.
    pub fn gate_arc(mut self, gate: Arc<dyn PluginGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Whether an administrator's [`stop`](PluginHost::stop), [`remove`](PluginHost::remove),
    /// [`restart`](PluginHost::restart), [`replace`](PluginHost::replace),
    /// [`enable`](PluginHost::enable) and [`disable`](PluginHost::disable) are announced
    /// as a [`PluginEvent::Admin`](super::PluginEvent::Admin) before they act, and an
    /// `enable` or `disable` that the web admin endpoints' check refused as a
    /// [`PluginEvent::AdminRefused`](super::PluginEvent::AdminRefused) (default: no; an audit
    /// log attached to the host turns it on).
    pub fn admin_events(mut self, announce: bool) -> Self {
        self.admin_events = announce;
        self
    }

    /// How many events a slow [`events`](PluginHost::events) subscriber may fall behind
    /// before it lags (default 1024).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity.max(1);
        self
    }

    /// The manager. A malformed environment override (say
    /// `HOOKWIRE_PLUGIN_AUTH_ENABLED=maybe`) makes its [`start`](PluginHost::start) fail
    /// with [`PluginError::Config`](super::PluginError::Config) naming the variable.
    pub fn build(self) -> PluginHost {
        let (events, _) = broadcast::channel(self.event_capacity);
        let (config, config_error) = if self.environment {
            match self.config.clone().with_process_env() {
                Ok(config) => (config, None),
                Err(e) => (self.config, Some(Arc::new(e))),
            }
        } else {
            (self.config, None)
        };
        PluginHost {
            inner: Arc::new(Host {
                skips: AtomicUsize::new(0),
                hooks: self.hooks.unwrap_or_default(),
                services: Arc::new(self.services),
                config: Arc::new(config),
                config_error,
                host_api: self.host_api,
                gate: self.gate,
                admin_events: AtomicBool::new(self.admin_events),
                step_timeout: self.step_timeout,
                events,
                registry: Mutex::new(Registry::default()),
                ops: tokio::sync::Mutex::new(()),
                #[cfg(feature = "discovery")]
                scanner: Mutex::new(crate::discovery::Scanner::new()),
            }),
        }
    }
}
