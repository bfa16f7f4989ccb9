//! A FIFO (or another file that is not a regular file) where a pinned file or the signature
//! goes: refused at once, never waited for. Someone who can write a plugin's folder — what
//! pins and signatures defend against — must not be able to stall a check or a start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookwire::discovery::PluginManifest;
use hookwire::security::{
    check_pins, verified_copy, verify_signature, IntegrityError, SignatureError, TrustedKeys,
    SIGNATURE_FILE,
};

use crate::{key, process_manifest, sha, write};

/// Makes a FIFO at `path` (`mkfifo`).
pub fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `f` on a thread; `Some(result)` if it returns within `limit`, else `None` (after
/// opening `fifo` for writing, so that a reader blocked on it ends).
fn within<T: Send + 'static>(
    limit: Duration,
    fifo: PathBuf,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    let got = rx.recv_timeout(limit).ok();
    if got.is_none() {
        drop(std::fs::OpenOptions::new().write(true).open(&fifo));
    }
    thread.join().unwrap();
    got
}

/// Review 12's probe: the pinned `main.sh` replaced by a FIFO. `check_pins` (`hookwire
/// plugins verify`) and `verified_copy` (every start) say `NotAFile` at once.
#[test]
fn a_pinned_file_replaced_by_a_fifo_is_refused_not_waited_for() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("fifo");
    std::fs::create_dir_all(&dir).unwrap();
    let text = process_manifest("fifo", &[("main.sh", &sha(b"echo hi\n"))]);
    let manifest = PluginManifest::parse(&text, dir.join("plugin.toml")).unwrap();
    let fifo = dir.join("main.sh");
    mkfifo(&fifo);
    let m = manifest.clone();
    let checked = within(Duration::from_secs(2), fifo.clone(), move || check_pins(&m));
    let copied = within(Duration::from_secs(2), fifo.clone(), move || {
        verified_copy(&manifest, None).map(|_| ())
    });
    let Some([IntegrityError::NotAFile { file, path }]) = checked.as_deref() else {
        panic!("check_pins: {checked:?} (None: still blocked after 2 s)")
    };
    assert_eq!((file.as_str(), path), ("main.sh", &fifo));
    let Some(Err(e @ IntegrityError::NotAFile { .. })) = copied else {
        panic!("verified_copy: {copied:?} (None: still blocked after 2 s)")
    };
    assert_eq!(
        e.to_string(),
        format!(
            "main.sh: pinned in plugin.toml but not a regular file ({}); pin files, not folders",
            fifo.display()
        )
    );
}

/// Review 12's probe, at the level of `verify_signature`: a FIFO named `plugin.toml.sig` is a
/// malformed signature, reported at once.
#[test]
fn a_fifo_signature_file_is_rejected_not_waited_for() {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "bad/plugin.toml",
        "name = \"bad\"\nversion = \"1.0.0\"\nkind = \"linked\"\n",
    );
    let folder = root.path().join("bad");
    let sig = folder.join(SIGNATURE_FILE);
    mkfifo(&sig);
    let mut trusted = TrustedKeys::new();
    trusted.insert(key().public_key());
    let verified = within(Duration::from_secs(2), sig.clone(), move || {
        verify_signature(&folder, &trusted).map(|_| ())
    });
    let Some(Err(SignatureError::Malformed { signature, problem })) = verified else {
        panic!("{verified:?} (None: still blocked after 2 s)")
    };
    assert_eq!(signature, sig);
    assert_eq!(
        problem,
        "is not a regular file (a FIFO, a device or a folder); write the signature with `hookwire plugins sign <dir> --key <file>`"
    );
}
