//! [`HostLink`]: how a plugin that watches something of its own (a process plugin's
//! supervisor, on its own task) tells its host what happened — an event for the host's
//! subscribers, or that the plugin failed and stays stopped.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::cell::{Cell, Host};
use super::events::PluginEvent;
use super::gate::{GateSubject, Refusal, TrustSource};
use super::lifecycle::PluginState;
use super::meta::PluginMeta;
use crate::error::RegisterError;
use crate::manager::Restriction;

/// A plugin's link to the host that started it, for this life of the plugin (its cell): it
/// holds both weakly, so a plugin removed, replaced or whose host is gone does nothing
/// through it. Crate-internal: got from [`PluginContext::host_link`](super::PluginContext).
#[derive(Clone)]
#[cfg_attr(not(feature = "process"), allow(dead_code))]
pub(crate) struct HostLink {
    host: Weak<Host>,
    cell: Weak<Cell>,
}

#[cfg_attr(not(feature = "process"), allow(dead_code))]
impl HostLink {
    pub(crate) fn new(host: Weak<Host>, cell: Weak<Cell>) -> Self {
        HostLink { host, cell }
    }

    /// Whether a plugin with this link must refuse `other` (the link of the `init` about to
    /// run): `other` is of another host (a handle serves the host that first ran it, for its
    /// life: its processes were launched for that host's hooks), or of another life of a
    /// plugin while this one still runs (another name, or a replacement sharing the handle:
    /// stopping either would stop both). Not for this life again (a restart, `enable`), nor a
    /// later one once this one is over.
    pub(crate) fn refuses(&self, other: &HostLink) -> bool {
        !Weak::ptr_eq(&self.host, &other.host)
            || (self.is_live() && !Weak::ptr_eq(&self.cell, &other.cell))
    }

    /// Whether this life of the plugin still serves in its host and is not over (stopped or
    /// failed).
    pub(crate) fn is_live(&self) -> bool {
        self.current().is_some_and(|(_, cell)| {
            matches!(
                cell.run().state,
                PluginState::Registered | PluginState::Initialized | PluginState::Started
            )
        })
    }

    /// What the host's gate says of this plugin calling hook `hook` through the host (a
    /// process plugin's `host/call`): the check of an impl of that hook, so a plugin may call
    /// only the guarded hooks it may implement. `Ok` without a gate (or once the host is
    /// gone); a refusal is logged and announced ([`PluginEvent::Refused`]) and returned as a
    /// message naming the plugin, the hook and the permission.
    pub(crate) fn check_call(&self, hook: &str) -> Result<(), String> {
        self.check_hook(hook, true)
    }

    /// As [`check_call`](Self::check_call), for an impl of `hook` the plugin registers (with
    /// `call`: for a call of it).
    fn check_hook(&self, hook: &str, call: bool) -> Result<(), String> {
        let Some(host) = self.host.upgrade() else {
            return Ok(());
        };
        let Some(gate) = &host.gate else {
            return Ok(());
        };
        let checked = match self.cell.upgrade() {
            Some(cell) => gate.check_hook(&cell.subject(), hook),
            // The plugin is gone (its process outlived it): it holds no permission any more.
            None => {
                let meta = PluginMeta::new("", "0.0.0");
                gate.check_hook(&GateSubject::new(&meta, &TrustSource::Code), hook)
            }
        };
        let Err(refusal) = checked else {
            return Ok(());
        };
        let error = match &refusal {
            _ if !call => refusal.to_string(),
            Refusal::Hook {
                plugin,
                hook,
                permission,
                reason,
            } => format!("plugin `{plugin}` may not call hook `{hook}` through the host: it needs permission `{permission}`, which {reason}"),
            other => format!("the host refuses a call of hook `{hook}`: {other}"),
        };
        tracing::warn!(plugin = %refusal.plugin(), permission = refusal.permission(), "{error}");
        let _ = host.events.send(PluginEvent::Refused {
            plugin: refusal.plugin().to_owned(),
            permission: refusal.permission().map(str::to_owned),
            error: error.clone(),
        });
        Err(error)
    }

