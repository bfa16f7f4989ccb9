//! Dependency resolution: pure rules, no I/O.
//!
//! [`Resolution::compute`] checks a set of [`PluginMeta`](crate::PluginMeta) against each other and the host's API version and
//! returns the order to start them in. Everything wrong is reported at once, so an operator can
//! fix a folder of plugins in one pass: invalid strings in the metadata, duplicate names, host
//! API mismatches, missing required dependencies, version mismatches (of required and of
//! present optional dependencies), declared conflicts, and dependency cycles (one real cycle
//! per strongly connected group, as `a -> b -> a`).
//!
//! The start order is a topological order of the "requires" graph: dependencies start before
//! their dependents; among the plugins free to start next, the one whose name sorts first
//! (byte-wise) goes first, so the result does not depend on the input order. Cost:
//! `O(plugins log plugins + dependencies)`: a sort of the names, one hash-map lookup per
//! dependency, and Kahn's algorithm over edges bucketed by target, taking the smallest ready
//! plugin from a binary heap; petgraph's strongly connected components name the cycles when
//! there are some.

pub use crate::plugin::deps::{DependencyError, DependencyProblem, Resolution};
pub use crate::plugin::meta::{Conflict, Dependency};
