//! Process signals: SIGINT and SIGTERM ask for a graceful shutdown (after
//! `--shutdown-delay`), SIGHUP for a reload (configuration and TLS
//! certificate, one path).

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Cancels `token` on the first SIGINT or SIGTERM, `delay` later. During
/// the delay everything keeps answering, so clients still routed here by
/// a load balancer that has not yet removed this endpoint (a Kubernetes
/// Service, within a few seconds of the pod's termination) are served; a
/// second signal cuts the delay short. If the handlers cannot be installed
/// it says so and returns; the process then stops only when killed.
pub async fn cancel_on_shutdown(token: CancellationToken, delay: Duration) {
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
    let name = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    if !delay.is_zero() {
        tracing::info!(
            "{name}: still answering for {} while load balancers remove this endpoint \
             (--shutdown-delay; a second signal shuts down now)",
            humantime::format_duration(delay)
        );
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
    tracing::info!("{name}: shutting down");
    token.cancel();
}

/// A stream of SIGHUPs, or `None` (logged) if it cannot be installed.
pub fn hangups() -> Option<tokio::signal::unix::Signal> {
    signal(SignalKind::hangup())
        .inspect_err(|err| tracing::error!(error = %err, "cannot install the SIGHUP handler"))
        .ok()
}
