//! What the operating system sees when a plugin process starts and stops.
//!
//! A [`LaunchSpec`] describes one start: the command, the plugin's folder (the working
//! directory), extra environment variables, [`ResourceLimits`] and an optional [`Sandbox`].
//! The crate-private [`spawn`] turns it into a `tokio::process::Child`:
//!
//! - stdin, stdout and stderr piped; `kill_on_drop(true)`;
//! - a **cleared environment** plus the allow-list of `docs/protocol.md` §2
//!   ([`ENV_ALLOW_LIST`], copied from the host when set), the spec's variables, and
//!   [`PLUGIN_ENV`](super::protocol::PLUGIN_ENV)` = 1`;
//! - the working directory set to the plugin's folder;
//! - its **own process group** (`process_group(0)`), so that [`stop`] and [`signal_group`] reach
//!   the grandchildren it forks;
//! - between fork and exec (`pre_exec`): on Linux `PR_SET_PDEATHSIG` = `SIGKILL` (the plugin
//!   dies with its host), the rlimits (`RLIMIT_AS`, `RLIMIT_CPU`, `RLIMIT_NOFILE`), and on Linux
//!   the Landlock restriction. Everything that allocates (the ruleset and its path fds, the
//!   limit values) is built **before** the fork; the child only makes system calls.
//!
//! [`describe_exit`] explains an exit in terms of the limits the process ran under; [`stop`]
//! stops the whole group gracefully, then by force, and reaps the child.
//!
//! # What still escapes
//! - A grandchild that calls `setsid` (or `setpgid`) leaves the plugin's process group: the
//!   group signals of [`stop`] do not reach it, and `PR_SET_PDEATHSIG` is per process (it is not
//!   inherited across `fork`). A cgroup (a later option) would catch it.
//! - A host that dies abruptly (`SIGKILL`, a crash) takes its plugins with it
//!   (`PR_SET_PDEATHSIG`), but not the processes a plugin started itself, even in its group:
//!   nothing is left to signal the group, and they are adopted by init. A cgroup would catch
//!   them as well. (A host that stops normally signals the whole group.)
//! - `RLIMIT_NPROC` is not set: it does not bind root (which CI runs as), so process counts are
//!   left to a later cgroup option as well. A fork bomb inside the limits is not stopped.
//! - (Handled, not escaping:) `PR_SET_PDEATHSIG` fires when the *thread* that forked the plugin
//!   exits, not the host process. So every plugin is forked by one dedicated thread that lives
//!   as long as the host process (`hookwire-spawner`, started by the first [`spawn`]): a plugin
//!   started from `spawn_blocking`, a short-lived thread or a runtime that is shut down does not
//!   die when that thread ends.
//! - Landlock confines the file system only (not the network), and only for access checked
//!   after the restriction: file descriptors the plugin inherits (its stdio pipes) stay usable.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
#[cfg(feature = "discovery")]
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::OnceLock;

/// The environment variables a plugin process inherits from its host, when the host has them
/// (`docs/protocol.md` §2). Every other host variable is cleared.
pub const ENV_ALLOW_LIST: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// The system paths a sandboxed plugin may read when its sandbox comes from a manifest
/// (`LaunchSpec::from_manifest`, feature `discovery`): what an interpreter needs to start. Paths missing on this
/// machine are left out.
pub const SYSTEM_READ_ONLY_PATHS: &[&str] =
    &["/usr", "/lib", "/lib64", "/bin", "/etc", "/dev/urandom"];

/// The system paths a sandboxed plugin from a manifest may also write: `/dev/null` (shell
/// scripts, such as interpreter shims, redirect to it).
#[cfg(feature = "discovery")]
const SYSTEM_READ_WRITE_PATHS: &[&str] = &["/dev/null"];

/// Unix resource limits set in the plugin process before it executes its program. `None` (the
/// default) leaves the host's limit as it is.
///
/// ```
/// use hookwire::external::ResourceLimits;
/// let limits = ResourceLimits::new().address_space_mib(256).cpu_seconds(10).open_files(64);
/// assert_eq!(limits.address_space_mib, Some(256));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ResourceLimits {
    /// `RLIMIT_AS`: the address space in MiB (soft and hard). Allocations beyond it fail (an
    /// interpreter raises `MemoryError`, a C or Rust program usually aborts). Address space
    /// is more than resident memory: an interpreter needs some tens of MiB to start.
    pub address_space_mib: Option<u64>,
    /// `RLIMIT_CPU`: CPU seconds. At the limit the process gets `SIGXCPU` (which ends it unless
    /// it handles the signal); one second later (the hard limit) `SIGKILL`.
    pub cpu_seconds: Option<u64>,
    /// `RLIMIT_NOFILE`: the number of open file descriptors (soft and hard), stdio included.
    pub open_files: Option<u64>,
}

