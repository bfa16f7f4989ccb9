//! Dependency resolution: pure rules, no I/O.
//!
//! [`resolve`] checks a set of [`PluginMeta`] against each other and the host's API version and
//! returns the order to start them in. Everything wrong is reported at once, so an operator can
//! fix a folder of plugins in one pass: invalid strings in the metadata, duplicate names, host
//! API mismatches, missing required dependencies, version mismatches (of required and of
//! present optional dependencies), declared conflicts, and dependency cycles (one real cycle
//! per strongly connected group, as `a -> b -> a`).
//!
//! The start order is a topological order of the "requires" graph (petgraph): dependencies
//! start before their dependents; among the plugins free to start next, the one whose name
//! sorts first (byte-wise) goes first, so the result does not depend on the input order. Cost:
//! one `HashMap` lookup per dependency, a sort of the names and a heap-driven Kahn's algorithm,
//! `O((plugins + dependencies) log plugins)`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;
use semver::{Version, VersionReq};

use super::meta::{MetaError, PluginMeta};

/// What [`resolve`] found: the order to start the plugins in, and the optional dependencies
/// that are absent.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Resolution {
    /// Every plugin's name, dependencies before dependents; ties in name order.
    pub start_order: Vec<String>,
    /// `(plugin, missing optional dependency)` pairs, sorted: the plugin starts without it.
    pub skipped_optional: Vec<(String, String)>,
    /// [`start_order`](Self::start_order) as positions in the input.
    pub(crate) order: Vec<u32>,
}

// Equality and debug output are about the result (names), not the input positions.
impl PartialEq for Resolution {
    fn eq(&self, other: &Self) -> bool {
        self.start_order == other.start_order && self.skipped_optional == other.skipped_optional
    }
}

impl Eq for Resolution {}

impl std::fmt::Debug for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolution")
            .field("start_order", &self.start_order)
            .field("skipped_optional", &self.skipped_optional)
            .finish()
    }
}

impl Resolution {
    /// The order to stop the plugins in: [`start_order`](Resolution::start_order) reversed, so
    /// every plugin stops before the plugins it depends on.
    pub fn stop_order(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + '_ {
        self.start_order.iter().rev().map(String::as_str)
    }
}

/// [`resolve`] failed: every problem found, each naming the plugins, ranges and versions
/// involved and what to change.
///
/// All problems are collected rather than the first only: fixing a folder of plugins one
/// error per run is slow, and the checks are independent (a missing dependency does not hide a
/// cycle elsewhere). The list is in a deterministic order: by plugin name (each plugin's own
/// problems in the order of the variants of [`DependencyProblem`]), then the cycles.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{}", format_problems(.problems))]
pub struct DependencyError {
    problems: Vec<DependencyProblem>,
}

impl DependencyError {
    /// Every problem found; never empty.
    pub fn problems(&self) -> &[DependencyProblem] {
        &self.problems
    }

    /// The problems, owned.
    pub fn into_problems(self) -> Vec<DependencyProblem> {
        self.problems
    }

    /// The dependency cycles found, each as names with the first repeated at the end.
    pub fn cycles(&self) -> impl Iterator<Item = &[String]> + '_ {
        self.problems.iter().filter_map(|p| match p {
            DependencyProblem::Cycle { cycle } => Some(cycle.as_slice()),
            _ => None,
        })
    }
}

