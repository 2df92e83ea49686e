//! Prometheus metrics.
//!
//! The request path only touches plain atomics: a global redirect counter,
//! the per-backend counters in [`crate::load::NodeLoad`], and a fixed-bucket
//! histogram of pick latency. prometheus-client's own histogram takes a
//! mutex per observation, so it is not used there. Everything about the
//! pool (redirects per backend, backends per state, report ages) is read
//! from the dashboard view at scrape time by a [`Collector`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use signpost_shared::{BackendState, DashboardView};

/// Upper bounds of the pick-latency buckets, in nanoseconds.
const PICK_BUCKETS_NS: [u64; 8] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 100_000];

/// Counters the dispatcher updates as it works.
#[derive(Debug, Default)]
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

/// A lock-free histogram with fixed buckets.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; PICK_BUCKETS_NS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// Scrape-time view of the pool.
#[derive(Debug)]
struct PoolCollector(DashboardView);

// === impl Metrics ===

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

    /// Encodes every metric, with the pool as `view` shows it, in the
    /// Prometheus text format.
    pub fn render(&self, view: DashboardView) -> Result<String, fmt::Error> {
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
        registry.register_collector(Box::new(PoolCollector(view)));
        registry.register_collector(Box::new(PickCollector(self.pick.snapshot())));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

// === impl Histogram ===

impl Histogram {
    #[inline]
    fn observe(&self, ns: u64) {
        if let Some(i) = PICK_BUCKETS_NS.iter().position(|&bound| ns <= bound) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// (sum in seconds, count, cumulative buckets in seconds).
    fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut cumulative = 0;
        let buckets = PICK_BUCKETS_NS
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, count)| {
                cumulative += count.load(Ordering::Relaxed);
                (bound as f64 / 1e9, cumulative)
            })
            .chain(std::iter::once((
                f64::INFINITY,
                self.count.load(Ordering::Relaxed),
            )))
            .collect();
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        (sum, self.count.load(Ordering::Relaxed), buckets)
    }
}

#[derive(Debug)]
struct PickCollector((f64, u64, Vec<(f64, u64)>));

impl Collector for PickCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let (sum, count, buckets) = &self.0;
        let mut metric = encoder.encode_descriptor(
            "signpost_pick_duration_seconds",
            "Time to choose a backend for one request",
            None,
            MetricType::Histogram,
        )?;
        metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            *sum, *count, buckets, None,
        )
    }
}

// === impl PoolCollector ===

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let view = &self.0;
        let metric = encoder.encode_descriptor(
            "signpost_no_backend",
            "Requests answered 503 because no backend was eligible",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(view.no_backend_total).encode(metric)?;
        self.encode_per_backend(&mut encoder)?;
        self.encode_states(&mut encoder)
    }
}

impl PoolCollector {
    fn encode_per_backend(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut redirects = encoder.encode_descriptor(
            "signpost_redirects",
            "Redirects sent to each backend",
            None,
            MetricType::Counter,
        )?;
        for b in &self.0.backends {
            let labels = [("backend", b.id.as_str())];
            ConstCounter::new(b.redirects_total).encode(redirects.encode_family(&labels)?)?;
        }
        let mut age = encoder.encode_descriptor(
            "signpost_report_age_seconds",
            "Age of each backend's last report, by the dispatcher's clock",
            None,
            MetricType::Gauge,
        )?;
        for b in &self.0.backends {
            if let Some(ms) = b.report_age_ms {
                let labels = [("backend", b.id.as_str())];
                ConstGauge::new(ms as f64 / 1000.0).encode(age.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }

    fn encode_states(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut states = encoder.encode_descriptor(
            "signpost_backends",
            "Known backends by state",
            None,
            MetricType::Gauge,
        )?;
        for state in BackendState::ALL {
            let count = self.0.backends.iter().filter(|b| b.state == state).count();
            let labels = [("state", state.as_str())];
            ConstGauge::new(count as i64).encode(states.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
