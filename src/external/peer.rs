//! A JSON-RPC peer over any `AsyncRead`/`AsyncWrite` pair: what the host side and the Rust SDK
//! both use. Many requests in flight both ways, answers matched by id in any order, incoming
//! requests served concurrently (each on a task of the connection) while own requests wait.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::task::noop_waker_ref;
use futures::FutureExt;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

use super::envelope::{read_text, without_position, Incoming};
use super::framing::{Line, LineReader, LongHead};
use super::outbox::Outbox;
use super::protocol::{codes, write_request, write_response_text, CancelParams, Message, RpcError};
use crate::limits::Quote;

/// How many cancelled request ids a peer remembers, to log their late answers at `debug`.
const CANCELLED_KEPT: usize = 256;

/// The default maximum message size: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Serves what the other side asks: its requests and notifications.
///
/// A request's future runs on a task of the connection, concurrently with other requests and
/// with the reading of further messages; it is dropped (aborted) when the other side cancels
/// it with `$/cancelRequest` or the connection ends. A panic in it is answered as an internal
/// error (`-32603`).
pub trait Handler: Send + Sync + 'static {
    /// Answers request `method`. `peer` sends requests of its own to the other side (nested
    /// calls).
    fn request(
        &self,
        peer: Peer,
        method: String,
        params: Value,
    ) -> BoxFuture<'static, Result<Value, RpcError>>;

    /// Answers request `method` from the JSON text of its params, when the handler can: a
    /// fast path that skips the `Value` tree [`request`](Self::request) gets, for the
    /// requests of every call (the Rust SDK answers `hook/call` this way, decoding the
    /// arguments straight into their type and writing its answer as text). `None` (the
    /// default) hands the request to `request`.
    ///
    /// Every request is offered here first, unless it is refused because a request with its
    /// id is being served still. `params` is `None` when the request has none (absent or
    /// `null`). The text is the line's, checked as JSON by the grammar but not read: a string
    /// may hold a lone surrogate escape, a number may be out of any Rust type's range; reading
    /// it into a type tells (answer such params with an error, e.g. `-32602`). The answer's
    /// text is written as it is when it is one line (as `serde_json::value::to_raw_value`
    /// writes), else rewritten compact. A panic here is answered like one in the future
    /// (`-32603`).
    ///
    /// ```
    /// use futures::future::BoxFuture;
    /// use hookwire::external::protocol::RpcError;
    /// use hookwire::external::{Handler, Peer};
    /// use serde_json::value::{to_raw_value, RawValue};
    /// use serde_json::Value;
    ///
    /// /// Answers `add` (params `[a, b]`) from their text; anything else as `Value`s.
    /// struct Adder;
    ///
    /// impl Handler for Adder {
    ///     fn request(&self, _: Peer, method: String, _: Value) -> BoxFuture<'static, Result<Value, RpcError>> {
    ///         let no = RpcError::new(-32601, format!("no method `{method}`"));
    ///         Box::pin(async move { Err(no) })
    ///     }
    ///
    ///     fn request_text(
    ///         &self,
    ///         _: &Peer,
    ///         method: &str,
    ///         params: Option<&RawValue>,
    ///     ) -> Option<BoxFuture<'static, Result<Box<RawValue>, RpcError>>> {
    ///         if method != "add" {
    ///             return None;
    ///         }
    ///         let sum = serde_json::from_str::<(i64, i64)>(params.map_or("null", RawValue::get))
    ///             .map_err(|e| RpcError::invalid_params(e))
    ///             .and_then(|(a, b)| to_raw_value(&(a + b)).map_err(|e| RpcError::new(-32603, e.to_string())));
    ///         Some(Box::pin(async move { sum }))
    ///     }
    /// }
    /// ```
    fn request_text(
        &self,
        peer: &Peer,
        method: &str,
        params: Option<&RawValue>,
    ) -> Option<BoxFuture<'static, Result<Box<RawValue>, RpcError>>> {
        let _ = (peer, method, params);
        None
    }

    /// Takes notification `method` (`$/cancelRequest` is handled by the peer itself). The
    /// default logs it at `debug` and ignores it.
    fn notification(&self, peer: &Peer, method: String, params: Value) {
        let _ = params;
        tracing::debug!(peer = %peer.name(), method = %Quote(&method), "notification ignored");
    }
}

