//! Process signals: SIGINT and SIGTERM ask for a graceful shutdown,
//! SIGHUP for a reload (configuration and TLS certificate, one path).

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM. If the handlers cannot
/// be installed it says so and returns; the process then stops only when
/// killed.
pub async fn cancel_on_shutdown(token: CancellationToken) {
    let (mut terminate, mut interrupt) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(err), _) | (_, Err(err)) => {
            tracing::error!(error = %err, "cannot install SIGTERM/SIGINT handlers");
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
    }
    token.cancel();
}

/// A stream of SIGHUPs, or `None` (logged) if it cannot be installed.
pub fn hangups() -> Option<tokio::signal::unix::Signal> {
    signal(SignalKind::hangup())
        .inspect_err(|err| tracing::error!(error = %err, "cannot install the SIGHUP handler"))
        .ok()
}
