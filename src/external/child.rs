//! One plugin process: started, shaken hands with, called, stopped. Its stderr is logged and
//! its last lines kept; its exit is watched and described.

use std::collections::{HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::BufReader;
use tokio::process::Child;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::builder::{Prepare, ProcessPluginBuilder};
use super::error::ProcessError;
use super::framing::{Line, LineReader};
use super::host_side::{HostSide, CALL_DEPTH, TRACEPARENT};
use super::launch::{self, describe_exit, ResourceLimits};
use super::peer::{Connection, Peer, PeerError};
use super::protocol::{
    compatible, HealthStatus, HookAnswer, HookCallRef, HookImplDecl, HookMode, HookOffer,
    InitializeParams, InitializeResult, Limits, PluginSetup, MAX_CALL_DEPTH, PROTOCOL_VERSION,
};
use crate::error::BoxError;
use crate::hookimpl::HookReturn;
use crate::limits::Quote;
use crate::manager::HookManager;
use crate::plugin::{Health, HostLink};
use crate::spec::CallMode;

/// How long a call that lost its connection waits for the process's exit status.
const EXIT_WAIT: Duration = Duration::from_secs(1);
/// How long it then waits for the last stderr lines.
const STDERR_WAIT: Duration = Duration::from_millis(200);
/// The longest stderr line kept whole (a longer one is cut).
const STDERR_LINE_MAX: usize = 4096;
/// How long a `health` request may take.
const HEALTH_LIMIT: Duration = Duration::from_secs(1);

/// Starts the program `b` describes and shakes hands, offering the JSON hooks of `hooks` and
/// sending `config` as the plugin's configuration: a [`Process`] serving.
pub(super) async fn launch(
    b: &ProcessPluginBuilder,
    hooks: &HookManager,
    config: &Value,
    link: Arc<Mutex<Option<HostLink>>>,
) -> Result<Process, ProcessError> {
    let name: Arc<str> = b.name.as_str().into();
    let (launch, guard) = match &b.prepare {
        None => (std::borrow::Cow::Borrowed(&b.launch), None),
        Some(Prepare(prepare)) => {
            let prepare = prepare.clone();
            let not_started = |reason: String| ProcessError::NotStarted {
                plugin: b.name.clone(),
                reason,
            };
            // Bounded like the handshake: a copy that stalls (a slow or hung file system)
            // fails this start in time. The blocking thread ends on its own; what it made
            // (a verified copy) is dropped then, removing its folder.
            let limit = b.start_timeout;
            let (launch, guard) =
                tokio::time::timeout(limit, tokio::task::spawn_blocking(move || prepare()))
                    .await
                    .map_err(|_| {
                        not_started(format!(
                            "preparing its start (the verified copy of its pinned files) did not finish within {limit:?} (`start_timeout_ms`)"
                        ))
                    })?
                    .map_err(|e| not_started(format!("preparing its start failed: {e}")))?
                    .map_err(not_started)?;
            (std::borrow::Cow::Owned(launch), Some(guard))
        }
    };
    let mut child = launch::spawn(&launch).map_err(|source| ProcessError::Spawn {
        plugin: b.name.clone(),
        program: Path::new(&launch.program).display().to_string(),
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
        b.stderr_lines,
        stderr_done_tx,
    ));
    let kill = Arc::new(Notify::new());
    let (exit_tx, exit) = watch::channel(None);
    let supervisor = tokio::spawn(supervise(
        child,
        pgid,
        launch.limits,
        b.grace,
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
            link,
        },
        b.max_message_bytes,
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
        start_timeout: b.start_timeout,
        grace: b.grace,
        stopping: AtomicBool::new(false),
        _guard: guard,
    };
    let offers = offers(hooks);
    let params = InitializeParams {
        protocol_version: PROTOCOL_VERSION.to_owned(),
        host: b.host.clone(),
        plugin: PluginSetup {
            name: b.name.clone(),
            config: config.clone(),
        },
        hooks: offers.clone(),
        limits: Limits {
            max_message_bytes: b.max_message_bytes as u64,
            max_call_depth: MAX_CALL_DEPTH,
        },
    };
    let answer = process
        .peer
        .request_timeout(
            "initialize",
            serde_json::to_value(&params).unwrap_or_default(),
            b.start_timeout,
        )
        .instrument(tracing::debug_span!("process_initialize", plugin = %name))
        .await;
    let answer = match answer {
        Ok(v) => v,
        Err(PeerError::TimedOut { limit, .. }) => {
            process.kill.notify_one();
            return Err(ProcessError::StartTimeout {
                plugin: b.name.clone(),
                limit,
                stderr: process.stderr_tail().await,
            });
        }
        Err(e) => {
            return Err(match process.failed(e, "initialize").await {
                // Ended without a word: most likely a program that does not serve (a Python
                // plugin that never calls `plugin.run()`).
                ProcessError::Exited { plugin, how, stderr } if how == "exited with status 0" => {
                    ProcessError::Exited {
                        plugin,
                        how: format!("{how} before answering `initialize`: a plugin serves the protocol until its host sends `exit` (the SDKs: Python's `plugin.run()`, Rust's `serve_stdio`)"),
                        stderr,
                    }
                }
                other => other,
            });
        }
    };
    let init: InitializeResult =
        serde_path_to_error::deserialize(answer).map_err(|e| ProcessError::BadHandshake {
            plugin: b.name.clone(),
            detail: format!("`{}`: {}", e.path(), Quote(e.inner())),
        })?;
    check_handshake(&b.name, &init, &offers).map_err(|e| match e {
        // The host has a typed spec of that name, not offered: its author must declare it so.
        ProcessError::UnknownHook {
            plugin,
            hook,
            offered,
            why: None,
        } => ProcessError::UnknownHook {
            why: hooks.not_json_reachable(&hook),
            plugin,
            hook,
            offered,
        },
        other => other,
    })?;
    tracing::debug!(target: "hookwire::external", plugin = %name, version = %init.plugin.version, hooks = init.hooks.len(), "process plugin initialized");
    process.version = init.plugin.version;
    process.hooks = init.hooks;
    Ok(process)
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
    // Refused here, this plugin alone fails; as its metadata, it would fail its host's
    // dependency resolution, and so every plugin's start.
    if let Err(e) = semver::Version::parse(&init.plugin.version) {
        return Err(ProcessError::BadHandshake {
            plugin: expected.to_owned(),
            detail: format!(
                "`plugin.version`: `{}` is not a semver version (MAJOR.MINOR.PATCH, such as `1.2.0`): {e}",
                quote_short(&init.plugin.version)
            ),
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
                why: None,
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
///
/// Aborted before that (its [`Process`] dropped without a stop: a handshake that failed, a
/// start undone, a restart cancelled), it kills the whole group, not only the child
/// (`kill_on_drop`), which is still unreaped then, so the group id is still the plugin's.
async fn supervise(
    mut child: Child,
    pgid: u32,
    limits: ResourceLimits,
    grace: Duration,
    kill: Arc<Notify>,
    exit: watch::Sender<Option<String>>,
) {
    /// Kills the group when dropped armed (locals drop before the `child` parameter).
    struct KillGroupOnDrop(Option<u32>);
    impl Drop for KillGroupOnDrop {
        fn drop(&mut self) {
            if let Some(pgid) = self.0 {
                launch::kill_group(pgid);
            }
        }
    }
    let mut armed = KillGroupOnDrop(Some(pgid));
    let status = tokio::select! {
        s = child.wait() => s,
        () = kill.notified() => launch::stop(&mut child, pgid, grace).await,
    };
    armed.0 = None;
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
pub(super) struct Process {
    pub(super) name: Arc<str>,
    /// Its pid (and process group id).
    pub(super) pid: u32,
    pub(super) version: String,
    pub(super) hooks: Vec<HookImplDecl>,
    pub(super) peer: Peer,
    #[allow(dead_code)] // owned: dropping it ends the connection's task
    pub(super) conn: Connection,
    pub(super) kill: Arc<Notify>,
    pub(super) exit: watch::Receiver<Option<String>>,
    pub(super) tail: Arc<Mutex<VecDeque<String>>>,
    pub(super) stderr_done: watch::Receiver<bool>,
    pub(super) tasks: [JoinHandle<()>; 2],
    pub(super) start_timeout: Duration,
    pub(super) grace: Duration,
    /// Set once its host is stopping it (it answered `shutdown`, or failed to while alive):
    /// calls cut short by its exit say so.
    pub(super) stopping: AtomicBool,
    /// What its start prepared (the verified copy it runs from), removed with it.
    pub(super) _guard: Option<super::builder::StartGuard>,
}

impl Drop for Process {
    fn drop(&mut self) {
        // The supervisor owns the child (`kill_on_drop`): aborting it kills the process, and
        // its guard the rest of the process group.
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Process {
    /// The last stderr lines, once the reader has caught up (or after a short wait).
    pub(super) async fn stderr_tail(&self) -> Vec<String> {
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
    pub(super) async fn failed(&self, e: PeerError, step: &'static str) -> ProcessError {
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
    pub(super) async fn gone(&self) -> ProcessError {
        let mut exit = self.exit.clone();
        let how = match tokio::time::timeout(EXIT_WAIT, exit.wait_for(Option::is_some)).await {
            Ok(Ok(how)) => how.clone().unwrap_or_default(),
            _ => {
                self.kill.notify_one();
                "closed its stdout but kept running; it was killed".to_owned()
            }
        };
        let how = if self.stopping.load(Ordering::Relaxed) {
            format!("{how} as its host stopped it")
        } else {
            how
        };
        ProcessError::Exited {
            plugin: self.name.to_string(),
            how,
            stderr: self.stderr_tail().await,
        }
    }

    /// One `hook/call`.
    pub(super) async fn call(
        &self,
        hook: &str,
        args: &Value,
        timeout: Option<Duration>,
    ) -> HookReturn<Value> {
        let traceparent = TRACEPARENT.try_with(Arc::clone).ok();
        let params = HookCallRef {
            hook,
            args,
            deadline_ms: remaining(timeout).map(|t| t.as_millis().try_into().unwrap_or(u64::MAX)),
            depth: CALL_DEPTH.try_with(|d| *d).unwrap_or(0),
            traceparent: traceparent.as_deref(),
        };
        let span = tracing::debug_span!("process_call", plugin = %self.name, hook);
        let answer = self
            .peer
            .request_serialized("hook/call", &params)
            .instrument(span)
            .await;
        let fail = |e: ProcessError| -> BoxError { Box::new(e) };
        match answer {
            Ok(reply) => match HookAnswer::from_reply(reply) {
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
            Err(PeerError::Remote(error)) => {
                // The details (the Python SDK's traceback) go to the debug log, as
                // `docs/protocol.md` says; the outcome keeps them in the error too.
                if let Some(data) = &error.data {
                    log_error_data(&self.name, hook, error.code, data);
                }
                Err(fail(ProcessError::HookFailed {
                    plugin: self.name.to_string(),
                    hook: hook.to_owned(),
                    error,
                }))
            }
            // Boxed: the rare path's state (timers, the stderr tail) would otherwise make
            // every call's future several times larger, and moving it costlier.
            Err(e) => Err(fail(Box::pin(self.failed(e, "hook/call")).await)),
        }
    }

    /// Asks the process to shut down and exit, then kills its group after the grace period.
    ///
    /// # Cancel safety
    /// Dropping the future before the process has exited (its host's own grace period passed
    /// first) stops the process group by force (`SIGTERM`, then `SIGKILL` after the grace
    /// period) rather than leaving it running.
    pub(super) async fn stop(&self) -> Result<(), ProcessError> {
        let mut exit = self.exit.clone();
        if exit.borrow().is_some() {
            // Already gone (a crash, reported as such): nothing to ask or wait for.
            return Ok(());
        }
        let mut given_up = KillOnDrop(Some((&self.kill, &self.stopping)));
        let shutdown = self
            .peer
            .request_timeout("shutdown", Value::Null, self.grace)
            .await;
        match &shutdown {
            // Its output ended: it is exiting (or crashed, which is reported on its own); the
            // wait below tells.
            Err(e @ PeerError::Closed { .. }) => {
                tracing::debug!(target: "hookwire::external", plugin = %self.name, error = %e, "`shutdown`: the connection is closed");
            }
            // Alive: from here on, it ends because its host stops it (`exit`, or a kill).
            Err(e) => {
                self.stopping.store(true, Ordering::Relaxed);
                tracing::warn!(target: "hookwire::external", plugin = %self.name, error = %e, "`shutdown` failed");
            }
            Ok(_) => self.stopping.store(true, Ordering::Relaxed),
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
        given_up.0 = None;
        Ok(())
    }
}

/// Stops a process by force when dropped armed: a [`Process::stop`] given up on.
/// Its calls cut short then end "as its host stopped it", not as a crash.
struct KillOnDrop<'a>(Option<(&'a Notify, &'a AtomicBool)>);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        if let Some((kill, stopping)) = self.0 {
            stopping.store(true, Ordering::Relaxed);
            kill.notify_one();
        }
    }
}

/// Logs at `debug` the `data` of a plugin's error answer to `hook`: its `traceback` (a string,
/// from the Python SDK) as a field of its own, any other data as JSON.
fn log_error_data(plugin: &str, hook: &str, code: i64, data: &Value) {
    match data.get("traceback").and_then(Value::as_str) {
        Some(traceback) => {
            tracing::debug!(target: "hookwire::external", plugin, hook, code, traceback, "the plugin's error details");
        }
        None => {
            tracing::debug!(target: "hookwire::external", plugin, hook, code, data = %data, "the plugin's error details");
        }
    }
}

impl Process {
    /// Asks the process for its health (`health`, within a second).
    pub(super) async fn health(&self) -> Health {
        match self
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

    /// Sends `start` and waits (within the start timeout) for its answer.
    pub(super) async fn start(&self) -> Result<(), ProcessError> {
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

/// The hooks `hooks` offers a process plugin: every hook reachable from JSON, with its call
/// mode and, when the host gave them, its JSON Schemas.
pub(super) fn offers(hooks: &HookManager) -> Vec<HookOffer> {
    hooks
        .json_hooks()
        .into_iter()
        .map(|spec| HookOffer {
            name: spec.name().to_owned(),
            mode: match spec.mode() {
                CallMode::CollectAll => HookMode::CollectAll,
                CallMode::FirstResult => HookMode::FirstResult,
            },
            args_schema: spec.args_schema().cloned(),
            result_schema: spec.result_schema().cloned(),
        })
        .collect()
}

/// The time a call has: the impl's `timeout`, or less when the hook call it runs in has less
/// left of its deadline (an application's caller's, or the `deadline_ms` of the plugin's
/// `host/call` it is made from).
fn remaining(timeout: Option<Duration>) -> Option<Duration> {
    let left = crate::hook::call_deadline()
        .map(|at| at.saturating_duration_since(tokio::time::Instant::now()));
    match (timeout, left) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
