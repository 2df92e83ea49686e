//! Passive health: what a node's own users got decides, not only a probe.
//!
//! Agents that measure their application report `rps`, `error_rate` and
//! `latency_p90_ms`. Per node, [`Outlier`] keeps a short window of those
//! reports (requests and errors, as rate × time between reports) and
//! draws two consequences from it:
//!
//! - errors lower the node's weight smoothly, as gRPC's weighted round
//!   robin does with its `eps / qps` penalty ([`penalty`]): one blip moves
//!   little traffic;
//! - past a threshold the node is *ejected* ([`Outlier::verdict`]): an
//!   error rate above `--eject-error-rate` over at least
//!   `--eject-min-requests`, or a p90 above `--eject-latency`. An ejection
//!   lasts `base_ejection` × the number of recent
//!   ejections, capped (Envoy's outlier detection: 30 s × n, ≤ 300 s);
//!   the node then returns through slow start.
//!
//! The pool-wide rules (at most max(1, 10%) of the primaries ejected at
//! once, backups when every primary is bad, fail open when everything is)
//! live with the registry, which sees every node. Nothing here reads a
//! clock: time comes in as `now`.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use signpost_shared::LoadReport;
use tokio::time::Instant;

use super::Registry;
use crate::config::OutlierConfig;

/// How far back the error ratio is counted (Envoy's detection interval).
pub const WINDOW: Duration = Duration::from_secs(10);

/// The share of the primaries that may be ejected at once, in percent.
const MAX_EJECTED_PERCENT: usize = 10;

/// Reports kept per node at most, however often they come, so the window
/// costs a bounded amount of memory.
const MAX_SAMPLES: usize = 64;

/// The utilisation the error penalty is weighed against when the node
/// reports less: gRPC divides by the node's own utilisation, which would
/// make an idle node's single error weigh like a flood.
const UTILISATION_FLOOR: f64 = 0.5;

/// Why a node is an outlier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    /// Too many of its requests failed.
    ErrorRate {
        /// The share that failed, 0–1.
        rate: f64,
        /// Requests in the window.
        requests: f64,
    },
    /// Its p90 response time is too long.
    Latency {
        /// The reported p90, in milliseconds.
        p90_ms: f64,
    },
}

/// One node's passive-health record.
#[derive(Debug, Default)]
pub struct Outlier {
    samples: VecDeque<Sample>,
    /// The p90 of the last report received while not ejected.
    p90_ms: Option<f64>,
    /// The error rate of the last such report, for reports without `rps`.
    reported_rate: Option<f64>,
    ejection: Option<Ejection>,
    /// Ejections since the node last stayed in for `max_ejection`.
    recent: u32,
    /// Ejections since the node became known.
    total: u64,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    requests: f64,
    errors: f64,
}

#[derive(Debug, Clone, Copy)]
struct Ejection {
    until: Instant,
    reason: Reason,
}

// === impl Outlier ===

impl Outlier {
    /// Folds in `report`, received `elapsed` after the node's previous one.
    /// Reports received while the node is ejected are not counted: what it
    /// did then says nothing about how it serves once back.
    pub fn observe(&mut self, report: &LoadReport, elapsed: Duration, now: Instant) {
        if self.ejected(now).is_some() {
            return;
        }
        self.p90_ms = report.latency_p90_ms;
        self.reported_rate = report.error_rate;
        if let Some(rps) = report.rps {
            let requests = rps * elapsed.min(WINDOW).as_secs_f64();
            let errors = requests * report.error_rate.unwrap_or(0.0);
            if self.samples.len() == MAX_SAMPLES {
                self.samples.pop_front();
            }
            self.samples.push_back(Sample {
                at: now,
                requests,
                errors,
            });
        }
        while self
            .samples
            .front()
            .is_some_and(|s| now.saturating_duration_since(s.at) > WINDOW)
        {
            self.samples.pop_front();
        }
    }

    /// Requests counted in the window.
    pub fn requests(&self) -> f64 {
        self.samples.iter().map(|s| s.requests).sum()
    }

    /// The error rate over the window, else the last one reported; `None`
    /// when the agent reports none.
    pub fn error_rate(&self) -> Option<f64> {
        let requests = self.requests();
        if requests > 0.0 {
            let errors: f64 = self.samples.iter().map(|s| s.errors).sum();
            return Some((errors / requests).clamp(0.0, 1.0));
        }
        self.reported_rate
    }

    /// The last reported p90, in milliseconds.
    pub fn latency_p90_ms(&self) -> Option<f64> {
        self.p90_ms
    }

