//! Out-of-process plugins (feature `process`): child processes that speak JSON-RPC 2.0 over
//! their stdin and stdout, one message per line, as `docs/protocol.md` defines.
//!
//! - [`protocol`]: the messages, as serde types.
//! - [`Peer`]: a JSON-RPC peer over any `AsyncRead`/`AsyncWrite` pair, used by both sides.

pub mod protocol;

mod framing;
mod peer;

pub use peer::{Connection, Handler, Peer, PeerError, DEFAULT_MAX_MESSAGE_BYTES};

mod error;
mod process;

pub use error::ProcessError;
pub use process::{with_traceparent, ProcessPlugin, ProcessPluginBuilder};
