//! [`ProcessPlugin`]: a plugin whose impls run in child processes, as a [`Plugin`] of its
//! host: registration of its impls, its lifecycle, what it tells about its processes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;

#[cfg(feature = "config")]
use super::builder::merge_json;
use super::builder::ProcessPluginBuilder;
use super::error::ProcessError;
use super::launch::LaunchSpec;
use super::peer::DEFAULT_MAX_MESSAGE_BYTES;
use super::pool::{lock, Supervised};
use super::protocol::{HookImplDecl, HostInfo};
use super::restart::RestartPolicy;
use crate::error::{BoxError, RegisterError};
use crate::hookimpl::HookReturn;
use crate::manager::registrar::Registrar;
use crate::manager::HookManager;
use crate::plugin::{Health, Plugin, PluginContext, PluginMeta};

/// A plugin running in a child process, speaking `docs/protocol.md` over its stdio: a
/// [`Plugin`] like any other (add it to a [`PluginHost`](crate::PluginHost)), whose impls are
/// the hooks it declared in the handshake, registered as JSON impls with its options.
///
/// Once its host starts it (from the moment `start` is sent: a process that exited since its
/// handshake counts too), a process that crashes is started again after a backoff
/// ([`RestartPolicy`]); calls made meanwhile go to the other instances, or fail at once
/// ([`ProcessError::Restarting`]) when none serves. Each crash and restart is sent to the
/// host's subscribers ([`PluginEvent::Crashed`], [`PluginEvent::Restarted`]). At the policy's
/// start limit its host marks it [`Failed`](crate::plugin::PluginState::Failed) and the
/// plugin stops its other processes: its impls are unregistered, and
/// [`PluginHost::restart`](crate::PluginHost::restart) brings it back. A `start` that fails
/// (a process refuses it or does not answer in time) stops every process, a restart under
/// way included: its host marks it `Failed`, and a restart starts new processes.
///
/// With [`instances`](ProcessPluginBuilder::instances) above 1, several processes serve it;
/// see there.
///
/// Dropping it (once the host has let it go) kills its processes.
///
/// A handle and its clones share one set of processes, so they serve one plugin: the host
/// that first runs it, for its life (its restarts, `enable`), and while that plugin runs no
/// copy of it under another name or as its replacement. Starting a copy there fails that
/// copy's start, saying so: build a new `ProcessPlugin` for each host, name and
/// replacement.
///
/// [`PluginEvent::Crashed`]: crate::plugin::PluginEvent::Crashed
/// [`PluginEvent::Restarted`]: crate::plugin::PluginEvent::Restarted
#[derive(Clone)]
pub struct ProcessPlugin {
    inner: Arc<Supervised>,
}

