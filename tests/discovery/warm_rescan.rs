//! A warm rescan (the same `Scanner` again) sees every change a cold scan sees, even the ones
//! that keep a manifest's size and modification time: an edit whose old time is restored, a
//! file renamed over the manifest, a symbolic link pointed at another file.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hookwire::discovery::{ManifestProblem, Scan, Scanner};

const HOUR: Duration = Duration::from_secs(3600);

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    path.to_owned()
}

/// A manifest whose size does not depend on `description` as long as it has 2 characters.
fn manifest(name: &str, description: &str) -> String {
    format!("name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"linked\"\ndescription = \"{description}\"\n")
}

fn set_time(path: &Path, at: SystemTime) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(at).unwrap();
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn description(scan: &Scan, name: &str) -> String {
    let p = scan.plugins.iter().find(|p| p.name == name).unwrap();
    let manifest = p.manifest.as_ref().unwrap();
    manifest.meta.description.clone().unwrap()
}

/// A scanner that has cached `root` and trusts it: a second scan reuses every manifest
/// without reading it.
fn warm_scanner(root: &Path, plugins: usize) -> Scanner {
    let mut scanner = Scanner::new();
    assert_eq!(scanner.scan(&[root]).stats.parsed, plugins);
    let warm = scanner.scan(&[root]);
    assert_eq!(
        (warm.stats.parsed, warm.stats.reused, warm.stats.hashed),
        (0, plugins, 0),
        "nothing changed: nothing read"
    );
    scanner
}

#[test]
fn a_same_size_edit_that_restores_the_old_modification_time_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir.path().join("x/plugin.toml"), &manifest("x", "v1"));
    set_time(&path, SystemTime::now() - HOUR);
    let old_time = modified(&path);
    let mut scanner = warm_scanner(dir.path(), 1);

    // What `touch -r`, `cp -p` or `rsync -t` do: same size, the old time put back.
    std::fs::write(&path, manifest("x", "v2")).unwrap();
    set_time(&path, old_time);
    assert_eq!(modified(&path), old_time);
    let rescan = scanner.scan(&[dir.path()]);
    assert_eq!(rescan.stats.parsed, 1);
    assert_eq!(description(&rescan, "x"), "v2");
    // And a cold scan agrees.
    assert_eq!(description(&Scanner::new().scan(&[dir.path()]), "x"), "v2");
}

#[test]
fn a_manifest_replaced_by_a_renamed_file_of_the_same_size_and_time_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir.path().join("x/plugin.toml"), &manifest("x", "v1"));
    set_time(&path, SystemTime::now() - HOUR);
    let old_time = modified(&path);
    let mut scanner = warm_scanner(dir.path(), 1);

    // An editor's or a deploy tool's save: a new file renamed over the old one, here with the
    // same size and the same modification time.
    let new = write(&dir.path().join("x/.plugin.toml.new"), &manifest("x", "v2"));
    set_time(&new, old_time);
    std::fs::rename(&new, &path).unwrap();
    assert_eq!(modified(&path), old_time);
    let rescan = scanner.scan(&[dir.path()]);
    assert_eq!(rescan.stats.parsed, 1);
    assert_eq!(description(&rescan, "x"), "v2");
}

#[cfg(unix)]
#[test]
fn a_symlinked_manifest_whose_target_changes_is_seen() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    let a = write(&dir.path().join("shared/a.toml"), &manifest("x", "aa"));
    let b = write(&dir.path().join("shared/b.toml"), &manifest("x", "bb"));
    let past = SystemTime::now() - HOUR;
    set_time(&a, past);
    set_time(&b, past);
    std::fs::create_dir_all(plugins.join("x")).unwrap();
    let link = plugins.join("x/plugin.toml");
    symlink(&a, &link).unwrap();
    let mut scanner = warm_scanner(&plugins, 1);
    assert_eq!(description(&scanner.scan(&[&plugins]), "x"), "aa");

    // The link pointed at another file of the same size and time.
    std::fs::remove_file(&link).unwrap();
    symlink(&b, &link).unwrap();
    let repointed = scanner.scan(&[&plugins]);
    assert_eq!(repointed.stats.parsed, 1);
    assert_eq!(description(&repointed, "x"), "bb");

    // The target edited in place (a new time).
    std::fs::write(&b, manifest("x", "b2")).unwrap();
    set_time(&b, past + Duration::from_secs(60));
    let edited = scanner.scan(&[&plugins]);
    assert_eq!(edited.stats.parsed, 1);
    assert_eq!(description(&edited, "x"), "b2");

    // The target removed: the link dangles.
    std::fs::remove_file(&b).unwrap();
    let dangling = scanner.scan(&[&plugins]);
    let err = dangling.plugins[0].manifest.as_ref().unwrap_err();
    assert_eq!(err.problem, ManifestProblem::DanglingSymlink);
    assert_eq!(err.path, link);
}

