//! Several plugin folders in order (a later one wins, noted), scanned concurrently; the
//! scanner's cache re-parses only what changed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hookwire::discovery::Scanner;

fn write(root: &Path, rel: &str, text: &str) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn manifest(name: &str, description: &str) -> String {
    format!("name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"linked\"\ndescription = \"{description}\"\n")
}

/// Sets a file's modification time `ago` before now.
fn age(path: &Path, ago: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

fn set_time(path: &Path, at: SystemTime) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(at).unwrap();
}

/// The parsed manifest of `name` in `scan`.
fn manifest_of(
    scan: &hookwire::discovery::Scan,
    name: &str,
) -> std::sync::Arc<hookwire::discovery::PluginManifest> {
    let p = scan.plugins.iter().find(|p| p.name == name).unwrap();
    p.manifest.clone().unwrap()
}

fn description(scan: &hookwire::discovery::Scan, name: &str) -> String {
    let p = scan.plugins.iter().find(|p| p.name == name).unwrap();
    p.manifest
        .as_ref()
        .unwrap()
        .meta
        .description
        .clone()
        .unwrap()
}

#[test]
fn a_later_folder_wins_a_name_and_the_report_notes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (system, user, project) = (
        dir.path().join("system"),
        dir.path().join("user"),
        dir.path().join("project"),
    );
    write(&system, "x/plugin.toml", &manifest("x", "system"));
    write(&system, "y/plugin.toml", &manifest("y", "system"));
    write(
        &system,
        "only-system/plugin.toml",
        &manifest("only-system", "system"),
    );
    write(&user, "y/plugin.toml", &manifest("y", "user"));
    let px = write(&project, "x/plugin.toml", &manifest("x", "project"));
    // Not plugins: a file and a hidden folder in a plugin folder.
    write(&project, "README.md", "plugins live here");
    write(&project, ".git/plugin.toml", "garbage");

    let scan = Scanner::new().scan(&[&system, &user, &project]);
    let names: Vec<&str> = scan.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["only-system", "x", "y"]);
    assert_eq!(description(&scan, "x"), "project");
    assert_eq!(description(&scan, "y"), "user");
    assert_eq!(description(&scan, "only-system"), "system");
    let shadowed: Vec<(&str, &Path, &Path)> = scan
        .shadowed
        .iter()
        .map(|s| (s.name.as_str(), s.used.as_path(), s.ignored.as_path()))
        .collect();
    assert_eq!(
        shadowed,
        [
            (
                "y",
                &*user.join("y/plugin.toml"),
                &*system.join("y/plugin.toml")
            ),
            ("x", &*px, &*system.join("x/plugin.toml")),
        ]
    );
    assert_eq!(scan.stats.folders, 3);
    assert_eq!(scan.stats.manifests, 5);
}

#[test]
fn a_later_invalid_manifest_still_wins_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    write(&a, "x/plugin.toml", &manifest("x", "good"));
    write(&b, "x/plugin.toml", "name = \"x\"\n");
    let scan = Scanner::new().scan(&[&a, &b]);
    assert!(
        scan.plugins[0].manifest.is_err(),
        "the operator's override is broken: say so"
    );
    assert_eq!(scan.shadowed.len(), 1);
}

#[test]
fn a_missing_folder_is_skipped_and_a_file_given_as_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "not-a-folder", "x");
    let good = dir.path().join("good");
    write(&good, "x/plugin.toml", &manifest("x", "good"));
    let scan = Scanner::new().scan(&[dir.path().join("missing"), file.clone(), good]);
    assert_eq!(scan.stats.missing_folders, 1);
    assert_eq!(scan.folder_errors.len(), 1);
    assert_eq!(scan.folder_errors[0].folder, file);
    assert!(scan.folder_errors[0]
        .message
        .starts_with("cannot list the plugin folder: "));
    assert_eq!(scan.plugins.len(), 1, "the other folders are scanned");
}

