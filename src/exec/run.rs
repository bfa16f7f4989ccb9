//! One impl in one call: a small state machine that both call loops drive.
//!
//! It calls the impl (sync directly, async by polling its future in place, blocking on tokio's
//! blocking pool), catches panics — in its polls and when its future is dropped — and applies the impl's policies: the circuit breaker before
//! the call, a timeout timer armed only once the impl actually waits, and retries with backoff
//! (respecting the call's deadline and the retry budget). An impl without policies costs no
//! timer, no clock read and no allocation beyond its own future.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Span;

use super::breaker::{CircuitBreaker, Permit};
use super::fast::Waiting;
use super::panic::{
    after_drop, drop_caught, log_dropped_with_call, panic_message, panic_outcome, return_outcome,
};
use super::retry::{RetryBudget, RetryPolicy};
use super::snapshot::ImplEntry;
use crate::error::HookFailure;
use crate::hookimpl::{HookReturn, ImplFn, ImplOptions};
use crate::outcome::{Entry, ImplOutcome};
use crate::spec::HookSpec;

/// The live policies of one impl, shared by all its calls (and kept across snapshots).
#[derive(Debug)]
pub(crate) struct ImplPolicy {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) breaker: Option<CircuitBreaker>,
}

impl ImplPolicy {
    /// Only a timeout: the fast path can run the impl, and `poll_run` arms the timer if it
    /// waits.
    #[inline]
    pub(crate) fn timeout_only(&self) -> bool {
        self.retry.is_none() && self.breaker.is_none()
    }

    pub(crate) fn from_options(o: &ImplOptions) -> Option<Arc<Self>> {
        if !o.has_policy() {
            return None;
        }
        Some(Arc::new(ImplPolicy {
            timeout: o.timeout,
            retry: o.retry.clone(),
            budget: o
                .retry
                .as_ref()
                .and_then(|r| r.budget)
                .map(RetryBudget::new),
            breaker: o.breaker.map(CircuitBreaker::new),
        }))
    }
}

enum State<'a, T> {
    Async {
        fut: BoxFuture<'a, HookReturn<T>>,
        timer: Option<Pin<Box<Sleep>>>,
    },
    Blocking {
        handle: JoinHandle<HookReturn<T>>,
        timer: Option<Pin<Box<Sleep>>>,
        /// Cancels the token of a `blocking_fn_cancellable` impl when dropped: when the run
        /// gives up on the impl (timeout, deadline, cancellation, the call dropped). Disarmed
        /// when the impl finishes.
        cancel: Option<DropGuard>,
    },
    Backoff {
        sleep: Pin<Box<Sleep>>,
    },
    Idle,
}

/// An impl that has started and not finished.
pub(crate) struct ImplRun<'a, S: HookSpec> {
    entry: &'a ImplEntry<S>,
    args: &'a S::Args,
    index: u32,
    attempts: u32,
    state: State<'a, S::Output>,
    permit: Option<Permit>,
    deadline: Option<Instant>,
    span: Span,
    /// Set when tracing or latency sampling needs the impl's duration.
    started: Option<std::time::Instant>,
    /// The weight of this run's latency sample in the statistics, 0 if it is not sampled.
    sample: u32,
    finished: bool,
    /// The timeout timer of a finished attempt, kept so the call loop can reuse it.
    spent_timer: Option<Pin<Box<Sleep>>>,
}

/// What starting an impl gave.
pub(crate) enum Start<'a, S: HookSpec> {
    Done(Entry<S::Output>),
    Pending(ImplRun<'a, S>),
}

/// The span of one impl in one call. Created once per impl; with no interested subscriber it
/// is `Span::none()` and costs a callsite check.
#[inline(always)]
pub(crate) fn impl_span(hook: &str, plugin: &str) -> Span {
    tracing::trace_span!(
        "hook_impl",
        hook,
        plugin,
        outcome = tracing::field::Empty,
        attempts = tracing::field::Empty,
        duration_us = tracing::field::Empty
    )
}

/// Polls a timer that is armed on first use.
#[inline(always)]
fn poll_timer(timer: &mut Option<Pin<Box<Sleep>>>, limit: Duration, cx: &mut Context<'_>) -> bool {
    let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
    t.as_mut().poll(cx).is_ready()
}

