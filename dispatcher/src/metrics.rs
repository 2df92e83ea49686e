//! Prometheus metrics.
//!
//! The request path only touches plain atomics: a global redirect counter,
//! the per-backend counters in [`crate::load::NodeLoad`], and a fixed-bucket
//! histogram of pick latency. prometheus-client's own histogram takes a
//! mutex per observation, so it is not used there. Everything about the
//! pool (redirects, load and weights per backend, backends per state, the
//! pool's utilisation) is read from the dashboard view at scrape time by
//! the collector in [`pool`].
//!
//! Every family is present from the first scrape, counters at 0, so a
//! `rate()` or an alert has a series to work on before the first event.
//! The body is OpenMetrics or Prometheus 0.0.4 text, as the scraper's
//! `Accept` asks ([`Format`]), and labelled as what it is.

mod edge;
mod pool;

pub use edge::EdgeCounters;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use signpost_agent::discovery::{Stats, StatsCollector};
use signpost_shared::DashboardView;
use signpost_shared::exposition::Format;

/// Upper bounds of the pick-latency buckets, in nanoseconds; a last,
/// implicit bucket holds what is slower.
const PICK_BUCKETS_NS: [u64; 8] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 100_000];

/// Reasons a report is refused or ignored, exported at 0 from the start.
/// A reason missing here is still counted, from its first event on.
const REJECT_REASONS: [&str; 18] = [
    "malformed",
    "too_long",
    "duplicate_key",
    "too_many_keys",
    "too_many_nodes",
    "backend_not_allowed",
    "not_finite",
    "percent_out_of_range",
    "negative",
    "weight",
    "node_id",
    "url",
    "missing_node_id",
    "no_url",
    "id_conflict",
    "replay",
    "too_large",
    "body",
];

/// Counters the dispatcher updates as it works.
#[derive(Debug)]
pub struct Metrics {
    redirects: AtomicU64,
    no_backend: AtomicU64,
    /// Reports stored.
    pub reports_accepted: Counter,
    reports_rejected: Family<Reason, Counter>,
    control_refused: Family<Refused, Counter>,
    polls_failed: Counter,
    reloads: Family<Outcome, Counter>,
    pick: Histogram,
    /// Agent name discovery (`--agent` URLs whose host is a name).
    pub discovery: Arc<Stats>,
    /// Counters of the public listener's rate limit and access log.
    pub edge: Arc<EdgeCounters>,
}

/// The `reason` label of rejected reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// The labels of refused control requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Refused {
    /// `report` (a push) or `admin`.
    endpoint: &'static str,
    reason: &'static str,
}

/// The `outcome` label of configuration reloads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// A lock-free histogram with fixed buckets. Each observation lands in
/// exactly one bucket (the last one: slower than every bound); counts are
/// made cumulative only by the encoder, and `_count` is the sum of the
/// buckets, so it always equals the `+Inf` bucket.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; PICK_BUCKETS_NS.len() + 1],
    sum_ns: AtomicU64,
}

/// A histogram as read at scrape time.
#[derive(Debug, Clone, PartialEq)]
struct HistogramSnapshot {
    sum_seconds: f64,
    count: u64,
    /// (upper bound in seconds, observations in this bucket alone).
    buckets: Vec<(f64, u64)>,
}

// === impl Metrics ===

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Metrics {
            redirects: AtomicU64::new(0),
            no_backend: AtomicU64::new(0),
            reports_accepted: Counter::default(),
            reports_rejected: Family::default(),
            control_refused: Family::default(),
            polls_failed: Counter::default(),
            reloads: Family::default(),
            pick: Histogram::default(),
            discovery: Arc::default(),
            edge: Arc::default(),
        };
        for reason in REJECT_REASONS {
            drop(metrics.reports_rejected.get_or_create(&Reason { reason }));
        }
        // Refusals an attacker causes first, present from the first scrape.
        for endpoint in ["report", "admin"] {
            let reason = "unauthorized";
            drop(
                metrics
                    .control_refused
                    .get_or_create(&Refused { endpoint, reason }),
            );
        }
        for outcome in ["success", "failure"] {
            drop(metrics.reloads.get_or_create(&Outcome { outcome }));
        }
        metrics
    }
}

