//! Outcomes: what each impl of a call produced, and which plugin produced it.
//!
//! A call returns a [`HookOutcome`]: one entry per impl that ran, in call order, each an
//! [`ImplOutcome`] (a value, "no answer", or a failure) attributed to its plugin. Plugin names
//! are resolved lazily from the call's snapshot, so the hot path stores only a small index.

use std::fmt;
use std::mem::ManuallyDrop;
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
    /// The impl returned an error, panicked, or ran out of time.
    Failed(HookFailure),
    /// The impl was not called: its circuit breaker is open
    /// ([`ImplBuilder::circuit_breaker`](crate::hook::ImplBuilder::circuit_breaker)).
    CircuitOpen,
    /// The impl was running when the call stopped needing it and was dropped: in a parallel
    /// call, an impl ranked above it answered (first-result) or failed (fail-fast); or the
    /// call itself was dropped (seen by monitors and statistics only).
    Cancelled,
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

    /// The answer, mutable (a wrapper changing an answer in place keeps its attribution).
    pub fn value_mut(&mut self) -> Option<&mut T> {
        match self {
            ImplOutcome::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The answer by value, if any.
    pub fn into_value(self) -> Option<T> {
        match self {
            ImplOutcome::Value(v) => Some(v),
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
    ///
    /// An impl whose retries ran out ([`HookFailure::RetriesExhausted`]) has the kind of its
    /// last attempt's failure.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            ImplOutcome::Value(_) => OutcomeKind::Value,
            ImplOutcome::NoAnswer => OutcomeKind::NoAnswer,
            ImplOutcome::Failed(f) => match f.last_attempt() {
                HookFailure::Panic(_) => OutcomeKind::Panic,
                HookFailure::TimedOut { .. } | HookFailure::DeadlineExceeded { .. } => {
                    OutcomeKind::TimedOut
                }
                _ => OutcomeKind::Error,
            },
            ImplOutcome::CircuitOpen => OutcomeKind::CircuitOpen,
            ImplOutcome::Cancelled => OutcomeKind::Cancelled,
        }
    }

    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> ImplOutcome<U>) -> ImplOutcome<U> {
        match self {
            ImplOutcome::Value(v) => f(v),
            ImplOutcome::NoAnswer => ImplOutcome::NoAnswer,
            ImplOutcome::Failed(e) => ImplOutcome::Failed(e),
            ImplOutcome::CircuitOpen => ImplOutcome::CircuitOpen,
            ImplOutcome::Cancelled => ImplOutcome::Cancelled,
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
    /// Ran out of time (its own timeout, or the call's deadline).
    TimedOut,
    /// Not called: its circuit breaker is open.
    CircuitOpen,
    /// Dropped before it finished.
    Cancelled,
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutcomeKind::Value => "value",
            OutcomeKind::NoAnswer => "no answer",
            OutcomeKind::Error => "error",
            OutcomeKind::Panic => "panic",
            OutcomeKind::TimedOut => "timed out",
            OutcomeKind::CircuitOpen => "circuit open",
            OutcomeKind::Cancelled => "cancelled",
        })
    }
}

/// Resolves the indices stored in an outcome to names (implemented by a call's snapshot).
pub(crate) trait NameTable: Send + Sync {
    fn hook_name(&self) -> &Arc<str>;
    fn plugin_name(&self, index: u32) -> &Arc<str>;
    /// How many impls the snapshot has (valid indices are below).
    fn impl_count(&self) -> usize;
    /// How many of the impls (the first ones, in call order) are wrappers.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    fn wrapper_count(&self) -> usize {
        0
    }
}

/// Identifies one impl of a call's snapshot; a wrapper gets its own from
/// [`Next::me`](crate::hook::Next::me) to add answers in its own name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImplId {
    pub(crate) index: u32,
    /// The address of the snapshot the index points into: a reference kept from another
    /// hook's (or manager's) call is recognised, even when its index is in range.
    pub(crate) list: usize,
}

/// The entries of a [`HookOutcome`], in call order: inline (no allocation) while there is at
/// most one, as in a first-result call or a call of one impl.
pub(crate) type Entries<T> = smallvec::SmallVec<[Entry<T>; 1]>;