fn format_problems(problems: &[DependencyProblem]) -> String {
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

/// One problem found by [`resolve`].
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

/// Checks `plugins` against each other and the host's API version `host_api`, and returns the
/// order to start them in.
///
/// - Every required [`Dependency`](crate::Dependency) must be present at a matching version.
/// - An absent optional dependency is skipped and listed in
///   [`skipped_optional`](Resolution::skipped_optional); a present one must match and is
///   ordered like a required one.
/// - A declared [`Conflict`](crate::Conflict) fails when the other plugin is present at a
///   version in the range.
/// - A plugin's [`host_api`](PluginMeta::host_api) requirement must match `host_api`.
///
/// Versions are matched with Cargo's rules ([`VersionReq::matches`]): `^0.2` does not accept
/// `0.3`, and a pre-release only matches a requirement naming a pre-release of the same
/// `MAJOR.MINOR.PATCH` (`>=2.0.0-rc.1` accepts `2.0.0-rc.2`; `^2` does not).
///
/// The start order puts dependencies first and breaks ties by name, so it does not depend on
/// the order of `plugins`.
///
/// ```
/// use hookwire::{resolve, DependencyProblem, PluginMeta};
/// use semver::Version;
///
/// let host = Version::new(1, 4, 0);
/// let plugins = [
///     PluginMeta::new("token-auth", "1.2.0")
///         .requires("audit", "^1")
///         .optional("metrics", ">=0.3")
///         .host_api("^1"),
///     PluginMeta::new("audit", "1.0.3"),
/// ];
/// let res = resolve(&plugins, &host).unwrap();
/// assert_eq!(res.start_order, ["audit", "token-auth"]);
/// assert_eq!(res.stop_order().collect::<Vec<_>>(), ["token-auth", "audit"]);
/// assert_eq!(res.skipped_optional, [("token-auth".to_owned(), "metrics".to_owned())]);
///
/// // Without `audit`, every problem is reported with what to fix:
/// let err = resolve(&plugins[..1], &host).unwrap_err();
/// assert!(matches!(
///     &err.problems()[0],
///     DependencyProblem::MissingDependency { dependency, .. } if dependency == "audit"
/// ));
/// assert!(err.to_string().contains("plugin `token-auth` requires `audit` ^1"));
/// ```
///
/// # Errors
/// A [`DependencyError`] listing every [`DependencyProblem`] found: invalid metadata strings,
/// duplicate names, host API mismatches, missing dependencies, version mismatches, declared
/// conflicts and dependency cycles.
pub fn resolve(plugins: &[PluginMeta], host_api: &Version) -> Result<Resolution, DependencyError> {
    let plugins: Vec<&PluginMeta> = plugins.iter().collect();
    resolve_refs(&plugins, Some(host_api))
}

/// [`resolve`] over borrowed metadata; without a host API version, plugins' host API
/// requirements are not checked.
pub(crate) fn resolve_refs(
    plugins: &[&PluginMeta],
    host_api: Option<&Version>,
) -> Result<Resolution, DependencyError> {
    // Indices are `u32` (half the memory of `usize` in the sort keys and edges); 4 billion
    // plugins' metadata would not fit in memory anyway.
    let n = plugins.len();
    // The names copied, in input order, into one buffer: sorting and hashing then compare
    // bytes that sit together instead of chasing each plugin's own allocation.
    let mut arena = String::with_capacity(plugins.iter().map(|p| p.name.len()).sum());
    let mut ends = Vec::with_capacity(n);
    for p in plugins {
        arena.push_str(&p.name);
        ends.push(arena.len());
    }
    // Plugins sorted by (name, version, input position); only these small keys move.
    let mut by_name: Vec<(&str, Option<&Version>, u32)> = plugins
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let from = if i == 0 { 0 } else { ends[i - 1] };
            (&arena[from..ends[i]], p.version.as_ref(), i as u32)
        })
        .collect();
    by_name.sort_unstable();

    // One node per distinct name, numbered in name order.
    let mut names: Vec<&str> = Vec::with_capacity(n);
    // Each node's plugin (its first, when a name is duplicated: an error anyway).
    let mut input_of_node: Vec<u32> = Vec::with_capacity(n);
    let mut index = Index {
        node_of: HashMap::with_capacity(n),
        version: Vec::with_capacity(n),
    };
    // Per plugin (input position): its node, and its rank in `by_name`, which orders problems.
    let mut node_of_plugin = vec![0u32; n];
    let mut rank = vec![0u32; n];
    let mut out = Checked {
        problems: Vec::new(),
        skipped_optional: Vec::new(),
        edges: Vec::new(),
    };
    let mut start = 0;
    for end in 1..=n {
        if end < n && by_name[end].0 == by_name[start].0 {
            continue;
        }
        let node = names.len() as u32;
        let group = &by_name[start..end];
        names.push(group[0].0);
        input_of_node.push(group[0].2);
        index.node_of.insert(group[0].0, node);
        index.version.push(match group {
            [(_, version, _)] => *version,
            _ => None,
        });
        if group.len() > 1 {
            let versions = group
                .iter()
                .map(|&(_, v, _)| v.map_or("invalid".to_owned(), Version::to_string));
            out.problems.push((
                (start as u32, 0),
                DependencyProblem::DuplicatePlugin {
                    plugin: group[0].0.to_owned(),
                    versions: versions.collect(),
                },
            ));
        }
        for (pos, &(_, _, i)) in group.iter().enumerate() {
            node_of_plugin[i as usize] = node;
            rank[i as usize] = (start + pos) as u32;
        }
        start = end;
    }

    // Each plugin's own checks, in input order (the order its metadata sits in memory).
    for (i, p) in plugins.iter().enumerate() {
        check_plugin(p, node_of_plugin[i], rank[i], host_api, &index, &mut out);
    }
    let Checked {
        mut problems,
        mut skipped_optional,
        mut edges,
    } = out;

    edges.sort_unstable();
    edges.dedup();
    let mut graph: DiGraph<(), (), u32> = DiGraph::with_capacity(names.len(), edges.len());
    for _ in 0..names.len() {
        graph.add_node(());
    }
    // `remaining[node]` = dependencies of `node` not started yet.
    let mut remaining = vec![0u32; names.len()];
    for &(from, to) in &edges {
        graph.add_edge(
            NodeIndex::new(from as usize),
            NodeIndex::new(to as usize),
            (),
        );
        remaining[from as usize] += 1;
    }

    // Kahn's algorithm on "requires" edges, always starting the ready plugin whose name sorts
    // first (node numbers are in name order).
    let mut ready: BinaryHeap<Reverse<u32>> = (0..names.len() as u32)
        .filter(|&node| remaining[node as usize] == 0)
        .map(Reverse)
        .collect();
    let mut start_order = Vec::with_capacity(names.len());
    let mut order = Vec::with_capacity(names.len());
    while let Some(Reverse(node)) = ready.pop() {
        start_order.push(names[node as usize].to_owned());
        order.push(input_of_node[node as usize]);
        for dependent in
            graph.neighbors_directed(NodeIndex::new(node as usize), Direction::Incoming)
        {
            let d = dependent.index();
            remaining[d] -= 1;
            if remaining[d] == 0 {
                ready.push(Reverse(d as u32));
            }
        }
    }
    if !problems.is_empty() || start_order.len() < names.len() {
        // By plugin name (the sort is stable: each plugin's problems keep their order).
        problems.sort_by_key(|&(key, _)| key);
        let mut problems: Vec<DependencyProblem> = problems.into_iter().map(|(_, p)| p).collect();
        if start_order.len() < names.len() {
            problems.extend(find_cycles(&graph).into_iter().map(|cycle| {
                DependencyProblem::Cycle {
                    cycle: cycle.into_iter().map(|n| names[n].to_owned()).collect(),
                }
            }));
        }
        return Err(DependencyError { problems });
    }
    skipped_optional.sort_unstable();
    skipped_optional.dedup();
    Ok(Resolution {
        start_order,
        skipped_optional,
        order,
    })
}

