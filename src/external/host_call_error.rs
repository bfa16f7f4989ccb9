//! [`HostCallError`]: why a Rust SDK plugin's call through its host failed as a whole.

use std::time::Duration;

use super::peer::PeerError;
use super::protocol::RpcError;
use crate::limits::Quote;

/// Why [`PluginCall::host_call`](super::PluginCall::host_call) (or
/// [`host_call_with_timeout`](super::PluginCall::host_call_with_timeout)) failed as a whole.
/// Failures of single impls are not errors: they are in the result's `failures`.
///
/// The messages are the Python SDK's (`HostCallError`, `HostCallTimeout`), word for word:
/// a plugin fails the same way in either language.
///
/// ```
/// use std::time::Duration;
/// use hookwire::external::HostCallError;
///
/// let e = HostCallError::TimedOut { hook: "greet".into(), limit: Duration::from_millis(100) };
/// assert!(e.is_timeout());
/// assert_eq!(e.to_string(), "host/call of `greet` got no answer within 0.100 s");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostCallError {
    /// The host refused the call: [`code`](Self::code) `-32004` when calls are nested too
    /// deep (plugins calling each other in a loop?), `-32002` for a hook it does not offer,
    /// `-32005` when its security policy does not let this plugin call the hook.
    #[error("host/call failed: {0}")]
    Refused(RpcError),
    /// No answer came within the time limit; the request was cancelled at the host.
    #[error("host/call of `{}` got no answer within {:.3} s", Quote(hook), limit.as_secs_f64())]
    TimedOut {
        /// The hook called.
        hook: String,
        /// How long the answer was waited for.
        limit: Duration,
    },
    /// The connection to the host ended before the answer (the host is shutting down).
    #[error("host/call got no answer: the host closed the connection")]
    Closed(#[source] PeerError),
    /// The host's answer was not a `host/call` result (or over the maximum message size).
    #[error("malformed host/call answer from the host: {0}")]
    Malformed(String),
}

impl HostCallError {
    /// The JSON-RPC error code of a refusal (the Python SDK's `HostCallError.code`), `None`
    /// for the other kinds.
    pub fn code(&self) -> Option<i64> {
        match self {
            HostCallError::Refused(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether no answer came in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, HostCallError::TimedOut { .. })
    }

    /// Whether the connection to the host ended.
    pub fn is_closed(&self) -> bool {
        matches!(self, HostCallError::Closed(_))
    }
}

impl HostCallError {
    /// The error for a `host/call` request that failed on the connection.
    pub(super) fn from_peer(e: PeerError) -> Self {
        match e {
            PeerError::Remote(e) => HostCallError::Refused(e),
            e @ PeerError::Closed { .. } => HostCallError::Closed(e),
            other => HostCallError::Malformed(other.to_string()),
        }
    }
}
