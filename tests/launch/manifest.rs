//! `[process]` fields for starting a process: `cpu_seconds`, `hooks`, `sandbox`,
//! `allowed_paths`, validated with their place; and the conversion to a `LaunchSpec`.

use std::path::{Path, PathBuf};

use hookwire::discovery::{PluginKind, PluginManifest};
use hookwire::external::{LaunchSpec, ResourceLimits, SYSTEM_READ_ONLY_PATHS};

use crate::support::process_spec;

const HEAD: &str = "name = \"auth\"\nversion = \"1.0.0\"\nkind = \"process\"\n";

fn parse_err(tail: &str) -> String {
    PluginManifest::parse(&format!("{HEAD}{tail}"), "plugins/auth/plugin.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn the_launch_fields_of_a_process_manifest_are_parsed() {
    let p = process_spec(
        r#"[process]
command = ["python3", "main.py"]
hooks = ["authenticate", "on_startup"]
sandbox = true
allowed_paths = ["data", "/opt/models"]
[process.limits]
memory_mb = 64
cpu_seconds = 30
open_files = 32
call_timeout_ms = 1000
"#,
    );
    assert_eq!(p.hooks, ["authenticate", "on_startup"]);
    assert!(p.sandbox);
    assert_eq!(
        p.allowed_paths,
        [PathBuf::from("data"), PathBuf::from("/opt/models")]
    );
    assert_eq!(p.limits.memory_mb, Some(64));
    assert_eq!(p.limits.cpu_seconds, Some(30));
    assert_eq!(p.limits.open_files, Some(32));
    assert_eq!(p.limits.call_timeout_ms, Some(1000));
}

#[test]
fn the_launch_fields_default_to_no_sandbox_no_hooks_and_no_cpu_limit() {
    let p = process_spec("[process]\ncommand = [\"w\"]\n");
    assert!(!p.sandbox);
    assert!(p.hooks.is_empty());
    assert!(p.allowed_paths.is_empty());
    assert_eq!(p.limits.cpu_seconds, None);
}

#[test]
fn the_launch_fields_are_validated_with_their_place_and_what_was_expected() {
    let cases: &[(&str, &str)] = &[
        (
            "[process]\ncommand = [\"x\"]\n[process.limits]\ncpu_seconds = 0\n",
            "plugins/auth/plugin.toml:6:1: process.limits.cpu_seconds is 0 (expected at least 1, or no limit: leave it out)",
        ),
        (
            "[process]\ncommand = [\"x\"]\nhooks = [\"greet\", \" \"]\n",
            "plugins/auth/plugin.toml:6:19: process.hooks names an empty hook (expected hook names such as \"authenticate\")",
        ),
        (
            "[process]\ncommand = [\"x\"]\nhooks = [\"greet\", \"greet\"]\n",
            "plugins/auth/plugin.toml:6:19: process.hooks names \"greet\" twice (expected each hook once)",
        ),
        (
            "[process]\ncommand = [\"x\"]\nsandbox = true\nallowed_paths = [\"\"]\n",
            "plugins/auth/plugin.toml:7:18: process.allowed_paths has an empty path (expected a folder or file, absolute or relative to the plugin's folder)",
        ),
        (
            "[process]\ncommand = [\"x\"]\nallowed_paths = [\"data\"]\n",
            "plugins/auth/plugin.toml:6:18: process.allowed_paths is set but sandbox is not (expected `sandbox = true` with allowed_paths: without a sandbox every path is allowed)",
        ),
    ];
    for (tail, want) in cases {
        assert_eq!(&parse_err(tail), want, "for:\n{tail}");
    }
    let e = parse_err("[process]\ncommand = [\"x\"]\nsandbox = \"yes\"\n");
    assert!(e.starts_with("plugins/auth/plugin.toml:6:11: "), "{e}");
    assert!(e.contains("bool"), "{e}");
    let e = parse_err("[process]\ncommand = [\"x\"]\nhooks = \"greet\"\n");
    assert!(e.starts_with("plugins/auth/plugin.toml:6:9: "), "{e}");
    assert!(e.contains("sequence"), "{e}");
}

#[test]
fn a_manifest_becomes_a_launch_spec_with_its_command_env_and_limits() {
    let p = process_spec(
        "[process]\ncommand = [\"python3\", \"main.py\", \"--fast\"]\nenv = { LOG = \"info\" }\n[process.limits]\nmemory_mb = 64\ncpu_seconds = 2\nopen_files = 32\n",
    );
    let spec = LaunchSpec::from_manifest(&p, "/srv/plugins/auth");
    assert_eq!(spec.program, "python3");
    assert_eq!(spec.args, ["main.py", "--fast"]);
    assert_eq!(spec.folder, Path::new("/srv/plugins/auth"));
    assert_eq!(spec.env.len(), 1);
    assert_eq!(spec.env[std::ffi::OsStr::new("LOG")], "info");
    assert_eq!(
        spec.limits,
        ResourceLimits::new()
            .address_space_mib(64)
            .cpu_seconds(2)
            .open_files(32)
    );
    assert_eq!(spec.sandbox, None);
}

#[test]
fn a_sandboxed_manifest_allows_its_folder_the_system_the_interpreter_and_its_allowed_paths() {
    let folder = tempfile::tempdir().unwrap();
    let p = process_spec(
        "[process]\ncommand = [\"sh\", \"main.sh\"]\nsandbox = true\nallowed_paths = [\"data\", \"/opt/models\"]\n",
    );
    let spec = LaunchSpec::from_manifest(&p, folder.path());
    let sandbox = spec.sandbox.expect("a sandbox");
    assert_eq!(sandbox.read_write[0], folder.path());
    let ro = &sandbox.read_only;
    for system in SYSTEM_READ_ONLY_PATHS {
        assert_eq!(
            ro.contains(&PathBuf::from(system)),
            Path::new(system).exists(),
            "{system}"
        );
    }
    assert!(
        ro.ends_with(&[folder.path().join("data"), PathBuf::from("/opt/models")]),
        "{ro:?}"
    );
    // `sh` is found in PATH; its prefix (the folder above its `bin`) is readable, and never `/`.
    assert!(!ro.contains(&PathBuf::from("/")), "{ro:?}");
    let sh = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("sh"))
        .find(|p| p.is_file())
        .unwrap();
    let covered = |path: &Path| ro.iter().any(|r| path.starts_with(r));
    assert!(covered(&sh), "{} not readable in {ro:?}", sh.display());
    assert!(covered(&sh.canonicalize().unwrap()), "{ro:?}");
}

#[test]
fn a_process_manifest_is_still_a_process_kind() {
    let m = PluginManifest::parse(
        &format!("{HEAD}[process]\ncommand = [\"x\"]\nsandbox = false\n"),
        "plugins/auth/plugin.toml",
    )
    .unwrap();
    assert!(matches!(m.kind, PluginKind::Process(_)));
}

#[test]
fn the_interpreter_is_looked_up_in_the_manifests_path_when_it_sets_one() {
    let tools = tempfile::tempdir().unwrap();
    std::fs::create_dir(tools.path().join("bin")).unwrap();
    crate::support::write_script(&tools.path().join("bin/plugin-runner"), "#!/bin/sh\n");
    let folder = tempfile::tempdir().unwrap();
    let p = process_spec(&format!(
        "[process]\ncommand = [\"plugin-runner\"]\nsandbox = true\nenv = {{ PATH = {:?} }}\n",
        tools.path().join("bin").to_str().unwrap()
    ));
    let spec = LaunchSpec::from_manifest(&p, folder.path());
    let ro = spec.sandbox.expect("a sandbox").read_only;
    assert!(ro.contains(&tools.path().to_path_buf()), "{ro:?}");
}
