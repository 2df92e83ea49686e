//! `POST /v1/app-report`: the application's own load figures, in the
//! spirit of gRPC's ORCA load reports, for applications that know their
//! load better than the host's CPU does (a JVM with a fixed thread pool, a
//! worker queue).
//!
//! The application posts, from the same host (loopback peers only, no
//! token: the endpoint is a local socket's business), any of
//! `application_utilization` (0–1), `rps`, `eps` (errors a second) and
//! `latency_p90_ms`. What it posts wins over what the agent measures: the
//! utilisation replaces `cpu_percent` (as ORCA's `application_utilization`
//! replaces CPU in gRPC's weighted round robin), and `eps ÷ rps` becomes the
//! report's `error_rate`, over the probe's or the access log's figures.
//!
//! A post counts for [`LIFETIME_INTERVALS`] agent intervals: an application
//! that stops posting (hung, restarted) stops steering its node, and the
//! agent's own figures come back with the next sample. Every writer of the
//! report (sampler, probe, log tail) lays the fresh post over what it wrote
//! with [`AppReports::overlay`], so the precedence lives here only.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use signpost_shared::LoadReport;
use tokio::time::Instant;

/// How many agent intervals one post counts for.
pub const LIFETIME_INTERVALS: u32 = 3;

/// The largest body accepted, in bytes: four numbers need far less.
pub const MAX_BODY: usize = 4096;

/// One post of the application, as it arrives. Unknown keys are refused,
/// so a misspelt field is an error the application sees, not a silence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppReport {
    /// How busy the application is, 0–1 (ORCA's
    /// `application_utilization`); replaces `cpu_percent`.
    pub application_utilization: Option<f64>,
    /// Requests a second it served.
    pub rps: Option<f64>,
    /// Of those, errors a second; at most `rps`.
    pub eps: Option<f64>,
    /// The 90th percentile of its response time, in milliseconds.
    pub latency_p90_ms: Option<f64>,
}

/// The application's latest post and when it arrived, shared by the
/// endpoint and every writer of the report.
#[derive(Debug)]
pub struct AppReports {
    lifetime: Duration,
    latest: Mutex<Latest>,
}

/// The post in force, if any, and whether its figures are in the report.
#[derive(Debug, Default)]
struct Latest {
    post: Option<(AppReport, Instant)>,
    applied: bool,
}

// === impl AppReport ===

impl AppReport {
    /// Parses and checks a body: every figure finite and not negative,
    /// the utilisation at most 1, errors at most requests. The error is
    /// the message the application gets with its 400.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        let post: AppReport =
            serde_json::from_slice(body).map_err(|err| format!("not an app report: {err}"))?;
        for (field, value) in [
            ("application_utilization", post.application_utilization),
            ("rps", post.rps),
            ("eps", post.eps),
            ("latency_p90_ms", post.latency_p90_ms),
        ] {
            match value {
                Some(v) if !v.is_finite() || v < 0.0 => {
                    return Err(format!("{field} must be a number ≥ 0, got {v}"));
                }
                _ => {}
            }
        }
        if let Some(u) = post.application_utilization
            && u > 1.0
        {
            return Err(format!("application_utilization is a share (0–1), got {u}"));
        }
        if let (Some(eps), Some(rps)) = (post.eps, post.rps)
            && eps > rps
        {
            return Err(format!(
                "eps ({eps}) must not exceed rps ({rps}): errors are requests"
            ));
        }
        if post.eps.is_some() && post.rps.is_none() {
            return Err("eps needs rps: the error rate is eps ÷ rps".into());
        }
        Ok(post)
    }

    /// Lays the figures this post has over `report`.
    fn lay_over(&self, report: &mut LoadReport) {
        if let Some(u) = self.application_utilization {
            report.cpu_percent = u * 100.0;
        }
        if let Some(rps) = self.rps {
            report.rps = Some(rps);
            report.error_rate = Some(match self.eps {
                Some(eps) if rps > 0.0 => eps / rps,
                _ => 0.0,
            });
        }
        if self.latency_p90_ms.is_some() {
            report.latency_p90_ms = self.latency_p90_ms;
        }
    }
}

// === impl AppReports ===

impl AppReports {
    /// A store whose posts count for [`LIFETIME_INTERVALS`] of `interval`.
    pub fn new(interval: Duration) -> Self {
        AppReports {
            lifetime: interval * LIFETIME_INTERVALS,
            latest: Mutex::default(),
        }
    }

    /// Keeps `post`, received at `now`, as the one in force.
    pub fn post(&self, post: AppReport, now: Instant) {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        latest.post = Some((post, now));
    }

    /// Lays the post in force at `now` over `report`. Once it has expired,
    /// takes its passive-health figures back out, once: the next write of
    /// a probe or log source (if any) puts the agent's own in, and the
    /// sampler's next `cpu_percent` replaces the utilisation. Returns
    /// whether `report` changed.
    pub fn overlay(&self, report: &mut LoadReport, now: Instant) -> bool {
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let figures = |r: &LoadReport| (r.cpu_percent, r.rps, r.error_rate, r.latency_p90_ms);
        let before = figures(report);
        match latest.post {
            Some((post, at)) if now.saturating_duration_since(at) <= self.lifetime => {
                post.lay_over(report);
                latest.applied = true;
            }
            Some(_) => {
                latest.post = None;
                if std::mem::take(&mut latest.applied) {
                    report.rps = None;
                    report.error_rate = None;
                    report.latency_p90_ms = None;
                }
            }
            None => {}
        }
        figures(report) != before
    }
}

#[cfg(test)]
mod tests;
