//! The implementation of [`crate::deps`]: dependency resolution, pure rules, no I/O.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use petgraph::graph::{DiGraph, NodeIndex};
use semver::Version;

use super::meta::PluginMeta;

mod check;
mod cycles;
mod problem;

use check::{check_plugin, Checked, Index};
use cycles::find_cycles;
use problem::format_problems;
pub use problem::DependencyProblem;

/// What [`Resolution::compute`] found: the order to start the plugins in, and the optional dependencies
/// that are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolution {
    /// Every plugin's name, dependencies before dependents; ties in name order.
    pub start_order: Vec<String>,
    /// `(plugin, missing optional dependency)` pairs, sorted: the plugin starts without it.
    pub skipped_optional: Vec<(String, String)>,
}

impl Resolution {
    /// Checks `plugins` against each other and the host's API version `host_api`, and returns the
    /// order to start them in.
    ///
    /// - Every required [`Dependency`](crate::deps::Dependency) must be present at a matching version.
    /// - An absent optional dependency is skipped and listed in
    ///   [`skipped_optional`](Resolution::skipped_optional); a present one must match and is
    ///   ordered like a required one.
    /// - A declared [`Conflict`](crate::deps::Conflict) fails when the other plugin is present at a
    ///   version in the range.
    /// - A plugin's [`host_api`](PluginMeta::host_api) requirement must match `host_api`.
    ///
    /// Versions are matched with Cargo's rules ([`VersionReq::matches`](semver::VersionReq::matches)): `^0.2` does not accept
    /// `0.3`, and a pre-release only matches a requirement naming a pre-release of the same
    /// `MAJOR.MINOR.PATCH` (`>=2.0.0-rc.1` accepts `2.0.0-rc.2`; `^2` does not).
    ///
    /// The start order puts dependencies first and breaks ties by name, so it does not depend on
    /// the order of `plugins`.
    ///
    /// ```
    /// use hookwire::deps::{DependencyProblem, Resolution};
    /// use hookwire::PluginMeta;
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
    /// let res = Resolution::compute(&plugins, &host).unwrap();
    /// assert_eq!(res.start_order, ["audit", "token-auth"]);
    /// assert_eq!(res.stop_order().collect::<Vec<_>>(), ["token-auth", "audit"]);
    /// assert_eq!(res.skipped_optional, [("token-auth".to_owned(), "metrics".to_owned())]);
    ///
    /// // Without `audit`, every problem is reported with what to fix:
    /// let err = Resolution::compute(&plugins[..1], &host).unwrap_err();
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
    pub fn compute(
        plugins: &[PluginMeta],
        host_api: &Version,
    ) -> Result<Resolution, DependencyError> {
        let refs: Vec<&PluginMeta> = plugins.iter().collect();
        let resolved = resolve_refs(&refs, Some(host_api))?;
        Ok(Self {
            start_order: resolved
                .order
                .iter()
                .map(|&i| plugins[i as usize].name.clone())
                .collect(),
            skipped_optional: resolved.skipped_optional,
        })
    }

    /// The order to stop the plugins in: [`start_order`](Resolution::start_order) reversed, so
    /// every plugin stops before the plugins it depends on.
    pub fn stop_order(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + '_ {
        self.start_order.iter().rev().map(String::as_str)
    }
}

/// [`Resolution::compute`] failed: every problem found, each naming the plugins, ranges and versions
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

/// A resolution in input positions, for the plugin host.
pub(crate) struct Resolved {
    /// Input positions, dependencies before dependents; ties in name order.
    pub(crate) order: Vec<u32>,
    /// As [`Resolution::skipped_optional`].
    pub(crate) skipped_optional: Vec<(String, String)>,
    /// `deps[ends[i - 1]..ends[i]]`: the input positions of plugin `i`'s present
    /// dependencies, in the order it declared them.
    deps: Vec<u32>,
    ends: Vec<u32>,
}

