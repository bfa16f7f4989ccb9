//! What the commands share: the plugins in the folders (and, embedded, in the host), each
//! with its status, and the dependency check over their metadata.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::deps::DependencyProblem;
use crate::discovery::{DiscoveryOptions, DiscoveryStatus, PluginKind, PluginSource, Scanner};
use crate::plugin::deps::resolve_refs;
use crate::{PluginHost, PluginMeta};

/// One line of `plugins list`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub name: String,
    pub version: Option<String>,
    /// `linked`, `process`, `code`, or `-` for an invalid manifest.
    pub kind: &'static str,
    /// Whether it runs: `None` for an invalid manifest.
    pub enabled: Option<bool>,
    pub lazy: bool,
    pub source: String,
    pub status: String,
    /// Whether an operator must fix something.
    pub problem: bool,
}

/// A dependency edge, for the graph and the "unchecked" notes.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    pub from: String,
    pub to: String,
    pub req: String,
    pub optional: bool,
    /// On a dependency cycle.
    pub cycle: bool,
    /// The target is a linked plugin the standalone binary cannot see.
    pub unchecked: bool,
    /// No plugin of that name is present.
    pub missing: bool,
}

/// Everything the commands print.
#[derive(Debug, Default)]
pub(crate) struct Inspection {
    /// Sorted by name.
    pub rows: Vec<Row>,
    /// The plugins that would run (name, version), sorted by name: the graph's nodes.
    pub nodes: Vec<(String, Option<String>)>,
    /// Sorted by (from, to).
    pub edges: Vec<Edge>,
    /// Problems an operator must fix, in a deterministic order.
    pub problems: Vec<String>,
    /// Things worth knowing that are not problems (skipped plugins, shadowed manifests,
    /// unchecked dependencies).
    pub notes: Vec<String>,
    /// The dependency cycles, each with its first name repeated at the end.
    pub cycles: Vec<Vec<String>>,
}

