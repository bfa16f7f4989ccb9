//! Helpers: running a spec to its end, reading `/proc`.

use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use hookwire::discovery::{PluginKind, PluginManifest, ProcessSpec};
use hookwire::external::__launch::spawn;
use hookwire::external::LaunchSpec;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// The longest a child may take here (CPU is shared with other builds).
pub const PATIENCE: Duration = Duration::from_secs(60);

/// What a finished child left.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Starts `spec`, closes its stdin, reads its output and waits for its end.
pub async fn run(spec: &LaunchSpec) -> Finished {
    let child = spawn(spec).expect("the process starts");
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("the child ends in time")
        .expect("the child is waited for");
    Finished {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `[process]` table of a manifest for plugin `demo` with `process` as its body.
pub fn process_spec(process: &str) -> ProcessSpec {
    let text = format!("name = \"demo\"\nversion = \"1.0.0\"\nkind = \"process\"\n{process}");
    let manifest =
        PluginManifest::parse(&text, "plugins/demo/plugin.toml").expect("valid manifest");
    match manifest.kind {
        PluginKind::Process(p) => p,
        other => panic!("not a process manifest: {other:?}"),
    }
}

/// Reads the first line of the child's stdout.
pub async fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("a line in time")
        .expect("a line");
    line.trim().to_owned()
}

/// `(pid, state)` of every process whose process group is `pgid`, from `/proc`.
pub fn group_members(pgid: u32) -> Vec<(u32, char)> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((state, group)) = stat(pid) {
            if group == pgid {
                members.push((pid, state));
            }
        }
    }
    members
}

/// `(state, pgrp)` of `pid`, or `None` when it does not exist (reaped).
pub fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Whether `pid` is a running (not zombie, not reaped) process.
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// Waits (bounded) until no live process is left in group `pgid`; returns those left.
/// `SIGKILL` is delivered asynchronously, so a just-killed process may linger for a moment.
pub async fn live_members_after_settling(pgid: u32) -> Vec<u32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let live: Vec<u32> = group_members(pgid)
            .into_iter()
            .filter(|(_, state)| *state != 'Z' && *state != 'X')
            .map(|(pid, _)| pid)
            .collect();
        if live.is_empty() || tokio::time::Instant::now() >= deadline {
            return live;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh folder for one plugin.
pub fn plugin_folder() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hookwire-launch-")
        .tempdir()
        .expect("a temporary folder")
}

/// Writes an executable script.
pub fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("script written");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
