//! [`Scanner`]: finds `plugins/<name>/plugin.toml` in an ordered list of folders (a later
//! folder wins), concurrently, and keeps what it parsed so that a rescan re-parses only the
//! manifests that changed.
//!
//! # What a rescan re-reads
//! A manifest whose path, size and modification time are those of the last scan is reused
//! without being read — if its modification time was at least [`TRUSTED_AGE`] older than that
//! scan. A younger time is not trusted (file systems record times coarsely, so a second edit
//! within the same tick keeps the time): such a file is read and its content hash compared,
//! and re-parsed only if the content changed. Every other manifest (new, resized, re-timed) is
//! read and parsed. [`ScanStats`] counts each case.
//!
//! # Concurrency
//! Each folder is scanned on its own thread (`std::thread::scope`): the scan is plain blocking
//! file I/O, so it needs no async runtime (a command-line tool or a bench runs it as is), and
//! scoped threads borrow the cache and the folder list instead of copying them into
//! `'static` tasks; all are joined before `scan` returns. From async code, call it through
//! `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::manifest::{
    io_problem, read_manifest, ManifestError, ManifestProblem, PluginManifest, MANIFEST_FILE,
};

/// How much older than a scan a modification time must be for the scan's cache to trust it
/// (see the module docs).
pub const TRUSTED_AGE: Duration = Duration::from_secs(2);

/// Scans plugin folders and caches the manifests it parsed. Keep one and call
/// [`scan`](Self::scan) again to rescan cheaply; a [`PluginHost`](crate::PluginHost) keeps
/// one for [`discover`](crate::PluginHost::discover).
///
/// ```
/// use hookwire::discovery::Scanner;
/// let root = std::env::temp_dir().join(format!("hookwire-scan-doc-{}", std::process::id()));
/// std::fs::create_dir_all(root.join("auth"))?;
/// std::fs::write(root.join("auth/plugin.toml"),
///                "name = \"auth\"\nversion = \"1.0.0\"\nkind = \"linked\"\n")?;
///
/// let mut scanner = Scanner::new();
/// let scan = scanner.scan(&[&root]);
/// assert_eq!(scan.plugins[0].name, "auth");
/// assert!(scan.plugins[0].manifest.is_ok());
/// assert_eq!(scan.stats.parsed, 1);
/// assert_eq!(scanner.scan(&[&root]).stats.parsed, 0); // unchanged: not parsed again
/// # std::fs::remove_dir_all(&root)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Scanner {
    cache: HashMap<PathBuf, Cached>,
}

#[derive(Debug, Clone)]
struct Cached {
    size: u64,
    modified: SystemTime,
    /// `modified` was at least [`TRUSTED_AGE`] older than the scan that read the file.
    trusted: bool,
    hash: u64,
    manifest: Result<Arc<PluginManifest>, ManifestError>,
}

/// What a [`Scanner::scan`] found.
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Scan {
    /// One per plugin name, sorted by name: the manifest of the last folder that has one.
    pub plugins: Vec<ScannedPlugin>,
    /// Manifests hidden by one of the same name in a later folder.
    pub shadowed: Vec<Shadowed>,
    /// Folders that could not be listed (a missing folder is only counted in
    /// [`ScanStats::missing_folders`]).
    pub folder_errors: Vec<FolderError>,
    /// What the scan did.
    pub stats: ScanStats,
}

/// One plugin folder found by a scan.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ScannedPlugin {
    /// The plugin folder's name (a valid manifest's `name` equals it).
    pub name: String,
    /// The manifest's path, `<folder>/<name>/plugin.toml`.
    pub path: PathBuf,
    /// The manifest, or why it is not valid.
    #[serde(serialize_with = "super::report::manifest_result")]
    pub manifest: Result<Arc<PluginManifest>, ManifestError>,
}

/// A manifest that a later folder's manifest of the same name replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Shadowed {
    /// The plugin's name.
    pub name: String,
    /// The manifest used.
    pub used: PathBuf,
    /// The manifest ignored (in an earlier folder).
    pub ignored: PathBuf,
}

/// A folder that could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FolderError {
    /// The folder.
    pub folder: PathBuf,
    /// Why.
    pub message: String,
}

/// Counters of one scan: how many manifests were parsed, reused, hashed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScanStats {
    /// Folders scanned.
    pub folders: usize,
    /// Folders that do not exist (skipped).
    pub missing_folders: usize,
    /// Plugin folders seen (before resolving names across folders).
    pub manifests: usize,
    /// Manifests read and parsed (new or changed).
    pub parsed: usize,
    /// Manifests reused from the cache without being parsed.
    pub reused: usize,
    /// Manifests read to compare their content hash (modification time too recent to
    /// trust), whether re-parsed or reused.
    pub hashed: usize,
}

/// One folder's results.
#[derive(Default)]
struct FolderScan {
    found: Vec<(String, PathBuf, Cached)>,
    stats: ScanStats,
    error: Option<FolderError>,
}