/// One impl's result inside a [`HookOutcome`].
#[derive(Debug)]
pub(crate) struct Entry<T> {
    /// The impl's index in the call's snapshot (low 32 bits) and how many times it was called
    /// (high 32 bits; retries included, 0 if skipped). One word, so that building an entry is
    /// one store that a later load can forward from.
    meta: u64,
    pub(crate) outcome: ImplOutcome<T>,
}

impl<T> Entry<T> {
    #[inline]
    pub(crate) fn new(index: u32, attempts: u32, outcome: ImplOutcome<T>) -> Self {
        Entry {
            meta: u64::from(index) | (u64::from(attempts) << 32),
            outcome,
        }
    }

    /// Index of the impl in the call's snapshot.
    #[inline]
    pub(crate) fn index(&self) -> u32 {
        self.meta as u32
    }

    /// How many times it was called.
    #[inline]
    pub(crate) fn attempts(&self) -> u32 {
        (self.meta >> 32) as u32
    }
}

/// One impl's result with its plugin and attempt count, from [`HookOutcome::entries`].
#[derive(Debug)]
#[non_exhaustive]
pub struct OutcomeEntry<'a, T> {
    /// The plugin.
    pub plugin: &'a str,
    /// What the impl produced.
    pub outcome: &'a ImplOutcome<T>,
    /// How many times it was called (retries included; 0 if it was skipped).
    pub attempts: u32,
}

/// Everything one hook call produced: per impl, in call order, which plugin returned what.
///
/// Collect-all calls have one entry per impl that ran; first-result calls stop after the first
/// answer. "No answer" entries are kept (so you can see who declined) but skipped by
/// [`values`](Self::values).
///
/// ```
/// # futures::executor::block_on(async {
/// use hookwire::{HookManager, ImplOutcome};
/// hookwire::hookspec! { pub struct Lookup(String) -> u32; }
///
/// let pm = HookManager::new();
/// pm.register("cache", |r| r.sync_fn::<Lookup>(|_| Ok(None)).add()).unwrap();
/// pm.register("db", |r| r.sync_fn::<Lookup>(|_| Ok(Some(7))).add()).unwrap();
/// pm.register("remote", |r| r.sync_fn::<Lookup>(|_| Err("unreachable".into())).add()).unwrap();
///
/// let outcome = pm.hook::<Lookup>().call(&"ada".to_owned()).await.unwrap();
/// // Every impl that ran, in call order (last registered first, as in pluggy).
/// let who: Vec<(&str, String)> = outcome.iter().map(|(p, o)| (p, o.kind().to_string())).collect();
/// assert_eq!(who, [("remote", "error".into()), ("db", "value".into()), ("cache", "no answer".into())]);
/// assert!(matches!(outcome.get("db"), Some(ImplOutcome::Value(7))));
/// assert_eq!(outcome.answers().collect::<Vec<_>>(), [("db", &7)]);
/// assert_eq!(outcome.errors().next().unwrap().1.to_string(), "returned an error: unreachable");
/// // `Display` is a log-ready summary, one line per impl.
/// assert!(outcome.to_string().starts_with("hook `Lookup`, 3 impls"));
/// assert_eq!(outcome.into_values(), [7]);
/// # });
/// ```
pub struct HookOutcome<T> {
    /// Dropped by `HookOutcome`'s `Drop`: inline for the common single entry.
    pub(crate) entries: ManuallyDrop<Entries<T>>,
    pub(crate) names: Arc<dyn NameTable>,
}

impl<T> Drop for HookOutcome<T> {
    /// The entries, without `SmallVec`'s out-of-line drop when they are inline (at most one,
    /// as in a first-result call): that one is taken out and dropped here.
    #[inline]
    fn drop(&mut self) {
        if self.entries.spilled() {
            drop(std::mem::take(&mut *self.entries));
        } else {
            // Inline: dropped in place, nothing to free.
            self.entries.clear();
        }
    }
}