impl ResourceLimits {
    /// No limits (the host's own stay in force).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`address_space_mib`](Self::address_space_mib).
    #[must_use]
    pub fn address_space_mib(mut self, mib: u64) -> Self {
        self.address_space_mib = Some(mib);
        self
    }

    /// Sets [`cpu_seconds`](Self::cpu_seconds).
    #[must_use]
    pub fn cpu_seconds(mut self, seconds: u64) -> Self {
        self.cpu_seconds = Some(seconds);
        self
    }

    /// Sets [`open_files`](Self::open_files).
    #[must_use]
    pub fn open_files(mut self, files: u64) -> Self {
        self.open_files = Some(files);
        self
    }
}

/// A Landlock confinement of the plugin's file-system access (Linux 5.13+ with Landlock
/// enabled; see [`landlock_support`]): the process may read and write beneath
/// [`read_write`](Self::read_write), read (and execute) beneath [`read_only`](Self::read_only),
/// and nothing else. The paths must exist when the plugin starts. The network is not confined.
///
/// An empty sandbox denies every file access, including the program's own executable: list what
/// it needs, or build it with `LaunchSpec::from_manifest` (feature `discovery`), which adds the folder, the system
/// paths and the interpreter's prefix.
///
/// ```
/// use hookwire::external::Sandbox;
/// let sandbox = Sandbox::new().read_write("/srv/plugins/greeter").read_only("/usr");
/// assert_eq!(sandbox.read_only.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Sandbox {
    /// Paths (folders or files) the plugin may read, write, create and remove beneath.
    pub read_write: Vec<PathBuf>,
    /// Paths (folders or files) the plugin may read and execute beneath.
    pub read_only: Vec<PathBuf>,
}

impl Sandbox {
    /// A sandbox that allows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows reading and writing beneath `path`.
    #[must_use]
    pub fn read_write(mut self, path: impl Into<PathBuf>) -> Self {
        self.read_write.push(path.into());
        self
    }

    /// Allows reading and executing beneath `path`.
    #[must_use]
    pub fn read_only(mut self, path: impl Into<PathBuf>) -> Self {
        self.read_only.push(path.into());
        self
    }
}

/// How one plugin process is started: the command, its folder, environment, limits and
/// sandbox. Build it with [`new`](Self::new) or, from a manifest,
/// `from_manifest` (feature `discovery`).
///
/// ```
/// use hookwire::external::{LaunchSpec, ResourceLimits};
/// let spec = LaunchSpec::new("python3", "/srv/plugins/greeter")
///     .arg("main.py")
///     .env("LOG", "info")
///     .limits(ResourceLimits::new().address_space_mib(256));
/// assert_eq!(spec.program, "python3");
/// assert_eq!(spec.args, ["main.py"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LaunchSpec {
    /// The program: a name looked up in `PATH`, or a path (a relative one is relative to
    /// [`folder`](Self::folder)).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The plugin's folder: the working directory of the process.
    pub folder: PathBuf,
    /// Environment variables set in the process, above the [`ENV_ALLOW_LIST`] and below
    /// [`PLUGIN_ENV`](super::protocol::PLUGIN_ENV).
    pub env: BTreeMap<OsString, OsString>,
    /// Resource limits.
    pub limits: ResourceLimits,
    /// The Landlock sandbox, if any. When set and the kernel cannot apply it, the start fails
    /// ([`LaunchError::SandboxUnavailable`]): the plugin never runs unconfined by surprise.
    pub sandbox: Option<Sandbox>,
}

impl LaunchSpec {
    /// Runs `program` in `folder`, with no arguments, extra variables, limits or sandbox.
    pub fn new(program: impl Into<OsString>, folder: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            folder: folder.into(),
            env: BTreeMap::new(),
            limits: ResourceLimits::default(),
            sandbox: None,
        }
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    #[must_use]
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable in the process.
    #[must_use]
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Sets the resource limits.
    #[must_use]
    pub fn limits(mut self, limits: ResourceLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Confines the process with `sandbox`.
    #[must_use]
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = Some(sandbox);
        self
    }

