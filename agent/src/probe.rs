//! `--backend-health`: probes the local application every interval and
//! reports `healthy: false` while it fails, so the dispatcher stops sending
//! clients to a node whose application is down even though its agent is up.

use std::time::Duration;

use signpost_shared::LoadReport;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use crate::client;

/// Probes `url` once: healthy on any 2xx or 3xx answer within the client's
/// timeout; otherwise the reason it is not.
pub async fn check(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let healthy = |status: reqwest::StatusCode| status.is_success() || status.is_redirection();
    client::send(client.get(url), healthy).await
}

/// Probes `url` every `interval` and writes the verdict into `reports`,
/// logging each change (not each failure). Runs until cancelled.
pub async fn run(
    client: reqwest::Client,
    url: String,
    reports: watch::Sender<LoadReport>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let result = check(&client, &url).await;
        let healthy = result.is_ok();
        let changed = reports.send_if_modified(|report| {
            let changed = report.healthy != healthy;
            if changed {
                report.healthy = healthy;
                report.seq += 1;
            }
            changed
        });
        match result {
            Err(reason) if changed => tracing::warn!(%url, %reason, "backend health probe failing"),
            Ok(()) if changed => tracing::info!(%url, "backend health probe passing again"),
            _ => {}
        }
    }
}
