//! The pool at scrape time: per-backend redirects, report ages, reported
//! and projected load, weights and learnt capacities, backends per state, and the pool gauges
//! an autoscaler acts on (see `deploy/kubernetes/autoscaling/`).
//!
//! Load gauges exist only for backends that have reported: a configured
//! node that never did has no load to show, and a 0 would read as idle.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use signpost_shared::{BackendState, BackendView, DashboardView, api::PoolLoad};

/// Scrape-time view of the pool.
#[derive(Debug)]
pub(super) struct PoolCollector(DashboardView);

/// A per-backend gauge: its name, help, and the value of one backend, if
/// it has one (a figure old agents do not send is left out, not zero).
type BackendGauge = (&'static str, &'static str, fn(&BackendView) -> Option<f64>);

/// The per-backend gauges, read from the last report or the projection.
const BACKEND_GAUGES: [BackendGauge; 12] = [
    (
        "signpost_report_age_seconds",
        "Age of each backend's last report, by the dispatcher's clock",
        |b| b.report_age_ms.map(|ms| ms as f64 / 1000.0),
    ),
    (
        "signpost_backend_cpu_percent",
        "CPU utilisation each backend last reported, 0-100",
        |b| Some(b.cpu_percent),
    ),
    (
        "signpost_backend_mem_percent",
        "Memory in use each backend last reported, 0-100",
        |b| Some(b.mem_percent),
    ),
    (
        "signpost_backend_connections",
        "Established connections each backend last reported",
        |b| Some(b.connections as f64),
    ),
    (
        "signpost_backend_projected_load",
        "Utilisation the balancer uses now: the report plus what was sent since (1 = busy)",
        |b| Some(b.projected_load),
    ),
    (
        "signpost_backend_effective_weight",
        "Weight in force after memory pressure and slow start; 0 when not eligible",
        |b| Some(b.effective_weight),
    ),
    (
        "signpost_backend_learnt_capacity",
        "Capacity learnt from each backend's CPU reports, relative to the pool's median (1 until learnt); least-load sends it effective weight x this of new clients",
        |b| Some(b.learnt_capacity),
    ),
    (
        "signpost_backend_turns_owed",
        "Turns of least-load's cycle each backend still gives to others: the connections it reported past its share's part of the pool's, less those given",
        |b| Some(b.turns_owed as f64),
    ),
    (
        "signpost_backend_cpu_pressure_percent",
        "CPU pressure (PSI some avg10) each backend last reported, 0-100; absent without PSI",
        |b| b.cpu_pressure,
    ),
    (
        "signpost_backend_runnable",
        "Runnable tasks each backend's host last reported; absent from older agents",
        |b| b.runnable.map(f64::from),
    ),
    (
        "signpost_backend_error_ratio",
        "Share of each backend's application requests that failed over the outlier window, 0-1; absent when its agent measures none",
        |b| b.error_rate,
    ),
    (
        "signpost_backend_latency_p90_seconds",
        "p90 response time of each backend's application in its last report; absent when its agent measures none",
        |b| b.latency_p90_ms.map(|ms| ms / 1000.0),
    ),
];

/// A pool gauge: its name, help, and its value.
type PoolGauge = (&'static str, &'static str, fn(&PoolLoad) -> f64);

/// The pool gauges, over eligible primaries.
const POOL_GAUGES: [PoolGauge; 4] = [
    (
        "signpost_pool_primaries",
        "Eligible primary backends, over which the pool gauges are computed",
        |p| p.primaries as f64,
    ),
    (
        "signpost_pool_utilisation_mean",
        "Mean projected load of the eligible primaries (1 = busy; 0 when none)",
        |p| p.mean,
    ),
    (
        "signpost_pool_utilisation_max",
        "Projected load of the busiest eligible primary (0 when none)",
        |p| p.max,
    ),
    (
        "signpost_pool_headroom_nodes",
        "Spare capacity of the eligible primaries in node-equivalents: sum of max(0, 1 - load)",
        |p| p.headroom,
    ),
];

// === impl PoolCollector ===

impl PoolCollector {
    /// A collector that encodes `view`.
    pub(super) fn new(view: DashboardView) -> Self {
        PoolCollector(view)
    }

    /// Passive health: ejections per backend, and whether the pool fails
    /// open because every candidate is an outlier.
    fn encode_outliers(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let mut ejections = encoder.encode_descriptor(
            "signpost_ejections",
            "Times passive health ejected each backend (error rate or latency)",
            None,
            MetricType::Counter,
        )?;
        for b in &self.0.backends {
            let labels = [("backend", b.id.as_str())];
            ConstCounter::new(b.ejections_total).encode(ejections.encode_family(&labels)?)?;
        }
        let metric = encoder.encode_descriptor(
            "signpost_fail_open",
            "1 while every candidate backend is an outlier and clients go to the least bad",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::from(self.0.dispatch.fail_open)).encode(metric)
    }

