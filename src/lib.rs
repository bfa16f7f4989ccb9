#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod caller;
#[cfg(feature = "discovery")]
pub mod discovery;
mod error;
mod exec;
mod hookimpl;
mod limits;
mod manager;
mod monitor;
mod order;
mod outcome;
mod plugin;
mod spec;
#[cfg(feature = "testing")]
pub mod testing;

pub use async_trait::async_trait;
pub use caller::{AdHocImpl, HookCaller, ImplInfo};
pub use error::{BoxError, CallError, HookFailure, JsonMismatch, PendingImplsError, RegisterError};
pub use exec::breaker::{BreakerConfig, BreakerState};
pub use exec::retry::{BudgetConfig, RetryPolicy, RetryPolicyError, Retryable};
pub use exec::stats::{HookStats, ImplStatsSnapshot, StatsSnapshot};
pub use exec::wrapper::{HookWrapper, Next, WrapResult};
pub use hookimpl::{Hook, HookReturn, ImplOptions, SyncHook, Placement};
pub use limits::MAX_JSON_DEPTH;
pub use manager::registrar::{ImplBuilder, Registrar};
pub use manager::{
    ConstraintRelation, HookManager, HookManagerBuilder, MonitorHandle, PluginHandle, PluginInfo,
    WaitingConstraint,
};
pub use monitor::{CallInfo, HookMonitor, ImplReport};
pub use outcome::{OutcomeEntry, HookOutcome, ImplOutcome, ImplId, OutcomeKind, SkipReason};
pub use plugin::{
    resolve, ConfigError, Conflict, ContextError, Dependency, DependencyError, DependencyProblem,
    DisabledBy, Enablement, Health, HostConfig, IllegalTransition, MetaError, Plugin,
    PluginContext, PluginError, PluginEvent, PluginList, PluginHost, PluginHostBuilder,
    PluginMeta, PluginState, PluginStatus, PluginStop, Resolution, StartReport, StopOutcome,
    StopReport,
};
pub use spec::{CallMode, DynamicHook, HookSpec, SpecInfo};
/// Re-exported from `tokio_util`: the type of [`PluginContext::cancellation`].
pub use tokio_util::sync::CancellationToken;

/// `#[hookwire::plugin]`: one annotated impl block is a whole plugin (feature `macros`, on by
/// default). See the crate docs' quickstart and [`Plugin`] for the hand-written form it expands to.
#[cfg(feature = "macros")]
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