/// Scans `folders` (and, with a host, discovers into it) and checks the dependencies.
pub(crate) fn inspect(
    folders: &[PathBuf],
    features: &[String],
    host: Option<&PluginHost>,
) -> Inspection {
    let mut out = Inspection::default();
    // The manifests themselves (the host's report names them but does not hold them).
    let scan = Scanner::new().scan(folders);
    let manifests: BTreeMap<&str, _> = scan
        .plugins
        .iter()
        .filter_map(|p| Some((p.name.as_str(), p.manifest.as_ref().ok()?)))
        .collect();
    for s in &scan.shadowed {
        out.notes.push(format!(
            "`{}`: {} is used; {} is ignored (a later folder wins)",
            s.name,
            s.used.display(),
            s.ignored.display()
        ));
    }
    // The metadata of what would run: the dependency check's input.
    let mut metas: Vec<PluginMeta> = Vec::new();
    // Names of linked plugins the standalone binary cannot see.
    let mut invisible: BTreeSet<String> = BTreeSet::new();
    let host_api;
    match host {
        Some(host) => {
            host_api = host.inner.host_api.clone();
            let report = host.discover(
                &DiscoveryOptions::new()
                    .folders(folders.iter().cloned())
                    .features(features.iter().cloned()),
            );
            for e in &report.folder_errors {
                out.problems
                    .push(format!("{}: {}", e.folder.display(), e.message));
            }
            let list = host.plugins();
            for p in &report.plugins {
                let manifest = match &p.source {
                    PluginSource::Folder { .. } => manifests.get(p.name.as_str()).copied(),
                    _ => None,
                };
                let info = list.get(&p.name);
                let version = info
                    .and_then(|i| i.meta.version.as_ref())
                    .or_else(|| manifest.and_then(|m| m.meta.version.as_ref()))
                    .map(ToString::to_string);
                let kind = match (manifest, &p.source) {
                    (Some(m), _) => m.kind.as_str(),
                    (None, PluginSource::Code) => "code",
                    (None, PluginSource::Linked { .. }) => "linked",
                    (None, _) => "-",
                };
                // Enabled: not disabled by configuration and its conditions hold (whether
                // it can be loaded is the status's business).
                let (enabled, lazy) = match &p.status {
                    DiscoveryStatus::Loaded { lazy } => (Some(true), *lazy),
                    DiscoveryStatus::Invalid(_) => (None, false),
                    DiscoveryStatus::Disabled(_) | DiscoveryStatus::Skipped(_) => {
                        (Some(false), manifest.is_some_and(|m| m.lazy))
                    }
                    _ => (Some(true), manifest.is_some_and(|m| m.lazy)),
                };
                match &p.status {
                    DiscoveryStatus::Invalid(e) => out.problems.push(e.to_string()),
                    s if s.is_problem() => out.problems.push(format!("`{}`: {s}", p.name)),
                    DiscoveryStatus::Skipped(why) => {
                        out.notes.push(format!("`{}` is skipped: {why}", p.name));
                    }
                    _ => {}
                }
                if let Some(m) = manifest {
                    // A process plugin this build cannot load is still checked (a loaded one
                    // is among the host's plugins).
                    if matches!(m.kind, PluginKind::Process(_))
                        && matches!(p.status, DiscoveryStatus::ProcessNotSupported)
                        && enabled_by_conditions(m, features)
                    {
                        metas.push(m.meta.clone());
                    }
                }
                out.rows.push(Row {
                    name: p.name.clone(),
                    version,
                    kind,
                    enabled,
                    lazy,
                    source: p.source.to_string(),
                    status: p.status.to_string(),
                    problem: p.status.is_problem(),
                });
            }
            // What `start` would resolve: the enabled plugins of the host.
            metas.extend(
                list.iter()
                    .filter(|i| i.disabled.is_none())
                    .map(|i| i.meta.clone()),
            );
        }
        None => {
            host_api = None;
            for e in &scan.folder_errors {
                out.problems
                    .push(format!("{}: {}", e.folder.display(), e.message));
            }
            for p in &scan.plugins {
                let row = match &p.manifest {
                    Err(e) => {
                        out.problems.push(e.to_string());
                        Row {
                            name: p.name.clone(),
                            version: None,
                            kind: "-",
                            enabled: None,
                            lazy: false,
                            source: p.path.display().to_string(),
                            status: DiscoveryStatus::Invalid(e.clone()).to_string(),
                            problem: true,
                        }
                    }
                    Ok(m) => {
                        let status = match check_conditions(m, features) {
                            Err(why) => {
                                out.notes.push(format!("`{}` is skipped: {why}", p.name));
                                DiscoveryStatus::Skipped(why).to_string()
                            }
                            Ok(()) => {
                                metas.push(m.meta.clone());
                                match m.kind {
                                    #[cfg(feature = "process")]
                                    PluginKind::Process(_) => {
                                        "process: started by its host".to_owned()
                                    }
                                    #[cfg(not(feature = "process"))]
                                    PluginKind::Process(_) => {
                                        DiscoveryStatus::ProcessNotSupported.to_string()
                                    }
                                    _ => {
                                        invisible.insert(p.name.clone());
                                        "linked: not visible to the standalone binary (unchecked)"
                                            .to_owned()
                                    }
                                }
                            }
                        };
                        Row {
                            name: p.name.clone(),
                            version: m.meta.version.as_ref().map(ToString::to_string),
                            kind: m.kind.as_str(),
                            enabled: Some(enabled_by_conditions(m, features)),
                            lazy: m.lazy,
                            source: p.path.display().to_string(),
                            status,
                            problem: false,
                        }
                    }
                };
                out.rows.push(row);
            }
        }
    }
    // The programs of the plugins that would run: not those skipped by their conditions nor
    // those the host's configuration disables.
    for p in &scan.plugins {
        if let Ok(m) = &p.manifest {
            let disabled = out
                .rows
                .iter()
                .any(|r| r.name == p.name && r.enabled == Some(false));
            if enabled_by_conditions(m, features) && !disabled {
                check_command(&mut out, m);
            }
        }
    }
    out.rows.sort_by(|a, b| a.name.cmp(&b.name));
    check_dependencies(&mut out, metas, &invisible, host_api.as_ref());
    out
}