impl Metrics {
    /// Counts one redirect (per-backend counts live in the pool).
    #[inline]
    pub fn redirected(&self) {
        self.redirects.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one request answered 503.
    pub fn no_backend_available(&self) {
        self.no_backend.fetch_add(1, Ordering::Relaxed);
    }

    /// Redirects since start.
    pub fn redirects(&self) -> u64 {
        self.redirects.load(Ordering::Relaxed)
    }

    /// 503s since start.
    pub fn no_backend(&self) -> u64 {
        self.no_backend.load(Ordering::Relaxed)
    }

    /// Counts a refused or ignored report under `reason`.
    pub fn reject(&self, reason: &'static str) {
        self.reports_rejected
            .get_or_create(&Reason { reason })
            .inc();
    }

    /// Counts a control request to `endpoint` refused for `reason`.
    pub fn refuse_control(&self, endpoint: &'static str, reason: &'static str) {
        self.control_refused
            .get_or_create(&Refused { endpoint, reason })
            .inc();
    }

    /// Counts a failed poll of an agent.
    pub fn poll_failed(&self) {
        self.polls_failed.inc();
    }

    /// Counts a configuration reload that took effect.
    pub fn reloaded(&self) {
        self.reloads
            .get_or_create(&Outcome { outcome: "success" })
            .inc();
    }

    /// Counts a configuration reload refused for a bad config.
    pub fn reload_failed(&self) {
        self.reloads
            .get_or_create(&Outcome { outcome: "failure" })
            .inc();
    }

    /// Records how long one pick took.
    #[inline]
    pub fn observe_pick(&self, took: Duration) {
        self.pick.observe(took.as_nanos() as u64);
    }

    /// Encodes every metric, with the pool as `view` shows it, in `format`.
    pub fn render(&self, view: DashboardView, format: Format) -> Result<String, fmt::Error> {
        let mut registry = Registry::default();
        registry.register(
            "signpost_reports_accepted",
            "Load reports stored",
            self.reports_accepted.clone(),
        );
        registry.register(
            "signpost_reports_rejected",
            "Load reports refused or ignored, by reason",
            self.reports_rejected.clone(),
        );
        registry.register(
            "signpost_control_refused",
            "Control requests refused (pushes and admin calls), by endpoint and reason",
            self.control_refused.clone(),
        );
        registry.register(
            "signpost_agent_polls_failed",
            "Agent polls that failed (refused, timed out, bad status or body)",
            self.polls_failed.clone(),
        );
        registry.register(
            "signpost_config_reloads",
            "SIGHUP reloads, by outcome",
            self.reloads.clone(),
        );
        registry.register_collector(Box::new(pool::PoolCollector::new(view)));
        registry.register_collector(Box::new(self.pick.snapshot()));
        registry.register_collector(Box::new(StatsCollector {
            stats: self.discovery.clone(),
            addresses: (
                "signpost_agent_addresses",
                "Agent addresses polled because an --agent name resolves to them",
            ),
            failures: (
                "signpost_resolve_failures",
                "--agent name resolutions that failed or came back empty (the last addresses were kept)",
            ),
        }));
        registry.register_collector(Box::new(self.edge.snapshot()));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(format.from_openmetrics(out))
    }
}

// === impl Histogram ===

impl Histogram {
    #[inline]
    fn observe(&self, ns: u64) {
        let i = PICK_BUCKETS_NS
            .iter()
            .position(|&bound| ns <= bound)
            .unwrap_or(PICK_BUCKETS_NS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let bounds = PICK_BUCKETS_NS
            .iter()
            .map(|&ns| ns as f64 / 1e9)
            .chain(std::iter::once(f64::INFINITY));
        let buckets: Vec<(f64, u64)> = bounds
            .zip(&self.buckets)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        HistogramSnapshot {
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}

impl Collector for HistogramSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let mut metric = encoder.encode_descriptor(
            "signpost_pick_duration_seconds",
            "Time to choose a backend, measured on one request in 16",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<NoLabelSet>(self.sum_seconds, self.count, &self.buckets, None)
    }
}

#[cfg(test)]
mod tests {
    use signpost_shared::Dispatch;

    use super::*;

    fn empty_view() -> DashboardView {
        DashboardView {
            dispatch: Dispatch {
                strategy: "least-load".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The value of the sample line starting with `prefix` (name and labels).
    fn sample(body: &str, prefix: &str) -> f64 {
        body.lines()
            .find_map(|line| line.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no sample {prefix} in:\n{body}"))
    }

    #[test]
    fn a_histograms_inf_bucket_equals_its_count() {
        let metrics = Metrics::default();
        for ns in [50, 50, 300, 2_000, 90_000, 5_000_000] {
            metrics.observe_pick(Duration::from_nanos(ns));
        }
        for format in [Format::OpenMetrics, Format::Prometheus] {
            let body = metrics.render(empty_view(), format).unwrap();
            let count = sample(&body, "signpost_pick_duration_seconds_count");
            let inf = sample(&body, "signpost_pick_duration_seconds_bucket{le=\"+Inf\"}");
            assert_eq!(count, 6.0, "{body}");
            assert_eq!(inf, count, "{body}");
            // Cumulative once, not twice: two under 100 ns, three under
            // 500 ns, five under 100 us.
            let bucket = |le: &str| {
                sample(
                    &body,
                    &format!("signpost_pick_duration_seconds_bucket{{le=\"{le}\"}}"),
                )
            };
            assert_eq!(bucket("1e-7"), 2.0, "{body}");
            assert_eq!(bucket("5e-7"), 3.0, "{body}");
            assert_eq!(bucket("0.0001"), 5.0, "{body}");
        }
    }

    #[test]
    fn counters_are_there_from_the_start_with_help_in_either_format() {
        let metrics = Metrics::default();
        let text = metrics.render(empty_view(), Format::Prometheus).unwrap();
        for family in [
            "signpost_reports_accepted_total",
            "signpost_reports_rejected_total",
            "signpost_config_reloads_total",
            "signpost_agent_polls_failed_total",
            "signpost_no_backend_total",
        ] {
            assert!(text.contains(&format!("# HELP {family} ")), "{text}");
            assert!(text.contains(&format!("# TYPE {family} counter")), "{text}");
        }
        assert_eq!(
            sample(&text, "signpost_config_reloads_total{outcome=\"failure\"}"),
            0.0
        );
        assert_eq!(
            sample(
                &text,
                "signpost_reports_rejected_total{reason=\"malformed\"}"
            ),
            0.0
        );
        assert!(!text.contains("# EOF"));
        let openmetrics = metrics.render(empty_view(), Format::OpenMetrics).unwrap();
        assert!(openmetrics.contains("# TYPE signpost_reports_accepted counter"));
        assert!(openmetrics.ends_with("# EOF\n"));
    }
}