#[test]
fn a_rescan_re_parses_only_added_touched_and_edited_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let hour = Duration::from_secs(3600);
    let a = write(root, "a/plugin.toml", &manifest("a", "a1"));
    let b = write(root, "b/plugin.toml", &manifest("b", "b1"));
    let c = write(root, "c/plugin.toml", &manifest("c", "c1"));
    for p in [&a, &b, &c] {
        age(p, hour);
    }
    let mut scanner = Scanner::new();
    let cold = scanner.scan(&[root]);
    assert_eq!(
        (cold.stats.parsed, cold.stats.reused, cold.stats.hashed),
        (3, 0, 0)
    );

    // Unchanged: nothing read.
    let warm = scanner.scan(&[root]);
    assert_eq!(
        (warm.stats.parsed, warm.stats.reused, warm.stats.hashed),
        (0, 3, 0)
    );

    // Touched (a new modification time, the same content): read and hashed, not re-parsed;
    // the same parsed manifest (the same `Arc`) is handed out again.
    let before = manifest_of(&warm, "b");
    age(&b, hour / 2);
    let touched = scanner.scan(&[root]);
    assert_eq!(
        (
            touched.stats.parsed,
            touched.stats.reused,
            touched.stats.hashed
        ),
        (0, 3, 1)
    );
    assert!(std::sync::Arc::ptr_eq(&before, &manifest_of(&touched, "b")));

    // Touched again: the status is now the cached one, so nothing is read.
    let again = scanner.scan(&[root]);
    assert_eq!((again.stats.parsed, again.stats.hashed), (0, 0));

    // Edited: re-parsed, the new content seen, in a new manifest.
    let before = manifest_of(&again, "c");
    std::fs::write(&c, manifest("c", "c2, longer")).unwrap();
    age(&c, hour);
    let edited = scanner.scan(&[root]);
    assert_eq!((edited.stats.parsed, edited.stats.reused), (1, 2));
    assert_eq!(description(&edited, "c"), "c2, longer");
    assert!(!std::sync::Arc::ptr_eq(&before, &manifest_of(&edited, "c")));

    // Added: only the new one parsed.
    let d = write(root, "d/plugin.toml", &manifest("d", "d1"));
    age(&d, hour);
    let added = scanner.scan(&[root]);
    assert_eq!((added.stats.parsed, added.stats.reused), (1, 3));

    // Removed: gone from the scan, nothing parsed.
    std::fs::remove_dir_all(root.join("a")).unwrap();
    let removed = scanner.scan(&[root]);
    assert_eq!((removed.stats.parsed, removed.stats.reused), (0, 3));
    let names: Vec<&str> = removed.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["b", "c", "d"]);
}

#[test]
fn a_too_recent_modification_time_is_not_trusted_so_same_size_edits_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "x/plugin.toml", &manifest("x", "one"));
    // Just written: its time is within TRUSTED_AGE of the scan.
    let when = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut scanner = Scanner::new();
    assert_eq!(scanner.scan(&[dir.path()]).stats.parsed, 1);

    // Same content: read and hashed, not re-parsed.
    let same = scanner.scan(&[dir.path()]);
    assert_eq!(
        (same.stats.parsed, same.stats.hashed, same.stats.reused),
        (0, 1, 1)
    );

    // An edit of the same size within the same time tick: same size and time, new content.
    // (Where the platform gives a status-change time, the new one already tells, so the file
    // is re-parsed without a hash comparison; within one tick of that time too, the hash
    // would tell.)
    std::fs::write(&path, manifest("x", "two")).unwrap();
    set_time(&path, when);
    let edited = scanner.scan(&[dir.path()]);
    assert_eq!(edited.stats.parsed, 1);
    assert_eq!(description(&edited, "x"), "two");
}

#[test]
fn an_invalid_manifest_is_cached_too_and_re_parsed_once_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "x/plugin.toml", "name = \"x\"\n");
    age(&path, Duration::from_secs(3600));
    let mut scanner = Scanner::new();
    assert!(scanner.scan(&[dir.path()]).plugins[0].manifest.is_err());
    let again = scanner.scan(&[dir.path()]);
    assert_eq!(again.stats.parsed, 0);
    assert!(again.plugins[0].manifest.is_err());
    std::fs::write(&path, manifest("x", "fixed")).unwrap();
    age(&path, Duration::from_secs(1800));
    let fixed = scanner.scan(&[dir.path()]);
    assert_eq!(description(&fixed, "x"), "fixed");
}

#[cfg(unix)]
#[test]
fn a_plugin_folder_may_be_a_symbolic_link_to_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    write(&elsewhere, "x/plugin.toml", &manifest("x", "linked folder"));
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("x"), plugins.join("x")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("nowhere"), plugins.join("dangling")).unwrap();
    let scan = Scanner::new().scan(&[&plugins]);
    assert_eq!(scan.plugins.len(), 1);
    assert_eq!(description(&scan, "x"), "linked folder");
}
