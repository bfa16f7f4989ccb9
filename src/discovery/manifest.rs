//! `plugin.toml`: the manifest of one plugin folder, parsed with `serde`
//! (`deny_unknown_fields`) and validated, every error naming the file, the field, the line and
//! column, and what was expected.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::de::DeTable;
use toml::Spanned;

use super::conditions::{Conditions, RawConditions};
use crate::plugin::config::locate::{dotted, line_col, locate, table_entries};
use crate::PluginMeta;

/// The file name of a manifest inside its plugin folder: `plugins/<name>/plugin.toml`.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// The largest manifest read, in bytes (1 MiB): a bigger file is an error, not read.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// A validated `plugin.toml`.
///
/// ```toml
/// name = "auth"                  # [a-z0-9][a-z0-9_-]*, equal to the folder's name
/// version = "1.2.0"              # semver
/// description = "Checks API tokens"
/// kind = "linked"                # "linked" (a plugin linked into the host) or "process"
/// host_api = "^1"                # the host API versions it works with
/// permissions = ["net"]          # names, checked by the security layer
/// lazy = true                    # start on the first call of one of its hooks
///
/// [requires]                     # name = semver requirement
/// audit = "^1"
/// [optional]
/// metrics = ">=0.3"
/// [conflicts]
/// legacy-auth = "<2"
///
/// [config]                       # the plugin's config: above its defaults, below the host's file
/// tokens = ["abc"]
///
/// [priority]                     # hook name = priority of the plugin's impls of that hook
/// authenticate = 10
///
/// [sha256]                       # the files the plugin runs, pinned: path in the folder =
/// "main.py" = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
///                                # its sha256, 64 hex digits (see `hookwire::security`)
///
/// [conditions]                   # all must hold, or the plugin is skipped
/// env_set = ["AUTH_KEYS"]        # these environment variables are set
/// env = { MODE = "prod" }        # these are set to these values
/// os = ["linux", "macos"]        # the target OS is one of these (std::env::consts::OS)
/// features = ["beta"]            # the host declared all of these (DiscoveryOptions::features)
///
/// [process]                      # kind = "process" only (required then)
/// command = ["python3", "main.py"]  # run in the plugin's folder, with a cleared environment
/// env = { LOG = "info" }         # added to the environment
/// instances = 1                  # at least 1: N processes behind the plugin (pooling)
/// start_timeout_ms = 5000
/// restart = "on-failure"         # or "never"
/// hooks = ["authenticate"]       # the hooks it implements, known before it starts (lazy start)
/// sandbox = true                 # Landlock (Linux): read-write in its folder, read-only in the
///                                # system and interpreter paths and allowed_paths; default false
/// allowed_paths = ["data", "/opt/models"]  # read-only in the sandbox; relative to the folder
/// [process.limits]               # each at least 1; leave one out for no limit
/// memory_mb = 256                # address space (RLIMIT_AS), MiB
/// cpu_seconds = 60               # CPU time (RLIMIT_CPU): SIGXCPU at the limit
/// open_files = 1024              # RLIMIT_NOFILE
/// call_timeout_ms = 1000
/// ```
///
/// With the feature `process`, `hookwire::external::LaunchSpec::from_manifest` turns the
/// `[process]` table into how the process is started.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PluginManifest {
    /// The file it was read from.
    pub path: PathBuf,
    /// Name, version, description, `requires`/`optional`/`conflicts` and `host_api`.
    pub meta: PluginMeta,
    /// What the manifest describes: a linked plugin or a process.
    pub kind: PluginKind,
    /// Permission names (parsed, not checked here).
    pub permissions: Vec<String>,
    /// The plugin's configuration (above its own defaults, below the host's config file).
    pub config: toml::Table,
    /// Hook name -> priority of the plugin's impls of that hook.
    pub priority: BTreeMap<String, i32>,
    /// Start the plugin on the first call of one of its hooks.
    pub lazy: bool,
    /// What must hold for the plugin to load.
    pub conditions: Conditions,
    /// The `[sha256]` table: each file the plugin runs (a relative path in the plugin's
    /// folder, `/`-separated, normalised: `./lib//a.py` is `lib/a.py`) and its pinned sha256
    /// (64 lower-case hex digits). A file pinned under two spellings is a manifest error.
    /// With the feature `security`, `hookwire::security::verified_copy` copies exactly these
    /// files into a private folder and checks the copies before a start.
    pub pinned: BTreeMap<String, String>,
}

