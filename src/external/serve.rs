//! The Rust SDK: a process plugin's side of the protocol. [`PluginServer`] collects typed
//! impls (the same specs as in-process plugins); [`serve_stdio`] runs them over stdio.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use super::envelope::{read_text, without_position};
use super::host_call_error::HostCallError;
use super::peer::{Handler, Peer, DEFAULT_MAX_MESSAGE_BYTES};
use super::protocol::{
    codes, compatible, HealthStatus, HookCallParams, HookImplDecl, HostCallParams, HostCallResult,
    InitializeParams, InitializeResult, LogLevel, PluginIdentity, RpcError, PLUGIN_ENV,
    PROTOCOL_VERSION, RUN_BY_HAND,
};
use crate::hookimpl::HookReturn;
use crate::limits::Quote;
use crate::spec::HookSpec;

/// An impl: its arguments' JSON text in, its answer's JSON text (a [`HookAnswer`](super::protocol::HookAnswer)) out.
type ErasedImpl = Arc<
    dyn Fn(&RawValue, PluginCall) -> BoxFuture<'static, Result<Box<RawValue>, RpcError>>
        + Send
        + Sync,
>;

/// A [`HookAnswer`](super::protocol::HookAnswer) borrowing its value (the same JSON), written without a `Value` in between.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum AnswerRef<'a, T> {
    Value { value: &'a T },
    None,
}

/// `hook/call`'s params ([`HookCallParams`]) read from their text, borrowing the hook's name
/// and the arguments' text.
#[derive(Deserialize)]
#[serde(rename = "HookCallParams")]
struct HookCallText<'a> {
    #[serde(borrow)]
    hook: Cow<'a, str>,
    #[serde(default, borrow)]
    args: Option<&'a RawValue>,
    #[serde(default)]
    deadline_ms: Option<u64>,
    #[serde(default)]
    depth: u32,
    #[serde(default)]
    traceparent: Option<String>,
}

/// A process plugin written in Rust: its identity and its impls, each a closure over a typed
/// spec's arguments. Run it with [`serve_stdio`] (or [`serve`] over other streams).
///
/// Options (`priority`, `tryfirst`, ...) apply to the impl added last.
#[must_use = "a server does nothing until it is served"]
pub struct PluginServer {
    name: String,
    version: String,
    hooks: Vec<(HookImplDecl, ErasedImpl)>,
}

impl std::fmt::Debug for PluginServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginServer")
            .field("name", &self.name)
            .field("version", &self.version)
            .field(
                "hooks",
                &self.hooks.iter().map(|(d, _)| d).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl PluginServer {
    /// A plugin named `name` (the name its host expects) at `version`.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        PluginServer {
            name: name.into(),
            version: version.into(),
            hooks: Vec::new(),
        }
    }

    /// Implements hook `S` with `f`, called with the decoded arguments and a [`PluginCall`]
    /// (to call back into the host, log, read the config). Arguments that do not fit
    /// `S::Args` are refused with `-32602`, naming the JSON path; an `Err` is answered as
    /// `-32001` with its message; a panic as `-32603`.
    pub fn hook<S, F, Fut>(mut self, f: F) -> Self
    where
        S: HookSpec,
        S::Args: serde::de::DeserializeOwned,
        S::Output: serde::Serialize,
        F: Fn(S::Args, PluginCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HookReturn<S::Output>> + Send + 'static,
    {
        let f = Arc::new(f);
        let erased: ErasedImpl = Arc::new(move |args: &RawValue, call: PluginCall| {
            // Straight from the text; when that fails, through a `Value` as before there was
            // text (of a member given twice, the last counts; the same errors).
            let args = serde_json::from_str::<S::Args>(args.get()).or_else(|_| {
                let refuse = |path: &dyn std::fmt::Display, e: &dyn std::fmt::Display| {
                    RpcError::invalid_params(format_args!(
                        "the arguments of hook `{}` do not fit its type: `{path}`: {}",
                        S::NAME,
                        Quote(e)
                    ))
                };
                let v: Value = serde_json::from_str(args.get())
                    .map_err(|e| refuse(&".", &without_position(&e)))?;
                serde_path_to_error::deserialize(v).map_err(|e| refuse(e.path(), e.inner()))
            });
            let args: S::Args = match args {
                Ok(args) => args,
                Err(e) => return Box::pin(std::future::ready(Err(e))),
            };
            let answer = f(args, call);
            Box::pin(async move {
                let written = match answer.await {
                    Ok(Some(v)) => serde_json::value::to_raw_value(&AnswerRef::Value { value: &v }),
                    Ok(None) => serde_json::value::to_raw_value(&AnswerRef::<()>::None),
                    Err(e) => return Err(RpcError::new(codes::HOOK_FAILED, e.to_string())),
                };
                written.map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
            })
        });
        self.hooks.push((HookImplDecl::new(S::NAME), erased));
        self
    }

    fn last(&mut self) -> &mut HookImplDecl {
        match self.hooks.last_mut() {
            Some((decl, _)) => decl,
            None => panic!("an option of `PluginServer` comes after `.hook::<S>(..)`"),
        }
    }

    /// The last impl's priority inside its tier (higher runs earlier).
    ///
    /// # Panics
    /// Before any [`hook`](Self::hook).
    pub fn priority(mut self, priority: i32) -> Self {
        self.last().priority = priority;
        self
    }

    /// The last impl runs in the first tier.
    ///
    /// # Panics
    /// Before any [`hook`](Self::hook).
    pub fn tryfirst(mut self) -> Self {
        self.last().tryfirst = true;
        self
    }

    /// The last impl runs in the last tier.
    ///
    /// # Panics
    /// Before any [`hook`](Self::hook).
    pub fn trylast(mut self) -> Self {
        self.last().trylast = true;
        self
    }

    /// The last impl runs before plugin `plugin`'s.
    ///
    /// # Panics
    /// Before any [`hook`](Self::hook).
    pub fn before(mut self, plugin: &str) -> Self {
        self.last().before.push(plugin.to_owned());
        self
    }

    /// The last impl runs after plugin `plugin`'s.
    ///
    /// # Panics
    /// Before any [`hook`](Self::hook).
    pub fn after(mut self, plugin: &str) -> Self {
        self.last().after.push(plugin.to_owned());
        self
    }

    /// The last impl's time limit per call (the host enforces it).
    ///
    /// # Panics
    /// Before any [`hook`](Self::hook).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.last().timeout_ms = Some(limit.as_millis().clamp(1, u64::MAX.into()) as u64);
        self
    }
}

