//! A call with wrappers and a deadline: what survives the cut.
//!
//! The deadline bounds the wrappers too: once it passes, the wrappers still running are
//! dropped with everything they started and reported as cut off. What the impls inside them
//! produced must not be dropped with them: when the deadline stops the plain loop, its entries
//! (answers and failures of the impls that finished, the impls still running and those not
//! started reported as cut off) are left in the call's [`Ledger`] rather than handed to a
//! wrapper that is about to be cut off, and the call reports them after the wrappers'.
//!
//! An outcome a wrapper already received from `next.run()` before the deadline is the
//! wrapper's: cut off later in its own code, it is dropped with it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::future::{select, Either};
use tracing::Instrument;

use super::snapshot::ImplList;
use super::CallPlan;
use crate::error::HookFailure;
use crate::outcome::{Entries, HookOutcome, ImplOutcome};
use crate::spec::HookSpec;

/// What a call under a deadline keeps for the cut: which wrappers are running, and the plain
/// loop's entries once the deadline stopped it. Locked only briefly, never across an await.
pub(crate) struct Ledger<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    /// Snapshot indices of the wrappers whose code is running, outermost first.
    running: smallvec::SmallVec<[u32; 4]>,
    /// The plain loop's entries, left here when the deadline stopped it.
    plain: Option<Entries<T>>,
    /// The deadline passed: `running` is the list of the wrappers cut off, kept as it is
    /// while the call's future (and the wrappers' [`Running`] guards) is dropped.
    cut: bool,
}

impl<T> Ledger<T> {
    fn new() -> Self {
        Ledger {
            state: Mutex::new(State {
                running: smallvec::SmallVec::new(),
                plain: None,
                cut: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while it is held; a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wrapper at `index` starts running, until the guard is dropped: when it returned
    /// or failed, or when whoever ran it dropped it (an outer wrapper's own timeout) — it is
    /// then no longer cut off with the call.
    pub(crate) fn enter(&self, index: u32) -> Running<'_, T> {
        self.lock().running.push(index);
        Running {
            ledger: self,
            index,
        }
    }

    /// The deadline passed: the wrappers running now are those cut off.
    fn cut(&self) {
        self.lock().cut = true;
    }

    /// Keeps the entries of a plain loop that the deadline stopped.
    pub(crate) fn keep(&self, entries: Entries<T>) {
        self.lock().plain = Some(entries);
    }

    /// The outcome of a call cut off by its deadline: every running wrapper cut off, then the
    /// plain loop's entries if it reached them.
    fn into_outcome<S: HookSpec<Output = T>>(
        self,
        plan: &CallPlan<'_>,
        list: Arc<ImplList<S>>,
    ) -> HookOutcome<T> {
        let state = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let mut entries: Entries<T> = state
            .running
            .iter()
            .map(|&i| plan.deadline_entry(i, 1, true))
            .collect();
        entries.extend(state.plain.into_iter().flatten());
        HookOutcome::new(entries, list)
    }
}

/// A wrapper running, from [`Ledger::enter`].
pub(crate) struct Running<'a, T> {
    ledger: &'a Ledger<T>,
    index: u32,
}

impl<T> Drop for Running<'_, T> {
    fn drop(&mut self) {
        let mut state = self.ledger.lock();
        if !state.cut {
            state.running.retain(|i| *i != self.index);
        }
    }
}

/// Whether the deadline stopped a plain loop that returned `entries`.
pub(crate) fn cut_by_deadline<T>(entries: &Entries<T>) -> bool {
    entries.iter().any(|e| {
        matches!(
            e.outcome,
            ImplOutcome::Failed(HookFailure::DeadlineExceeded { .. })
        )
    })
}

/// Runs a call with wrappers until its deadline `at`, then reports what it had (see the
/// module docs).
pub(crate) async fn run_wrapped<S: HookSpec>(
    list: Arc<ImplList<S>>,
    args: &S::Args,
    plan: CallPlan<'_>,
    at: tokio::time::Instant,
    span: tracing::Span,
) -> HookOutcome<S::Output> {
    let ledger = Ledger::new();
    let raced = {
        let inner = super::wrapper::run_from(&list, args, plan, 0, Some(&ledger));
        let inner = std::pin::pin!(inner.instrument(span));
        let timer = std::pin::pin!(tokio::time::sleep_until(at));
        match select(inner, timer).await {
            Either::Left((outcome, _)) => Some(outcome),
            // Before the wrappers are dropped (at the end of this block).
            Either::Right(_) => {
                ledger.cut();
                None
            }
        }
    };
    match raced {
        Some(outcome) => outcome,
        None => ledger.into_outcome(&plan, list),
    }
}
