//! [`ProcessPluginBuilder`]: what to run for a process plugin, and how.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::error::ProcessError;
use super::launch::{LaunchSpec, ResourceLimits, Sandbox};
use super::process::ProcessPlugin;
use super::protocol::HostInfo;
use super::restart::RestartPolicy;
use crate::manager::HookManager;

/// Builds a [`ProcessPlugin`]: the program, its arguments, working directory, environment,
/// configuration and limits. Made by [`ProcessPlugin::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` or `spawn` is called"]
pub struct ProcessPluginBuilder {
    pub(super) name: String,
    pub(super) launch: LaunchSpec,
    pub(super) config: Value,
    pub(super) host: HostInfo,
    pub(super) start_timeout: Duration,
    pub(super) grace: Duration,
    pub(super) max_message_bytes: usize,
    pub(super) stderr_lines: usize,
    pub(super) restart: RestartPolicy,
    pub(super) version: Option<String>,
    pub(super) declared: Option<Vec<String>>,
    pub(super) call_timeout: Option<Duration>,
    pub(super) instances: usize,
    pub(super) prepare: Option<Prepare>,
}

/// What a process start owns besides the process (a verified copy of its files): dropped with
/// the process.
pub(crate) type StartGuard = Box<dyn std::any::Any + Send + Sync>;

/// What [`Prepare`] runs: the launch spec and what to keep, or why the start is refused.
type PrepareFn = dyn Fn() -> Result<(LaunchSpec, StartGuard), String> + Send + Sync;

/// Run (on a blocking thread) before every start and restart of each process: the launch spec
/// to start it with, and what to keep until it is gone; or why it must not start.
#[derive(Clone)]
pub(crate) struct Prepare(pub(crate) std::sync::Arc<PrepareFn>);

impl std::fmt::Debug for Prepare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepare")
    }
}

impl ProcessPluginBuilder {
    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.launch.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> Self {
        self.launch.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The working directory (normally the plugin's folder; a relative program path is
    /// relative to it). Default: the host's.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.launch.folder = dir.into();
        self
    }

    /// Sets an environment variable. The environment is otherwise cleared, except
    /// [`ENV_ALLOW_LIST`](super::ENV_ALLOW_LIST), plus `HOOKWIRE_PLUGIN=1`.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.launch.env.insert(key.into(), value.into());
        self
    }

    /// Unix resource limits for the process (address space, CPU seconds, open files), set
    /// before it runs; exceeding them ends or hobbles only this plugin, and its crash report
    /// names the limit (see [`describe_exit`](super::describe_exit)). Default: none.
    pub fn limits(mut self, limits: ResourceLimits) -> Self {
        self.launch.limits = limits;
        self
    }