/// What an impl of a [`PluginServer`] gets besides its arguments: the way back to the host.
#[derive(Debug, Clone)]
pub struct PluginCall {
    peer: Peer,
    depth: u32,
    config: Arc<Value>,
    /// The served call's `deadline_ms`, and when it arrived.
    deadline: Option<(Duration, tokio::time::Instant)>,
    /// The served call's trace context.
    traceparent: Option<String>,
}

impl PluginCall {
    /// How deeply this call is nested in `host/call`s (0 for the host application's call).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// The plugin's configuration, as the host sent it in `initialize`.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// Calls hook `hook` through the host (`host/call`), one level deeper than this call.
    ///
    /// The call carries what is left of this call's deadline as its `deadline_ms` (none when
    /// this call has none) and this call's `traceparent` (protocol 1.1): the host calls the
    /// hook within that time, in the same trace. To wait less, see
    /// [`host_call_with_timeout`](Self::host_call_with_timeout).
    ///
    /// ```no_run
    /// # use hookwire::external::PluginServer;
    /// hookwire::hookspec! { #[name = "relay"] pub struct Relay(String) -> serde_json::Value; }
    ///
    /// let server = PluginServer::new("relay", "1.0.0").hook::<Relay, _, _>(|name, call| async move {
    ///     // Every impl of `greet` in the host, this plugin's too.
    ///     let outcome = call.host_call("greet", serde_json::json!(name)).await?;
    ///     Ok(Some(serde_json::to_value(outcome.answers)?))
    /// });
    /// ```
    ///
    /// It waits at most what is left of this call's deadline: then the request is cancelled
    /// and the error is [`HostCallError::TimedOut`], as with
    /// [`host_call_with_timeout`](Self::host_call_with_timeout) (and the Python SDK's
    /// `host.call`).
    ///
    /// # Errors
    /// [`HostCallError::Refused`] when the host refuses ([`code`](HostCallError::code)
    /// `-32004` when nested too deep, `-32002` for a hook it does not offer, `-32005` for a
    /// hook whose permission the plugin lacks),
    /// [`HostCallError::Closed`] when the host is gone, [`HostCallError::Malformed`] for an
    /// answer that is not a `host/call` result, [`HostCallError::TimedOut`] at this call's
    /// deadline.
    ///
    /// # Cancel safety
    /// Dropping the future sends `$/cancelRequest` to the host.
    pub async fn host_call(
        &self,
        hook: &str,
        args: Value,
    ) -> Result<HostCallResult, HostCallError> {
        self.call_host(hook, args, None).await
    }

