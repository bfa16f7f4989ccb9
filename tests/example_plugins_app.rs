//! Runs `examples/plugins_app.rs` (built by `cargo test` next to the test binaries) and checks
//! what it shows: start order, the disabled and the missing optional plugin, hook calls,
//! shutdown in reverse order and the final states.

use std::path::PathBuf;
use std::process::Command;

/// The example's binary: `target/<profile>/examples/plugins_app`, beside `deps/` where this
/// test runs from.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps");
    profile_dir
        .join("examples")
        .join(format!("plugins_app{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_plugins_app_example_starts_calls_and_shuts_down_its_plugins() {
    // Built now, so that a stale binary from an earlier build is never what runs (a no-op
    // when `cargo test` built it already).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // With the features this test was built with: the same build, nothing recompiled.
    let features: Vec<&str> = [("testing", cfg!(feature = "testing"))]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
    let built = Command::new(cargo)
        .args(["build", "--quiet", "--example", "plugins_app", "--features"])
        .arg(features.join(","))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(
        built.success(),
        "`cargo build --example plugins_app` failed"
    );
    let bin = example_binary();
    let out = Command::new(&bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("HOOKWIRE_PLUGINS_DISABLE")
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let expect_in_order = [
        "start order:      metrics -> rate-limit -> storage -> token-auth",
        "disabled:         legacy-audit (by environment variable HOOKWIRE_PLUGINS_DISABLE)",
        "optional missing: rate-limit runs without `redis`",
        "authenticate:     t-alice -> alice",
        "authenticate:     t-nobody -> (nobody)",
        "before_request:   /items/4 -> 429 from rate-limit",
        "stop:             token-auth   Stopped",
        "stop:             storage      Stopped",
        "stop:             rate-limit   Stopped",
        "stop:             metrics      Stopped",
        "final state:      metrics      Stopped",
        "final state:      token-auth   Stopped",
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
        !stdout.contains("Failed"),
        "no plugin fails in the example:\n{stdout}"
    );
}
