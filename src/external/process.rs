//! The host side of a process plugin: start the child, shake hands, register its impls as
//! JSON impls, call them over the connection, serve its calls back, stop it.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::io::BufReader;
use tokio::process::Child;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::error::ProcessError;
use super::framing::{Line, LineReader};
use super::launch::{self, describe_exit, LaunchSpec, ResourceLimits, Sandbox};
use super::peer::{Connection, Handler, Peer, PeerError, DEFAULT_MAX_MESSAGE_BYTES};
use super::protocol::{
    codes, compatible, HealthStatus, HookAnswer, HookCallParams, HookImplDecl, HookMode, HookOffer,
    HostAnswer, HostCallParams, HostCallResult, HostFailure, HostInfo, InitializeParams,
    InitializeResult, Limits, LogLevel, LogParams, PluginSetup, RpcError, MAX_CALL_DEPTH,
    PROTOCOL_VERSION,
};
use super::restart::{CrashHistory, RestartPolicy};
use crate::error::{BoxError, CallError, RegisterError};
use crate::hookimpl::HookReturn;
use crate::limits::Quote;
use crate::manager::registrar::Registrar;
use crate::manager::{HookManager, WeakManager};
use crate::outcome::ImplOutcome;
use crate::plugin::{Health, Plugin, PluginContext, PluginMeta};
use crate::spec::CallMode;

/// How long a call that lost its connection waits for the process's exit status.
const EXIT_WAIT: Duration = Duration::from_secs(1);
/// How long it then waits for the last stderr lines.
const STDERR_WAIT: Duration = Duration::from_millis(200);
/// The longest stderr line kept whole (a longer one is cut).
const STDERR_LINE_MAX: usize = 4096;
/// How long a `health` request may take.
const HEALTH_LIMIT: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// The `host/call` depth of the call being made on this task (0 outside any).
    static CALL_DEPTH: u32;
    /// The W3C trace context of the calls made on this task.
    static TRACEPARENT: Arc<str>;
}

/// Runs `fut` with `traceparent` (a W3C `traceparent` header value) set for the hook calls it
/// makes: every `hook/call` sent to a process plugin from inside carries it.
///
/// # Cancel safety
/// As `fut`.
pub async fn with_traceparent<F: std::future::Future>(
    traceparent: impl Into<Arc<str>>,
    fut: F,
) -> F::Output {
    TRACEPARENT.scope(traceparent.into(), fut).await
}

/// Builds a [`ProcessPlugin`]: the program, its arguments, working directory, environment,
/// configuration and limits. Made by [`ProcessPlugin::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` or `spawn` is called"]
pub struct ProcessPluginBuilder {
    name: String,
    launch: LaunchSpec,
    config: Value,
    host: HostInfo,
    start_timeout: Duration,
    grace: Duration,
    max_message_bytes: usize,
    stderr_lines: usize,
    restart: RestartPolicy,
    version: Option<String>,
    declared: Option<Vec<String>>,
    call_timeout: Option<Duration>,
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

    /// How long the plugin may take to answer `initialize` (and `start`). Default: 5 s.
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

    /// Everything about the process to start, as a [`LaunchSpec`] (a manifest's).
    #[cfg_attr(not(feature = "discovery"), allow(dead_code))]
    pub(crate) fn launch_spec(mut self, launch: LaunchSpec) -> Self {
        self.launch = launch;
        self
    }

    /// The plugin's version as its host sees it before the process answers (a manifest's
    /// `version`): what [`Plugin::meta`] gives for a plugin made by [`build`](Self::build),
    /// so that dependencies on it resolve before it runs. A process answering another
    /// version is logged (a warning); its own is then [`ProcessPlugin::version`].
    /// Default: `0.0.0`.
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

    /// The time limit of each call (a manifest's `call_timeout_ms`): the impls' timeout,
    /// unless the process declares a smaller one for a hook. Default: none.
    pub fn call_timeout(mut self, limit: Duration) -> Self {
        self.call_timeout = Some(limit);
        self
    }

