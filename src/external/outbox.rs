//! The write side of a connection: whole messages, in order, with few thread hops and few
//! `write`s.
//!
//! No way of sending waits. [`Outbox::send`] (requests and notifications, which callers
//! make on any thread): when nothing is queued and the writer task is not writing, the sender
//! writes its message itself, at once (a non-blocking `poll_write`: a pipe takes a small
//! message whole), so a call costs no wake-up of the connection's task; what the stream does
//! not take now is queued whole. [`Outbox::defer_with`] then [`Outbox::flush`] (a request made
//! while others are in flight): the line is queued, its sender yields once so that the other
//! callers of the same turn queue theirs, and the first flush writes them all in one `write`.
//! [`Outbox::queue_with`] (answers, which the connection's own tasks make): always queued.
//! The writer task ([`Outbox::run`]) writes everything queued in one buffer, one `write` per
//! burst. A message is never split by a dropped future (no sender awaits), and order holds (a
//! sender writes itself only when nothing is queued before it and the task is not mid-write).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::task::noop_waker_ref;
use tokio::io::AsyncWrite;
use tokio::sync::Notify;

/// A write buffer grown above this (by large messages) is freed after its burst.
const KEPT_BYTES: usize = 1 << 20;

type Stream = Box<dyn AsyncWrite + Send + Unpin>;

/// Messages to the other side; shared by everything that sends on one connection.
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Wakes the writer task: bytes were queued, or the write side failed or closed.
    wake: Notify,
}

struct State {
    /// `None` once closed.
    io: Option<Stream>,
    /// Bytes waiting for the writer task, whole messages in order.
    queued: Vec<u8>,
    /// The writer task is writing bytes it took from `queued`: senders queue behind them.
    busy: bool,
    /// Bytes were written but their flush has not completed yet.
    unflushed: bool,
    /// A sender's own write failed; the writer task reports it.
    failed: Option<io::Error>,
}

