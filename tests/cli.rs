//! The operator CLI: the real `hookwire` binary against fixture folders (output and exit
//! codes), and `hookwire::cli::run` embedded with a host that has a linked plugin.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use assert_cmd::Command;
use hookwire::{Plugin, PluginHost, PluginMeta, RegisterError, Registrar};
use predicates::prelude::*;
use predicates::str::contains;
use tempfile::TempDir;

fn hookwire() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hookwire"))
}

/// A plugin folder with `(name, manifest body)` entries, each as `<name>/plugin.toml`, and
/// an executable `<name>/<name>` (what `process(..)` manifests run).
fn folder(plugins: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in plugins {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("plugin.toml"), body).unwrap();
        let exe = dir.path().join(name).join(name);
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    dir
}

fn process(name: &str, version: &str, extra: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"{version}\"\nkind = \"process\"\n[process]\ncommand = [\"./{name}\"]\n{extra}"
    )
}

fn valid_set() -> TempDir {
    folder(&[
        ("audit", &process("audit", "1.2.0", "")),
        (
            "token-auth",
            &process("token-auth", "2.0.0", "[requires]\naudit = \"^1\"\n"),
        ),
        (
            "beta",
            "name = \"beta\"\nversion = \"0.1.0\"\nkind = \"process\"\n[process]\ncommand = [\"b\"]\n[conditions]\nfeatures = [\"beta\"]\n",
        ),
    ])
}

fn p(dir: &TempDir) -> &Path {
    dir.path()
}

#[test]
fn list_prints_a_table_sorted_by_name_with_every_column() {
    let dir = valid_set();
    let out = hookwire()
        .args(["plugins", "list"])
        .arg(p(&dir))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "VERSION", "KIND", "ENABLED", "LAZY", "SOURCE", "STATUS"]
    );
    let names: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["audit", "beta", "token-auth"]);
    let audit: Vec<&str> = lines[1].split_whitespace().take(5).collect();
    assert_eq!(audit, ["audit", "1.2.0", "process", "yes", "no"]);
    assert!(lines[1].contains(&format!(
        "{}",
        dir.path().join("audit/plugin.toml").display()
    )));
    #[cfg(feature = "process")]
    assert!(lines[1].ends_with("process: started by its host"), "{text}");
    #[cfg(not(feature = "process"))]
    assert!(lines[1].ends_with(
        "found, not loadable: process plugins need hookwire's cargo feature `process`; enable it"
    ));
    assert!(
        lines[2].contains("skipped: the host does not declare feature \"beta\""),
        "{text}"
    );
    let beta: Vec<&str> = lines[2].split_whitespace().take(4).collect();
    assert_eq!(beta, ["beta", "0.1.0", "process", "no"]);
}

