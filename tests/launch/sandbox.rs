//! Landlock: a confined plugin reads and writes its folder, reads the system, and nothing else.

use hookwire::external::__launch::spawn;
use hookwire::external::{landlock_support, LandlockSupport, LaunchError, LaunchSpec, Sandbox};

use crate::support::{plugin_folder, process_spec, run};

/// The probe's answer, or `None` (and the reason printed) when this kernel has no Landlock.
fn supported() -> bool {
    match landlock_support() {
        LandlockSupport::Supported { .. } => true,
        other => {
            eprintln!("skipped: {other}");
            false
        }
    }
}

/// Writes and reads a file in its folder, lists `/usr`, then tries to read `argv[1]` and to
/// write next to it; prints what happened.
const PROBE: &str = r#"
import os, sys
with open("note.txt", "w") as f:
    f.write("mine")
print("folder:", open("note.txt").read())
print("usr:", len(os.listdir("/usr")) > 0)
try:
    print("other:", open(sys.argv[1]).read())
except PermissionError:
    print("other: denied")
try:
    open(sys.argv[1] + ".new", "w").close()
    print("write other: allowed")
except PermissionError:
    print("write other: denied")
"#;

fn probe_plugin(
    allowed: &str,
) -> (
    tempfile::TempDir,
    tempfile::TempDir,
    std::path::PathBuf,
    LaunchSpec,
) {
    let folder = plugin_folder();
    std::fs::write(folder.path().join("main.py"), PROBE).unwrap();
    let elsewhere = plugin_folder();
    let secret = elsewhere.path().join("secret.txt");
    std::fs::write(&secret, "secret").unwrap();
    let manifest = format!(
        "[process]\ncommand = [\"python3\", \"main.py\", {:?}]\nsandbox = true\n{allowed}",
        secret.to_str().unwrap()
    );
    let allowed = manifest.replace("ELSEWHERE", elsewhere.path().to_str().unwrap());
    let spec = LaunchSpec::from_manifest(&process_spec(&allowed), folder.path());
    (folder, elsewhere, secret, spec)
}

#[test]
fn landlock_support_is_probed_once_and_this_kernel_has_it() {
    let first = landlock_support();
    eprintln!("{first}");
    assert!(
        std::ptr::eq(first, landlock_support()),
        "the same stored answer"
    );
    if let LandlockSupport::Supported { abi } = first {
        assert!(*abi >= 1);
    } else {
        eprintln!("this kernel has no Landlock: {first}");
    }
}

#[tokio::test]
async fn a_confined_python_uses_its_folder_and_reads_usr_but_cannot_read_another_folder() {
    if !supported() {
        return;
    }
    let (_folder, _elsewhere, _secret, spec) = probe_plugin("");
    let done = run(&spec).await;
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        done.stdout,
        "folder: mine\nusr: True\nother: denied\nwrite other: denied\n"
    );

    // The same plugin unconfined reads and writes there: the sandbox is what denied it.
    let mut open = spec.clone();
    open.sandbox = None;
    let done = run(&open).await;
    assert_eq!(
        done.stdout,
        "folder: mine\nusr: True\nother: secret\nwrite other: allowed\n"
    );
}

#[tokio::test]
async fn an_allowed_path_is_readable_but_not_writable_in_the_sandbox() {
    if !supported() {
        return;
    }
    let (_folder, _elsewhere, _secret, spec) = probe_plugin("allowed_paths = [\"ELSEWHERE\"]\n");
    let done = run(&spec).await;
    assert!(done.status.success(), "{done:?}");
    assert_eq!(
        done.stdout,
        "folder: mine\nusr: True\nother: secret\nwrite other: denied\n"
    );
}

#[tokio::test]
async fn a_sandbox_path_that_does_not_exist_fails_the_start_naming_it() {
    if !supported() {
        return;
    }
    let folder = plugin_folder();
    let missing = folder.path().join("no-such-data");
    let spec = LaunchSpec::new("sh", folder.path())
        .args(["-c", "true"])
        .sandbox(Sandbox::new().read_write(folder.path()).read_only(&missing));
    let err = spawn(&spec).unwrap_err();
    assert!(matches!(err, LaunchError::SandboxPath { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "the sandbox path `{}` cannot be opened",
            missing.display()
        )),
        "{message}"
    );
    assert!(
        message.ends_with("create it or remove it from the plugin's allowed paths"),
        "{message}"
    );
}

#[tokio::test]
async fn an_empty_sandbox_denies_even_the_program() {
    if !supported() {
        return;
    }
    let folder = plugin_folder();
    let spec = LaunchSpec::new("sh", folder.path())
        .args(["-c", "true"])
        .sandbox(Sandbox::new());
    // exec itself is denied: the start fails (no unconfined run).
    let err = spawn(&spec).unwrap_err();
    assert!(matches!(err, LaunchError::Spawn { .. }), "{err:?}");
    assert!(err.to_string().contains("Permission denied"), "{err}");
}
