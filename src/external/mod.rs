//! Out-of-process plugins (feature `process`): plugins that run as child processes and speak
//! JSON-RPC 2.0 over their stdin and stdout, one message per line, as `docs/protocol.md`
//! (version 1.1) defines. Any language can write one; hookwire ships a Rust SDK
//! ([`serve_stdio`]) and a Python one (`sdk/python/hookwire_plugin.py`).
//!
//! **The host side.** [`ProcessPlugin::builder`] names the program; [`spawn`] starts it
//! (cleared environment plus an allow-list and `HOOKWIRE_PLUGIN=1`), offers it the hooks of a
//! [`HookManager`](crate::HookManager) that are reachable from JSON (typed specs declared with
//! `json_spec`, and dynamic specs), and checks its answer. The result is a [`Plugin`]
//! like any other: add it to a [`PluginHost`](crate::PluginHost), whose `start`
//! sends `start` and whose `stop` sends `shutdown`, `exit`, then kills after the grace
//! period. Its impls are JSON impls with the options it declared (priority, tryfirst/trylast,
//! before/after, timeout), so ordering, timeouts, isolation, statistics and the JSON layer's
//! checks apply as to in-process impls: a mistyped answer is that plugin's error outcome
//! naming the JSON path that failed. Many calls may be in flight on one process (parallel
//! mode works across it); a dropped or timed-out call sends `$/cancelRequest`. The plugin's
//! stderr goes to `tracing` (target `hookwire::external::stderr`, field `plugin`) and its last
//! lines are kept: a crash fails only that plugin's calls in flight, with "plugin `x` exited
//! with status 3; its last stderr lines: ...". The plugin may call back (`host/call`, nested
//! at most [`MAX_CALL_DEPTH`](protocol::MAX_CALL_DEPTH) deep) and log (`log`, target
//! `hookwire::external::log`).
//!
//! ```no_run
//! use hookwire::external::ProcessPlugin;
//! use hookwire::spec::SpecInfo;
//! use hookwire::{HookManager, PluginHost};
//! use serde_json::json;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let pm = HookManager::builder().dynamic_spec(SpecInfo::json("greet")).build();
//! let greeter = ProcessPlugin::builder("greeter", "python3")
//!     .arg("plugin.py") // run in its folder: relative to it
//!     .current_dir("plugins/greeter")
//!     .config(json!({"greeting": "Hello"}))
//!     .spawn(&pm)
//!     .await?;
//! let host = PluginHost::builder().hooks(pm.clone()).build();
//! host.add(greeter)?;
//! host.start().await?;
//! let out = pm.call_json("greet", json!("Ada")).await?;
//! for (plugin, outcome) in out.iter() {
//!     println!("{plugin}: {outcome:?}");
//! }
//! host.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! **The plugin side, in Rust.** A [`PluginServer`] implements hooks with the same typed
//! specs as in-process plugins; [`serve_stdio`] runs it (see there for a whole plugin).
//!
//! **The parts.** [`protocol`]: the messages as serde types. [`Peer`]: a JSON-RPC peer over
//! any `AsyncRead`/`AsyncWrite` pair (both sides use it): requests in flight both ways,
//! answers matched by id in any order, incoming requests served concurrently while own
//! requests wait, lines over the maximum message size discarded without being buffered.
//!
//! **Supervision.** A crashed process is started again after a backoff
//! ([`RestartPolicy`]); at its start limit the plugin is `Failed` in its host, which stops
//! calling it. The host's subscribers see each crash and restart
//! ([`PluginEvent::Crashed`](crate::plugin::PluginEvent::Crashed),
//! [`PluginEvent::Restarted`](crate::plugin::PluginEvent::Restarted)). A plugin may run
//! several processes ([`ProcessPluginBuilder::instances`]): each call goes to the least busy,
//! and a crashed one fails only its own calls while the others serve. A plugin with declared
//! hooks ([`ProcessPluginBuilder::hooks`]) can be lazy: its processes start on the first call.
//!
//! **Starting and stopping.** [`LaunchSpec`] is what the operating system sees: the command,
//! a cleared environment, the plugin's folder as working directory, its own process group,
//! [`ResourceLimits`] and (Linux) a Landlock [`Sandbox`]; every process is forked by one
//! long-lived thread (Linux's parent-death signal follows the forking thread); a stop is
//! graceful (`SIGTERM` to the group), then forced (`SIGKILL` to the group).
//!
//! [`spawn`]: ProcessPluginBuilder::spawn
//! [`Plugin`]: crate::Plugin

pub mod protocol;

mod builder;
mod child;
mod envelope;
mod error;
mod framing;
mod host_call_error;
mod host_side;
mod launch;
mod outbox;
mod peer;
mod pool;
mod process;
mod restart;
mod serve;

pub use builder::ProcessPluginBuilder;
#[cfg(all(feature = "discovery", feature = "security"))]
pub(crate) use builder::{Prepare, StartGuard};
pub use error::ProcessError;
pub use host_call_error::HostCallError;
pub use host_side::with_traceparent;
pub use launch::{
    describe_exit, landlock_support, LandlockSupport, LaunchError, LaunchSpec, ResourceLimits,
    Sandbox, ENV_ALLOW_LIST, SYSTEM_READ_ONLY_PATHS,
};
pub use peer::{Connection, Handler, Peer, PeerError, DEFAULT_MAX_MESSAGE_BYTES};
pub use process::ProcessPlugin;
pub use restart::RestartPolicy;
pub use serve::{serve, serve_stdio, PluginCall, PluginServer, ServeError};

/// `spawn` and `stop` for hookwire's own launch tests (`tests/launch/`), which start real
/// processes through them. Not a stable API: plugin processes are started by the process
/// plugin.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod __launch {
    pub use super::launch::{spawn, stop};
}
