//! Errors: what registration and calls can reject, each naming what to fix.
//!
//! Two families:
//! - [`RegisterError`]: a plugin, spec or impl could not be added. Registration is all-or-nothing,
//!   so after any of these the manager holds exactly what it held before.
//! - [`CallError`]: a call could not run (unknown hook, historic misuse, malformed JSON arguments)
//!   or, under the fail-fast policy, an impl failed and stopped the call.
//!
//! What an impl itself returns as an error is a [`BoxError`]: any `std::error::Error` of the
//! plugin author's own type, boxed by `?`.
//!
//! Messages are bounded: wherever a message quotes text from outside the library (a plugin's
//! error or panic message, a name, a JSON value quoted by serde), it shows at most 200 bytes
//! of it, cut at a character boundary and followed by `… (N bytes)` with the full length, so
//! untrusted input cannot flood logs or memory. The values themselves (an impl's error, a
//! panic message) are kept whole where the API hands them out.

use std::fmt;
use std::sync::Arc;

use crate::limits::Quote;

/// The error type impls return: any error of the plugin author's own type, boxed.
///
/// `?` converts any `E: std::error::Error + Send + Sync + 'static` (and `&str`/`String`) into it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an impl produced no value: the failure half of an [`ImplOutcome`](crate::ImplOutcome).
///
/// Its `Display` (also the text of monitors' [`ImplReport::error`](crate::monitor::ImplReport), the
/// statistics' last error and [`CallError::ImplFailed`]) quotes at most 200 bytes of the
/// impl's error or panic message, then `… (N bytes)`; [`as_error`](Self::as_error) and the
/// `Panic` field keep them whole. Its `Debug` bounds them the same way.
///
/// An impl that was retried (it has a [`RetryPolicy`](crate::policy::RetryPolicy)) and still failed
/// reports [`RetriesExhausted`](Self::RetriesExhausted): the attempt count and the last
/// attempt's failure, which [`last_attempt`](Self::last_attempt) and the `is_*` queries look
/// through.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use hookwire::policy::{RetryPolicy, Retryable};
/// use hookwire::{FutureExt, HookFailure, HookManager};
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
/// let failure = outcome.get("flaky").unwrap().failure().unwrap();
/// assert!(matches!(failure, HookFailure::RetriesExhausted { attempts: 3, .. }));
/// assert!(failure.is_error());
/// assert_eq!(failure.to_string(), "gave up after 3 attempts: returned an error: backend down");
/// # }
/// ```
#[non_exhaustive]
pub enum HookFailure {
    /// The impl returned an error of its own.
    Error(BoxError),
    /// The impl panicked; the panic message is kept (or `"<non-string panic payload>"`).
    Panic(String),
    /// The impl overran its own `timeout`.
    TimedOut {
        /// The impl's time limit.
        limit: std::time::Duration,
    },
    /// The call's deadline passed while the impl was running (`started`) or before it started.
    DeadlineExceeded {
        /// The call's deadline, counted from the call's start.
        deadline: std::time::Duration,
        /// Whether the impl had started.
        started: bool,
    },
    /// The impl has a [`RetryPolicy`](crate::policy::RetryPolicy), was retried, and its last attempt
    /// failed too (its attempts ran out, or the last failure was not retryable, or the retry
    /// budget or the call's deadline left no room for another): `last` is that attempt's
    /// failure. A failure on the first attempt with no retry made is reported as it is, not
    /// wrapped; so is an attempt cut off by the call's deadline
    /// ([`DeadlineExceeded`](Self::DeadlineExceeded)).
    ///
    /// [`ImplOutcome::kind`](crate::ImplOutcome::kind), [`is_panic`](Self::is_panic),
    /// [`is_timeout`](Self::is_timeout), [`is_error`](Self::is_error) and
    /// [`as_error`](Self::as_error) answer as for `last`; `Display` is
    /// `gave up after 3 attempts: <last>`.
    RetriesExhausted {
        /// How many times the impl was called in this call (at least 2).
        attempts: u32,
        /// The failure of the last attempt.
        last: Box<HookFailure>,
    },
}

impl HookFailure {
    /// The failure of the impl's last attempt: `last` of
    /// [`RetriesExhausted`](Self::RetriesExhausted), otherwise the failure itself.
    pub fn last_attempt(&self) -> &HookFailure {
        match self {
            HookFailure::RetriesExhausted { last, .. } => last.last_attempt(),
            other => other,
        }
    }

    /// `true` when the impl panicked (in its last attempt, if it was retried).
    pub fn is_panic(&self) -> bool {
        matches!(self.last_attempt(), HookFailure::Panic(_))
    }