    /// Announces that this plugin was refused `error` (no permission at fault).
    fn refused(&self, error: String) {
        let Some(host) = self.host.upgrade() else {
            return;
        };
        let plugin = self
            .cell
            .upgrade()
            .map_or_else(String::new, |c| c.name.to_string());
        tracing::warn!(plugin = %plugin, "{error}");
        let _ = host.events.send(PluginEvent::Refused {
            plugin,
            permission: None,
            error,
        });
    }

    /// Whether this life of the plugin still serves under its name in its host.
    fn current(&self) -> Option<(Arc<Host>, Arc<Cell>)> {
        let (host, cell) = (self.host.upgrade()?, self.cell.upgrade()?);
        let serving = host
            .registry()
            .cells
            .get(&cell.name)
            .is_some_and(|c| Arc::ptr_eq(c, &cell));
        serving.then_some((host, cell))
    }

    /// Sends `event` (what the plugin's supervisor saw: a crash, a restart) to the host's
    /// subscribers while this instance is the plugin, and while it is a replacement starting
    /// to take over (unless that failed): its processes are the plugin's, whichever instance
    /// serves (see [`PluginEvent`]).
    pub(crate) fn announce(&self, event: PluginEvent) {
        let (Some(host), Some(cell)) = (self.host.upgrade(), self.cell.upgrade()) else {
            return;
        };
        let ours = if self.current().is_some() {
            cell.announce.load(Ordering::Acquire)
        } else {
            // Not once its replacement failed or was stopped.
            cell.stand_in.load(Ordering::Acquire)
                && matches!(
                    cell.run().state,
                    PluginState::Registered | PluginState::Initialized | PluginState::Started
                )
        };
        if ours && host.events.receiver_count() > 0 {
            let _ = host.events.send(event);
        }
    }

    /// The plugin states its version now that it runs (a process plugin built without one:
    /// the version its process answered in the handshake): the host shows and reports it for
    /// this life of the plugin ([`PluginHost::plugins`](super::PluginHost::plugins),
    /// [`PluginEvent::Replaced`]) in place of its metadata's. Once per life; later calls
    /// change nothing.
    pub(crate) fn state_version(&self, version: &str) {
        let Some(cell) = self.cell.upgrade() else {
            return;
        };
        match semver::Version::parse(version) {
            Ok(v) => {
                let _ = cell.stated_version.set(v);
            }
            Err(e) => {
                tracing::warn!(plugin = %cell.name, version = %crate::limits::Quote(version), error = %e, "the version the plugin stated is not semver; its metadata's is shown");
            }
        }
    }

    /// The plugin failed on its own (a process plugin at its start limit), after it started
    /// or while its `start` runs: the host marks it `Failed` with `reason` (a `StateChanged`
    /// event), unregisters its impls, cancels its context and forgets it as started, so its
    /// `stop` is not called; a start under way then ends with `reason` as its error. Returns
    /// whether it did (not for a plugin that is not `Initialized` or `Started` any more:
    /// stopping, stopped, failed, or replaced).
    pub(crate) fn fail(&self, reason: String) -> bool {
        let (Some(host), Some(cell)) = (self.host.upgrade(), self.cell.upgrade()) else {
            return false;
        };
        // Under the lock its start takes to become `Started` (and listed): a start under way
        // either sees the failure or is over, listed, before it.
        let _closing = cell.closing.lock().unwrap_or_else(PoisonError::into_inner);
        let state = cell.run().state.clone();
        match state {
            // Still starting (a replacement's start-up, too, before it takes over).
            PluginState::Initialized => {
                host.fail(&cell, reason);
            }
            // Current, or a replacement that started but has not taken over yet (its swap,
            // under this lock too, then sees the failure and keeps the old instance).
            PluginState::Started
                if self.current().is_some() || cell.stand_in.load(Ordering::Acquire) =>
            {
                host.fail(&cell, reason);
                host.registry().started.retain(|c| !Arc::ptr_eq(c, &cell));
            }
            _ => return false,
        }
        true
    }
}