/// What a manifest describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum PluginKind {
    /// `kind = "linked"`: enables and configures the linked plugin of that name
    /// (see [`submit_plugin!`](crate::submit_plugin)).
    Linked,
    /// `kind = "process"`: a plugin running as its own process, started by its host with
    /// the feature `process` (without it, found and reported as not loadable).
    Process(ProcessSpec),
}

impl PluginKind {
    /// `"linked"` or `"process"`, as written in a manifest.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Linked => "linked",
            Self::Process(_) => "process",
        }
    }
}

/// The `[process]` table of a `kind = "process"` manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProcessSpec {
    /// The program and its arguments (not empty).
    pub command: Vec<String>,
    /// Environment variables set for the process.
    pub env: BTreeMap<String, String>,
    /// How many processes serve the plugin (at least 1; default 1): each call goes to the
    /// least busy.
    pub instances: u32,
    /// How long the process may take to start (default 5 s).
    pub start_timeout: Duration,
    /// What to do when the process exits.
    pub restart: RestartPolicy,
    /// Resource limits.
    pub limits: ProcessLimits,
    /// The hooks the process implements (`hooks`), so that the host can register them before
    /// the process runs and start it on the first call (empty: not declared; the process
    /// names them when it starts).
    pub hooks: Vec<String>,
    /// Confine the process with Landlock (`sandbox`, default `false`).
    pub sandbox: bool,
    /// Paths the sandboxed process may read (`allowed_paths`), as written: a relative one is
    /// relative to the plugin's folder.
    pub allowed_paths: Vec<PathBuf>,
}

/// When a process plugin is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RestartPolicy {
    /// Restart it when it exits with an error or crashes (the default).
    #[default]
    OnFailure,
    /// Never restart it.
    Never,
}

/// `[process.limits]`: each at least 1 when given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProcessLimits {
    /// Memory limit in MiB: the process's address space (`RLIMIT_AS`), which is more than its
    /// resident memory (an interpreter needs some tens of MiB to start).
    pub memory_mb: Option<u64>,
    /// CPU time limit in seconds (`RLIMIT_CPU`): `SIGXCPU` at the limit, `SIGKILL` a second
    /// later.
    pub cpu_seconds: Option<u64>,
    /// Open file limit (`RLIMIT_NOFILE`), standard input, output and error included.
    pub open_files: Option<u64>,
    /// Time limit of one call, in milliseconds.
    pub call_timeout_ms: Option<u64>,
}

/// A manifest that could not be read or is not valid: the file, where in it (when known),
/// the field, and what is wrong. Displays as `path:line:column: problem`.
///
/// ```text
/// plugins/auth/plugin.toml:3:11: version "1.2" is not semver (expected MAJOR.MINOR.PATCH)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{}: {problem}", self.location())]
#[non_exhaustive]
pub struct ManifestError {
    /// The manifest's path.
    pub path: PathBuf,
    /// 1-based line and column (in characters), when the problem is at a place in the file.
    pub position: Option<(u32, u32)>,
    /// The dotted field the problem is in (`version`, `process.instances`), when known.
    pub field: Option<String>,
    /// What is wrong.
    #[serde(serialize_with = "super::report::as_display")]
    pub problem: ManifestProblem,
}

impl ManifestError {
    pub(crate) fn new(path: &Path, problem: ManifestProblem) -> Self {
        Self {
            path: path.to_owned(),
            position: None,
            field: None,
            problem,
        }
    }