    /// The start described by a manifest's `[process]` table, for the plugin in `folder`:
    /// `command`, `env`, `[process.limits]` (`memory_mb` is the address space, `cpu_seconds`,
    /// `open_files`) and, when `sandbox = true`, a [`Sandbox`] that allows reading and writing
    /// in `folder` (and `/dev/null`), reading the [`SYSTEM_READ_ONLY_PATHS`] that exist, the
    /// prefix of the program's interpreter (`/usr` for `/usr/bin/python3`, `~/.pyenv` for a
    /// pyenv shim: the folder above the program's `bin`), and the manifest's `allowed_paths`
    /// (relative ones are relative to `folder`).
    ///
    /// ```
    /// use hookwire::discovery::{PluginKind, PluginManifest};
    /// use hookwire::external::LaunchSpec;
    /// let m = PluginManifest::parse(r#"
    /// name = "greeter"
    /// version = "1.0.0"
    /// kind = "process"
    /// [process]
    /// command = ["python3", "main.py"]
    /// [process.limits]
    /// memory_mb = 256
    /// "#, "plugins/greeter/plugin.toml").unwrap();
    /// let PluginKind::Process(process) = &m.kind else { unreachable!() };
    /// let spec = LaunchSpec::from_manifest(process, "plugins/greeter");
    /// assert_eq!(spec.limits.address_space_mib, Some(256));
    /// assert_eq!(spec.folder, std::path::Path::new("plugins/greeter"));
    /// ```
    #[cfg(feature = "discovery")]
    #[cfg_attr(docsrs, doc(cfg(feature = "discovery")))]
    pub fn from_manifest(
        process: &crate::discovery::ProcessSpec,
        folder: impl AsRef<Path>,
    ) -> Self {
        let folder = folder.as_ref();
        let mut command = process.command.iter();
        let program = command.next().cloned().unwrap_or_default();
        let mut spec = Self::new(program.clone(), folder)
            .args(command)
            .limits(ResourceLimits {
                address_space_mib: process.limits.memory_mb,
                cpu_seconds: process.limits.cpu_seconds,
                open_files: process.limits.open_files,
            });
        spec.env = process
            .env
            .iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        if process.sandbox {
            let mut sandbox = Sandbox::new().read_write(folder);
            for path in SYSTEM_READ_WRITE_PATHS {
                if Path::new(path).exists() {
                    sandbox = sandbox.read_write(*path);
                }
            }
            for path in SYSTEM_READ_ONLY_PATHS {
                if Path::new(path).exists() {
                    sandbox = sandbox.read_only(*path);
                }
            }
            // The PATH the process will search: its manifest's, else the host's.
            let path_var = process
                .env
                .get("PATH")
                .map(OsString::from)
                .or_else(|| std::env::var_os("PATH"));
            for prefix in interpreter_prefixes(&program, folder, path_var.as_deref()) {
                if !sandbox.read_only.contains(&prefix) {
                    sandbox = sandbox.read_only(prefix);
                }
            }
            for path in &process.allowed_paths {
                sandbox = sandbox.read_only(folder.join(path));
            }
            spec.sandbox = Some(sandbox);
        }
        spec
    }
}

/// The folders a sandboxed `program` needs to read to start: for the program as found (in
/// `folder` for a path, in `path_var` for a bare name) and for its canonical path (symbolic
/// links followed), the folder above its `bin`/`sbin`/`shims` folder, or its own folder
/// otherwise. Never `/`; nothing for a program inside `folder` (already allowed).
#[cfg(feature = "discovery")]
fn interpreter_prefixes(
    program: &str,
    folder: &Path,
    path_var: Option<&std::ffi::OsStr>,
) -> Vec<PathBuf> {
    let found = if program.contains('/') {
        Some(folder.join(program))
    } else {
        path_var.and_then(|paths| {
            std::env::split_paths(paths)
                .map(|dir| dir.join(program))
                .find(|candidate| candidate.is_file())
        })
    };
    let Some(found) = found else {
        return Vec::new();
    };
    let canonical_folder = folder.canonicalize().unwrap_or_else(|_| folder.to_owned());
    let mut prefixes = Vec::new();
    for path in [Some(found.clone()), found.canonicalize().ok()]
        .into_iter()
        .flatten()
    {
        if path.starts_with(folder) || path.starts_with(&canonical_folder) {
            continue;
        }
        let Some(dir) = path.parent() else { continue };
        let in_bin = dir
            .file_name()
            .is_some_and(|name| name == "bin" || name == "sbin" || name == "shims");
        let prefix = match dir.parent() {
            Some(above) if in_bin && above.parent().is_some() => above,
            _ => dir,
        };
        if prefix.parent().is_some() && !prefixes.iter().any(|p: &PathBuf| p == prefix) {
            prefixes.push(prefix.to_owned());
        }
    }
    prefixes
}