    /// A plugin not started yet: add it to a [`PluginHost`](crate::PluginHost), whose
    /// `start` (or, for a lazy plugin, the first call that reaches it) runs its
    /// [`init`](Plugin::init), which starts the program and shakes hands, offering the
    /// host's JSON hooks and sending as the plugin's configuration the builder's
    /// [`config`](Self::config) with the plugin's configuration from its host over it
    /// ([`PluginContext::config`], feature `config`). A failed handshake is that plugin's
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
        ProcessPlugin {
            inner: Arc::new(Supervised {
                name: self.name.as_str().into(),
                answered: OnceLock::new(),
                manager: OnceLock::new(),
                config: Mutex::new(self.config.clone()),
                builder: self,
                current: Mutex::new(Current::Idle),
                monitor: Mutex::new(None),
            }),
        }
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
        let process = Arc::new(self.launch(hooks).await?);
        let plugin = self.build();
        plugin.inner.accept(&process)?;
        let _ = plugin.inner.manager.set(hooks.downgrade());
        *lock(&plugin.inner.current) = Current::Running(process);
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

    /// Starts the program and shakes hands: a [`Process`] serving.
    async fn launch(&self, hooks: &HookManager) -> Result<Process, ProcessError> {
        self.launch_with(hooks, &self.config).await
    }

    /// [`launch`](Self::launch) sending `config` as the plugin's configuration.
    async fn launch_with(
        &self,
        hooks: &HookManager,
        config: &Value,
    ) -> Result<Process, ProcessError> {
        let name: Arc<str> = self.name.as_str().into();
        let mut child = launch::spawn(&self.launch).map_err(|source| ProcessError::Spawn {
            plugin: self.name.clone(),
            program: Path::new(&self.launch.program).display().to_string(),
            source,
        })?;
        // Its own process group: the group id is its pid, kept for the stop.
        let pgid = child.id().unwrap_or_default();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            unreachable!("the three streams are piped");
        };
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (stderr_done_tx, stderr_done) = watch::channel(false);
        let stderr_task = tokio::spawn(read_stderr(
            name.clone(),
            stderr,
            tail.clone(),
            self.stderr_lines,
            stderr_done_tx,
        ));
        let kill = Arc::new(Notify::new());
        let (exit_tx, exit) = watch::channel(None);
        let supervisor = tokio::spawn(supervise(
            child,
            pgid,
            self.launch.limits,
            self.grace,
            kill.clone(),
            exit_tx,
        ));
        let conn = Peer::connect(
            name.clone(),
            stdout,
            stdin,
            HostSide {
                plugin: name.clone(),
                manager: hooks.downgrade(),
            },
            self.max_message_bytes,
        );
        let mut process = Process {
            name: name.clone(),
            pid: pgid,
            version: String::new(),
            hooks: Vec::new(),
            peer: conn.peer().clone(),
            conn,
            kill,
            exit,
            tail,
            stderr_done,
            tasks: [supervisor, stderr_task],
            start_timeout: self.start_timeout,
            grace: self.grace,
        };
        let offers: Vec<HookOffer> = hooks
            .json_hooks()
            .into_iter()
            .map(|(name, mode)| HookOffer {
                name,
                mode: match mode {
                    CallMode::CollectAll => HookMode::CollectAll,
                    CallMode::FirstResult => HookMode::FirstResult,
                },
                args_schema: None,
                result_schema: None,
            })
            .collect();
        let params = InitializeParams {
            protocol_version: PROTOCOL_VERSION.to_owned(),
            host: self.host.clone(),
            plugin: PluginSetup {
                name: self.name.clone(),
                config: config.clone(),
            },
            hooks: offers.clone(),
            limits: Limits {
                max_message_bytes: self.max_message_bytes as u64,
                max_call_depth: MAX_CALL_DEPTH,
            },
        };
        let answer = process
            .peer
            .request_timeout(
                "initialize",
                serde_json::to_value(&params).unwrap_or_default(),
                self.start_timeout,
            )
            .instrument(tracing::debug_span!("process_initialize", plugin = %name))
            .await;
        let answer = match answer {
            Ok(v) => v,
            Err(PeerError::TimedOut { limit, .. }) => {
                process.kill.notify_one();
                return Err(ProcessError::StartTimeout {
                    plugin: self.name.clone(),
                    limit,
                    stderr: process.stderr_tail().await,
                });
            }
            Err(e) => return Err(process.failed(e, "initialize").await),
        };
        let init: InitializeResult =
            serde_path_to_error::deserialize(answer).map_err(|e| ProcessError::BadHandshake {
                plugin: self.name.clone(),
                detail: format!("`{}`: {}", e.path(), Quote(e.inner())),
            })?;
        check_handshake(&self.name, &init, &offers)?;
        tracing::debug!(target: "hookwire::external", plugin = %name, version = %init.plugin.version, hooks = init.hooks.len(), "process plugin initialized");
        process.version = init.plugin.version;
        process.hooks = init.hooks;
        Ok(process)
    }
}

