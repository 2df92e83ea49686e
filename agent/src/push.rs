//! Push mode: every report is POSTed to `{dispatcher}/v1/report` on each
//! configured dispatcher, and on every address a dispatcher's host name
//! resolves to ([`fan_out`], through [`crate::discovery`]): one name can
//! stand for every replica behind a headless Service.
//!
//! Each dispatcher address gets its own task, so a dead or hanging one never delays
//! the others: a request is bounded by the client's timeout (below the
//! interval), and after a failure that task alone backs off, exponentially
//! with jitter, until a push succeeds again. The backoff is capped near the
//! dispatcher's default `stale_after` (three intervals), so a restarted
//! dispatcher has every node back within a few seconds rather than the
//! half-minute a longer cap cost. The first failure, a reminder once a
//! minute while pushes keep failing, and the recovery are logged; not
//! every attempt.

use std::time::Duration;

use rand::RngExt;
use reqwest::header::AUTHORIZATION;
use signpost_shared::{LoadReport, api};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::client;
use crate::discovery::{self, Discovery, Peer};

/// The longest wait between two attempts at a failing dispatcher, in
/// intervals: the dispatcher's default `stale_after` is three intervals,
/// so a node is back about as soon as it would have gone stale.
pub const BACKOFF_CAP_INTERVALS: u32 = 3;

/// How often a push that keeps failing is logged again.
pub const REMIND_EVERY: Duration = Duration::from_secs(60);

/// Where and how one task pushes.
#[derive(Debug, Clone)]
pub struct Target {
    /// The full report URL: the dispatcher base URL plus [`api::REPORT`].
    pub url: String,
    /// Bearer token to present, if configured.
    pub token: Option<String>,
}

// === impl Target ===

impl Target {
    /// The push target for a dispatcher base URL such as
    /// `http://10.0.0.1:9100` (a trailing `/` is allowed).
    pub fn new(dispatcher: &str, token: Option<String>) -> Self {
        let url = format!("{}{}", dispatcher.trim_end_matches('/'), api::REPORT);
        Target { url, token }
    }

    /// Sends one report; any answer but 2xx is a failure.
    pub async fn push(&self, client: &reqwest::Client, report: &LoadReport) -> Result<(), String> {
        let mut request = client.post(&self.url).json(report);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        client::send(request, |status| status.is_success()).await
    }
}

/// Pushes every report to each address `dispatcher` stands for, one
/// [`run`] task (and one backoff) per address, following the name as
/// [`discovery::follow`] re-resolves it. Each request has `timeout`.
pub async fn fan_out(
    discovery: Discovery,
    dispatcher: Peer,
    token: Option<String>,
    reports: watch::Receiver<LoadReport>,
    interval: Duration,
    timeout: Duration,
) {
    discovery::follow(discovery, dispatcher, move |endpoint| {
        let target = Target::new(endpoint.url.as_str(), token.clone());
        let reports = reports.clone();
        let span = tracing::info_span!("push", addr = %endpoint.addr);
        async move {
            match client::pinned(timeout, &endpoint) {
                Ok(client) => run(client, target, reports, interval).await,
                Err(err) => tracing::error!(error = %err, "cannot push to this address"),
            }
        }
        .instrument(span)
    })
    .await;
}

/// Pushes each new report to `target` until cancelled or until the sampler
/// is gone. After a failure it waits [`backoff`] and then pushes the latest
/// report, rather than replaying the one that failed.
pub async fn run(
    client: reqwest::Client,
    target: Target,
    mut reports: watch::Receiver<LoadReport>,
    interval: Duration,
) {
    let mut failures: u32 = 0;
    let mut reminded = Instant::now();
    loop {
        let report = reports.borrow_and_update().clone();
        match target.push(&client, &report).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(dispatcher = %target.url, failures, "push recovered");
                }
                failures = 0;
                if reports.changed().await.is_err() {
                    return;
                }
            }
            Err(reason) => {
                let now = Instant::now();
                if failures == 0 {
                    tracing::warn!(dispatcher = %target.url, %reason, "push failed; backing off");
                    reminded = now;
                } else if now.duration_since(reminded) >= REMIND_EVERY {
                    tracing::warn!(
                        dispatcher = %target.url, %reason, failures,
                        "pushes still failing"
                    );
                    reminded = now;
                } else {
                    tracing::debug!(dispatcher = %target.url, %reason, failures, "push failed again");
                }
                failures = failures.saturating_add(1);
                let jitter = rand::rng().random_range(0.0..=1.0);
                tokio::time::sleep(backoff(failures, interval, jitter)).await;
            }
        }
    }
}

/// The wait after `failures` consecutive failures: a point, chosen by
/// `jitter` in 0–1, between `base` and `base · 2^failures` capped at
/// [`BACKOFF_CAP_INTERVALS`] × `base`. Never sooner than the interval
/// (retrying faster than reports are made is pointless) and spread so that
/// agents that lost the same dispatcher do not all return at the same
/// instant.
pub fn backoff(failures: u32, base: Duration, jitter: f64) -> Duration {
    let growth = 2f64.powi(failures.min(16) as i32);
    let ceiling = base
        .mul_f64(growth)
        .min(base * BACKOFF_CAP_INTERVALS)
        .max(base);
    base + (ceiling - base).mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_within_bounds() {
        let second = Duration::from_secs(1);
        let cases = [
            (1, second, 0.0, 1000),
            (1, second, 1.0, 2000),
            (2, second, 0.5, 2000),
            (3, second, 1.0, 3000),
            (3, second, 0.5, 2000),
            (10, second, 1.0, 3000),
            (u32::MAX, second, 1.0, 3000),
            (u32::MAX, second, 0.0, 1000),
            (2, Duration::from_millis(200), 1.0, 600),
        ];
        for (failures, base, jitter, want_ms) in cases {
            let got = backoff(failures, base, jitter);
            assert_eq!(
                got,
                Duration::from_millis(want_ms),
                "{failures} failures, jitter {jitter}"
            );
        }
    }

    #[test]
    fn target_url_joins_without_doubling_the_slash() {
        for base in ["http://d:9100", "http://d:9100/"] {
            assert_eq!(Target::new(base, None).url, "http://d:9100/v1/report");
        }
    }
}
