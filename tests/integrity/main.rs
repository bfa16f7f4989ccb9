//! Plugin integrity (feature `security`): pinned sha256 hashes in `plugin.toml`, verified
//! private copies to run from, ed25519 signatures of `plugin.toml`, and discovery refusing
//! unsigned or badly signed plugins when signatures are required. Real files in temporary
//! folders; the copy test runs a real `sh`.
//!
//! One test binary of several modules: add a new test file of this area as a module here. The
//! linked plugins submitted in `discovery` and `linked` are seen by every `discover` in this
//! binary.

mod copy;
mod discovery;
mod linked;
mod pins;
mod signatures;
mod special_files;

use std::path::{Path, PathBuf};

use hookwire::security::{sha256_hex, PrivateKey};

/// Writes `root/rel` (parents created) and returns its path.
pub fn write(root: &Path, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The sha256 of `bytes`, as pinned.
pub fn sha(bytes: &[u8]) -> String {
    sha256_hex(bytes).unwrap()
}

/// A `kind = "process"` manifest for `name` running `sh main.sh`, pinning `pins`.
pub fn process_manifest(name: &str, pins: &[(&str, &str)]) -> String {
    let mut text = format!(
        "name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"process\"\n[process]\ncommand = [\"sh\", \"main.sh\"]\n[sha256]\n"
    );
    for (file, hash) in pins {
        text.push_str(&format!("\"{file}\" = \"{hash}\"\n"));
    }
    text
}

/// A new signing key.
pub fn key() -> PrivateKey {
    PrivateKey::generate().unwrap()
}