/// Whether this kernel can confine a process with Landlock: the answer of
/// [`landlock_support`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LandlockSupport {
    /// Landlock works, and the sandbox is built for ABI `abi`.
    Supported {
        /// The newest Landlock ABI version whose file-system rights this kernel enforces in
        /// full, as far as hookwire knows them (1 = Linux 5.13; later versions confine more
        /// operations: renames across folders (2), truncation (3), device ioctls (5)). It can
        /// be above the kernel's own version when the versions between add no file-system
        /// right (the probe is a ruleset created with those rights as a hard requirement).
        abi: u32,
    },
    /// Landlock cannot be used, and why (not Linux, not built into the kernel, or disabled at
    /// boot: add `landlock` to the kernel's `lsm=` parameter).
    Unsupported {
        /// Why.
        reason: String,
    },
}

impl LandlockSupport {
    /// Whether Landlock is supported.
    pub fn is_supported(&self) -> bool {
        matches!(self, Self::Supported { .. })
    }
}

impl fmt::Display for LandlockSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Supported { abi } => write!(f, "Landlock ABI {abi}"),
            Self::Unsupported { reason } => write!(f, "Landlock unsupported: {reason}"),
        }
    }
}

/// Whether this kernel supports Landlock, probed once per process (the first call makes a few
/// `landlock_create_ruleset` calls; later calls return the stored answer).
///
/// ```
/// let support = hookwire::external::landlock_support();
/// println!("{support}"); // "Landlock ABI 6" or "Landlock unsupported: …"
/// ```
pub fn landlock_support() -> &'static LandlockSupport {
    static SUPPORT: OnceLock<LandlockSupport> = OnceLock::new();
    SUPPORT.get_or_init(sandbox::probe)
}

/// Why a plugin process could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// This platform cannot start plugin processes (or not with the options asked for).
    #[error("{what} is not supported on this platform")]
    Unsupported {
        /// What is not supported.
        what: &'static str,
    },
    /// A sandbox was asked for and the kernel cannot apply it.
    #[error("the plugin asks for a sandbox, but this system cannot confine it with Landlock ({reason}); run it on Linux 5.13 or later with Landlock enabled, or set `sandbox = false` in its manifest")]
    SandboxUnavailable {
        /// Why (see [`LandlockSupport::Unsupported`]).
        reason: String,
    },
    /// A sandbox path could not be opened (it does not exist, or is not readable by the host).
    #[error("the sandbox path `{}` cannot be opened ({source}); create it or remove it from the plugin's allowed paths", path.display())]
    SandboxPath {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The Landlock ruleset could not be built.
    #[error("cannot build the plugin's Landlock sandbox: {0}")]
    Sandbox(String),
    /// The plugin's folder is not a folder the host can use as working directory.
    #[error("the plugin folder `{}` cannot be the working directory ({source}); check that it exists and is a folder", path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The process could not be started: the program was not found or is not executable, or
    /// a limit or the sandbox could not be applied in the child.
    #[error("cannot start `{}` in `{}`: {source}; check the command (a program in PATH, or a path relative to the plugin folder) and its limits", program.to_string_lossy(), folder.display())]
    Spawn {
        /// The program.
        program: OsString,
        /// The working directory.
        folder: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Explains how a plugin process ended, in terms of the limits it ran under, for messages such
/// as "plugin `x` {description}; its last stderr lines: …":
///
/// - killed by `SIGXCPU` under a CPU limit: "was killed by SIGXCPU: it used its CPU time
///   limit of 1 s";
/// - killed by `SIGKILL` under a CPU limit: the signal, and that it may have reached the CPU
///   hard limit;
/// - a failure exit (or `SIGABRT`/`SIGSEGV`/`SIGBUS`) under a memory limit: "exited with status
///   1 while limited to 64 MiB of address space; it may have run out of memory";
/// - a failure exit under an open files limit: "exited with status 127 while limited to 3 open
///   files; it may have run out of file descriptors" (both limits: "... while limited to 64 MiB
///   of address space and 3 open files; it may have run out of memory or file descriptors");
/// - any other signal: "was killed by SIGTERM"; any other exit: "exited with status 3".
///
/// ```
/// # #[cfg(unix)] {
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use hookwire::external::{describe_exit, ResourceLimits};
/// let limits = ResourceLimits::new().address_space_mib(64);
/// assert_eq!(describe_exit(ExitStatus::from_raw(1 << 8), &limits),
///     "exited with status 1 while limited to 64 MiB of address space; it may have run out of memory");
/// assert_eq!(describe_exit(ExitStatus::from_raw(15), &limits), "was killed by SIGTERM");
/// # }
/// ```
pub fn describe_exit(status: ExitStatus, limits: &ResourceLimits) -> String {
    let memory = limits.address_space_mib.map(|mib| {
        format!(" while limited to {mib} MiB of address space; it may have run out of memory")
    });
    if let Some(code) = status.code() {
        // A failure exit under the limits an exhausted resource reports by a failure exit.
        let mut limited = Vec::new();
        let mut ran_out = Vec::new();
        if let Some(mib) = limits.address_space_mib {
            limited.push(format!("{mib} MiB of address space"));
            ran_out.push("memory");
        }
        if let Some(files) = limits.open_files {
            limited.push(format!("{files} open files"));
            ran_out.push("file descriptors");
        }
        return if code != 0 && !limited.is_empty() {
            format!(
                "exited with status {code} while limited to {}; it may have run out of {}",
                limited.join(" and "),
                ran_out.join(" or ")
            )
        } else {
            format!("exited with status {code}")
        };
    }
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        let name = signal_name(signal);
        let killed = match name {
            Some(name) => format!("was killed by {name}"),
            None => format!("was killed by signal {signal}"),
        };
        return match (name, limits.cpu_seconds, memory) {
            (Some("SIGXCPU"), Some(cpu), _) => {
                format!("{killed}: it used its CPU time limit of {cpu} s")
            }
            (Some("SIGKILL"), Some(cpu), _) => format!(
                "{killed}; it may have reached its CPU time hard limit of {} s",
                cpu.saturating_add(1)
            ),
            (Some("SIGABRT" | "SIGSEGV" | "SIGBUS"), _, Some(memory)) => {
                format!("{killed}{memory}")
            }
            _ => killed,
        };
    }
    format!("ended: {status}")
}

/// The name of a Unix signal number (`SIGTERM`), for the common ones.
#[cfg(unix)]
fn signal_name(signal: i32) -> Option<&'static str> {
    use rustix::process::Signal;
    [
        (Signal::HUP, "SIGHUP"),
        (Signal::INT, "SIGINT"),
        (Signal::QUIT, "SIGQUIT"),
        (Signal::ILL, "SIGILL"),
        (Signal::TRAP, "SIGTRAP"),
        (Signal::ABORT, "SIGABRT"),
        (Signal::BUS, "SIGBUS"),
        (Signal::FPE, "SIGFPE"),
        (Signal::KILL, "SIGKILL"),
        (Signal::USR1, "SIGUSR1"),
        (Signal::SEGV, "SIGSEGV"),
        (Signal::USR2, "SIGUSR2"),
        (Signal::PIPE, "SIGPIPE"),
        (Signal::ALARM, "SIGALRM"),
        (Signal::TERM, "SIGTERM"),
        (Signal::XCPU, "SIGXCPU"),
        (Signal::XFSZ, "SIGXFSZ"),
        (Signal::SYS, "SIGSYS"),
    ]
    .into_iter()
    .find(|(s, _)| s.as_raw() == signal)
    .map(|(_, name)| name)
}