    /// `path:line:column`, or `path` when no position is known.
    pub fn location(&self) -> String {
        match self.position {
            Some((line, column)) => format!("{}:{line}:{column}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

/// What is wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestProblem {
    /// The plugin folder has no `plugin.toml`.
    #[error("no {MANIFEST_FILE} in the plugin folder; add one (or move the folder out of the plugin folder)")]
    Missing,
    /// `plugin.toml` is a folder (or another non-file).
    #[error("is not a file (a folder or a special file); {MANIFEST_FILE} must be a regular file")]
    NotAFile,
    /// `plugin.toml` is a symbolic link to nothing.
    #[error("is a symbolic link to a file that does not exist; fix or remove the link")]
    DanglingSymlink,
    /// Following `plugin.toml`'s symbolic links loops.
    #[error("is a symbolic link loop; point the link at a real file")]
    SymlinkLoop,
    /// The file could not be read.
    #[error("cannot be read: {0}")]
    Unreadable(String),
    /// The file is larger than [`MAX_MANIFEST_BYTES`].
    #[error("is {size} bytes, more than the limit of {limit} bytes; a manifest is a short settings file")]
    TooLarge {
        /// The file's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is not UTF-8.
    #[error("is not valid UTF-8 (first bad byte at offset {offset}); save it as UTF-8")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// Not TOML, or a field TOML/serde rejected (unknown, missing, wrong type): the parser's
    /// message.
    #[error("{0}")]
    Syntax(String),
    /// A field with a value that parses but is not valid: what it is and what was expected.
    #[error("{0}")]
    Invalid(String),
    /// `name` differs from the folder's name.
    #[error(
        "name {name:?} differs from its folder's name {folder:?}; rename the folder or the plugin"
    )]
    NameMismatch {
        /// The manifest's `name`.
        name: String,
        /// The folder's name.
        folder: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    name: Spanned<String>,
    version: Spanned<String>,
    description: Option<String>,
    kind: RawKind,
    #[serde(default)]
    requires: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    optional: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    conflicts: BTreeMap<String, Spanned<String>>,
    host_api: Option<Spanned<String>>,
    #[serde(default)]
    permissions: Vec<Spanned<String>>,
    #[serde(default)]
    config: toml::Table,
    #[serde(default)]
    priority: BTreeMap<String, i32>,
    #[serde(default)]
    lazy: bool,
    #[serde(default)]
    conditions: RawConditions,
    process: Option<Spanned<RawProcess>>,
    #[serde(default)]
    sha256: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RawKind {
    Linked,
    Process,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    command: Spanned<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    instances: Option<Spanned<u32>>,
    start_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    restart: RestartPolicy,
    #[serde(default)]
    limits: Option<Spanned<ProcessLimits>>,
    #[serde(default)]
    hooks: Vec<Spanned<String>>,
    #[serde(default)]
    sandbox: bool,
    #[serde(default)]
    allowed_paths: Vec<Spanned<String>>,
}

/// Whether `name` follows the name rule `[a-z0-9][a-z0-9_-]*`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

const NAME_RULE: &str = "lower-case letters, digits, `-` and `_`, starting with a letter or digit";

impl PluginManifest {
    /// Parses and validates manifest `text`; `path` names the file in errors. Does not check
    /// the folder's name (see [`load`](Self::load)).
    ///
    /// ```
    /// use hookwire::discovery::{PluginKind, PluginManifest};
    /// let m = PluginManifest::parse("name = \"auth\"\nversion = \"1.2.0\"\nkind = \"linked\"\n",
    ///                               "plugins/auth/plugin.toml").unwrap();
    /// assert_eq!(m.meta.name, "auth");
    /// assert_eq!(m.kind, PluginKind::Linked);
    ///
    /// let err = PluginManifest::parse("name = \"auth\"\nkind = \"linked\"\nversion = \"1.2\"\n",
    ///                                 "plugins/auth/plugin.toml").unwrap_err();
    /// assert_eq!(err.to_string(),
    ///     "plugins/auth/plugin.toml:3:11: version \"1.2\" is not semver (expected MAJOR.MINOR.PATCH)");
    /// ```
    ///
    /// # Errors
    /// [`ManifestError`] with [`ManifestProblem::Syntax`] for malformed TOML, unknown or
    /// missing fields and wrong types, [`ManifestProblem::Invalid`] for values that are not
    /// valid (a name breaking the name rule, a version or requirement that is not semver, an
    /// unknown OS, an empty command, zero instances or limits, an empty or repeated name in
    /// `process.hooks`, an empty path in `process.allowed_paths` or `allowed_paths` without
    /// `sandbox = true`, `[process]` with the wrong kind, a `[sha256]` hash that is not 64 hex
    /// digits or a pinned path that is empty, absolute or leaves the plugin's folder).
    pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<Self, ManifestError> {
        let path = path.as_ref();
        let raw: Raw = toml::from_str(text).map_err(|e| syntax_error(text, path, &e))?;
        let at = |span: Range<usize>, field: &str, message: String| ManifestError {
            path: path.to_owned(),
            position: Some(line_col(text, span.start)),
            field: Some(field.to_owned()),
            problem: ManifestProblem::Invalid(message),
        };
        let name = raw.name.get_ref();
        if !is_valid_name(name) {
            return Err(at(
                raw.name.span(),
                "name",
                format!("name {name:?} is not a valid plugin name (expected {NAME_RULE})"),
            ));
        }
        let version = raw.version.get_ref();
        if semver::Version::parse(version).is_err() {
            return Err(at(
                raw.version.span(),
                "version",
                format!("version {version:?} is not semver (expected MAJOR.MINOR.PATCH)"),
            ));
        }
        let mut meta = PluginMeta::new(name.clone(), version);
        if let Some(d) = raw.description {
            meta = meta.description(d);
        }
        for (table, deps) in [
            ("requires", &raw.requires),
            ("optional", &raw.optional),
            ("conflicts", &raw.conflicts),
        ] {
            for (dep, req) in deps {
                let field = format!("{table}.{}", dotted(&[dep]));
                if !is_valid_name(dep) {
                    return Err(at(
                        req.span(),
                        &field,
                        format!(
                            "{table} names {dep:?}, not a valid plugin name (expected {NAME_RULE})"
                        ),
                    ));
                }
                if semver::VersionReq::parse(req.get_ref()).is_err() {
                    return Err(at(
                        req.span(),
                        &field,
                        format!(
                            "{field} = {:?} is not a semver requirement (expected e.g. \"^1.2\", \">=0.3, <2\")",
                            req.get_ref()
                        ),
                    ));
                }
                meta = match table {
                    "requires" => meta.requires(dep.clone(), req.get_ref()),
                    "optional" => meta.optional(dep.clone(), req.get_ref()),
                    _ => meta.conflicts(dep.clone(), req.get_ref()),
                };
            }
        }
        if let Some(req) = &raw.host_api {
            if semver::VersionReq::parse(req.get_ref()).is_err() {
                return Err(at(
                    req.span(),
                    "host_api",
                    format!(
                        "host_api = {:?} is not a semver requirement (expected e.g. \"^1\")",
                        req.get_ref()
                    ),
                ));
            }
            meta = meta.host_api(req.get_ref());
        }
        let mut permissions = Vec::with_capacity(raw.permissions.len());
        for p in raw.permissions {
            if p.get_ref().trim().is_empty() {
                return Err(at(
                    p.span(),
                    "permissions",
                    "a permission name is empty (expected names such as \"net\")".to_owned(),
                ));
            }
            permissions.push(p.into_inner());
        }
        let conditions = raw
            .conditions
            .validate()
            .map_err(|(span, field, message)| at(span, &field, message))?;
        let pinned = validate_pins(raw.sha256, &at)?;
        let kind = match (raw.kind, raw.process) {
            (RawKind::Linked, None) => PluginKind::Linked,
            (RawKind::Linked, Some(process)) => {
                return Err(at(
                    process.span(),
                    "process",
                    "a [process] table in a manifest of kind \"linked\" (expected kind = \"process\", or no [process] table)".to_owned(),
                ))
            }
            (RawKind::Process, None) => {
                return Err(ManifestError {
                    field: Some("process".to_owned()),
                    ..ManifestError::new(
                        path,
                        ManifestProblem::Invalid(
                            "kind = \"process\" needs a [process] table (expected at least `command = [\"program\", \"arg\"]`)".to_owned(),
                        ),
                    )
                })
            }
            (RawKind::Process, Some(process)) => {
                PluginKind::Process(process.into_inner().validate(&at)?)
            }
        };
        Ok(Self {
            path: path.to_owned(),
            meta,
            kind,
            permissions,
            config: raw.config,
            priority: raw.priority,
            lazy: raw.lazy,
            conditions,
            pinned,
        })
    }

    /// Reads and validates the manifest at `path` (`<folder>/<name>/plugin.toml`): a regular
    /// file (symbolic links followed) of at most [`MAX_MANIFEST_BYTES`], UTF-8, valid, its
    /// `name` equal to its folder's name.
    ///
    /// # Errors
    /// [`ManifestError`] for a missing, unreadable, too large or non-UTF-8 file, a folder
    /// where the file should be, a dangling symbolic link or a loop, a name that differs from
    /// the folder's, and everything [`parse`](Self::parse) rejects.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ManifestError> {
        let path = path.as_ref();
        let bytes = read_manifest(path)?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses `bytes` read from `path` and checks the folder's name.
    pub(crate) fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            ManifestError::new(
                path,
                ManifestProblem::NotUtf8 {
                    offset: e.valid_up_to(),
                },
            )
        })?;
        let manifest = Self::parse(text, path)?;
        let folder = path
            .parent()
            .and_then(Path::file_name)
            .map(|f| f.to_string_lossy().into_owned());
        match folder {
            Some(folder) if folder != manifest.meta.name => Err(ManifestError::new(
                path,
                ManifestProblem::NameMismatch {
                    name: manifest.meta.name,
                    folder,
                },
            )),
            _ => Ok(manifest),
        }
    }
}

impl RawProcess {
    fn validate(
        self,
        at: &impl Fn(Range<usize>, &str, String) -> ManifestError,
    ) -> Result<ProcessSpec, ManifestError> {
        if self
            .command
            .get_ref()
            .first()
            .is_none_or(|p| p.trim().is_empty())
        {
            return Err(at(
                self.command.span(),
                "process.command",
                "process.command is empty (expected the program and its arguments, e.g. [\"python3\", \"main.py\"])".to_owned(),
            ));
        }
        let instances = match self.instances {
            None => 1,
            Some(n) if *n.get_ref() == 0 => {
                return Err(at(
                    n.span(),
                    "process.instances",
                    "process.instances is 0 (expected at least 1)".to_owned(),
                ))
            }
            Some(n) => n.into_inner(),
        };
        let start_timeout =
            match self.start_timeout_ms {
                None => Duration::from_secs(5),
                Some(ms) if *ms.get_ref() == 0 => return Err(at(
                    ms.span(),
                    "process.start_timeout_ms",
                    "process.start_timeout_ms is 0 (expected a time in milliseconds, at least 1)"
                        .to_owned(),
                )),
                Some(ms) => Duration::from_millis(ms.into_inner()),
            };
        let limits = match self.limits {
            None => ProcessLimits::default(),
            Some(limits) => {
                let span = limits.span();
                let limits = limits.into_inner();
                for (field, value) in [
                    ("memory_mb", limits.memory_mb),
                    ("cpu_seconds", limits.cpu_seconds),
                    ("open_files", limits.open_files),
                    ("call_timeout_ms", limits.call_timeout_ms),
                ] {
                    if value == Some(0) {
                        return Err(at(
                            span.clone(),
                            &format!("process.limits.{field}"),
                            format!("process.limits.{field} is 0 (expected at least 1, or no limit: leave it out)"),
                        ));
                    }
                }
                limits
            }
        };
        let mut hooks: Vec<String> = Vec::with_capacity(self.hooks.len());
        for hook in self.hooks {
            let name = hook.get_ref();
            if name.trim().is_empty() {
                return Err(at(
                    hook.span(),
                    "process.hooks",
                    "process.hooks names an empty hook (expected hook names such as \"authenticate\")".to_owned(),
                ));
            }
            if hooks.contains(name) {
                return Err(at(
                    hook.span(),
                    "process.hooks",
                    format!("process.hooks names {name:?} twice (expected each hook once)"),
                ));
            }
            hooks.push(hook.into_inner());
        }
        if let (false, Some(first)) = (self.sandbox, self.allowed_paths.first()) {
            return Err(at(
                first.span(),
                "process.allowed_paths",
                "process.allowed_paths is set but sandbox is not (expected `sandbox = true` with allowed_paths: without a sandbox every path is allowed)".to_owned(),
            ));
        }
        let mut allowed_paths = Vec::with_capacity(self.allowed_paths.len());
        for path in self.allowed_paths {
            if path.get_ref().trim().is_empty() {
                return Err(at(
                    path.span(),
                    "process.allowed_paths",
                    "process.allowed_paths has an empty path (expected a folder or file, absolute or relative to the plugin's folder)".to_owned(),
                ));
            }
            allowed_paths.push(PathBuf::from(path.into_inner()));
        }
        Ok(ProcessSpec {
            command: self.command.into_inner(),
            env: self.env,
            instances,
            start_timeout,
            restart: self.restart,
            limits,
            hooks,
            sandbox: self.sandbox,
            allowed_paths,
        })
    }
}

/// Checks the `[sha256]` table: relative paths that stay in the plugin's folder, each file
/// pinned once (stored normalised: without `.` components or doubled `/`), hashes of 64 hex
/// digits (stored lower-case).
fn validate_pins(
    raw: BTreeMap<String, Spanned<String>>,
    at: &impl Fn(Range<usize>, &str, String) -> ManifestError,
) -> Result<BTreeMap<String, String>, ManifestError> {
    use std::path::Component;
    let mut pinned = BTreeMap::new();
    let mut spelled: BTreeMap<String, String> = BTreeMap::new();
    for (file, hash) in raw {
        let field = format!("sha256.{}", dotted(&[&file]));
        let path = Path::new(&file);
        let escapes = path.is_absolute()
            || path.has_root()
            || file.contains('\\')
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
        if file.trim().is_empty() || path.components().all(|c| c == Component::CurDir) {
            return Err(at(
                hash.span(),
                &field,
                "sha256 pins a file with an empty path (expected a path in the plugin's folder, e.g. \"main.py\")".to_owned(),
            ));
        }
        if escapes {
            return Err(at(
                hash.span(),
                &field,
                format!("sha256 pins {file:?}, a path outside the plugin's folder (expected a relative path without `..`, e.g. \"bin/run.sh\")"),
            ));
        }
        let value = hash.get_ref();
        if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(at(
                hash.span(),
                &field,
                format!("sha256 of {file:?} is {value:?}, not a sha256 (expected 64 hex digits, as `sha256sum {file}` prints)"),
            ));
        }
        // One spelling per file (`./main.py` is `main.py`, `lib//a.py` is `lib/a.py`): a file
        // pinned twice would be copied twice into the verified copy.
        let normal: Vec<&str> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(part) => part.to_str(),
                _ => None,
            })
            .collect();
        let normal = normal.join("/");
        if let Some(first) = spelled.get(&normal) {
            return Err(at(
                hash.span(),
                &field,
                format!("sha256 pins {normal:?} twice, as {first:?} and as {file:?}; pin each file once, by its path in the plugin's folder (\"{normal}\")"),
            ));
        }
        spelled.insert(normal.clone(), file);
        pinned.insert(normal, value.to_ascii_lowercase());
    }
    Ok(pinned)
}