    /// Confines the process with Landlock (Linux): it may read and write only where `sandbox`
    /// says. On a kernel without Landlock the start fails rather than run unconfined.
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.launch.sandbox = Some(sandbox);
        self
    }

    /// The plugin's configuration, sent in `initialize` (a JSON object). Default: `{}`.
    pub fn config(mut self, config: Value) -> Self {
        self.config = config;
        self
    }

    /// The host's name and version, sent in `initialize`. Default: `hookwire` and this
    /// crate's version.
    pub fn host(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.host = HostInfo {
            name: name.into(),
            version: version.into(),
        };
        self
    }

    /// How long the plugin may take to answer `initialize` (and `start`), and how long the
    /// verified copy of its pinned files made before each start may take (a manifest plugin
    /// with `[sha256]`). Default: 5 s.
    pub fn start_timeout(mut self, limit: Duration) -> Self {
        self.start_timeout = limit;
        self
    }

    /// How long the plugin may take to answer `shutdown`, then to exit after `exit`, before
    /// it is killed. Default: 2 s.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The longest message the host reads from the plugin. Default: 16 MiB.
    pub fn max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = max;
        self
    }

    /// How many of the plugin's last stderr lines are kept to explain a crash. Default: 20.
    pub fn stderr_lines(mut self, lines: usize) -> Self {
        self.stderr_lines = lines;
        self
    }

    /// Whether and when a crashed plugin is started again (once started by its host).
    /// Default: [`RestartPolicy::default`].
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// Runs `prepare` before every start and restart instead of starting from the builder's
    /// launch spec (discovery: a verified copy of a plugin's pinned files).
    #[cfg_attr(
        not(all(feature = "discovery", feature = "security")),
        allow(dead_code)
    )]
    pub(crate) fn prepare(mut self, prepare: Prepare) -> Self {
        self.prepare = Some(prepare);
        self
    }

    /// Everything about the process to start, as a [`LaunchSpec`] (a manifest's).
    #[cfg_attr(not(feature = "discovery"), allow(dead_code))]
    pub(crate) fn launch_spec(mut self, launch: LaunchSpec) -> Self {
        self.launch = launch;
        self
    }

    /// The plugin's version as its host sees it before the process answers (a manifest's
    /// `version`): what [`Plugin::meta`](crate::Plugin::meta) gives for a plugin made by [`build`](Self::build),
    /// so that dependencies on it resolve before it runs. A process answering another
    /// version is logged (a warning); its own is then [`ProcessPlugin::version`].
    /// Default: none — `0.0.0` until a process answered (what dependencies on a plugin
    /// made by `build` resolve against), then the version the process answered in the
    /// handshake, which its host lists and reports once its `init` ran.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The hooks the plugin implements, declared before it runs (a manifest's
    /// `[process] hooks`): its impls are registered from this list, so that it can be lazy
    /// (started by the first call that reaches one of them). The handshake must then name
    /// exactly these hooks ([`ProcessError::HooksMismatch`] otherwise). The options the process
    /// declares for them are checked but not used: their priority is the host's (a
    /// manifest's `[priority]`, the host file's), their timeout the
    /// [`call_timeout`](Self::call_timeout). Default: not declared (the impls are the
    /// hooks the handshake names, with its options).
    pub fn hooks<I: IntoIterator<Item = S>, S: Into<String>>(mut self, hooks: I) -> Self {
        self.declared = Some(hooks.into_iter().map(Into::into).collect());
        self
    }

    /// How many processes serve the plugin (a manifest's `[process] instances`; at least 1,
    /// the default). Each call goes to the instance with the fewest calls in flight (ties
    /// taken in turn); a crashed instance fails only its own calls in flight and is
    /// restarted (the [`restart`](Self::restart) policy, whose start limit counts the
    /// crashes of all instances together) while the others serve. Every instance must
    /// answer the handshake alike (the same version, hooks and options): the start fails
    /// otherwise, naming the difference ([`ProcessError::InstancesDisagree`]). The host's
    /// `stop` stops them all, each gracefully then by force.
    ///
    /// ```
    /// use hookwire::external::ProcessPlugin;
    /// let plugin = ProcessPlugin::builder("resizer", "python3").arg("main.py").instances(4).build();
    /// assert_eq!(plugin.instances(), 4);
    /// ```
    pub fn instances(mut self, n: usize) -> Self {
        self.instances = n.max(1);
        self
    }

    /// The time limit of each call (a manifest's `call_timeout_ms`): the impls' timeout,
    /// unless the process declares a smaller one for a hook. Default: none.
    pub fn call_timeout(mut self, limit: Duration) -> Self {
        self.call_timeout = Some(limit);
        self
    }

    /// A plugin not started yet: add it to a [`PluginHost`](crate::PluginHost), whose
    /// `start` (or, for a lazy plugin, the first call that reaches it) runs its
    /// [`init`](crate::Plugin::init), which starts the program and shakes hands, offering the
    /// host's JSON hooks and sending as the plugin's configuration the builder's
    /// [`config`](Self::config) with the plugin's configuration from its host over it
    /// (`PluginContext::config`, feature `config`). A failed handshake is that plugin's
    /// start failure (in [`StartReport::failed`](crate::plugin::StartReport::failed)).
    ///
    /// Without [`hooks`](Self::hooks), the impls are the hooks the handshake names, with
    /// their options, registered once the plugin started; with them, before it runs.
    /// Unlike [`spawn`](Self::spawn), this starts nothing: the host decides when.
    ///
    /// ```
    /// use hookwire::external::ProcessPlugin;
    /// let plugin = ProcessPlugin::builder("greeter", "python3")
    ///     .arg("main.py")
    ///     .current_dir("plugins/greeter")
    ///     .version("1.0.0")
    ///     .hooks(["greet"])
    ///     .build();
    /// assert_eq!(plugin.name(), "greeter");
    /// assert!(!plugin.is_serving());
    /// ```
    pub fn build(self) -> ProcessPlugin {
        ProcessPlugin::from_builder(self)
    }

    /// Starts the program and performs the `initialize` handshake, offering the hooks of
    /// `hooks` that are reachable from JSON (typed specs declared with `json_spec`, and
    /// dynamic specs). Add the result to a [`PluginHost`](crate::PluginHost) like any plugin:
    /// its `start` sends `start`, its `stop` sends `shutdown` and `exit`. Calls from the
    /// plugin (`host/call`) go through `hooks`, which the plugin does not keep alive.
    ///
    /// # Errors
    /// [`ProcessError`]: the program could not start, did not answer within the start
    /// timeout, exited, refused the host, or answered something this host refuses (an
    /// incompatible protocol version, another name, a hook not offered, an invalid option).
    /// The process is killed.
    ///
    /// # Cancel safety
    /// Dropping the future kills the process.
    pub async fn spawn(self, hooks: &HookManager) -> Result<ProcessPlugin, ProcessError> {
        let config = self.config.clone();
        let plugin = self.build();
        plugin.launch_all(hooks, config).await?;
        Ok(plugin)
    }

    /// [`spawn`](Self::spawn) for `host`: offers `host`'s hooks, and sends as the plugin's
    /// configuration the builder's [`config`](Self::config) (a manifest's `[config]`) with
    /// the host configuration file's section for the plugin over it (with feature `config`:
    /// the file's keys win, tables merged key by key, as for in-process plugins).
    ///
    /// # Errors
    /// As `spawn`; a host configuration section that cannot be read as JSON is
    /// [`ProcessError::Lifecycle`] (step `config`).
    ///
    /// # Cancel safety
    /// As `spawn`.
    pub async fn spawn_in(self, host: &crate::PluginHost) -> Result<ProcessPlugin, ProcessError> {
        let builder = self;
        #[cfg(feature = "config")]
        let builder = {
            let mut builder = builder;
            let section: Value = host.config().plugin_config(&builder.name).map_err(|e| {
                ProcessError::Lifecycle {
                    plugin: builder.name.clone(),
                    step: "config",
                    detail: e.to_string(),
                }
            })?;
            merge_json(&mut builder.config, section);
            builder
        };
        builder.spawn(host.hooks()).await
    }
}

/// `over`'s keys over `base`'s, objects merged key by key (a non-object `over` replaces).
#[cfg_attr(not(feature = "config"), allow(dead_code))]
pub(super) fn merge_json(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (k, v) in over {
                match base.get_mut(&k) {
                    Some(b) => merge_json(b, v),
                    None => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (base, Value::Null) if !base.is_null() => {}
        (base, over) => *base = over,
    }
}
