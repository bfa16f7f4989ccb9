//! Call monitoring (pluggy's `add_hookcall_monitoring`): observers that see every call and
//! its outcome. When no monitor is installed, a call pays one relaxed atomic load for this.
//!
//! Monitors nest like pluggy's: the monitor added last is the outermost, so with monitors `A`
//! then `B` a call runs `B.before_call, A.before_call, <impls>, A.after_call, B.after_call`.
//! A monitor that panics is reported (a tracing `error` event naming it) and otherwise
//! ignored: the call's outcome and the other monitors are not affected.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use crate::exec::panic::panic_message;

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

/// Sees every hook call of a manager. Every method has a default: `before_call` and
/// `after_call` do nothing, [`name`](Self::name) is the type's name.
///
/// Monitors run inline in the calling task: keep them cheap and never block. Several monitors
/// nest (the one added last is outermost; see
/// [`HookManager::add_monitor`](crate::HookManager::add_monitor)).
///
/// A panic in `before_call` or `after_call` is caught and reported as a tracing `error` event
/// (fields `monitor` = [`name`](Self::name), `hook`, `method`, `panic`); the call goes on and
/// returns the outcome it would have returned without the monitor, and the other monitors
/// still run. A monitor whose `before_call` panicked still gets its `after_call`.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hookwire::{monitor::CallInfo, HookManager, monitor::HookMonitor, monitor::ImplReport};
///
/// /// Counts failing impls.
/// #[derive(Default)]
/// struct Failures(std::sync::atomic::AtomicUsize);
///
/// impl HookMonitor for Failures {
///     fn name(&self) -> &str {
///         "failure-counter"
///     }
///     fn after_call(&self, _call: &CallInfo<'_>, results: &[ImplReport], _elapsed: Duration) {
///         let failed = results.iter().filter(|r| r.error.is_some()).count();
///         self.0.fetch_add(failed, std::sync::atomic::Ordering::Relaxed);
///     }
/// }
///
/// let pm = HookManager::new();
/// pm.add_monitor(Arc::new(Failures::default()));
/// ```
pub trait HookMonitor: Send + Sync + 'static {
    /// The monitor's name in reports (its panics); defaults to the type's name
    /// ([`std::any::type_name`]).
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
    /// Called before the impls run.
    fn before_call(&self, call: &CallInfo<'_>) {
        let _ = call;
    }
    /// Called after the call, with each impl's outcome in call order and the call's duration.
    /// Also called when the call is dropped part-way (cancelled), with every impl it included
    /// reported as [`OutcomeKind::Cancelled`], so a monitor can
    /// pair it with `before_call`.
    fn after_call(&self, call: &CallInfo<'_>, results: &[ImplReport], elapsed: Duration) {
        let _ = (call, results, elapsed);
    }
}

/// Runs every monitor's `before_call`, outermost (last added) first.
pub(crate) fn before_all(monitors: &[Arc<dyn HookMonitor>], call: &CallInfo<'_>) {
    for m in monitors.iter().rev() {
        guarded(&**m, call, "before_call", || m.before_call(call));
    }
}

/// Runs every monitor's `after_call`, innermost (first added) first.
pub(crate) fn after_all(
    monitors: &[Arc<dyn HookMonitor>],
    call: &CallInfo<'_>,
    results: &[ImplReport],
    elapsed: Duration,
) {
    for m in monitors {
        guarded(&**m, call, "after_call", || {
            m.after_call(call, results, elapsed)
        });
    }
}

/// Runs `f`, a method of monitor `m`; a panic is reported and goes no further.
fn guarded(m: &dyn HookMonitor, call: &CallInfo<'_>, method: &'static str, f: impl FnOnce()) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(f)) {
        let panic = panic_message(payload);
        // `name` is the monitor's code too.
        let name = catch_unwind(AssertUnwindSafe(|| m.name().to_owned()))
            .unwrap_or_else(|_| "<monitor whose name() panicked>".to_owned());
        tracing::error!(
            monitor = %crate::limits::Quote(&name),
            hook = %call.hook,
            method,
            panic = %crate::limits::Quote(&panic),
            "hook monitor `{}` panicked in {method}; the call's outcome is unchanged",
            crate::limits::Quote(&name)
        );
    }
}

pub use crate::manager::MonitorHandle;
