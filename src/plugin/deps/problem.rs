//! What can be wrong with a set of plugins' dependencies, and how it reads.

use semver::{Version, VersionReq};

use crate::plugin::meta::MetaError;

pub(super) fn format_problems(problems: &[DependencyProblem]) -> String {
    match problems {
        [one] => format!("cannot resolve plugin dependencies: {one}"),
        many => {
            let mut s = format!(
                "cannot resolve plugin dependencies ({} problems):",
                many.len()
            );
            for p in many {
                s.push_str("\n  - ");
                s.push_str(&p.to_string());
            }
            s
        }
    }
}

/// One problem found by [`Resolution::compute`](super::Resolution::compute).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DependencyProblem {
    /// A version or requirement string in a plugin's metadata is invalid.
    #[error(transparent)]
    InvalidMeta(#[from] MetaError),
    /// Two or more plugins have the same name.
    #[error("plugin `{plugin}` is listed {} times (versions {}); keep only one", .versions.len(), .versions.join(", "))]
    DuplicatePlugin {
        /// The name.
        plugin: String,
        /// The versions of the copies, sorted (`"invalid"` for a version that did not parse).
        versions: Vec<String>,
    },
    /// The plugin's host API requirement does not match the host's API version.
    #[error("plugin `{plugin}` requires host API {required}, but this host provides API {host}; use a version of `{plugin}` built for host API {host}")]
    HostApiMismatch {
        /// The plugin.
        plugin: String,
        /// Its requirement.
        required: VersionReq,
        /// The host's API version.
        host: Version,
    },
    /// A required dependency is not present at any version.
    #[error("plugin `{plugin}` requires `{dependency}` {required}, but no plugin `{dependency}` is present (versions found: none); add `{dependency}` at a version matching {required}, or declare it `optional` if `{plugin}` works without it")]
    MissingDependency {
        /// The plugin that needs it.
        plugin: String,
        /// The missing plugin.
        dependency: String,
        /// The versions that would do.
        required: VersionReq,
    },
    /// A dependency (required, or optional and present) is present at a version that does not
    /// match.
    #[error("plugin `{plugin}` {} `{dependency}` {required}, but `{dependency}` {found} is present; use a version of `{dependency}` matching {required}, or change the requirement of `{plugin}`", verb(.optional))]
    VersionMismatch {
        /// The plugin that needs it.
        plugin: String,
        /// The dependency.
        dependency: String,
        /// The versions that would do.
        required: VersionReq,
        /// The version present.
        found: Version,
        /// Whether the dependency was declared optional.
        optional: bool,
    },
    /// A plugin declared itself incompatible with a version range of another plugin that is
    /// present.
    #[error("plugin `{plugin}` is incompatible with `{other}` {range}, but `{other}` {found} is present; remove one of them, or use a version of `{other}` outside {range}")]
    DeclaredConflict {
        /// The plugin that declared the conflict.
        plugin: String,
        /// The plugin it conflicts with.
        other: String,
        /// The incompatible versions of `other`.
        range: VersionReq,
        /// The version of `other` present.
        found: Version,
    },
    /// Dependencies form a cycle, so no plugin on it can start first.
    #[error("plugins depend on each other in a cycle: {} (each requires the next); remove one of these dependencies", .cycle.join(" -> "))]
    Cycle {
        /// The plugins on the cycle, each requiring the next, the first repeated at the end
        /// (`a -> b -> a`; `a -> a` for a plugin that requires itself). It starts at the name
        /// that sorts first.
        cycle: Vec<String>,
    },
}

fn verb(optional: &bool) -> &'static str {
    if *optional {
        "optionally uses"
    } else {
        "requires"
    }
}
