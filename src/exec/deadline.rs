//! The deadline of the call whose impls are being polled, visible to the impls.
//!
//! A call with a deadline sets it in a thread-local while its impls (and wrappers) are
//! polled, restoring the previous one after each poll; nested calls see the earlier of their
//! own deadline and the ones around them. An impl that passes its time on (a process plugin's
//! `hook/call` carries it as `deadline_ms`) reads it with [`call_deadline`]. A call without a
//! deadline costs one branch.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::time::Instant;

thread_local! {
    static CALL_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// When the hook call running the current impl gives up on it: its
/// [deadline](crate::HookCaller::deadline) (or its spec's default one), the earliest of the
/// calls it is nested in; `None` outside an impl or when no call around it has a deadline.
///
/// Read it while the impl runs (in a sync impl, an async impl's body between its `.await`s,
/// or a blocking impl on its pool thread, which gets the deadline its call had when it
/// started the impl): it is set only while the call polls its impls, so not in a task the
/// impl spawns. An impl's own [`timeout`](crate::hook::ImplBuilder::timeout) is not
/// included.
///
/// ```
/// # futures::executor::block_on(async {
/// use std::time::Duration;
/// use hookwire::{hook::call_deadline, HookManager};
/// hookwire::hookspec! { pub struct Budget(()) -> bool; }
///
/// let pm = HookManager::new();
/// pm.register("probe", |r| r.sync_fn::<Budget>(|_| Ok(Some(call_deadline().is_some()))).add())
///     .unwrap();
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # rt.block_on(async {
/// let limited = pm.hook::<Budget>().deadline(Duration::from_secs(1)).call(&()).await?;
/// assert_eq!(limited.into_values(), [true]);
/// let unlimited = pm.hook::<Budget>().call(&()).await?;
/// assert_eq!(unlimited.into_values(), [false]);
/// # Ok::<(), hookwire::CallError>(())
/// # })
/// # }).unwrap();
/// ```
pub fn call_deadline() -> Option<Instant> {
    CALL_DEADLINE.with(Cell::get)
}

/// Sets the call's deadline (the earlier of it and the one around) until dropped.
pub(crate) struct DeadlineScope(Option<Option<Instant>>);

impl DeadlineScope {
    #[inline]
    pub(crate) fn enter(at: Option<Instant>) -> Self {
        match at {
            None => DeadlineScope(None),
            Some(at) => DeadlineScope(Some(CALL_DEADLINE.with(|c| {
                let around = c.get();
                c.set(Some(around.map_or(at, |a| a.min(at))));
                around
            }))),
        }
    }
}

impl Drop for DeadlineScope {
    #[inline]
    fn drop(&mut self) {
        if let Some(around) = self.0 {
            CALL_DEADLINE.with(|c| c.set(around));
        }
    }
}

/// `f`, to run on a blocking pool thread, with the deadline of the call that starts it (read
/// now, in the call's poll).
pub(crate) fn carried<R>(f: impl FnOnce() -> R) -> impl FnOnce() -> R {
    let at = call_deadline();
    move || {
        let _scope = DeadlineScope::enter(at);
        f()
    }
}

pin_project_lite::pin_project! {
    /// `fut` polled with the deadline `at` set.
    pub(crate) struct WithDeadline<F> {
        at: Instant,
        #[pin]
        fut: F,
    }
}

impl<F> WithDeadline<F> {
    pub(crate) fn new(at: Instant, fut: F) -> Self {
        WithDeadline { at, fut }
    }
}

impl<F: Future> Future for WithDeadline<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _scope = DeadlineScope::enter(Some(*this.at));
        this.fut.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn scopes_nest_keeping_the_earliest_and_restore_on_drop() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let now = Instant::now();
            let (near, far) = (
                now + Duration::from_millis(10),
                now + Duration::from_secs(1),
            );
            assert_eq!(call_deadline(), None);
            {
                let _outer = DeadlineScope::enter(Some(near));
                {
                    let _inner = DeadlineScope::enter(Some(far));
                    assert_eq!(call_deadline(), Some(near));
                    let _none = DeadlineScope::enter(None);
                    assert_eq!(call_deadline(), Some(near));
                }
                assert_eq!(call_deadline(), Some(near));
            }
            assert_eq!(call_deadline(), None);
            let _outer = DeadlineScope::enter(Some(far));
            {
                let _inner = DeadlineScope::enter(Some(near));
                assert_eq!(call_deadline(), Some(near));
            }
            assert_eq!(call_deadline(), Some(far));
        });
    }
}
