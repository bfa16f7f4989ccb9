//! Builds and runs the `plugins_app` example of the `hookwire-examples` crate
//! (`examples/examples/plugins_app.rs`, into the build this test belongs to) and checks
//! what it shows: start order, the disabled and the missing optional plugin, hook calls,
//! shutdown in reverse order and the final states.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where this test binary was built: `<build dir>/[<triple>/]<profile dir>/deps/<test>`, and
/// the target directory that goes with it.
struct Build {
    target_dir: PathBuf,
    triple: Option<String>,
    profile_dir: PathBuf,
}

/// Asks cargo (`cargo metadata`, which reads the same environment and configuration as the
/// `cargo test` that built this test) for the build and target directories; whatever lies
/// between the build directory and this test's profile directory is a target triple. No
/// marker file is consulted: a target directory made by hand (`mkdir -p target`, a restored
/// CI cache) has no `CACHEDIR.TAG`.
fn this_build(cargo: &OsStr) -> Build {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from <build dir>/<profile>/deps")
        .to_path_buf();
    let above = profile_dir
        .parent()
        .expect("a build directory")
        .to_path_buf();
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "`cargo metadata` failed");
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("`cargo metadata` prints JSON");
    let dir = |key: &str| meta[key].as_str().map(PathBuf::from);
    let target_dir = dir("target_directory").expect("`cargo metadata` names the target directory");
    // Cargo before 1.91 has no separate build directory.
    let build_dir = dir("build_directory").unwrap_or_else(|| target_dir.clone());
    // Compared with symbolic links resolved: `current_exe` may resolve them, cargo does not.
    let real = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    match real(&above).strip_prefix(real(&build_dir)) {
        Ok(between) => Build {
            target_dir,
            triple: (!between.as_os_str().is_empty())
                .then(|| between.to_string_lossy().into_owned()),
            profile_dir,
        },
        // `cargo test --target-dir <dir>`: a flag this process cannot see. Its profile
        // directory's parent is then that directory (a `--target` given with it as well
        // cannot be told apart).
        Err(_) => Build {
            target_dir: above,
            triple: None,
            profile_dir,
        },
    }
}

/// The example's executable as cargo reports it (`--message-format=json-render-diagnostics`:
/// JSON messages on stdout, compiler diagnostics rendered on stderr).
fn reported_executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "plugins_app")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[test]
fn the_plugins_app_example_starts_calls_and_shuts_down_its_plugins() {
    // Built now, into the build this test belongs to (target directory, target, profile,
    // features), so that a stale binary from an earlier build is never what runs; a no-op
    // when `cargo test` built it already.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = this_build(&cargo);
    // hookwire's features as this test has them, for the example's crate to build with.
    // And the example's own feature, which it requires.
    let features: Vec<&str> = [
        ("hookwire/testing", cfg!(feature = "testing")),
        ("hookwire-examples/plugins_app", true),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let profile = match build.profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "--message-format=json-render-diagnostics",
        // The whole workspace, as `cargo test --workspace` has it: the dependencies' features
        // are then unified as in this test's own build, which cargo reuses (built alone,
        // `-p hookwire-examples` would rebuild tokio and hookwire with fewer features).
        "--workspace",
        "--example",
        "plugins_app",
    ])
    .arg("--profile")
    .arg(&profile)
    .arg("--features")
    .arg(features.join(","))
    .arg("--target-dir")
    .arg(&build.target_dir)
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .stderr(Stdio::inherit());
    if let Some(triple) = &build.triple {
        cmd.args(["--target", triple]);
    }
    let built = cmd.output().expect("cargo runs");
    assert!(
        built.status.success(),
        "`cargo build --workspace --example plugins_app` failed"
    );
    let bin = reported_executable(&String::from_utf8_lossy(&built.stdout))
        .expect("cargo reports the example's executable");
    // The example reads the process environment: none of ours may leak into it.
    let mut run = Command::new(&bin);
    run.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (var, _) in std::env::vars_os() {
        if var.to_string_lossy().starts_with("HOOKWIRE_") {
            run.env_remove(var);
        }
    }
    let out = run.output().expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let expect_in_order = [
        "environment:      HOOKWIRE_PLUGINS_DISABLE is not set in your shell, so this",
        "                  example sets HOOKWIRE_PLUGINS_DISABLE=legacy-audit itself",
        "start report:",
        "  started 4: metrics, rate-limit, storage, token-auth",
        "  disabled 1: legacy-audit (by environment variable HOOKWIRE_PLUGINS_DISABLE)",
        "  running without optional dependencies 1: rate-limit (without redis)",
        "authenticate:     t-alice -> alice",
        "authenticate:     t-nobody -> (nobody)",
        "before_request:   /items/4 -> 429 from rate-limit",
        "plugin:           legacy-audit 0.9.0   disabled by environment variable HOOKWIRE_PLUGINS_DISABLE, no capabilities",
        "plugin:           token-auth   1.0.0   started, capabilities: auth",
        "stop report:",
        "  stopped 4: token-auth, storage, rate-limit, metrics",
        "  not running 1: legacy-audit (disabled by environment variable HOOKWIRE_PLUGINS_DISABLE)",
        "final state:      metrics      stopped",
        "final state:      token-auth   stopped",
        "final state:      legacy-audit disabled by environment variable HOOKWIRE_PLUGINS_DISABLE",
    ];
    let mut from = 0;
    for want in expect_in_order {
        let at = lines[from..]
            .iter()
            .position(|l| l.starts_with(want))
            .unwrap_or_else(|| panic!("no line `{want}` after line {from} in:\n{stdout}"));
        from += at + 1;
    }
    assert!(
        !stdout.contains("failed") && !stdout.contains("Failed"),
        "no plugin fails in the example:\n{stdout}"
    );
    assert!(
        !stdout.contains("[]"),
        "no empty list is printed raw:\n{stdout}"
    );
}
