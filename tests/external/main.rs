//! Out-of-process plugins (`hookwire::external`, feature `process`) with real processes: a
//! raw-protocol Python fixture (`fixtures/plugin.py`) that misbehaves on purpose, and the Rust
//! SDK's plugin. Every test of this binary logs into one global capturing subscriber
//! (`support::logs`), and names its plugin uniquely to find its own lines.

mod support;

mod after_shutdown;
#[cfg(feature = "security")]
mod audit;
mod calls;
mod conformance;
#[cfg(feature = "discovery")]
mod discovered;
mod first_failure;
mod handshake;
mod host_calls;
mod launched;
mod lifecycle;
mod oversized;
mod pool;
mod release_in_start;
mod restart;
mod rust_sdk;
#[cfg(feature = "schema")]
mod schema;
mod stated_version;
mod text_reading;
