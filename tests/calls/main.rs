//! Engine behaviour through the public API: calls, ordering, policies, wrappers, snapshots, registration. Needs no feature.
//!
//! One test binary of several modules (one per former test file), so that the suite links a
//! few binaries rather than one per file: add a new test file of this area as a module here.

mod call_deadline;
mod cargo_features;
mod engine;
mod engine_policies;
mod historic_extra;
mod modes_props;
mod observability;
mod ordering_props;
mod policies;
mod ready_path;
mod registration_semantics;
mod retry_exhausted;
mod retry_jitter;
mod snapshot_cache;
mod snapshots;
mod stats_counted_loop;
mod stats_ready_tally;
mod stats_ready_timed;
mod wrapper_deadline;
mod wrappers;
