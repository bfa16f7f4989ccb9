//! The sequential call loop: one hand-written future that drives every plain impl in turn.
//!
//! For each impl it creates the impl's future and polls it in place (see [`ImplRun`]); only an
//! impl that goes pending is kept. Sync impls are called directly (no future at all). The only
//! allocation of the loop is the result buffer, and only for more than one result (one entry
//! is held inline); a deadline timer is armed only when an impl actually waits and the call
//! has a deadline.

use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Sleep;
use tracing::Span;

use super::fast::{async_fast_into, counter, sync_fast_into, AsyncFast, Waiting};
use super::panic::{after_drop, drop_caught, log_dropped_with_call};
use super::run::{impl_span, poll_async, ImplRun, Start};
use super::snapshot::{ImplList, SyncLoop};
use super::stats;
use super::tight::{run_all_sync, run_all_sync_counted, run_all_sync_tallied};
use super::CallPlan;
use crate::outcome::{Entry, ImplOutcome};
use crate::spec::HookSpec;

/// Results of a call, in call order (inline while there is at most one).
pub(crate) type Results<T> = crate::outcome::Entries<T>;

/// Runs the plain (non-wrapper) impls of a snapshot one after the other.
pub(crate) struct SeqLoop<'a, S: HookSpec> {
    list: &'a ImplList<S>,
    args: &'a S::Args,
    pub(super) plan: CallPlan<'a>,
    next: usize,
    pending: Option<ImplRun<'a, S>>,
    deadline_timer: Option<Pin<Box<Sleep>>>,
    results: Results<S::Output>,
    /// Whether any subscriber may want `trace`-level impl spans (checked once per call).
    traced: bool,
    /// A spent timeout timer, reset for the next impl that waits (one allocation per call).
    spare_timer: Option<Pin<Box<Sleep>>>,
    /// A fast-path async impl that went pending in a list without statistics: polled here
    /// directly, no [`ImplRun`] (nothing to count, retry or report when dropped).
    waiting: Option<(u32, Waiting<'a, S::Output>)>,
}

/// What polling [`SeqLoop::waiting`] gave.
enum Waited<T> {
    Pending,
    Done(u32, ImplOutcome<T>),
}

impl<'a, S: HookSpec> SeqLoop<'a, S> {
    pub(crate) fn new(list: &'a ImplList<S>, args: &'a S::Args, plan: CallPlan<'a>) -> Self {
        SeqLoop {
            list,
            args,
            plan,
            next: list.n_wrappers,
            pending: None,
            deadline_timer: None,
            // Sized on the first poll: the tight loop fills a `Vec` of its own.
            results: Results::new(),
            traced: tracing::level_enabled!(tracing::Level::TRACE),
            spare_timer: None,
            waiting: None,
        }
    }

    /// The loop of a call that the ready path ([`super::ready`]) started: the impls before
    /// `index` have their entries in `results`, and the impl at `index` (no policy) went
    /// pending. It waits as it would in this loop: polled here directly, or, in a list with
    /// statistics, in an [`ImplRun`] that counts it when it finishes.
    pub(crate) fn resume(
        list: &'a ImplList<S>,
        args: &'a S::Args,
        plan: CallPlan<'a>,
        results: Results<S::Output>,
        index: u32,
        waiting: Waiting<'a, S::Output>,
    ) -> Self {
        let (pending, waiting) = if list.counted {
            let entry = &list.entries[index as usize];
            // No subscriber wanted spans for this call (the ready path's condition).
            let run = ImplRun::resume(entry, args, index, waiting, Span::none(), None);
            (Some(run), None)
        } else {
            (None, Some((index, waiting)))
        };
        SeqLoop {
            list,
            args,
            plan,
            next: index as usize + 1,
            pending,
            deadline_timer: None,
            results,
            traced: false,
            spare_timer: None,
            waiting,
        }
    }

    /// Records a finished impl; returns `true` when the call must stop here.
    #[inline]
    fn record(&mut self, entry: Entry<S::Output>) -> bool {
        let stop = self.plan.stops_after(&entry.outcome);
        self.results.push(entry);
        stop
    }

    /// The index of the next impl this call runs, if any.
    #[inline]
    fn next_index(&mut self) -> Option<usize> {
        self.plan.next_index(self.list, &mut self.next)
    }

    /// The deadline passed: the running impl and every impl not started yet are reported as
    /// cut off.
    fn expire(&mut self) -> Results<S::Output> {
        if let Some((index, w)) = self.waiting.take() {
            // Dropped inside the isolation: a panic in its `Drop` is its outcome.
            let dropped = drop_caught(w.fut);
            let cut = self.plan.deadline_entry::<S::Output>(index, 1, true);
            let plugin = &self.list.entries[index as usize].plugin;
            let outcome = after_drop(cut.outcome, dropped, plugin);
            self.results.push(Entry::new(index, 1, outcome));
        }
        if let Some(mut run) = self.pending.take() {
            let cut = self
                .plan
                .deadline_entry::<S::Output>(run.index(), run.attempts(), true);
            self.results.push(run.stop(cut.outcome));
        }
        while let Some(i) = self.next_index() {
            self.results
                .push(self.plan.deadline_entry(i as u32, 0, false));
        }
        mem::take(&mut self.results)
    }