// `pub` inside this private module: the crate uses them, and the feature `testing` re-exports
// `spawn` and `stop` (hidden) for the launch tests.
#[cfg(unix)]
pub use unix::{signal_group, spawn, stop};

#[cfg(not(unix))]
pub use other::{signal_group, spawn, stop};

#[cfg(unix)]
mod unix {
    use std::io;
    use std::process::{ExitStatus, Stdio};
    use std::time::Duration;

    use rustix::process::{Pid, Resource, Rlimit, Signal};
    use tokio::process::{Child, Command};

    use super::{LaunchError, LaunchSpec, ENV_ALLOW_LIST};
    use crate::external::protocol::PLUGIN_ENV;

    /// Starts the process `spec` describes (see the module docs for what it gets). Its process
    /// group id is its pid (`child.id()`): keep it for `stop` and `signal_group`, which
    /// still need it after the child was reaped.
    ///
    /// Must be called inside a Tokio runtime. The fork happens on the spawner thread
    /// (`hookwire-spawner`, see the module docs), whatever thread calls this: it waits for the fork and exec there (as
    /// long as a fork and exec take on the calling thread).
    ///
    /// # Errors
    /// [`LaunchError::Folder`] when the folder is not a folder,
    /// [`LaunchError::SandboxUnavailable`], [`LaunchError::SandboxPath`] or
    /// [`LaunchError::Sandbox`] when a sandbox is asked for and cannot be built,
    /// [`LaunchError::Spawn`] when the program cannot be started or a limit or the sandbox
    /// cannot be applied in the child.
    pub fn spawn(spec: &LaunchSpec) -> Result<Child, LaunchError> {
        match std::fs::metadata(&spec.folder) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(LaunchError::Folder {
                    path: spec.folder.clone(),
                    source: io::Error::new(io::ErrorKind::NotADirectory, "not a folder"),
                })
            }
            Err(source) => {
                return Err(LaunchError::Folder {
                    path: spec.folder.clone(),
                    source,
                })
            }
        }
        // Built before the fork: the Landlock ruleset (an fd, path fds already added), the
        // limit values, the host's pid for the parent-death check.
        let ruleset = match &spec.sandbox {
            Some(sandbox) => Some(super::sandbox::ruleset(sandbox)?),
            None => None,
        };
        let limits = rlimits(&spec.limits);
        #[cfg(target_os = "linux")]
        let host_pid = rustix::process::getpid();

        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .env_clear()
            .envs(
                ENV_ALLOW_LIST
                    .iter()
                    .filter_map(|name| std::env::var_os(name).map(|value| (*name, value))),
            )
            .envs(&spec.env)
            .env(PLUGIN_ENV, "1")
            .current_dir(&spec.folder)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let in_child = move || -> io::Result<()> {
            // Every call below is one system call through `rustix` (its Linux backend makes
            // the raw call itself; elsewhere it calls the libc wrapper of the same name) or
            // `libc::syscall`: no allocation, no lock, no global state other than `errno`,
            // hence async-signal-safe. Errors become `io::Error::from_raw_os_error`, which
            // does not allocate either.
            #[cfg(target_os = "linux")]
            {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                // The host may have died between the fork and the call above: then the
                // signal will never come, and the parent is now someone else.
                if rustix::process::getppid() != Some(host_pid) {
                    return Err(io::Error::from_raw_os_error(
                        rustix::io::Errno::SRCH.raw_os_error(),
                    ));
                }
            }
            for (resource, limit) in &limits {
                rustix::process::setrlimit(
                    *resource,
                    Rlimit {
                        current: limit.current,
                        maximum: limit.maximum,
                    },
                )?;
            }
            #[cfg(target_os = "linux")]
            if let Some(ruleset) = &ruleset {
                super::sandbox::restrict_self(ruleset)?;
            }
            #[cfg(not(target_os = "linux"))]
            let _ = &ruleset;
            Ok(())
        };
        // SAFETY: `pre_exec` runs the closure in the forked child before `exec`, where only
        // async-signal-safe operations are allowed. The closure allocates nothing and takes no
        // lock: it reads values built before the fork (`limits`, `host_pid`, the ruleset's
        // fd) and makes the system calls listed in it, each async-signal-safe (see the comment
        // inside). It does not touch the parent's memory: the child has its own copy.
        unsafe {
            command.pre_exec(in_child);
        }
        let spawned = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => spawner::run(move || {
                let _runtime = runtime.enter();
                command.spawn()
            })
            .and_then(|spawned| spawned),
            Err(_) => Err(io::Error::other(
                "no tokio runtime: start plugin processes from async code in a runtime",
            )),
        };
        spawned.map_err(|source| LaunchError::Spawn {
            program: spec.program.clone(),
            folder: spec.folder.clone(),
            source,
        })
    }

    /// The thread that forks every plugin process, so that their parent-death signal is tied
    /// to a thread that lives as long as the host process: Linux's `PR_SET_PDEATHSIG` fires
    /// when the thread that forked the child exits, and a plugin started from a thread that
    /// ends (a `spawn_blocking` thread retiring, a short-lived `std::thread`, a runtime shut
    /// down) would otherwise be killed with it.
    pub(super) mod spawner {
        use std::io;
        use std::sync::mpsc;
        use std::sync::OnceLock;

        type Job = Box<dyn FnOnce() + Send>;

        /// The spawner's queue; `None` if its thread could not be started.
        static QUEUE: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();

        /// Runs `job` on the spawner thread (started by the first call) and waits for its
        /// result.
        ///
        /// # Errors
        /// When the spawner thread could not be started, or ended (it never ends on its own).
        pub(crate) fn run<T: Send + 'static>(
            job: impl FnOnce() -> T + Send + 'static,
        ) -> io::Result<T> {
            let queue = QUEUE.get_or_init(|| {
                let (tx, rx) = mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name("hookwire-spawner".to_owned())
                    .spawn(move || {
                        for job in rx {
                            job();
                        }
                    })
                    .map_err(|e| tracing::error!(target: "hookwire::external", error = %e, "cannot start the thread that starts plugin processes"))
                    .ok()
                    .map(|_| tx)
            });
            let gone =
                || io::Error::other("the thread that starts plugin processes is not running");
            let queue = queue.as_ref().ok_or_else(gone)?;
            let (tx, rx) = mpsc::sync_channel(1);
            queue
                .send(Box::new(move || {
                    let _ = tx.send(job());
                }))
                .map_err(|_| gone())?;
            rx.recv().map_err(|_| gone())
        }
    }

    /// The rlimits to set: `(resource, limit)` where each limit is never above the host's hard
    /// limit (an unprivileged process cannot raise it). Computed before the fork.
    fn rlimits(limits: &super::ResourceLimits) -> Vec<(Resource, Rlimit)> {
        let mib = |m: u64| m.saturating_mul(1024 * 1024);
        let mut out = Vec::new();
        for (resource, soft, hard) in [
            (
                Resource::As,
                limits.address_space_mib.map(mib),
                limits.address_space_mib.map(mib),
            ),
            // SIGXCPU at the soft limit, SIGKILL one second later for a process that handles
            // SIGXCPU (with soft == hard, Linux sends SIGKILL only).
            (
                Resource::Cpu,
                limits.cpu_seconds,
                limits.cpu_seconds.map(|s| s.saturating_add(1)),
            ),
            (Resource::Nofile, limits.open_files, limits.open_files),
        ] {
            let (Some(soft), Some(hard)) = (soft, hard) else {
                continue;
            };
            let host_hard = rustix::process::getrlimit(resource).maximum;
            let hard = host_hard.map_or(hard, |h| hard.min(h));
            out.push((
                resource,
                Rlimit {
                    current: Some(soft.min(hard)),
                    maximum: Some(hard),
                },
            ));
        }
        out
    }

    /// Sends `signal` to every process of the group `pgid` (a plugin's pid, see [`spawn`]).
    /// A group with no process left is not an error.
    ///
    /// # Errors
    /// The system's error when the signal cannot be sent (`EPERM`).
    pub fn signal_group(pgid: u32, signal: Signal) -> io::Result<()> {
        let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{pgid} is not a process group id"),
            ));
        };
        match rustix::process::kill_process_group(pid, signal) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stops a plugin's whole process group: `SIGTERM` to the group, up to `grace` for the
    /// child to exit, then `SIGKILL` to the group (always: it also ends grandchildren that
    /// outlived the child or ignore `SIGTERM`), then reaps the child (no zombie). `pgid` is
    /// the child's pid as it was at spawn. Returns the child's exit status.
    ///
    /// Stop a plugin once, when it is to end or soon after it exited: once the child was
    /// reaped and every process of its group has ended, the system may give the number to a
    /// new process group.
    ///
    /// # Errors
    /// The system's error when the child cannot be waited for, or a signal cannot be sent.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes sends `SIGKILL` to the group (a guard does it),
    /// and the child's `kill_on_drop` reaps it when the `Child` is dropped.
    pub async fn stop(child: &mut Child, pgid: u32, grace: Duration) -> io::Result<ExitStatus> {
        /// Kills the group when the stop is dropped half-way.
        struct KillOnDrop(Option<u32>);
        impl Drop for KillOnDrop {
            fn drop(&mut self) {
                if let Some(pgid) = self.0 {
                    let _ = signal_group(pgid, Signal::KILL);
                }
            }
        }
        let mut guard = KillOnDrop(Some(pgid));
        signal_group(pgid, Signal::TERM)?;
        let graceful = tokio::time::timeout(grace, child.wait()).await;
        signal_group(pgid, Signal::KILL)?;
        guard.0 = None;
        match graceful {
            Ok(status) => status,
            Err(_elapsed) => {
                tracing::debug!(pgid, ?grace, "plugin process ignored SIGTERM; killed");
                child.wait().await
            }
        }
    }
}

