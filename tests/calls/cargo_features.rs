//! The cargo features keep the core light: what each feature set makes the library depend on,
//! read from `cargo tree` (the lock file's resolution; nothing is compiled).

use std::collections::BTreeSet;
use std::process::Command;

/// The crates `hookwire` depends on (normal dependencies, transitively) with `features` and no
/// default features.
fn dependencies(features: &[&str]) -> BTreeSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args(["tree", "--offline", "--quiet", "--manifest-path", manifest])
        .args(["-p", "hookwire", "--no-default-features", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"]);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "hookwire")
        .map(str::to_owned)
        .collect()
}

/// The crates of the optional layers, each named by the feature that should bring it.
const OPTIONAL: [(&str, &str); 5] = [
    ("serde_json", "json"),
    ("toml", "config"),
    ("serde_ignored", "config"),
    ("semver", "plugins"),
    ("hookwire-macros", "macros"),
];

/// Which of the optional crates `deps` holds.
fn optional_in(deps: &BTreeSet<String>) -> Vec<&'static str> {
    OPTIONAL
        .iter()
        .map(|(krate, _)| *krate)
        .filter(|krate| deps.contains(*krate))
        .collect()
}

#[test]
fn without_default_features_the_library_needs_no_json_toml_semver_or_macro_crate() {
    let deps = dependencies(&[]);
    assert_eq!(optional_in(&deps), Vec::<&str>::new(), "{deps:?}");
    // The engine's own: still there.
    for core in ["tokio", "futures", "tracing", "arc-swap", "petgraph"] {
        assert!(deps.contains(core), "{core} missing from {deps:?}");
    }
}

#[test]
fn each_feature_alone_brings_its_own_crates_and_those_of_the_features_it_needs() {
    // `config` and `macros` need the plugin host (`plugins`, so `semver`); `testing` too.
    let cases: [(&str, &[&str]); 5] = [
        ("json", &["serde_json"]),
        ("plugins", &["semver"]),
        ("config", &["toml", "serde_ignored", "semver"]),
        ("macros", &["semver", "hookwire-macros"]),
        ("testing", &["semver"]),
    ];
    for (feature, expected) in cases {
        let deps = dependencies(&[feature]);
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        let mut got = optional_in(&deps);
        got.sort_unstable();
        assert_eq!(got, expected, "feature `{feature}`");
    }
}

#[test]
fn the_default_features_bring_every_optional_layer_but_the_test_kit() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args(["tree", "--offline", "--quiet", "--manifest-path", manifest])
        .args(["-p", "hookwire", "-e", "features", "--depth", "0"])
        .args(["--prefix", "none", "--format", "{p} {f}"])
        .output()
        .expect("cargo runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_default();
    let features: BTreeSet<&str> = line
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .split(',')
        .collect();
    for on in ["default", "macros", "json", "config", "plugins"] {
        assert!(features.contains(on), "`{on}` not on by default: {line}");
    }
    assert!(
        !features.contains("testing"),
        "`testing` on by default: {line}"
    );
}
