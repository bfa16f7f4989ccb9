//! The messages of `docs/protocol.md` (version 1.1): JSON-RPC 2.0 envelopes and the params and
//! results of each method, as serde types.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::peer::Reply;

/// The protocol version this crate speaks (`docs/protocol.md`).
pub const PROTOCOL_VERSION: &str = "1.1";

/// The environment variable that marks a process as started by a hookwire host (`"1"`).
pub const PLUGIN_ENV: &str = "HOOKWIRE_PLUGIN";

/// What a plugin run by hand (without [`PLUGIN_ENV`]) writes to stderr before it exits with
/// status 1.
pub const RUN_BY_HAND: &str =
    "this is a hookwire plugin; it is started by its host, not run by hand (see docs/protocol.md)";

/// The deepest nesting of calls through `host/call` (`limits.max_call_depth`).
pub const MAX_CALL_DEPTH: u32 = 8;

/// The error codes of `docs/protocol.md` §6.
pub mod codes {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// JSON, but not a JSON-RPC request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// Method not found.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid params (wrong shape, a missing field).
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error of the receiver.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// Request cancelled.
    pub const REQUEST_CANCELLED: i64 = -32800;
    /// Hook failed: the impl returned an error or raised.
    pub const HOOK_FAILED: i64 = -32001;
    /// Unknown hook.
    pub const UNKNOWN_HOOK: i64 = -32002;
    /// Protocol version not supported.
    pub const VERSION_NOT_SUPPORTED: i64 = -32003;
    /// Call depth above `max_call_depth`.
    pub const CALL_TOO_DEEP: i64 = -32004;
    /// Refused by the host's security policy: the plugin lacks the permission the hook needs.
    pub const REFUSED: i64 = -32005;
}

/// A JSON-RPC error object: what a peer answers instead of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (code {code})")]
#[non_exhaustive]
pub struct RpcError {
    /// One of [`codes`], or the peer's own.
    pub code: i64,
    /// What went wrong, for a person.
    pub message: String,
    /// Details (the Python SDK's `{"traceback": ...}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message`, no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// `-32602`: the params do not have the method's shape.
    pub fn invalid_params(detail: impl std::fmt::Display) -> Self {
        Self::new(codes::INVALID_PARAMS, format!("invalid params: {detail}"))
    }
}

/// One protocol message (a line).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// A request: the receiver answers with a [`Message::Response`] of the same id.
    Request {
        /// Unique among the sender's requests in flight.
        id: Value,
        /// The method.
        method: String,
        /// Its params (`null` when absent).
        params: Value,
    },
    /// A notification: no answer.
    Notification {
        /// The method.
        method: String,
        /// Its params (`null` when absent).
        params: Value,
    },
    /// The answer to a request.
    Response {
        /// The request's id.
        id: Value,
        /// Its result, or the error.
        result: Result<Value, RpcError>,
    },
}

/// Why a line is not a protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Not JSON (`-32700`).
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not a JSON-RPC 2.0 message (`-32600`).
    #[error("not a JSON-RPC 2.0 message: {0}")]
    NotRpc(String),
}

impl ProtocolError {
    /// The JSON-RPC error code of this kind of error.
    pub fn code(&self) -> i64 {
        match self {
            ProtocolError::NotJson(_) => codes::PARSE_ERROR,
            ProtocolError::NotRpc(_) => codes::INVALID_REQUEST,
        }
    }
}

impl Message {
    /// The message as one line of JSON, ending with `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = Vec::with_capacity(128);
        self.write_line(&mut line);
        line
    }

    /// [`to_line`](Self::to_line) appended to `buf` (e.g. straight into a write queue).
    pub(crate) fn write_line(&self, buf: &mut Vec<u8>) {
        match self {
            Message::Request { id, method, params } => write_line(
                buf,
                &Outgoing::request(id, method, (!params.is_null()).then_some(params)),
            ),
            Message::Notification { method, params } => write_line::<Value, Value>(
                buf,
                &Outgoing {
                    method: Some(method),
                    params: (!params.is_null()).then_some(params),
                    ..Outgoing::default()
                },
            ),
            Message::Response { id, result } => write_line::<Value, Value>(
                buf,
                &Outgoing {
                    id: Some(id),
                    result: result.as_ref().ok(),
                    error: result.as_ref().err(),
                    ..Outgoing::default()
                },
            ),
        }
    }
}