    /// [`host_call`](Self::host_call) that waits at most `timeout`, and never past this
    /// call's deadline: the smaller of the two goes to the host as the call's `deadline_ms`
    /// (the host calls the hook within it) and is how long the answer is waited for. On
    /// expiry the request is cancelled at the host (`$/cancelRequest`) and the error is
    /// [`HostCallError::TimedOut`] (the Python SDK's `host.call(timeout=)` raises
    /// `HostCallTimeout`, with the same message).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use hookwire::external::PluginServer;
    /// hookwire::hookspec! { #[name = "lookup"] pub struct Lookup(String) -> String; }
    ///
    /// let server = PluginServer::new("cache", "1.0.0").hook::<Lookup, _, _>(|key, call| async move {
    ///     // Ask the other plugins, but give up after 50 ms and answer nothing.
    ///     match call
    ///         .host_call_with_timeout("fetch", serde_json::json!(key), Duration::from_millis(50))
    ///         .await
    ///     {
    ///         Ok(outcome) => Ok(outcome.answers.into_iter().find_map(|a| a.value.as_str().map(str::to_owned))),
    ///         Err(e) if e.is_timeout() => Ok(None),
    ///         Err(e) => Err(e.into()),
    ///     }
    /// });
    /// ```
    ///
    /// # Errors
    /// As [`host_call`](Self::host_call), and [`HostCallError::TimedOut`] (naming the hook
    /// and the time waited) when no answer came in time — at once, without asking the host,
    /// when less than a millisecond (what the wire carries) is left.
    ///
    /// # Cancel safety
    /// As [`host_call`](Self::host_call): dropping the future sends `$/cancelRequest`.
    pub async fn host_call_with_timeout(
        &self,
        hook: &str,
        args: Value,
        timeout: Duration,
    ) -> Result<HostCallResult, HostCallError> {
        self.call_host(hook, args, Some(timeout)).await
    }

    /// One `host/call`, waited for at most `timeout` and this call's time left.
    async fn call_host(
        &self,
        hook: &str,
        args: Value,
        timeout: Option<Duration>,
    ) -> Result<HostCallResult, HostCallError> {
        let left = self
            .deadline
            .map(|(limit, received)| limit.saturating_sub(received.elapsed()));
        let limit = match (timeout, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Less than the whole millisecond the wire can carry: out of time already, nothing
        // sent (the host would cut the call at once).
        if let Some(limit) = limit.filter(|l| l.as_millis() == 0) {
            return Err(HostCallError::TimedOut {
                hook: hook.to_owned(),
                limit,
            });
        }
        let params = HostCallParams {
            hook: hook.to_owned(),
            args,
            depth: self.depth + 1,
            // Whole milliseconds, rounded down (as the Python SDK sends them).
            deadline_ms: limit.map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX)),
            traceparent: self.traceparent.clone(),
        };
        let request = self.peer.request_serialized("host/call", &params);
        // Waited for until this call's own deadline at the latest (its `received` is taken
        // before the SDK's timer for the served call starts): the impl sees the timeout.
        let answer = match limit {
            None => request.await,
            Some(limit) => match tokio::time::timeout(limit, request).await {
                Ok(answer) => answer,
                Err(_) => {
                    tracing::debug!(target: "hookwire::external", hook = %Quote(hook), limit_ms = limit.as_millis() as u64, "`host/call` got no answer in time; cancelled");
                    return Err(HostCallError::TimedOut {
                        hook: hook.to_owned(),
                        limit,
                    });
                }
            },
        };
        let reply = answer.map_err(HostCallError::from_peer)?;
        reply
            .parse()
            .map_err(|e| HostCallError::Malformed(e.to_string()))
    }

    /// Writes `message` to the host's log under the plugin's name (`log`).
    pub fn log(&self, level: LogLevel, message: &str) {
        self.peer.notify(
            "log",
            serde_json::json!({ "level": level, "message": message }),
        );
    }
}

/// Why serving ended badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The process was not started by a host (`HOOKWIRE_PLUGIN` is not `1`).
    #[error("{RUN_BY_HAND}")]
    NotStartedByHost,
    /// No runtime could be built.
    #[error("could not build a tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

struct PluginSide {
    name: String,
    version: String,
    hooks: HashMap<String, ErasedImpl>,
    decls: Vec<HookImplDecl>,
    config: OnceLock<Arc<Value>>,
    exit: Arc<Notify>,
    /// `shutdown` was answered: every later request is refused (§5 of `docs/protocol.md`).
    shut_down: AtomicBool,
}

impl PluginSide {
    /// Serves `hook/call` with `params` (a [`HookCallParams`]' JSON text): the answer's JSON
    /// text.
    fn hook_call(
        &self,
        peer: &Peer,
        params: &RawValue,
    ) -> BoxFuture<'static, Result<Box<RawValue>, RpcError>> {
        let ready = |r| -> BoxFuture<'static, _> { Box::pin(std::future::ready(r)) };
        // Straight from the text; when that fails, through a `Value` as before there was text
        // (of a member given twice, the last counts; the same errors).
        let args_read_slowly;
        let p: HookCallText = match serde_json::from_str(params.get()) {
            Ok(p) => p,
            Err(_) => match read_text::<HookCallParams>(params.get().as_bytes()) {
                Ok(p) => {
                    args_read_slowly = serde_json::value::to_raw_value(&p.args).ok();
                    HookCallText {
                        hook: Cow::Owned(p.hook),
                        args: args_read_slowly.as_deref(),
                        deadline_ms: p.deadline_ms,
                        depth: p.depth,
                        traceparent: p.traceparent,
                    }
                }
                Err(e) => return ready(Err(RpcError::invalid_params(e))),
            },
        };
        let Some(f) = self.hooks.get(p.hook.as_ref()) else {
            return ready(Err(RpcError::new(
                codes::UNKNOWN_HOOK,
                format!(
                    "plugin `{}` does not implement hook `{}`",
                    self.name,
                    Quote(&p.hook)
                ),
            )));
        };
        let deadline = p.deadline_ms.map(Duration::from_millis);
        let call = PluginCall {
            peer: peer.clone(),
            depth: p.depth,
            config: self.config.get().cloned().unwrap_or_default(),
            deadline: deadline.map(|d| (d, tokio::time::Instant::now())),
            traceparent: p.traceparent,
        };
        let answer = f(p.args.unwrap_or(RawValue::NULL), call);
        let Some(d) = deadline else {
            return answer;
        };
        Box::pin(async move {
            tokio::time::timeout(d, answer).await.unwrap_or_else(|_| {
                Err(RpcError::new(
                    codes::HOOK_FAILED,
                    format!(
                        "gave up: the caller's deadline of {} ms passed",
                        d.as_millis()
                    ),
                ))
            })
        })
    }
}

