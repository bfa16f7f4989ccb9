//! Enabling and disabling plugins while the host runs: [`PluginHost::enable`] and
//! [`PluginHost::disable`], whatever the configuration said when the plugin was added.
//!
//! Whether a plugin is disabled belongs to its cell (one per life of the plugin, see
//! `reload.rs`): the configuration decides it when the plugin is added. `disable` stops the
//! plugin as [`PluginHost::stop`] does and puts a new life of it, disabled at run time, in its
//! place among the disabled plugins — which [`start`](PluginHost::start) leaves alone and
//! resolves no dependency against. `enable` gives a disabled (or stopped, or failed) plugin a
//! new, enabled life, brought up as a restart brings one up.

use std::sync::Arc;
use std::time::Duration;

use super::cell::Cell;
use super::config::DisabledBy;
use super::events::AdminAction;
use super::host::PluginHost;
use super::lifecycle::PluginState;
use super::report::PluginError;
use super::shutdown::PluginStop;

impl PluginHost {
    /// Enables plugin `name` and brings it up, while the host runs: a plugin disabled by the
    /// configuration (file, environment, [`HostConfig::disable`](crate::config::HostConfig::disable))
    /// or by [`disable`](Self::disable), and likewise a stopped or failed one (as
    /// [`restart`](Self::restart) would), or one added since the last
    /// [`start`](Self::start).
    ///
    /// It is checked against the plugins running now — its dependencies must be running, at
    /// matching versions; conflicts, host API, the ordering constraints of its impls — then
    /// goes `Registered → Initialized → Started` (a fresh
    /// [`PluginContext`](crate::PluginContext)) and its impls are registered (in the places
    /// they had, if it ran before). A lazy plugin is registered behind its start gate, as
    /// `start` does, and starts on its first call. The configuration itself is not changed:
    /// the next process disables the plugin again.
    ///
    /// Returns `true` when it changed something, `false` for a plugin that was enabled and
    /// registered or running already (nothing to do).
    ///
    /// Announced as [`PluginEvent::Admin`](super::PluginEvent::Admin) with
    /// [`AdminAction::Enable`] when [admin events](super::PluginHostBuilder::admin_events)
    /// are on; each state change is a [`PluginEvent::StateChanged`](super::PluginEvent::StateChanged).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hookwire::config::{DisabledBy, HostConfig};
    /// use hookwire::plugin::PluginState;
    /// use hookwire::{Plugin, PluginHost, PluginMeta, Registrar, RegisterError};
    /// hookwire::hookspec! { pub struct Ping(()) -> &'static str; }
    ///
    /// struct Pong;
    /// impl Plugin for Pong {
    ///     fn meta(&self) -> PluginMeta { PluginMeta::new("pong", "1.0.0") }
    ///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
    ///         r.sync_fn::<Ping>(|_| Ok(Some("pong"))).add()
    ///     }
    /// }
    ///
    /// let mut config = HostConfig::new();
    /// config.disable("pong"); // as `enabled = false` in the file would
    /// let pm = PluginHost::builder().config(config).environment(false).build();
    /// pm.add(Pong).unwrap();
    /// pm.start().await.unwrap();
    /// assert_eq!(pm.state("pong"), Some(PluginState::Discovered));
    /// assert_eq!(pm.hook::<Ping>().call(&()).await.unwrap().into_value(), None);
    ///
    /// assert!(pm.enable("pong").await.unwrap());
    /// assert_eq!(pm.state("pong"), Some(PluginState::Started));
    /// assert_eq!(pm.plugins().get("pong").unwrap().disabled, None);
    /// assert_eq!(pm.hook::<Ping>().call(&()).await.unwrap().into_value(), Some("pong"));
    /// assert!(!pm.enable("pong").await.unwrap()); // running already
    /// # });
    /// ```
    ///
    /// # Errors
    /// Nothing changes with these (the plugin stays as it was, disabled if it was):
    /// - [`PluginError::Unknown`] for a name that was never added;
    /// - [`PluginError::DependencyNotRunning`] for a required dependency that is there but
    ///   not running or disabled (enable or restart it first);
    /// - [`PluginError::Dependencies`] when it does not fit with the plugins running: a
    ///   required dependency missing (never added, or removed) or at another version, a
    ///   conflict, the host API;
    /// - [`PluginError::Failed`] for impls that cannot be registered (an ordering cycle with
    ///   the impls registered now, a hook the host's gate refuses).
    ///
    /// [`PluginError::Failed`] also when its `init` or `start` fails: it is enabled then,
    /// and `Failed` with the reason (`enable` tries again).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future while the plugin's `init` or `start` runs leaves
    /// it enabled and `Failed` ("its start was cancelled"), with what it held released; call
    /// `enable` again. Dropped before that (waiting for another operation of the host),
    /// nothing changed.
    pub async fn enable(&self, name: &str) -> Result<bool, PluginError> {
        let host = &*self.inner;
        let _ops = host.ops.lock().await;
        host.admin(name, AdminAction::Enable);
        let old = self.cell(name)?;
        let state = old.run().state.clone();
        if old.disabled.is_none()
            && matches!(
                state,
                PluginState::Registered | PluginState::Initialized | PluginState::Started
            )
        {
            return Ok(false);
        }
        match self.renew(&old, !old.lazy, "enable").await {
            Ok(()) => {
                let was = old.disabled.as_ref().map(DisabledBy::phrase);
                tracing::info!(plugin = %name, was = was.as_deref().unwrap_or(state.name()), "plugin enabled");
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(plugin = %name, error = %e, "could not enable the plugin");
                Err(e)
            }
        }
    }