/// Appends the line of request `id` with `params` (left out when `None`) of any serde type (no
/// `Value` in between) to `buf` (e.g. straight into a write queue).
pub(crate) fn write_request<P: Serialize>(
    buf: &mut Vec<u8>,
    id: &Value,
    method: &str,
    params: Option<&P>,
) {
    write_line(buf, &Outgoing::request(id, method, params));
}

fn write_line<P: Serialize, R: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    message: &Outgoing<'_, P, R>,
) {
    let start = buf.len();
    if serde_json::to_writer(&mut *buf, message).is_err() {
        // Only a `Serialize` impl that fails can get here; nothing half-written goes out.
        buf.truncate(start);
        buf.extend_from_slice(b"{}");
    }
    buf.push(b'\n');
}

/// Appends the line of the answer to request `id`: `result`'s JSON text as it is, or the
/// error.
pub(crate) fn write_response_text(
    buf: &mut Vec<u8>,
    id: &Value,
    result: Result<&RawValue, &RpcError>,
) {
    write_line::<(), RawValue>(
        buf,
        &Outgoing {
            id: Some(id),
            result: result.ok(),
            error: result.err(),
            ..Outgoing::default()
        },
    );
}

/// A message on its way out, borrowing its parts (`P` its params, `R` its result).
#[derive(Serialize)]
struct Outgoing<'a, P, R: ?Sized = Value> {
    jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a P>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a RpcError>,
}

impl<P, R: ?Sized> Default for Outgoing<'_, P, R> {
    fn default() -> Self {
        Outgoing {
            jsonrpc: "2.0",
            id: None,
            method: None,
            params: None,
            result: None,
            error: None,
        }
    }
}

impl<'a, P> Outgoing<'a, P> {
    fn request(id: &'a Value, method: &'a str, params: Option<&'a P>) -> Self {
        Outgoing {
            id: Some(id),
            method: Some(method),
            params,
            ..Outgoing::default()
        }
    }
}

/// The host and its version, in `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostInfo {
    /// The host application's name.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The plugin as the host knows it, in `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PluginSetup {
    /// The name the host expects (the manifest's).
    pub name: String,
    /// The plugin's configuration (a JSON object).
    #[serde(default)]
    pub config: Value,
}

/// How a hook's impls are called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HookMode {
    /// Every impl runs; every answer is kept.
    CollectAll,
    /// Impls run until the first one answers.
    FirstResult,
}

/// A hook the host offers, in `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HookOffer {
    /// The hook's name.
    pub name: String,
    /// Its call mode.
    pub mode: HookMode,
    /// The JSON Schema of its arguments, when the host has one.
    #[serde(default)]
    pub args_schema: Option<Value>,
    /// The JSON Schema of its answer, when the host has one.
    #[serde(default)]
    pub result_schema: Option<Value>,
}

/// The host's limits, in `initialize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Limits {
    /// The longest line the host reads.
    pub max_message_bytes: u64,
    /// The deepest nesting of `host/call`.
    pub max_call_depth: u32,
}

/// `initialize`'s params (host → plugin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InitializeParams {
    /// The host's protocol version.
    pub protocol_version: String,
    /// Who the host is.
    pub host: HostInfo,
    /// The plugin's expected name and its configuration.
    pub plugin: PluginSetup,
    /// The hooks the host offers.
    pub hooks: Vec<HookOffer>,
    /// The host's limits.
    pub limits: Limits,
}

/// The plugin's identity, in its answer to `initialize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PluginIdentity {
    /// Its name (must be the one the host expects).
    pub name: String,
    /// Its version.
    pub version: String,
}

/// A hook a plugin implements, with its options, in its answer to `initialize`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HookImplDecl {
    /// The hook's name (one the host offers).
    pub name: String,
    /// Priority inside its tier (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Runs in the first tier.
    #[serde(default, skip_serializing_if = "is_false")]
    pub tryfirst: bool,
    /// Runs in the last tier.
    #[serde(default, skip_serializing_if = "is_false")]
    pub trylast: bool,
    /// Plugins this impl runs before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before: Vec<String>,
    /// Plugins this impl runs after.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// A per-call time limit in milliseconds (≥ 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Option fields this host does not know (logged, ignored).
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

