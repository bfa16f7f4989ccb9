// The README is the crate's front page. Its links to the guide point at `docs/guide.md` on a
// source host; here the first definitions win (CommonMark) and send them to `crate::guide`.
#![doc = concat!(
    "[guide]: crate::guide\n[guide-pluggy]: crate::guide#12-coming-from-pluggy\n\n",
    include_str!("../README.md")
)]
#![warn(missing_docs, missing_debug_implementations)]
// docs.rs (`[package.metadata.docs.rs]`) builds with every feature and `--cfg docsrs`: each
// item gated by a feature then says which one it needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

// Internal layers (ARCHITECTURE.md); the public modules below re-export from them.
mod call;
mod caller;
mod exec;
mod hookimpl;
mod limits;
mod manager;
mod order;

// Public modules, one per concern: their docs render, and every public item is reachable
// through one of them. The root keeps the core names below.
#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod cli;
#[cfg(feature = "plugins")]
#[cfg_attr(docsrs, doc(cfg(feature = "plugins")))]
pub mod config;
#[cfg(feature = "plugins")]
#[cfg_attr(docsrs, doc(cfg(feature = "plugins")))]
pub mod deps;
#[cfg(feature = "discovery")]
pub mod discovery;
pub mod error;
#[cfg(feature = "process")]
#[cfg_attr(docsrs, doc(cfg(feature = "process")))]
pub mod external;
pub mod hook;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub mod json;
pub mod monitor;
pub mod outcome;
#[cfg(feature = "plugins")]
#[cfg_attr(docsrs, doc(cfg(feature = "plugins")))]
pub mod plugin;
pub mod policy;
pub mod prelude;
#[cfg(feature = "security")]
#[cfg_attr(docsrs, doc(cfg(feature = "security")))]
pub mod security;
pub mod spec;
pub mod stats;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod web;

pub use async_trait::async_trait;
pub use caller::HookCaller;
pub use error::{BoxError, CallError, HookFailure, RegisterError};
pub use hookimpl::{Hook, HookReturn, SyncHook};
pub use manager::registrar::Registrar;
pub use manager::{HookManager, HookManagerBuilder};
pub use outcome::{HookOutcome, ImplOutcome};
#[cfg(feature = "plugins")]
#[cfg_attr(docsrs, doc(cfg(feature = "plugins")))]
pub use plugin::{Plugin, PluginContext, PluginHost, PluginMeta};
pub use spec::{CallMode, HookSpec};
/// Re-exported from `tokio_util`: what a cancellable blocking impl receives
/// ([`Registrar::blocking_fn_cancellable`]) and the type of `PluginContext::cancellation`.
pub use tokio_util::sync::CancellationToken;

/// Renamed [`PluginHost`]; this alias goes away in the next release.
#[cfg(feature = "plugins")]
#[doc(hidden)]
#[deprecated(since = "0.1.0", note = "renamed `PluginHost`")]
pub type PluginManager = PluginHost;

/// Renamed [`plugin::PluginHostBuilder`]; this alias goes away in the next release.
#[cfg(feature = "plugins")]
#[doc(hidden)]
#[deprecated(
    since = "0.1.0",
    note = "renamed `hookwire::plugin::PluginHostBuilder`"
)]
pub type PluginManagerBuilder = plugin::PluginHostBuilder;

/// `#[hookwire::plugin]`: one annotated impl block is a whole plugin (feature `macros`, on by
/// default). See the crate docs' quickstart and [`Plugin`] for the hand-written form it expands to.
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use hookwire_macros::{hookimpl, plugin};

/// Support for the code `#[hookwire::plugin]` generates; not a public API.
#[doc(hidden)]
pub mod __private {
    /// `a == b`, in a constant: the check that a spec taken from a method's name has that name.
    pub const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// Re-exported so closures can box their futures: `async move { .. }.boxed()`.
pub use futures::FutureExt;

/// The user guide (`docs/guide.md`), rendered with the API docs; every code block in it
/// runs as a doc-test. Only in the docs: it holds no code.
#[cfg(any(doc, doctest))]
pub mod guide {
    #![doc = include_str!("../docs/guide.md")]
}
