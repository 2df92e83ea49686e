//! `GET /metrics`: the node's latest report as Prometheus gauges, so a
//! node's load can be graphed where a dispatcher is not scraped (or before
//! one has heard from it), in the text format the scraper asks for.
//!
//! Everything is read from the report the sampler last published: the
//! endpoint never samples and keeps no state of its own.

use std::fmt;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use signpost_shared::LoadReport;
use signpost_shared::exposition::Format;
use tokio::sync::watch;

use crate::discovery::{Stats, StatsCollector};

/// The gauges read from a report: name, help, value.
type ReportGauge = (&'static str, &'static str, fn(&LoadReport) -> f64);

const GAUGES: [ReportGauge; 7] = [
    (
        "signpost_agent_cpu_percent",
        "CPU utilisation of the node (cgroup-aware), 0-100",
        |r| r.cpu_percent,
    ),
    (
        "signpost_agent_mem_percent",
        "Memory in use on the node (cgroup-aware), 0-100",
        |r| r.mem_percent,
    ),
    (
        "signpost_agent_load1",
        "One-minute load average of the host",
        |r| r.load1,
    ),
    (
        "signpost_agent_cores",
        "CPUs the CPU utilisation is measured against",
        |r| f64::from(r.cores),
    ),
    (
        "signpost_agent_connections",
        "Established TCP connections to the advertised port",
        |r| r.connections as f64,
    ),
    ("signpost_agent_weight", "Weight the agent reports", |r| {
        r.weight
    }),
    (
        "signpost_agent_healthy",
        "1 while the --backend-health probe passes (or none is configured), else 0",
        |r| f64::from(u8::from(r.healthy)),
    ),
];

/// The latest report, encoded at scrape time.
#[derive(Debug)]
struct ReportCollector(LoadReport);

impl Collector for ReportCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let report = &self.0;
        for (name, help, value) in GAUGES {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value(report)).encode(metric)?;
        }
        let mut state = encoder.encode_descriptor(
            "signpost_agent_state",
            "1 for the state the agent reports (ready, draining, maintenance)",
            None,
            MetricType::Gauge,
        )?;
        for (name, value) in [
            ("ready", signpost_shared::NodeState::Ready),
            ("draining", signpost_shared::NodeState::Draining),
            ("maintenance", signpost_shared::NodeState::Maintenance),
        ] {
            let on = i64::from(report.state == value);
            ConstGauge::new(on).encode(state.encode_family(&[("state", name)])?)?;
        }
        let metric = encoder.encode_descriptor(
            "signpost_agent_reports",
            "Reports published since start (the report's seq)",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(report.seq).encode(metric)
    }
}

/// `report` and the discovery counters `resolving` in `format`.
pub fn render(
    report: LoadReport,
    resolving: Arc<Stats>,
    format: Format,
) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ReportCollector(report)));
    registry.register_collector(Box::new(StatsCollector {
        stats: resolving,
        addresses: (
            "signpost_agent_dispatcher_addresses",
            "Dispatcher addresses reports are pushed to, over every --dispatcher name",
        ),
        failures: (
            "signpost_agent_resolve_failures",
            "Dispatcher name resolutions that failed or came back empty (the last addresses were kept)",
        ),
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(format.from_openmetrics(out))
}

/// `GET /metrics` over the report channel.
pub async fn handler(
    State((reports, resolving)): State<(watch::Sender<LoadReport>, Arc<Stats>)>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let report = reports.borrow().clone();
    match render(report, resolving, format) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, format.content_type())],
            body,
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("encode metrics: {err}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_counters_their_total_name() {
        let report = LoadReport::from_json(
            br#"{"node_id":"n1","cpu_percent":37.5,"mem_percent":20,"connections":118,"seq":42}"#,
        )
        .unwrap();
        let body = render(report, Arc::default(), Format::Prometheus).unwrap();
        for line in [
            "# HELP signpost_agent_reports_total Reports published since start (the report's seq)",
            "# TYPE signpost_agent_reports_total counter",
            "signpost_agent_reports_total 42",
            "signpost_agent_cpu_percent 37.5",
            "signpost_agent_connections 118.0",
            "signpost_agent_state{state=\"ready\"} 1",
            "signpost_agent_resolve_failures_total 0",
            "signpost_agent_dispatcher_addresses 0",
        ] {
            assert!(body.lines().any(|l| l == line), "{line} missing:\n{body}");
        }
        let families = body.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = body.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(families, GAUGES.len() + 4);
        assert_eq!(helps, families);
    }
}