impl std::fmt::Debug for ProcessPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPlugin")
            .field("name", &self.inner.name)
            .field("version", &self.version())
            .field(
                "hooks",
                &self.hooks().iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ProcessPlugin {
    /// A builder for plugin `name`, run as `program` (a name looked up in `PATH`, or a path).
    pub fn builder(name: impl Into<String>, program: impl Into<PathBuf>) -> ProcessPluginBuilder {
        ProcessPluginBuilder {
            name: name.into(),
            launch: LaunchSpec::new(program.into(), "."),
            config: Value::Object(serde_json::Map::new()),
            host: HostInfo {
                name: "hookwire".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            start_timeout: Duration::from_secs(5),
            grace: Duration::from_secs(2),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            stderr_lines: 20,
            restart: RestartPolicy::default(),
            version: None,
            declared: None,
            call_timeout: None,
            instances: 1,
            prepare: None,
        }
    }

    pub(super) fn from_builder(builder: ProcessPluginBuilder) -> Self {
        ProcessPlugin {
            inner: Arc::new(Supervised::new(builder)),
        }
    }

    /// Starts every instance and shakes hands (what `spawn` and `init` do).
    pub(super) async fn launch_all(
        &self,
        hooks: &HookManager,
        config: Value,
    ) -> Result<(), ProcessError> {
        self.inner.launch_all(hooks, config).await
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The version the plugin answered in the handshake; before any process answered, the
    /// builder's [`version`](ProcessPluginBuilder::version) (or `0.0.0`).
    pub fn version(&self) -> &str {
        match self.inner.answered.get() {
            Some((version, _)) => version,
            None => self.inner.builder.version.as_deref().unwrap_or("0.0.0"),
        }
    }

    /// The hooks it implements, with their options, as its first process declared them
    /// (empty before any process answered).
    pub fn hooks(&self) -> &[HookImplDecl] {
        self.inner.answered.get().map_or(&[], |(_, hooks)| hooks)
    }

    /// How many processes serve it ([`ProcessPluginBuilder::instances`]).
    pub fn instances(&self) -> usize {
        self.inner.instances()
    }

    /// How many lines from its current (or last) processes were not protocol (not JSON, not
    /// JSON-RPC, too long, an answer to an id not waited for), all instances together; 0
    /// before any process ran.
    pub fn protocol_errors(&self) -> u64 {
        self.inner
            .lasts()
            .iter()
            .map(|p| p.peer.protocol_errors())
            .sum()
    }

    /// The last stderr lines, oldest first, of the first instance whose process has ended
    /// (else of the first instance's process).
    pub fn stderr_tail(&self) -> Vec<String> {
        let lasts = self.inner.lasts();
        lasts
            .iter()
            .find(|p| p.exit.borrow().is_some())
            .or(lasts.first())
            .map(|p| lock(&p.tail).iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How the process of the first instance whose process has ended ended (`exited with
    /// status 3`), or `None` while every instance's runs (or before any process ran).
    pub fn exit_status(&self) -> Option<String> {
        self.inner
            .lasts()
            .iter()
            .find_map(|p| p.exit.borrow().clone())
    }

    /// The process id of the first instance serving now, if one is.
    pub fn pid(&self) -> Option<u32> {
        self.inner
            .running()
            .into_iter()
            .flatten()
            .map(|p| p.pid)
            .next()
    }

    /// The process ids of the instances serving now, in instance order (an instance
    /// restarting after a crash is left out).
    pub fn pids(&self) -> Vec<u32> {
        self.inner
            .running()
            .into_iter()
            .flatten()
            .map(|p| p.pid)
            .collect()
    }

    /// Whether a process serves now (for several instances: at least one), not restarting
    /// after a crash, not failed.
    pub fn is_serving(&self) -> bool {
        self.inner.running().iter().any(Option::is_some)
    }
}

#[async_trait::async_trait]
impl Plugin for ProcessPlugin {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new(&*self.inner.name, self.version())
    }

    /// Registers the declared hooks ([`ProcessPluginBuilder::hooks`]) with no options of
    /// their own but the call timeout, else the hooks the handshake named, with its options
    /// (the timeout: the smaller of the plugin's and the call timeout).
    ///
    /// # Errors
    /// [`RegisterError`] from the registration, or a plugin error when neither the hooks
    /// are declared nor a process answered yet (the host calls `register` after `init` for
    /// such a plugin).
    fn register(self: Arc<Self>, r: &mut Registrar) -> Result<(), RegisterError> {
        let limit = self.inner.builder.call_timeout;
        let decls: Vec<HookImplDecl> = match (&self.inner.builder.declared, self.inner.answered.get()) {
            (Some(names), _) => names
                .iter()
                .map(|name| HookImplDecl::new(name.clone()))
                .collect(),
            (None, Some((_, decls))) => decls.clone(),
            (None, None) => {
                return Err(RegisterError::Plugin {
                    plugin: self.inner.name.to_string(),
                    reason: "it has not started, so its hooks are not known yet; declare them (`[process] hooks` in its manifest, `ProcessPluginBuilder::hooks`) or let its host start it".to_owned(),
                })
            }
        };
        for decl in &decls {
            let plugin = self.inner.clone();
            let hook: Arc<str> = decl.name.as_str().into();
            let timeout = match (decl.timeout_ms.map(Duration::from_millis), limit) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut b = r
                .json_async_fn(
                    &decl.name,
                    move |args: &Value| -> BoxFuture<'_, HookReturn<Value>> {
                        let plugin = plugin.clone();
                        let hook = hook.clone();
                        Box::pin(async move { plugin.call(&hook, args, timeout).await })
                    },
                )
                .priority(decl.priority);
            if decl.tryfirst {
                b = b.tryfirst();
            }
            if decl.trylast {
                b = b.trylast();
            }
            for p in &decl.before {
                b = b.before(p);
            }
            for p in &decl.after {
                b = b.after(p);
            }
            if let Some(t) = timeout {
                b = b.timeout(t);
            }
            b.add()?;
        }
        Ok(())
    }

    fn register_after_init(&self) -> bool {
        self.inner.builder.declared.is_none() && self.inner.answered.get().is_none()
    }

    /// Starts the processes and shakes hands (unless [`spawn`](ProcessPluginBuilder::spawn)
    /// did, for this first life), sending the builder's configuration with the host's over
    /// it. A plugin built without a [`version`](ProcessPluginBuilder::version) then gives
    /// its host the version its process answered: the host lists it
    /// ([`PluginHost::plugins`](crate::PluginHost::plugins)) and reports it
    /// ([`PluginEvent::Replaced`](crate::plugin::PluginEvent::Replaced)) for this life.
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        let _one = self.inner.lifecycle.lock().await;
        let link = ctx.host_link();
        if self.inner.set_link(link.clone()).is_err() {
            return Err(format!(
                "this `ProcessPlugin` serves as plugin `{}` (of another host, or still running in this one under that name or as the plugin it would replace); its processes serve one plugin: build a new `ProcessPlugin` for each host, name and replacement",
                self.name()
            )
            .into());
        }
        if !self.inner.all_running() {
            #[cfg_attr(not(feature = "config"), allow(unused_mut))]
            let mut config = self.inner.builder.config.clone();
            #[cfg(feature = "config")]
            merge_json(&mut config, ctx.config::<Value>()?);
            self.inner.launch_all(ctx.hooks(), config).await?;
        }
        // Built without a version: the host shows the one the process answered.
        if self.inner.builder.version.is_none() {
            link.state_version(self.version());
        }
        Ok(())
    }

    async fn start(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        self.inner.start_all().await?;
        Ok(())
    }

    async fn stop(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        self.inner.stop_all().await?;
        Ok(())
    }

    /// Stops the processes [`spawn`](ProcessPluginBuilder::spawn) started, when the host
    /// fails the plugin before its `init` (a registration or a dependency failed) and no
    /// host ran its `init` (a handle shared with a host that runs it keeps them): a `Failed`
    /// plugin holds no process. A `restart` launches new ones.
    async fn release_unstarted(&self) {
        self.inner.release_unstarted().await;
    }

    async fn health(&self) -> Health {
        self.inner.health().await
    }
}
