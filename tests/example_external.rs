//! Builds and runs the `external` example of the `hookwire-examples` crate
//! (`examples/examples/external.rs`) with the Rust SDK plugin it runs, into this test's build,
//! and checks what it shows: both process plugins discovered and started, calls answered
//! across languages, a crash that fails one call and a restart, statistics, a clean stop.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The executables cargo reports (`--message-format=json-render-diagnostics`), by target name.
fn reported(messages: &str, target: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == target)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[test]
fn the_external_example_discovers_calls_restarts_and_reports_its_process_plugins() {
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/<test>
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    // hookwire's features as this test has them (so that cargo reuses the build), and the
    // example's own.
    let features: Vec<&str> = [
        ("hookwire/macros", cfg!(feature = "macros")),
        ("hookwire/config", cfg!(feature = "config")),
        ("hookwire/testing", cfg!(feature = "testing")),
        ("hookwire/cli", cfg!(feature = "cli")),
        ("hookwire/watch", cfg!(feature = "watch")),
        ("hookwire-examples/external", true),
    ]
    .into_iter()
    .filter_map(|(f, on)| on.then_some(f))
    .collect();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--message-format=json-render-diagnostics",
            "--workspace",
            "--example",
            "external",
            "--bin",
            "rust-process-plugin",
            "--profile",
            profile,
        ])
        .arg("--features")
        .arg(features.join(","))
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(built.status.success(), "building the example failed");
    let messages = String::from_utf8_lossy(&built.stdout);
    let bin = reported(&messages, "external").expect("cargo reports the example");
    // The Rust plugin's manifest runs `target/debug/rust-process-plugin`: this build's, when it
    // is there; else the example builds one there.
    let plugin = reported(&messages, "rust-process-plugin").expect("cargo reports the plugin");
    let expected =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/debug/rust-process-plugin");
    if std::fs::canonicalize(&plugin).ok() != std::fs::canonicalize(&expected).ok() {
        eprintln!(
            "note: the example uses {}, not {}",
            expected.display(),
            plugin.display()
        );
    }

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
    let has = |line: &str| {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(line)),
            "no line starting with {line:?} in:\n{stdout}"
        );
    };
    has("2 plugins found, 2 loaded");
    has("greeter       loaded");
    has("rust-greeter  loaded");
    has("started: greeter, rust-greeter");
    has("on_startup: greeter says \"Hello, demo!\"");
    has("GET /greet: 200 Hello, Ada!");
    has("greet: \"Hi from Rust, Grace\"");
    has(
        r#"relay: {"answers":[{"plugin":"rust-greeter","value":"Hi from Rust, Linus"}],"failures":[]}"#,
    );
    has("crash: rust-greeter returned an error: plugin `rust-greeter` exited with status 7");
    has("event: rust-greeter crashed: plugin `rust-greeter` exited with status 7");
    has("event: rust-greeter restarted (attempt 1)");
    has("after the restart: \"Hi from Rust, again\"");
    has("statistics:");
    has("before_request  greeter       calls  1  answers  1  errors  0");
    has("relay           rust-greeter  calls  1  answers  1  errors  0");
    let greet = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("greet           rust-greeter"))
        .expect("statistics of greet");
    // Grace, Linus (relayed back through the host), again; the crash is an error.
    assert!(greet.contains("answers  3  errors  1"), "{greet}");
    has("stopped cleanly: true");
}