#[test]
fn a_rescan_sees_added_and_removed_folders_and_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let past = SystemTime::now() - HOUR;
    for name in ["a", "b", "c"] {
        let path = write(&root.join(name).join("plugin.toml"), &manifest(name, "v1"));
        set_time(&path, past);
    }
    let mut scanner = warm_scanner(root, 3);

    // A folder added (with a manifest as old as the others), one removed, one manifest
    // removed from its folder, one folder replaced by a file.
    let d = write(&root.join("d/plugin.toml"), &manifest("d", "v1"));
    set_time(&d, past);
    std::fs::remove_dir_all(root.join("a")).unwrap();
    std::fs::remove_file(root.join("b/plugin.toml")).unwrap();
    std::fs::remove_dir_all(root.join("c")).unwrap();
    std::fs::write(root.join("c"), "not a folder").unwrap();
    let rescan = scanner.scan(&[root]);
    let names: Vec<&str> = rescan.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["b", "d"]);
    assert_eq!(rescan.stats.parsed, 1);
    let b = rescan.plugins[0].manifest.as_ref().unwrap_err();
    assert_eq!(b.problem, ManifestProblem::Missing);
    assert_eq!(b.path, root.join("b/plugin.toml"));
    assert_eq!(description(&rescan, "d"), "v1");

    // The manifest back, as old as before: read again (the cache forgot the missing one).
    let b = write(&root.join("b/plugin.toml"), &manifest("b", "v2"));
    set_time(&b, past);
    let back = scanner.scan(&[root]);
    assert_eq!((back.stats.parsed, back.stats.reused), (1, 1));
    assert_eq!(description(&back, "b"), "v2");
}

/// Sets a folder's modification time.
fn set_folder_time(path: &Path, at: SystemTime) {
    std::fs::File::open(path).unwrap().set_modified(at).unwrap();
}

#[test]
fn an_unchanged_old_folder_is_not_listed_again_yet_added_and_removed_plugin_folders_are_seen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let past = SystemTime::now() - HOUR;
    for name in ["a", "b"] {
        let path = write(&root.join(name).join("plugin.toml"), &manifest(name, "v1"));
        set_time(&path, past);
    }
    set_folder_time(root, past);
    let mut scanner = Scanner::new();
    assert_eq!(scanner.scan(&[root]).stats.listed, 1);
    let warm = scanner.scan(&[root]);
    assert_eq!(
        (warm.stats.listed, warm.stats.reused, warm.stats.manifests),
        (0, 2, 2),
        "the folder did not change: its listing is reused, each manifest still checked"
    );

    // A plugin folder added, and the folder's modification time put back: its status-change
    // time tells.
    let c = write(&root.join("c/plugin.toml"), &manifest("c", "v1"));
    set_time(&c, past);
    set_folder_time(root, past);
    let added = scanner.scan(&[root]);
    assert_eq!((added.stats.listed, added.stats.parsed), (1, 1));
    let names: Vec<&str> = added.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);

    // One removed: its modification time is now (not trusted), so the next scan lists again.
    std::fs::remove_dir_all(root.join("a")).unwrap();
    let removed = scanner.scan(&[root]);
    assert_eq!(removed.stats.listed, 1);
    let names: Vec<&str> = removed.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["b", "c"]);
    assert_eq!(scanner.scan(&[root]).stats.listed, 1, "still too recent");

    // A manifest edited in an unchanged folder: seen without a listing.
    set_folder_time(root, past);
    assert_eq!(scanner.scan(&[root]).stats.listed, 1);
    let b = root.join("b/plugin.toml");
    std::fs::write(&b, manifest("b", "v2")).unwrap();
    set_time(&b, past + Duration::from_secs(1));
    let edited = scanner.scan(&[root]);
    assert_eq!((edited.stats.listed, edited.stats.parsed), (0, 1));
    assert_eq!(description(&edited, "b"), "v2");
}

#[cfg(unix)]
#[test]
fn a_linked_plugin_folder_is_checked_again_even_when_its_folder_is_unchanged() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    let target = dir.path().join("elsewhere/x");
    let past = SystemTime::now() - HOUR;
    let path = write(&target.join("plugin.toml"), &manifest("x", "v1"));
    set_time(&path, past);
    std::fs::create_dir_all(&plugins).unwrap();
    symlink(&target, plugins.join("x")).unwrap();
    set_folder_time(&plugins, past);
    let mut scanner = warm_scanner(&plugins, 1);

    // The link's target is now a file: the link is no longer a plugin folder, as a cold
    // scan says, though nothing changed in `plugins`.
    std::fs::remove_dir_all(&target).unwrap();
    std::fs::write(&target, "a file").unwrap();
    let file = scanner.scan(&[&plugins]);
    assert_eq!(file.stats.listed, 0);
    assert!(file.plugins.is_empty());
    assert!(Scanner::new().scan(&[&plugins]).plugins.is_empty());

    // A folder again.
    std::fs::remove_file(&target).unwrap();
    let path = write(&target.join("plugin.toml"), &manifest("x", "v2"));
    set_time(&path, past);
    let back = scanner.scan(&[&plugins]);
    assert_eq!(back.stats.listed, 0);
    assert_eq!(description(&back, "x"), "v2");
}
