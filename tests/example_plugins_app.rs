//! Builds and runs `examples/plugins_app.rs` (into the build this test belongs to) and checks
//! what it shows: start order, the disabled and the missing optional plugin, hook calls,
//! shutdown in reverse order and the final states.

use std::path::PathBuf;
use std::process::Command;

/// Where this test binary was built: `<target dir>/[<triple>/]<profile dir>/deps/<test>`.
struct Build {
    target_dir: PathBuf,
    triple: Option<String>,
    profile_dir: PathBuf,
}

fn this_build() -> Build {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from <target>/<profile>/deps")
        .to_path_buf();
    let above = profile_dir
        .parent()
        .expect("a target directory")
        .to_path_buf();
    // Cargo marks the target directory's root; a cross build nests a triple under it.
    if above.join("CACHEDIR.TAG").exists() {
        Build {
            target_dir: above,
            triple: None,
            profile_dir,
        }
    } else {
        let triple = above.file_name().map(|t| t.to_string_lossy().into_owned());
        let target_dir = above.parent().expect("a target directory").to_path_buf();
        Build {
            target_dir,
            triple,
            profile_dir,
        }
    }
}

#[test]
fn the_plugins_app_example_starts_calls_and_shuts_down_its_plugins() {
    // Built now, into the build this test belongs to (target directory, target, profile,
    // features), so that a stale binary from an earlier build is never what runs; a no-op
    // when `cargo test` built it already.
    let build = this_build();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let features: Vec<&str> = [("testing", cfg!(feature = "testing"))]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
    let profile = match build.profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") | None => "dev".to_owned(),
        Some(other) => other.to_owned(),
    };
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--example", "plugins_app", "--profile"])
        .arg(&profile)
        .arg("--features")
        .arg(features.join(","))
        .arg("--target-dir")
        .arg(&build.target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(triple) = &build.triple {
        cmd.args(["--target", triple]);
    }
    let built = cmd.status().expect("cargo runs");
    assert!(
        built.success(),
        "`cargo build --example plugins_app` failed"
    );
    let bin = build
        .profile_dir
        .join("examples")
        .join(format!("plugins_app{}", std::env::consts::EXE_SUFFIX));
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