/// Opens `path` for reading without waiting on what it is, and returns it with its metadata
/// (of the file opened, not of a path looked at before: nothing can be swapped in between).
/// On Unix the open is non-blocking: opening a FIFO for reading otherwise waits for a writer
/// (forever), and a device may wait too; the caller checks `is_file` before reading.
pub(crate) fn open_no_wait(path: &Path) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // `O_NONBLOCK` only changes how opening a FIFO or a device waits; reads of a regular
        // file are not affected.
        let nonblock = rustix::fs::OFlags::NONBLOCK.bits();
        options.custom_flags(i32::try_from(nonblock).unwrap_or(0));
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// Reads a manifest file with the checks of [`PluginManifest::load`] before parsing.
pub(crate) fn read_manifest(path: &Path) -> Result<Vec<u8>, ManifestError> {
    use std::io::Read;
    let fail = |problem| ManifestError::new(path, problem);
    let (file, meta) = open_no_wait(path).map_err(|e| fail(io_problem(path, &e)))?;
    if !meta.is_file() {
        return Err(fail(ManifestProblem::NotAFile));
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(fail(ManifestProblem::TooLarge {
            size: meta.len(),
            limit: MAX_MANIFEST_BYTES,
        }));
    }
    // Bounded even if the file grew since the check.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(io_problem(path, &e)))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(fail(ManifestProblem::TooLarge {
            size: bytes.len() as u64,
            limit: MAX_MANIFEST_BYTES,
        }));
    }
    Ok(bytes)
}