/// Why a request got no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The other side answered with an error.
    #[error("{0}")]
    Remote(RpcError),
    /// The connection ended (end of input, an I/O error) before the answer came.
    #[error("the connection to `{peer}` is closed: {reason}")]
    Closed {
        /// The other side's name.
        peer: String,
        /// What ended it.
        reason: String,
    },
    /// The answer was longer than the maximum message size.
    #[error("`{peer}` answered with a message of {len} bytes; the maximum is {max} bytes")]
    TooLong {
        /// The other side's name.
        peer: String,
        /// The message's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// No answer within the time limit (the request was cancelled).
    #[error("`{peer}` did not answer `{method}` within {limit:?}")]
    TimedOut {
        /// The other side's name.
        peer: String,
        /// The request's method.
        method: String,
        /// The limit.
        limit: Duration,
    },
}

impl PeerError {
    /// Whether the connection ended before the answer.
    pub fn is_closed(&self) -> bool {
        matches!(self, PeerError::Closed { .. })
    }
}

type Answer = Result<Reply, PeerError>;

/// The result of an answer as it came: JSON text inside its line (the line moves to the
/// waiting caller, which reads the result on its own thread), or, for a line read the slow
/// way, a `Value`.
#[derive(Debug)]
pub(crate) enum Reply {
    Text {
        line: Vec<u8>,
        start: usize,
        end: usize,
    },
    Value(Value),
}

impl Reply {
    /// The result as a `Value`.
    ///
    /// # Errors
    /// None in practice: the text was read as JSON already ([`PeerError::Remote`] with a parse
    /// error otherwise).
    pub(crate) fn into_value(self) -> Result<Value, PeerError> {
        match self {
            Reply::Value(v) => Ok(v),
            Reply::Text { line, start, end } => {
                serde_json::from_slice(&line[start..end]).map_err(|e| {
                    PeerError::Remote(RpcError::new(codes::PARSE_ERROR, without_position(&e)))
                })
            }
        }
    }

    /// The result read as a `T`.
    ///
    /// # Errors
    /// When it does not fit `T`.
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        match self {
            Reply::Value(v) => serde_json::from_value(v),
            Reply::Text { line, start, end } => read_text(&line[start..end]),
        }
    }
}

struct Shared {
    name: Arc<str>,
    max: usize,
    next_id: AtomicU64,
    out: Outbox,
    state: Mutex<State>,
    closed: AtomicBool,
    protocol_errors: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Own requests waiting for an answer.
    pending: HashMap<u64, oneshot::Sender<Answer>>,
    /// Own requests given up, most recent last.
    cancelled: VecDeque<u64>,
    /// Incoming requests being served, by their id's JSON text.
    serving: HashMap<String, AbortHandle>,
    /// Why the connection closed, once it has.
    closed: Option<String>,
}

/// One side of a JSON-RPC connection; cheap to clone. Made by [`Peer::connect`].
#[derive(Clone)]
pub struct Peer {
    shared: Arc<Shared>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.shared.name)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// A running connection: owns the task that reads and writes. Dropping it aborts that task
/// (and the requests being served), which closes the writer.
#[derive(Debug)]
pub struct Connection {
    peer: Peer,
    task: JoinHandle<()>,
}

impl Connection {
    /// The peer, to send requests.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Waits until the connection ends: end of input, or an I/O error.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future leaves the connection running.
    pub async fn closed(&mut self) {
        let _ = (&mut self.task).await;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
        self.peer.close("the connection was dropped");
    }
}

