//! Tests that capture logs or spans. Every test here installs its own subscriber (`tracing::subscriber::set_default`) before it reaches a hookwire callsite: tracing caches callsite interest process-wide, so a test without a subscriber hitting a callsite first could make a capturing test miss its events. A test that runs without a subscriber does not belong here.
//!
//! One test binary of several modules (one per former test file), so that the suite links a
//! few binaries rather than one per file: add a new test file of this area as a module here.

mod deprecation;
mod engine_isolation;
mod plugin_tracing;
mod registration_semantics_logs;
mod tracing_spans;