/// What a plugin may change through the hook manager its context hands out (when its host
/// has a gate): it registers impls as its own are checked (an impl of a guarded hook needs
/// the permission), and unregisters, blocks or unblocks only its own name and the names it
/// registered through that manager — never another plugin's.
pub(crate) struct ContextHooks {
    link: HostLink,
    own: Mutex<HashSet<String>>,
}

impl ContextHooks {
    pub(crate) fn new(link: HostLink) -> Self {
        ContextHooks {
            link,
            own: Mutex::new(HashSet::new()),
        }
    }
}

impl Restriction for ContextHooks {
    fn register(&self, _name: &str, hooks: &[&str]) -> Result<(), RegisterError> {
        for hook in hooks {
            self.link
                .check_hook(hook, false)
                .map_err(RegisterError::Refused)?;
        }
        Ok(())
    }

    fn registered(&self, name: &str) {
        self.own
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned());
    }

    fn may_remove(&self, name: &str, action: &str) -> bool {
        let plugin = self
            .link
            .cell
            .upgrade()
            .map(|c| c.name.to_string())
            .unwrap_or_default();
        if name == plugin
            || self
                .own
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(name)
        {
            return true;
        }
        self.link.refused(format!(
            "plugin `{plugin}` may not {action} `{name}` through its context's hook manager: a plugin changes only its own registrations (its name, and the names it registered itself); the host's code manages the others"
        ));
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use crate::plugin::{Plugin, PluginContext, PluginError, PluginHost, PluginMeta};
    use crate::{BoxError, RegisterError, Registrar};

    use super::*;

    crate::hookspec! { struct Which(()) -> &'static str; }

    /// Names its impls once it runs, like a process plugin; `fails_late` fails it through
    /// its link from `register`, i.e. after its start ended and before a replacement of it
    /// takes over (where a process plugin's monitor may fail it at its start limit).
    struct Late {
        version: &'static str,
        fails_late: bool,
        link: Mutex<Option<HostLink>>,
    }

    #[async_trait::async_trait]
    impl Plugin for Late {
        fn meta(&self) -> PluginMeta {
            PluginMeta::new("late", self.version)
        }

        fn register_after_init(&self) -> bool {
            true
        }

        async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
            *self.link.lock().unwrap() = Some(ctx.host_link());
            Ok(())
        }

        fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
            if self.fails_late {
                let link = self.link.lock().unwrap().clone().expect("init ran");
                assert!(link.fail("its processes reached their start limit".to_owned()));
            }
            let version = self.version;
            r.sync_fn::<Which>(move |()| Ok(Some(version))).add()
        }
    }

    fn late(version: &'static str, fails_late: bool) -> Late {
        Late {
            version,
            fails_late,
            link: Mutex::new(None),
        }
    }

    #[tokio::test]
    async fn a_replacement_failed_through_its_link_before_the_swap_leaves_the_old_instance_serving()
    {
        let host = PluginHost::new();
        host.add(late("1.0.0", false)).unwrap();
        let report = host.start().await.unwrap();
        assert!(report.failed.is_empty(), "{report:?}");

        let err = host
            .replace("late", late("2.0.0", true), Duration::from_secs(1))
            .await
            .unwrap_err();
        let PluginError::Failed { plugin, reason } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(plugin, "late");
        assert_eq!(reason, "its processes reached their start limit");

        // The old instance still serves, and is still the one the host lists as started.
        let out = host.hook::<Which>().call(&()).await.unwrap();
        assert_eq!(out.into_values(), ["1.0.0"]);
        assert_eq!(host.state("late"), Some(PluginState::Started));
    }
}