    /// Why the node is an outlier now under `config`, if it is.
    pub fn verdict(&self, config: &OutlierConfig) -> Option<Reason> {
        let requests = self.requests();
        if let Some(rate) = self.error_rate()
            && requests >= config.min_requests as f64
            && rate > config.error_rate
        {
            return Some(Reason::ErrorRate { rate, requests });
        }
        self.p90_ms
            .filter(|&p90| p90 > config.latency.as_secs_f64() * 1000.0)
            .map(|p90_ms| Reason::Latency { p90_ms })
    }

    /// Why the node is ejected at `now`, if it is.
    pub fn ejected(&self, now: Instant) -> Option<Reason> {
        self.ejection
            .filter(|e| now < e.until)
            .map(|ejection| ejection.reason)
    }

    /// When the current (or last) ejection ends.
    pub fn until(&self) -> Option<Instant> {
        self.ejection.map(|e| e.until)
    }

    /// Ejects the node for `reason` at `now`: for the base time × the
    /// recent ejections, capped. The window starts afresh, so the node is
    /// judged on what it does once back. Returns when it comes back.
    pub fn eject(&mut self, reason: Reason, config: &OutlierConfig, now: Instant) -> Instant {
        let forgiven = self
            .ejection
            .is_some_and(|e| now.saturating_duration_since(e.until) >= config.max_ejection);
        if forgiven {
            self.recent = 0;
        }
        self.recent += 1;
        self.total += 1;
        let length = config
            .base_ejection
            .saturating_mul(self.recent)
            .min(config.max_ejection);
        let until = now + length;
        self.ejection = Some(Ejection { until, reason });
        self.samples.clear();
        self.p90_ms = None;
        self.reported_rate = None;
        until
    }

    /// Ejections since the node became known.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The weight factor for the node's errors, given its CPU utilisation
    /// (0–1): see [`penalty`].
    pub fn penalty(&self, utilisation: f64) -> f64 {
        self.error_rate()
            .map_or(1.0, |rate| penalty(utilisation, rate))
    }
}

/// The factor, in (0, 1], errors lower a node's weight by: gRPC WRR's
/// `qps / (utilisation + eps / qps)` taken relative to the error-free
/// weight, that is `u / (u + error_rate)`, with `u` the node's utilisation
/// but at least [`UTILISATION_FLOOR`]. At 2% errors a node keeps 96% of its
/// weight; at 20%, 71%; at 100%, a third.
pub fn penalty(utilisation: f64, error_rate: f64) -> f64 {
    let u = utilisation.max(UTILISATION_FLOOR);
    u / (u + error_rate.clamp(0.0, 1.0))
}

/// How many of `primaries` may be ejected at once: max(1, 10%).
pub fn max_ejected(primaries: usize) -> usize {
    (primaries * MAX_EJECTED_PERCENT / 100).max(1)
}

// === impl Reason ===

impl Reason {
    /// A short, fixed label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Reason::ErrorRate { .. } => "error_rate",
            Reason::Latency { .. } => "latency",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ErrorRate { rate, requests } => write!(
                f,
                "error rate {:.1}% over {requests:.0} requests",
                rate * 100.0
            ),
            Reason::Latency { p90_ms } => write!(f, "p90 latency {p90_ms:.0} ms"),
        }
    }
}

// === impl Registry ===

impl Registry {
    /// Ejects node `index` if its record makes it an outlier at `now` and
    /// the cap allows: at most [`max_ejected`] of the primaries that report
    /// are out at once (backups are not capped: the pool falls back to
    /// primaries, or fails open, without them). Returns why it was ejected.
    pub(super) fn judge(&mut self, index: usize, now: Instant) -> Option<Reason> {
        let node = &self.nodes[index];
        if node.outlier.ejected(now).is_some() {
            return None;
        }
        let reason = node.outlier.verdict(&self.settings.outlier)?;
        if !node.backup && !self.may_eject_primary(now) {
            return None;
        }
        let config = self.settings.outlier.clone();
        self.nodes[index].outlier.eject(reason, &config, now);
        Some(reason)
    }

    /// Whether node `index` is an outlier now, ejected or not.
    pub(super) fn is_bad(&self, index: usize, now: Instant) -> bool {
        let outlier = &self.nodes[index].outlier;
        outlier.ejected(now).is_some() || outlier.verdict(&self.settings.outlier).is_some()
    }

    /// Whether every candidate was an outlier at the last snapshot, so
    /// clients go to the least bad of them (fail open).
    pub fn fail_open(&self) -> bool {
        self.fail_open
    }

    fn may_eject_primary(&self, now: Instant) -> bool {
        let stale_after = self.settings.stale_after;
        let (mut primaries, mut ejected) = (0, 0);
        for node in self.nodes.iter().filter(|n| !n.backup) {
            if !node.silent_for(stale_after, now) {
                primaries += 1;
            }
            if node.outlier.ejected(now).is_some() {
                ejected += 1;
            }
        }
        ejected < max_ejected(primaries)
    }
}

#[cfg(test)]
mod tests;
