//! The `[sha256]` table of `plugin.toml`: parsed, validated with line and column.

use hookwire::discovery::PluginManifest;

const HEAD: &str = "name = \"echo\"\nversion = \"1.0.0\"\nkind = \"linked\"\n[sha256]\n";

fn parse_err(pins: &str) -> String {
    PluginManifest::parse(&format!("{HEAD}{pins}"), "plugins/echo/plugin.toml")
        .unwrap_err()
        .to_string()
}

#[test]
fn pinned_hashes_are_parsed_and_stored_lower_case() {
    let upper = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    let m = PluginManifest::parse(
        &format!(
            "{HEAD}\"main.py\" = \"{upper}\"\n\"lib/util.py\" = \"{}\"\n",
            upper.to_lowercase()
        ),
        "plugins/echo/plugin.toml",
    )
    .unwrap();
    let pinned: Vec<(&str, &str)> = m
        .pinned
        .iter()
        .map(|(f, h)| (f.as_str(), h.as_str()))
        .collect();
    let lower = upper.to_lowercase();
    assert_eq!(
        pinned,
        [("lib/util.py", lower.as_str()), ("main.py", lower.as_str())]
    );
}

#[test]
fn a_manifest_without_pins_pins_nothing() {
    let m = PluginManifest::parse(
        HEAD.trim_end_matches("[sha256]\n"),
        "plugins/echo/plugin.toml",
    )
    .unwrap();
    assert!(m.pinned.is_empty());
}

#[test]
fn a_pinned_hash_in_the_wrong_format_is_reported_at_its_line_and_column() {
    assert_eq!(
        parse_err("\"main.py\" = \"abc123\"\n"),
        "plugins/echo/plugin.toml:5:13: sha256 of \"main.py\" is \"abc123\", not a sha256 (expected 64 hex digits, as `sha256sum main.py` prints)"
    );
    // 64 characters, one not hex.
    let not_hex = format!("{}g", "0".repeat(63));
    assert_eq!(
        parse_err(&format!("\"main.py\" = \"{not_hex}\"\n")),
        format!("plugins/echo/plugin.toml:5:13: sha256 of \"main.py\" is \"{not_hex}\", not a sha256 (expected 64 hex digits, as `sha256sum main.py` prints)")
    );
    let err = PluginManifest::parse(
        &format!("{HEAD}\"main.py\" = \"abc\"\n"),
        "p/echo/plugin.toml",
    )
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("sha256.\"main.py\""));
    assert_eq!(err.position, Some((5, 13)));
}

#[test]
fn a_pinned_path_that_leaves_the_plugin_folder_is_rejected() {
    let hash = "0".repeat(64);
    for (path, column) in [("../secret", 15), ("/etc/passwd", 17), ("bin/../../x", 17)] {
        assert_eq!(
            parse_err(&format!("\"{path}\" = \"{hash}\"\n")),
            format!("plugins/echo/plugin.toml:5:{column}: sha256 pins {path:?}, a path outside the plugin's folder (expected a relative path without `..`, e.g. \"bin/run.sh\")"),
            "{path}"
        );
    }
    assert_eq!(
        parse_err(&format!("\"\" = \"{hash}\"\n")),
        "plugins/echo/plugin.toml:5:6: sha256 pins a file with an empty path (expected a path in the plugin's folder, e.g. \"main.py\")"
    );
}

#[test]
fn a_pins_table_of_the_wrong_type_is_a_syntax_error_naming_the_field() {
    let err = PluginManifest::parse(
        "name = \"echo\"\nversion = \"1.0.0\"\nkind = \"linked\"\nsha256 = \"abc\"\n",
        "plugins/echo/plugin.toml",
    )
    .unwrap_err();
    assert_eq!(err.position.map(|p| p.0), Some(4));
    assert!(err.to_string().contains("sha256"), "{err}");
}

/// Review 12's probe: `main.sh` and `./main.sh` are one file. Pinned twice, the manifest is
/// refused, naming the manifest, the entry and both spellings (every verified copy used to
/// fail with "File exists" on the private folder); pinned once as `./main.sh`, it is stored
/// as `main.sh`.
#[test]
fn a_file_pinned_under_two_spellings_is_a_manifest_error() {
    let hash = "0".repeat(64);
    assert_eq!(
        parse_err(&format!("\"main.sh\" = \"{hash}\"\n\"./main.sh\" = \"{hash}\"\n")),
        "plugins/echo/plugin.toml:5:13: sha256 pins \"main.sh\" twice, as \"./main.sh\" and as \"main.sh\"; pin each file once, by its path in the plugin's folder (\"main.sh\")"
    );
    let err = PluginManifest::parse(
        &format!("{HEAD}\"lib//a.sh\" = \"{hash}\"\n\"lib/./a.sh\" = \"{hash}\"\n"),
        "plugins/echo/plugin.toml",
    )
    .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("sha256.\"lib//a.sh\""));
    let m = PluginManifest::parse(
        &format!("{HEAD}\"./main.sh\" = \"{hash}\"\n\"lib//a.sh\" = \"{hash}\"\n"),
        "plugins/echo/plugin.toml",
    )
    .unwrap();
    let files: Vec<&str> = m.pinned.keys().map(String::as_str).collect();
    assert_eq!(files, ["lib/a.sh", "main.sh"]);
}
