//! The dispatcher's two listeners: the public one that redirects every
//! request, and the control one for operators and agents.

pub mod control;
mod dashboard;
mod deadline;
mod error;
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
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

/// How long a listener pauses after a failed accept.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The next connection on `listener` (named `name` in logs), or `None`
/// once `shutdown` fires. A failed accept — typically EMFILE — is logged
/// and backed off from, so a full file table never becomes a busy loop.
pub(crate) async fn accept(
    listener: &TcpListener,
    name: &'static str,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        // A waiting connection is taken before the shutdown is watched:
        // arming that watch (a waiter list under a lock) is wasted work
        // whenever a connection is already waiting, as under load.
        if shutdown.is_cancelled() {
            return None;
        }
        tokio::select! {
            biased;
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(err) => {
                    tracing::warn!(listener = name, error = %err, "accept failed");
                    sleep(ACCEPT_BACKOFF).await;
                }
            },
            () = shutdown.cancelled() => return None,
        }
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
