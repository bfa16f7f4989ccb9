//! Plugin security (feature `security`): the host's gate, `SecurityPolicy` (trust levels,
//! permissions, the `[security]` TOML table) and the `AuditLog`.
//!
//! One test binary of several modules: add a new test file of this area as a module here.

mod common;
mod security_audit;
mod security_context;
mod security_gate;
mod security_manifest;
mod security_names;
mod security_reload;
mod security_toml;