/// Kills what is left of a plugin's process group (grandchildren that outlived it) once the
/// plugin itself has exited; nothing on platforms without process groups.
pub(crate) fn kill_group(pgid: u32) {
    #[cfg(unix)]
    if let Err(e) = signal_group(pgid, rustix::process::Signal::KILL) {
        tracing::debug!(pgid, error = %e, "could not kill what is left of a plugin's process group");
    }
    #[cfg(not(unix))]
    let _ = pgid;
}

#[cfg(not(unix))]
mod other {
    use std::io;
    use std::process::ExitStatus;
    use std::time::Duration;

    use tokio::process::Child;

    use super::{LaunchError, LaunchSpec};

    /// Plugin processes need Unix.
    pub fn spawn(_spec: &LaunchSpec) -> Result<Child, LaunchError> {
        Err(LaunchError::Unsupported {
            what: "starting plugin processes",
        })
    }

    /// Process groups need Unix.
    pub fn signal_group(_pgid: u32, _signal: ()) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "process groups are not supported on this platform",
        ))
    }

    /// Kills the child (no group on this platform).
    pub async fn stop(child: &mut Child, _pgid: u32, _grace: Duration) -> io::Result<ExitStatus> {
        child.kill().await?;
        child.wait().await
    }
}

/// Landlock: probing, building the ruleset before the fork, restricting in the child.
#[cfg(target_os = "linux")]
mod sandbox {
    use std::io;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::path::Path;
    use std::sync::OnceLock;

