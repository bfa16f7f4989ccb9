//! What resolution reads of each plugin: its metadata strings, host API requirement,
//! dependencies and declared conflicts, checked against the others.
//!
//! Metadata is scattered: each plugin's name, dependency list, dependency names and version
//! requirements are allocations of their own. [`Digest::new`] reads them in one pass (asking
//! for each plugin's memory a few plugins ahead) and copies what the later passes need — names,
//! versions, dependency names — into a few contiguous buffers, so that sorting, indexing and
//! checking dependencies read those instead of chasing pointers all over the heap again.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use semver::Version;

use super::DependencyProblem;
use crate::plugin::meta::{Dependency, PluginMeta};
use crate::prefetch::{prefetch, AHEAD};

/// A problem and whose it is: the plugin's input position (see [`Owner`]).
pub(super) type Found = (Owner, DependencyProblem);

/// Who a problem belongs to, for the order problems are reported in.
#[derive(Clone, Copy)]
pub(super) enum Owner {
    /// A duplicate name: reported first among that name's problems (the rank of its first
    /// plugin in name order).
    Duplicate(u32),
    /// A plugin's own problem (its input position).
    Plugin(u32),
}

/// One dependency of one plugin, its name copied into [`Digest`]'s buffer.
struct DepRef<'a> {
    /// End of the name in `Digest::dep_names`; it starts where the previous one ends.
    name_end: u32,
    /// The name's hash (see [`Digest::hash`]).
    hash: u64,
    dep: &'a Dependency,
}

/// What resolution needs of the plugins' metadata, in input order, in contiguous buffers.
pub(super) struct Digest<'a> {
    plugins: &'a [&'a PluginMeta],
    /// Every plugin's name, one after the other; `name_ends[i]` ends plugin `i`'s.
    names: String,
    name_ends: Vec<u32>,
    /// Each name's hash, computed while the name is at hand.
    name_hashes: Vec<u64>,
    hasher: RandomState,
    /// Every plugin's version (copied: matching reads it from here).
    versions: Vec<Option<Version>>,
    /// Every dependency of every plugin, in input and then declaration order; `dep_ends[i]`
    /// ends plugin `i`'s.
    dep_names: String,
    deps: Vec<DepRef<'a>>,
    dep_ends: Vec<u32>,
    /// Input positions of the plugins that declare conflicts (few do).
    with_conflicts: Vec<u32>,
}

