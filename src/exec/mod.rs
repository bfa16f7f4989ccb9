//! The engine that runs one hook call over a snapshot of impls.
//!
//! - [`snapshot`]: the immutable impl list a call runs on.
//! - [`ready`]: the common call run inline in its first poll, handed over to [`sequential`]
//!   only if an impl waits.
//! - [`sequential`]: the hand-written poll loop over plain impls.
//! - [`wrapper`]: `Next`-style wrappers around the loop; [`cutoff`]: what a call with
//!   wrappers keeps when its deadline cuts them off.
//! - [`panic`]: panics turned into failure values.
//! - [`deadline`]: the call's deadline, visible to its impls while they are polled.

pub(crate) mod breaker;
pub(crate) mod cutoff;
pub(crate) mod deadline;
pub(crate) mod fast;
pub(crate) mod panic;
pub(crate) mod parallel;
pub(crate) mod ready;
pub(crate) mod retry;
pub(crate) mod run;
pub(crate) mod sequential;
pub(crate) mod snapshot;
pub(crate) mod stats;
pub(crate) mod tight;
pub(crate) mod wrapper;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::error::HookFailure;
use crate::outcome::{Entry, HookOutcome, ImplOutcome};
use crate::spec::{CallMode, HookSpec};
use snapshot::ImplList;

/// How one call runs: decided per call from the spec's defaults and the caller's overrides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallPlan<'a> {
    pub(crate) firstresult: bool,
    pub(crate) fail_fast: bool,
    /// Plugins whose impls this call skips (subset callers).
    pub(crate) exclude: &'a [Arc<str>],
    /// Run the plain impls concurrently.
    pub(crate) parallel: bool,
    /// In parallel mode, at most this many impls run at once.
    pub(crate) max_in_flight: usize,
    /// When the call gives up on impls still running, and the configured duration.
    pub(crate) deadline: Option<(Instant, Duration)>,
}

impl CallPlan<'_> {
    /// The index of the next plain impl at or after `*cursor` that this call runs, advancing
    /// the cursor past it.
    #[inline]
    pub(crate) fn next_index<S: HookSpec>(
        &self,
        list: &ImplList<S>,
        cursor: &mut usize,
    ) -> Option<usize> {
        while let Some(entry) = list.entries.get(*cursor) {
            *cursor += 1;
            if self.includes(&entry.plugin) {
                return Some(*cursor - 1);
            }
        }
        None
    }

    /// Whether the call stops once an impl produced `outcome`.
    #[inline]
    pub(crate) fn stops_after<T>(&self, outcome: &ImplOutcome<T>) -> bool {
        match outcome {
            ImplOutcome::Value(_) => self.firstresult,
            ImplOutcome::Failed(_) => self.fail_fast,
            _ => false,
        }
    }

    #[inline]
    pub(crate) fn deadline_at(&self) -> Option<Instant> {
        self.deadline.map(|(at, _)| at)
    }

    /// `true` when the call has a deadline and it has passed (reads the clock only then).
    #[inline]
    pub(crate) fn deadline_passed(&self) -> bool {
        matches!(self.deadline, Some((at, _)) if Instant::now() >= at)
    }

    /// The entry of an impl cut off by the deadline.
    pub(crate) fn deadline_entry<T>(&self, index: u32, attempts: u32, started: bool) -> Entry<T> {
        let deadline = self.deadline.map(|(_, d)| d).unwrap_or_default();
        Entry::new(
            index,
            attempts,
            ImplOutcome::Failed(HookFailure::DeadlineExceeded { deadline, started }),
        )
    }

    #[inline]
    pub(crate) fn includes(&self, plugin: &str) -> bool {
        self.exclude.is_empty() || !self.exclude.iter().any(|p| **p == *plugin)
    }
}

/// The span of one call. With no interested subscriber it is `Span::none()`.
#[inline(always)]
pub(crate) fn call_span<S: HookSpec>(list: &ImplList<S>, plan: &CallPlan<'_>) -> tracing::Span {
    tracing::debug_span!(
        "hook_call",
        hook = %list.spec.name,
        mode = ?if plan.firstresult { CallMode::FirstResult } else { CallMode::CollectAll },
        parallel = plan.parallel,
        impls = list.entries.len()
    )
}

/// Runs one call over `list`; the outcome keeps `list` to name plugins later.
pub(crate) async fn run_call<S: HookSpec>(
    list: Arc<ImplList<S>>,
    args: &S::Args,
    plan: CallPlan<'_>,
) -> HookOutcome<S::Output> {
    let span = call_span(&list, &plan);
    if list.n_wrappers == 0 {
        let results = PlainLoop::new(&list, args, plan).instrument(span).await;
        HookOutcome::new(results, list)
    } else if let Some((at, _)) = plan.deadline {
        // The deadline bounds the wrappers too; what the impls inside them produced is kept.
        deadline::WithDeadline::new(at, cutoff::run_wrapped(list, args, plan, at, span)).await
    } else {
        wrapper::run_from(&list, args, plan, 0, None)
            .instrument(span)
            .await
    }
}

/// The plain impls of a call, run one after the other or concurrently.
pub(crate) enum PlainLoop<'a, S: HookSpec> {
    Seq(sequential::SeqLoop<'a, S>),
    Par(parallel::ParLoop<'a, S>),
}

impl<'a, S: HookSpec> PlainLoop<'a, S> {
    // Always: built in place in the caller's future (out of line, it is built on the stack
    // and copied in: two `memcpy`s of its 360 bytes a call).
    #[inline(always)]
    pub(crate) fn new(list: &'a ImplList<S>, args: &'a S::Args, plan: CallPlan<'a>) -> Self {
        if plan.parallel {
            PlainLoop::Par(parallel::ParLoop::new(list, args, plan))
        } else {
            PlainLoop::Seq(sequential::SeqLoop::new(list, args, plan))
        }
    }
}

impl<S: HookSpec> std::future::Future for PlainLoop<'_, S> {
    type Output = sequential::Results<S::Output>;

    #[inline]
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // The impls see the call's deadline while they are polled (one branch without one).
        match self.get_mut() {
            PlainLoop::Seq(l) => {
                let _scope = deadline::DeadlineScope::enter(l.plan.deadline_at());
                std::pin::Pin::new(l).poll(cx)
            }
            PlainLoop::Par(l) => {
                let _scope = deadline::DeadlineScope::enter(l.plan.deadline_at());
                std::pin::Pin::new(l).poll(cx)
            }
        }
    }
}