/// Whether the program of a process manifest can be started: a path (with a `/`, relative to
/// the plugin's folder) must be an executable file, a problem otherwise; a bare name not found
/// in `PATH` (the manifest's `[process] env` PATH, else this one's) is a note, as the host may
/// run with another `PATH`.
fn check_command(out: &mut Inspection, m: &crate::discovery::PluginManifest) {
    let PluginKind::Process(spec) = &m.kind else {
        return;
    };
    let Some(program) = spec.command.first() else {
        return;
    };
    let name = &m.meta.name;
    let folder = m.path.parent().unwrap_or_else(|| std::path::Path::new("."));
    if program.contains('/') {
        let path = folder.join(program);
        match std::fs::metadata(&path) {
            Err(_) => out.problems.push(format!(
                "`{name}`: process.command: `{program}` does not exist ({}); the host cannot start it",
                path.display()
            )),
            Ok(meta) if !meta.is_file() => out.problems.push(format!(
                "`{name}`: process.command: `{program}` is not a file ({})",
                path.display()
            )),
            Ok(meta) if !is_executable(&meta) => out.problems.push(format!(
                "`{name}`: process.command: `{program}` is not executable ({}); `chmod +x` it",
                path.display()
            )),
            Ok(_) => {}
        }
        return;
    }
    let path = spec
        .env
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && is_executable(&m))
    });
    if !found {
        out.notes.push(format!(
            "`{name}`: process.command: `{program}` is not in this PATH; the host will look for it in its own"
        ));
    }
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    true
}

fn check_conditions(
    m: &crate::discovery::PluginManifest,
    features: &[String],
) -> Result<(), String> {
    m.conditions.check(
        |var| std::env::var(var).ok(),
        std::env::consts::OS,
        features,
    )
}

fn enabled_by_conditions(m: &crate::discovery::PluginManifest, features: &[String]) -> bool {
    check_conditions(m, features).is_ok()
}

/// Runs the crate's resolver over `metas` and records problems, cycles, edges and notes.
/// Standalone, a dependency on (or a conflict with) a linked plugin in `invisible` is
/// unchecked: the manifest's version need not be the linked plugin's.
fn check_dependencies(
    out: &mut Inspection,
    mut metas: Vec<PluginMeta>,
    invisible: &BTreeSet<String>,
    host_api: Option<&semver::Version>,
) {
    metas.sort_by(|a, b| a.name.cmp(&b.name));
    let refs: Vec<&PluginMeta> = metas.iter().collect();
    let problems = match resolve_refs(&refs, host_api) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_problems(),
    };
    let mut on_cycle: BTreeSet<(String, String)> = BTreeSet::new();
    for p in problems {
        match p {
            DependencyProblem::Cycle { cycle } => {
                for pair in cycle.windows(2) {
                    on_cycle.insert((pair[0].clone(), pair[1].clone()));
                }
                out.problems.push(
                    DependencyProblem::Cycle {
                        cycle: cycle.clone(),
                    }
                    .to_string(),
                );
                out.cycles.push(cycle);
            }
            DependencyProblem::VersionMismatch { ref dependency, .. }
                if invisible.contains(dependency) => {}
            DependencyProblem::DeclaredConflict { ref other, .. } if invisible.contains(other) => {}
            p => out.problems.push(p.to_string()),
        }
    }
    let present: BTreeSet<&str> = metas.iter().map(|m| m.name.as_str()).collect();
    for m in &metas {
        out.nodes
            .push((m.name.clone(), m.version.as_ref().map(ToString::to_string)));
        for d in &m.dependencies {
            let unchecked = invisible.contains(&d.name);
            if unchecked {
                out.notes.push(format!(
                    "`{}` {} `{}` {}: unchecked, `{}` is a linked plugin, which the standalone binary cannot see (run the host's own CLI to check it)",
                    m.name,
                    if d.optional { "optionally uses" } else { "requires" },
                    d.name,
                    d.req,
                    d.name
                ));
            }
            out.edges.push(Edge {
                from: m.name.clone(),
                to: d.name.clone(),
                req: d.req.to_string(),
                optional: d.optional,
                cycle: on_cycle.contains(&(m.name.clone(), d.name.clone())),
                unchecked,
                missing: !present.contains(d.name.as_str()),
            });
        }
        for c in &m.conflicts {
            if invisible.contains(&c.name) {
                out.notes.push(format!(
                    "`{}` conflicts with `{}` {}: unchecked, `{}` is a linked plugin, which the standalone binary cannot see",
                    m.name, c.name, c.req, c.name
                ));
            }
        }
    }
    out.edges
        .sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
}