impl Outbox {
    pub(crate) fn new(io: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        Outbox {
            state: Mutex::new(State {
                io: Some(Box::new(io)),
                queued: Vec::new(),
                busy: false,
                unflushed: false,
                failed: None,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock (a stream's `poll_write` panicking would be
        // a bug of the stream); a poisoned state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends `line`, a whole message: written now when the writer is idle and the stream takes
    /// it, else queued for the writer task. Never waits; does nothing once closed.
    pub(crate) fn send(&self, line: &[u8]) {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(io) = state.io.as_mut() else {
            return;
        };
        if state.failed.is_some() {
            return;
        }
        if state.busy || !state.queued.is_empty() {
            state.queued.extend_from_slice(line);
        } else {
            // A no-op waker: if the stream is not ready, the writer task polls it again with
            // its own waker before it waits, so nothing is lost.
            let mut cx = Context::from_waker(noop_waker_ref());
            match Pin::new(&mut *io).poll_write(&mut cx, line) {
                Poll::Ready(Ok(n)) if n == line.len() => {
                    match Pin::new(&mut *io).poll_flush(&mut cx) {
                        Poll::Ready(Ok(())) => return,
                        Poll::Ready(Err(e)) => state.failed = Some(e),
                        Poll::Pending => state.unflushed = true,
                    }
                }
                Poll::Ready(Ok(n)) => state.queued.extend_from_slice(&line[n..]),
                Poll::Pending => state.queued.extend_from_slice(line),
                Poll::Ready(Err(e)) => state.failed = Some(e),
            }
        }
        self.wake.notify_one();
    }

    /// Queues a whole message, which `write` appends to the queue (no buffer of its own),
    /// without waking the writer task: the sender owes a [`flush`](Self::flush), after giving
    /// other senders the chance to queue theirs.
    pub(crate) fn defer_with(&self, write: impl FnOnce(&mut Vec<u8>)) {
        let mut state = self.lock();
        if state.io.is_some() && state.failed.is_none() {
            write(&mut state.queued);
        }
    }

    /// Writes what is queued now, in one non-blocking `write`, unless the writer task is
    /// writing (it takes the queue next). What the stream does not take now is left to the
    /// writer task.
    pub(crate) fn flush(&self) {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(io) = state.io.as_mut() else {
            return;
        };
        if state.busy || state.queued.is_empty() || state.failed.is_some() {
            return;
        }
        let mut cx = Context::from_waker(noop_waker_ref());
        match Pin::new(&mut *io).poll_write(&mut cx, &state.queued) {
            Poll::Ready(Ok(n)) if n == state.queued.len() => {
                state.queued.clear();
                match Pin::new(&mut *io).poll_flush(&mut cx) {
                    Poll::Ready(Ok(())) => return,
                    Poll::Ready(Err(e)) => state.failed = Some(e),
                    Poll::Pending => state.unflushed = true,
                }
            }
            Poll::Ready(Ok(n)) => {
                state.queued.drain(..n);
            }
            Poll::Pending => {}
            Poll::Ready(Err(e)) => state.failed = Some(e),
        }
        self.wake.notify_one();
    }

    /// Queues a whole message, which `write` appends to the queue, for the writer task, which
    /// writes everything queued when it next runs in one `write`. For messages made on the
    /// connection's own runtime (answers to the other side's requests): the task runs right
    /// after them, so several answers go out together and no thread is woken for them.
    pub(crate) fn queue_with(&self, write: impl FnOnce(&mut Vec<u8>)) {
        {
            let mut state = self.lock();
            if state.io.is_none() || state.failed.is_some() {
                return;
            }
            write(&mut state.queued);
        }
        self.wake.notify_one();
    }

    /// Ends the write side: drops the stream (the other side sees end of input once every
    /// copy of its handle is closed) and stops the writer task. Queued bytes are dropped.
    pub(crate) fn close(&self) {
        let io = {
            let mut state = self.lock();
            state.queued = Vec::new();
            state.io.take()
        };
        drop(io);
        self.wake.notify_one();
    }

    /// The writer task: writes what senders queued, one buffer per burst, until the outbox
    /// is closed (`Ok`) or a write fails (`Err`).
    ///
    /// # Cancel safety
    /// Not cancel safe: a burst may be cut short. It runs on the connection's own task, which
    /// only ends with the connection.
    pub(crate) async fn run(&self) -> io::Result<()> {
        let mut burst = Vec::new();
        loop {
            self.wake.notified().await;
            loop {
                {
                    let mut state = self.lock();
                    if let Some(e) = state.failed.take() {
                        return Err(e);
                    }
                    if state.io.is_none() {
                        return Ok(());
                    }
                    if state.queued.is_empty() && !state.unflushed {
                        state.busy = false;
                        break;
                    }
                    state.busy = true;
                    std::mem::swap(&mut burst, &mut state.queued);
                }
                let mut at = 0;
                while at < burst.len() {
                    let n =
                        poll_fn(|cx| self.poll_io(cx, |io, cx| io.poll_write(cx, &burst[at..])))
                            .await?;
                    if n == 0 {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    at += n;
                }
                poll_fn(|cx| self.poll_io(cx, |io, cx| io.poll_flush(cx))).await?;
                self.lock().unflushed = false;
                burst.clear();
                if burst.capacity() > KEPT_BYTES {
                    burst = Vec::new();
                }
            }
        }
    }

    fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(Pin<&mut Stream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match self.lock().io.as_mut() {
            Some(io) => f(Pin::new(io), cx),
            None => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the connection was closed",
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn an_idle_outbox_writes_at_once_without_its_task() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let out = Outbox::new(ours);
        out.send(b"one\n");
        out.send(b"two\n");
        // `run` was never polled: the senders wrote themselves.
        let mut got = [0u8; 8];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one\ntwo\n");
    }

    #[tokio::test]
    async fn messages_the_stream_cannot_take_now_are_queued_whole_and_in_order() {
        // A stream that takes 16 bytes at a time: most messages wait for the writer task.
        let (ours, mut theirs) = tokio::io::duplex(16);
        let out = std::sync::Arc::new(Outbox::new(ours));
        let mut expected = Vec::new();
        for i in 0..200 {
            let line = format!("message {i:03}\n");
            out.send(line.as_bytes());
            expected.extend_from_slice(line.as_bytes());
        }
        let writer = tokio::spawn({
            let out = out.clone();
            async move { out.run().await }
        });
        let mut got = vec![0u8; expected.len()];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(expected).unwrap()
        );
        // Sent while the task waits: written at once again.
        out.send(b"later\n");
        let mut later = [0u8; 6];
        theirs.read_exact(&mut later).await.unwrap();
        assert_eq!(&later, b"later\n");
        out.close();
        writer.await.unwrap().unwrap();
        // Closed: the stream is dropped, the other side reads the end of input.
        assert_eq!(theirs.read(&mut later).await.unwrap(), 0);
        out.send(b"dropped\n");
    }

    #[tokio::test]
    async fn queued_answers_wait_for_the_writer_task_and_later_sends_stay_behind_them() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let out = std::sync::Arc::new(Outbox::new(ours));
        out.queue_with(|q| q.extend_from_slice(b"answer 1\n"));
        out.queue_with(|q| q.extend_from_slice(b"answer 2\n"));
        out.send(b"request\n");
        let mut buf = [0u8; 64];
        let nothing_yet =
            tokio::time::timeout(std::time::Duration::from_millis(20), theirs.read(&mut buf));
        assert!(nothing_yet.await.is_err(), "written before the task ran");
        let writer = tokio::spawn({
            let out = out.clone();
            async move { out.run().await }
        });
        let mut got = [0u8; 26];
        theirs.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"answer 1\nanswer 2\nrequest\n");
        out.close();
        writer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn deferred_lines_go_out_together_at_the_first_flush() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let out = Outbox::new(ours);
        out.defer_with(|q| q.extend_from_slice(b"one\n"));
        out.defer_with(|q| q.extend_from_slice(b"two\n"));
        let mut buf = [0u8; 8];
        let nothing_yet =
            tokio::time::timeout(std::time::Duration::from_millis(20), theirs.read(&mut buf));
        assert!(nothing_yet.await.is_err(), "written before the flush");
        out.flush();
        out.flush(); // the second one has nothing left to write
        theirs.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"one\ntwo\n");
        // A deferred line is never overtaken: a send behind it queues too.
        out.defer_with(|q| q.extend_from_slice(b"three\n"));
        out.send(b"four\n");
        out.flush();
        let mut rest = [0u8; 11];
        theirs.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"three\nfour\n");
    }

    #[tokio::test]
    async fn a_failed_write_ends_the_writer_task_with_its_error() {
        let (ours, theirs) = tokio::io::duplex(16);
        drop(theirs);
        let out = Outbox::new(ours);
        out.send(b"nobody reads this\n");
        let err = out.run().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
    }
}
