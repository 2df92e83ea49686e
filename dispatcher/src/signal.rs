//! Process signals: SIGINT and SIGTERM ask for a graceful shutdown (after
//! `--shutdown-delay`), SIGHUP for a reload (configuration and TLS
//! certificate, one path).

use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// The signals the dispatcher answers, installed before its listeners are
/// bound. Until a handler is installed SIGTERM and SIGHUP kill the process
/// outright (their default action), so a supervisor that signals as soon
/// as it reads the `listening` lines got no drain at all: installed from a
/// spawned task, the handlers came after those lines (`RELIABILITY.md`,
/// finding 7).
#[derive(Debug)]
pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Option<Signal>,
}

impl Signals {
    /// Installs the handlers now. Without SIGTERM and SIGINT the process
    /// could only be stopped by SIGKILL, so that is an error; without
    /// SIGHUP (logged) it only cannot reload.
    pub fn install() -> anyhow::Result<Self> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("install the SIGTERM handler")?,
            interrupt: signal(SignalKind::interrupt()).context("install the SIGINT handler")?,
            hangup: hangups(),
        })
    }

    /// Spawns the task that cancels `token` on the first SIGINT or SIGTERM,
    /// `delay` later, and returns the SIGHUPs for the reload loop. During
    /// the delay everything keeps answering, so clients still routed here
    /// by a load balancer that has not yet removed this endpoint (a
    /// Kubernetes Service, within a few seconds of the pod's termination)
    /// are served; a second signal cuts the delay short.
    pub fn cancel_on_shutdown(self, token: CancellationToken, delay: Duration) -> Option<Signal> {
        tokio::spawn(cancel_on_shutdown(
            self.terminate,
            self.interrupt,
            token,
            delay,
        ));
        self.hangup
    }
}

async fn cancel_on_shutdown(
    mut terminate: Signal,
    mut interrupt: Signal,
    token: CancellationToken,
    delay: Duration,
) {
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
fn hangups() -> Option<Signal> {
    signal(SignalKind::hangup())
        .inspect_err(|err| tracing::error!(error = %err, "cannot install the SIGHUP handler"))
        .ok()
}
