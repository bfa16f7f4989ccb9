//! Outcomes: what each impl of a call produced, and which plugin produced it.
//!
//! A call returns a [`HookOutcome`]: one entry per impl that ran, in call order, each an
//! [`ImplOutcome`] (a value, "no answer", or a failure) attributed to its plugin. Plugin names
//! are resolved lazily from the call's snapshot, so the hot path stores only a small index.

use std::fmt;
use std::sync::Arc;

use crate::error::{CallError, HookFailure};

/// What one impl produced in one call.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImplOutcome<T> {
    /// An answer.
    Value(T),
    /// The impl returned `Ok(None)`: it does not answer this call.
    NoAnswer,
    /// The impl returned an error or panicked.
    Failed(HookFailure),
}

impl<T> ImplOutcome<T> {
    /// The answer, if any.
    pub fn value(&self) -> Option<&T> {
        match self {
            ImplOutcome::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The failure, if any.
    pub fn failure(&self) -> Option<&HookFailure> {
        match self {
            ImplOutcome::Failed(f) => Some(f),
            _ => None,
        }
    }

    /// `true` for [`ImplOutcome::Value`].
    pub fn is_value(&self) -> bool {
        matches!(self, ImplOutcome::Value(_))
    }

    /// `true` for [`ImplOutcome::Failed`].
    pub fn is_failed(&self) -> bool {
        matches!(self, ImplOutcome::Failed(_))
    }

    /// A short, value-free description: `"value"`, `"no answer"`, `"error: …"`, `"panic: …"`.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            ImplOutcome::Value(_) => OutcomeKind::Value,
            ImplOutcome::NoAnswer => OutcomeKind::NoAnswer,
            ImplOutcome::Failed(HookFailure::Panic(_)) => OutcomeKind::Panic,
            ImplOutcome::Failed(_) => OutcomeKind::Error,
        }
    }

    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> ImplOutcome<U>) -> ImplOutcome<U> {
        match self {
            ImplOutcome::Value(v) => f(v),
            ImplOutcome::NoAnswer => ImplOutcome::NoAnswer,
            ImplOutcome::Failed(e) => ImplOutcome::Failed(e),
        }
    }
}

/// The kind of an [`ImplOutcome`], without its value (for monitors and tracing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutcomeKind {
    /// An answer.
    Value,
    /// No answer.
    NoAnswer,
    /// An error of the impl's own.
    Error,
    /// A panic.
    Panic,
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutcomeKind::Value => "value",
            OutcomeKind::NoAnswer => "no answer",
            OutcomeKind::Error => "error",
            OutcomeKind::Panic => "panic",
        })
    }
}

/// Resolves the indices stored in an outcome to names (implemented by a call's snapshot).
pub(crate) trait NameTable: Send + Sync {
    fn hook_name(&self) -> &Arc<str>;
    fn plugin_name(&self, index: u32) -> &Arc<str>;
}

/// Identifies one impl of a call's snapshot; a wrapper gets its own from
/// [`Next::me`](crate::Next::me) to add answers in its own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImplRef(pub(crate) u32);

/// Everything one hook call produced: per impl, in call order, which plugin returned what.
///
/// Collect-all calls have one entry per impl that ran; first-result calls stop after the first
/// answer. "No answer" entries are kept (so you can see who declined) but skipped by
/// [`values`](Self::values).
pub struct HookOutcome<T> {
    pub(crate) entries: Vec<(u32, ImplOutcome<T>)>,
    pub(crate) names: Arc<dyn NameTable>,
}

impl<T> HookOutcome<T> {
    pub(crate) fn new(entries: Vec<(u32, ImplOutcome<T>)>, names: Arc<dyn NameTable>) -> Self {
        HookOutcome { entries, names }
    }

    /// The hook this outcome belongs to.
    pub fn hook(&self) -> &str {
        self.names.hook_name()
    }