impl<'a> Digest<'a> {
    /// Reads `plugins` once, checking what concerns each plugin alone (its metadata strings
    /// and its host API requirement) into `problems`.
    pub(super) fn new(
        plugins: &'a [&'a PluginMeta],
        host_api: Option<&Version>,
        problems: &mut Vec<Found>,
    ) -> Self {
        let n = plugins.len();
        let mut d = Digest {
            plugins,
            names: String::with_capacity(n * 16),
            name_ends: Vec::with_capacity(n),
            name_hashes: Vec::with_capacity(n),
            hasher: RandomState::new(),
            versions: Vec::with_capacity(n),
            dep_names: String::new(),
            deps: Vec::with_capacity(n * 2),
            dep_ends: Vec::with_capacity(n),
            with_conflicts: Vec::new(),
        };
        for (i, p) in plugins.iter().enumerate() {
            prefetch_ahead(plugins, i);
            let owner = Owner::Plugin(i as u32);
            d.names.push_str(&p.name);
            d.name_ends.push(d.names.len() as u32);
            d.name_hashes.push(d.hash(&p.name));
            d.versions.push(p.version.clone());
            problems.extend(
                p.problems()
                    .iter()
                    .map(|e| (owner, DependencyProblem::InvalidMeta(e.clone()))),
            );
            if let (Some(req), Some(host_api)) = (&p.host_api, host_api) {
                if !req.matches(host_api) {
                    problems.push((
                        owner,
                        DependencyProblem::HostApiMismatch {
                            plugin: p.name.clone(),
                            required: req.clone(),
                            host: host_api.clone(),
                        },
                    ));
                }
            }
            for dep in &p.dependencies {
                d.dep_names.push_str(&dep.name);
                let hash = d.hash(&dep.name);
                d.deps.push(DepRef {
                    name_end: d.dep_names.len() as u32,
                    hash,
                    dep,
                });
            }
            d.dep_ends.push(d.deps.len() as u32);
            if !p.conflicts.is_empty() {
                d.with_conflicts.push(i as u32);
            }
        }
        d
    }

    pub(super) fn len(&self) -> usize {
        self.name_ends.len()
    }

    /// Plugin `i`'s name.
    pub(super) fn name(&self, i: usize) -> &str {
        let from = if i == 0 {
            0
        } else {
            self.name_ends[i - 1] as usize
        };
        &self.names[from..self.name_ends[i] as usize]
    }

    /// The hash of a name, as the index keys it.
    pub(super) fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    /// The hash of plugin `i`'s name.
    pub(super) fn name_hash(&self, i: usize) -> u64 {
        self.name_hashes[i]
    }

    /// Plugin `i`'s version, if valid.
    pub(super) fn version(&self, i: usize) -> Option<&Version> {
        self.versions[i].as_ref()
    }

    /// Dependency `j` (of all plugins'), its name and the name's hash.
    fn dep(&self, j: usize) -> (&'a Dependency, &str, u64) {
        let from = if j == 0 {
            0
        } else {
            self.deps[j - 1].name_end as usize
        };
        let d = &self.deps[j];
        (d.dep, &self.dep_names[from..d.name_end as usize], d.hash)
    }

    /// Checks every plugin's dependencies, then the declared conflicts, against `index`;
    /// returns the "requires" edges between nodes, and for each plugin (input position) the
    /// end of its edges.
    pub(super) fn check_deps(
        &self,
        node_of_plugin: &[u32],
        index: &Index<'_>,
        problems: &mut Vec<Found>,
        skipped_optional: &mut Vec<(String, String)>,
    ) -> (Vec<(u32, u32)>, Vec<u32>) {
        let mut edges = Vec::with_capacity(self.deps.len());
        let mut edge_ends = Vec::with_capacity(self.len());
        let mut from = 0;
        for (i, &end) in self.dep_ends.iter().enumerate() {
            let owner = Owner::Plugin(i as u32);
            for j in from..end as usize {
                // The requirement a few dependencies on is read when it is matched.
                if let Some(later) = self.deps.get(j + AHEAD) {
                    prefetch(later.dep);
                }
                if let Some(soon) = self.deps.get(j + AHEAD / 2) {
                    prefetch(soon.dep.req.comparators.as_ptr());
                }
                let (dep, dep_name, hash) = self.dep(j);
                let Some((target, found)) = index.get(dep_name, hash) else {
                    if dep.optional {
                        skipped_optional.push((self.name(i).to_owned(), dep_name.to_owned()));
                    } else {
                        problems.push((
                            owner,
                            DependencyProblem::MissingDependency {
                                plugin: self.name(i).to_owned(),
                                dependency: dep_name.to_owned(),
                                required: dep.req.clone(),
                            },
                        ));
                    }
                    continue;
                };
                edges.push((node_of_plugin[i], target));
                // An ambiguous (duplicate) or invalid version is reported on its own.
                if let Some(found) = found {
                    if !dep.req.matches(found) {
                        problems.push((
                            owner,
                            DependencyProblem::VersionMismatch {
                                plugin: self.name(i).to_owned(),
                                dependency: dep_name.to_owned(),
                                required: dep.req.clone(),
                                found: found.clone(),
                                optional: dep.optional,
                            },
                        ));
                    }
                }
            }
            from = end as usize;
            edge_ends.push(edges.len() as u32);
        }
        for &i in &self.with_conflicts {
            let p = self.plugins[i as usize];
            for c in &p.conflicts {
                if c.name == p.name {
                    continue;
                }
                let Some((_, Some(found))) = index.get(&c.name, self.hash(&c.name)) else {
                    continue;
                };
                if c.req.matches(found) {
                    problems.push((
                        Owner::Plugin(i),
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
        (edges, edge_ends)
    }
}

/// Asks for the memory of the plugins a few steps after `i`: the metadata itself first, then
/// what it points to (name, dependency list, host API requirement), then what the dependency
/// list points to — each level once the level before has had time to arrive.
fn prefetch_ahead(plugins: &[&PluginMeta], i: usize) {
    if let Some(p) = plugins.get(i + AHEAD) {
        let at = std::ptr::from_ref::<PluginMeta>(p).cast::<u8>();
        for line in 0..4 {
            prefetch(at.wrapping_add(line * 64));
        }
    }
    if let Some(p) = plugins.get(i + AHEAD / 2) {
        prefetch(p.name.as_ptr());
        prefetch(p.dependencies.as_ptr());
        if let Some(req) = &p.host_api {
            prefetch(req.comparators.as_ptr());
        }
    }
    if let Some(p) = plugins.get(i + AHEAD / 4) {
        for dep in &p.dependencies {
            prefetch(dep.name.as_ptr());
        }
    }
}

/// The plugins by name.
pub(super) struct Index<'a> {
    /// Node numbers (the rank of the name in sorted order), by the hash of their name: four
    /// bytes an entry, so the table of 10,000 plugins stays in cache.
    pub(super) node_of: HashTable<u32>,
    /// Node number -> its name.
    pub(super) names: Vec<&'a str>,
    /// Node number -> its version when it is unambiguous (one plugin has the name, and its
    /// version is valid).
    pub(super) version: Vec<Option<&'a Version>>,
}

impl<'a> Index<'a> {
    /// The node of plugin `name` (whose hash is `hash`, see [`Digest::hash`]) and its
    /// unambiguous version; `None` when no plugin has this name.
    pub(super) fn get(&self, name: &str, hash: u64) -> Option<(u32, Option<&'a Version>)> {
        let &node = self
            .node_of
            .find(hash, |&n| self.names[n as usize] == name)?;
        Some((node, self.version[node as usize]))
    }
}
