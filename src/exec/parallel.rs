//! The parallel call loop: the plain impls of one call run concurrently *in the calling task*
//! (no task is spawned per impl), and are still reported in call order.
//!
//! Each impl is started and polled once in place; an impl that answers at once costs nothing
//! more. Only the impls that go pending are moved into a `FuturesUnordered`, which gives each
//! its own waker, so a wake-up re-polls one impl and not all of them.
//!
//! - `max_in_flight(k)`: at most `k` impls run at once; the rest start in call order as slots
//!   free up.
//! - First-result: the answer of the *first impl in call order* that answers wins (not the
//!   fastest). When the impl ranked `r` answers, every impl ranked below `r` still running is
//!   dropped at once and reported as [`ImplOutcome::Cancelled`] (none of them can change the
//!   result) and no impl starts any more; the impls ranked above `r` are still awaited, and
//!   once they have all finished without answering the call returns `r`'s answer. Fail-fast
//!   does the same with the first failure in call order, so both stop where a sequential call
//!   would, whatever the timing.
//! - Deadline: when it passes, the impls still running are dropped and reported as cut off,
//!   with every impl that had not started yet.

use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::time::Sleep;

use super::fast::{async_fast_into, counter, sync_fast_into, AsyncFast};
use super::run::{impl_span, ImplRun, Start};
use super::sequential::Results;
use super::snapshot::ImplList;
use super::stats;
use super::CallPlan;
use crate::outcome::{Entry, ImplOutcome};
use crate::spec::HookSpec;

/// Marks a result slot whose impl has not finished.
const UNFINISHED: u32 = u32::MAX;

/// A running impl with the position of its result slot.
struct Tagged<'a, S: HookSpec> {
    pos: usize,
    run: ImplRun<'a, S>,
}

impl<S: HookSpec> Future for Tagged<'_, S> {
    type Output = (usize, Entry<S::Output>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.run.poll_run(cx).map(|e| (this.pos, e))
    }
}

impl<S: HookSpec> Unpin for Tagged<'_, S> {}

/// Runs the plain impls of a snapshot concurrently.
pub(crate) struct ParLoop<'a, S: HookSpec> {
    list: &'a ImplList<S>,
    args: &'a S::Args,
    pub(super) plan: CallPlan<'a>,
    next: usize,
    /// One slot per started impl, in call order; `attempts == UNFINISHED` until it finishes.
    results: Results<S::Output>,
    /// Created when the first impl goes pending: a call whose impls all answer at once
    /// allocates nothing for it.
    running: Option<FuturesUnordered<Tagged<'a, S>>>,
    /// Every slot before this one has finished.
    done_prefix: usize,
    /// The first slot, in call order, whose outcome stops the call (a first-result answer, a
    /// fail-fast failure), as soon as it is known: nothing ranked below it can change the
    /// result, so nothing below it runs or starts any more.
    cut: Option<usize>,
    /// No impl starts any more: there is a cut, or the call stopped.
    closed: bool,
    stopped: bool,
    deadline_timer: Option<Pin<Box<Sleep>>>,
}

impl<'a, S: HookSpec> ParLoop<'a, S> {
    pub(crate) fn new(list: &'a ImplList<S>, args: &'a S::Args, plan: CallPlan<'a>) -> Self {
        ParLoop {
            list,
            args,
            plan,
            next: list.n_wrappers,
            results: Results::with_capacity(list.entries.len() - list.n_wrappers),
            running: None,
            done_prefix: 0,
            cut: None,
            closed: false,
            stopped: false,
            deadline_timer: None,
        }
    }

    fn next_index(&mut self) -> Option<usize> {
        self.plan.next_index(self.list, &mut self.next)
    }

    fn in_flight(&self) -> usize {
        self.running.as_ref().map_or(0, FuturesUnordered::len)
    }