    /// Every entry as `(plugin name, outcome)`, in call order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &ImplOutcome<T>)> + '_ {
        self.entries
            .iter()
            .map(|(i, o)| (&**self.names.plugin_name(*i), o))
    }

    /// Every entry as `(plugin name, outcome)` with the outcome mutable (for wrappers).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut ImplOutcome<T>)> + '_ {
        let names = &self.names;
        self.entries
            .iter_mut()
            .map(move |(i, o)| (&**names.plugin_name(*i), o))
    }

    /// How many impls ran.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no impl ran.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The answers, in call order ("no answer" and failures skipped).
    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.entries.iter().filter_map(|(_, o)| o.value())
    }

    /// The answers with the plugin that gave each.
    pub fn answers(&self) -> impl Iterator<Item = (&str, &T)> + '_ {
        self.iter().filter_map(|(p, o)| o.value().map(|v| (p, v)))
    }

    /// The failures with the plugin that produced each.
    pub fn errors(&self) -> impl Iterator<Item = (&str, &HookFailure)> + '_ {
        self.iter().filter_map(|(p, o)| o.failure().map(|f| (p, f)))
    }

    /// `true` when any impl failed.
    pub fn has_errors(&self) -> bool {
        self.entries.iter().any(|(_, o)| o.is_failed())
    }

    /// The outcome of the named plugin's impl, if it ran.
    pub fn get(&self, plugin: &str) -> Option<&ImplOutcome<T>> {
        self.iter().find(|(p, _)| *p == plugin).map(|(_, o)| o)
    }

    /// The answers, in call order; failures are dropped (inspect them first with
    /// [`errors`](Self::errors), or use [`into_result`](Self::into_result)).
    pub fn into_values(self) -> Vec<T> {
        self.entries
            .into_iter()
            .filter_map(|(_, o)| match o {
                ImplOutcome::Value(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    /// The first answer (for first-result hooks: *the* answer).
    pub fn into_value(self) -> Option<T> {
        self.entries.into_iter().find_map(|(_, o)| match o {
            ImplOutcome::Value(v) => Some(v),
            _ => None,
        })
    }

    /// All answers, or the first failure as a [`CallError::ImplFailed`] naming its plugin.
    ///
    /// # Errors
    /// The first failed impl, in call order.
    pub fn into_result(mut self) -> Result<Vec<T>, CallError> {
        match self.take_first_failure() {
            Some(e) => Err(e),
            None => Ok(self.into_values()),
        }
    }

    /// The first answer, or the first failure if an impl failed.
    ///
    /// # Errors
    /// The first failed impl, in call order.
    pub fn into_value_result(mut self) -> Result<Option<T>, CallError> {
        match self.take_first_failure() {
            Some(e) => Err(e),
            None => Ok(self.into_value()),
        }
    }

    /// Keep only the entries for which `keep(plugin, outcome)` is true (a wrapper swallowing
    /// errors: `o.retain(|_, r| !r.is_failed())`).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &ImplOutcome<T>) -> bool) {
        let names = &self.names;
        self.entries.retain(|(i, o)| keep(names.plugin_name(*i), o));
    }

    /// Add an entry in the name of `who` (a wrapper's [`Next::me`](crate::Next::me)).
    pub fn push(&mut self, who: ImplRef, outcome: ImplOutcome<T>) {
        self.entries.push((who.0, outcome));
    }

    /// Convert every answer (e.g. to JSON); `f` may turn an answer into a failure.
    pub fn map<U>(self, mut f: impl FnMut(T) -> ImplOutcome<U>) -> HookOutcome<U> {
        HookOutcome {
            entries: self
                .entries
                .into_iter()
                .map(|(i, o)| (i, o.map(&mut f)))
                .collect(),
            names: self.names,
        }
    }

    /// The entries with their plugin names, by value.
    pub(crate) fn into_named(self) -> impl Iterator<Item = (Arc<str>, ImplOutcome<T>)> {
        let names = self.names;
        self.entries
            .into_iter()
            .map(move |(i, o)| (names.plugin_name(i).clone(), o))
    }

    /// Removes and returns the first failure as a [`CallError`].
    pub(crate) fn take_first_failure(&mut self) -> Option<CallError> {
        let pos = self.entries.iter().position(|(_, o)| o.is_failed())?;
        let (i, o) = self.entries.remove(pos);
        match o {
            ImplOutcome::Failed(failure) => Some(CallError::ImplFailed {
                hook: self.names.hook_name().clone(),
                plugin: self.names.plugin_name(i).clone(),
                failure,
            }),
            _ => None,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for HookOutcome<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookOutcome")
            .field("hook", &self.hook())
            .field("entries", &self.iter().collect::<Vec<_>>())
            .finish()
    }
}

impl<'a, T> IntoIterator for &'a HookOutcome<T> {
    type Item = (&'a str, &'a ImplOutcome<T>);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a ImplOutcome<T>)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}