impl Peer {
    /// Starts a connection over `reader`/`writer` on a task of the current tokio runtime.
    /// `name` names the other side in logs and errors; `max_message_bytes` bounds an incoming
    /// line ([`DEFAULT_MAX_MESSAGE_BYTES`] is the protocol's default).
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn connect<R, W, H>(
        name: impl Into<Arc<str>>,
        reader: R,
        writer: W,
        handler: H,
        max_message_bytes: usize,
    ) -> Connection
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
        H: Handler,
    {
        let peer = Peer {
            shared: Arc::new(Shared {
                name: name.into(),
                max: max_message_bytes.max(1),
                next_id: AtomicU64::new(1),
                out: Outbox::new(writer),
                state: Mutex::new(State::default()),
                closed: AtomicBool::new(false),
                protocol_errors: AtomicU64::new(0),
            }),
        };
        let task = tokio::spawn(drive(peer.clone(), reader, Arc::new(handler)));
        Connection { peer, task }
    }

    /// The other side's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// How many lines from the other side were not protocol (not JSON, not JSON-RPC, too
    /// long, an answer to an id not waited for).
    pub fn protocol_errors(&self) -> u64 {
        self.shared.protocol_errors.load(Ordering::Relaxed)
    }

    /// Sends request `method` and waits for its answer.
    ///
    /// # Errors
    /// [`PeerError::Remote`] with the other side's error, [`PeerError::Closed`] when the
    /// connection ends first, [`PeerError::TooLong`] when the answer is over the maximum size.
    ///
    /// # Cancel safety
    /// Dropping the future gives the request up: the other side gets `$/cancelRequest` with
    /// its id, and a late answer is ignored.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, PeerError> {
        let params = (!params.is_null()).then_some(params);
        let reply = self
            .send_request(|id, buf| write_request(buf, id, method, params.as_ref()))
            .await?;
        reply.into_value().inspect_err(|e| {
            // JSON by the grammar that serde_json does not read (a lone surrogate escape, a
            // number out of range): the other side's fault, counted as such.
            self.shared.protocol_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(target: "hookwire::external", peer = %self.name(), method = %Quote(method), "protocol error: an answer's result is not readable: {e}");
        })
    }

    /// [`request`](Self::request) with params of any serde type, written straight into the
    /// message (no `Value` in between), and the result as it came (see [`Reply`]).
    pub(crate) async fn request_serialized<P: serde::Serialize>(
        &self,
        method: &str,
        params: &P,
    ) -> Result<Reply, PeerError> {
        self.send_request(|id, buf| write_request(buf, id, method, Some(params)))
            .await
    }

    async fn send_request(
        &self,
        write: impl FnOnce(&Value, &mut Vec<u8>),
    ) -> Result<Reply, PeerError> {
        let (tx, rx) = oneshot::channel();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let others_in_flight = {
            let mut state = self.state();
            if let Some(reason) = &state.closed {
                return Err(self.closed_error(reason));
            }
            state.pending.insert(id, tx);
            state.pending.len() > 1
        };
        let guard = Waiting { peer: self, id };
        let id = Value::from(id);
        if others_in_flight {
            // Calls are in flight, so more are likely being made: the line waits one yield
            // for the other callers of this turn to add theirs, then one `write` takes them
            // all. (Dropped meanwhile: the cancel notification wakes the writer task, which
            // writes both.)
            self.shared.out.defer_with(|queue| write(&id, queue));
            tokio::task::yield_now().await;
            self.shared.out.flush();
        } else {
            let mut line = Vec::with_capacity(128);
            write(&id, &mut line);
            self.shared.out.send(&line);
        }
        let answer = match rx.await {
            Ok(answer) => answer,
            Err(_) => Err(self.closed_error("the connection was dropped")),
        };
        std::mem::forget(guard);
        answer
    }

    /// [`request`](Self::request) with a time limit; on expiry the request is cancelled.
    ///
    /// # Errors
    /// As `request`, and [`PeerError::TimedOut`].
    ///
    /// # Cancel safety
    /// As `request`.
    pub async fn request_timeout(
        &self,
        method: &str,
        params: Value,
        limit: Duration,
    ) -> Result<Value, PeerError> {
        match tokio::time::timeout(limit, self.request(method, params)).await {
            Ok(answer) => answer,
            Err(_) => Err(PeerError::TimedOut {
                peer: self.name().to_owned(),
                method: method.to_owned(),
                limit,
            }),
        }
    }

    /// Sends notification `method`. Does nothing once the connection is closed.
    pub fn notify(&self, method: &str, params: Value) {
        self.send(&Message::Notification {
            method: method.to_owned(),
            params,
        });
    }

    /// Sends `message`: an answer is queued for the connection's task (which writes the
    /// answers of one turn together), a request or notification written at once when the
    /// writer is idle (see [`Outbox`]).
    fn send(&self, message: &Message) {
        if self.is_closed() {
            return;
        }
        match message {
            Message::Response { .. } => self.shared.out.queue_with(|q| message.write_line(q)),
            _ => self.shared.out.send(&message.to_line()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned state is still consistent.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn closed_error(&self, reason: &str) -> PeerError {
        PeerError::Closed {
            peer: self.name().to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// Ends the connection: every request waiting fails with [`PeerError::Closed`].
    fn close(&self, reason: &str) {
        let pending = {
            let mut state = self.state();
            if state.closed.is_some() {
                return;
            }
            state.closed = Some(reason.to_owned());
            for (_, task) in state.serving.drain() {
                task.abort();
            }
            std::mem::take(&mut state.pending)
        };
        self.shared.closed.store(true, Ordering::Release);
        self.shared.out.close();
        for (_, tx) in pending {
            let _ = tx.send(Err(self.closed_error(reason)));
        }
    }

    fn protocol_error(&self, what: &dyn fmt::Display, line: &[u8]) {
        self.shared.protocol_errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "hookwire::external",
            peer = %self.name(),
            line = %Quote(String::from_utf8_lossy(line)),
            "protocol error: {what}"
        );
    }

    fn answer(&self, id: Value, result: Answer) {
        let waiting = id.as_u64().map(|n| {
            let mut state = self.state();
            state
                .pending
                .remove(&n)
                .ok_or_else(|| state.cancelled.contains(&n))
        });
        match waiting {
            Some(Ok(tx)) => {
                let _ = tx.send(result);
            }
            Some(Err(true)) => {
                tracing::debug!(target: "hookwire::external", peer = %self.name(), %id, "late answer to a cancelled request ignored");
            }
            _ => {
                self.shared.protocol_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "hookwire::external", peer = %self.name(), id = %Quote(&id), "answer to a request not waited for (unknown or already answered) ignored");
            }
        }
    }

    /// Serves request `id`: refused when a request of that id is being served still; else
    /// offered to the handler as text ([`Handler::request_text`]), then as a `Value`
    /// ([`Handler::request`]). A handler that panics before it gives its future is answered
    /// as one whose future panics.
    fn serve(
        &self,
        tasks: &mut JoinSet<()>,
        handler: &Arc<dyn Handler>,
        id: Value,
        method: &str,
        params: Params<'_>,
    ) {
        let twice = {
            // The id's text only when something is being served (not for requests answered in
            // place, most of them).
            let state = self.state();
            !state.serving.is_empty() && state.serving.contains_key(&id.to_string())
        };
        if twice {
            let refused = RpcError::new(
                codes::INVALID_REQUEST,
                "a request with this id is already being served",
            );
            return respond_value(self, id, Err(refused));
        }
        let converted;
        let text = match &params {
            Params::Text(text) => text.filter(|t| t.get() != "null"),
            Params::Value(Value::Null) => None,
            Params::Value(v) => {
                converted = serde_json::value::to_raw_value(v).ok();
                converted.as_deref()
            }
        };
        match catch_unwind(AssertUnwindSafe(|| {
            handler.request_text(self, method, text)
        })) {
            Ok(Some(answer)) => return self.serve_future(tasks, id, answer, respond_text),
            Ok(None) => {}
            Err(panic) => return respond_value(self, id, handler_result(Err(panic))),
        }
        let params = match params {
            Params::Value(v) => v,
            Params::Text(None) => Value::Null,
            Params::Text(Some(text)) => match serde_json::from_str(text.get()) {
                Ok(v) => v,
                Err(e) => {
                    let e = RpcError::new(codes::PARSE_ERROR, without_position(&e));
                    return respond_value(self, id, Err(e));
                }
            },
        };
        match catch_unwind(AssertUnwindSafe(|| {
            handler.request(self.clone(), method.to_owned(), params)
        })) {
            Ok(answer) => self.serve_future(tasks, id, answer, respond_value),
            Err(panic) => respond_value(self, id, handler_result(Err(panic))),
        }
    }

    /// Runs `answer`, the handler's future for request `id`, and sends what it gives with
    /// `respond`: in place when it is ready at once, else on a task of the connection.
    fn serve_future<T: Send + 'static>(
        &self,
        tasks: &mut JoinSet<()>,
        id: Value,
        answer: BoxFuture<'static, Result<T, RpcError>>,
        respond: fn(&Peer, Value, Result<T, RpcError>),
    ) {
        let mut fut = AssertUnwindSafe(answer).catch_unwind();
        // One poll here first: a handler that answers at once (no I/O, no nested call, as most
        // hook impls) costs no task. One that waits moves to a task, whose first poll gives
        // it the task's waker in place of this no-op one.
        if let Poll::Ready(r) = fut.poll_unpin(&mut Context::from_waker(noop_waker_ref())) {
            respond(self, id, handler_result(r));
            return;
        }
        let peer = self.clone();
        let key = id.to_string();
        let task_key = key.clone();
        // The task may finish before its handle is recorded: the lock is taken first.
        let mut state = self.state();
        let handle = tasks.spawn(async move {
            let result = handler_result(fut.await);
            peer.state().serving.remove(&task_key);
            respond(&peer, id, result);
        });
        state.serving.insert(key, handle);
    }

    fn cancel_incoming(&self, params: Value) {
        let Ok(CancelParams { id }) = serde_json::from_value(params) else {
            tracing::warn!(target: "hookwire::external", peer = %self.name(), "`$/cancelRequest` without an id ignored");
            return;
        };
        if let Some(task) = self.state().serving.remove(&id.to_string()) {
            task.abort();
        }
    }
}

/// A request's params as they came: JSON text borrowed from the line (`None` when absent),
/// or, for a line read the slow way, a `Value`.
enum Params<'a> {
    Text(Option<&'a RawValue>),
    Value(Value),
}

fn respond_value(peer: &Peer, id: Value, result: Result<Value, RpcError>) {
    peer.send(&Message::Response { id, result });
}

/// Writes an answer given as text; text that spans lines (a handler's pretty-printed
/// `RawValue`) is written compact, as one line must be.
fn respond_text(peer: &Peer, id: Value, result: Result<Box<RawValue>, RpcError>) {
    if peer.is_closed() {
        return;
    }
    if let Ok(text) = &result {
        if text.get().contains('\n') {
            let result = serde_json::from_str::<Value>(text.get())
                .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, without_position(&e)));
            return respond_value(peer, id, result);
        }
    }
    peer.shared
        .out
        .queue_with(|q| write_response_text(q, &id, result.as_deref()));
}