/// The plugins by name.
struct Index<'a> {
    /// Name -> node number (the rank of the name in sorted order).
    node_of: HashMap<&'a str, u32>,
    /// Node number -> its version when it is unambiguous (one plugin has the name, and its
    /// version is valid).
    version: Vec<Option<&'a Version>>,
}

impl<'a> Index<'a> {
    /// The node of plugin `name` and its unambiguous version; `None` when no plugin has this
    /// name.
    fn get(&self, name: &str) -> Option<(u32, Option<&'a Version>)> {
        let &node = self.node_of.get(name)?;
        Some((node, self.version[node as usize]))
    }
}

/// What [`check_plugin`] finds.
struct Checked {
    /// Each problem with its sort key: (rank of the plugin by name, 0 for a duplicate name and 1
    /// for the plugin's own problems).
    problems: Vec<((u32, u8), DependencyProblem)>,
    skipped_optional: Vec<(String, String)>,
    /// `(plugin, dependency)` node pairs: "requires" edges.
    edges: Vec<(u32, u32)>,
}

/// One plugin's own checks: its metadata strings, host API, dependencies and conflicts.
fn check_plugin(
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

/// One cycle per strongly connected group of the "requires" graph that has one (more than one
/// node, or a node requiring itself): the shortest cycle through the group's smallest node,
/// found by a breadth-first search visiting dependencies in node order. Node indices with the
/// first repeated at the end; the cycles sorted by their first node.
fn find_cycles(graph: &DiGraph<(), (), u32>) -> Vec<Vec<usize>> {
    // Kosaraju's algorithm is iterative: no stack overflow on long dependency chains.
    let groups = petgraph::algo::kosaraju_scc(graph);
    let mut group_of = vec![usize::MAX; graph.node_count()];
    for (g, members) in groups.iter().enumerate() {
        for n in members {
            group_of[n.index()] = g;
        }
    }
    let mut parent = vec![usize::MAX; graph.node_count()];
    let mut cycles = Vec::new();
    for (g, members) in groups.iter().enumerate() {
        let Some(start) = members.iter().map(|n| n.index()).min() else {
            continue;
        };
        let first = NodeIndex::new(start);
        if members.len() == 1 && graph.find_edge(first, first).is_none() {
            continue;
        }
        let mut queue = VecDeque::from([start]);
        let mut visited = vec![start];
        parent[start] = start;
        let mut cycle = Vec::new();
        'search: while let Some(u) = queue.pop_front() {
            let mut next: Vec<usize> = graph
                .neighbors(NodeIndex::new(u))
                .map(|n| n.index())
                .filter(|&v| group_of[v] == g)
                .collect();
            next.sort_unstable();
            for v in next {
                if v == start {
                    // The path start -> .. -> u, read backwards through `parent`, then u -> start.
                    let mut back = Vec::new();
                    let mut at = u;
                    while at != start {
                        back.push(at);
                        at = parent[at];
                    }
                    cycle.push(start);
                    cycle.extend(back.into_iter().rev());
                    cycle.push(start);
                    break 'search;
                }
                if parent[v] == usize::MAX {
                    parent[v] = u;
                    visited.push(v);
                    queue.push_back(v);
                }
            }
        }
        for v in visited {
            parent[v] = usize::MAX;
        }
        cycles.push(cycle);
    }
    cycles.sort_unstable();
    cycles
}
