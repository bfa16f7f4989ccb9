//! The sequential call loop: one hand-written future that drives every plain impl in turn.
//!
//! For each impl it creates the impl's future and polls it in place inside
//! `std::panic::catch_unwind`; only an impl that goes pending is kept. Sync impls are called
//! directly (no future at all). The only allocation of the loop is the result vector.

use std::future::Future;
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use tracing::Span;

use super::panic::{panic_outcome, return_outcome};
use super::snapshot::ImplList;
use super::CallPlan;
use crate::hookimpl::{HookReturn, ImplFn};
use crate::outcome::ImplOutcome;
use crate::spec::HookSpec;

/// Results of a call: `(index into the snapshot, outcome)` in call order.
pub(crate) type Results<T> = Vec<(u32, ImplOutcome<T>)>;

struct PendingImpl<'a, T> {
    index: u32,
    fut: BoxFuture<'a, HookReturn<T>>,
    span: Span,
    started: Option<Instant>,
}

/// Runs the plain (non-wrapper) impls of a snapshot one after the other.
pub(crate) struct SeqLoop<'a, S: HookSpec> {
    list: &'a ImplList<S>,
    args: &'a S::Args,
    plan: CallPlan<'a>,
    next: usize,
    pending: Option<PendingImpl<'a, S::Output>>,
    results: Results<S::Output>,
}

impl<'a, S: HookSpec> SeqLoop<'a, S> {
    pub(crate) fn new(list: &'a ImplList<S>, args: &'a S::Args, plan: CallPlan<'a>) -> Self {
        let n = list.entries.len() - list.n_wrappers;
        let cap = if plan.firstresult { n.min(1) } else { n };
        SeqLoop {
            list,
            args,
            plan,
            next: list.n_wrappers,
            pending: None,
            results: Vec::with_capacity(cap),
        }
    }

    /// Records an outcome; returns `true` when the call must stop here.
    #[inline]
    fn record(
        &mut self,
        index: u32,
        outcome: ImplOutcome<S::Output>,
        span: &Span,
        started: Option<Instant>,
    ) -> bool {
        if let Some(started) = started {
            span.record("outcome", tracing::field::display(outcome.kind()));
            span.record("duration_us", started.elapsed().as_micros() as u64);
        }
        let stop = match &outcome {
            ImplOutcome::Value(_) => self.plan.firstresult,
            ImplOutcome::Failed(_) => self.plan.fail_fast,
            ImplOutcome::NoAnswer => false,
        };
        self.results.push((index, outcome));
        stop
    }
}

fn impl_span(hook: &str, plugin: &str) -> (Span, Option<Instant>) {
    let span = tracing::trace_span!(
        "hook_impl",
        hook,
        plugin,
        outcome = tracing::field::Empty,
        duration_us = tracing::field::Empty
    );
    let started = if span.is_disabled() {
        None
    } else {
        Some(Instant::now())
    };
    (span, started)
}

// Nothing in the loop is structurally pinned: the impl future it keeps is boxed.
impl<S: HookSpec> Unpin for SeqLoop<'_, S> {}

impl<'a, S: HookSpec> Future for SeqLoop<'a, S> {
    type Output = Results<S::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let list: &'a ImplList<S> = this.list;
        let args: &'a S::Args = this.args;
        loop {
            if let Some(p) = this.pending.as_mut() {
                let polled = {
                    let _enter = p.span.enter();
                    catch_unwind(AssertUnwindSafe(|| p.fut.as_mut().poll(cx)))
                };
                let outcome = match polled {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(r)) => return_outcome(r),
                    Err(payload) => panic_outcome(payload),
                };
                let Some(p) = this.pending.take() else {
                    unreachable!("pending impl vanished")
                };
                if this.record(p.index, outcome, &p.span, p.started) {
                    return Poll::Ready(mem::take(&mut this.results));
                }
            }
            // Start the next impl that this call does not exclude.
            let index = loop {
                let Some(entry) = list.entries.get(this.next) else {
                    return Poll::Ready(mem::take(&mut this.results));
                };
                this.next += 1;
                if this.plan.includes(&entry.plugin) {
                    break this.next - 1;
                }
            };
            let entry = &list.entries[index];
            let (span, started) = impl_span(&list.spec.name, &entry.plugin);
            let index = index as u32;
            match &entry.func {
                ImplFn::Sync(h) => {
                    let r = {
                        let _enter = span.enter();
                        catch_unwind(AssertUnwindSafe(|| h.call(args)))
                    };
                    let outcome = match r {
                        Ok(r) => return_outcome(r),
                        Err(payload) => panic_outcome(payload),
                    };
                    if this.record(index, outcome, &span, started) {
                        return Poll::Ready(mem::take(&mut this.results));
                    }
                }
                ImplFn::Async(h) => {
                    let created = {
                        let _enter = span.enter();
                        catch_unwind(AssertUnwindSafe(|| h.call(args)))
                    };
                    match created {
                        // Polled in place at the top of the loop.
                        Ok(fut) => {
                            this.pending = Some(PendingImpl {
                                index,
                                fut,
                                span,
                                started,
                            })
                        }
                        Err(payload) => {
                            if this.record(index, panic_outcome(payload), &span, started) {
                                return Poll::Ready(mem::take(&mut this.results));
                            }
                        }
                    }
                }
                ImplFn::Wrapper(_) => unreachable!("wrappers are placed before plain impls"),
            }
        }
    }
}