/// A handler's result, or the internal error (`-32603`) that reports its panic.
fn handler_result<T>(
    r: Result<Result<T, RpcError>, Box<dyn std::any::Any + Send>>,
) -> Result<T, RpcError> {
    r.unwrap_or_else(|panic| {
        Err(RpcError::new(
            codes::INTERNAL_ERROR,
            format!(
                "the handler panicked: {}",
                crate::exec::panic::panic_message(panic)
            ),
        ))
    })
}

/// Gives a request up when its future is dropped before the answer.
struct Waiting<'a> {
    peer: &'a Peer,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let was_pending = {
            let mut state = self.peer.state();
            let was = state.pending.remove(&self.id).is_some();
            if was {
                if state.cancelled.len() == CANCELLED_KEPT {
                    state.cancelled.pop_front();
                }
                state.cancelled.push_back(self.id);
            }
            was
        };
        if was_pending {
            self.peer
                .notify("$/cancelRequest", serde_json::json!({ "id": self.id }));
        }
    }
}

async fn drive<R>(peer: Peer, reader: R, handler: Arc<dyn Handler>)
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let read = read_loop(&peer, reader, &handler);
    let write = peer.shared.out.run();
    let reason = tokio::select! {
        r = read => r,
        r = write => match r {
            Ok(()) => "the writer closed".to_owned(),
            Err(e) => format!("writing failed: {e}"),
        },
    };
    tracing::debug!(target: "hookwire::external", peer = %peer.name(), %reason, "connection closed");
    peer.close(&reason);
}