    /// `true` when the impl overran its timeout (in its last attempt, if it was retried) or
    /// the call's deadline.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.last_attempt(),
            HookFailure::TimedOut { .. } | HookFailure::DeadlineExceeded { .. }
        )
    }

    /// `true` when the impl returned an error of its own (in its last attempt, if it was
    /// retried).
    pub fn is_error(&self) -> bool {
        matches!(self.last_attempt(), HookFailure::Error(_))
    }

    /// The impl's own error, when it returned one (in its last attempt, if it was retried);
    /// downcast it to your error type.
    pub fn as_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self.last_attempt() {
            HookFailure::Error(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl fmt::Debug for HookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HookFailure::Error(e) => f
                .debug_tuple("Error")
                .field(&format_args!("{}", Quote(format_args!("{e:?}"))))
                .finish(),
            HookFailure::Panic(msg) => f
                .debug_tuple("Panic")
                .field(&format_args!("{}", Quote(format_args!("{msg:?}"))))
                .finish(),
            HookFailure::TimedOut { limit } => {
                f.debug_struct("TimedOut").field("limit", limit).finish()
            }
            HookFailure::DeadlineExceeded { deadline, started } => f
                .debug_struct("DeadlineExceeded")
                .field("deadline", deadline)
                .field("started", started)
                .finish(),
            HookFailure::RetriesExhausted { attempts, last } => f
                .debug_struct("RetriesExhausted")
                .field("attempts", attempts)
                .field("last", last)
                .finish(),
        }
    }
}

/// A failure is an error of its own, so it can be returned with `?` into
/// `Box<dyn Error>` or `anyhow`. Its `Display` already quotes the impl's error, so
/// [`source`](std::error::Error::source) is `None` (use [`as_error`](HookFailure::as_error) to
/// reach the impl's error).
impl std::error::Error for HookFailure {}

impl fmt::Display for HookFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The dynamic layer's own error bounds what it quotes already.
            #[cfg(feature = "json")]
            HookFailure::Error(e) => match e.downcast_ref::<JsonMismatch>() {
                Some(m) => write!(f, "returned an error: {m}"),
                None => write!(f, "returned an error: {}", Quote(e)),
            },
            #[cfg(not(feature = "json"))]
            HookFailure::Error(e) => write!(f, "returned an error: {}", Quote(e)),
            HookFailure::Panic(msg) => write!(f, "panicked: {}", Quote(msg)),
            HookFailure::TimedOut { limit } => write!(f, "timed out after {limit:?}"),
            HookFailure::DeadlineExceeded {
                deadline,
                started: true,
            } => {
                write!(f, "was cut off by the call's deadline of {deadline:?}")
            }
            HookFailure::DeadlineExceeded {
                deadline,
                started: false,
            } => {
                write!(
                    f,
                    "did not start before the call's deadline of {deadline:?}"
                )
            }
            HookFailure::RetriesExhausted { attempts, last } => {
                write!(f, "gave up after {attempts} attempts: {last}")
            }
        }
    }
}

/// A plugin, spec or impl could not be registered. Nothing was changed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// A plugin with this name is already registered.
    #[error(
        "plugin `{}` is already registered; unregister it first, or give this one another name (a second instance of a plugin type: `HookManager::add_plugin_as(name, p)`, `PluginHost::add_as(name, p)`)",
        Quote(plugin)
    )]
    DuplicatePlugin {
        /// The name that is taken.
        plugin: String,
    },
    /// A plugin name must not be empty (it names the plugin in outcomes, errors, the config
    /// file and environment variables).
    #[error("a plugin name must not be empty; give the plugin a name (`register(\"my-plugin\", ..)`, `add_plugin_as(\"my-plugin\", p)`)")]
    EmptyName,
    /// The host's gate refused it: a plugin registering, through the hook manager its
    /// context hands out, an impl of a hook whose permission it lacks. The message names the
    /// plugin, the hook and the permission.
    #[error("{0}")]
    Refused(String),
    /// The name was blocked with [`HookManager::block`](crate::HookManager::block).
    #[error(
        "plugin `{}` is blocked; call `unblock(\"{}\")` to allow it",
        Quote(plugin),
        Quote(plugin)
    )]
    Blocked {
        /// The blocked name.
        plugin: String,
    },
    /// `before`/`after` constraints of one hook form a cycle; the registration that would
    /// close it is refused.
    #[error("impls of hook `{}` have an ordering cycle: {}; remove one of these before/after constraints", Quote(hook), Quote(cycle.join(" -> ")))]
    OrderingCycle {
        /// The hook.
        hook: String,
        /// The plugins on the cycle, the first repeated at the end (`a -> b -> a`).
        cycle: Vec<String>,
    },
    /// Two different spec types claim the same hook name, or an impl's types differ from the spec's.
    #[error("hook `{}`: {detail}", Quote(hook))]
    SpecMismatch {
        /// The hook name.
        hook: String,
        /// What does not match.
        detail: String,
    },
    /// An impl was registered with `wrapper` for a hook mode that does not allow it, or similar misuse.
    #[error(
        "impl of hook `{}` in plugin `{}`: {detail}",
        Quote(hook),
        Quote(plugin)
    )]
    InvalidImpl {
        /// The hook.
        hook: String,
        /// The plugin.
        plugin: String,
        /// What is wrong.
        detail: String,
    },
    /// Under fail-fast (the historic call's own `.fail_fast()`, or its spec's), replaying a
    /// stored call of a historic hook to the plugin failed during its registration. The
    /// registration was rolled back.
    #[error("plugin `{}` was not registered: the replay of a stored call of historic hook `{}` failed under fail-fast: the impl {}; fix the impl, or make that historic call `isolate()` to receive such failures in its `on_result` instead", Quote(plugin), Quote(hook), Quote(detail))]
    ReplayFailed {
        /// The plugin.
        plugin: String,
        /// The historic hook.
        hook: String,
        /// How its impl failed (`returned an error: ...`, `panicked: ...`).
        detail: String,
    },
    /// The plugin's own `register` code failed.
    #[error("plugin `{}` failed to register: {}", Quote(plugin), Quote(reason))]
    Plugin {
        /// The plugin.
        plugin: String,
        /// Its reason.
        reason: String,
    },
}

