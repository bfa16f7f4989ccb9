//! Turning a caught panic into a failure value.

use std::any::Any;

use crate::error::HookFailure;
use crate::hookimpl::HookReturn;
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
