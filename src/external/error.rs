//! What can go wrong with a process plugin.

use std::time::Duration;

use super::protocol::RpcError;
use crate::limits::Quote;

/// A process plugin's failure: at start (spawn, handshake), in a call, or at stop. Every
/// message names the plugin and, where it can, what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The program could not be started.
    #[error("could not start plugin `{plugin}`: {source}")]
    Spawn {
        /// The plugin.
        plugin: String,
        /// The program.
        program: String,
        /// Why: the program or its folder is missing, a limit or the sandbox could not be
        /// applied, or this platform cannot start plugin processes.
        #[source]
        source: super::LaunchError,
    },
    /// The plugin did not answer `initialize` within the start timeout; it was killed.
    #[error("plugin `{plugin}` did not answer `initialize` within {} ms, its start timeout (a manifest's `start_timeout_ms`); it was killed{}", limit.as_millis(), StderrTail(stderr))]
    StartTimeout {
        /// The plugin.
        plugin: String,
        /// The start timeout.
        limit: Duration,
        /// Its last stderr lines.
        stderr: Vec<String>,
    },
    /// The process ended (or closed its stdout) while calls were waiting for it.
    #[error("plugin `{plugin}` {how}{}", StderrTail(stderr))]
    Exited {
        /// The plugin.
        plugin: String,
        /// `exited with status 3`, `was killed by signal 9`, `closed its stdout but kept
        /// running; it was killed`.
        how: String,
        /// Its last stderr lines.
        stderr: Vec<String>,
    },
    /// The plugin answered `initialize` with an error: it refuses this host.
    #[error("plugin `{plugin}` refused the handshake: {error}")]
    Refused {
        /// The plugin.
        plugin: String,
        /// Its error (code `-32003` for a protocol version it cannot speak).
        error: RpcError,
    },
    /// The answer to `initialize` does not have the protocol's shape.
    #[error("plugin `{plugin}` answered `initialize` with a malformed result: {detail}")]
    BadHandshake {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        detail: String,
    },
    /// The plugin speaks an incompatible protocol version.
    #[error("plugin `{plugin}` speaks protocol {theirs}, this host speaks {ours}")]
    Version {
        /// The plugin.
        plugin: String,
        /// Its version.
        theirs: String,
        /// The host's.
        ours: String,
    },
    /// The plugin calls itself by another name than the host expects.
    #[error("plugin `{expected}` calls itself `{actual}`; make its name the one in its manifest")]
    Name {
        /// The name the host expects.
        expected: String,
        /// The name the plugin answered.
        actual: String,
    },
    /// The plugin implements a hook the host does not offer.
    #[error("plugin `{plugin}` implements hook `{hook}`, which this host does not offer; it offers: {offered}{}", why.as_ref().map(|w| format!(" (`{hook}`: {w})")).unwrap_or_default())]
    UnknownHook {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// The hooks the host offers, comma-separated (`none` when none).
        offered: String,
        /// Why the host, which has a hook of that name, does not offer it (a typed spec not
        /// declared with `json_spec`), and how to make it so.
        why: Option<String>,
    },
    /// An impl option is invalid.
    #[error("plugin `{plugin}` declares hook `{hook}` with invalid options: {detail}")]
    BadOption {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// What is wrong.
        detail: String,
    },
    /// The plugin's impl failed (it answered an error).
    #[error("plugin `{plugin}` failed hook `{hook}`: {}", Quote(&error.message))]
    HookFailed {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// Its error.
        error: RpcError,
    },
    /// The plugin's answer does not have the protocol's shape (`{"kind": "value", ...}` or
    /// `{"kind": "none"}`).
    #[error("plugin `{plugin}` answered hook `{hook}` with a malformed result: {detail}")]
    BadAnswer {
        /// The plugin.
        plugin: String,
        /// The hook.
        hook: String,
        /// What is wrong.
        detail: String,
    },
    /// A message from the plugin was longer than the maximum message size.
    #[error("plugin `{plugin}` answered with a message of {len} bytes; the maximum is {max} bytes (`max_message_bytes`)")]
    TooLong {
        /// The plugin.
        plugin: String,
        /// The message's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The plugin's process crashed and is being started again; the call was not made.
    #[error("plugin `{plugin}` is restarting: {why}")]
    Restarting {
        /// The plugin.
        plugin: String,
        /// How its last process ended.
        why: String,
    },
    /// The plugin reached its start limit (or could not be restarted): it stays stopped
    /// until its host restarts it.
    #[error("plugin `{plugin}` failed: {reason}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The process declared other hooks than the ones its manifest lists (`[process] hooks`),
    /// which the host registered before the process ran.
    #[error("plugin `{plugin}` declared other hooks than its manifest's `[process] hooks`: {detail}; make the two lists the same")]
    HooksMismatch {
        /// The plugin.
        plugin: String,
        /// The hooks missing from each side.
        detail: String,
    },
    /// What had to be done before the process could start failed, so it was not started:
    /// for a plugin whose manifest pins its files (feature `security`), making and checking
    /// the private copy it runs from (the reason names the file, the pinned and the found
    /// sha256).
    // The reason first: a host cuts a start failure's text to a few hundred bytes, and the
    // reason (a file and two sha256 hashes) is what the operator needs.
    #[error("{reason}; plugin `{plugin}` was not started")]
    NotStarted {
        /// The plugin.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The instances of a pooled plugin ([`instances`](super::ProcessPluginBuilder::instances))
    /// answered the handshake differently; none was kept.
    #[error("plugin `{plugin}` runs instances that answer the handshake differently: {detail}; every instance must run the same program, version and hooks")]
    InstancesDisagree {
        /// The plugin.
        plugin: String,
        /// Which instance differs, and how (`instance 1 answered version `1.3.0` instead of
        /// `1.2.0` (instance 0's)`).
        detail: String,
    },
    /// A lifecycle request (`start`, `shutdown`, `health`) failed or timed out.
    #[error("plugin `{plugin}` failed `{step}`: {detail}")]
    Lifecycle {
        /// The plugin.
        plugin: String,
        /// The request.
        step: &'static str,
        /// What went wrong.
        detail: String,
    },
}

impl ProcessError {
    /// Whether the process was gone (exited, killed, or closed its stdout).
    pub fn is_exited(&self) -> bool {
        matches!(self, ProcessError::Exited { .. })
    }
}

/// `; its last stderr lines: a | b`, or `; it wrote nothing to stderr`.
struct StderrTail<'a>(&'a [String]);

impl std::fmt::Display for StderrTail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("; it wrote nothing to stderr");
        }
        f.write_str("; its last stderr lines: ")?;
        for (i, line) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{}", Quote(line))?;
        }
        Ok(())
    }
}