    /// Disables plugin `name` while the host runs: stops it if it runs (as
    /// [`stop`](Self::stop) does: its impls unregistered first, then its `stop` within
    /// `grace`, its token cancelled, its tasks given the rest of the grace) and keeps it off
    /// until [`enable`](Self::enable): [`start`](Self::start) does not start it again (its
    /// report lists it as disabled "at run time"), [`restart`](Self::restart) and
    /// [`replace`](Self::replace) refuse it, a plugin added later that requires it does not
    /// resolve (the error notes it is disabled), and the shutdown report says "disabled at
    /// run time". Its [`PluginInfo::disabled`](super::PluginInfo::disabled) is
    /// [`DisabledBy::Runtime`]; its state is the one its stop left (`Stopped` if it ran,
    /// `Failed` if its `stop` failed or timed out, unchanged if it was not running).
    ///
    /// Returns how it stopped ([`StopOutcome::NotStarted`](super::StopOutcome::NotStarted)
    /// with its state if it was not running), or `None` if it was disabled already
    /// (nothing changed).
    ///
    /// Announced as [`PluginEvent::Admin`](super::PluginEvent::Admin) with
    /// [`AdminAction::Disable`] when [admin events](super::PluginHostBuilder::admin_events)
    /// are on; its stop is a [`PluginEvent::StateChanged`](super::PluginEvent::StateChanged).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hookwire::config::DisabledBy;
    /// use hookwire::plugin::{PluginState, StopOutcome};
    /// use hookwire::{Plugin, PluginHost, PluginMeta, Registrar, RegisterError};
    /// hookwire::hookspec! { pub struct Ping(()) -> &'static str; }
    ///
    /// struct Pong;
    /// impl Plugin for Pong {
    ///     fn meta(&self) -> PluginMeta { PluginMeta::new("pong", "1.0.0") }
    ///     fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
    ///         r.sync_fn::<Ping>(|_| Ok(Some("pong"))).add()
    ///     }
    /// }
    ///
    /// let pm = PluginHost::new();
    /// pm.add(Pong).unwrap();
    /// pm.start().await.unwrap();
    /// let grace = Duration::from_secs(1);
    /// let stop = pm.disable("pong", grace).await.unwrap().unwrap();
    /// assert_eq!(stop.outcome, StopOutcome::Stopped);
    /// assert_eq!(pm.plugins().get("pong").unwrap().disabled, Some(DisabledBy::Runtime));
    /// assert_eq!(pm.hook::<Ping>().call(&()).await.unwrap().into_value(), None);
    /// assert!(pm.disable("pong", grace).await.unwrap().is_none()); // disabled already
    ///
    /// pm.start().await.unwrap(); // leaves it off
    /// assert_eq!(pm.state("pong"), Some(PluginState::Stopped));
    /// let report = pm.shutdown(grace).await;
    /// assert_eq!(report.to_string(), "stopped none\nnot running 1: pong (disabled at run time)");
    /// # });
    /// ```
    ///
    /// # Errors
    /// Nothing changes with these:
    /// - [`PluginError::Unknown`] for a name that was never added;
    /// - [`PluginError::Required`] while enabled plugins that depend on it are registered or
    ///   running (disable them first).
    ///
    /// # Cancel safety
    /// Not cancel safe: dropping the future while the plugin's `stop` runs (or while its
    /// start under way is waited for) fails it ("its stop was cancelled"), releasing what it
    /// holds, and does not disable it: call `disable` again. Dropped before that (waiting for
    /// another operation of the host), nothing changed.
    pub async fn disable(
        &self,
        name: &str,
        grace: Duration,
    ) -> Result<Option<PluginStop>, PluginError> {
        let host = &*self.inner;
        let _ops = host.ops.lock().await;
        host.admin(name, AdminAction::Disable);
        let old = self.cell(name)?;
        if old.disabled.is_some() {
            return Ok(None);
        }
        let dependents = self.live_dependents(name);
        if !dependents.is_empty() {
            return Err(PluginError::Required {
                plugin: name.to_owned(),
                dependents,
            });
        }
        self.unregister_keeping_places(&old);
        let (stop, given_up) = self.stop_guarded(&old, grace, "disable").await;
        let state = if given_up {
            // That life stops itself when its start ends; this one never ran.
            PluginState::Failed(
                "disabled while it was still starting after the grace period".to_owned(),
            )
        } else {
            old.run().state.clone()
        };
        let cell = Arc::new(Cell::new(
            old.plugin.clone(),
            old.meta.clone(),
            old.lazy,
            Some(DisabledBy::Runtime),
            state,
            old.layer.clone(),
        ));
        // Its impls go back where they were when it is enabled again.
        cell.run().places = old.run().places.take();
        {
            let mut reg = host.registry();
            reg.cells.insert(cell.name.clone(), cell.clone());
            Arc::make_mut(&mut reg.enabled).retain(|c| !Arc::ptr_eq(c, &old));
            reg.disabled.push(cell);
        }
        tracing::info!(plugin = %name, outcome = ?stop.outcome, "plugin disabled at run time");
        Ok(Some(stop))
    }
}
