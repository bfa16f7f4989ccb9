//! What each command writes, and `new`'s scaffolding.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::inspect::Inspection;
use crate::discovery::{is_valid_name, PluginManifest, MANIFEST_FILE};

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

/// `plugins list`: a table, columns padded to their widest cell.
pub(super) fn list_table(found: &Inspection, out: &mut dyn Write) -> io::Result<()> {
    let header = [
        "NAME", "VERSION", "KIND", "ENABLED", "LAZY", "SOURCE", "STATUS",
    ];
    let rows: Vec<[String; 7]> = found
        .rows
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                r.version.clone().unwrap_or_else(|| "-".to_owned()),
                r.kind.to_owned(),
                yes_no(r.enabled).to_owned(),
                yes_no(r.enabled.map(|_| r.lazy)).to_owned(),
                r.source.clone(),
                r.status.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: [&str; 7]| -> io::Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:w$}  ", w = widths[i]));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, header)?;
    for row in &rows {
        line(out, row.each_ref().map(String::as_str))?;
    }
    Ok(())
}

/// `plugins list --json`: `{"plugins": [...], "problems": [...], "notes": [...]}`.
pub(super) fn list_json(found: &Inspection, out: &mut dyn Write) -> io::Result<()> {
    let value = serde_json::json!({
        "plugins": found.rows,
        "problems": found.problems,
        "notes": found.notes,
    });
    serde_json::to_writer_pretty(&mut *out, &value)?;
    writeln!(out)
}

/// `plugins check`: every problem, then the notes, then a summary. `Ok(false)` if any
/// problem.
pub(super) fn check(found: &Inspection, out: &mut dyn Write) -> io::Result<bool> {
    for p in &found.problems {
        writeln!(out, "error: {p}")?;
    }
    for n in &found.notes {
        writeln!(out, "note: {n}")?;
    }
    let plugins = found.rows.len();
    let s = if plugins == 1 { "" } else { "s" };
    match found.problems.len() {
        0 => writeln!(out, "ok: {plugins} plugin{s} checked, no problems")?,
        n => writeln!(
            out,
            "{n} problem{} in {plugins} plugin{s}",
            if n == 1 { "" } else { "s" }
        )?,
    }
    Ok(found.problems.is_empty())
}

fn edge_marks(e: &super::inspect::Edge) -> String {
    let mut marks = Vec::new();
    if e.optional {
        marks.push("optional");
    }
    if e.missing {
        marks.push("missing");
    }
    if e.unchecked {
        marks.push("unchecked: linked");
    }
    if e.cycle {
        marks.push("CYCLE");
    }
    if marks.is_empty() {
        String::new()
    } else {
        format!("  [{}]", marks.join(", "))
    }
}

/// `plugins graph --format text`: each plugin that would run, its dependencies below it.
pub(super) fn graph_text(found: &Inspection, out: &mut dyn Write) -> io::Result<()> {
    for (name, version) in &found.nodes {
        writeln!(out, "{name} {}", version.as_deref().unwrap_or("-"))?;
        for e in found.edges.iter().filter(|e| &e.from == name) {
            writeln!(out, "  -> {} {}{}", e.to, e.req, edge_marks(e))?;
        }
    }
    for c in &found.cycles {
        writeln!(out, "cycle: {}", c.join(" -> "))?;
    }
    Ok(())
}

/// `plugins graph --format dot`: Graphviz; cycle edges red, missing plugins dashed.
pub(super) fn graph_dot(found: &Inspection, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "digraph plugins {{")?;
    for (name, version) in &found.nodes {
        writeln!(
            out,
            "  {:?} [label={:?}];",
            name,
            format!("{name} {}", version.as_deref().unwrap_or("-"))
        )?;
    }
    let mut missing: Vec<&str> = found
        .edges
        .iter()
        .filter(|e| e.missing)
        .map(|e| e.to.as_str())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    for name in missing {
        writeln!(
            out,
            "  {name:?} [label={:?}, style=dashed];",
            format!("{name} (missing)")
        )?;
    }
    for e in &found.edges {
        let mut attrs = vec![format!("label={:?}", e.req)];
        if e.optional || e.unchecked {
            attrs.push("style=dashed".to_owned());
        }
        if e.cycle {
            attrs.push("color=red".to_owned());
            attrs.push("fontcolor=red".to_owned());
        }
        let comment = if e.cycle { " // cycle" } else { "" };
        writeln!(
            out,
            "  {:?} -> {:?} [{}];{comment}",
            e.from,
            e.to,
            attrs.join(", ")
        )?;
    }
    writeln!(out, "}}")
}

/// `plugins new`: creates `dir/name/plugin.toml`; the error says what to fix.
pub(super) fn new_plugin(name: &str, dir: &Path) -> Result<PathBuf, String> {
    if !is_valid_name(name) {
        return Err(format!(
            "`{name}` is not a valid plugin name: use lowercase letters, digits, `-` and `_`, starting with a letter or a digit (e.g. `token-auth`)"
        ));
    }
    let folder = dir.join(name);
    if folder.exists() {
        return Err(format!(
            "{} exists already; choose another name or remove it",
            folder.display()
        ));
    }
    let path = folder.join(MANIFEST_FILE);
    let text = manifest_template(name);
    // The scaffold must be valid: checked before anything is written.
    PluginManifest::parse(&text, &path).map_err(|e| format!("internal error: {e}"))?;
    std::fs::create_dir_all(&folder)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(path)
}

fn manifest_template(name: &str) -> String {
    format!(
        r#"# The manifest of plugin `{name}` (hookwire: see "Finding plugins" in its README).
name = "{name}"
version = "0.1.0"
description = "What {name} does"
# "linked": enables and configures the plugin of this name linked into the host
# (`hookwire::submit_plugin!`); "process": a program, described by a [process] table.
kind = "linked"
# host_api = "^1"
# lazy = true                  # start on the first call of one of its hooks

# [requires]                   # name = semver requirement
# audit = "^1"
# [optional]
# metrics = ">=0.3"
# [conflicts]
# legacy-auth = "<2"

# [config]                     # the plugin's config: above its defaults, below the host's file

# [conditions]                 # all must hold, or the plugin is skipped
# env = {{ MODE = "prod" }}
# features = ["beta"]
"#
    )
}