impl Handler for PluginSide {
    fn request(
        &self,
        _peer: Peer,
        method: String,
        params: Value,
    ) -> BoxFuture<'static, Result<Value, RpcError>> {
        let ready = |r: Result<Value, RpcError>| -> BoxFuture<'static, Result<Value, RpcError>> {
            Box::pin(std::future::ready(r))
        };
        // After `shutdown`, a request (a second `shutdown` too) is refused and runs nothing;
        // only the `exit` notification is awaited.
        if self.shut_down.load(Ordering::Acquire) {
            return ready(Err(RpcError::new(
                codes::INTERNAL_ERROR,
                format!("plugin `{}` is shutting down", self.name),
            )));
        }
        match method.as_str() {
            "initialize" => ready(self.initialize(params)),
            "start" => ready(Ok(Value::Null)),
            "shutdown" => {
                self.shut_down.store(true, Ordering::Release);
                ready(Ok(Value::Null))
            }
            "health" => ready(
                serde_json::to_value(HealthStatus::Healthy)
                    .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string())),
            ),
            _ => ready(Err(RpcError::new(
                codes::METHOD_NOT_FOUND,
                format!("no method `{}`", Quote(&method)),
            ))),
        }
    }

    fn request_text(
        &self,
        peer: &Peer,
        method: &str,
        params: Option<&RawValue>,
    ) -> Option<BoxFuture<'static, Result<Box<RawValue>, RpcError>>> {
        // `hook/call` is served here only (the peer offers every request as text first);
        // after `shutdown`, `request` refuses it.
        (method == "hook/call" && !self.shut_down.load(Ordering::Acquire))
            .then(|| self.hook_call(peer, params.unwrap_or(RawValue::NULL)))
    }

    fn notification(&self, _peer: &Peer, method: String, _params: Value) {
        if method == "exit" {
            self.exit.notify_one();
        }
    }
}

impl PluginSide {
    fn initialize(&self, params: Value) -> Result<Value, RpcError> {
        let p: InitializeParams =
            serde_json::from_value(params).map_err(RpcError::invalid_params)?;
        if !compatible(PROTOCOL_VERSION, &p.protocol_version) {
            return Err(RpcError::new(
                codes::VERSION_NOT_SUPPORTED,
                format!(
                    "plugin `{}` speaks protocol {PROTOCOL_VERSION}, the host speaks {}",
                    self.name,
                    Quote(&p.protocol_version)
                ),
            ));
        }
        let _ = self.config.set(Arc::new(p.plugin.config));
        serde_json::to_value(InitializeResult {
            protocol_version: PROTOCOL_VERSION.to_owned(),
            plugin: PluginIdentity {
                name: self.name.clone(),
                version: self.version.clone(),
            },
            hooks: self.decls.clone(),
        })
        .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string()))
    }
}

/// Serves `server` over `reader`/`writer` (the host's messages in, the plugin's out) until
/// the host sends `exit` or closes the input. Requests are served concurrently: an impl
/// waiting for a [`PluginCall::host_call`] does not stop the others, nor a nested call into
/// this plugin. Once `shutdown` is answered, every later request is refused with `-32603`
/// ("plugin `greeter` is shutting down") without running anything; calls in flight finish.
///
/// # Cancel safety
/// Dropping the future ends the connection.
pub async fn serve<R, W>(server: PluginServer, reader: R, writer: W)
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    let exit = Arc::new(Notify::new());
    let decls = server.hooks.iter().map(|(d, _)| d.clone()).collect();
    let side = PluginSide {
        name: server.name,
        version: server.version,
        hooks: server.hooks.into_iter().map(|(d, f)| (d.name, f)).collect(),
        decls,
        config: OnceLock::new(),
        exit: exit.clone(),
        shut_down: AtomicBool::new(false),
    };
    let mut conn = Peer::connect("host", reader, writer, side, DEFAULT_MAX_MESSAGE_BYTES);
    tokio::select! {
        () = conn.closed() => {}
        () = exit.notified() => {}
    }
}

