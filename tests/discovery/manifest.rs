//! `plugin.toml`: every field parsed and validated, every error naming the file, the place,
//! the field and what was expected; unreadable files; never a panic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookwire::discovery::{
    ManifestProblem, PluginKind, PluginManifest, RestartPolicy, Scanner, MAX_MANIFEST_BYTES,
};
use proptest::prelude::*;

const PATH: &str = "plugins/auth/plugin.toml";

fn parse_err(text: &str) -> String {
    PluginManifest::parse(text, PATH).unwrap_err().to_string()
}

const FULL: &str = r#"
name = "auth"
version = "1.2.0"
description = "Checks API tokens"
kind = "process"
host_api = "^1"
permissions = ["net", "fs.read"]
lazy = true

[requires]
audit = "^1"
[optional]
metrics = ">=0.3"
[conflicts]
legacy-auth = "<2"

[config]
tokens = ["abc"]
limits = { burst = 5 }

[priority]
authenticate = 10

[conditions]
env_set = ["AUTH_KEYS"]
env = { MODE = "prod" }
os = ["linux", "macos"]
features = ["beta"]

[process]
command = ["python3", "main.py"]
env = { LOG = "info" }
instances = 2
start_timeout_ms = 1500
restart = "never"
[process.limits]
memory_mb = 256
open_files = 1024
call_timeout_ms = 1000
"#;

#[test]
fn every_field_of_a_manifest_is_parsed() {
    let m = PluginManifest::parse(FULL, PATH).unwrap();
    assert_eq!(m.path, Path::new(PATH));
    assert_eq!(m.meta.name, "auth");
    assert_eq!(m.meta.version, Some(semver::Version::new(1, 2, 0)));
    assert_eq!(m.meta.description.as_deref(), Some("Checks API tokens"));
    assert_eq!(m.meta.host_api.as_ref().unwrap().to_string(), "^1");
    let deps: Vec<(String, String, bool)> = m
        .meta
        .dependencies
        .iter()
        .map(|d| (d.name.clone(), d.req.to_string(), d.optional))
        .collect();
    assert_eq!(
        deps,
        [
            ("audit".to_owned(), "^1".to_owned(), false),
            ("metrics".to_owned(), ">=0.3".to_owned(), true)
        ]
    );
    assert_eq!(m.meta.conflicts[0].name, "legacy-auth");
    assert_eq!(m.meta.conflicts[0].req.to_string(), "<2");
    assert_eq!(m.permissions, ["net", "fs.read"]);
    assert!(m.lazy);
    assert_eq!(m.config["tokens"].as_array().unwrap().len(), 1);
    assert_eq!(m.config["limits"]["burst"].as_integer(), Some(5));
    assert_eq!(m.priority["authenticate"], 10);
    assert_eq!(m.conditions.env_set, ["AUTH_KEYS"]);
    assert_eq!(m.conditions.env["MODE"], "prod");
    assert_eq!(m.conditions.os, ["linux", "macos"]);
    assert_eq!(m.conditions.features, ["beta"]);
    let PluginKind::Process(p) = &m.kind else {
        panic!("expected a process manifest, got {:?}", m.kind)
    };
    assert_eq!(p.command, ["python3", "main.py"]);
    assert_eq!(p.env["LOG"], "info");
    assert_eq!(p.instances, 2);
    assert_eq!(p.start_timeout, Duration::from_millis(1500));
    assert_eq!(p.restart, RestartPolicy::Never);
    assert_eq!(p.limits.memory_mb, Some(256));
    assert_eq!(p.limits.open_files, Some(1024));
    assert_eq!(p.limits.call_timeout_ms, Some(1000));
}

#[test]
fn a_minimal_manifest_gets_the_defaults() {
    let m = PluginManifest::parse(
        "name = \"w\"\nversion = \"0.1.0\"\nkind = \"process\"\n[process]\ncommand = [\"w\"]\n",
        "plugins/w/plugin.toml",
    )
    .unwrap();
    let PluginKind::Process(p) = &m.kind else {
        panic!("expected a process manifest")
    };
    assert_eq!(p.instances, 1);
    assert_eq!(p.start_timeout, Duration::from_secs(5));
    assert_eq!(p.restart, RestartPolicy::OnFailure);
    assert!(!m.lazy);
    assert!(m.config.is_empty());
}

