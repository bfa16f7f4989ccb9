//! Out-of-process plugins (feature `process`).
//!
//! [`launch`](self) is what the operating system sees when a plugin process starts and stops:
//! the command, a cleared environment, the plugin's folder as working directory, its own
//! process group, resource limits and (Linux) a Landlock sandbox; then a graceful-then-forced
//! stop of the whole group.

// Until the process plugin (issue 23, merged separately) calls `spawn`, `stop` and
// `signal_group`, only the launch tests (feature `testing`) do: remove this `allow` then.
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
mod launch;

pub use launch::{
    describe_exit, landlock_support, LandlockSupport, LaunchError, LaunchSpec, ResourceLimits,
    Sandbox, ENV_ALLOW_LIST, PLUGIN_ENV_MARKER, SYSTEM_READ_ONLY_PATHS,
};
#[allow(unused_imports)] // used by the process plugin (issue 23), merged separately
pub(crate) use launch::{signal_group, spawn, stop};

/// `spawn` and `stop` for hookwire's own launch tests (`tests/launch/`), which start real
/// processes through them. Not a stable API: plugin processes are started by the process
/// plugin.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod __launch {
    pub use super::launch::{spawn, stop};
}