impl Resolved {
    /// The input positions of the present dependencies of the plugin at input position `i`,
    /// in the order it declared them.
    pub(crate) fn deps_of(&self, i: usize) -> &[u32] {
        let from = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.deps[from..self.ends[i] as usize]
    }
}

/// [`Resolution::compute`] over borrowed metadata, in input positions; without a host API version,
/// plugins' host API requirements are not checked.
///
/// `O(n log n)` (the name sort and the ready heap); the dependency edges are bucketed by
/// target (no sort), and petgraph's graph is only built to find cycles when there are some.
pub(crate) fn resolve_refs(
    plugins: &[&PluginMeta],
    host_api: Option<&Version>,
) -> Result<Resolved, DependencyError> {
    // Indices are `u32` (half the memory of `usize` in the sort keys and edges); 4 billion
    // plugins' metadata would not fit in memory anyway.
    let n = plugins.len();
    // Plugins sorted by (name, version, input position).
    let mut by_name: Vec<(&str, Option<&Version>, u32)> = plugins
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), p.version.as_ref(), i as u32))
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

    // Each plugin's own checks, in input order.
    let mut dep_ends = Vec::with_capacity(n);
    for (i, p) in plugins.iter().enumerate() {
        check_plugin(p, node_of_plugin[i], rank[i], host_api, &index, &mut out);
        dep_ends.push(out.edges.len() as u32);
    }
    let Checked {
        mut problems,
        mut skipped_optional,
        edges,
    } = out;
    let nodes = names.len();

    // Kahn's algorithm on "requires" edges, always starting the ready plugin whose name sorts
    // first (node numbers are in name order). `dependents[first[v]..first[v + 1]]` are the
    // plugins that require `v` (a dependency declared twice is there twice, and counted twice
    // in `remaining`, so it still balances).
    let mut remaining = vec![0u32; nodes];
    let mut first = vec![0u32; nodes + 1];
    for &(from, to) in &edges {
        remaining[from as usize] += 1;
        first[to as usize + 1] += 1;
    }
    for v in 0..nodes {
        first[v + 1] += first[v];
    }
    let mut dependents = vec![0u32; edges.len()];
    let mut fill = first.clone();
    for &(from, to) in &edges {
        dependents[fill[to as usize] as usize] = from;
        fill[to as usize] += 1;
    }
    let mut ready: BinaryHeap<Reverse<u32>> = (0..nodes as u32)
        .filter(|&node| remaining[node as usize] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(nodes);
    while let Some(Reverse(node)) = ready.pop() {
        order.push(input_of_node[node as usize]);
        let node = node as usize;
        for &d in &dependents[first[node] as usize..first[node + 1] as usize] {
            remaining[d as usize] -= 1;
            if remaining[d as usize] == 0 {
                ready.push(Reverse(d));
            }
        }
    }
    if !problems.is_empty() || order.len() < nodes {
        // By plugin name (the sort is stable: each plugin's problems keep their order).
        problems.sort_by_key(|&(key, _)| key);
        let mut problems: Vec<DependencyProblem> = problems.into_iter().map(|(_, p)| p).collect();
        if order.len() < nodes {
            let mut edges = edges;
            edges.sort_unstable();
            edges.dedup();
            let mut graph: DiGraph<(), (), u32> = DiGraph::with_capacity(nodes, edges.len());
            for _ in 0..nodes {
                graph.add_node(());
            }
            for &(from, to) in &edges {
                graph.add_edge(
                    NodeIndex::new(from as usize),
                    NodeIndex::new(to as usize),
                    (),
                );
            }
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
    // Without problems every name is one plugin's: node and input position are one-to-one.
    let deps = edges
        .iter()
        .map(|&(_, to)| input_of_node[to as usize])
        .collect();
    Ok(Resolved {
        order,
        skipped_optional,
        deps,
        ends: dep_ends,
    })
}