    /// Stores a finished impl's entry (in its slot, or as the next slot) and decides whether
    /// the call is over.
    fn finish(&mut self, pos: usize, entry: Entry<S::Output>) {
        let stops = self.plan.stops_after(&entry.outcome);
        if pos == self.results.len() {
            self.results.push(entry);
        } else {
            self.results[pos] = entry;
        }
        if stops {
            self.cut_at(pos);
        }
        self.advance();
    }

    /// The impl in slot `pos` stopped the call (an answer under first-result, a failure under
    /// fail-fast): every impl ranked below it that still runs is dropped at once and reported
    /// as [`ImplOutcome::Cancelled`] (none of them can change the result), and no impl starts
    /// any more. Impls ranked above it are still awaited: one of them may stop the call first.
    #[cold]
    #[inline(never)]
    fn cut_at(&mut self, pos: usize) {
        if self.cut.is_some_and(|c| c <= pos) {
            return;
        }
        self.cut = Some(pos);
        self.closed = true;
        let below = |t: &Tagged<'a, S>| t.pos > pos;
        let Some(running) = self.running.take_if(|r| r.iter().any(below)) else {
            return;
        };
        // `FuturesUnordered` cannot remove one future: rebuild it with the impls above `pos`.
        let kept = FuturesUnordered::new();
        for mut t in running {
            if below(&t) {
                self.results[t.pos] = t.run.stop(ImplOutcome::Cancelled);
            } else {
                kept.push(t);
            }
        }
        self.running = Some(kept);
    }

    /// Moves `done_prefix` over finished slots. The call stops where a sequential call would:
    /// at the first value (first-result) or the first failure (fail-fast) in call order, once
    /// every impl before it has finished.
    #[inline]
    fn advance(&mut self) {
        if !self.plan.firstresult && !self.plan.fail_fast {
            // A plain collect-all never stops early: no prefix to track.
            return;
        }
        // A fast path just finished the last slot: if it stops the call, nothing runs below
        // it. (Checked here, not from the fast path's own `stop`, so that a collect-all call
        // does not compute one.)
        if self.cut.is_none() {
            let last = self.results.len().wrapping_sub(1);
            if self
                .results
                .last()
                .is_some_and(|e| e.attempts() != UNFINISHED && self.plan.stops_after(&e.outcome))
            {
                self.cut = Some(last);
                self.closed = true;
            }
        }
        while let Some(e) = self.results.get(self.done_prefix) {
            if e.attempts() == UNFINISHED {
                break;
            }
            if self.plan.stops_after(&e.outcome) {
                self.stopped = true;
                self.closed = true;
                break;
            }
            self.done_prefix += 1;
        }
    }

    /// Starts impls while there is room.
    fn start_more(&mut self, cx: &mut Context<'_>) {
        // Two copies of the loop: without statistics, `lane` is a constant `None` and the
        // counting branches of the fast paths fold away.
        if self.list.counted {
            self.start_more_counting(cx, stats::lane());
        } else {
            self.start_more_counting(cx, None);
        }
    }

