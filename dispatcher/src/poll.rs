//! Pull ingest: one task per configured agent fetches `GET {agent}/load`
//! every poll interval; an `--agent` whose host is a name gets one task per
//! address the name resolves to ([`follow`], re-resolved every
//! `--agent-refresh`), each address its own node named by its reports.
//!
//! Each agent has its own task, its own timeout (below the interval) and its
//! own backoff, so a refused, hanging or garbage-spewing agent never delays
//! another agent or the request path; it simply stops being fresh and goes
//! stale. Backoff never exceeds `stale_after`, so a recovered agent rejoins
//! within one stale period.

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use signpost_agent::discovery::{self, Discovery, Endpoint, Peer};
use signpost_shared::{LoadReport, MAX_REPORT_BYTES, ReportError, api};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::app::App;
use crate::intake::{self, Refusal};
use crate::registry::{Observed, Source};

/// Why one poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// Connect, timeout or protocol failure.
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    /// The agent answered with an error status.
    #[error("agent answered {0}")]
    Status(reqwest::StatusCode),
    /// The body exceeds the report limit.
    #[error("report body exceeds {MAX_REPORT_BYTES} bytes")]
    TooLarge,
    /// The body is not a valid report (counted as a rejected report too).
    #[error(transparent)]
    Report(ReportError),
}

/// Polls every address agent URL `agent` (whose host is a name) resolves
/// to, one [`run`] each with a client that connects to that address and
/// keeps the name as Host. Each address's reports are filed as a pushed
/// node's are: by the report's node id, with the report's URL, forgotten
/// after `forget_after` of silence once its address is gone.
pub async fn follow(
    app: Arc<App>,
    discovery: Discovery,
    agent: String,
    shutdown: CancellationToken,
) {
    let peer = match Peer::parse(&agent) {
        Ok(peer) => peer,
        Err(err) => return tracing::error!(%agent, error = %err, "cannot follow this agent"),
    };
    discovery::follow(discovery, peer, move |endpoint: Endpoint| {
        let (app, shutdown) = (app.clone(), shutdown.clone());
        let span = tracing::info_span!("poll", addr = %endpoint.addr);
        async move {
            let url = endpoint.url.to_string();
            match crate::polling_client(Some(&endpoint)) {
                Ok(client) => run(app, Source::Push, url, client, shutdown).await,
                Err(err) => tracing::error!(agent = %url, error = %err, "cannot poll this address"),
            }
        }
        .instrument(span)
    })
    .await;
}

/// Polls `agent` until `shutdown`, filing its reports as coming from
/// `source`: configured backend `slot` ([`Source::Poll`]), or a node
/// found through a name ([`Source::Push`], see [`follow`]).
pub async fn run(
    app: Arc<App>,
    source: Source,
    agent: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
) {
    let url = format!("{}{}", agent.trim_end_matches('/'), api::LOAD);
    let config = app.config();
    let interval = config.poll_interval;
    let timeout = interval.mul_f64(0.75);
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        match poll_once(&app, source, &agent, &client, &url, timeout).await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(%agent, after = failures, "agent answers again");
                }
                failures = 0;
            }
            Err(err) => {
                failures += 1;
                app.metrics.poll_failed();
                if failures == 1 {
                    tracing::warn!(%agent, error = %err, "agent poll failed; backing off");
                }
            }
        }
        let wake = started + backoff(interval, config.stale_after, failures);
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = sleep_until(wake) => {}
        }
    }
}

/// Delay before the next poll: the interval, doubling per consecutive
/// failure up to `ceiling`, with ±10% jitter so agents that failed together
/// do not retry together.
pub fn backoff(interval: Duration, ceiling: Duration, failures: u32) -> Duration {
    let doubled = interval.saturating_mul(1 << failures.min(16));
    let base = if failures == 0 {
        interval
    } else {
        doubled.min(ceiling.max(interval))
    };
    base.mul_f64(rand::rng().random_range(0.9..1.1))
}

/// Fetches the report of `source` from `url` and hands it
/// to [`intake::receive`]. An error is a failed poll (which backs off); a
/// report the registry refuses is not: the agent answered, and the refusal
/// is logged and counted.
async fn poll_once(
    app: &App,
    source: Source,
    agent: &str,
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(), PollError> {
    let body = fetch_body(client, url, timeout).await?;
    let report = LoadReport::from_json(&body).map_err(Refusal::from);
    match intake::receive(app, source, report, Instant::now()) {
        Ok(Observed::Accepted(_) | Observed::Ejected(..)) => {}
        Ok(Observed::Replay { seq, .. }) => {
            tracing::debug!(%agent, seq, "agent served the same sample again");
        }
        Err(Refusal::Report(err)) => return Err(PollError::Report(err)),
        Err(err) => tracing::warn!(%agent, error = %err, "polled report refused"),
    }
    Ok(())
}

/// The body of `GET url`, at most [`MAX_REPORT_BYTES`] of it, within
/// `timeout`.
async fn fetch_body(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<Vec<u8>, PollError> {
    let mut response = client.get(url).timeout(timeout).send().await?;
    if !response.status().is_success() {
        return Err(PollError::Status(response.status()));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_REPORT_BYTES as u64)
    {
        return Err(PollError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_REPORT_BYTES {
            return Err(PollError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let interval = Duration::from_millis(100);
        let ceiling = Duration::from_millis(400);
        let within = |d: Duration, ms: f64| {
            let got = d.as_secs_f64() * 1000.0;
            assert!(
                (ms * 0.9..=ms * 1.1).contains(&got),
                "{got} not within 10% of {ms}"
            );
        };
        within(backoff(interval, ceiling, 0), 100.0);
        within(backoff(interval, ceiling, 1), 200.0);
        within(backoff(interval, ceiling, 2), 400.0);
        within(backoff(interval, ceiling, 30), 400.0);
        // A ceiling below the interval never makes polling faster.
        within(backoff(interval, Duration::from_millis(10), 3), 100.0);
    }
}
