//! The dispatcher's two listeners: the public one that redirects every
//! request, and the control one for operators and agents.

/// The end of an `AsyncWrite` impl for a stream wrapper whose inner stream
/// is its `stream` field: the wrappers (`Deadline`, `TargetLimit`,
/// `Fresh`) differ in how they write, never in how they flush or shut down.
macro_rules! forward_write_tail {
    () => {
        fn is_write_vectored(&self) -> bool {
            self.stream.is_write_vectored()
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
        }
    };
}

pub mod control;
mod dashboard;
mod deadline;
mod error;
mod fresh;
mod page;
mod plain;
pub mod redirect;
mod refused;
mod target;
pub mod ticket;
pub mod tls;

pub use error::ApiError;

use std::fmt::Display;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::header::CONNECTION;
use http::{HeaderValue, Response, Version};
use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::fresh::Fresh;

/// How long a listener pauses after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How long, once a listener has stopped accepting, its connections that
/// have sent nothing yet are waited for before every connection is told
/// to finish. A client writes its request as soon as its connect
/// completes, so the wait is a round trip (two more for a TLS handshake)
/// plus the scheduling delay of a loaded machine; one second covers that
/// with room to spare, while a connection that never speaks (a browser's
/// speculative preconnect, a slowloris) holds the exit up by no more. The
/// client timeout cuts a silent connection off anyway, when shorter.
const FIRST_BYTES_GRACE: Duration = Duration::from_secs(1);

/// One listener's graceful shutdown: it accepts until `shutdown`, then
/// takes what is already in its accept queue (closing a listener resets
/// every connection still queued), and lets the connections that have not
/// sent their first bytes yet send them before telling them all to
/// finish (hyper would close those as idle; RELIABILITY.md, finding 6).
pub(crate) struct Closing {
    shutdown: CancellationToken,
    /// Holds a token for every connection that has read nothing yet.
    unread: TaskTracker,
    /// What the listener's connections watch: cancelled by
    /// [`Closing::settle`].
    finish: CancellationToken,
}

// === impl Closing ===

impl Closing {
    /// A listener that accepts until `shutdown`.
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        Self {
            shutdown,
            unread: TaskTracker::new(),
            finish: CancellationToken::new(),
        }
    }

    /// The signal the listener's connections finish on: it fires once the
    /// listener is closed and its fresh connections have spoken (or the
    /// grace ran out), never while they may still be writing a request.
    pub(crate) fn finish(&self) -> CancellationToken {
        self.finish.clone()
    }

    /// The next connection on `listener` (named `name` in logs), counted
    /// fresh until it is first read from; `None` once `shutdown` has fired
    /// and the accept queue is empty. A failed accept — typically EMFILE —
    /// is logged and backed off from, so a full file table never becomes a
    /// busy loop.
    pub(crate) async fn accept(
        &self,
        listener: &TcpListener,
        name: &'static str,
    ) -> Option<(Fresh<TcpStream>, SocketAddr)> {
        let (stream, peer) = loop {
            // A waiting connection is taken before the shutdown is watched:
            // arming that watch (a waiter list under a lock) is wasted work
            // whenever a connection is already waiting, as under load.
            if self.shutdown.is_cancelled() {
                break queued(listener, name)?;
            }
            tokio::select! {
                biased;
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => break accepted,
                    Err(err) => {
                        tracing::warn!(listener = name, error = %err, "accept failed");
                        sleep(ACCEPT_BACKOFF).await;
                    }
                },
                () = self.shutdown.cancelled() => {}
            }
        };
        Some((Fresh::new(stream, Some(self.unread.token())), peer))
    }

    /// Once the listener is closed: waits, at most [`FIRST_BYTES_GRACE`],
    /// for every connection it accepted to have sent something, then tells
    /// them all to finish.
    pub(crate) async fn settle(&self) {
        self.unread.close();
        if !self.unread.is_empty() {
            tracing::debug!(
                connections = self.unread.len(),
                "waiting for connections to send their first request"
            );
            let _ = tokio::time::timeout(FIRST_BYTES_GRACE, self.unread.wait()).await;
        }
        self.finish.cancel();
    }
}

/// A connection already in `listener`'s accept queue, or `None` when it is
/// empty. accept(2) itself rather than tokio's: its readiness is only as
/// fresh as the reactor's last look, and a connection it has not seen yet
/// would be reset when the listener closes.
fn queued(listener: &TcpListener, name: &'static str) -> Option<(TcpStream, SocketAddr)> {
    let taken = SockRef::from(listener).accept().and_then(|(socket, peer)| {
        socket.set_nonblocking(true)?;
        let peer = peer.as_socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a TCP peer without an IP address",
            )
        })?;
        Ok((TcpStream::from_std(socket.into())?, peer))
    });
    match taken {
        Ok(accepted) => Some(accepted),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => None,
        Err(err) => {
            tracing::warn!(listener = name, error = %err, "accept failed while closing");
            None
        }
    }
}

/// Makes `response` the last on its HTTP/1 connection
/// (`--max-requests-per-connection`, on either listener): hyper closes the
/// connection once it is written. HTTP/2 (`version`) has no such header;
/// its connections are not capped.
pub(crate) fn last_answer<B>(version: Version, response: &mut Response<B>) {
    if version <= Version::HTTP_11 {
        (response.headers_mut()).insert(CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Runs one accepted connection of listener `name` to its end on its own
/// task; how it ended matters only when debugging a client.
pub(crate) fn spawn_connection<F, E>(connection: F, peer: SocketAddr, name: &'static str)
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Display,
{
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(listener = name, %peer, error = %err, "connection ended with an error");
        }
    });
}

/// Checks one case of a table of inputs that must load (`want` empty) or
/// be refused with an error holding every substring of `want`: the TLS
/// certificate and ticket-key tests share it.
#[cfg(test)]
fn assert_loads_or_refuses<T, E: std::fmt::Display>(
    case: usize,
    result: Result<T, E>,
    want: &[&str],
) {
    match (result, want.is_empty()) {
        (Ok(_), true) => {}
        (Ok(_), false) => panic!("case {case}: loaded, expected {want:?}"),
        (Err(err), _) => {
            let message = err.to_string();
            assert!(
                !want.is_empty() && want.iter().all(|w| message.contains(w)),
                "case {case}: {message:?} lacks {want:?}"
            );
        }
    }
}