impl<T> HookOutcome<T> {
    pub(crate) fn new(entries: Entries<T>, names: Arc<dyn NameTable>) -> Self {
        HookOutcome {
            entries: ManuallyDrop::new(entries),
            names,
        }
    }

    /// The entries, by value (this outcome is left empty).
    fn take_entries(&mut self) -> Entries<T> {
        std::mem::take(&mut *self.entries)
    }

    /// The hook this outcome belongs to.
    pub fn hook(&self) -> &str {
        self.names.hook_name()
    }

    /// Every entry as `(plugin name, outcome)`, in call order. For each impl's attempt count
    /// as well (retries included), use [`entries`](Self::entries); for one plugin's,
    /// [`entry`](Self::entry).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &ImplOutcome<T>)> + '_ {
        self.entries
            .iter()
            .map(|e| (&**self.names.plugin_name(e.index()), &e.outcome))
    }

    /// Every entry with its plugin and attempt count, in call order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = OutcomeEntry<'_, T>> + '_ {
        self.entries.iter().map(|e| OutcomeEntry {
            plugin: self.names.plugin_name(e.index()),
            outcome: &e.outcome,
            attempts: e.attempts(),
        })
    }

    /// Every entry as `(plugin name, outcome)` with the outcome mutable (for wrappers).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut ImplOutcome<T>)> + '_ {
        let names = &self.names;
        self.entries
            .iter_mut()
            .map(move |e| (&**names.plugin_name(e.index()), &mut e.outcome))
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
        self.entries.iter().filter_map(|e| e.outcome.value())
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
        self.entries.iter().any(|e| e.outcome.is_failed())
    }

    /// The outcome of the named plugin's impl, if it ran. [`entry`](Self::entry) gives its
    /// attempt count too.
    pub fn get(&self, plugin: &str) -> Option<&ImplOutcome<T>> {
        self.iter().find(|(p, _)| *p == plugin).map(|(_, o)| o)
    }

    /// The named plugin's entry — its outcome and how many times it was called — if it ran:
    /// [`get`](Self::get) with the attempt count. An impl whose retries ran out is a failed
    /// outcome with `attempts` above 1.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// use std::time::Duration;
    /// use hookwire::{FutureExt, HookManager, policy::RetryPolicy, policy::Retryable};
    /// hookwire::hookspec! { pub struct Fetch(u32) -> String; }
    ///
    /// let pm = HookManager::new();
    /// pm.register("flaky", |r| {
    ///     r.hook_fn::<Fetch>(|_| async { Err(Retryable::new("backend down").into()) }.boxed())
    ///         .retry(RetryPolicy::new(3).backoff(Duration::from_millis(10), Duration::from_secs(1)))
    ///         .add()
    /// })
    /// .unwrap();
    /// let outcome = pm.hook::<Fetch>().call(&1).await.unwrap();
    /// let e = outcome.entry("flaky").unwrap();
    /// assert!(e.outcome.is_failed());
    /// assert_eq!(e.attempts, 3, "every attempt was made");
    /// # }
    /// ```
    pub fn entry(&self, plugin: &str) -> Option<OutcomeEntry<'_, T>> {
        self.entries().find(|e| e.plugin == plugin)
    }

    /// `true` when the call's deadline cut it short: at least one impl was still running, or
    /// had not started, when the deadline passed (its outcome is
    /// [`HookFailure::DeadlineExceeded`]; the other entries are what the call had by then).
    /// A wrapper that removes those entries (e.g. with [`retain`](Self::retain)) hides them
    /// from this check too.
    pub fn deadline_exceeded(&self) -> bool {
        self.entries.iter().any(|e| {
            matches!(
                e.outcome,
                ImplOutcome::Failed(HookFailure::DeadlineExceeded { .. })
            )
        })
    }

    /// The answers, in call order; failures are dropped (inspect them first with
    /// [`errors`](Self::errors), or use [`into_result`](Self::into_result)).
    pub fn into_values(mut self) -> Vec<T> {
        self.take_entries()
            .into_iter()
            .filter_map(|e| match e.outcome {
                ImplOutcome::Value(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    /// The first answer (for first-result hooks: *the* answer).
    pub fn into_value(mut self) -> Option<T> {
        self.take_entries()
            .into_iter()
            .find_map(|e| match e.outcome {
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
        self.entries
            .retain(|e| keep(names.plugin_name(e.index()), &e.outcome));
    }

    /// Add an entry in the name of `who` (a wrapper's [`Next::me`](crate::hook::Next::me)).
    ///
    /// # Panics
    /// If `who` is not an impl of this call's hook (an `ImplId` kept from a call of another
    /// hook): in a wrapper, that panic is reported as the wrapper's, like any other.
    pub fn push(&mut self, who: ImplId, outcome: ImplOutcome<T>) {
        self.check_ref(who, "push");
        self.entries.push(Entry::new(who.index, 1, outcome));
    }

    /// The address of the snapshot this outcome names plugins from (what an [`ImplId`] of
    /// this call carries).
    fn names_addr(&self) -> usize {
        Arc::as_ptr(&self.names) as *const () as usize
    }

    fn check_ref(&self, who: ImplId, method: &str) {
        assert!(
            who.list == self.names_addr() && (who.index as usize) < self.names.impl_count(),
            "ImplId {who:?} is not an impl of hook `{}`: {method} with the `Next::me()` of this call",
            self.names.hook_name()
        );
    }

    /// Convert every answer (e.g. to JSON); `f` may turn an answer into a failure.
    pub fn map<U>(mut self, mut f: impl FnMut(T) -> ImplOutcome<U>) -> HookOutcome<U> {
        HookOutcome::new(
            self.take_entries()
                .into_iter()
                .map(|e| Entry::new(e.index(), e.attempts(), e.outcome.map(&mut f)))
                .collect(),
            self.names.clone(),
        )
    }

    /// The entries with their plugin names, by value.
    pub(crate) fn into_named(mut self) -> impl Iterator<Item = (Arc<str>, ImplOutcome<T>)> {
        let names = self.names.clone();
        self.take_entries()
            .into_iter()
            .map(move |e| (names.plugin_name(e.index()).clone(), e.outcome))
    }

    /// Removes the first failed entry, in call order, and returns it as a
    /// [`CallError::ImplFailed`] naming the hook and the plugin (a wrapper chaining it into an
    /// error of its own, like pluggy's `raise ... from e`). `None`, and nothing changes, when
    /// no impl failed.
    pub fn take_first_failure(&mut self) -> Option<CallError> {
        let pos = self.entries.iter().position(|e| e.outcome.is_failed())?;
        Some(self.remove_failure(pos))
    }

    /// Removes the failed entry at `pos` (which must be a failure) as a [`CallError`].
    fn remove_failure(&mut self, pos: usize) -> CallError {
        let e = self.entries.remove(pos);
        let plugin = self.names.plugin_name(e.index()).clone();
        self.failure_error(plugin, e.outcome)
    }

    fn failure_error(&self, plugin: Arc<str>, outcome: ImplOutcome<T>) -> CallError {
        let failure = match outcome {
            ImplOutcome::Failed(failure) => failure,
            other => unreachable!("only failed entries are taken out, not {:?}", other.kind()),
        };
        CallError::ImplFailed {
            hook: self.names.hook_name().clone(),
            plugin,
            failure,
        }
    }

    /// The position of the first entry of `plugin` for which `pick` is true.
    fn position_of(&self, plugin: &str, pick: impl Fn(&ImplOutcome<T>) -> bool) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| pick(&e.outcome) && &**self.names.plugin_name(e.index()) == plugin)
    }
}

/// Changing an outcome while keeping who produced what: the tools of a
/// [`HookWrapper`](crate::hook::HookWrapper), in the manner of pluggy's new-style wrappers.
///
/// | pluggy wrapper | here, after `let me = next.me(); let mut out = next.run().await;` |
/// |---|---|
/// | `return new_result` (old style: `outcome.force_result(r)`) | [`out.force_result(me, r)`](Self::force_result): the one answer, in the wrapper's name |
/// | changing one item of the result | [`out.replace_value("plugin", v)`](Self::replace_value) or [`ImplOutcome::value_mut`]: still in that plugin's name |
/// | `except E as e: raise MyError from e` | [`out.take_failure("plugin")`](Self::take_failure) / [`take_first_failure`](Self::take_first_failure), then `return Err(MyError(e).into())` |
/// | `except E: return fallback` | [`out.recover("plugin", me, fallback)`](Self::recover): the fallback in the wrapper's name, where the failure was |
///
/// Plugins are named as in [`get`](Self::get); when a plugin has several entries (a wrapper
/// that [`push`](Self::push)ed more than one), each method acts on its first entry of the kind
/// it needs, in call order.
///
/// ```
/// use hookwire::{async_trait, HookManager, hook::HookWrapper, hook::Next, hook::WrapResult};
/// hookwire::hookspec! { pub struct Price(u32) -> u32; }
///
/// /// The `rates` plugin may fail: answer in its place with a default price. Cap the
/// /// `premium` plugin's answer at 100.
/// struct Fallback;
/// #[async_trait]
/// impl HookWrapper<Price> for Fallback {
///     async fn wrap(&self, _qty: &u32, next: Next<'_, Price>) -> WrapResult<u32> {
///         let me = next.me();
///         let mut out = next.run().await;
///         if let Some(e) = out.recover("rates", me, 10) {
///             // The failure names its plugin: log it, or chain it with `return Err(e.into())`.
///             assert_eq!(e.plugin(), Some("rates"));
///         }
///         if out.get("premium").and_then(|o| o.value()).is_some_and(|v| *v > 100) {
///             out.replace_value("premium", 100);
///         }
///         Ok(out)
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let pm = HookManager::new();
/// pm.register("rates", |r| r.sync_fn::<Price>(|_| Err("rates service down".into())).add())?;
/// pm.register("premium", |r| r.sync_fn::<Price>(|q| Ok(Some(q * 50))).add())?;
/// pm.register("fallback", |r| r.wrapper::<Price>(std::sync::Arc::new(Fallback)).add())?;
/// let out = pm.hook::<Price>().call(&3).await?;
/// // In call order: `premium` (registered last) ran first; the fallback stands where `rates`
/// // failed.
/// assert_eq!(out.answers().collect::<Vec<_>>(), [("premium", &100), ("fallback", &10)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
impl<T> HookOutcome<T> {
    /// Replaces every entry with one answer, `value`, in the name of `who` (a wrapper's
    /// [`Next::me`](crate::hook::Next::me)): pluggy's `force_result`. A first-result call then
    /// answers `value`; a collect-all call has `value` as its only answer.
    ///
    /// # Panics
    /// If `who` is not an impl of this call's hook, as [`push`](Self::push).
    pub fn force_result(&mut self, who: ImplId, value: T) {
        self.check_ref(who, "force_result");
        self.entries.clear();
        self.entries
            .push(Entry::new(who.index, 1, ImplOutcome::Value(value)));
    }

    /// Replaces the answer of `plugin` with `value`, still in `plugin`'s name (and with its
    /// attempt count), and returns the old answer. Returns `None` and changes nothing (`value`
    /// is dropped) when `plugin` gave no answer in this call: use [`recover`](Self::recover)
    /// to answer in place of a failure, [`push`](Self::push) to add an answer of your own.
    pub fn replace_value(&mut self, plugin: &str, value: T) -> Option<T> {
        let pos = self.position_of(plugin, ImplOutcome::is_value)?;
        let old = std::mem::replace(&mut self.entries[pos].outcome, ImplOutcome::Value(value));
        old.into_value()
    }

    /// Removes the failed entry of `plugin` and returns it as a [`CallError::ImplFailed`]
    /// naming the hook and `plugin`, to chain it into an error of the wrapper's own (pluggy's
    /// `raise ... from e`: `return Err(MyError::from(e).into())`). `None`, and nothing changes,
    /// when `plugin` did not fail in this call.
    pub fn take_failure(&mut self, plugin: &str) -> Option<CallError> {
        let pos = self.position_of(plugin, ImplOutcome::is_failed)?;
        Some(self.remove_failure(pos))
    }

    /// Turns the failure of `plugin` into the answer `value`, in the name of `who` (a
    /// wrapper's [`Next::me`](crate::hook::Next::me): the wrapper produced it), at the failure's
    /// place in call order; returns the failure as a [`CallError::ImplFailed`] naming `plugin`.
    /// `None`, and nothing changes (`value` is dropped), when `plugin` did not fail.
    ///
    /// In a first-result call the recovered answer counts where the failure was: before the
    /// answer of a later impl.
    ///
    /// # Panics
    /// If `who` is not an impl of this call's hook, as [`push`](Self::push).
    pub fn recover(&mut self, plugin: &str, who: ImplId, value: T) -> Option<CallError> {
        self.check_ref(who, "recover");
        let pos = self.position_of(plugin, ImplOutcome::is_failed)?;
        let failed = std::mem::replace(
            &mut self.entries[pos],
            Entry::new(who.index, 1, ImplOutcome::Value(value)),
        );
        let plugin = self.names.plugin_name(failed.index()).clone();
        Some(self.failure_error(plugin, failed.outcome))
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

/// What an operator would log about a call: a summary line (the hook, how many impls, how many
/// answered, declined, failed, were skipped or cancelled), then one line per impl in call
/// order, `  <plugin>: <what happened>`, with the attempt count when it was retried. Values
/// are not printed, so this works for any `T`: print them from [`answers`](Self::answers).
/// Failure text from a plugin is bounded as in every [`HookFailure`] display.
///
/// ```
/// use hookwire::HookManager;
///
/// hookwire::hookspec! {
///     #[name = "greet"]
///     pub struct Greet(String) -> String;
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let pm = HookManager::builder().spec::<Greet>().build();
/// pm.register("polite", |r| r.sync_fn::<Greet>(|name| Ok(Some(format!("hello {name}")))).add())?;
/// pm.register("grumpy", |r| r.sync_fn::<Greet>(|_| Err("not today".into())).add())?;
/// pm.register("shy", |r| r.sync_fn::<Greet>(|_| Ok(None)).add())?;
///
/// let outcome = pm.hook::<Greet>().call(&"ann".to_owned()).await?;
/// assert_eq!(
///     outcome.to_string(),
///     "hook `greet`, 3 impls: 1 answered, 1 no answer, 1 failed\n\
///      \x20 shy: no answer\n\
///      \x20 grumpy: returned an error: not today\n\
///      \x20 polite: answered"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
impl<T> fmt::Display for HookOutcome<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return write!(f, "hook `{}`: no impl ran", self.hook());
        }
        let mut counts = [0usize; 5];
        for (_, outcome) in self.iter() {
            counts[match outcome {
                ImplOutcome::Value(_) => 0,
                ImplOutcome::NoAnswer => 1,
                ImplOutcome::Failed(_) => 2,
                ImplOutcome::CircuitOpen => 3,
                ImplOutcome::Cancelled => 4,
            }] += 1;
        }
        let n = self.len();
        write!(
            f,
            "hook `{}`, {n} impl{}:",
            self.hook(),
            if n == 1 { "" } else { "s" }
        )?;
        let labels = ["answered", "no answer", "failed", "skipped", "cancelled"];
        let mut sep = " ";
        for (count, label) in counts.iter().zip(labels) {
            if *count > 0 {
                write!(f, "{sep}{count} {label}")?;
                sep = ", ";
            }
        }
        for e in self.entries() {
            write!(f, "\n  {}: ", e.plugin)?;
            match e.outcome {
                ImplOutcome::Value(_) => f.write_str("answered")?,
                ImplOutcome::NoAnswer => f.write_str("no answer")?,
                // The attempt count follows below.
                ImplOutcome::Failed(HookFailure::RetriesExhausted { last, .. }) => {
                    write!(f, "{last}")?
                }
                ImplOutcome::Failed(failure) => write!(f, "{failure}")?,
                ImplOutcome::CircuitOpen => f.write_str("skipped: its circuit breaker is open")?,
                ImplOutcome::Cancelled => f.write_str("cancelled: the call no longer needed it")?,
            }
            if e.attempts > 1 {
                write!(f, " ({} attempts)", e.attempts)?;
            }
        }
        Ok(())
    }
}
