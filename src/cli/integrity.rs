//! `hookwire keys generate`, `hookwire plugins sign`, `hookwire plugins verify` (features
//! `cli` and `security`).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::discovery::{PluginKind, PluginManifest, MANIFEST_FILE};
use crate::security::{
    check_pins, sign_plugin, verify_signature, IntegrityError, PrivateKey, PublicKey,
    SignaturePolicy, TrustedKeys,
};

/// `keys generate`: writes the private key (0600) and `<out>.pub`, prints the public key and
/// id. `Ok(false)`: failed (the message is written to `err`).
pub(super) fn generate(
    out_file: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<bool> {
    let key = match PrivateKey::generate() {
        Ok(key) => key,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(false);
        }
    };
    if let Err(e) = key.write_new(out_file) {
        writeln!(err, "error: {e}")?;
        return Ok(false);
    }
    let public = key.public_key();
    let mut pub_name = out_file.as_os_str().to_owned();
    pub_name.push(".pub");
    let pub_file = PathBuf::from(pub_name);
    if let Err(e) = std::fs::write(&pub_file, format!("{}\n", public.to_base64())) {
        writeln!(
            err,
            "error: {}: cannot write the public key: {e}",
            pub_file.display()
        )?;
        return Ok(false);
    }
    writeln!(
        out,
        "private key: {} (mode 0600: keep it secret, out of plugin folders)",
        out_file.display()
    )?;
    writeln!(
        out,
        "public key:  {} (also in {})",
        public.to_base64(),
        pub_file.display()
    )?;
    writeln!(out, "key id:      {}", public.id())?;
    writeln!(
        out,
        "trust it in the host's config: [security] trusted_keys = [\"{}\"]",
        public.to_base64()
    )?;
    Ok(true)
}

/// `plugins sign <dir> --key <file>`: refuses a manifest that is invalid or whose pins do
/// not match, else writes `plugin.toml.sig`.
pub(super) fn sign(
    dir: &Path,
    key_file: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<bool> {
    let key = match PrivateKey::read(key_file) {
        Ok(key) => key,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(false);
        }
    };
    let manifest = match PluginManifest::load(dir.join(MANIFEST_FILE)) {
        Ok(m) => m,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            writeln!(err, "not signed: fix the manifest first")?;
            return Ok(false);
        }
    };
    if manifest.pinned.is_empty() && matches!(manifest.kind, PluginKind::Process(_)) {
        writeln!(
            err,
            "error: {}",
            IntegrityError::NothingPinned {
                manifest: manifest.path.clone()
            }
        )?;
        writeln!(
            err,
            "not signed: a signature covers plugin.toml and, through its `[sha256]` pins, the files it runs; a process plugin that pins none would run unchecked code: pin them (`\"plugin.py\" = \"<sha256>\"`, as `sha256sum` prints), then sign"
        )?;
        return Ok(false);
    }
    let problems = check_pins(&manifest);
    if !problems.is_empty() {
        for p in &problems {
            writeln!(err, "error: {p}")?;
        }
        writeln!(
            err,
            "not signed: the pinned files do not match {}",
            manifest.path.display()
        )?;
        return Ok(false);
    }
    match sign_plugin(dir, &key) {
        Ok(sig) => {
            writeln!(
                out,
                "signed {} with key {}: wrote {}",
                manifest.path.display(),
                key.public_key().id(),
                sig.display()
            )?;
            Ok(true)
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Ok(false)
        }
    }
}

/// The trusted keys of `plugins verify`: `--trusted-key` values (a key, or a file holding
/// one) and the `[security]` table of `--config`.
fn trusted_keys(keys: &[String], config: Option<&Path>) -> Result<TrustedKeys, String> {
    let mut trusted = match config {
        None => TrustedKeys::new(),
        Some(path) => {
            let config = crate::config::HostConfig::load(path).map_err(|e| e.to_string())?;
            SignaturePolicy::from_config(&config)
                .map_err(|e| e.to_string())?
                .trusted()
                .clone()
        }
    };
    for text in keys {
        let key = match PublicKey::parse(text, "--trusted-key") {
            Ok(key) => key,
            Err(_) if Path::new(text).is_file() => {
                PublicKey::read(text).map_err(|e| e.to_string())?
            }
            Err(e) => return Err(e.to_string()),
        };
        trusted.insert(key);
    }
    Ok(trusted)
}

/// The plugin folders under `dir`: itself if it holds a `plugin.toml`, else its sub-folders
/// (hidden ones skipped), sorted.
fn plugin_dirs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    if dir.join(MANIFEST_FILE).exists() {
        return Ok(vec![dir.to_owned()]);
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: cannot list the folder: {e}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// `plugins verify <dirs>`: each plugin's manifest, signature (by a trusted key) and pins;
/// one line per plugin that passes, one per problem. `Ok(false)` if anything failed.
pub(super) fn verify(
    dirs: &[PathBuf],
    keys: &[String],
    config: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<bool> {
    let trusted = match trusted_keys(keys, config) {
        Ok(trusted) => trusted,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(false);
        }
    };
    let (mut passed, mut failed) = (0usize, 0usize);
    for dir in dirs {
        let plugins = match plugin_dirs(dir) {
            Ok(plugins) => plugins,
            Err(e) => {
                writeln!(out, "FAIL  {e}")?;
                failed += 1;
                continue;
            }
        };
        for plugin in plugins {
            let mut problems = Vec::new();
            let manifest = match PluginManifest::load(plugin.join(MANIFEST_FILE)) {
                Ok(m) => Some(m),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            };
            let signer = match verify_signature(&plugin, &trusted) {
                Ok(v) => Some(v.key_id),
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            };
            let mut pinned = 0;
            if let Some(m) = &manifest {
                pinned = m.pinned.len();
                if pinned == 0 && matches!(m.kind, PluginKind::Process(_)) {
                    problems.push(
                        IntegrityError::NothingPinned {
                            manifest: m.path.clone(),
                        }
                        .to_string(),
                    );
                }
                problems.extend(check_pins(m).iter().map(ToString::to_string));
            }
            if problems.is_empty() {
                passed += 1;
                let signer = signer.map(|k| k.to_string()).unwrap_or_default();
                let files = if pinned == 1 {
                    "file matches"
                } else {
                    "files match"
                };
                writeln!(
                    out,
                    "ok    {}: signed by {signer}, {pinned} pinned {files}",
                    plugin.display()
                )?;
            } else {
                failed += 1;
                for p in problems {
                    writeln!(out, "FAIL  {}: {p}", plugin.display())?;
                }
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(failed == 0)
}
