//! One plain connection of the public listener, as cheap to set up as a
//! one-request connection needs.
//!
//! Most clients of a redirector connect, ask once and leave. The profile of
//! such connections (`bench/redirect.sh`, `Connection: close`) showed the
//! per-connection machinery around hyper as much as the redirect itself:
//! a task spawned for every connection, and hyper-util's graceful-shutdown
//! watch, which registers a waiter (a list under a lock) and a receiver on
//! every connection before it is first polled. Here:
//!
//! - the connection is polled once on the accept loop's task; a client
//!   whose request was already there is answered and gone without a task
//!   of its own, and only a connection that has to wait is spawned;
//! - the shutdown is watched only by connections that wait, and the
//!   listener waits for them through a [`TaskTracker`] (a counter).

use std::fmt::Display;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::server::graceful::GracefulConnection;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// The plain connections of a listener still open, and the signal that
/// tells them to finish.
pub(crate) struct Connections {
    /// Shared by `Arc`: cloning a token takes a lock, an `Arc` does not.
    shutdown: Arc<CancellationToken>,
    open: TaskTracker,
}

/// A connection that finishes its request in flight and closes once the
/// listener shuts down.
struct Graceful<C> {
    conn: C,
    shutdown: Arc<CancellationToken>,
    /// Armed the first time the connection waits.
    watch: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    /// Whether the connection was told to finish.
    finishing: bool,
}

// === impl Connections ===

impl Connections {
    /// No connection yet; `shutdown` is the listener's.
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        Self {
            shutdown: Arc::new(shutdown),
            open: TaskTracker::new(),
        }
    }

    /// Serves `conn` (from `peer`): polled here once, then on its own task
    /// if it has to wait for its client.
    pub(crate) fn serve<C>(&self, conn: C, peer: SocketAddr)
    where
        C: GracefulConnection + Unpin + Send + 'static,
        C::Error: Display,
    {
        let mut conn = Graceful {
            conn,
            shutdown: self.shutdown.clone(),
            watch: None,
            finishing: false,
        };
        // Whatever a pending poll registers with this waker, the task's
        // own first poll registers again: readiness is never lost.
        let waker = std::task::Waker::noop();
        match Pin::new(&mut conn).poll(&mut Context::from_waker(waker)) {
            Poll::Ready(result) => ended(result, peer),
            Poll::Pending => {
                self.open.spawn(async move { ended(conn.await, peer) });
            }
        }
    }

    /// Waits until every connection has ended; the caller has fired the
    /// shutdown.
    pub(crate) async fn closed(self) {
        self.open.close();
        self.open.wait().await;
    }
}

/// Logs how a connection ended, which matters only when debugging a client.
fn ended<E: Display>(result: Result<(), E>, peer: SocketAddr) {
    if let Err(err) = result {
        tracing::debug!(listener = "public", %peer, error = %err, "connection ended with an error");
    }
}

// === impl Graceful ===

impl<C> Graceful<C> {
    /// Whether the shutdown fired, arming its watch if it is not armed.
    fn shutting_down(&mut self, cx: &mut Context<'_>) -> bool {
        let shutdown = &self.shutdown;
        let watch = self
            .watch
            .get_or_insert_with(|| Box::pin(CancellationToken::clone(shutdown).cancelled_owned()));
        watch.as_mut().poll(cx).is_ready()
    }
}

impl<C: GracefulConnection + Unpin> Future for Graceful<C> {
    type Output = C::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // Not watched until the connection first waits: a one-request
        // connection never pays for the watch.
        if !this.finishing && this.watch.is_some() && this.shutting_down(cx) {
            this.finishing = true;
            Pin::new(&mut this.conn).graceful_shutdown();
        }
        let polled = Pin::new(&mut this.conn).poll(cx);
        if polled.is_ready() || this.finishing || this.watch.is_some() {
            return polled;
        }
        if this.shutting_down(cx) {
            this.finishing = true;
            Pin::new(&mut this.conn).graceful_shutdown();
            return Pin::new(&mut this.conn).poll(cx);
        }
        Poll::Pending
    }
}