/// `over`'s keys over `base`'s, objects merged key by key (a non-object `over` replaces).
#[cfg_attr(not(feature = "config"), allow(dead_code))]
fn merge_json(base: &mut Value, over: Value) {
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

/// Checks a plugin's answer to `initialize` against what the host expects and offers.
fn check_handshake(
    expected: &str,
    init: &InitializeResult,
    offers: &[HookOffer],
) -> Result<(), ProcessError> {
    if !compatible(PROTOCOL_VERSION, &init.protocol_version) {
        return Err(ProcessError::Version {
            plugin: expected.to_owned(),
            theirs: quote_short(&init.protocol_version),
            ours: PROTOCOL_VERSION.to_owned(),
        });
    }
    if init.plugin.name != expected {
        return Err(ProcessError::Name {
            expected: expected.to_owned(),
            actual: quote_short(&init.plugin.name),
        });
    }
    let mut seen = HashSet::new();
    for decl in &init.hooks {
        let bad = |detail: String| ProcessError::BadOption {
            plugin: expected.to_owned(),
            hook: quote_short(&decl.name),
            detail,
        };
        if !offers.iter().any(|o| o.name == decl.name) {
            let offered: Vec<&str> = offers.iter().map(|o| o.name.as_str()).collect();
            return Err(ProcessError::UnknownHook {
                plugin: expected.to_owned(),
                hook: quote_short(&decl.name),
                offered: if offered.is_empty() {
                    "none".to_owned()
                } else {
                    offered.join(", ")
                },
            });
        }
        if !seen.insert(decl.name.as_str()) {
            return Err(bad(
                "the hook is named twice; implement each hook once".into()
            ));
        }
        if decl.tryfirst && decl.trylast {
            return Err(bad("both `tryfirst` and `trylast`; choose one".into()));
        }
        if decl.timeout_ms == Some(0) {
            return Err(bad(
                "`timeout_ms` is 0; give at least 1, or leave it out".into()
            ));
        }
        if !decl.unknown.is_empty() {
            let fields: Vec<&str> = decl.unknown.keys().map(String::as_str).collect();
            tracing::warn!(target: "hookwire::external", plugin = %expected, hook = %decl.name, fields = %Quote(fields.join(", ")), "unknown hook options ignored (a newer plugin?)");
        }
    }
    Ok(())
}

fn quote_short(s: &str) -> String {
    Quote(s).to_string()
}

/// Waits for the child's exit (or stops its process group when told to: `SIGTERM`, `grace`,
/// `SIGKILL`) and publishes how it ended, naming the resource limit it may have hit. Once the
/// child has exited, what is left of its group (grandchildren) is killed too.
async fn supervise(
    mut child: Child,
    pgid: u32,
    limits: ResourceLimits,
    grace: Duration,
    kill: Arc<Notify>,
    exit: watch::Sender<Option<String>>,
) {
    let status = tokio::select! {
        s = child.wait() => s,
        () = kill.notified() => launch::stop(&mut child, pgid, grace).await,
    };
    launch::kill_group(pgid);
    let how = match status {
        Ok(s) => describe_exit(s, &limits),
        Err(e) => format!("could not be waited for ({e})"),
    };
    let _ = exit.send(Some(how));
}

/// Logs the plugin's stderr line by line and keeps the last `keep` lines.
async fn read_stderr(
    plugin: Arc<str>,
    stderr: tokio::process::ChildStderr,
    tail: Arc<Mutex<VecDeque<String>>>,
    keep: usize,
    done: watch::Sender<bool>,
) {
    let mut lines = LineReader::new(BufReader::new(stderr), STDERR_LINE_MAX);
    while let Ok(Some(line)) = lines.next_line().await {
        let text = match line {
            Line::Complete(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Line::TooLong { len, head } => {
                format!("{}… ({len} bytes)", String::from_utf8_lossy(&head))
            }
        };
        tracing::info!(target: "hookwire::external::stderr", plugin = %plugin, "{text}");
        if keep > 0 {
            let mut tail = tail
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if tail.len() == keep {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    }
    let _ = done.send(true);
}

/// A running plugin process and its connection.
struct Process {
    name: Arc<str>,
    /// Its pid (and process group id).
    pid: u32,
    version: String,
    hooks: Vec<HookImplDecl>,
    peer: Peer,
    #[allow(dead_code)] // owned: dropping it ends the connection's task
    conn: Connection,
    kill: Arc<Notify>,
    exit: watch::Receiver<Option<String>>,
    tail: Arc<Mutex<VecDeque<String>>>,
    stderr_done: watch::Receiver<bool>,
    tasks: [JoinHandle<()>; 2],
    start_timeout: Duration,
    grace: Duration,
}

impl Drop for Process {
    fn drop(&mut self) {
        // The supervisor owns the child (`kill_on_drop`): aborting it kills the process.
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Process {
    /// The last stderr lines, once the reader has caught up (or after a short wait).
    async fn stderr_tail(&self) -> Vec<String> {
        let mut done = self.stderr_done.clone();
        let _ = tokio::time::timeout(STDERR_WAIT, done.wait_for(|d| *d)).await;
        self.tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The error for a request that failed on the connection during `step`.
    async fn failed(&self, e: PeerError, step: &'static str) -> ProcessError {
        match e {
            PeerError::Closed { .. } => self.gone().await,
            PeerError::TooLong { len, max, .. } => ProcessError::TooLong {
                plugin: self.name.to_string(),
                len,
                max,
            },
            PeerError::Remote(error) if step == "initialize" => ProcessError::Refused {
                plugin: self.name.to_string(),
                error,
            },
            other => ProcessError::Lifecycle {
                plugin: self.name.to_string(),
                step,
                detail: other.to_string(),
            },
        }
    }

    /// The connection is gone: how the process ended (killing it if it still runs) and its
    /// last stderr lines.
    async fn gone(&self) -> ProcessError {
        let mut exit = self.exit.clone();
        let how = match tokio::time::timeout(EXIT_WAIT, exit.wait_for(Option::is_some)).await {
            Ok(Ok(how)) => how.clone().unwrap_or_default(),
            _ => {
                self.kill.notify_one();
                "closed its stdout but kept running; it was killed".to_owned()
            }
        };
        ProcessError::Exited {
            plugin: self.name.to_string(),
            how,
            stderr: self.stderr_tail().await,
        }
    }

    /// One `hook/call`.
    async fn call(&self, hook: &str, args: &Value, timeout: Option<Duration>) -> HookReturn<Value> {
        let params = HookCallParams {
            hook: hook.to_owned(),
            args: args.clone(),
            deadline_ms: timeout.map(|t| t.as_millis().try_into().unwrap_or(u64::MAX)),
            depth: CALL_DEPTH.try_with(|d| *d).unwrap_or(0),
            traceparent: TRACEPARENT.try_with(|t| t.to_string()).ok(),
        };
        let params = serde_json::to_value(params).map_err(|e| Box::new(e) as BoxError)?;
        let span = tracing::debug_span!("process_call", plugin = %self.name, hook);
        let answer = self
            .peer
            .request("hook/call", params)
            .instrument(span)
            .await;
        let fail = |e: ProcessError| -> BoxError { Box::new(e) };
        match answer {
            Ok(v) => match serde_json::from_value::<HookAnswer>(v) {
                Ok(HookAnswer::Value { value }) => Ok(Some(value)),
                Ok(HookAnswer::None) => Ok(None),
                Err(e) => Err(fail(ProcessError::BadAnswer {
                    plugin: self.name.to_string(),
                    hook: hook.to_owned(),
                    detail: format!(
                        "{}; expected {{\"kind\":\"value\",\"value\":...}} or {{\"kind\":\"none\"}}",
                        Quote(e)
                    ),
                })),
            },
            Err(PeerError::Remote(error)) => Err(fail(ProcessError::HookFailed {
                plugin: self.name.to_string(),
                hook: hook.to_owned(),
                error,
            })),
            Err(e) => Err(fail(self.failed(e, "hook/call").await)),
        }
    }

    async fn stop(&self) -> Result<(), ProcessError> {
        let mut exit = self.exit.clone();
        let shutdown = self
            .peer
            .request_timeout("shutdown", Value::Null, self.grace)
            .await;
        if let Err(e) = &shutdown {
            tracing::warn!(target: "hookwire::external", plugin = %self.name, error = %e, "`shutdown` failed");
        }
        self.peer.notify("exit", Value::Null);
        let exited = tokio::time::timeout(self.grace, exit.wait_for(Option::is_some))
            .await
            .is_ok();
        if !exited {
            tracing::warn!(target: "hookwire::external", plugin = %self.name, grace_ms = self.grace.as_millis() as u64, "the plugin did not exit within the grace period; killing it");
            self.kill.notify_one();
            let _ = exit.wait_for(Option::is_some).await;
        }
        Ok(())
    }
}

/// What serves a process plugin now.
enum Current {
    /// No process yet (built, not initialised).
    Idle,
    /// The host stopped it; `init` starts another.
    Stopped(Arc<Process>),
    /// A process serves.
    Running(Arc<Process>),
    /// The last process crashed; another starts after a backoff.
    Restarting { last: Arc<Process>, why: String },
    /// It crashed too often (or could not be restarted): it stays stopped.
    Failed { last: Arc<Process>, reason: String },
}

impl Current {
    fn process(&self) -> Option<&Arc<Process>> {
        match self {
            Current::Idle => None,
            Current::Running(p)
            | Current::Stopped(p)
            | Current::Restarting { last: p, .. }
            | Current::Failed { last: p, .. } => Some(p),
        }
    }
}

/// A process plugin across its processes: the one serving, and the restarts after crashes.
struct Supervised {
    name: Arc<str>,
    /// What the first process answered (its version and hooks): every later one must
    /// answer the same, since the impls were registered from it.
    answered: OnceLock<(String, Vec<HookImplDecl>)>,
    builder: ProcessPluginBuilder,
    /// The host's hooks, once a process was started for it.
    manager: OnceLock<WeakManager>,
    /// The configuration sent in `initialize` (the builder's, with the host's over it).
    config: Mutex<Value>,
    current: Mutex<Current>,
    /// Watches the process for crashes and restarts it (from `start` to `stop`).
    monitor: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.monitor).take() {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Supervised {
    /// The process to call, or why there is none.
    fn serving(&self) -> Result<Arc<Process>, ProcessError> {
        match &*lock(&self.current) {
            Current::Running(p) => Ok(p.clone()),
            Current::Restarting { why, .. } => Err(ProcessError::Restarting {
                plugin: self.name.to_string(),
                why: why.clone(),
            }),
            Current::Failed { reason, .. } => Err(ProcessError::Failed {
                plugin: self.name.to_string(),
                reason: reason.clone(),
            }),
            Current::Idle | Current::Stopped(_) => Err(ProcessError::Lifecycle {
                plugin: self.name.to_string(),
                step: "hook/call",
                detail: "it is not started; its host starts it".to_owned(),
            }),
        }
    }

    fn last(&self) -> Option<Arc<Process>> {
        lock(&self.current).process().cloned()
    }

    /// Checks a new process's answer against what the plugin's impls were registered from:
    /// the declared hooks (exactly those), else the first process's answer (the same hooks
    /// and version), which the first process sets.
    fn accept(&self, process: &Process) -> Result<(), ProcessError> {
        if let Some(declared) = &self.builder.declared {
            let theirs: HashSet<&str> = process.hooks.iter().map(|h| h.name.as_str()).collect();
            let ours: HashSet<&str> = declared.iter().map(String::as_str).collect();
            let mut missing: Vec<&str> = ours.difference(&theirs).copied().collect();
            let mut extra: Vec<&str> = theirs.difference(&ours).copied().collect();
            if !missing.is_empty() || !extra.is_empty() {
                missing.sort_unstable();
                extra.sort_unstable();
                let list = |v: &[&str]| {
                    v.iter()
                        .map(|h| format!("`{}`", Quote(h)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("the process does not implement {}", list(&missing)));
                }
                if !extra.is_empty() {
                    parts.push(format!("the manifest does not list {}", list(&extra)));
                }
                return Err(ProcessError::HooksMismatch {
                    plugin: self.name.to_string(),
                    detail: parts.join("; "),
                });
            }
        }
        let answered = (process.version.clone(), process.hooks.clone());
        let first = self.answered.get_or_init(|| answered.clone());
        if self.builder.declared.is_none() && *first != answered {
            return Err(ProcessError::Lifecycle {
                plugin: self.name.to_string(),
                step: "restart",
                detail: "after its restart it declared another version or other hooks; replace the plugin through its host to take them".to_owned(),
            });
        }
        if let Some(v) = &self.builder.version {
            if *v != process.version {
                tracing::warn!(target: "hookwire::external", plugin = %self.name, manifest = %v, process = %process.version, "the process answers another version than its manifest's");
            }
        }
        Ok(())
    }

    async fn call(&self, hook: &str, args: &Value, timeout: Option<Duration>) -> HookReturn<Value> {
        let process = self.serving().map_err(|e| Box::new(e) as BoxError)?;
        process.call(hook, args, timeout).await
    }

    /// Starts a new process in place of a crashed one: the same hooks, then `start`.
    async fn relaunch(&self) -> Result<Arc<Process>, ProcessError> {
        let Some(manager) = self.manager.get().and_then(WeakManager::upgrade) else {
            return Err(ProcessError::Lifecycle {
                plugin: self.name.to_string(),
                step: "restart",
                detail: "the host is gone".to_owned(),
            });
        };
        let config = lock(&self.config).clone();
        let process = self.builder.launch_with(&manager, &config).await?;
        self.accept(&process)?;
        process.start().await?;
        Ok(Arc::new(process))
    }
}

/// Watches the serving process; when it ends, restarts it after the policy's backoff, or
/// leaves the plugin failed at its start limit. Holds the plugin only weakly, so that
/// dropping the plugin ends it (and kills the process).
async fn monitor(plugin: std::sync::Weak<Supervised>, first: Arc<Process>) {
    let mut crashes = CrashHistory::default();
    let mut serving = Some(first);
    loop {
        let why = match serving.take() {
            Some(process) => {
                let mut exit = process.exit.clone();
                let _ = exit.wait_for(Option::is_some).await;
                process.gone().await.to_string()
            }
            None => String::new(),
        };
        let why = if why.is_empty() {
            "it could not be restarted".to_owned()
        } else {
            why
        };
        let Some(sup) = plugin.upgrade() else { return };
        let policy = sup.builder.restart;
        let decision = crashes.record(tokio::time::Instant::now(), &policy);
        let delay = {
            let mut current = lock(&sup.current);
            let Some(last) = current.process().cloned() else {
                return;
            };
            match decision {
                Ok(delay) => {
                    tracing::warn!(target: "hookwire::external", plugin = %sup.name, delay_ms = delay.as_millis() as u64, "{why}; restarting it");
                    *current = Current::Restarting { last, why };
                    delay
                }
                Err(limit) => {
                    let reason = format!(
                        "{limit}; it stays stopped until its host restarts it (last: {why})"
                    );
                    tracing::error!(target: "hookwire::external", plugin = %sup.name, "{reason}");
                    *current = Current::Failed { last, reason };
                    return;
                }
            }
        };
        drop(sup);
        tokio::time::sleep(delay).await;
        let Some(sup) = plugin.upgrade() else { return };
        match sup.relaunch().await {
            Ok(process) => {
                tracing::info!(target: "hookwire::external", plugin = %sup.name, "restarted");
                *lock(&sup.current) = Current::Running(process.clone());
                serving = Some(process);
            }
            Err(e) => {
                tracing::warn!(target: "hookwire::external", plugin = %sup.name, error = %e, "restart failed");
            }
        }
    }
}

impl Process {
    /// Sends `start` and waits (within the start timeout) for its answer.
    async fn start(&self) -> Result<(), ProcessError> {
        match self
            .peer
            .request_timeout("start", Value::Null, self.start_timeout)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(self.failed(e, "start").await),
        }
    }
}

/// A plugin running in a child process, speaking `docs/protocol.md` over its stdio: a
/// [`Plugin`] like any other (add it to a [`PluginHost`](crate::PluginHost)), whose impls are
/// the hooks it declared in the handshake, registered as JSON impls with its options.
///
/// Once started by its host, a process that crashes is started again after a backoff
/// ([`RestartPolicy`]); calls made meanwhile fail at once ([`ProcessError::Restarting`]);
/// at the policy's start limit the plugin stays stopped ([`ProcessError::Failed`], and its
/// health is unhealthy) until the host restarts it.
///
/// Dropping it (once the host has let it go) kills the process.
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
        }
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

    /// How many lines from the current (or last) process were not protocol (not JSON, not
    /// JSON-RPC, too long, an answer to an id not waited for); 0 before any process ran.
    pub fn protocol_errors(&self) -> u64 {
        self.inner.last().map_or(0, |p| p.peer.protocol_errors())
    }

    /// The current (or last) process's last stderr lines, oldest first.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.inner
            .last()
            .map(|p| lock(&p.tail).iter().cloned().collect())
            .unwrap_or_default()
    }

    /// How the current (or last) process ended (`exited with status 3`), or `None` while
    /// it runs (or before any process ran).
    pub fn exit_status(&self) -> Option<String> {
        self.inner.last().and_then(|p| p.exit.borrow().clone())
    }

    /// The process id of the process serving now, if one is.
    pub fn pid(&self) -> Option<u32> {
        match &*lock(&self.inner.current) {
            Current::Running(p) => Some(p.pid),
            _ => None,
        }
    }

    /// Whether a process serves now: not restarting after a crash, not failed.
    pub fn is_serving(&self) -> bool {
        self.inner.serving().is_ok()
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

    /// Starts the process and shakes hands (unless [`spawn`](ProcessPluginBuilder::spawn)
    /// did, for this first life), sending the builder's configuration with the host's over
    /// it.
    async fn init(&self, ctx: &PluginContext) -> Result<(), BoxError> {
        if matches!(&*lock(&self.inner.current), Current::Running(_)) {
            return Ok(());
        }
        #[cfg_attr(not(feature = "config"), allow(unused_mut))]
        let mut config = self.inner.builder.config.clone();
        #[cfg(feature = "config")]
        merge_json(&mut config, ctx.config::<Value>()?);
        *lock(&self.inner.config) = config.clone();
        let _ = self.inner.manager.set(ctx.hooks().downgrade());
        let process = self.inner.builder.launch_with(ctx.hooks(), &config).await?;
        self.inner.accept(&process)?;
        *lock(&self.inner.current) = Current::Running(Arc::new(process));
        Ok(())
    }

    async fn start(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        let process = self.inner.serving().map_err(|e| Box::new(e) as BoxError)?;
        process.start().await.map_err(|e| Box::new(e) as BoxError)?;
        let task = tokio::spawn(monitor(Arc::downgrade(&self.inner), process));
        if let Some(old) = lock(&self.inner.monitor).replace(task) {
            old.abort();
        }
        Ok(())
    }

    async fn stop(&self, _ctx: &PluginContext) -> Result<(), BoxError> {
        if let Some(task) = lock(&self.inner.monitor).take() {
            task.abort();
        }
        let Some(process) = self.inner.last() else {
            return Ok(());
        };
        *lock(&self.inner.current) = Current::Stopped(process.clone());
        process.stop().await.map_err(|e| Box::new(e) as BoxError)
    }

    async fn health(&self) -> Health {
        let process = match self.inner.serving() {
            Ok(p) => p,
            Err(e) => return Health::Unhealthy(e.to_string()),
        };
        match process
            .peer
            .request_timeout("health", Value::Null, HEALTH_LIMIT)
            .await
            .map(serde_json::from_value::<HealthStatus>)
        {
            Ok(Ok(HealthStatus::Healthy)) => Health::Healthy,
            Ok(Ok(HealthStatus::Degraded { message })) => Health::Degraded(message),
            Ok(Ok(HealthStatus::Unhealthy { message })) => Health::Unhealthy(message),
            Ok(Err(e)) => Health::Unhealthy(format!("malformed `health` answer: {}", Quote(e))),
            Err(e) => Health::Unhealthy(e.to_string()),
        }
    }
}

/// Serves a plugin's requests to the host: `host/call` and `log`.
struct HostSide {
    plugin: Arc<str>,
    manager: WeakManager,
}

impl Handler for HostSide {
    fn request(
        &self,
        _peer: Peer,
        method: String,
        params: Value,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        match method.as_str() {
            "host/call" => Box::pin(host_call(self.plugin.clone(), self.manager.clone(), params)),
            _ => Box::pin(std::future::ready(Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("the host has no method `{}`", Quote(&method)),
            )))),
        }
    }

    fn notification(&self, _peer: &Peer, method: String, params: Value) {
        if method != "log" {
            tracing::debug!(target: "hookwire::external", plugin = %self.plugin, method = %Quote(&method), "unknown notification ignored");
            return;
        }
        let Ok(LogParams {
            level,
            message,
            fields,
        }) = serde_json::from_value::<LogParams>(params)
        else {
            tracing::warn!(target: "hookwire::external", plugin = %self.plugin, "malformed `log` notification ignored");
            return;
        };
        let fields = fields.map(|f| Quote(f).to_string()).unwrap_or_default();
        let message = Quote(message);
        let plugin = &*self.plugin;
        match level {
            LogLevel::Error => {
                tracing::error!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
            LogLevel::Trace => {
                tracing::trace!(target: "hookwire::external::log", plugin, fields, "{message}")
            }
        }
    }
}

/// A plugin's `host/call`: the hook called through the host like any call, every outcome
/// reported in call order.
async fn host_call(
    plugin: Arc<str>,
    manager: WeakManager,
    params: Value,
) -> Result<Value, RpcError> {
    let p: HostCallParams = serde_json::from_value(params).map_err(RpcError::invalid_params)?;
    if p.depth > MAX_CALL_DEPTH {
        return Err(RpcError::new(
            codes::CALL_TOO_DEEP,
            format!(
                "call depth {} is above the maximum of {MAX_CALL_DEPTH}: plugin `{plugin}` called hook `{}` from calls nested too deep (plugins calling each other in a loop?)",
                p.depth,
                Quote(&p.hook)
            ),
        ));
    }
    let Some(pm) = manager.upgrade() else {
        return Err(RpcError::new(
            codes::INTERNAL_ERROR,
            "the host is shutting down",
        ));
    };
    let span = tracing::debug_span!("host_call", plugin = %plugin, hook = %Quote(&p.hook), depth = p.depth);
    let outcome = CALL_DEPTH
        .scope(p.depth, pm.call_json(&p.hook, p.args))
        .instrument(span)
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e @ CallError::UnknownHook { .. }) => {
            return Err(RpcError::new(codes::UNKNOWN_HOOK, e.to_string()))
        }
        Err(e @ CallError::BadArgs { .. }) => {
            return Err(RpcError::new(codes::INVALID_PARAMS, e.to_string()))
        }
        Err(e) => return Err(RpcError::new(codes::HOOK_FAILED, e.to_string())),
    };
    let mut result = HostCallResult::default();
    for (who, o) in outcome.iter() {
        match o {
            ImplOutcome::Value(v) => result.answers.push(HostAnswer {
                plugin: who.to_owned(),
                value: v.clone(),
            }),
            ImplOutcome::Failed(f) => result.failures.push(HostFailure {
                plugin: who.to_owned(),
                error: f.to_string(),
            }),
            _ => {}
        }
    }
    serde_json::to_value(result).map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
}
