//! FIFOs where a pinned file or a signature goes, end to end: one plugin refused, in time,
//! and nothing else held up (review 12's probes).

use std::path::Path;
use std::time::Duration;

use hookwire::discovery::{DiscoveryOptions, DiscoveryStatus};
use hookwire::security::{sign_plugin, PrivateKey, SecurityPolicy, SignaturePolicy, TrustLevel};

use crate::{discover, host, plugin, status, FIXTURE};

/// Makes a FIFO at `path` (`mkfifo`).
fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// A pinned process plugin is discovered, then its `plugin.py` is replaced by a FIFO: the
/// start fails at once with `NotAFile` (it used to wait for a writer on a blocking thread,
/// for ever), and the host shuts down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_with_a_fifo_for_a_pinned_file_fails_in_time() {
    let root = tempfile::tempdir().unwrap();
    let dir = plugin(root.path(), "fifo", "", "", Some(FIXTURE));
    let host = host(
        SecurityPolicy::builder()
            .folder(root.path(), TrustLevel::Trusted)
            .build()
            .unwrap(),
    );
    let report = discover(&host, root.path(), DiscoveryOptions::new());
    assert!(status(&report, "fifo").is_loaded(), "{report}");
    std::fs::remove_file(dir.join("plugin.py")).unwrap();
    mkfifo(&dir.join("plugin.py"));
    let started = tokio::time::timeout(Duration::from_secs(5), host.start()).await;
    if started.is_err() {
        // Let a blocked copy end, so that the runtime can shut down.
        let fifo = dir.join("plugin.py");
        tokio::task::spawn_blocking(move || {
            drop(std::fs::OpenOptions::new().write(true).open(fifo));
        })
        .await
        .unwrap();
    }
    host.shutdown(Duration::from_secs(2)).await;
    let report = started
        .expect("host.start() still running after 5 s")
        .unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let (name, why) = &report.failed[0];
    assert_eq!(name, "fifo");
    assert!(
        why.contains("plugin.py: pinned in plugin.toml but not a regular file"),
        "{why}"
    );
}

/// A FIFO named `plugin.toml.sig` in one folder: that plugin's signature is rejected, the
/// other folder's plugin loads, and `discover` returns at once.
#[test]
fn a_fifo_signature_file_rejects_one_plugin_and_blocks_nothing() {
    let root = tempfile::tempdir().unwrap();
    let key = PrivateKey::generate().unwrap();
    let good = plugin(root.path(), "good", "", "", Some(FIXTURE));
    sign_plugin(&good, &key).unwrap();
    let bad = plugin(root.path(), "bad", "", "", Some(FIXTURE));
    let sig = bad.join("plugin.toml.sig");
    mkfifo(&sig);
    let options = DiscoveryOptions::new()
        .signatures(SignaturePolicy::new().require(true).trust(key.public_key()));
    let (tx, rx) = std::sync::mpsc::channel();
    let scan_root = root.path().to_owned();
    let thread = std::thread::spawn(move || {
        let host = host(
            SecurityPolicy::builder()
                .folder(&scan_root, TrustLevel::Trusted)
                .build()
                .unwrap(),
        );
        let report = discover(&host, &scan_root, options);
        let _ = tx.send(["good", "bad"].map(|n| status(&report, n)));
    });
    let got = rx.recv_timeout(Duration::from_secs(3)).ok();
    if got.is_none() {
        drop(std::fs::OpenOptions::new().write(true).open(&sig));
    }
    thread.join().unwrap();
    let [good, bad] = got.expect("discover still blocked after 3 s");
    assert!(matches!(good, DiscoveryStatus::Loaded { .. }), "{good:?}");
    let DiscoveryStatus::SignatureRejected(e) = &bad else {
        panic!("{bad:?}")
    };
    assert!(
        e.to_string().ends_with("plugin.toml.sig: is not a regular file (a FIFO, a device or a folder); write the signature with `hookwire plugins sign <dir> --key <file>`"),
        "{e}"
    );
}