    /// Polls the waiting fast-path impl (there is one): its answer, failure or timeout, or
    /// still pending. A finished impl gives its timer back for the next one.
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Waited<S::Output> {
        let Some((index, w)) = self.waiting.as_mut() else {
            return Waited::Pending;
        };
        let index = *index;
        let timeout = self.list.entries[index as usize]
            .policy
            .as_ref()
            .and_then(|p| p.timeout);
        let Poll::Ready(outcome) = poll_async(&mut w.fut, &mut w.timer, timeout, cx) else {
            return Waited::Pending;
        };
        let mut outcome = outcome;
        if let Some((_, w)) = self.waiting.take() {
            if w.timer.is_some() {
                self.spare_timer = w.timer;
            }
            // The finished (or timed-out) future is dropped inside the isolation.
            let plugin = &self.list.entries[index as usize].plugin;
            outcome = after_drop(outcome, drop_caught(w.fut), plugin);
        }
        Waited::Done(index, outcome)
    }

    /// An impl is pending: check the call's deadline, then wait.
    fn park(&mut self, cx: &mut Context<'_>) -> Poll<Results<S::Output>> {
        if let Some((at, _)) = self.plan.deadline {
            let timer = self
                .deadline_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(self.expire());
            }
        }
        Poll::Pending
    }
}

// Nothing in the loop is structurally pinned: the impl futures it keeps are boxed.
impl<S: HookSpec> Unpin for SeqLoop<'_, S> {}

impl<S: HookSpec> Drop for SeqLoop<'_, S> {
    #[inline(always)]
    fn drop(&mut self) {
        if self.waiting.is_some() {
            self.drop_waiting();
        }
    }
}

impl<S: HookSpec> SeqLoop<'_, S> {
    /// The call was dropped while a fast-path impl waited: its future is dropped inside the
    /// isolation, a panic there logged, never unwound into the caller's drop. (A pending
    /// `ImplRun` does the same in its own `Drop`.)
    #[cold]
    #[inline(never)]
    fn drop_waiting(&mut self) {
        if let Some((index, w)) = self.waiting.take() {
            if let Some(msg) = drop_caught(w.fut) {
                log_dropped_with_call(&self.list.entries[index as usize].plugin, &msg);
            }
        }
    }
}

impl<'a, S: HookSpec> Future for SeqLoop<'a, S> {
    type Output = Results<S::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let list: &'a ImplList<S> = this.list;
        if this.next == list.n_wrappers {
            if let Some(results) = this.run_tight() {
                return Poll::Ready(results);
            }
            // The first poll sizes the results: inline (no allocation) for at most one.
            let n = list.entries.len() - list.n_wrappers;
            if n > 1 && !this.plan.firstresult {
                this.results.reserve_exact(n);
            }
        }
        // The per-impl loop, in copies: without statistics it does not look at any; with
        // statistics, out of line (`run_counted`) but for a single impl, where the call it
        // costs weighs most.
        if list.counted {
            if list.entries.len() - list.n_wrappers > 1 {
                this.run_counted(cx)
            } else {
                // This thread's lane, as in `run_counted`.
                this.run_each::<true>(stats::lane(), cx)
            }
        } else {
            this.run_each::<false>(None, cx)
        }
    }
}

impl<'a, S: HookSpec> SeqLoop<'a, S> {
    /// On the first poll, runs every plain impl in one of the tight sync loops when the list
    /// allows it; `None` when the per-impl loop must run instead. The tight loops fill a
    /// `Vec`, so calls with at most one result — one impl, or first-result — take the per-impl
    /// loop, which writes the entry inline and allocates nothing.
    #[inline(always)]
    fn run_tight(&mut self) -> Option<Results<S::Output>> {
        let this = self;
        let list: &'a ImplList<S> = this.list;
        let n = list.entries.len() - list.n_wrappers;
        if list.sync_loop == SyncLoop::No
            || n <= 1
            || this.plan.firstresult
            || this.traced
            || !this.plan.exclude.is_empty()
            || this.plan.deadline.is_some()
        {
            return None;
        }
        {
            let plain = &list.entries[list.n_wrappers..];
            let mut results = Vec::with_capacity(n);
            let done = match list.sync_loop {
                SyncLoop::Plain => {
                    run_all_sync(plain, list.n_wrappers, this.args, &mut results, &this.plan);
                    true
                }
                // Without a lane (thread-locals torn down) the per-impl loop counts instead.
                _ => match stats::lane() {
                    Some(lane) => {
                        // A collect-all call runs every impl: one count for all of them.
                        let tally = if this.plan.firstresult || this.plan.fail_fast {
                            None
                        } else {
                            list.tally()
                        };
                        match tally {
                            Some(tally) => run_all_sync_tallied(
                                plain,
                                list.n_wrappers,
                                this.args,
                                &mut results,
                                &this.plan,
                                tally,
                                lane,
                            ),
                            None => run_all_sync_counted(
                                plain,
                                list.n_wrappers,
                                this.args,
                                &mut results,
                                &this.plan,
                                lane,
                            ),
                        }
                        true
                    }
                    None => false,
                },
            };
            if done {
                this.next = list.entries.len();
                return Some(Results::from_vec(results));
            }
        }
        None
    }
}

