//! Call monitoring (pluggy's `add_hookcall_monitoring`): observers that see every call and
//! its outcome. When no monitor is installed, a call pays one relaxed atomic load for this.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use crate::outcome::OutcomeKind;
use crate::spec::CallMode;

/// What a monitor learns about a call before it runs.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallInfo<'a> {
    /// The hook.
    pub hook: &'a str,
    /// The call mode.
    pub mode: CallMode,
    /// The plugins whose impls the call will reach, in call order (wrappers first).
    pub plugins: Vec<&'a str>,
    /// The call's arguments; downcast to the spec's `Args` type.
    pub args: &'a (dyn Any + Send + Sync),
}

/// What one impl produced, without its value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImplReport {
    /// The plugin.
    pub plugin: Arc<str>,
    /// How the impl ended (every [`OutcomeKind`], `Cancelled` for a dropped call).
    pub kind: OutcomeKind,
    /// The failure as [`HookFailure`](crate::HookFailure) displays it (at most 200 bytes of
    /// the impl's error or panic message, then `… (N bytes)`), for failures.
    pub error: Option<String>,
}

/// Sees every hook call of a manager. Both methods default to doing nothing.
///
/// Monitors run inline in the calling task: keep them cheap and never block.
pub trait HookMonitor: Send + Sync + 'static {
    /// Called before the impls run.
    fn before_call(&self, call: &CallInfo<'_>) {
        let _ = call;
    }
    /// Called after the call, with each impl's outcome in call order and the call's duration.
    /// Also called when the call is dropped part-way (cancelled), with every impl it included
    /// reported as [`OutcomeKind::Cancelled`](crate::OutcomeKind::Cancelled), so a monitor can
    /// pair it with `before_call`.
    fn after_call(&self, call: &CallInfo<'_>, results: &[ImplReport], elapsed: Duration) {
        let _ = (call, results, elapsed);
    }
}