#[test]
fn list_json_parses_back_with_every_field() {
    let dir = valid_set();
    let out = hookwire()
        .args(["plugins", "list", "--json", "--feature", "beta"])
        .arg(p(&dir))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let plugins = json["plugins"].as_array().unwrap();
    let names: Vec<&str> = plugins
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["audit", "beta", "token-auth"]);
    let auth = &plugins[2];
    assert_eq!(auth["version"], "2.0.0");
    assert_eq!(auth["kind"], "process");
    assert_eq!(auth["enabled"], true);
    assert_eq!(auth["lazy"], false);
    assert_eq!(auth["problem"], false);
    assert_eq!(
        auth["source"],
        dir.path()
            .join("token-auth/plugin.toml")
            .display()
            .to_string()
    );
    // `--feature beta` satisfies beta's condition.
    assert_eq!(plugins[1]["enabled"], true);
    assert_eq!(json["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn check_of_a_valid_set_exits_0() {
    let dir = valid_set();
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(0)
        .stdout(contains("ok: 3 plugins checked, no problems"))
        .stdout(contains(
            "note: `beta` is skipped: the host does not declare feature \"beta\"",
        ))
        .stdout(contains("error:").not());
}

/// A process plugin whose program is not there, or not executable, fails the check; a bare
/// program name not in `PATH` is a note (the host may have another `PATH`).
#[cfg(unix)]
#[test]
fn a_process_plugin_whose_program_cannot_start_fails_the_check() {
    use std::os::unix::fs::PermissionsExt;
    let dir = folder(&[
        ("audit", &process("audit", "1.2.0", "")),
        (
            "gone",
            "name = \"gone\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"bin/gone-plugin\"]\n",
        ),
        ("plain", &process("plain", "1.0.0", "")),
        (
            "py4",
            "name = \"py4\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"python4-is-not-here\", \"main.py\"]\n",
        ),
    ]);
    let plain = dir.path().join("plain/plain");
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
    let gone = dir.path().join("gone/bin/gone-plugin");
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(1)
        .stdout(contains(format!(
            "error: `gone`: process.command: `bin/gone-plugin` does not exist ({}); the host cannot start it",
            gone.display()
        )))
        .stdout(contains(format!(
            "error: `plain`: process.command: `./plain` is not executable ({}); `chmod +x` it",
            dir.path().join("plain/./plain").display()
        )))
        .stdout(contains(
            "note: `py4`: process.command: `python4-is-not-here` is not in this PATH; the host will look for it in its own",
        ))
        .stdout(contains("`audit`").not())
        .stdout(contains("2 problems in 4 plugins"));
}

#[test]
fn a_bad_manifest_is_an_error_with_file_line_and_column() {
    let dir = folder(&[
        ("audit", &process("audit", "1.2.0", "")),
        (
            "bad",
            "name = \"bad\"\nversion = \"1.2\"\nkind = \"linked\"\n",
        ),
    ]);
    let want = format!(
        "error: {}:2:11: version \"1.2\" is not semver (expected MAJOR.MINOR.PATCH)",
        dir.path().join("bad/plugin.toml").display()
    );
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(1)
        .stdout(contains(want))
        .stdout(contains("1 problem in 2 plugins"));
    // `list` shows it too, but a listing is not a check: exit 0.
    hookwire()
        .args(["plugins", "list"])
        .arg(p(&dir))
        .assert()
        .code(0)
        .stdout(contains("invalid manifest: "));
}

#[test]
fn a_missing_dependency_fails_the_check() {
    let dir = folder(&[(
        "token-auth",
        &process("token-auth", "2.0.0", "[requires]\naudit = \"^1\"\n"),
    )]);
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(1)
        .stdout(contains(
            "error: plugin `token-auth` requires `audit` ^1, but no plugin `audit` is present",
        ));
}

#[test]
fn a_version_mismatch_fails_the_check() {
    let dir = folder(&[
        ("audit", &process("audit", "1.2.0", "")),
        (
            "token-auth",
            &process("token-auth", "2.0.0", "[requires]\naudit = \"^2\"\n"),
        ),
    ]);
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(1)
        .stdout(contains(
            "error: plugin `token-auth` requires `audit` ^2, but `audit` 1.2.0 is present",
        ));
}

#[test]
fn a_declared_conflict_fails_the_check() {
    let dir = folder(&[
        ("legacy-auth", &process("legacy-auth", "1.0.0", "")),
        (
            "token-auth",
            &process("token-auth", "2.0.0", "[conflicts]\nlegacy-auth = \"<2\"\n"),
        ),
    ]);
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(1)
        .stdout(contains(
            "error: plugin `token-auth` is incompatible with `legacy-auth` <2, but `legacy-auth` 1.0.0 is present",
        ));
}

fn cycle() -> TempDir {
    folder(&[
        ("a", &process("a", "1.0.0", "[requires]\nb = \"^1\"\n")),
        ("b", &process("b", "1.0.0", "[requires]\na = \"^1\"\n")),
        ("c", &process("c", "1.0.0", "[requires]\na = \"^1\"\n")),
    ])
}

#[test]
fn a_cycle_fails_the_check_and_the_graph_marks_it() {
    let dir = cycle();
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(1)
        .stdout(contains(
            "error: plugins depend on each other in a cycle: a -> b -> a",
        ));
    hookwire()
        .args(["plugins", "graph"])
        .arg(p(&dir))
        .assert()
        .code(0)
        .stdout(
            "a 1.0.0\n  -> b ^1  [CYCLE]\nb 1.0.0\n  -> a ^1  [CYCLE]\nc 1.0.0\n  -> a ^1\ncycle: a -> b -> a\n",
        );
}

#[test]
fn the_dot_graph_colours_cycle_edges_and_dashes_missing_plugins() {
    let dir = cycle();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(
        dir.path().join("d/plugin.toml"),
        process("d", "0.1.0", "[requires]\nzed = \"^3\"\n"),
    )
    .unwrap();
    hookwire()
        .args(["plugins", "graph", "--format", "dot"])
        .arg(p(&dir))
        .assert()
        .code(0)
        .stdout(concat!(
            "digraph plugins {\n",
            "  \"a\" [label=\"a 1.0.0\"];\n",
            "  \"b\" [label=\"b 1.0.0\"];\n",
            "  \"c\" [label=\"c 1.0.0\"];\n",
            "  \"d\" [label=\"d 0.1.0\"];\n",
            "  \"zed\" [label=\"zed (missing)\", style=dashed];\n",
            "  \"a\" -> \"b\" [label=\"^1\", color=red, fontcolor=red]; // cycle\n",
            "  \"b\" -> \"a\" [label=\"^1\", color=red, fontcolor=red]; // cycle\n",
            "  \"c\" -> \"a\" [label=\"^1\"];\n",
            "  \"d\" -> \"zed\" [label=\"^3\"];\n",
            "}\n",
        ));
}

#[test]
fn standalone_a_dependency_on_a_linked_plugin_is_unchecked_not_an_error() {
    // `greeter` is linked into the host; its manifest's version (0.9.0) need not be the
    // linked plugin's, so `^1` is not held against it.
    let dir = folder(&[
        (
            "greeter",
            "name = \"greeter\"\nversion = \"0.9.0\"\nkind = \"linked\"\n",
        ),
        (
            "app",
            &process("app", "1.0.0", "[requires]\ngreeter = \"^1\"\n"),
        ),
    ]);
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(0)
        .stdout(contains(
            "note: `app` requires `greeter` ^1: unchecked, `greeter` is a linked plugin",
        ))
        .stdout(contains("ok: 2 plugins checked, no problems"));
    hookwire()
        .args(["plugins", "graph"])
        .arg(p(&dir))
        .assert()
        .stdout(contains("  -> greeter ^1  [unchecked: linked]"));
    hookwire()
        .args(["plugins", "list"])
        .arg(p(&dir))
        .assert()
        .stdout(contains(
            "linked: not visible to the standalone binary (unchecked)",
        ));
}

#[test]
fn new_scaffolds_a_plugin_that_checks_clean() {
    let dir = tempfile::tempdir().unwrap();
    hookwire()
        .args(["plugins", "new", "token-auth", "--dir"])
        .arg(p(&dir))
        .assert()
        .code(0)
        .stdout(contains("created "));
    let manifest = dir.path().join("token-auth/plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("name = \"token-auth\""), "{text}");
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(0)
        .stdout(contains("ok: 1 plugin checked, no problems"));
    // A second `new` of the same name does not overwrite it.
    hookwire()
        .args(["plugins", "new", "token-auth", "--dir"])
        .arg(p(&dir))
        .assert()
        .code(1)
        .stderr(contains("exists already"));
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);
}