/// Impls registered for hooks that have no spec (see
/// [`HookManager::check_pending`](crate::HookManager::check_pending)).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("impls for unknown hooks (no spec was added; mark them `optional()` if that is expected): {}", format_pending(.pending))]
pub struct PendingImplsError {
    /// `(plugin, hook)` pairs, sorted.
    pub pending: Vec<(String, String)>,
}

fn format_pending(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(plugin, hook)| format!("`{}` in plugin `{}`", Quote(hook), Quote(plugin)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A hook call could not run, or (fail-fast policy) an impl failed and stopped it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No spec and no impl is known under this hook name (dynamic layer).
    #[error("unknown hook `{hook}`: no spec with this name was added (known hooks: {known})")]
    UnknownHook {
        /// The name asked for (at most 200 bytes of it, then `… (N bytes)`).
        hook: String,
        /// The names that exist, comma-separated (at most 200 bytes, then `… (N bytes)`).
        known: String,
    },
    /// A historic hook was called the normal way, or a normal hook historically.
    #[error("hook `{hook}` {detail}")]
    Historic {
        /// The hook.
        hook: String,
        /// What was wrong.
        detail: &'static str,
    },
    /// JSON arguments nest deeper than `json::MAX_JSON_DEPTH` (128), or did not
    /// deserialise into the hook's argument type.
    #[error("malformed JSON arguments for hook `{hook}`: {detail}")]
    BadArgs {
        /// The hook (at most 200 bytes of the name asked for, then `… (N bytes)`).
        hook: String,
        /// What is wrong: the depth, or the serde error (quoting at most 200 bytes of it, then
        /// `… (N bytes)`: serde's messages quote the offending value).
        detail: String,
    },
    /// The hook's spec could not be added (its name is taken by another spec type).
    #[error("hook `{hook}` cannot be called: {detail}")]
    Unavailable {
        /// The hook (at most 200 bytes of the name asked for, then `… (N bytes)`).
        hook: String,
        /// Why.
        detail: String,
    },
    /// An impl failed and the call ran with the fail-fast policy (pluggy's behaviour).
    #[error("impl of hook `{hook}` in plugin `{}` {failure}", Quote(plugin))]
    ImplFailed {
        /// The hook.
        hook: Arc<str>,
        /// The plugin whose impl failed.
        plugin: Arc<str>,
        /// How it failed.
        failure: HookFailure,
    },
}

impl CallError {
    /// The plugin whose impl failed, for [`CallError::ImplFailed`].
    pub fn plugin(&self) -> Option<&str> {
        match self {
            CallError::ImplFailed { plugin, .. } => Some(plugin),
            _ => None,
        }
    }

    /// `true` when an impl panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, CallError::ImplFailed { failure, .. } if failure.is_panic())
    }
}

/// A JSON value crossing the dynamic layer did not fit the type on the other side.
///
/// Appears as an impl's error (`HookFailure::Error`) when a JSON impl answers with a value that
/// nests deeper than `json::MAX_JSON_DEPTH` (128) or does not deserialise into
/// the typed hook's output, or when a typed answer cannot be serialised for a JSON caller.
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("malformed JSON for hook `{hook}`: {detail}")]
pub struct JsonMismatch {
    /// The hook.
    pub hook: String,
    /// What is wrong: the depth, or the serde error (quoting at most 200 bytes of it, then
    /// `… (N bytes)`: serde's messages quote the offending value).
    pub detail: String,
}

pub use crate::exec::retry::RetryPolicyError;
#[cfg(feature = "plugins")]
#[cfg_attr(docsrs, doc(cfg(feature = "plugins")))]
pub use crate::plugin::config::ConfigError;
#[cfg(feature = "plugins")]
#[cfg_attr(docsrs, doc(cfg(feature = "plugins")))]
pub use crate::plugin::deps::DependencyError;
#[cfg(feature = "plugins")]
#[cfg_attr(docsrs, doc(cfg(feature = "plugins")))]
pub use crate::plugin::{ContextError, MetaError, PluginError, Refusal};