#[test]
fn a_version_that_is_not_semver_is_reported_at_its_line_and_column() {
    assert_eq!(
        parse_err("name = \"auth\"\nkind = \"linked\"\nversion = \"1.2\"\n"),
        "plugins/auth/plugin.toml:3:11: version \"1.2\" is not semver (expected MAJOR.MINOR.PATCH)"
    );
}

#[test]
fn invalid_values_name_the_field_the_place_and_what_was_expected() {
    let head = "name = \"auth\"\nversion = \"1.0.0\"\nkind = \"linked\"\n";
    let cases: &[(&str, &str)] = &[
        (
            "name = \"Auth\"\nversion = \"1.0.0\"\nkind = \"linked\"\n",
            "plugins/auth/plugin.toml:1:8: name \"Auth\" is not a valid plugin name (expected lower-case letters, digits, `-` and `_`, starting with a letter or digit)",
        ),
        (
            "[requires]\naudit = \"^^1\"\n",
            "plugins/auth/plugin.toml:5:9: requires.audit = \"^^1\" is not a semver requirement (expected e.g. \"^1.2\", \">=0.3, <2\")",
        ),
        (
            "[conflicts]\n\"Bad Name\" = \"1\"\n",
            "plugins/auth/plugin.toml:5:14: conflicts names \"Bad Name\", not a valid plugin name (expected lower-case letters, digits, `-` and `_`, starting with a letter or digit)",
        ),
        (
            "host_api = \"one\"\n",
            "plugins/auth/plugin.toml:4:12: host_api = \"one\" is not a semver requirement (expected e.g. \"^1\")",
        ),
        (
            "[conditions]\nos = [\"linx\"]\n",
            "plugins/auth/plugin.toml:5:7: conditions.os names \"linx\", not a known OS (expected one of linux, macos, windows, ios, android, freebsd, netbsd, openbsd, dragonfly, solaris, illumos, haiku, aix, wasi, emscripten)",
        ),
        (
            "permissions = [\"\"]\n",
            "plugins/auth/plugin.toml:4:16: a permission name is empty (expected names such as \"net\")",
        ),
        (
            "[process]\ncommand = [\"x\"]\n",
            "plugins/auth/plugin.toml:4:1: a [process] table in a manifest of kind \"linked\" (expected kind = \"process\", or no [process] table)",
        ),
    ];
    for (tail, want) in cases {
        let text = if tail.starts_with("name") {
            (*tail).to_owned()
        } else {
            format!("{head}{tail}")
        };
        assert_eq!(&parse_err(&text), want, "for:\n{text}");
    }
}

#[test]
fn process_tables_are_validated() {
    let head = "name = \"auth\"\nversion = \"1.0.0\"\nkind = \"process\"\n";
    let cases: &[(&str, &str)] = &[
        (
            "",
            "plugins/auth/plugin.toml: kind = \"process\" needs a [process] table (expected at least `command = [\"program\", \"arg\"]`)",
        ),
        (
            "[process]\ncommand = []\n",
            "plugins/auth/plugin.toml:5:11: process.command is empty (expected the program and its arguments, e.g. [\"python3\", \"main.py\"])",
        ),
        (
            "[process]\ncommand = [\"x\"]\ninstances = 0\n",
            "plugins/auth/plugin.toml:6:13: process.instances is 0 (expected at least 1)",
        ),
        (
            "[process]\ncommand = [\"x\"]\nstart_timeout_ms = 0\n",
            "plugins/auth/plugin.toml:6:20: process.start_timeout_ms is 0 (expected a time in milliseconds, at least 1)",
        ),
        (
            "[process]\ncommand = [\"x\"]\n[process.limits]\nmemory_mb = 0\n",
            "plugins/auth/plugin.toml:6:1: process.limits.memory_mb is 0 (expected at least 1, or no limit: leave it out)",
        ),
    ];
    for (tail, want) in cases {
        let text = format!("{head}{tail}");
        assert_eq!(&parse_err(&text), want, "for:\n{text}");
    }
    // Fields serde rejects: the place, the field and the parser's words.
    let e = parse_err(&format!(
        "{head}[process]\ncommand = [\"x\"]\nrestart = \"always\"\n"
    ));
    assert!(e.starts_with("plugins/auth/plugin.toml:6:11: "), "{e}");
    assert!(
        e.contains("always") && e.contains("on-failure") && e.contains("never"),
        "{e}"
    );
    let e = parse_err(&format!(
        "{head}[process]\ncommand = [\"x\"]\n[process.limits]\ncpu = 1\n"
    ));
    assert!(e.starts_with("plugins/auth/plugin.toml:7:1: "), "{e}");
    assert!(e.contains("unknown field `cpu`"), "{e}");
}

