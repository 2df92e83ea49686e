//! The client timeout of every listener, one timer per connection instead
//! of one per request. Under TLS it wraps the TCP socket, so the handshake
//! is bounded the same way: nothing written for `timeout`, the connection
//! goes.
//!
//! hyper's `header_read_timeout` arms a fresh timer for every request head
//! it waits for: a boxed sleep inserted into and removed from the timer
//! wheel each time, which is several percent of the work of answering a
//! redirect or a pushed report. Both listeners answer at once, so "the
//! client sent a whole request head in time" is the same as "an answer was
//! written in time", which the connection's socket can tell by itself.
//!
//! [`Deadline`] wraps the socket: every write stamps the time, and a single
//! sleep, made the first time the socket would wait (a client whose
//! request is there at once never needs one) and re-armed only when it
//! fires, cuts the connection off once
//! `timeout` has passed since the last answer (or since the accept) — a
//! client dribbling a head that never completes, an idle keep-alive
//! connection, or one that stops reading its answers.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep, sleep_until};

/// A connection's socket that fails with [`io::ErrorKind::TimedOut`]
/// once it has written nothing for `timeout`.
pub(crate) struct Deadline<S> {
    stream: S,
    /// Boxed once per connection that waits: hyper wants an `Unpin`
    /// socket.
    timer: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
    last_write: Instant,
}

// === impl Deadline ===

impl<S> Deadline<S> {
    /// Wraps a just-accepted `stream`: its first answer is due `timeout`
    /// from now.
    pub(crate) fn new(stream: S, timeout: Duration) -> Self {
        Self {
            stream,
            timer: None,
            timeout,
            last_write: Instant::now(),
        }
    }

    /// The stream inside, for a layer above that takes something from it
    /// (TLS moves the stream's [`super::fresh::Fresh`] count above the
    /// handshake).
    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// `Ready` with an error once the connection is past its deadline;
    /// otherwise `Pending`, with the timer (re-)armed to wake the task.
    /// Called only when the socket itself is not ready, so a busy
    /// connection never looks at the clock here.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let due = self.last_write + self.timeout;
        let timer = self.timer.get_or_insert_with(|| Box::pin(sleep_until(due)));
        loop {
            ready!(timer.as_mut().poll(cx));
            let due = self.last_write + self.timeout;
            if due <= timer.deadline() {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "nothing was written to the client within the client timeout",
                ));
            }
            timer.as_mut().reset(due);
        }
    }

    /// Stamps a successful write: the client's next deadline counts from it.
    fn wrote<T>(
        &mut self,
        written: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match written {
            Poll::Ready(written) => {
                self.last_write = Instant::now();
                Poll::Ready(written)
            }
            Poll::Pending => self.poll_expired(cx).map(Err),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(read) = Pin::new(&mut this.stream).poll_read(cx, buf) {
            return Poll::Ready(read);
        }
        this.poll_expired(cx).map(Err)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(written, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(written, cx)
    }

    forward_write_tail!();
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, DuplexStream, duplex};
    use tokio::time::advance;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// The server side of a fresh connection, and its client.
    fn connection() -> (Deadline<DuplexStream>, DuplexStream) {
        let (server, client) = duplex(1024);
        (Deadline::new(server, TIMEOUT), client)
    }

    /// What one read of `server` gives now: `None` while it would wait.
    fn read_now(server: &mut Deadline<DuplexStream>) -> Option<io::Result<usize>> {
        let mut bytes = [0u8; 64];
        let mut buf = ReadBuf::new(&mut bytes);
        let waker = std::task::Waker::noop();
        match Pin::new(server).poll_read(&mut Context::from_waker(waker), &mut buf) {
            Poll::Ready(read) => Some(read.map(|()| buf.filled().len())),
            Poll::Pending => None,
        }
    }

    fn timed_out(read: Option<io::Result<usize>>) -> bool {
        matches!(read, Some(Err(err)) if err.kind() == io::ErrorKind::TimedOut)
    }

    /// Lets `left` pass and checks the connection is cut off exactly then,
    /// not a millisecond before.
    async fn cut_off_in(server: &mut Deadline<DuplexStream>, left: Duration) {
        advance(left - Duration::from_millis(1)).await;
        assert!(read_now(server).is_none(), "cut off early");
        advance(Duration::from_millis(1)).await;
        assert!(timed_out(read_now(server)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_sends_nothing_is_cut_off_at_the_timeout() {
        let (mut server, _client) = connection();
        assert!(read_now(&mut server).is_none());
        cut_off_in(&mut server, TIMEOUT).await;
    }

    #[tokio::test(start_paused = true)]
    async fn each_answer_gives_the_client_another_timeout() {
        let (mut server, mut client) = connection();
        assert!(read_now(&mut server).is_none());
        advance(Duration::from_secs(4)).await;
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        assert!(matches!(read_now(&mut server), Some(Ok(18))));
        let answer = b"HTTP/1.1 302 Found\r\n\r\n";
        server.write_all(answer).await.unwrap();
        let mut received = [0u8; 22];
        client.read_exact(&mut received).await.unwrap();
        assert_eq!(&received, answer);

        // The first deadline (10 s) passes: re-armed to 4 + 10 s.
        advance(TIMEOUT - Duration::from_secs(4)).await;
        assert!(read_now(&mut server).is_none(), "cut off after an answer");
        cut_off_in(&mut server, Duration::from_secs(4)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_dribbling_a_head_is_cut_off_all_the_same() {
        let (mut server, mut client) = connection();
        for _ in 0..9 {
            client.write_all(b"X").await.unwrap();
            assert!(matches!(read_now(&mut server), Some(Ok(1))));
            advance(Duration::from_secs(1)).await;
        }
        assert!(read_now(&mut server).is_none());
        advance(Duration::from_secs(1)).await;
        assert!(timed_out(read_now(&mut server)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_reads_no_answers_is_cut_off() {
        // Room for one byte: the second write waits on the client.
        let (server, _client) = duplex(1);
        let mut server = Deadline::new(server, TIMEOUT);
        server.write_all(b"H").await.unwrap();
        let mut write = poll_fn(|cx| Pin::new(&mut server).poll_write(cx, b"TTP/1.1"));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut write).poll(&mut cx).is_pending());
        advance(TIMEOUT).await;
        match Pin::new(&mut write).poll(&mut cx) {
            Poll::Ready(Err(err)) => assert_eq!(err.kind(), io::ErrorKind::TimedOut),
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
}