/// Polls an async impl that waits (panics caught) and, while it still waits, its timeout
/// timer (armed on first use): its outcome once it answered, failed, panicked or overran
/// `timeout`.
#[inline(always)]
pub(super) fn poll_async<T>(
    fut: &mut BoxFuture<'_, HookReturn<T>>,
    timer: &mut Option<Pin<Box<Sleep>>>,
    timeout: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<ImplOutcome<T>> {
    match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
        Ok(Poll::Ready(r)) => Poll::Ready(return_outcome(r)),
        Err(payload) => Poll::Ready(panic_outcome(payload)),
        Ok(Poll::Pending) => match timeout {
            Some(limit) if poll_timer(timer, limit, cx) => {
                Poll::Ready(ImplOutcome::Failed(HookFailure::TimedOut { limit }))
            }
            _ => Poll::Pending,
        },
    }
}

/// Arms a timeout of `limit` from now, reusing a spent timer's allocation when there is one.
pub(super) fn arm_timer(
    spare: &mut Option<Pin<Box<Sleep>>>,
    limit: Duration,
) -> Option<Pin<Box<Sleep>>> {
    let at = Instant::now().checked_add(limit)?;
    Some(match spare.take() {
        Some(mut t) => {
            t.as_mut().reset(at);
            t
        }
        None => Box::pin(tokio::time::sleep_until(at)),
    })
}

impl<'a, S: HookSpec> ImplRun<'a, S> {
    /// The run of an impl the async fast path started and that went pending.
    pub(crate) fn resume(
        entry: &'a ImplEntry<S>,
        args: &'a S::Args,
        index: u32,
        waiting: Waiting<'a, S::Output>,
        span: Span,
        deadline: Option<Instant>,
    ) -> Self {
        let Waiting { fut, timer, timed } = waiting;
        ImplRun {
            entry,
            args,
            index,
            attempts: 1,
            state: State::Async { fut, timer },
            permit: None,
            deadline,
            span,
            started: timed.map(|(t, _)| t),
            sample: timed.map_or(0, |(_, w)| w),
            finished: false,
            spent_timer: None,
        }
    }