impl Scanner {
    /// A scanner with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scans `folders` (in order: a later folder's manifest wins over an earlier one of the
    /// same name, logged and listed in [`Scan::shadowed`]), each on its own thread. A folder
    /// holds one sub-folder per plugin; files and hidden entries (`.name`) in it are ignored.
    /// Never fails: each bad manifest or folder is reported in the result and the others are
    /// scanned normally.
    pub fn scan<P: AsRef<Path> + Sync>(&mut self, folders: &[P]) -> Scan {
        let now = SystemTime::now();
        let cache = &self.cache;
        let scans: Vec<FolderScan> = if folders.len() <= 1 {
            folders
                .iter()
                .map(|f| scan_folder(f.as_ref(), cache, now))
                .collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = folders
                    .iter()
                    .map(|f| s.spawn(move || scan_folder(f.as_ref(), cache, now)))
                    .collect();
                handles
                    .into_iter()
                    .zip(folders)
                    .map(|(h, f)| {
                        h.join().unwrap_or_else(|_| FolderScan {
                            error: Some(FolderError {
                                folder: f.as_ref().to_owned(),
                                message: "scanning the folder panicked".to_owned(),
                            }),
                            ..FolderScan::default()
                        })
                    })
                    .collect()
            })
        };
        let mut scan = Scan::default();
        let mut cache = HashMap::with_capacity(self.cache.len());
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for folder in scans {
            let s = folder.stats;
            scan.stats.folders += 1;
            scan.stats.missing_folders += s.missing_folders;
            scan.stats.manifests += s.manifests;
            scan.stats.parsed += s.parsed;
            scan.stats.reused += s.reused;
            scan.stats.hashed += s.hashed;
            scan.folder_errors.extend(folder.error);
            for (name, path, cached) in folder.found {
                let plugin = ScannedPlugin {
                    name: name.clone(),
                    path: path.clone(),
                    manifest: cached.manifest.clone(),
                };
                cache.insert(path, cached);
                match by_name.get(&name) {
                    Some(&i) => {
                        let old = std::mem::replace(&mut scan.plugins[i], plugin);
                        let shadowed = Shadowed {
                            name,
                            used: scan.plugins[i].path.clone(),
                            ignored: old.path,
                        };
                        tracing::info!(
                            plugin = %shadowed.name,
                            used = %shadowed.used.display(),
                            ignored = %shadowed.ignored.display(),
                            "two plugin folders have a plugin of this name: the later folder's is used"
                        );
                        scan.shadowed.push(shadowed);
                    }
                    None => {
                        by_name.insert(name, scan.plugins.len());
                        scan.plugins.push(plugin);
                    }
                }
            }
        }
        scan.plugins.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        self.cache = cache;
        scan
    }
}

fn scan_folder(folder: &Path, cache: &HashMap<PathBuf, Cached>, now: SystemTime) -> FolderScan {
    let mut out = FolderScan::default();
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!(folder = %folder.display(), "plugin folder does not exist: skipped");
            out.stats.missing_folders = 1;
            return out;
        }
        Err(e) => {
            out.error = Some(FolderError {
                folder: folder.to_owned(),
                message: format!("cannot list the plugin folder: {e}"),
            });
            return out;
        }
    };
    for entry in entries {
        let Ok(entry) = entry else { continue };
        let file_name = entry.file_name();
        let name = file_name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let dir = entry.path();
        // Plugin folders may be symbolic links to folders (followed: one more `stat`); anything
        // else is not a plugin.
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => std::fs::metadata(&dir).is_ok_and(|m| m.is_dir()),
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        if !is_dir {
            continue;
        }
        out.stats.manifests += 1;
        let path = dir.join(MANIFEST_FILE);
        let cached = load(&path, cache.get(&path), now, &mut out.stats);
        out.found.push((name.into_owned(), path, cached));
    }
    out
}

/// The manifest at `path`, from `old` when it did not change.
fn load(path: &Path, old: Option<&Cached>, now: SystemTime, stats: &mut ScanStats) -> Cached {
    let fail = |e: ManifestError| Cached {
        size: 0,
        modified: SystemTime::UNIX_EPOCH,
        trusted: false,
        hash: 0,
        manifest: Err(e),
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => return fail(ManifestError::new(path, io_problem(path, &e))),
    };
    if !meta.is_file() {
        return fail(ManifestError::new(path, ManifestProblem::NotAFile));
    }
    let (size, modified) = (
        meta.len(),
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let trusted = now
        .duration_since(modified)
        .is_ok_and(|age| age >= TRUSTED_AGE);
    let same = old.filter(|c| c.size == size && c.modified == modified);
    if let Some(c) = same {
        if c.trusted {
            stats.reused += 1;
            return c.clone();
        }
    }
    let bytes = match read_manifest(path) {
        Ok(bytes) => bytes,
        Err(e) => return fail(e),
    };
    let mut hasher = DefaultHasher::new();
    hasher.write(&bytes);
    let hash = hasher.finish();
    if let Some(c) = same {
        stats.hashed += 1;
        if c.hash == hash {
            stats.reused += 1;
            return Cached {
                trusted,
                ..c.clone()
            };
        }
    }
    stats.parsed += 1;
    Cached {
        size,
        modified,
        trusted,
        hash,
        manifest: PluginManifest::from_bytes(&bytes, path).map(Arc::new),
    }
}