    fn encode_redirects(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
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
        Ok(())
    }

    fn encode_per_backend(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        for (name, help, value) in BACKEND_GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for b in self.0.backends.iter().filter(|b| b.report_age_ms.is_some()) {
                if let Some(value) = value(b) {
                    let labels = [("backend", b.id.as_str())];
                    ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }

    fn encode_pool(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let load = PoolLoad::of(&self.0.backends);
        for (name, help, value) in POOL_GAUGES {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value(&load)).encode(metric)?;
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

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let metric = encoder.encode_descriptor(
            "signpost_no_backend",
            "Requests answered 503 because no backend was eligible",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.0.dispatch.no_backend_total).encode(metric)?;
        let metric = encoder.encode_descriptor(
            "signpost_redirects_all",
            "Redirects sent to any backend since start",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.0.dispatch.redirects_total).encode(metric)?;
        self.encode_redirects(&mut encoder)?;
        self.encode_per_backend(&mut encoder)?;
        self.encode_pool(&mut encoder)?;
        self.encode_outliers(&mut encoder)?;
        self.encode_states(&mut encoder)
    }
}

#[cfg(test)]
mod tests {
    use signpost_shared::exposition::Format;
    use signpost_shared::{Dispatch, Health};

    use super::*;
    use crate::metrics::Metrics;

    fn backend(id: &str, load: f64, eligible: bool, reported: bool) -> BackendView {
        BackendView {
            id: id.into(),
            url: format!("http://{id}:80"),
            state: if eligible {
                BackendState::Ready
            } else {
                BackendState::Stale
            },
            eligible,
            cpu_percent: load * 100.0,
            mem_percent: 40.0,
            connections: 7,
            weight: 2.0,
            effective_weight: if eligible { 2.0 } else { 0.0 },
            projected_load: load,
            report_age_ms: reported.then_some(250),
            redirects_total: 3,
            health: Health::Passing,
            ..Default::default()
        }
    }

    #[test]
    fn load_gauges_per_backend_and_over_the_eligible_primaries() {
        let mut view = DashboardView {
            dispatch: Dispatch {
                strategy: "least-load".into(),
                redirects_total: 9,
                eligible: 2,
                ..Default::default()
            },
            backends: vec![
                backend("a", 0.5, true, true),
                backend("b", 1.25, true, true),
                backend("c", 0.9, false, true),
                backend("silent", 0.0, false, false),
            ],
        };
        view.backends[0].error_rate = Some(0.25);
        view.backends[0].latency_p90_ms = Some(750.0);
        view.backends[0].ejections_total = 3;
        view.backends[1].learnt_capacity = 0.5;
        view.backends[1].turns_owed = 12;
        view.dispatch.fail_open = true;
        let body = Metrics::default().render(view, Format::Prometheus).unwrap();
        for line in [
            "signpost_backend_error_ratio{backend=\"a\"} 0.25",
            "signpost_backend_latency_p90_seconds{backend=\"a\"} 0.75",
            "signpost_ejections_total{backend=\"a\"} 3",
            "signpost_ejections_total{backend=\"b\"} 0",
            "signpost_fail_open 1",
            "signpost_backend_cpu_percent{backend=\"b\"} 125.0",
            "signpost_backend_mem_percent{backend=\"a\"} 40.0",
            "signpost_backend_connections{backend=\"a\"} 7",
            "signpost_backend_projected_load{backend=\"c\"} 0.9",
            "signpost_backend_effective_weight{backend=\"c\"} 0.0",
            "signpost_backend_learnt_capacity{backend=\"b\"} 0.5",
            "signpost_backend_turns_owed{backend=\"b\"} 12",
            "signpost_report_age_seconds{backend=\"a\"} 0.25",
            "signpost_pool_primaries 2",
            "signpost_pool_utilisation_mean 0.875",
            "signpost_pool_utilisation_max 1.25",
            "signpost_pool_headroom_nodes 0.5",
            "signpost_redirects_all_total 9",
        ] {
            assert!(
                body.lines().any(|l| l == line || l == format!("{line}.0")),
                "{line} missing:\n{body}"
            );
        }
        assert!(
            !body
                .lines()
                .any(|l| l.starts_with("signpost_backend_") && l.contains("silent")),
            "{body}"
        );
    }
}
