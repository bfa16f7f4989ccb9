//! [`Scanner`]: finds `plugins/<name>/plugin.toml` in an ordered list of folders (a later
//! folder wins), concurrently, and keeps what it parsed so that a rescan re-parses only the
//! manifests that changed.
//!
//! # What a rescan re-reads
//! A manifest whose file status is that of the last scan — size, modification time, and
//! where the platform gives them (Unix) the status-change time and the file's device and
//! inode — is reused without being read, if its modification time was at least
//! [`TRUSTED_AGE`] older than that scan. The status-change time and the inode catch what
//! keeps size and modification time: an edit whose old time was put back (`touch -r`,
//! `cp -p`, `rsync -t`), a file renamed over the manifest, a symbolic link pointed at another
//! file (links are followed: the status is the target's). A younger modification time is not
//! trusted (file systems record times coarsely, so a second edit within the same tick keeps
//! the time): such a file is read and its content hash compared, and re-parsed only if the
//! content changed. So is a manifest already cached whose status changed (resized,
//! re-timed, replaced): a save of the same content keeps the parsed manifest — the same
//! `Arc`, which is how [`PluginHost::watch`](crate::PluginHost::watch) tells an unchanged
//! manifest without reading it. A new manifest is read and parsed. [`ScanStats`] counts each
//! case.
//!
//! # What a rescan re-lists
//! A folder (of plugin folders) is listed again unless its own status — modification and
//! status-change times, device and inode — is that of the last scan and its modification
//! time was at least [`TRUSTED_AGE`] older than that scan: adding, removing or renaming an
//! entry changes a folder's times, so its last listing still holds. Entries that are symbolic
//! links are followed again on every scan (a link's target may have changed without the
//! folder changing). [`ScanStats::listed`] counts the folders listed.
//!
//! # Cost
//! A rescan that finds nothing changed asks for the status of each folder and of each
//! manifest in it: one system call each. On Linux the folder is opened once and each
//! manifest's status is asked with `statx` relative to it (`name/plugin.toml`: a two-step
//! path lookup instead of one from the root); elsewhere with `std::fs::metadata` of the full
//! path. Each folder's cache is a list sorted by plugin folder name, walked beside the sorted
//! listing (no hashing), its entries moved to the next scan's list — checked in place when
//! the listing was reused; the result comes out sorted by name. So a rescan copies only what
//! it returns.
//!
//! # Concurrency
//! Each folder is scanned on its own thread (`std::thread::scope`): the scan is plain blocking
//! file I/O, so it needs no async runtime (a command-line tool or a bench runs it as is), and
//! scoped threads borrow the folder list instead of copying it into `'static` tasks; all are
//! joined before `scan` returns. From async code, call it through
//! `tokio::task::spawn_blocking`.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::hash::{DefaultHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::manifest::{io_problem, read_manifest, ManifestError, ManifestProblem, PluginManifest};

/// How much older than a scan a modification time must be for the scan's cache to trust it:
/// a manifest's, to reuse it unread; a folder's, to reuse its listing (see the module docs).
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
    /// Per folder (as given to `scan`), per plugin folder name.
    cache: HashMap<PathBuf, FolderCache>,
}

/// What the last scan found in one folder.
#[derive(Debug, Default)]
struct FolderCache {
    /// The folder's status before it was listed; `None` if it could not be read.
    status: Option<Stamp>,
    /// `status.modified` was at least [`TRUSTED_AGE`] older than that scan.
    trusted: bool,
    /// The entries that may be plugin folders (not hidden: folders and links), sorted by
    /// name.
    entries: Vec<sys::Entry>,
    /// `(plugin folder name, what was found in it)`, sorted by name.
    plugins: Vec<(OsString, Cached)>,
}

#[derive(Debug)]
struct Cached {
    /// `<folder>/<name>/plugin.toml`.
    path: PathBuf,
    /// The file's status when it was read; `None` when it could not be (never equal).
    stamp: Option<Stamp>,
    /// The modification time was at least [`TRUSTED_AGE`] older than the scan that read it.
    trusted: bool,
    hash: u64,
    manifest: Result<Arc<PluginManifest>, ManifestError>,
}

impl Cached {
    fn failed(path: PathBuf, error: ManifestError) -> Self {
        Self {
            path,
            stamp: None,
            trusted: false,
            hash: 0,
            manifest: Err(error),
        }
    }
}

/// What a rescan compares to tell whether a manifest may have changed (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: SystemTime,
    /// The status-change time (seconds, nanoseconds); zero where the platform has none.
    changed: (i64, i64),
    /// Device and inode; zero where the platform has none.
    file: (u64, u64),
}