    #[inline(always)]
    fn start_more_counting(&mut self, cx: &mut Context<'_>, lane: Option<stats::Lane>) {
        let list: &'a ImplList<S> = self.list;
        // Impls that keep statistics on a thread without a lane (its thread-locals torn
        // down) take the general path, which counts without one.
        let fast = !list.counted || lane.is_some();
        // One level check for the whole batch instead of a span callsite check per impl.
        let traced = tracing::level_enabled!(tracing::Level::TRACE);
        // An impl started now would rank below the cut: it could not change the result.
        while !self.closed && self.in_flight() < self.plan.max_in_flight {
            if self.plan.deadline_passed() {
                return;
            }
            let Some(index) = self.next_index() else {
                return;
            };
            let pos = self.results.len();
            let entry = &list.entries[index];
            let span = if traced {
                impl_span(&list.spec.name, &entry.plugin)
            } else {
                tracing::Span::none()
            };
            let count = match lane {
                Some(lane) => counter(entry, lane),
                None => None,
            };
            let sampled = match count {
                Some(c) => c.sample(),
                None => 0,
            };
            if fast {
                // Fast paths write the entry in place (it goes at the end: pos == len).
                if sync_fast_into(
                    entry,
                    self.args,
                    &span,
                    count,
                    sampled,
                    index as u32,
                    &mut self.results,
                    &self.plan,
                )
                .is_some()
                {
                    // `advance` sets the cut if this impl stops the call.
                    self.advance();
                    continue;
                }
                let mut no_spare = None;
                match async_fast_into(
                    entry,
                    self.args,
                    &span,
                    count,
                    sampled,
                    index as u32,
                    &mut self.results,
                    &self.plan,
                    &mut no_spare,
                    cx,
                ) {
                    Some(AsyncFast::Done(_)) => {
                        self.advance();
                        continue;
                    }
                    Some(AsyncFast::Pending(waiting)) => {
                        let deadline = self.plan.deadline_at();
                        let run = ImplRun::resume(
                            entry,
                            self.args,
                            index as u32,
                            waiting,
                            span,
                            deadline,
                        );
                        self.park(pos, index, run);
                        continue;
                    }
                    None => {}
                }
            }
            match ImplRun::start(
                entry,
                self.args,
                index as u32,
                span,
                sampled,
                self.plan.deadline_at(),
                cx,
            ) {
                Start::Done(e) => self.finish(pos, e),
                Start::Pending(run) => self.park(pos, index, run),
            }
        }
    }

    /// Keeps a pending impl: a placeholder slot, and the run in the pending set.
    fn park(&mut self, pos: usize, index: usize, run: ImplRun<'a, S>) {
        self.results
            .push(Entry::new(index as u32, UNFINISHED, ImplOutcome::Cancelled));
        self.running
            .get_or_insert_with(FuturesUnordered::new)
            .push(Tagged { pos, run });
    }

    /// Ends the call: impls still running are dropped and reported as `Cancelled` (or as cut
    /// off by the deadline). Impls after a first-result winner that already finished keep
    /// their outcome; `into_value` still returns the winner, the first answer in call order.
    fn conclude(&mut self, deadline_hit: bool) -> Results<S::Output> {
        for mut t in self.running.take().into_iter().flatten() {
            let outcome = if deadline_hit {
                self.plan
                    .deadline_entry::<S::Output>(t.run.index(), t.run.attempts(), true)
                    .outcome
            } else {
                ImplOutcome::Cancelled
            };
            self.results[t.pos] = t.run.stop(outcome);
        }
        if self.stopped && self.plan.fail_fast {
            // Stopped where a sequential call would have: failures of impls after that point
            // (which a sequential call would not have run) are not the call's failures.
            let stop = self.done_prefix;
            let mut pos = 0;
            self.results.retain(|e| {
                let keep = pos <= stop || !e.outcome.is_failed();
                pos += 1;
                keep
            });
        }
        if deadline_hit {
            while let Some(i) = self.next_index() {
                self.results
                    .push(self.plan.deadline_entry(i as u32, 0, false));
            }
        }
        mem::take(&mut self.results)
    }
}

impl<S: HookSpec> Unpin for ParLoop<'_, S> {}

impl<S: HookSpec> Future for ParLoop<'_, S> {
    type Output = Results<S::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.plan.deadline_passed() {
            return Poll::Ready(this.conclude(true));
        }
        loop {
            this.start_more(cx);
            if this.plan.deadline_passed() {
                return Poll::Ready(this.conclude(true));
            }
            if this.stopped {
                return Poll::Ready(this.conclude(false));
            }
            let Some(running) = this.running.as_mut().filter(|r| !r.is_empty()) else {
                // Nothing running and nothing left to start.
                return Poll::Ready(this.conclude(false));
            };
            match running.poll_next_unpin(cx) {
                Poll::Ready(Some((pos, entry))) => this.finish(pos, entry),
                Poll::Ready(None) => {}
                Poll::Pending => {
                    if let Some((at, _)) = this.plan.deadline {
                        let timer = this
                            .deadline_timer
                            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                        if timer.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(this.conclude(true));
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}