/// Runs `server` as a process plugin over stdin and stdout, on a runtime of its own, until
/// the host sends `exit` or closes stdin. Call it from a plain `fn main` (not from inside a
/// tokio runtime: use [`serve`] there).
///
/// ```no_run
/// hookwire::hookspec! { #[name = "greet"] pub struct Greet(String) -> String; }
///
/// fn main() -> Result<(), hookwire::external::ServeError> {
///     let server = hookwire::external::PluginServer::new("greeter", "1.0.0")
///         .hook::<Greet, _, _>(|name, _call| async move { Ok(Some(format!("Hello, {name}"))) })
///         .priority(10);
///     hookwire::external::serve_stdio(server)
/// }
/// ```
///
/// Standard output belongs to the protocol: once serving, file descriptor 1 points to stderr
/// (so a stray `println!`, or a child process the plugin starts, lands in the host's log
/// instead of corrupting a message) and file descriptor 0 reads from `/dev/null` (so a child
/// process cannot swallow the host's messages), as the Python SDK does. The protocol goes on
/// over duplicates of the original pipes. (When stdin or stdout is not a pipe, as when run by
/// hand under a terminal, both stay as they are.)
///
/// A process started without `HOOKWIRE_PLUGIN=1` (run by hand) writes the protocol's message
/// to stderr ("this is a hookwire plugin; it is started by its host, ...") and exits with
/// status 1: stderr is a plugin's log channel by the protocol, and the process is the
/// plugin's own.
///
/// # Errors
/// [`ServeError::Runtime`] when no runtime can be built.
pub fn serve_stdio(server: PluginServer) -> Result<(), ServeError> {
    if std::env::var_os(PLUGIN_ENV).as_deref() != Some(std::ffi::OsStr::new("1")) {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{RUN_BY_HAND}");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    rt.block_on(async {
        let (reader, writer) = stdio();
        serve(server, reader, writer).await;
    });
    // A blocking stdin reader (the fallback) may still wait for a line: do not wait for it.
    rt.shutdown_background();
    Ok(())
}

type BoxedReader = Box<dyn AsyncRead + Send + Unpin>;
type BoxedWriter = Box<dyn AsyncWrite + Send + Unpin>;

/// The process's stdin and stdout as async streams. On Unix, each one that is a pipe (as under
/// a host) is read or written in place, non-blocking, with readiness from the runtime's epoll;
/// anything else (a terminal, a file, a socket) falls back to tokio's `stdin()`/`stdout()`,
/// which do each read and write on a thread of the blocking pool (a thread hop per message).
/// Must run inside the runtime (the pipes register with its I/O driver).
fn stdio() -> (BoxedReader, BoxedWriter) {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use tokio::net::unix::pipe;
        // A duplicate of fd 0/1: the same open pipe (tokio makes it non-blocking).
        let reader = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .and_then(pipe::Receiver::from_owned_fd)
            .map(|r| Box::new(r) as BoxedReader);
        let writer = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .and_then(pipe::Sender::from_owned_fd)
            .map(|w| Box::new(w) as BoxedWriter);
        tracing::debug!(
            target: "hookwire::external",
            stdin_pipe = reader.is_ok(),
            stdout_pipe = writer.is_ok(),
            "serving over stdio"
        );
        if reader.is_ok() && writer.is_ok() {
            take_stdio();
        }
        (
            reader.unwrap_or_else(|_| Box::new(tokio::io::stdin())),
            writer.unwrap_or_else(|_| Box::new(tokio::io::stdout())),
        )
    }
    #[cfg(not(unix))]
    {
        (Box::new(tokio::io::stdin()), Box::new(tokio::io::stdout()))
    }
}

/// Points file descriptor 1 to stderr and 0 to `/dev/null`, once the protocol has its own
/// duplicates of both: `println!` and the plugin's own child processes can no longer write
/// into (or read from) the protocol's pipes.
#[cfg(unix)]
fn take_stdio() {
    let stdout = rustix::stdio::dup2_stdout(std::io::stderr());
    let stdin = std::fs::File::open("/dev/null").and_then(|null| {
        rustix::stdio::dup2_stdin(&null)?;
        Ok(())
    });
    if let Err(e) = stdout {
        tracing::warn!(target: "hookwire::external", error = %e, "stdout still goes to the host: a stray `println!` will be a protocol error");
    }
    if let Err(e) = stdin {
        tracing::warn!(target: "hookwire::external", error = %e, "stdin still reads from the host");
    }
}

#[cfg(test)]
mod tests {
    use super::super::peer::PeerError;
    use super::*;
    use serde_json::json;

    crate::hookspec! {
        #[name = "greet"]
        pub struct Greet(String) -> String;
    }