async fn read_loop<R>(peer: &Peer, reader: R, handler: &Arc<dyn Handler>) -> String
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let mut lines = LineReader::new(BufReader::new(reader), peer.shared.max);
    let mut tasks = JoinSet::new();
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => return "end of input".to_owned(),
            Err(e) => return format!("reading failed: {e}"),
        };
        let line = match line {
            Line::Complete(line) => line,
            Line::TooLong { len, head } => {
                peer.protocol_error(
                    &format_args!(
                        "a message of {len} bytes, over the maximum of {} bytes, discarded",
                        peer.shared.max
                    ),
                    &head,
                );
                let shown = LongHead::read(&head);
                match shown.id {
                    // A request: answered, so that the other side does not wait for ever.
                    Some(id) if shown.method => peer.send(&Message::Response {
                        id,
                        result: Err(RpcError::new(
                            codes::INVALID_REQUEST,
                            format!(
                                "invalid request: the message is {len} bytes, above the limit of {} bytes",
                                peer.shared.max
                            ),
                        )),
                    }),
                    // An answer: the request it answers fails.
                    Some(id) if shown.answer => {
                        let err = PeerError::TooLong {
                            peer: peer.name().to_owned(),
                            len,
                            max: peer.shared.max,
                        };
                        let waiting = id.as_u64().and_then(|id| peer.state().pending.remove(&id));
                        if let Some(tx) = waiting {
                            let _ = tx.send(Err(err));
                        }
                    }
                    _ => {}
                }
                continue;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // The messages of calls (an answer with a result, a request the handler answers from
        // text) skip the `Value` tree; any other message is read into a `Message`.
        let message = match Incoming::parse(&line) {
            Some(Ok(Incoming::Response {
                id,
                result: Ok(text),
            })) => {
                let start = text.get().as_ptr() as usize - line.as_ptr() as usize;
                let end = start + text.get().len();
                peer.answer(id, Ok(Reply::Text { line, start, end }));
                continue;
            }
            Some(Ok(Incoming::Request { id, method, params })) => {
                peer.serve(&mut tasks, handler, id, &method, Params::Text(params));
                continue;
            }
            Some(incoming) => incoming.and_then(Incoming::into_message),
            None => Message::parse_value(&line),
        };
        match message {
            Ok(Message::Response { id, result }) => {
                peer.answer(id, result.map(Reply::Value).map_err(PeerError::Remote));
            }
            Ok(Message::Request { id, method, params }) => {
                peer.serve(&mut tasks, handler, id, &method, Params::Value(params));
            }
            Ok(Message::Notification { method, params }) => {
                if method == "$/cancelRequest" {
                    peer.cancel_incoming(params);
                } else {
                    handler.notification(peer, method, params);
                }
            }
            Err(e) => peer.protocol_error(&e, &line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, DuplexStream};

    /// Answers `echo` with its params, `sleep` after `params` ms, `ask` by asking the other
    /// side `echo` first (nesting), and counts cancelled sleeps.
    struct Echo {
        cancelled: Arc<AtomicU64>,
    }

    struct CountDrop(Arc<AtomicU64>, bool);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            if !self.1 {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    impl Handler for Echo {
        fn request(
            &self,
            peer: Peer,
            method: String,
            params: Value,
        ) -> BoxFuture<'static, Result<Value, RpcError>> {
            let cancelled = self.cancelled.clone();
            Box::pin(async move {
                match method.as_str() {
                    "echo" => Ok(params),
                    "sleep" => {
                        let mut guard = CountDrop(cancelled, false);
                        tokio::time::sleep(Duration::from_millis(params.as_u64().unwrap_or(0)))
                            .await;
                        guard.1 = true;
                        Ok(params)
                    }
                    "ask" => peer
                        .request("echo", params)
                        .await
                        .map(|v| json!({ "nested": v }))
                        .map_err(|e| RpcError::new(codes::INTERNAL_ERROR, e.to_string())),
                    "panic" => panic!("boom"),
                    _ => Err(RpcError::new(codes::METHOD_NOT_FOUND, method)),
                }
            })
        }
    }

    fn pair() -> (Connection, Connection, Arc<AtomicU64>, Arc<AtomicU64>) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let ca = Arc::new(AtomicU64::new(0));
        let cb = Arc::new(AtomicU64::new(0));
        let a = Peer::connect(
            "b",
            ar,
            aw,
            Echo {
                cancelled: ca.clone(),
            },
            1 << 20,
        );
        let b = Peer::connect(
            "a",
            br,
            bw,
            Echo {
                cancelled: cb.clone(),
            },
            1 << 20,
        );
        (a, b, ca, cb)
    }

    #[tokio::test(start_paused = true)]
    async fn many_requests_in_flight_are_answered_by_id_in_any_order() {
        let (a, _b, _, _) = pair();
        let p = a.peer().clone();
        let (slow, fast, echo) = tokio::join!(
            p.request("sleep", json!(300)),
            p.request("sleep", json!(10)),
            p.request("echo", json!({"x": [1, 2]})),
        );
        assert_eq!(slow.unwrap(), json!(300));
        assert_eq!(fast.unwrap(), json!(10));
        assert_eq!(echo.unwrap(), json!({"x": [1, 2]}));
        let err = p.request("nope", Value::Null).await.unwrap_err();
        assert_eq!(
            err,
            PeerError::Remote(RpcError::new(codes::METHOD_NOT_FOUND, "nope"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_go_both_ways_and_nest() {
        let (a, b, _, _) = pair();
        let (x, y) = tokio::join!(
            a.peer().request("ask", json!("from a")),
            b.peer().request("ask", json!("from b")),
        );
        assert_eq!(x.unwrap(), json!({"nested": "from a"}));
        assert_eq!(y.unwrap(), json!({"nested": "from b"}));
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_or_timed_out_request_is_cancelled_on_the_other_side() {
        let (a, _b, _, cancelled_in_b) = pair();
        let err = a
            .peer()
            .request_timeout("sleep", json!(10_000), Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, PeerError::TimedOut { .. }), "{err}");
        let mut dropped = Box::pin(a.peer().request("sleep", json!(10_000)));
        assert!(futures::poll!(dropped.as_mut()).is_pending());
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(dropped);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(cancelled_in_b.load(Ordering::SeqCst), 2);
        // The connection still serves.
        assert_eq!(a.peer().request("echo", json!(1)).await.unwrap(), json!(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_handler_answers_an_internal_error() {
        let (a, _b, _, _) = pair();
        match a.peer().request("panic", Value::Null).await {
            Err(PeerError::Remote(e)) => {
                assert_eq!(e.code, codes::INTERNAL_ERROR);
                assert!(e.message.contains("boom"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }

    /// A connection to a scripted other side: the test reads what the peer sends and writes
    /// raw lines back.
    fn scripted(
        max: usize,
    ) -> (
        Connection,
        tokio::io::Lines<BufReader<tokio::io::ReadHalf<DuplexStream>>>,
        tokio::io::WriteHalf<DuplexStream>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (ar, aw) = tokio::io::split(a);
        let (br, bw) = tokio::io::split(b);
        let conn = Peer::connect(
            "script",
            ar,
            aw,
            Echo {
                cancelled: Default::default(),
            },
            max,
        );
        (conn, BufReader::new(br).lines(), bw)
    }

    #[tokio::test(start_paused = true)]
    async fn bad_lines_unknown_and_duplicate_answers_are_counted_and_ignored() {
        let (conn, mut from_peer, mut to_peer) = scripted(1 << 10);
        let p = conn.peer().clone();
        let call = tokio::spawn(async move { p.request("x", Value::Null).await });
        let sent: Value =
            serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(sent["method"], "x");
        let id = sent["id"].clone();
        for line in [
            "not json".to_owned(),
            r#"{"jsonrpc":"2.0","id":[1],"result":1}"#.to_owned(),
            r#"{"jsonrpc":"2.0","id":999,"result":1}"#.to_owned(),
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"first"}}"#),
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"second"}}"#),
        ] {
            to_peer.write_all(line.as_bytes()).await.unwrap();
            to_peer.write_all(b"\n").await.unwrap();
        }
        assert_eq!(call.await.unwrap().unwrap(), json!("first"));
        // The requests the scripted side sends are still served.
        to_peer
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"method\":\"echo\",\"params\":5}\n")
            .await
            .unwrap();
        let answer: Value =
            serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(answer, json!({"jsonrpc":"2.0","id":"q","result":5}));
        // not JSON, not JSON-RPC, unknown id 999, duplicate answer.
        assert_eq!(conn.peer().protocol_errors(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_dropped_while_its_line_waits_for_others_is_still_sent_then_cancelled() {
        let (conn, mut from_peer, _to_peer) = scripted(1 << 10);
        let p = conn.peer().clone();
        let first = tokio::spawn(async move { p.request("first", Value::Null).await });
        let sent: Value =
            serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(sent["method"], "first");
        // With `first` in flight, `second`'s line waits one yield for other callers' lines.
        let mut second = Box::pin(conn.peer().request("second", Value::Null));
        assert!(futures::poll!(second.as_mut()).is_pending());
        drop(second);
        let sent: Value =
            serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(sent["method"], "second");
        let cancel: Value =
            serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(cancel["method"], "$/cancelRequest");
        assert_eq!(cancel["params"]["id"], sent["id"]);
        first.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn an_over_long_answer_fails_its_request_and_the_connection_goes_on() {
        let (conn, mut from_peer, mut to_peer) = scripted(100);
        let p = conn.peer().clone();
        let call = tokio::spawn(async move { p.request("x", Value::Null).await });
        let sent: Value =
            serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
        let long = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":\"{}\"}}\n",
            sent["id"],
            "x".repeat(10_000)
        );
        to_peer.write_all(long.as_bytes()).await.unwrap();
        match call.await.unwrap() {
            Err(PeerError::TooLong { len, max: 100, .. }) => assert_eq!(len, long.len() - 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(conn.peer().protocol_errors(), 1);
        let p = conn.peer().clone();
        let call = tokio::spawn(async move { p.request("y", Value::Null).await });
        let sent: Value =
            serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
        to_peer
            .write_all(
                format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":1}}\n",
                    sent["id"]
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(call.await.unwrap().unwrap(), json!(1));
    }

    #[tokio::test(start_paused = true)]
    async fn an_over_long_request_is_answered_with_an_invalid_request_error_by_its_id() {
        let (conn, mut from_peer, mut to_peer) = scripted(100);
        for id in [json!(7), json!("q-7")] {
            let long = format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"echo\",\"params\":\"{}\"}}\n",
                "x".repeat(10_000)
            );
            to_peer.write_all(long.as_bytes()).await.unwrap();
            let answer: Value =
                serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
            assert_eq!(
                answer,
                json!({"jsonrpc":"2.0","id":id,"error":{"code":codes::INVALID_REQUEST,
                    "message":format!("invalid request: the message is {} bytes, above the limit of 100 bytes", long.len() - 1)}})
            );
        }
        // Without an id in its head (a notification, or the id after the params): nothing
        // to answer; the line is only counted.
        let no_id = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":\"{}\",\"id\":8}}\n",
            "x".repeat(10_000)
        );
        to_peer.write_all(no_id.as_bytes()).await.unwrap();
        to_peer
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"echo\",\"params\":5}\n")
            .await
            .unwrap();
        let answer: Value =
            serde_json::from_str(&from_peer.next_line().await.unwrap().unwrap()).unwrap();
        assert_eq!(answer, json!({"jsonrpc":"2.0","id":9,"result":5}));
        assert_eq!(conn.peer().protocol_errors(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn end_of_input_fails_the_requests_in_flight_and_later_ones() {
        let (conn, mut from_peer, to_peer) = scripted(100);
        let p = conn.peer().clone();
        let call = tokio::spawn(async move { p.request("x", Value::Null).await });
        from_peer.next_line().await.unwrap();
        drop(to_peer);
        drop(from_peer);
        let err = call.await.unwrap().unwrap_err();
        assert!(err.is_closed(), "{err}");
        assert!(conn
            .peer()
            .request("y", Value::Null)
            .await
            .unwrap_err()
            .is_closed());
    }
}