impl HookImplDecl {
    /// An impl of hook `name` with default options.
    pub fn new(name: impl Into<String>) -> Self {
        HookImplDecl {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// The plugin's answer to `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InitializeResult {
    /// The plugin's protocol version.
    pub protocol_version: String,
    /// Who the plugin is.
    pub plugin: PluginIdentity,
    /// The hooks it implements.
    #[serde(default)]
    pub hooks: Vec<HookImplDecl>,
}

/// `hook/call`'s params (host → plugin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HookCallParams {
    /// The hook.
    pub hook: String,
    /// The arguments.
    #[serde(default)]
    pub args: Value,
    /// The time the caller has left, in milliseconds, when limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// How deeply the call is nested in `host/call`s (0 for the application's own call).
    #[serde(default)]
    pub depth: u32,
    /// A W3C trace context, when the host set one for the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// [`HookCallParams`] borrowing its parts, to write a request without copying them: the same
/// JSON.
#[derive(Serialize)]
pub(crate) struct HookCallRef<'a> {
    pub(crate) hook: &'a str,
    pub(crate) args: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) deadline_ms: Option<u64>,
    pub(crate) depth: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) traceparent: Option<&'a str>,
}

/// A plugin's answer to `hook/call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HookAnswer {
    /// A value.
    Value {
        /// The answer (the JSON form of the spec's output type).
        value: Value,
    },
    /// No answer (`None`).
    None,
}

impl HookAnswer {
    /// Reads an answer from its JSON form, as `serde_json::from_value` does (the same answers
    /// accepted, the same errors), without serde's buffering of an internally tagged enum for
    /// the two well-formed shapes.
    pub(crate) fn from_json(v: Value) -> Result<HookAnswer, serde_json::Error> {
        match v {
            Value::Object(mut map) => match map.get("kind").and_then(Value::as_str) {
                Some("none") => Ok(HookAnswer::None),
                Some("value") => match map.remove("value") {
                    Some(value) => Ok(HookAnswer::Value { value }),
                    None => serde_json::from_value(Value::Object(map)),
                },
                _ => serde_json::from_value(Value::Object(map)),
            },
            v => serde_json::from_value(v),
        }
    }

    /// [`from_json`](Self::from_json) of an answer's result as it came (for text: its two
    /// well-formed shapes read straight from it, no map in between; anything else through a
    /// `Value`, for the same errors).
    pub(crate) fn from_reply(reply: Reply) -> Result<HookAnswer, serde_json::Error> {
        /// The two well-formed shapes, `kind` borrowed.
        #[derive(Deserialize)]
        struct Shape<'a> {
            #[serde(borrow)]
            kind: Cow<'a, str>,
            #[serde(default, deserialize_with = "present")]
            value: Option<Value>,
        }
        fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
            Value::deserialize(d).map(Some)
        }
        let (line, start, end) = match reply {
            Reply::Value(v) => return HookAnswer::from_json(v),
            Reply::Text { line, start, end } => (line, start, end),
        };
        let text = &line[start..end];
        match serde_json::from_slice::<Shape>(text) {
            Ok(Shape { kind, .. }) if kind == "none" => Ok(HookAnswer::None),
            Ok(Shape {
                kind,
                value: Some(value),
            }) if kind == "value" => Ok(HookAnswer::Value { value }),
            _ => HookAnswer::from_json(serde_json::from_slice(text)?),
        }
    }
}

/// `host/call`'s params (plugin → host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostCallParams {
    /// The hook to call.
    pub hook: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Value,
    /// The depth of the call being served plus one (1 when serving none).
    #[serde(default = "one")]
    pub depth: u32,
    /// The time the plugin gives the call, in milliseconds: what is left of the deadline of
    /// the call it serves (protocol 1.1). The host calls the hook within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// The W3C trace context of the call being served, passed on (protocol 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

fn one() -> u32 {
    1
}

/// One impl's value in a `host/call` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostAnswer {
    /// The plugin that answered.
    pub plugin: String,
    /// Its value.
    pub value: Value,
}