#[test]
fn new_refuses_a_bad_name() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["Token", "_x", "a b", "../up"] {
        hookwire()
            .args(["plugins", "new", bad, "--dir"])
            .arg(p(&dir))
            .assert()
            .code(1)
            .stderr(contains(format!(
                "error: `{bad}` is not a valid plugin name"
            )));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    hookwire()
        .args(["plugins", "check"])
        .assert()
        .code(2)
        .stderr(contains("Usage: hookwire plugins check"));
    hookwire()
        .args(["plugins", "graph", "--format", "svg", "."])
        .assert()
        .code(2)
        .stderr(contains("svg"));
}

// Embedded: a host's binary links its plugins, so the CLI sees them.

#[derive(Default)]
struct Greeter;
impl Plugin for Greeter {
    fn meta(&self) -> PluginMeta {
        PluginMeta::new("greeter", "0.9.0")
    }
    fn register(self: Arc<Self>, _: &mut Registrar) -> Result<(), RegisterError> {
        Ok(())
    }
}
hookwire::submit_plugin!(Greeter::default);

fn run(args: &[&str], host: Option<&PluginHost>) -> (ExitCode, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = hookwire::cli::run(
        std::iter::once("hookwire").chain(args.iter().copied()),
        host,
        &mut out,
        &mut err,
    );
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    (code, String::from_utf8(out).unwrap())
}