    use landlock::{
        Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, PathFdError, Ruleset,
        RulesetAttr, RulesetCreatedAttr, ABI,
    };

    use super::{landlock_support, LandlockSupport, LaunchError, Sandbox};

    /// The ABIs hookwire knows, newest first.
    const ABIS: [ABI; 10] = [
        ABI::V10,
        ABI::V9,
        ABI::V8,
        ABI::V7,
        ABI::V6,
        ABI::V5,
        ABI::V4,
        ABI::V3,
        ABI::V2,
        ABI::V1,
    ];

    static ABI_USED: OnceLock<Option<ABI>> = OnceLock::new();

    /// The newest ABI whose file-system rights the kernel fully supports: a ruleset handling
    /// them is created with [`CompatLevel::HardRequirement`] (no silent downgrade).
    pub(super) fn probe() -> LandlockSupport {
        let mut last_error = None;
        for abi in ABIS {
            let created = Ruleset::default()
                .set_compatibility(CompatLevel::HardRequirement)
                .handle_access(AccessFs::from_all(abi))
                .and_then(Ruleset::create);
            match created {
                Ok(_) => {
                    let _ = ABI_USED.set(Some(abi));
                    return LandlockSupport::Supported { abi: abi as u32 };
                }
                Err(e) => last_error = Some(e.to_string()),
            }
        }
        let _ = ABI_USED.set(None);
        LandlockSupport::Unsupported {
            reason: last_error.unwrap_or_else(|| "no Landlock ABI is known".to_owned()),
        }
    }

