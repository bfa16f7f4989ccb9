//! Each plugin's own checks against the others: its metadata strings, host API requirement,
//! dependencies and declared conflicts.

use std::collections::HashMap;

use semver::Version;

use super::DependencyProblem;
use crate::plugin::meta::PluginMeta;

/// The plugins by name.
pub(super) struct Index<'a> {
    /// Name -> node number (the rank of the name in sorted order).
    pub(super) node_of: HashMap<&'a str, u32>,
    /// Node number -> its version when it is unambiguous (one plugin has the name, and its
    /// version is valid).
    pub(super) version: Vec<Option<&'a Version>>,
}

impl<'a> Index<'a> {
    /// The node of plugin `name` and its unambiguous version; `None` when no plugin has this
    /// name.
    pub(super) fn get(&self, name: &str) -> Option<(u32, Option<&'a Version>)> {
        let &node = self.node_of.get(name)?;
        Some((node, self.version[node as usize]))
    }
}

/// What [`check_plugin`] finds.
pub(super) struct Checked {
    /// Each problem with its sort key: (rank of the plugin by name, 0 for a duplicate name and 1
    /// for the plugin's own problems).
    pub(super) problems: Vec<((u32, u8), DependencyProblem)>,
    pub(super) skipped_optional: Vec<(String, String)>,
    /// `(plugin, dependency)` node pairs: "requires" edges.
    pub(super) edges: Vec<(u32, u32)>,
}

/// One plugin's own checks: its metadata strings, host API, dependencies and conflicts.
pub(super) fn check_plugin(
    p: &PluginMeta,
    node: u32,
    rank: u32,
    host_api: Option<&Version>,
    index: &Index<'_>,
    out: &mut Checked,
) {
    let key = (rank, 1);
    out.problems.extend(
        p.problems()
            .iter()
            .map(|e| (key, DependencyProblem::InvalidMeta(e.clone()))),
    );
    if let (Some(req), Some(host_api)) = (&p.host_api, host_api) {
        if !req.matches(host_api) {
            out.problems.push((
                key,
                DependencyProblem::HostApiMismatch {
                    plugin: p.name.clone(),
                    required: req.clone(),
                    host: host_api.clone(),
                },
            ));
        }
    }
    for dep in &p.dependencies {
        let Some((target, version)) = index.get(&dep.name) else {
            if dep.optional {
                out.skipped_optional
                    .push((p.name.clone(), dep.name.clone()));
            } else {
                out.problems.push((
                    key,
                    DependencyProblem::MissingDependency {
                        plugin: p.name.clone(),
                        dependency: dep.name.clone(),
                        required: dep.req.clone(),
                    },
                ));
            }
            continue;
        };
        out.edges.push((node, target));
        // An ambiguous (duplicate) or invalid version is reported on its own.
        if let Some(found) = version {
            if !dep.req.matches(found) {
                out.problems.push((
                    key,
                    DependencyProblem::VersionMismatch {
                        plugin: p.name.clone(),
                        dependency: dep.name.clone(),
                        required: dep.req.clone(),
                        found: found.clone(),
                        optional: dep.optional,
                    },
                ));
            }
        }
    }
    for c in &p.conflicts {
        if c.name == p.name {
            continue;
        }
        let Some((_, Some(found))) = index.get(&c.name) else {
            continue;
        };
        if c.req.matches(found) {
            out.problems.push((
                key,
                DependencyProblem::DeclaredConflict {
                    plugin: p.name.clone(),
                    other: c.name.clone(),
                    range: c.req.clone(),
                    found: found.clone(),
                },
            ));
        }
    }
}
