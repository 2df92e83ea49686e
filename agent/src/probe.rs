//! `--backend-health`: probes the local application every interval and
//! reports `healthy: false` while it fails, so the dispatcher stops sending
//! clients to a node whose application is down even though its agent is up.
//! Its outcomes also fill a [`Window`], whose error rate and p90 latency
//! the report carries for the dispatcher's passive health (unless the
//! application's own access log is read: real traffic says more).

use std::sync::Arc;
use std::time::Duration;

use signpost_shared::LoadReport;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use crate::app_report::AppReports;
use crate::client;
use crate::window::{self, Window};

/// Probes `url` once: healthy on any 2xx or 3xx answer within the client's
/// timeout; otherwise the reason it is not.
pub async fn check(client: &reqwest::Client, url: &str) -> Result<(), String> {
    let healthy = |status: reqwest::StatusCode| status.is_success() || status.is_redirection();
    client::send(client.get(url), healthy).await
}

/// How often a probe that keeps failing is logged again.
pub const REMIND_EVERY: Duration = Duration::from_secs(60);

/// Probes `url` every `interval` (the first at once) and writes the verdict
/// into `reports`, with the window's figures when `figures` is set. It logs a failing probe from the very first one — a
/// probe that never succeeds must not be silent while the node shows
/// `down` — then once a minute while it keeps failing, and the recovery.
/// Runs until cancelled.
pub async fn run(
    client: reqwest::Client,
    url: String,
    reports: watch::Sender<LoadReport>,
    apps: Arc<AppReports>,
    interval: Duration,
    figures: bool,
) {
    let mut window = Window::new(interval);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // When the failure was last logged; `None` while passing.
    let mut failing_since_log: Option<Instant> = None;
    loop {
        ticks.tick().await;
        let started = Instant::now();
        let result = check(&client, &url).await;
        let healthy = result.is_ok();
        let now = Instant::now();
        window.record(healthy, now.duration_since(started), now);
        let app = figures.then(|| window.figures(now)).flatten();
        reports.send_if_modified(|report| {
            // New figures ride with the next sample; a flip of health is
            // news of its own.
            if figures {
                window::apply(report, app);
                apps.overlay(report, now);
            }
            let changed = report.healthy != healthy;
            if changed {
                report.healthy = healthy;
                report.seq += 1;
            }
            changed
        });
        match (result, failing_since_log) {
            (Err(reason), None) => {
                tracing::warn!(%url, %reason, "backend health probe failing: reporting unhealthy");
                failing_since_log = Some(now);
            }
            (Err(reason), Some(logged)) if now.duration_since(logged) >= REMIND_EVERY => {
                tracing::warn!(%url, %reason, "backend health probe still failing");
                failing_since_log = Some(now);
            }
            (Ok(()), Some(_)) => {
                tracing::info!(%url, "backend health probe passing again");
                failing_since_log = None;
            }
            _ => {}
        }
    }
}