    #[tokio::test]
    async fn a_call_read_the_slow_way_is_answered_as_one_read_the_fast_way() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (host_io, plugin_io) = tokio::io::duplex(1 << 16);
        let (pr, pw) = tokio::io::split(plugin_io);
        let server = PluginServer::new("greeter", "1.0.0")
            .hook::<Greet, _, _>(|name, _| async move { Ok(Some(format!("hi {name}"))) });
        tokio::spawn(serve(server, pr, pw));
        let (hr, mut hw) = tokio::io::split(host_io);
        let mut answers = BufReader::new(hr).lines();
        // The fast way; then a line with a member twice, which only the slow way reads (the
        // last one counts); then params that are no `hook/call` params, both ways.
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"hook/call","params":{"hook":"greet","args":"Ada"}}"#,
            r#"{"jsonrpc":"2.0","id":2,"id":3,"method":"hook/call","params":{"hook":"greet","args":"Bo","depth":1}}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"hook/call","params":{"args":1}}"#,
            r#"{"jsonrpc":"2.0","id":5,"id":6,"method":"hook/call","params":{"args":1}}"#,
        ] {
            hw.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..4 {
            let line = answers.next_line().await.unwrap().unwrap();
            got.push(serde_json::from_str::<Value>(&line).unwrap());
        }
        let refused = |id: u64| json!({"jsonrpc":"2.0","id":id,"error":{"code":-32602,"message":"invalid params: missing field `hook`"}});
        assert_eq!(
            got,
            [
                json!({"jsonrpc":"2.0","id":1,"result":{"kind":"value","value":"hi Ada"}}),
                json!({"jsonrpc":"2.0","id":3,"result":{"kind":"value","value":"hi Bo"}}),
                refused(4),
                refused(6),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_answers_the_handshake_calls_and_exit() {
        let (host_io, plugin_io) = tokio::io::duplex(1 << 16);
        let (pr, pw) = tokio::io::split(plugin_io);
        let server = PluginServer::new("greeter", "1.2.0")
            .hook::<Greet, _, _>(|name, call| async move {
                if name == "nobody" {
                    return Ok(None);
                }
                if name == "bad" {
                    return Err("no such person".into());
                }
                Ok(Some(format!(
                    "{} {name} at {}",
                    call.config()["greeting"].as_str().unwrap_or("?"),
                    call.depth()
                )))
            })
            .priority(10)
            .timeout(Duration::from_millis(500));
        let serving = tokio::spawn(serve(server, pr, pw));
        struct NoCalls;
        impl Handler for NoCalls {
            fn request(
                &self,
                _: Peer,
                _: String,
                _: Value,
            ) -> BoxFuture<'static, Result<Value, RpcError>> {
                Box::pin(std::future::ready(Err(RpcError::new(
                    codes::METHOD_NOT_FOUND,
                    "none",
                ))))
            }
        }
        let (hr, hw) = tokio::io::split(host_io);
        let host = Peer::connect("plugin", hr, hw, NoCalls, 1 << 20);
        let p = host.peer();
        let init = p
            .request(
                "initialize",
                json!({"protocol_version":"1.4","host":{"name":"t","version":"0"},
                       "plugin":{"name":"greeter","config":{"greeting":"Hi"}},
                       "hooks":[{"name":"greet","mode":"collect_all"}],
                       "limits":{"max_message_bytes":1000,"max_call_depth":8}}),
            )
            .await
            .unwrap();
        assert_eq!(
            init,
            json!({"protocol_version":"1.1","plugin":{"name":"greeter","version":"1.2.0"},
                   "hooks":[{"name":"greet","priority":10,"timeout_ms":500}]})
        );
        let call = |args: Value| json!({"hook":"greet","args":args,"depth":2});
        assert_eq!(
            p.request("hook/call", call(json!("Ada"))).await.unwrap(),
            json!({"kind":"value","value":"Hi Ada at 2"})
        );
        assert_eq!(
            p.request("hook/call", call(json!("nobody"))).await.unwrap(),
            json!({"kind":"none"})
        );
        let err = p
            .request("hook/call", call(json!("bad")))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            PeerError::Remote(RpcError::new(codes::HOOK_FAILED, "no such person"))
        );
        let err = p.request("hook/call", call(json!(42))).await.unwrap_err();
        match err {
            PeerError::Remote(e) => {
                assert_eq!(e.code, codes::INVALID_PARAMS);
                assert_eq!(
                    e.message,
                    "invalid params: the arguments of hook `greet` do not fit its type: `.`: invalid type: integer `42`, expected a string",
                );
            }
            other => panic!("{other:?}"),
        }
        let err = p
            .request("hook/call", json!({"hook":"other","args":1,"depth":0}))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            PeerError::Remote(RpcError {
                code: codes::UNKNOWN_HOOK,
                ..
            })
        ));
        assert_eq!(
            p.request("shutdown", Value::Null).await.unwrap(),
            Value::Null
        );
        p.notify("exit", Value::Null);
        serving.await.unwrap();
    }

    /// A host that records the params of each `host/call` and answers it with no answers.
    struct Recorder(Arc<std::sync::Mutex<Vec<Value>>>);
    impl Handler for Recorder {
        fn request(
            &self,
            _: Peer,
            method: String,
            params: Value,
        ) -> BoxFuture<'static, Result<Value, RpcError>> {
            assert_eq!(method, "host/call");
            self.0.lock().unwrap().push(params);
            Box::pin(std::future::ready(Ok(json!({"answers":[],"failures":[]}))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_call_carries_the_time_left_and_the_trace_context_of_the_served_call() {
        crate::hookspec! {
            #[name = "relay"]
            pub struct Relay(u64) -> Value;
        }
        let (host_io, plugin_io) = tokio::io::duplex(1 << 16);
        let (pr, pw) = tokio::io::split(plugin_io);
        // Works `ms` milliseconds, then calls `greet` back through the host.
        let server = PluginServer::new("r", "1.0.0").hook::<Relay, _, _>(|ms, call| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let answer = call.host_call("greet", json!("Bo")).await?;
            Ok(Some(serde_json::to_value(answer)?))
        });
        let _serving = tokio::spawn(serve(server, pr, pw));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (hr, hw) = tokio::io::split(host_io);
        let host = Peer::connect("plugin", hr, hw, Recorder(seen.clone()), 1 << 20);
        let p = host.peer();
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        p.request(
            "hook/call",
            json!({"hook":"relay","args":250,"depth":1,"deadline_ms":1000,"traceparent":tp}),
        )
        .await
        .unwrap();
        // Without a deadline nor a trace context, the `host/call` carries neither.
        p.request("hook/call", json!({"hook":"relay","args":250,"depth":0}))
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                json!({"hook":"greet","args":"Bo","depth":2,"deadline_ms":750,"traceparent":tp}),
                json!({"hook":"greet","args":"Bo","depth":1}),
            ]
        );
    }

    /// A host that records each `host/call` and never answers it; a request given up (its
    /// `$/cancelRequest`) is recorded too.
    struct Silent {
        seen: Arc<std::sync::Mutex<Vec<Value>>>,
        cancelled: Arc<std::sync::Mutex<u32>>,
    }
    struct OnCancel(Arc<std::sync::Mutex<u32>>);
    impl Drop for OnCancel {
        fn drop(&mut self) {
            *self.0.lock().unwrap() += 1;
        }
    }
    impl Handler for Silent {
        fn request(
            &self,
            _: Peer,
            _: String,
            params: Value,
        ) -> BoxFuture<'static, Result<Value, RpcError>> {
            self.seen.lock().unwrap().push(params);
            let guard = OnCancel(self.cancelled.clone());
            Box::pin(async move {
                let _guard = guard;
                std::future::pending().await
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_call_with_a_timeout_gives_up_at_the_smaller_limit_and_cancels_the_request() {
        crate::hookspec! {
            #[name = "ask"]
            pub struct Ask((u64, u64)) -> String;
        }
        let (host_io, plugin_io) = tokio::io::duplex(1 << 16);
        let (pr, pw) = tokio::io::split(plugin_io);
        // Works `work` ms, then asks the host within `timeout` ms (0: no timeout of its own;
        // `u64::MAX`: a zero timeout);
        // answers how that ended.
        let server =
            PluginServer::new("a", "1.0.0").hook::<Ask, _, _>(|(work, timeout), call| async move {
                tokio::time::sleep(Duration::from_millis(work)).await;
                let asked = tokio::time::Instant::now();
                let err = match timeout {
                    0 => call.host_call("greet", json!("Bo")).await,
                    u64::MAX => {
                        call.host_call_with_timeout("greet", json!("Bo"), Duration::ZERO)
                            .await
                    }
                    ms => {
                        let limit = Duration::from_millis(ms);
                        call.host_call_with_timeout("greet", json!("Bo"), limit)
                            .await
                    }
                }
                .unwrap_err();
                assert!(err.is_timeout(), "{err:?}");
                Ok(Some(format!(
                    "{err}, after {} ms",
                    asked.elapsed().as_millis()
                )))
            });
        let _serving = tokio::spawn(serve(server, pr, pw));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let cancelled = Arc::new(std::sync::Mutex::new(0));
        let (hr, hw) = tokio::io::split(host_io);
        let host = Peer::connect(
            "plugin",
            hr,
            hw,
            Silent {
                seen: seen.clone(),
                cancelled: cancelled.clone(),
            },
            1 << 20,
        );
        let p = host.peer();
        let cancels = |n: u32| {
            let cancelled = cancelled.clone();
            async move {
                while *cancelled.lock().unwrap() < n {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        // No deadline on the served call: the timeout is the limit.
        let answer = p
            .request("hook/call", json!({"hook":"ask","args":[0, 100],"depth":0}))
            .await
            .unwrap();
        assert_eq!(
            answer,
            json!({"kind":"value","value":"host/call of `greet` got no answer within 0.100 s, after 100 ms"})
        );
        tokio::time::timeout(Duration::from_secs(5), cancels(1))
            .await
            .expect("the host/call is cancelled at the host");
        // The served call has 400 ms, of which 250 are left when it asks: less than 500.
        let answer = p
            .request(
                "hook/call",
                json!({"hook":"ask","args":[150, 500],"depth":2,"deadline_ms":400}),
            )
            .await
            .unwrap();
        assert_eq!(
            answer,
            json!({"kind":"value","value":"host/call of `greet` got no answer within 0.250 s, after 250 ms"})
        );
        tokio::time::timeout(Duration::from_secs(5), cancels(2))
            .await
            .expect("the host/call is cancelled at the host");
        // Without a timeout of its own: what is left of the served call's deadline.
        let answer = p
            .request(
                "hook/call",
                json!({"hook":"ask","args":[100, 0],"depth":0,"deadline_ms":300}),
            )
            .await
            .unwrap();
        assert_eq!(
            answer,
            json!({"kind":"value","value":"host/call of `greet` got no answer within 0.200 s, after 200 ms"})
        );
        tokio::time::timeout(Duration::from_secs(5), cancels(3))
            .await
            .expect("the host/call is cancelled at the host");
        // A zero timeout (under the millisecond the wire carries): a timeout at once, nothing
        // sent.
        let answer = p
            .request(
                "hook/call",
                json!({"hook":"ask","args":[0, u64::MAX],"depth":0}),
            )
            .await
            .unwrap();
        assert_eq!(
            answer,
            json!({"kind":"value","value":"host/call of `greet` got no answer within 0.000 s, after 0 ms"})
        );
        assert_eq!(*cancelled.lock().unwrap(), 3);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                json!({"hook":"greet","args":"Bo","depth":1,"deadline_ms":100}),
                json!({"hook":"greet","args":"Bo","depth":3,"deadline_ms":250}),
                json!({"hook":"greet","args":"Bo","depth":1,"deadline_ms":200}),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_call_refused_by_the_host_is_an_error_with_its_code_and_message() {
        struct Refuses;
        impl Handler for Refuses {
            fn request(
                &self,
                _: Peer,
                _: String,
                params: Value,
            ) -> BoxFuture<'static, Result<Value, RpcError>> {
                let message = format!("call depth {} is above 8", params["depth"]);
                Box::pin(std::future::ready(Err(RpcError::new(
                    codes::CALL_TOO_DEEP,
                    message,
                ))))
            }
        }
        let (host_io, plugin_io) = tokio::io::duplex(1 << 16);
        let (pr, pw) = tokio::io::split(plugin_io);
        let server = PluginServer::new("r", "1.0.0").hook::<Greet, _, _>(|_, call| async move {
            let plain = call.host_call("greet", json!("Bo")).await.unwrap_err();
            let timed = call
                .host_call_with_timeout("greet", json!("Bo"), Duration::from_secs(1))
                .await
                .unwrap_err();
            assert_eq!(plain.to_string(), timed.to_string());
            assert!(!plain.is_timeout() && !plain.is_closed());
            Ok(Some(format!("{plain} / {:?}", plain.code())))
        });
        let _serving = tokio::spawn(serve(server, pr, pw));
        let (hr, hw) = tokio::io::split(host_io);
        let host = Peer::connect("plugin", hr, hw, Refuses, 1 << 20);
        let answer = host
            .peer()
            .request("hook/call", json!({"hook":"greet","args":"x","depth":8}))
            .await
            .unwrap();
        // The Python SDK's `HostCallError`: the same message, `code` -32004.
        assert_eq!(
            answer,
            json!({"kind":"value","value":"host/call failed: call depth 9 is above 8 (code -32004) / Some(-32004)"})
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_refuses_an_incompatible_host() {
        let (host_io, plugin_io) = tokio::io::duplex(1 << 16);
        let (pr, pw) = tokio::io::split(plugin_io);
        let _serving = tokio::spawn(serve(PluginServer::new("g", "1.0.0"), pr, pw));
        struct NoCalls;
        impl Handler for NoCalls {
            fn request(
                &self,
                _: Peer,
                _: String,
                _: Value,
            ) -> BoxFuture<'static, Result<Value, RpcError>> {
                Box::pin(std::future::ready(Err(RpcError::new(
                    codes::METHOD_NOT_FOUND,
                    "none",
                ))))
            }
        }
        let (hr, hw) = tokio::io::split(host_io);
        let host = Peer::connect("plugin", hr, hw, NoCalls, 1 << 20);
        let err = host
            .peer()
            .request(
                "initialize",
                json!({"protocol_version":"2.0","host":{"name":"t","version":"0"},
                       "plugin":{"name":"g","config":{}},"hooks":[],
                       "limits":{"max_message_bytes":1000,"max_call_depth":8}}),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err,
            PeerError::Remote(RpcError::new(
                codes::VERSION_NOT_SUPPORTED,
                "plugin `g` speaks protocol 1.1, the host speaks 2.0"
            ))
        );
    }
}