    /// Starts the impl at `index` and polls it once in place: the general path, for impls the
    /// fast paths (`sync_fast_into`, `async_fast_into`) do not take — policies beyond a
    /// timeout, sampled statistics, an interested span subscriber, blocking impls. Applies the
    /// breaker and the retry budget, and times the impl for statistics and tracing.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        entry: &'a ImplEntry<S>,
        args: &'a S::Args,
        index: u32,
        span: Span,
        sample: u32,
        deadline: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Start<'a, S> {
        // Impls with a retry policy or a breaker are timed on every call.
        let always = entry.policy.as_ref().is_some_and(|p| !p.timeout_only());
        let sample = match &entry.stats {
            Some(_) if always => 1,
            Some(_) => sample,
            None => 0,
        };
        let started = (sample > 0 || !span.is_disabled()).then(std::time::Instant::now);
        let mut run = ImplRun {
            entry,
            args,
            index,
            attempts: 0,
            state: State::Idle,
            permit: None,
            deadline,
            span,
            started,
            sample,
            finished: false,
            spent_timer: None,
        };
        if let Some(policy) = &entry.policy {
            if let Some(breaker) = &policy.breaker {
                match breaker.acquire() {
                    Some(p) => run.permit = Some(p),
                    None => {
                        let outcome = ImplOutcome::CircuitOpen;
                        return Start::Done(run.finish(outcome));
                    }
                }
            }
            if let Some(budget) = &policy.budget {
                budget.deposit();
            }
        }
        if let Some(r) = run.begin_attempt() {
            if let Some(done) = run.settle(r) {
                return Start::Done(done);
            }
        }
        match run.poll_run(cx) {
            Poll::Ready(done) => Start::Done(done),
            Poll::Pending => Start::Pending(run),
        }
    }

    /// The spent timeout timer of this run, if it had one, for reuse by the next impl.
    pub(crate) fn take_spent_timer(&mut self) -> Option<Pin<Box<Sleep>>> {
        self.spent_timer.take()
    }

    /// How many attempts this impl has made so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// Calls the impl once more. A sync impl's result comes back at once.
    fn begin_attempt(&mut self) -> Option<ImplOutcome<S::Output>> {
        self.attempts += 1;
        let args = self.args;
        let _enter = self.span.enter();
        match &self.entry.func {
            ImplFn::Sync(h) => Some(match catch_unwind(AssertUnwindSafe(|| h.call(args))) {
                Ok(r) => return_outcome(r),
                Err(payload) => panic_outcome(payload),
            }),
            ImplFn::Async(h) => match catch_unwind(AssertUnwindSafe(|| h.call(args))) {
                Ok(fut) => {
                    self.state = State::Async { fut, timer: None };
                    None
                }
                Err(payload) => Some(panic_outcome(payload)),
            },
            // Spawning runs the user's `Clone` and needs a runtime: either may panic.
            ImplFn::Blocking(h) => match catch_unwind(AssertUnwindSafe(|| h.spawn(args))) {
                Ok((handle, token)) => {
                    self.state = State::Blocking {
                        handle,
                        timer: None,
                        cancel: token.map(CancellationToken::drop_guard),
                    };
                    None
                }
                Err(payload) => Some(panic_outcome(payload)),
            },
            ImplFn::Wrapper(_) => unreachable!("wrappers are run by exec::wrapper"),
        }
    }

    /// An attempt ended: retry it, or finish. Returns the entry when finished: a failure
    /// after more than one attempt becomes [`HookFailure::RetriesExhausted`] (recorded in
    /// the breaker, the statistics and the span as the last attempt's failure, as before).
    fn settle(&mut self, outcome: ImplOutcome<S::Output>) -> Option<Entry<S::Output>> {
        if let ImplOutcome::Failed(failure) = &outcome {
            if let Some(delay) = self.retry_delay(failure) {
                tracing::debug!(
                    parent: &self.span,
                    plugin = %self.entry.plugin,
                    attempt = self.attempts,
                    delay_ms = delay.as_millis() as u64,
                    error = %failure,
                    "retrying impl"
                );
                self.state = State::Backoff {
                    sleep: Box::pin(tokio::time::sleep(delay)),
                };
                return None;
            }
        }
        let mut done = self.finish(outcome);
        if self.attempts > 1 {
            if let ImplOutcome::Failed(last) = done.outcome {
                done.outcome = ImplOutcome::Failed(HookFailure::RetriesExhausted {
                    attempts: self.attempts,
                    last: Box::new(last),
                });
            }
        }
        Some(done)
    }

    /// The backoff before the next attempt, if `failure` is to be retried.
    fn retry_delay(&self, failure: &HookFailure) -> Option<Duration> {
        let policy = self.entry.policy.as_ref()?;
        let retry = policy.retry.as_ref()?;
        if self.attempts >= retry.max_attempts || !retry.is_retryable(failure) {
            return None;
        }
        let delay = retry.jittered_delay(self.attempts);
        if let Some(deadline) = self.deadline {
            // No retry that cannot finish in time.
            match Instant::now().checked_add(delay) {
                Some(at) if at < deadline => {}
                _ => return None,
            }
        }
        if let Some(budget) = &policy.budget {
            if !budget.withdraw() {
                tracing::debug!(plugin = %self.entry.plugin, "retry budget exhausted");
                return None;
            }
        }
        Some(delay)
    }

    /// Drops what the current attempt holds (its future, blocking handle or backoff sleep),
    /// with panics caught: the message of a panic in that drop. Keeps an async attempt's timer
    /// for reuse.
    fn close(&mut self) -> Option<String> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Idle => None,
            State::Async { fut, timer } => {
                if timer.is_some() {
                    self.spent_timer = timer;
                }
                let _enter = self.span.enter();
                drop_caught(fut)
            }
            other => drop_caught(other),
        }
    }

    /// Ends the run with an outcome the call loop imposes (cancelled, cut off by the
    /// deadline): drops the impl's future first, inside the isolation (a panic there becomes
    /// the outcome), then [`finish`](Self::finish)es.
    pub(crate) fn stop(&mut self, outcome: ImplOutcome<S::Output>) -> Entry<S::Output> {
        let dropped = self.close();
        let outcome = after_drop(outcome, dropped, &self.entry.plugin);
        self.finish(outcome)
    }

    /// Ends the run with `outcome` and records it in the breaker, the statistics and the span.
    fn finish(&mut self, outcome: ImplOutcome<S::Output>) -> Entry<S::Output> {
        self.finished = true;
        if let (Some(permit), Some(policy)) = (self.permit.take(), &self.entry.policy) {
            if let Some(b) = &policy.breaker {
                match outcome {
                    ImplOutcome::Value(_) | ImplOutcome::NoAnswer => b.record(permit, true),
                    ImplOutcome::Cancelled => b.release(permit),
                    _ => b.record(permit, false),
                }
            }
        }
        let kind = outcome.kind();
        let elapsed = self.started.map(|s| s.elapsed());
        if let Some(stats) = &self.entry.stats {
            stats.record(
                kind,
                self.attempts,
                outcome.failure().map(|f| f as &dyn std::fmt::Display),
            );
            if let (Some(d), true) = (elapsed, self.sample > 0) {
                stats.record_sample(d, self.sample);
            }
        }
        if let (Some(d), false) = (elapsed, self.span.is_disabled()) {
            self.span.record("outcome", tracing::field::display(kind));
            self.span.record("attempts", self.attempts);
            self.span.record("duration_us", d.as_micros() as u64);
        }
        Entry::new(self.index, self.attempts, outcome)
    }

    /// Drives the impl; `Ready` once it has a final outcome.
    pub(crate) fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Entry<S::Output>> {
        loop {
            let timeout = self.entry.policy.as_ref().and_then(|p| p.timeout);
            let outcome = match &mut self.state {
                State::Async { fut, timer } => {
                    let polled = {
                        let _enter = self.span.enter();
                        poll_async(fut, timer, timeout, cx)
                    };
                    match polled {
                        Poll::Ready(outcome) => outcome,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                State::Blocking {
                    handle,
                    timer,
                    cancel,
                } => match Pin::new(handle).poll(cx) {
                    Poll::Ready(r) => {
                        // It finished: its token stays uncancelled.
                        if let Some(guard) = cancel.take() {
                            let _ = guard.disarm();
                        }
                        match r {
                            Ok(r) => return_outcome(r),
                            Err(e) if e.is_panic() => ImplOutcome::Failed(HookFailure::Panic(
                                panic_message(e.into_panic()),
                            )),
                            Err(_) => ImplOutcome::Cancelled,
                        }
                    }
                    Poll::Pending => match timeout {
                        // The pool thread cannot be stopped; it finishes on its own (a
                        // cancellable impl sees its token cancelled when the state is dropped
                        // below).
                        Some(limit) if poll_timer(timer, limit, cx) => {
                            ImplOutcome::Failed(HookFailure::TimedOut { limit })
                        }
                        _ => return Poll::Pending,
                    },
                },
                State::Backoff { sleep } => {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.state = State::Idle;
                    match self.begin_attempt() {
                        Some(outcome) => outcome,
                        None => continue,
                    }
                }
                State::Idle => unreachable!("an idle run is never polled"),
            };
            // The attempt is over: its future is dropped now, inside the isolation.
            let dropped = self.close();
            let outcome = after_drop(outcome, dropped, &self.entry.plugin);
            if let Some(done) = self.settle(outcome) {
                return Poll::Ready(done);
            }
        }
    }
}

impl<S: HookSpec> Drop for ImplRun<'_, S> {
    fn drop(&mut self) {
        // Dropped before it finished (the call was dropped): counts as cancelled, and a
        // circuit-breaker probe gives its turn back. The impl's future is dropped inside the
        // isolation: a panic there is logged (no one is left to see an outcome) and counted
        // as the impl's panic, never unwound into the caller's drop.
        if let Some(msg) = self.close() {
            log_dropped_with_call(&self.entry.plugin, &msg);
            if !self.finished {
                let _ = self.finish(ImplOutcome::Failed(HookFailure::Panic(msg)));
            }
        }
        if !self.finished {
            let _ = self.finish(ImplOutcome::Cancelled);
        }
    }
}