#[test]
fn unknown_missing_and_mistyped_fields_are_reported_with_the_parser_words() {
    let e = parse_err("name = \"auth\"\nversion = \"1.0.0\"\nkind = \"linked\"\nlazzy = true\n");
    assert!(e.starts_with("plugins/auth/plugin.toml:4:1: "), "{e}");
    assert!(e.contains("unknown field `lazzy`"), "{e}");
    assert!(e.contains("`lazy`"), "lists the expected fields: {e}");

    let e = parse_err("name = \"auth\"\nkind = \"linked\"\n");
    assert!(e.contains("missing field `version`"), "{e}");

    let e = parse_err("name = \"auth\"\nversion = \"1.0.0\"\nkind = \"plugin\"\n");
    assert!(e.starts_with("plugins/auth/plugin.toml:3:8: "), "{e}");
    assert!(e.contains("`linked`") && e.contains("`process`"), "{e}");

    let e = parse_err("name = \"auth\"\nversion = \"1.0.0\"\nkind = \"linked\"\n[priority]\nauthenticate = \"high\"\n");
    assert!(
        e.starts_with("plugins/auth/plugin.toml:5:16: priority.authenticate: "),
        "{e}"
    );

    let e = parse_err("name = \"auth\"\nversion = \"1.0.0\"\nkind = \"linked\"\n[priority]\nauthenticate = 99999999999\n");
    assert!(e.starts_with("plugins/auth/plugin.toml:5:16: "), "{e}");

    let e = parse_err("name = \"auth\"\nversion = 1\nkind = \"linked\"\n");
    assert!(
        e.starts_with("plugins/auth/plugin.toml:2:11: version: "),
        "{e}"
    );

    let e = parse_err("name = \"auth\nversion");
    assert!(e.starts_with("plugins/auth/plugin.toml:2:8: "), "{e}");
}

#[test]
fn the_name_rule_is_enforced() {
    use hookwire::discovery::is_valid_name;
    for ok in ["a", "0", "token-auth", "auth_2", "9lives"] {
        assert!(is_valid_name(ok), "{ok}");
    }
    for bad in ["", "-a", "_a", "Auth", "a b", "a.b", "é", "a/b"] {
        assert!(!is_valid_name(bad), "{bad}");
    }
}