/// One impl's failure in a `host/call` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostFailure {
    /// The plugin that failed.
    pub plugin: String,
    /// What went wrong.
    pub error: String,
}

/// The host's answer to `host/call`: every impl's outcome in call order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostCallResult {
    /// The values.
    #[serde(default)]
    pub answers: Vec<HostAnswer>,
    /// The failures.
    #[serde(default)]
    pub failures: Vec<HostFailure>,
}

/// A `log` notification's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LogLevel {
    /// `error`
    Error,
    /// `warn`
    Warn,
    /// `info`
    Info,
    /// `debug`
    Debug,
    /// `trace`
    Trace,
}

/// `log`'s params (plugin → host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogParams {
    /// The level.
    pub level: LogLevel,
    /// The message.
    pub message: String,
    /// Structured fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Value>,
}

/// `$/cancelRequest`'s params (either way).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CancelParams {
    /// The id of the request no longer waited for.
    pub id: Value,
}

/// A plugin's answer to `health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthStatus {
    /// Working.
    Healthy,
    /// Working, with a problem.
    Degraded {
        /// The problem.
        #[serde(default)]
        message: String,
    },
    /// Not working.
    Unhealthy {
        /// Why.
        #[serde(default)]
        message: String,
    },
}

/// Whether `theirs` can talk to `ours` by semver caret rules: the same major version, and for
/// `0.x` the same minor version. Versions are `MAJOR.MINOR` (a `.PATCH` is allowed).
pub fn compatible(ours: &str, theirs: &str) -> bool {
    fn parse(v: &str) -> Option<(u64, u64)> {
        let mut parts = v.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
        match parts.next() {
            None => Some((major, minor)),
            Some(p) if p.parse::<u64>().is_ok() && parts.next().is_none() => Some((major, minor)),
            Some(_) => None,
        }
    }
    match (parse(ours), parse(theirs)) {
        (Some((0, a)), Some((0, b))) => a == b,
        (Some((a, _)), Some((b, _))) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_response_with_a_null_result_is_a_result() {
        let m = Message::parse(br#"{"jsonrpc":"2.0","id":1,"result":null}"#).unwrap();
        assert_eq!(
            m,
            Message::Response {
                id: json!(1),
                result: Ok(Value::Null)
            }
        );
    }

    #[test]
    fn a_borrowed_hook_call_writes_the_params_json() {
        let args = json!({"n": [1, 2]});
        for (deadline_ms, traceparent) in [(None, None), (Some(40), Some("00-ab-cd-01"))] {
            let owned = HookCallParams {
                hook: "greet".into(),
                args: args.clone(),
                deadline_ms,
                depth: 2,
                traceparent: traceparent.map(str::to_owned),
            };
            let borrowed = HookCallRef {
                hook: "greet",
                args: &args,
                deadline_ms,
                depth: 2,
                traceparent,
            };
            assert_eq!(
                serde_json::to_string(&borrowed).unwrap(),
                serde_json::to_string(&owned).unwrap()
            );
        }
    }

    #[test]
    fn messages_round_trip_through_a_line() {
        let m = Message::Request {
            id: json!(7),
            method: "hook/call".into(),
            params: json!({"hook": "greet", "args": "Ada", "depth": 0}),
        };
        let line = m.to_line();
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(Message::parse(&line[..line.len() - 1]).unwrap(), m);
        let e = Message::Response {
            id: json!("a"),
            result: Err(RpcError::new(codes::HOOK_FAILED, "no")),
        };
        let line = e.to_line();
        assert_eq!(Message::parse(&line[..line.len() - 1]).unwrap(), e);
    }

    #[test]
    fn members_that_are_null_duplicated_or_unknown_read_as_before() {
        // `"id": null` is an id that is there (an invalid one), not a notification.
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":null,"method":"x"}"#),
            Err(ProtocolError::NotRpc(_))
        ));
        assert_eq!(
            Message::parse(br#"{"jsonrpc":"2.0","id":null,"result":1}"#).unwrap(),
            Message::Response {
                id: Value::Null,
                result: Ok(json!(1))
            }
        );
        // A key twice: the last one counts; unknown keys are ignored.
        assert_eq!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"id":2,"result":3,"x":[]}"#).unwrap(),
            Message::Response {
                id: json!(2),
                result: Ok(json!(3))
            }
        );
        assert_eq!(
            Message::parse(br#"{"method":"log","jsonrpc":"2.0"}"#).unwrap(),
            Message::Notification {
                method: "log".into(),
                params: Value::Null
            }
        );
    }

    #[test]
    fn a_line_is_the_message_in_json_with_null_params_left_out() {
        let m = Message::Notification {
            method: "exit".into(),
            params: Value::Null,
        };
        assert_eq!(m.to_line(), b"{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}\n");
        // Appended to what the buffer holds.
        let mut line = b"before\n".to_vec();
        write_request(
            &mut line,
            &json!(3),
            "hook/call",
            Some(&json!({"hook": "x"})),
        );
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "before\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"hook/call\",\"params\":{\"hook\":\"x\"}}\n"
        );
    }

    #[test]
    fn a_hook_answer_reads_as_serde_reads_it() {
        for v in [
            json!({"kind": "value", "value": [1]}),
            json!({"kind": "value", "value": null, "extra": 1}),
            json!({"kind": "none"}),
            json!({"kind": "value"}),
            json!({"kind": "weird"}),
            json!({"value": 1}),
            json!("none"),
        ] {
            let ours = HookAnswer::from_json(v.clone()).map_err(|e| e.to_string());
            let serde = serde_json::from_value::<HookAnswer>(v.clone()).map_err(|e| e.to_string());
            assert_eq!(ours, serde, "{v}");
        }
    }

    #[test]
    fn lines_that_are_not_json_rpc_are_told_apart() {
        assert!(matches!(
            Message::parse(b"hello"),
            Err(ProtocolError::NotJson(_))
        ));
        // `jsonrpc` must be the string "2.0" (escaped or not).
        for bad in [
            &br#"{"jsonrpc":2,"id":1,"result":1}"#[..],
            br#"{"jsonrpc":null,"id":1,"result":1}"#,
            br#"{"jsonrpc":"1.0","id":1,"result":1}"#,
            br#"{"id":1,"result":1}"#,
        ] {
            assert_eq!(
                Message::parse(bad),
                Err(ProtocolError::NotRpc("`jsonrpc` is not \"2.0\"".into())),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(Message::parse(br#"{"jsonrpc":"2\u002e0","id":1,"result":1}"#).is_ok());
        for bad in [
            &br#"[1,2]"#[..],
            br#"{"id":1,"result":1}"#,
            br#"{"jsonrpc":"2.0"}"#,
            br#"{"jsonrpc":"2.0","id":1}"#,
            br#"{"jsonrpc":"2.0","id":{},"method":"x"}"#,
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":"x"}}"#,
        ] {
            let e = Message::parse(bad).unwrap_err();
            assert_eq!(
                e.code(),
                codes::INVALID_REQUEST,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_doc_examples_parse() {
        let init: InitializeResult = serde_json::from_value(json!({
            "protocol_version":"1.0",
            "plugin":{"name":"greeter","version":"1.2.0"},
            "hooks":[{"name":"greet","priority":10},{"name":"authenticate","tryfirst":true,"timeout_ms":500,"color":"red"}]
        }))
        .unwrap();
        assert_eq!(init.hooks[0].priority, 10);
        assert_eq!(init.hooks[1].timeout_ms, Some(500));
        assert!(init.hooks[1].unknown.contains_key("color"));
        let a: HookAnswer = serde_json::from_value(json!({"kind":"none"})).unwrap();
        assert_eq!(a, HookAnswer::None);
        let h: HealthStatus =
            serde_json::from_value(json!({"status":"degraded","message":"slow"})).unwrap();
        assert_eq!(
            h,
            HealthStatus::Degraded {
                message: "slow".into()
            }
        );
    }

    #[test]
    fn versions_are_compatible_by_caret_rules() {
        assert!(compatible("1.0", "1.3"));
        assert!(compatible("1.3", "1.0"));
        assert!(!compatible("1.0", "2.0"));
        assert!(compatible("0.2", "0.2"));
        assert!(!compatible("0.2", "0.3"));
        assert!(!compatible("1.0", "one"));
    }
}
