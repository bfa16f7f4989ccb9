//! `verified_copy`: the pinned files copied into a private folder, the copies hashed, the
//! plugin run from the copy.

use std::path::Path;

use hookwire::discovery::PluginManifest;
use hookwire::security::{check_pins, verified_copy, IntegrityError};

use crate::{process_manifest, sha, write};

const SCRIPT: &[u8] = b"echo original\n";
const EVIL: &[u8] = b"echo replaced\n";

/// A plugin folder `echo` in `root` with `main.sh` and `data.txt` pinned, `notes.txt` not.
fn plugin(root: &Path) -> PluginManifest {
    write(root, "echo/main.sh", SCRIPT);
    write(root, "echo/data/data.txt", b"42");
    write(root, "echo/notes.txt", b"not pinned");
    let text = process_manifest(
        "echo",
        &[("main.sh", &sha(SCRIPT)), ("data/data.txt", &sha(b"42"))],
    );
    let path = write(root, "echo/plugin.toml", &text);
    PluginManifest::load(path).unwrap()
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_verified_copy_is_private_and_holds_exactly_the_pinned_files() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let manifest = plugin(root.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let script = root.path().join("echo/main.sh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let copy = verified_copy(&manifest, Some(state.path())).unwrap();
    assert!(copy.path().starts_with(state.path()));
    assert_eq!(copy.files(), ["data/data.txt", "main.sh"]);
    assert_eq!(std::fs::read(copy.path().join("main.sh")).unwrap(), SCRIPT);
    assert_eq!(
        std::fs::read(copy.path().join("data/data.txt")).unwrap(),
        b"42"
    );
    assert!(
        !copy.path().join("notes.txt").exists(),
        "an unpinned file is not copied"
    );
    assert!(!copy.path().join("plugin.toml").exists());
    #[cfg(unix)]
    {
        assert_eq!(mode(copy.path()), 0o700);
        assert_eq!(mode(&copy.path().join("data")), 0o700);
        assert_eq!(
            mode(&copy.path().join("main.sh")),
            0o700,
            "owner's execute bit kept"
        );
        assert_eq!(mode(&copy.path().join("data/data.txt")), 0o600);
    }
    let dir = copy.path().to_owned();
    drop(copy);
    assert!(!dir.exists(), "the copy is removed when dropped");
}

#[test]
fn a_file_replaced_after_the_copy_does_not_change_what_runs() {
    let root = tempfile::tempdir().unwrap();
    let manifest = plugin(root.path());
    let copy = verified_copy(&manifest, Some(root.path())).unwrap();
    // Swapped in the plugin's folder after the check, before the start.
    std::fs::write(root.path().join("echo/main.sh"), EVIL).unwrap();
    let out = std::process::Command::new("sh")
        .arg("main.sh")
        .current_dir(copy.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"original\n");
}

#[test]
fn a_file_replaced_between_verification_and_start_refuses_the_start() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let manifest = plugin(root.path());
    assert_eq!(check_pins(&manifest), []);
    std::fs::write(root.path().join("echo/main.sh"), EVIL).unwrap();
    let err = verified_copy(&manifest, Some(state.path())).unwrap_err();
    assert_eq!(
        err,
        IntegrityError::Mismatch {
            file: "main.sh".into(),
            expected: sha(SCRIPT),
            found: sha(EVIL),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "main.sh: sha256 is {}, but plugin.toml pins {}; the file changed after it was pinned: restore it, or pin the new file (and sign the manifest again)",
            sha(EVIL),
            sha(SCRIPT)
        )
    );
    assert_eq!(entries(state.path()), 0, "nothing is left behind");
    // Checked in place, the same problem.
    assert_eq!(check_pins(&manifest), [err]);
}

#[test]
fn a_missing_pinned_file_refuses_the_start() {
    let root = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let manifest = plugin(root.path());
    std::fs::remove_file(root.path().join("echo/data/data.txt")).unwrap();
    let err = verified_copy(&manifest, Some(state.path())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "data/data.txt: pinned in plugin.toml but missing ({}); restore it or remove its pin",
            root.path().join("echo/data/data.txt").display()
        )
    );
    assert_eq!(entries(state.path()), 0, "nothing is left behind");
}

#[test]
fn a_pinned_folder_is_not_a_file() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("echo/lib")).unwrap();
    let path = write(
        root.path(),
        "echo/plugin.toml",
        process_manifest("echo", &[("lib", &"0".repeat(64))]),
    );
    let manifest = PluginManifest::load(path).unwrap();
    let err = verified_copy(&manifest, Some(root.path())).unwrap_err();
    assert!(
        matches!(err, IntegrityError::NotAFile { ref file, .. } if file == "lib"),
        "{err}"
    );
}

#[test]
fn a_manifest_that_pins_nothing_cannot_be_started_from_a_copy() {
    let root = tempfile::tempdir().unwrap();
    let path = write(
        root.path(),
        "echo/plugin.toml",
        process_manifest("echo", &[]),
    );
    let manifest = PluginManifest::load(&path).unwrap();
    assert_eq!(
        verified_copy(&manifest, Some(root.path())).unwrap_err().to_string(),
        format!(
            "{}: pins no file (no [sha256] table); pin the program or script the plugin runs and every file beside it",
            path.display()
        )
    );
}

#[test]
fn each_start_gets_its_own_copy() {
    let root = tempfile::tempdir().unwrap();
    let manifest = plugin(root.path());
    let first = verified_copy(&manifest, Some(root.path())).unwrap();
    let second = verified_copy(&manifest, None).unwrap();
    assert_ne!(first.path(), second.path());
    assert!(second.path().starts_with(std::env::temp_dir()));
}
