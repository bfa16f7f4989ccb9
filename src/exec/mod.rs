//! The engine that runs one hook call over a snapshot of impls.
//!
//! - [`snapshot`]: the immutable impl list a call runs on.
//! - [`sequential`]: the hand-written poll loop over plain impls.
//! - [`wrapper`]: `Next`-style wrappers around the loop.
//! - [`panic`]: panics turned into failure values.

pub(crate) mod panic;
pub(crate) mod sequential;
pub(crate) mod snapshot;
pub(crate) mod wrapper;

use std::sync::Arc;

use tracing::Instrument;

use crate::outcome::HookOutcome;
use crate::spec::{CallMode, HookSpec};
use snapshot::ImplList;

/// How one call runs: decided per call from the spec's defaults and the caller's overrides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallPlan<'a> {
    pub(crate) firstresult: bool,
    pub(crate) fail_fast: bool,
    /// Plugins whose impls this call skips (subset callers).
    pub(crate) exclude: &'a [Arc<str>],
}

impl CallPlan<'_> {
    #[inline]
    pub(crate) fn includes(&self, plugin: &str) -> bool {
        self.exclude.is_empty() || !self.exclude.iter().any(|p| **p == *plugin)
    }
}

/// Runs one call over `list`; the outcome keeps `list` to name plugins later.
pub(crate) async fn run_call<S: HookSpec>(
    list: Arc<ImplList<S>>,
    args: &S::Args,
    plan: CallPlan<'_>,
) -> HookOutcome<S::Output> {
    let span = tracing::debug_span!(
        "hook_call",
        hook = %list.spec.name,
        mode = ?if plan.firstresult { CallMode::FirstResult } else { CallMode::CollectAll },
        impls = list.entries.len()
    );
    if list.n_wrappers == 0 {
        let results = sequential::SeqLoop::new(&list, args, plan)
            .instrument(span)
            .await;
        HookOutcome::new(results, list)
    } else {
        wrapper::run_from(&list, args, plan, 0)
            .instrument(span)
            .await
    }
}