impl Stamp {
    fn of_metadata(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        let (changed, file) = {
            use std::os::unix::fs::MetadataExt;
            ((meta.ctime(), meta.ctime_nsec()), (meta.dev(), meta.ino()))
        };
        #[cfg(not(unix))]
        let (changed, file) = ((0, 0), (0, 0));
        Self {
            size: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            changed,
            file,
        }
    }

    /// The modification time is at least [`TRUSTED_AGE`] older than `now`.
    fn trusted(&self, now: SystemTime) -> bool {
        now.duration_since(self.modified)
            .is_ok_and(|age| age >= TRUSTED_AGE)
    }
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
    /// Folders listed. A folder whose status (modification and status-change times, inode)
    /// is that of the last scan, and whose modification time was at least [`TRUSTED_AGE`]
    /// older than that scan, had no entry added, removed or renamed: its last listing is
    /// reused (its manifests are still checked one by one).
    pub listed: usize,
    /// Plugin folders seen (before resolving names across folders).
    pub manifests: usize,
    /// Manifests read and parsed (new or changed).
    pub parsed: usize,
    /// Manifests reused from the cache without being parsed.
    pub reused: usize,
    /// Manifests read again to compare their content with the cached one (their status
    /// changed, or their modification time was too recent to trust), whether re-parsed or
    /// reused: the same content is not parsed again.
    pub hashed: usize,
}

