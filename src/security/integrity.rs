//! Pinned files: the `[sha256]` table of a manifest, checked in place
//! ([`check_pins`]) and on a private copy that the plugin runs from ([`verified_copy`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::discovery::PluginManifest;

/// Why a plugin's pinned files do not pass: the file (its path as pinned, relative to the
/// plugin's folder) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// A pinned file's content differs from its pin.
    #[error("{file}: sha256 is {found}, but plugin.toml pins {expected}; the file changed after it was pinned: restore it, or pin the new file (and sign the manifest again)")]
    Mismatch {
        /// The file, as pinned.
        file: String,
        /// The pinned sha256.
        expected: String,
        /// The sha256 of what was read.
        found: String,
    },
    /// A pinned file does not exist.
    #[error("{file}: pinned in plugin.toml but missing ({}); restore it or remove its pin", .path.display())]
    Missing {
        /// The file, as pinned.
        file: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A pinned path is not a regular file (a folder, a device).
    #[error("{file}: pinned in plugin.toml but not a regular file ({}); pin files, not folders", .path.display())]
    NotAFile {
        /// The file, as pinned.
        file: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The manifest pins no file: there is nothing to run from a verified copy.
    #[error("{}: pins no file (no [sha256] table); pin the program or script the plugin runs and every file beside it", .manifest.display())]
    NothingPinned {
        /// The manifest.
        manifest: PathBuf,
    },
    /// Reading a pinned file or writing its copy failed.
    #[error("{file}: {action}: {message}")]
    Io {
        /// The file, as pinned (empty for the private folder itself).
        file: String,
        /// What was being done (`cannot read ...`, `cannot create ...`).
        action: String,
        /// The system's message.
        message: String,
    },
}

/// The sha256 of `reader`'s bytes, as 64 lower-case hex digits.
///
/// # Errors
/// The reader's I/O error.
pub fn sha256_hex(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex digits of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Opens pinned `file` under `folder` for reading; a missing path or a non-file is an error
/// naming it.
fn open_pinned(folder: &Path, file: &str) -> Result<(File, std::fs::Metadata), IntegrityError> {
    let path = folder.join(file);
    let io = |action: &str, e: io::Error| IntegrityError::Io {
        file: file.to_owned(),
        action: format!("{action} {}", path.display()),
        message: e.to_string(),
    };
    // Opened without waiting (a FIFO's open would wait for a writer), then checked.
    let (f, meta) = match crate::discovery::open_no_wait(&path) {
        Ok(opened) => opened,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(IntegrityError::Missing {
                file: file.to_owned(),
                path,
            })
        }
        Err(e) => return Err(io("cannot open", e)),
    };
    if !meta.is_file() {
        return Err(IntegrityError::NotAFile {
            file: file.to_owned(),
            path,
        });
    }
    Ok((f, meta))
}

fn compare(file: &str, expected: &str, found: String) -> Result<(), IntegrityError> {
    if found == expected {
        Ok(())
    } else {
        Err(IntegrityError::Mismatch {
            file: file.to_owned(),
            expected: expected.to_owned(),
            found,
        })
    }
}

/// Checks every file `manifest` pins, in place in its folder, and returns every problem
/// (empty: all match). What `hookwire plugins verify` and `sign` run; a start must not rely on
/// it (the files may change after the check): use [`verified_copy`].
///
/// Blocking file I/O.
pub fn check_pins(manifest: &PluginManifest) -> Vec<IntegrityError> {
    let folder = manifest.path.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    for (file, expected) in &manifest.pinned {
        let checked = open_pinned(folder, file).and_then(|(f, _)| {
            let found = sha256_hex(f).map_err(|e| IntegrityError::Io {
                file: file.clone(),
                action: format!("cannot read {}", folder.join(file).display()),
                message: e.to_string(),
            })?;
            compare(file, expected, found)
        });
        problems.extend(checked.err());
    }
    problems
}

/// A private folder (mode 0700) holding verified copies of a plugin's pinned files: run the
/// plugin from [`path`](Self::path). The folder and its content are removed when this is
/// dropped, so keep it as long as the plugin's process runs.
#[derive(Debug)]
pub struct VerifiedCopy {
    dir: PathBuf,
    files: Vec<String>,
}

impl VerifiedCopy {
    /// The private folder: the plugin's working directory, with each pinned file at its pinned
    /// relative path.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The files copied and verified (relative paths, as pinned, sorted).
    pub fn files(&self) -> &[String] {
        &self.files
    }
}

impl Drop for VerifiedCopy {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(folder = %self.dir.display(), error = %e, "cannot remove a plugin's verified copy");
            }
        }
    }
}

