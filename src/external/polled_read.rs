//! Bounded adaptive polling of a pipe's read side, while traffic flows.
//!
//! A connection's reader that finds its pipe empty normally waits for the runtime's epoll to
//! report it readable. On an idle machine that wait costs a wake-up of a sleeping core (tens
//! of µs on a VM) for every burst of messages. [`PolledRead`] instead, right after it has
//! read data, keeps trying the pipe with plain non-blocking `read`s for at most
//! [`POLL_WINDOW`], yielding to the runtime between attempts (its task wakes itself, so the
//! other tasks of the worker run; no thread ever blocks); only when the window passes with
//! nothing read does it wait on readiness as before. The window restarts with each read that
//! returns data, so it runs once per pause in the traffic: an idle connection does not poll
//! (it costs no CPU), a busy one rarely parks.
//!
//! The attempts read a duplicate of the pipe's file descriptor (the same open pipe, already
//! non-blocking): tokio's own `try_read` would not try while its cached readiness says
//! "not readable", which only the I/O driver updates, and the driver is not polled while the
//! worker has tasks to run.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};

/// How long a reader keeps trying its pipe after its last data before it waits on readiness.
///
/// Long enough to cover a round trip to a plugin answering at once on an idle core (a few µs
/// to ~20 µs), short enough that the pause after the last message of a burst costs little CPU.
pub(crate) const POLL_WINDOW: Duration = Duration::from_micros(200);

/// Two attempts this far apart mean the thread was descheduled while it polled: the machine's
/// cores are wanted by other threads, and polling would only spend this process's share of
/// them. The reader then waits on readiness for [`BACKOFF`] before it polls again.
const DESCHEDULED: Duration = Duration::from_micros(500);

/// How long a reader that found the machine busy (see [`DESCHEDULED`]) does not poll.
const BACKOFF: Duration = Duration::from_millis(100);

/// An [`AsyncRead`] over a pipe that polls it for a bounded window after data (see the module
/// docs).
pub(crate) struct PolledRead<R> {
    inner: R,
    /// The same pipe, for the non-blocking attempts; `None` when it could not be duplicated
    /// (then this is `inner` alone).
    raw: Option<std::fs::File>,
    /// Data came since the last window ran out: the next empty read starts a window.
    armed: bool,
    /// The end of the window being polled.
    until: Option<Instant>,
    /// The last empty attempt of this window.
    last: Option<Instant>,
    /// No polling before this: the thread was descheduled while it polled.
    backoff: Option<Instant>,
}

impl<R> PolledRead<R> {
    /// Polls `inner`'s pipe. On Unix `inner`'s descriptor is duplicated; elsewhere (or when
    /// that fails) this reads `inner` alone.
    pub(crate) fn new(inner: R) -> Self
    where
        R: std::os::fd::AsFd,
    {
        let raw = inner
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .map_err(|e| {
                tracing::debug!(target: "hookwire::external", error = %e, "no polling of the pipe: its descriptor could not be duplicated");
            })
            .ok();
        PolledRead {
            inner,
            raw,
            armed: false,
            until: None,
            last: None,
            backoff: None,
        }
    }

    /// Data was read: the next pause starts a new window.
    fn arm(&mut self) {
        self.until = None;
        self.last = None;
        self.armed = match self.backoff {
            Some(end) if Instant::now() < end => false,
            _ => {
                self.backoff = None;
                true
            }
        };
    }

    /// The window ends: wait on readiness until the next data.
    fn disarm(&mut self) {
        self.armed = false;
        self.until = None;
        self.last = None;
    }

    /// One non-blocking attempt, while a window is open: `None` when the window is over (or
    /// there is no window), and the caller waits on readiness.
    fn attempt(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Option<io::Result<()>> {
        let raw = self.raw.as_ref().filter(|_| self.armed)?;
        match (&*raw).read(buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                if n > 0 {
                    self.arm();
                }
                Some(Ok(()))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let now = Instant::now();
                if self.last.is_some_and(|last| now - last > DESCHEDULED) {
                    tracing::trace!(target: "hookwire::external", "descheduled while polling the pipe: no polling for {BACKOFF:?}");
                    self.backoff = Some(now + BACKOFF);
                    self.disarm();
                    return None;
                }
                let until = *self.until.get_or_insert(now + POLL_WINDOW);
                if now >= until {
                    self.disarm();
                    return None;
                }
                self.last = Some(now);
                // Try again on the task's next turn, after the worker's other tasks.
                cx.waker().wake_by_ref();
                Some(Err(e))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                cx.waker().wake_by_ref();
                Some(Err(e))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for PolledRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.attempt(cx, buf) {
            Some(Err(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Poll::Pending
            }
            Some(done) => return Poll::Ready(done),
            None => {}
        }
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.arm();
        }
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::AsyncReadExt;

    fn pipe() -> (tokio::net::unix::pipe::Receiver, std::fs::File) {
        let (tx, rx) = tokio::net::unix::pipe::pipe().unwrap();
        let tx = std::fs::File::from(tx.into_blocking_fd().unwrap());
        (rx, tx)
    }

    #[tokio::test]
    async fn data_written_while_polling_is_read_without_readiness() {
        let (rx, mut tx) = pipe();
        let mut r = PolledRead::new(rx);
        tx.write_all(b"one\n").unwrap();
        let mut buf = [0u8; 16];
        let n = r.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one\n");
        assert!(r.armed, "data arms the window");
        // Written from another thread while the reader polls: read by an attempt.
        let writer = std::thread::spawn(move || {
            tx.write_all(b"two\n").unwrap();
            tx
        });
        let n = r.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two\n");
        let tx = writer.join().unwrap();
        drop(tx);
        assert_eq!(r.read(&mut buf).await.unwrap(), 0, "end of input");
    }

    #[tokio::test]
    async fn an_idle_reader_stops_polling_after_the_window_and_still_wakes_on_data() {
        let (rx, mut tx) = pipe();
        let mut r = PolledRead::new(rx);
        tx.write_all(b"a").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).await.unwrap(), 1);
        let started = Instant::now();
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.write_all(b"b").unwrap();
            tx
        });
        // Count the reader's polls while nothing comes: a window's worth, not 20 ms' worth.
        let mut polls = 0u32;
        let n = std::future::poll_fn(|cx| {
            polls += 1;
            let mut rb = ReadBuf::new(&mut buf);
            match Pin::new(&mut r).poll_read(cx, &mut rb) {
                Poll::Ready(res) => Poll::Ready(res.map(|()| rb.filled().len())),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
        .unwrap();
        assert_eq!((n, buf[0]), (1, b'b'));
        assert!(started.elapsed() >= Duration::from_millis(20));
        // Each attempt is a `read` syscall: polling all 20 ms would be thousands of polls.
        assert!(polls < 1_000, "{polls} polls while idle");
        drop(late.await.unwrap());
    }
}