/// One folder's results.
#[derive(Default)]
struct FolderScan {
    found: Vec<ScannedPlugin>,
    cache: FolderCache,
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
    /// scanned normally. The cache keeps the folders of this scan only.
    pub fn scan<P: AsRef<Path> + Sync>(&mut self, folders: &[P]) -> Scan {
        let now = SystemTime::now();
        let olds: Vec<FolderCache> = folders
            .iter()
            .map(|f| self.cache.remove(f.as_ref()).unwrap_or_default())
            .collect();
        let scans: Vec<FolderScan> = if folders.len() <= 1 {
            folders
                .iter()
                .zip(olds)
                .map(|(f, old)| scan_folder(f.as_ref(), old, now))
                .collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = folders
                    .iter()
                    .zip(olds)
                    .map(|(f, old)| s.spawn(move || scan_folder(f.as_ref(), old, now)))
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
        self.cache.clear();
        // Each folder's manifests, sorted by name.
        let mut found: Vec<Vec<ScannedPlugin>> = Vec::with_capacity(scans.len());
        for (folder, fs) in folders.iter().zip(scans) {
            let s = fs.stats;
            scan.stats.folders += 1;
            scan.stats.missing_folders += s.missing_folders;
            scan.stats.listed += s.listed;
            scan.stats.manifests += s.manifests;
            scan.stats.parsed += s.parsed;
            scan.stats.reused += s.reused;
            scan.stats.hashed += s.hashed;
            scan.folder_errors.extend(fs.error);
            self.cache.insert(folder.as_ref().to_owned(), fs.cache);
            found.push(fs.found);
        }
        // Sorted by the names' bytes; a non-UTF-8 name, shown with replacement characters, may
        // sort differently (a stable sort of a sorted list only checks it).
        let by_name = |a: &ScannedPlugin, b: &ScannedPlugin| a.name.cmp(&b.name);
        if found.len() <= 1 {
            // One folder (the common case): its list is the result, no name to resolve.
            scan.plugins = found.pop().unwrap_or_default();
            scan.plugins.sort_by(by_name);
            return scan;
        }
        // Every manifest, with its folder's index; sorted by name and then (stable) folder,
        // the last of each name wins.
        let mut found: Vec<(usize, ScannedPlugin)> = found
            .into_iter()
            .enumerate()
            .flat_map(|(i, plugins)| plugins.into_iter().map(move |p| (i, p)))
            .collect();
        found.sort_by(|(_, a), (_, b)| by_name(a, b));
        scan.plugins.reserve(found.len());
        // Each with the index of the folder of the manifest that replaced another.
        let mut shadowed: Vec<(usize, Shadowed)> = Vec::new();
        let mut found = found.into_iter().peekable();
        while let Some((_, mut used)) = found.next() {
            while let Some((i, later)) = found.next_if(|(_, p)| p.name == used.name) {
                let ignored = std::mem::replace(&mut used, later);
                let s = Shadowed {
                    name: used.name.clone(),
                    used: used.path.clone(),
                    ignored: ignored.path,
                };
                tracing::info!(
                    plugin = %s.name,
                    used = %s.used.display(),
                    ignored = %s.ignored.display(),
                    "two plugin folders have a plugin of this name: the later folder's is used"
                );
                shadowed.push((i, s));
            }
            scan.plugins.push(used);
        }
        // In folder order (stable: by name within a folder).
        shadowed.sort_by_key(|(i, _)| *i);
        scan.shadowed = shadowed.into_iter().map(|(_, s)| s).collect();
        scan
    }
}

fn scan_folder(path: &Path, old: FolderCache, now: SystemTime) -> FolderScan {
    let mut out = FolderScan::default();
    let cannot_list = |e: io::Error, mut out: FolderScan| {
        if e.kind() == io::ErrorKind::NotFound {
            tracing::debug!(folder = %path.display(), "plugin folder does not exist: skipped");
            out.stats.missing_folders = 1;
        } else {
            out.error = Some(FolderError {
                folder: path.to_owned(),
                message: format!("cannot list the plugin folder: {e}"),
            });
        }
        out
    };
    let folder = match sys::Folder::open(path) {
        Ok(folder) => folder,
        Err(e) => return cannot_list(e, out),
    };
    // The status before the listing: a change made while listing shows at the next scan.
    let status = folder.status().ok();
    let relisted = !matches!(old.status, Some(old_status)
        if old.trusted && status == Some(old_status));
    let entries = if relisted {
        match folder.list() {
            Ok(mut entries) => {
                out.stats.listed = 1;
                entries.retain(|entry| {
                    !entry.name.as_encoded_bytes().starts_with(b".")
                        && !matches!(entry.kind, sys::Kind::Other)
                });
                entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
                entries
            }
            Err(e) => return cannot_list(e, out),
        }
    } else {
        // Nothing was added, removed or renamed in the folder (each changes its times).
        old.entries
    };
    out.cache.status = status;
    out.cache.trusted = status.is_some_and(|s| s.trusted(now));
    out.found.reserve(entries.len());
    let mut scratch = Vec::new();
    let mut found = |name: OsString, stamp, previous, stats: &mut ScanStats| {
        let cached = load(&folder, &name, stamp, previous, now, stats);
        let shown = match name.to_str() {
            Some(shown) => shown.to_owned(),
            None => name.to_string_lossy().into_owned(),
        };
        out.found.push(ScannedPlugin {
            name: shown,
            path: cached.path.clone(),
            manifest: cached.manifest.clone(),
        });
        (name, cached)
    };
    let mut stats = out.stats;
    if !relisted && entries.iter().all(|e| matches!(e.kind, sys::Kind::Dir)) {
        // The same plugin folders as the last scan, in the same order: each entry is
        // checked in place (collected into the same allocation, in order).
        out.cache.plugins = old
            .plugins
            .into_iter()
            .map(|(name, previous)| {
                stats.manifests += 1;
                let stamp = folder.stamp(&name, &mut scratch);
                found(name, stamp, Some(previous), &mut stats)
            })
            .collect();
    } else {
        let mut plugins = Vec::with_capacity(entries.len());
        // Both sorted by name: an old entry is this scan's `previous` or gone.
        let mut old = old.plugins.into_iter().peekable();
        for entry in &entries {
            // A link is a plugin folder if it leads to a folder (asked each time: its target
            // may have changed).
            if matches!(entry.kind, sys::Kind::Follow) && !folder.is_dir(&entry.name) {
                continue;
            }
            stats.manifests += 1;
            while old.next_if(|(name, _)| *name < entry.name).is_some() {}
            let previous = old.next_if(|(name, _)| *name == entry.name);
            let stamp = folder.stamp(&entry.name, &mut scratch);
            plugins.push(match previous {
                Some((name, cached)) => found(name, stamp, Some(cached), &mut stats),
                None => found(entry.name.clone(), stamp, None, &mut stats),
            });
        }
        out.cache.plugins = plugins;
    }
    out.stats = stats;
    out.cache.entries = entries;
    out
}

/// The manifest in the plugin folder `name` of `folder`, whose status is `stamp`, from `old`
/// when it did not change.
fn load(
    folder: &sys::Folder,
    name: &OsStr,
    stamp: io::Result<Option<Stamp>>,
    old: Option<Cached>,
    now: SystemTime,
    stats: &mut ScanStats,
) -> Cached {
    let path = |old: Option<Cached>| match old {
        Some(c) => c.path,
        None => folder.manifest_path(name),
    };
    let stamp = match stamp {
        Ok(Some(stamp)) => stamp,
        Ok(None) => {
            let path = path(old);
            let error = ManifestError::new(&path, ManifestProblem::NotAFile);
            return Cached::failed(path, error);
        }
        Err(e) => {
            let path = path(old);
            let error = ManifestError::new(&path, io_problem(&path, &e));
            return Cached::failed(path, error);
        }
    };
    let trusted = stamp.trusted(now);
    let old = match old {
        Some(c) if c.stamp == Some(stamp) && c.trusted => {
            stats.reused += 1;
            return c;
        }
        other => other,
    };
    let path = match &old {
        Some(c) => c.path.clone(),
        None => folder.manifest_path(name),
    };
    let bytes = match read_manifest(&path) {
        Ok(bytes) => bytes,
        Err(e) => return Cached::failed(path, e),
    };
    let mut hasher = DefaultHasher::new();
    hasher.write(&bytes);
    let hash = hasher.finish();
    // A new status (a touch, a copy that kept the content) or a time too recent to trust:
    // the content decides. The same content keeps the parsed manifest (the same `Arc`,
    // which is how the watcher tells an unchanged manifest without reading it).
    if let Some(mut c) = old {
        stats.hashed += 1;
        if c.stamp.is_some() && c.hash == hash {
            stats.reused += 1;
            c.stamp = Some(stamp);
            c.trusted = trusted;
            return c;
        }
    }
    stats.parsed += 1;
    let manifest = PluginManifest::from_bytes(&bytes, &path).map(Arc::new);
    Cached {
        path,
        stamp: Some(stamp),
        trusted,
        hash,
        manifest,
    }
}

/// A plugins folder: its status, its entries, the status of the manifests in it. On Linux the
/// folder is opened once and each manifest's status asked relative to it (`statx`).
#[cfg(target_os = "linux")]
mod sys {
    use std::ffi::{OsStr, OsString};
    use std::io;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};
    use std::time::{Duration, SystemTime};