impl<'a, S: HookSpec> SeqLoop<'a, S> {
    /// [`run_each`](Self::run_each) for a list of several impls with statistics, in a function
    /// of its own: inlined in `poll` next to the uncounted copy, its result writes were judged
    /// cold and called `SmallVec::push` out of line for every impl (statistics on cost 1.13×
    /// of off at 100 async impls; out of line 1.09×, see BENCHMARKS.md).
    #[inline(never)]
    fn run_counted(&mut self, cx: &mut Context<'_>) -> Poll<Results<S::Output>> {
        // This thread's lane, looked up once per poll (the impls finishing in this poll
        // count on it; `None` while its thread-locals are torn down).
        self.run_each::<true>(stats::lane(), cx)
    }

    /// Runs the impls one by one from `self.next`. `COUNTED`: some impls keep statistics, and
    /// the fast paths count them on `lane`.
    #[inline(always)]
    fn run_each<const COUNTED: bool>(
        &mut self,
        lane: Option<stats::Lane>,
        cx: &mut Context<'_>,
    ) -> Poll<Results<S::Output>> {
        let this = self;
        let list: &'a ImplList<S> = this.list;
        loop {
            if !COUNTED && this.waiting.is_some() {
                match this.poll_waiting(cx) {
                    Waited::Pending => return this.park(cx),
                    Waited::Done(index, outcome) => {
                        if this.record(Entry::new(index, 1, outcome)) {
                            return Poll::Ready(mem::take(&mut this.results));
                        }
                    }
                }
            }
            if let Some(run) = this.pending.as_mut() {
                match run.poll_run(cx) {
                    Poll::Pending => return this.park(cx),
                    Poll::Ready(entry) => {
                        if let Some(t) = run.take_spent_timer() {
                            this.spare_timer = Some(t);
                        }
                        this.pending = None;
                        if this.record(entry) {
                            return Poll::Ready(mem::take(&mut this.results));
                        }
                    }
                }
            }
            let Some(index) = this.next_index() else {
                return Poll::Ready(mem::take(&mut this.results));
            };
            if this.plan.deadline_passed() {
                this.next = index;
                return Poll::Ready(this.expire());
            }
            let entry = &list.entries[index];
            let span = if this.traced {
                impl_span(&list.spec.name, &entry.plugin)
            } else {
                Span::none()
            };
            let count = match lane {
                Some(lane) if COUNTED => counter(entry, lane),
                _ => None,
            };
            let sampled = match count {
                Some(c) => c.sample(),
                None => 0,
            };
            // Impls that keep statistics on a thread without a lane take the general path.
            if !COUNTED || count.is_some() || entry.stats.is_none() {
                if let Some(stop) = sync_fast_into(
                    entry,
                    this.args,
                    &span,
                    count,
                    sampled,
                    index as u32,
                    &mut this.results,
                    &this.plan,
                ) {
                    if stop {
                        return Poll::Ready(mem::take(&mut this.results));
                    }
                    continue;
                }
                match async_fast_into(
                    entry,
                    this.args,
                    &span,
                    count,
                    sampled,
                    index as u32,
                    &mut this.results,
                    &this.plan,
                    &mut this.spare_timer,
                    cx,
                ) {
                    Some(AsyncFast::Done(true)) => {
                        return Poll::Ready(mem::take(&mut this.results))
                    }
                    Some(AsyncFast::Done(false)) => continue,
                    Some(AsyncFast::Pending(waiting)) if !COUNTED && waiting.timed.is_none() => {
                        this.waiting = Some((index as u32, waiting));
                        return this.park(cx);
                    }
                    Some(AsyncFast::Pending(waiting)) => {
                        let deadline = this.plan.deadline_at();
                        this.pending = Some(ImplRun::resume(
                            entry,
                            this.args,
                            index as u32,
                            waiting,
                            span,
                            deadline,
                        ));
                        return this.park(cx);
                    }
                    None => {}
                }
            }
            match ImplRun::start(
                entry,
                this.args,
                index as u32,
                span,
                sampled,
                this.plan.deadline_at(),
                cx,
            ) {
                Start::Done(entry) => {
                    if this.record(entry) {
                        return Poll::Ready(mem::take(&mut this.results));
                    }
                }
                Start::Pending(run) => {
                    this.pending = Some(run);
                    return this.park(cx);
                }
            }
        }
    }
}