/// Copies the files `manifest` pins (its `[sha256]` table) from the plugin's folder into a new
/// private folder (mode 0700 on Unix) under `state_dir` (the system's temporary folder when
/// `None`), hashes each **copy**, and returns the folder to run the plugin from. Only pinned
/// files are copied: a file the manifest does not pin is not there to run.
///
/// Call it before every start and restart of a plugin process, and start the process in
/// [`VerifiedCopy::path`] with the copied program: a file changed in the plugin's folder after
/// this check is not what runs. The copy keeps the owner's execute bit of each file.
///
/// Blocking file I/O: from async code, call it in `tokio::task::spawn_blocking`.
///
/// ```
/// use hookwire::discovery::PluginManifest;
/// use hookwire::security::{sha256_hex, verified_copy};
/// let dir = std::env::temp_dir().join(format!("hookwire-vc-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("echo"))?;
/// std::fs::write(dir.join("echo/main.sh"), "echo hi\n")?;
/// let pin = sha256_hex(&b"echo hi\n"[..])?;
/// let manifest = PluginManifest::parse(
///     &format!("name = \"echo\"\nversion = \"1.0.0\"\nkind = \"process\"\n\
///               [process]\ncommand = [\"sh\", \"main.sh\"]\n[sha256]\n\"main.sh\" = \"{pin}\"\n"),
///     dir.join("echo/plugin.toml"),
/// ).unwrap();
/// let copy = verified_copy(&manifest, None).unwrap();
/// assert_eq!(std::fs::read(copy.path().join("main.sh"))?, b"echo hi\n");
/// # drop(copy);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// [`IntegrityError::Mismatch`] naming the file, the pinned and the found hash when a copy
/// differs from its pin; [`IntegrityError::Missing`] / [`IntegrityError::NotAFile`] for a
/// pinned path that is not a file; [`IntegrityError::NothingPinned`] when the manifest pins
/// nothing; [`IntegrityError::Io`] when a file cannot be read or the private folder cannot be
/// written. Nothing is left behind on an error.
pub fn verified_copy(
    manifest: &PluginManifest,
    state_dir: Option<&Path>,
) -> Result<VerifiedCopy, IntegrityError> {
    if manifest.pinned.is_empty() {
        return Err(IntegrityError::NothingPinned {
            manifest: manifest.path.clone(),
        });
    }
    let folder = manifest.path.parent().unwrap_or(Path::new("."));
    let base = state_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    fn io(file: &str, action: String) -> impl FnOnce(io::Error) -> IntegrityError + '_ {
        move |e| IntegrityError::Io {
            file: file.to_owned(),
            action,
            message: e.to_string(),
        }
    }
    std::fs::create_dir_all(&base).map_err(io("", format!("cannot create {}", base.display())))?;
    let mut attempt = 0;
    let dir = loop {
        let dir = base.join(format!(
            "hookwire-{}-{}-{:016x}",
            manifest.meta.name,
            std::process::id(),
            fastrand::u64(..)
        ));
        match private_dir().create(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 8 => attempt += 1,
            Err(e) => return Err(io("", format!("cannot create {}", dir.display()))(e)),
        }
    };
    // Removes the folder if a file fails.
    let mut copy = VerifiedCopy {
        dir,
        files: Vec::with_capacity(manifest.pinned.len()),
    };
    for (file, expected) in &manifest.pinned {
        let (mut src, meta) = open_pinned(folder, file)?;
        let dst = copy.dir.join(file);
        if let Some(parent) = dst.parent() {
            private_dir()
                .recursive(true)
                .create(parent)
                .map_err(io(file, format!("cannot create {}", parent.display())))?;
        }
        let mut out = new_private_file(&dst, &meta)
            .map_err(io(file, format!("cannot create {}", dst.display())))?;
        io::copy(&mut src, &mut out)
            .and_then(|_| out.flush())
            .map_err(io(file, format!("cannot copy to {}", dst.display())))?;
        drop(out);
        // The copy is what runs: hash it, not the original.
        let found = File::open(&dst)
            .and_then(sha256_hex)
            .map_err(io(file, format!("cannot read {}", dst.display())))?;
        compare(file, expected, found)?;
        copy.files.push(file.clone());
    }
    tracing::debug!(plugin = %manifest.meta.name, folder = %copy.dir.display(), files = copy.files.len(), "pinned files copied and verified");
    Ok(copy)
}

fn private_dir() -> std::fs::DirBuilder {
    #[allow(unused_mut)]
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

/// Creates `path` (which must not exist), readable and writable by its owner only, and
/// executable by its owner if `original` is executable by its owner.
fn new_private_file(path: &Path, original: &std::fs::Metadata) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let exec = original.permissions().mode() & 0o100;
        options.mode(0o600 | exec);
    }
    #[cfg(not(unix))]
    let _ = original;
    options.open(path)
}