    use rustix::fd::OwnedFd;
    use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Statx, StatxFlags, StatxTimestamp};

    use super::super::manifest::MANIFEST_FILE;
    use super::Stamp;

    #[derive(Debug)]
    pub(super) enum Kind {
        Dir,
        /// A symbolic link or an entry of unknown type: its status tells.
        Follow,
        Other,
    }

    #[derive(Debug)]
    pub(super) struct Entry {
        pub(super) name: OsString,
        pub(super) kind: Kind,
    }

    pub(super) struct Folder {
        path: PathBuf,
        fd: OwnedFd,
    }

    const STAMP: StatxFlags = StatxFlags::TYPE
        .union(StatxFlags::SIZE)
        .union(StatxFlags::MTIME)
        .union(StatxFlags::CTIME)
        .union(StatxFlags::INO);

    impl Folder {
        pub(super) fn open(path: &Path) -> io::Result<Self> {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let fd = rustix::fs::open(path, flags, Mode::empty())?;
            Ok(Self {
                path: path.to_owned(),
                fd,
            })
        }

        /// The folder's own status.
        pub(super) fn status(&self) -> io::Result<Stamp> {
            match rustix::fs::statx(&self.fd, "", AtFlags::EMPTY_PATH, STAMP) {
                Ok(s) => Ok(stamp(&s)),
                // A kernel older than 4.11, or a sandbox that forbids `statx`.
                Err(rustix::io::Errno::NOSYS) => {
                    Ok(Stamp::of_metadata(&std::fs::metadata(&self.path)?))
                }
                Err(e) => Err(e.into()),
            }
        }

        /// The folder's entries, in no order.
        pub(super) fn list(&self) -> io::Result<Vec<Entry>> {
            let mut dir = Dir::read_from(&self.fd)?;
            let mut entries = Vec::new();
            while let Some(entry) = dir.read() {
                // Like `std::fs::read_dir`: an entry that cannot be read is skipped (and `Dir`
                // stops after an error).
                let Ok(entry) = entry else { continue };
                let kind = match entry.file_type() {
                    FileType::Directory => Kind::Dir,
                    FileType::Symlink | FileType::Unknown => Kind::Follow,
                    _ => Kind::Other,
                };
                let name = OsString::from_vec(entry.file_name().to_bytes().to_vec());
                entries.push(Entry { name, kind });
            }
            Ok(entries)
        }

        /// Whether the entry `name` is a folder or a link to one.
        pub(super) fn is_dir(&self, name: &OsStr) -> bool {
            rustix::fs::statx(&self.fd, name, AtFlags::empty(), StatxFlags::TYPE)
                .is_ok_and(|s| FileType::from_raw_mode(s.stx_mode.into()) == FileType::Directory)
        }

        pub(super) fn manifest_path(&self, name: &OsStr) -> PathBuf {
            self.path.join(name).join(MANIFEST_FILE)
        }

        /// The status of `<name>/plugin.toml` (links followed): `None` if not a regular file.
        /// `scratch` holds the relative path (one buffer for all the calls of a scan).
        pub(super) fn stamp(
            &self,
            name: &OsStr,
            scratch: &mut Vec<u8>,
        ) -> io::Result<Option<Stamp>> {
            scratch.clear();
            scratch.extend_from_slice(name.as_bytes());
            scratch.push(b'/');
            scratch.extend_from_slice(MANIFEST_FILE.as_bytes());
            let relative = OsStr::from_bytes(scratch);
            match rustix::fs::statx(&self.fd, relative, AtFlags::empty(), STAMP) {
                Ok(s) => Ok(
                    (FileType::from_raw_mode(s.stx_mode.into()) == FileType::RegularFile)
                        .then(|| stamp(&s)),
                ),
                Err(rustix::io::Errno::NOSYS) => {
                    let meta = std::fs::metadata(self.manifest_path(name))?;
                    Ok(meta.is_file().then(|| Stamp::of_metadata(&meta)))
                }
                Err(e) => Err(e.into()),
            }
        }
    }

    fn stamp(s: &Statx) -> Stamp {
        Stamp {
            size: s.stx_size,
            modified: time(s.stx_mtime),
            changed: (s.stx_ctime.tv_sec, i64::from(s.stx_ctime.tv_nsec)),
            file: (
                rustix::fs::makedev(s.stx_dev_major, s.stx_dev_minor),
                s.stx_ino,
            ),
        }
    }

    fn time(t: StatxTimestamp) -> SystemTime {
        let epoch = SystemTime::UNIX_EPOCH;
        let secs = Duration::from_secs(t.tv_sec.unsigned_abs());
        let at = if t.tv_sec >= 0 {
            epoch.checked_add(secs)
        } else {
            epoch.checked_sub(secs)
        };
        at.and_then(|at| at.checked_add(Duration::from_nanos(t.tv_nsec.into())))
            .unwrap_or(epoch)
    }
}