    /// The ruleset of `sandbox` as an fd, built in the host (it opens every path).
    pub(super) fn ruleset(sandbox: &Sandbox) -> Result<OwnedFd, LaunchError> {
        if let LandlockSupport::Unsupported { reason } = landlock_support() {
            return Err(LaunchError::SandboxUnavailable {
                reason: reason.clone(),
            });
        }
        let Some(abi) = ABI_USED.get().copied().flatten() else {
            return Err(LaunchError::SandboxUnavailable {
                reason: "the Landlock probe found no ABI".to_owned(),
            });
        };
        let fail = |e: landlock::RulesetError| LaunchError::Sandbox(e.to_string());
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))
            .and_then(Ruleset::create)
            .map_err(fail)?;
        for (paths, access) in [
            (&sandbox.read_write, AccessFs::from_all(abi)),
            (&sandbox.read_only, AccessFs::from_read(abi)),
        ] {
            for path in paths {
                let (fd, is_dir) = open(path)?;
                // A file takes only the rights that apply to files.
                let access = if is_dir {
                    access
                } else {
                    access & AccessFs::from_file(abi)
                };
                ruleset = ruleset
                    .add_rule(PathBeneath::new(fd, access))
                    .map_err(fail)?;
            }
        }
        Option::<OwnedFd>::from(ruleset).ok_or_else(|| LaunchError::SandboxUnavailable {
            reason: "the kernel returned no Landlock ruleset".to_owned(),
        })
    }

    /// Opens `path` (`O_PATH`) and says whether it is a folder.
    fn open(path: &Path) -> Result<(PathFd, bool), LaunchError> {
        let meta = std::fs::metadata(path).map_err(|source| LaunchError::SandboxPath {
            path: path.to_owned(),
            source,
        })?;
        let fd = PathFd::new(path).map_err(|e: PathFdError| LaunchError::SandboxPath {
            path: path.to_owned(),
            source: io::Error::other(e.to_string()),
        })?;
        Ok((fd, meta.is_dir()))
    }

    /// In the child, after the fork: `prctl(PR_SET_NO_NEW_PRIVS)` (required by
    /// `landlock_restrict_self` for an unprivileged process; it also keeps a set-uid program
    /// from gaining rights) and `landlock_restrict_self(ruleset, 0)`. Two system calls, both
    /// async-signal-safe; nothing allocated.
    pub(super) fn restrict_self(ruleset: &OwnedFd) -> io::Result<()> {
        rustix::thread::set_no_new_privs(true)?;
        // SAFETY: `landlock_restrict_self(int ruleset_fd, __u32 flags)` takes an fd (open: the
        // closure owns it until exec) and flags (0); it reads no memory of ours.
        let ret =
            unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0_u32) };
        if ret == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Landlock needs Linux.
#[cfg(not(target_os = "linux"))]
mod sandbox {
    use super::{LandlockSupport, LaunchError, Sandbox};

    pub(super) fn probe() -> LandlockSupport {
        LandlockSupport::Unsupported {
            reason: "Landlock is a Linux feature".to_owned(),
        }
    }

    #[allow(dead_code)]
    pub(super) fn ruleset(_sandbox: &Sandbox) -> Result<std::convert::Infallible, LaunchError> {
        Err(LaunchError::SandboxUnavailable {
            reason: "Landlock is a Linux feature".to_owned(),
        })
    }
}
