//! Plugin security (feature `security`): trust levels and permissions checked by a
//! [`SecurityPolicy`], and an [`AuditLog`].
//!
//! - [`SecurityPolicy`] is a [`PluginGate`](crate::plugin::PluginGate): install it with
//!   [`PluginHostBuilder::gate`](crate::plugin::PluginHostBuilder::gate). It says which hooks
//!   and services need which permission, and which [`TrustLevel`] may be granted what; the host
//!   assigns each plugin its level from where it came from
//!   ([`TrustSource`](crate::plugin::TrustSource)). Build it in code or read it from the
//!   `[security]` table of the host's configuration file ([`SecurityPolicy::from_toml`]).
//! - [`AuditLog`] appends one JSON line per load, unload, reload, refusal, failure, restart and
//!   administrator action to a file, and emits each as a `tracing` event;
//!   [`AuditLog::attach`] feeds it from a host's [`PluginEvent`](crate::plugin::PluginEvent)s.
//!
//! What this does not protect against: an in-process plugin (linked, or added in code) runs
//! with the host's rights — permissions decide what it may register and which services it is
//! handed, not what its code can do. Only process plugins are confined (by the operating
//! system: sandbox and limits).

mod audit;
mod policy;

pub use audit::{AuditError, AuditLog, AuditLogBuilder, AuditOutcome, AuditRecord};
pub use policy::{PolicyError, SecurityPolicy, SecurityPolicyBuilder, TrustLevel};
