//! A connection that has not sent its first bytes yet, counted so that a
//! shutdown can wait for it.
//!
//! hyper's graceful shutdown closes a connection it has read nothing from
//! as idle: right for a keep-alive connection between requests, wrong for
//! one whose client has just connected and is writing its first request
//! (RELIABILITY.md, finding 6). [`Fresh`] holds a token of its listener's
//! [`TaskTracker`](tokio_util::task::TaskTracker) until the first read through it completes, so the
//! listener's [`super::Closing`] knows which connections are still to
//! speak. Under TLS the token is moved above the handshake
//! ([`Fresh::take_unread`]): what counts is the first decrypted byte.

use std::io;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::task::task_tracker::TaskTrackerToken;

/// `stream`, counted as fresh until its first read completes.
pub(crate) struct Fresh<S> {
    stream: S,
    /// Held until the first read; `None` since, or when not counted.
    unread: Option<TaskTrackerToken>,
}

// === impl Fresh ===

impl<S> Fresh<S> {
    /// `stream`, counted by `unread` (if any) until its first read.
    pub(crate) fn new(stream: S, unread: Option<TaskTrackerToken>) -> Self {
        Self { stream, unread }
    }

    /// Stops counting this stream and hands its token over, for a layer
    /// above (TLS) whose first read is the one that matters.
    pub(crate) fn take_unread(&mut self) -> Option<TaskTrackerToken> {
        self.unread.take()
    }
}

/// Socket options (`set_nodelay`) of the stream inside.
impl<S> Deref for Fresh<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.stream
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Fresh<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        // Bytes, end of file or an error: either way the connection is no
        // longer waiting for its client to start.
        if read.is_ready() {
            this.unread = None;
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Fresh<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    forward_write_tail!();
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, duplex};
    use tokio_util::task::TaskTracker;

    use super::*;

    #[tokio::test]
    async fn a_stream_is_fresh_until_its_first_read_and_a_handed_over_token_stays() {
        let fresh = TaskTracker::new();
        let (server, mut client) = duplex(64);
        let mut server = Fresh::new(server, Some(fresh.token()));
        let (other, _other_client) = duplex(64);
        let mut other = Fresh::new(other, Some(fresh.token()));
        assert_eq!(fresh.len(), 2);

        let handed_over = other.take_unread();
        assert_eq!(fresh.len(), 2, "a token handed over still counts");
        client.write_all(b"GET").await.unwrap();
        let mut bytes = [0u8; 8];
        assert_eq!(server.read(&mut bytes).await.unwrap(), 3);
        assert_eq!(fresh.len(), 1, "the first read ends the count");
        drop(handed_over);
        assert_eq!(fresh.len(), 0);
    }
}