fn folder() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(root: &Path, rel: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn valid(name: &str) -> String {
    format!("name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"linked\"\n")
}

#[test]
fn a_manifest_whose_name_differs_from_its_folder_is_rejected() {
    let dir = folder();
    let path = write(dir.path(), "auth/plugin.toml", valid("other"));
    let e = PluginManifest::load(&path).unwrap_err();
    assert!(matches!(e.problem, ManifestProblem::NameMismatch { .. }));
    assert_eq!(
        e.to_string(),
        format!(
            "{}: name \"other\" differs from its folder's name \"auth\"; rename the folder or the plugin",
            path.display()
        )
    );
}

#[test]
fn unreadable_manifests_are_reported_each_with_its_reason() {
    let dir = folder();
    let root = dir.path();
    // A folder where the file should be.
    std::fs::create_dir_all(root.join("dir/plugin.toml")).unwrap();
    // No manifest at all.
    std::fs::create_dir_all(root.join("empty")).unwrap();
    // Too large.
    let big = format!(
        "{}#{}\n",
        valid("big"),
        "x".repeat(MAX_MANIFEST_BYTES as usize)
    );
    write(root, "big/plugin.toml", big);
    // Not UTF-8.
    let mut bytes = valid("latin").into_bytes();
    bytes.extend_from_slice(b"description = \"caf\xe9\"\n");
    write(root, "latin/plugin.toml", bytes);
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        std::fs::create_dir_all(root.join("dangling")).unwrap();
        symlink(root.join("nowhere.toml"), root.join("dangling/plugin.toml")).unwrap();
        std::fs::create_dir_all(root.join("looped")).unwrap();
        symlink(
            root.join("looped/plugin.toml"),
            root.join("looped/plugin.toml"),
        )
        .unwrap();
    }
    write(root, "good/plugin.toml", valid("good"));

    let scan = Scanner::new().scan(&[root]);
    let problem = |name: &str| {
        let p = scan.plugins.iter().find(|p| p.name == name).unwrap();
        p.manifest.as_ref().unwrap_err().clone()
    };
    assert_eq!(problem("dir").problem, ManifestProblem::NotAFile);
    assert_eq!(problem("empty").problem, ManifestProblem::Missing);
    assert!(matches!(
        problem("big").problem,
        ManifestProblem::TooLarge { limit, .. } if limit == MAX_MANIFEST_BYTES
    ));
    assert_eq!(
        problem("latin").problem,
        ManifestProblem::NotUtf8 { offset: 67 }
    );
    assert!(problem("latin").to_string().contains("save it as UTF-8"));
    #[cfg(unix)]
    {
        assert_eq!(
            problem("dangling").problem,
            ManifestProblem::DanglingSymlink
        );
        assert_eq!(problem("looped").problem, ManifestProblem::SymlinkLoop);
        assert!(problem("looped")
            .to_string()
            .starts_with(&root.join("looped/plugin.toml").display().to_string()));
    }
    // One bad manifest never stops the others.
    let good = scan.plugins.iter().find(|p| p.name == "good").unwrap();
    assert_eq!(good.manifest.as_ref().unwrap().meta.name, "good");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let dir = folder();
        let path = write(dir.path(), "x/plugin.toml", &bytes);
        let _ = PluginManifest::load(&path);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = PluginManifest::parse(text, "x/plugin.toml");
        }
    }

    #[test]
    fn arbitrary_toml_ish_text_never_panics_the_parser(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("name = \"auth\"".to_owned()),
                Just("version = \"1.0.0\"".to_owned()),
                Just("kind = \"process\"".to_owned()),
                Just("kind = \"linked\"".to_owned()),
                Just("[process]".to_owned()),
                Just("[process.limits]".to_owned()),
                Just("[conditions]".to_owned()),
                Just("[requires]".to_owned()),
                Just("[priority]".to_owned()),
                Just("[config]".to_owned()),
                "[a-z_.]{1,12} = (\"[^\"\\\\\n]{0,8}\"|-?[0-9]{1,12}|true|\\[\\]|\\{\\})",
                "[\\[\\]\"=a-z0-9 .{},#\n-]{0,30}",
            ],
            0..16,
        )
    ) {
        let _ = PluginManifest::parse(&lines.join("\n"), "x/plugin.toml");
    }
}

/// A field missing at the top of the manifest is named as such, not as the field on line 1,
/// and a missing `kind` says what to write.
#[test]
fn a_missing_top_level_field_names_that_field_and_a_missing_kind_says_what_to_write() {
    assert_eq!(
        parse_err("name = \"auth\"\nversion = \"1.0.0\"\n"),
        "plugins/auth/plugin.toml: missing field `kind`: add kind = \"linked\" (a plugin linked into the host) or kind = \"process\" (a program the host starts)"
    );
    assert_eq!(
        parse_err("# the auth plugin\nname = \"auth\"\nkind = \"linked\"\n"),
        "plugins/auth/plugin.toml: missing field `version`"
    );
    let e = PluginManifest::parse("name = \"auth\"\nkind = \"linked\"\n", PATH).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("version"));
    assert_eq!(e.position, None);
    // Missing in a table: the table's header is the place.
    assert_eq!(
        parse_err("name = \"auth\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\nenv = { A = \"b\" }\n"),
        "plugins/auth/plugin.toml:4:1: process: missing field `command`"
    );
}

/// `command` written as one string: the error shows the list to write.
#[test]
fn a_command_written_as_one_string_shows_the_list_to_write() {
    assert_eq!(
        parse_err("name = \"auth\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = \"python3  main.py --quiet\"\n"),
        "plugins/auth/plugin.toml:5:11: process.command: invalid type: string \"python3  main.py --quiet\", expected a sequence; write the program and its arguments as a list: command = [\"python3\", \"main.py\", \"--quiet\"]"
    );
}

/// With quotes in it, splitting at spaces would show wrong arguments (`'my`, `plugin.py'`):
/// the error shows the form instead.
#[test]
fn a_command_string_with_quotes_shows_the_form_of_the_list_not_a_wrong_split() {
    assert_eq!(
        parse_err("name = \"auth\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = \"python3 'my plugin.py'\"\n"),
        "plugins/auth/plugin.toml:5:11: process.command: invalid type: string \"python3 'my plugin.py'\", expected a sequence; write the program and its arguments as a list of strings: command = [\"program\", \"argument\"]"
    );
}
