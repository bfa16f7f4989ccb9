//! Security of process plugins found in folders (features `security`, `process`, `watch`):
//! trust levels from folders and signing keys, the sandbox a `sandboxed` level imposes,
//! permissions of the hooks a process implements, and verified copies of pinned files at every
//! start, restart and hot reload. Real `python3` processes (the fixture of `tests/external/`,
//! copied into each plugin folder so that it can be pinned), real files, the audit log read
//! back.
//!
//! One test binary of several modules: add a new test file of this area as a module here.

mod copies;
mod hooks;
mod special_files;
mod trust;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookwire::discovery::{DiscoveryOptions, DiscoveryReport, DiscoveryStatus};
use hookwire::security::{sha256_hex, AuditLog, AuditRecord, SecurityPolicy};
use hookwire::spec::SpecInfo;
use hookwire::{HookManager, PluginHost};
use serde_json::Value;

/// The fixture plugin (`tests/external/fixtures/plugin.py`).
pub const FIXTURE: &str = include_str!("../external/fixtures/plugin.py");

/// The fixture with `greet` answering `greeting` before the name.
pub fn fixture_greeting(greeting: &str) -> String {
    FIXTURE.replace(
        "GREETING = \"Hello, \"",
        &format!("GREETING = {greeting:?}"),
    )
}

/// The sha256 of `text`, as pinned.
pub fn sha(text: &str) -> String {
    sha256_hex(text.as_bytes()).unwrap()
}

/// A plugin folder `root/name`: the fixture as `plugin.py` and a `kind = "process"` manifest
/// running it, with `top` lines before `[process]` and `process` lines in it; pinning
/// `plugin.py` when `pin` is `Some` (the text whose hash is pinned). Returns the folder.
pub fn plugin(root: &Path, name: &str, top: &str, process: &str, pin: Option<&str>) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plugin.py"), FIXTURE).unwrap();
    write_manifest(&dir, name, "1.0.0", top, process, pin);
    dir
}

/// Writes `dir/plugin.toml` (see [`plugin`]).
pub fn write_manifest(
    dir: &Path,
    name: &str,
    version: &str,
    top: &str,
    process: &str,
    pin: Option<&str>,
) {
    let mut text = format!(
        "name = \"{name}\"\nversion = \"{version}\"\nkind = \"process\"\n{top}\n[process]\ncommand = [\"python3\", \"plugin.py\", \"ok\"]\nstart_timeout_ms = 20000\n{process}\n"
    );
    if let Some(pinned) = pin {
        text.push_str(&format!("[sha256]\n\"plugin.py\" = \"{}\"\n", sha(pinned)));
    }
    std::fs::write(dir.join("plugin.toml"), text).unwrap();
}

/// A host offering the fixture's hooks (`greet`, `auth`, `items`) with `policy` as its gate.
pub fn host(policy: SecurityPolicy) -> PluginHost {
    let hooks = HookManager::builder()
        .dynamic_spec(SpecInfo::json("greet"))
        .dynamic_spec(SpecInfo::json("auth").firstresult())
        .dynamic_spec(SpecInfo::json("items"))
        .build();
    PluginHost::builder().hooks(hooks).gate(policy).build()
}

/// `discover` of `root` with `options` (linked plugins left out).
pub fn discover(host: &PluginHost, root: &Path, options: DiscoveryOptions) -> DiscoveryReport {
    host.discover(&options.folder(root).linked_without_manifest(false))
}

/// The status of `name` in `report`.
pub fn status(report: &DiscoveryReport, name: &str) -> DiscoveryStatus {
    report.get(name).unwrap().status.clone()
}

/// What plugin `name` answers to `greet(arg)`: its value, or its failure's text.
pub async fn greet(host: &PluginHost, name: &str, arg: &str) -> Result<Value, String> {
    let out = host
        .hooks()
        .call_json("greet", Value::from(arg))
        .await
        .map_err(|e| e.to_string())?;
    let Some(outcome) = out.get(name) else {
        return Err(format!("no outcome of `{name}`"));
    };
    match (outcome.value(), outcome.failure()) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(f)) => Err(f.to_string()),
        (None, None) => Err("no answer".to_owned()),
    }
}

/// An audit log in `dir` attached to `host`.
pub fn audit(host: &PluginHost, dir: &Path) -> AuditLog {
    let log = AuditLog::open(dir.join("audit.jsonl")).unwrap();
    drop(log.attach(host));
    log
}

/// The records of the audit log.
pub fn records(log: &AuditLog) -> Vec<AuditRecord> {
    std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits (up to 20 s, polling) until `cond` holds.
pub async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