/// What an I/O error on a manifest path means to an operator.
pub(crate) fn io_problem(path: &Path, e: &std::io::Error) -> ManifestProblem {
    // ELOOP: 40 on Linux, 62 on macOS and the BSDs.
    let looped = e.to_string().contains("symbolic links")
        || matches!(e.raw_os_error(), Some(40) if cfg!(target_os = "linux"))
        || matches!(e.raw_os_error(), Some(62) if cfg!(any(target_os = "macos", target_os = "freebsd")));
    if looped {
        return ManifestProblem::SymlinkLoop;
    }
    if e.kind() == std::io::ErrorKind::NotFound {
        return match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => ManifestProblem::DanglingSymlink,
            _ => ManifestProblem::Missing,
        };
    }
    ManifestProblem::Unreadable(e.to_string())
}

/// `[process] command` when it is written as one string.
fn command_as_string(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    Some(table.get("process")?.get("command")?.as_str()?.to_owned())
}

/// A TOML or serde error, with its position and the field it is in.
fn syntax_error(text: &str, path: &Path, e: &toml::de::Error) -> ManifestError {
    let span = e.span();
    let message = e.message().trim().to_owned();
    // A field missing from the top-level table: the error's span is empty at its start (or
    // the whole file), where the first key is not the problem. Name the missing field, at no
    // place.
    let top_level_missing = message.strip_prefix("missing field `").and_then(|rest| {
        let whole = span.as_ref()?;
        (whole.start == 0 && (whole.end == 0 || whole.end >= text.trim_end().len()))
            .then(|| rest.split('`').next().unwrap_or_default().to_owned())
    });
    if let Some(missing) = top_level_missing {
        let message = match missing.as_str() {
            "kind" => format!("{message}: add kind = \"linked\" (a plugin linked into the host) or kind = \"process\" (a program the host starts)"),
            _ => message,
        };
        return ManifestError {
            path: path.to_owned(),
            position: None,
            field: Some(missing),
            problem: ManifestProblem::Syntax(message),
        };
    }
    let field = span.as_ref().and_then(|s| {
        let doc = DeTable::parse(text).ok()?;
        locate(table_entries(doc.get_ref()), s.start).map(|keys| dotted(&keys))
    });
    let message = match &field {
        Some(f) if !message.contains(&format!("`{f}`")) => format!("{f}: {message}"),
        _ => message,
    };
    // `command = "python3 main.py"`: show the list to write.
    let message = match (field.as_deref(), command_as_string(text)) {
        // Quotes or escapes: splitting at spaces would suggest the wrong arguments.
        (Some("process.command"), Some(line)) if line.contains(['\'', '"', '\\']) => {
            format!("{message}; write the program and its arguments as a list of strings: command = [\"program\", \"argument\"]")
        }
        (Some("process.command"), Some(line)) => {
            let words: Vec<&str> = line.split_whitespace().collect();
            format!("{message}; write the program and its arguments as a list: command = {words:?}")
        }
        _ => message,
    };
    ManifestError {
        path: path.to_owned(),
        position: span.map(|s| line_col(text, s.start)),
        field,
        problem: ManifestProblem::Syntax(message),
    }
}
