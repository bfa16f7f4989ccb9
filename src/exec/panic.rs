//! Turning a caught panic into a failure value.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::HookFailure;
use crate::hookimpl::HookReturn;
use crate::limits::Quote;
use crate::outcome::ImplOutcome;

/// The message of a panic payload (`panic!("..")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_owned(),
            Err(other) => {
                // Its `Drop` is plugin code that could panic again, outside any isolation.
                std::mem::forget(other);
                "<non-string panic payload>".to_owned()
            }
        },
    }
}

/// The outcome of a caught panic.
pub(crate) fn panic_outcome<T>(payload: Box<dyn Any + Send>) -> ImplOutcome<T> {
    ImplOutcome::Failed(HookFailure::Panic(panic_message(payload)))
}

/// The outcome of an impl's return value.
#[inline]
pub(crate) fn return_outcome<T>(r: HookReturn<T>) -> ImplOutcome<T> {
    match r {
        Ok(Some(v)) => ImplOutcome::Value(v),
        Ok(None) => ImplOutcome::NoAnswer,
        Err(e) => ImplOutcome::Failed(HookFailure::Error(e)),
    }
}

/// Drops `x` — an impl's future, blocking handle or backoff sleep, whose `Drop` may run plugin
/// code — with panics caught: the panic's message if it panicked.
#[inline(always)]
pub(crate) fn drop_caught<X>(x: X) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(move || drop(x))) {
        Ok(()) => None,
        Err(payload) => Some(dropped_message(payload)),
    }
}

/// The message of a panic raised while an impl's future was dropped.
#[cold]
pub(crate) fn dropped_message(payload: Box<dyn Any + Send>) -> String {
    format!("{} (while its future was dropped)", panic_message(payload))
}

/// The outcome of an impl whose future was dropped once `outcome` was decided (it finished,
/// timed out, was cut off or cancelled): a panic in that drop becomes the outcome, unless the
/// impl had panicked already — then the first panic stays and the second one is logged.
#[inline(always)]
pub(crate) fn after_drop<T>(
    outcome: ImplOutcome<T>,
    dropped: Option<String>,
    plugin: &str,
) -> ImplOutcome<T> {
    match dropped {
        None => outcome,
        Some(msg) => drop_panicked(outcome, msg, plugin),
    }
}

#[cold]
#[inline(never)]
fn drop_panicked<T>(outcome: ImplOutcome<T>, msg: String, plugin: &str) -> ImplOutcome<T> {
    if outcome.failure().is_some_and(HookFailure::is_panic) {
        log_second_panic(plugin, &msg);
        return outcome;
    }
    // The call's deadline cut it off: that stays its outcome (and the call's
    // `deadline_exceeded()`); the panic is logged.
    if matches!(
        outcome,
        ImplOutcome::Failed(HookFailure::DeadlineExceeded { .. })
    ) {
        log_dropped_after_deadline(plugin, &msg);
        return outcome;
    }
    ImplOutcome::Failed(HookFailure::Panic(msg))
}

/// Logs a panic raised while an impl's future was dropped with its whole call (the caller
/// dropped the call's future): there is no outcome left to report it in, and it must not
/// unwind into the caller's drop.
#[cold]
#[inline(never)]
pub(crate) fn log_dropped_with_call(plugin: &str, msg: &str) {
    tracing::error!(
        plugin,
        panic = %Quote(msg),
        "an impl's future panicked while it was dropped with its call; the panic was caught"
    );
}

/// Logs the panic of an impl's future dropped because the call's deadline cut it off (its
/// outcome says so).
#[cold]
#[inline(never)]
fn log_dropped_after_deadline(plugin: &str, msg: &str) {
    tracing::error!(
        plugin,
        panic = %Quote(msg),
        "an impl cut off by the call's deadline panicked while its future was dropped; the panic was caught"
    );
}

/// Logs the panic of an impl's future dropped after the impl had panicked already (its outcome
/// reports the first panic).
#[cold]
#[inline(never)]
pub(crate) fn log_second_panic(plugin: &str, msg: &str) {
    tracing::error!(
        plugin,
        panic = %Quote(msg),
        "an impl that panicked panicked again while its future was dropped; the first panic is its outcome"
    );
}

/// A future whose own drop may run plugin code (a wrapper's), dropped inside the isolation:
/// [`close`](Self::close) drops it once it has finished and returns a panic's message; if the
/// guard is dropped with the future still in it (the call was dropped), a panic is logged.
pub(crate) struct DropCaught<'p, F> {
    inner: Option<F>,
    plugin: &'p str,
}

impl<'p, F> DropCaught<'p, F> {
    pub(crate) fn new(inner: F, plugin: &'p str) -> Self {
        DropCaught {
            inner: Some(inner),
            plugin,
        }
    }

    /// Drops the future now: the message of a panic in its `Drop`.
    pub(crate) fn close(&mut self) -> Option<String> {
        self.inner.take().and_then(drop_caught)
    }
}

impl<F: std::future::Future + Unpin> std::future::Future for DropCaught<'_, F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        match self.inner.as_mut() {
            Some(f) => std::pin::Pin::new(f).poll(cx),
            // Closed: never polled again by its owner.
            None => std::task::Poll::Pending,
        }
    }
}

impl<F> Drop for DropCaught<'_, F> {
    fn drop(&mut self) {
        if let Some(msg) = self.close() {
            log_dropped_with_call(self.plugin, &msg);
        }
    }
}