#[test]
fn embedded_the_linked_plugins_version_is_checked() {
    let dir = folder(&[(
        "app",
        &process("app", "1.0.0", "[requires]\ngreeter = \"^1\"\n"),
    )]);
    let folder = dir.path().to_str().unwrap();
    // Standalone, `greeter` (no manifest) is missing.
    let (code, text) = run(&["plugins", "check", folder], None);
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        text.contains("requires `greeter` ^1, but no plugin `greeter` is present"),
        "{text}"
    );
    // Embedded, the linked `greeter` 0.9.0 is seen, and does not match ^1.
    let host = PluginHost::new();
    let (code, text) = run(&["plugins", "check", folder], Some(&host));
    assert_eq!(code, ExitCode::FAILURE);
    assert!(
        text.contains("error: plugin `app` requires `greeter` ^1, but `greeter` 0.9.0 is present"),
        "{text}"
    );
    let (code, text) = run(&["plugins", "list", folder], Some(&PluginHost::new()));
    assert_eq!(code, ExitCode::SUCCESS);
    let greeter: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("greeter"))
        .unwrap()
        .split_whitespace()
        .take(6)
        .collect();
    assert_eq!(
        greeter[..5],
        ["greeter", "0.9.0", "linked", "yes", "no"],
        "{text}"
    );
    assert!(greeter[5].starts_with("linked"), "{text}");
}

#[test]
fn check_prints_every_problem_in_one_run() {
    let dir = folder(&[
        ("audit", &process("audit", "1.2.0", "")),
        (
            "bad",
            "name = \"bad\"\nversion = \"1.2\"\nkind = \"linked\"\n",
        ),
        (
            "token-auth",
            &process(
                "token-auth",
                "2.0.0",
                "[requires]\naudit = \"^2\"\nmetrics = \"^1\"\n[conflicts]\naudit = \"<1.3\"\n",
            ),
        ),
    ]);
    let out = hookwire()
        .args(["plugins", "check"])
        .arg(p(&dir))
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 4, "{text}");
    assert!(errors[0].contains("bad/plugin.toml:2:11: version \"1.2\" is not semver"));
    assert!(errors[1..]
        .iter()
        .any(|e| e.contains("requires `metrics` ^1, but no plugin")));
    assert!(errors[1..]
        .iter()
        .any(|e| e.contains("requires `audit` ^2, but `audit` 1.2.0")));
    assert!(errors[1..]
        .iter()
        .any(|e| e.contains("incompatible with `audit` <1.3")));
    assert!(text.ends_with("4 problems in 3 plugins\n"), "{text}");
}

#[test]
fn a_later_folder_wins_a_name_and_the_check_says_so() {
    let system = folder(&[("audit", &process("audit", "1.0.0", ""))]);
    let project = folder(&[("audit", &process("audit", "1.5.0", ""))]);
    hookwire()
        .args(["plugins", "list"])
        .arg(p(&system))
        .arg(p(&project))
        .assert()
        .code(0)
        .stdout(contains("audit  1.5.0"))
        .stdout(contains("1.0.0").not());
    hookwire()
        .args(["plugins", "check"])
        .arg(p(&system))
        .arg(p(&project))
        .assert()
        .code(0)
        .stdout(contains(format!(
            "note: `audit`: {} is used; {} is ignored (a later folder wins)",
            project.path().join("audit/plugin.toml").display(),
            system.path().join("audit/plugin.toml").display()
        )));
}

/// A plugin disabled in the host's configuration is not started, so its program need not be
/// there (an operator disables it on the machines that lack it): the dependency check leaves
/// it out, but the program check still fails the run on it.
#[test]
fn check_does_not_fail_on_the_missing_program_of_a_disabled_plugin() {
    let dir = folder(&[(
        "gone",
        "name = \"gone\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"bin/gone-plugin\"]\n",
    )]);
    let host = PluginHost::builder()
        .config(
            hookwire::config::HostConfig::parse(
                "[plugins.gone]\nenabled = false\n",
                "hookwire.toml",
            )
            .unwrap(),
        )
        .build();
    let (code, text) = run(
        &["plugins", "check", dir.path().to_str().unwrap()],
        Some(&host),
    );
    assert_eq!(code, ExitCode::SUCCESS, "{text}");
}