/// A plugins folder: its status, its entries, the status of the manifests in it, through
/// `std::fs` (full paths).
#[cfg(not(target_os = "linux"))]
mod sys {
    use std::ffi::{OsStr, OsString};
    use std::io;
    use std::path::{Path, PathBuf};

    use super::super::manifest::MANIFEST_FILE;
    use super::Stamp;

    #[derive(Debug)]
    pub(super) enum Kind {
        Dir,
        /// A symbolic link: its target's status tells.
        Follow,
        Other,
    }

    #[derive(Debug)]
    pub(super) struct Entry {
        pub(super) name: OsString,
        pub(super) kind: Kind,
    }

    pub(super) struct Folder {
        path: PathBuf,
    }

    impl Folder {
        pub(super) fn open(path: &Path) -> io::Result<Self> {
            Ok(Self {
                path: path.to_owned(),
            })
        }

        /// The folder's own status.
        pub(super) fn status(&self) -> io::Result<Stamp> {
            Ok(Stamp::of_metadata(&std::fs::metadata(&self.path)?))
        }

        /// The folder's entries, in no order.
        pub(super) fn list(&self) -> io::Result<Vec<Entry>> {
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&self.path)? {
                let Ok(entry) = entry else { continue };
                let kind = match entry.file_type() {
                    Ok(t) if t.is_symlink() => Kind::Follow,
                    Ok(t) if t.is_dir() => Kind::Dir,
                    _ => Kind::Other,
                };
                entries.push(Entry {
                    name: entry.file_name(),
                    kind,
                });
            }
            Ok(entries)
        }

        /// Whether the entry `name` is a folder or a link to one.
        pub(super) fn is_dir(&self, name: &OsStr) -> bool {
            std::fs::metadata(self.path.join(name)).is_ok_and(|m| m.is_dir())
        }

        pub(super) fn manifest_path(&self, name: &OsStr) -> PathBuf {
            self.path.join(name).join(MANIFEST_FILE)
        }

        /// The status of `<name>/plugin.toml` (links followed): `None` if not a regular file.
        /// (`scratch` is for the Linux version's relative path.)
        pub(super) fn stamp(
            &self,
            name: &OsStr,
            _scratch: &mut Vec<u8>,
        ) -> io::Result<Option<Stamp>> {
            let meta = std::fs::metadata(self.manifest_path(name))?;
            Ok(meta.is_file().then(|| Stamp::of_metadata(&meta)))
        }
    }
}
