//! The load report: what an agent says about its node, and the only way the
//! dispatcher learns about load.
//!
//! A report arrives as JSON from an untrusted peer, so parsing and validation
//! live together here: [`LoadReport::from_json`] either returns a report whose
//! every figure is in range, or a [`ReportError`] that says exactly what is
//! wrong. Nothing half-valid ever reaches the dispatcher's pool.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::base_url;
use seed::from_seed;
use unique::{check_keys, parse_unique};

mod seed;
mod unique;

/// The longest `node_id` accepted, in bytes: it is a label of every
/// per-backend metric and the value of every sticky cookie.
pub const MAX_NODE_ID_LEN: usize = 128;

/// The longest `agent_version` accepted, in bytes: it is shown on every
/// dashboard row, so it must not grow a response without bound.
pub const MAX_AGENT_VERSION_LEN: usize = 64;

/// The longest `url` accepted, in bytes: it heads every `Location`.
pub const MAX_URL_LEN: usize = 2048;

/// The most keys a report object may hold: every field of today's wire
/// format, with room for fields newer agents add.
pub const MAX_REPORT_KEYS: usize = 64;

/// How much of a parser's message a [`ReportError::Malformed`] keeps, so
/// an echoed value cannot make an error (or a log line) large.
const MAX_MESSAGE_LEN: usize = 200;

/// How far above 100 a percentage may stray before it counts as a lie rather
/// than rounding (agents sum per-core figures, which overshoots a little).
pub const PERCENT_SLACK: f64 = 0.5;

/// The largest static or reported weight; beyond this one node would starve
/// every other in the weighted tables.
pub const MAX_WEIGHT: f64 = 1000.0;

/// A node's live load as one agent sample, the unit of the wire protocol.
///
/// Field names and meanings are fixed by the protocol (see the crate docs);
/// optional fields have defaults so minimal agents stay compatible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Stable name of the node; also the value pinned in sticky cookies.
    /// Empty only in seed-style reports, whose poller names the node.
    pub node_id: String,
    /// Where clients are sent. Absent when the agent does not advertise one
    /// and the dispatcher's config names the URL instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// CPU utilisation, 0–100, relative to the node's (or container's) limit.
    pub cpu_percent: f64,
    /// Memory in use, 0–100, relative to the node's (or container's) limit.
    pub mem_percent: f64,
    /// One-minute load average; informational.
    #[serde(default)]
    pub load1: f64,
    /// CPUs available to the node (the cgroup quota, rounded up, if any).
    #[serde(default)]
    pub cores: u32,
    /// Established TCP connections to the advertised port.
    #[serde(default)]
    pub connections: u64,
    /// CPU pressure, 0–100: PSI `some avg10`, the share of the last ten
    /// seconds in which at least one runnable task waited for a CPU (the
    /// container's cgroup where it has one, else the host). Unlike
    /// `cpu_percent` it keeps rising with the queue past saturation.
    /// Absent from agents without it and on kernels without PSI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pressure: Option<f64>,
    /// Tasks runnable right now, host-wide (the kernel's `procs_running`,
    /// the sampling agent included): the run queue behind `cpu_percent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runnable: Option<u32>,
    /// Requests per second the application served over the agent's last
    /// window (passive health). Absent when the agent measures no
    /// application: no `--backend-health`, `--app-log` or app report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rps: Option<f64>,
    /// Share of those requests that failed (5xx, or a failed probe), 0–1.
    /// The dispatcher lowers the node's weight with it and ejects the node
    /// past `--eject-error-rate`. Absent like `rps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// The 90th percentile of the application's response time over the
    /// window, in milliseconds; past `--eject-latency` the node is ejected.
    /// Absent when no request was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p90_ms: Option<f64>,
    /// The node's own weight, multiplied with any configured weight.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// What the node's operator wants: take traffic, finish what it has, or none.
    #[serde(default)]
    pub state: NodeState,
    /// False while the agent's probe of the local application fails.
    #[serde(default = "default_healthy")]
    pub healthy: bool,
    /// Increases with every sample; lets the dispatcher drop replays and
    /// reordered pushes. Zero means "unsequenced" (seed-style agents).
    #[serde(default)]
    pub seq: u64,
    /// The agent's wall clock at sampling, for display only: staleness is
    /// judged by the dispatcher's own clock at receipt, because clocks skew.
    #[serde(default)]
    pub sampled_at_ms: u64,
    /// Version of the agent that sent the report, for the dashboard.
    #[serde(default)]
    pub agent_version: String,
}

/// The report of an idle, ready node that says nothing else: what a
/// field the wire omits defaults to (weight 1, healthy), so a sampler or a
/// parser fills in only the figures it has.
impl Default for LoadReport {
    fn default() -> Self {
        LoadReport {
            node_id: String::new(),
            url: None,
            cpu_percent: 0.0,
            mem_percent: 0.0,
            load1: 0.0,
            cores: 0,
            connections: 0,
            cpu_pressure: None,
            runnable: None,
            rps: None,
            error_rate: None,
            latency_p90_ms: None,
            weight: default_weight(),
            state: NodeState::Ready,
            healthy: default_healthy(),
            seq: 0,
            sampled_at_ms: 0,
            agent_version: String::new(),
        }
    }
}

/// What an operator wants a node to do; reported by the agent and set by
/// `POST /drain` and `POST /ready` on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Takes new clients.
    #[default]
    Ready,
    /// Keeps clients already pinned to it but takes no new ones.
    Draining,
    /// Takes no clients at all.
    Maintenance,
}

/// Why a report was refused. Each variant names the field at fault so the
/// agent's operator can fix it from the 400 body or the dispatcher's log.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    /// The body is not JSON, not an object, or a field has the wrong type or
    /// an unknown value (such as an unknown `state`).
    #[error("malformed report: {0}")]
    Malformed(String),
    /// A number is NaN or infinite.
    #[error("{field} must be a finite number")]
    NotFinite {
        /// The offending field.
        field: &'static str,
    },
    /// A percentage outside 0–100.
    #[error("{field} must be between 0 and 100, got {value}")]
    PercentOutOfRange {
        /// The offending field.
        field: &'static str,
        /// The value received.
        value: f64,
    },
    /// A figure that cannot be negative was.
    #[error("{field} must not be negative, got {value}")]
    Negative {
        /// The offending field.
        field: &'static str,
        /// The value received.
        value: f64,
    },
    /// A ratio outside 0–1.
    #[error("{field} must be between 0 and 1, got {value}")]
    RatioOutOfRange {
        /// The offending field.
        field: &'static str,
        /// The value received.
        value: f64,
    },
    /// The weight is not in (0, [`MAX_WEIGHT`]].
    #[error("weight must be greater than 0 and at most {MAX_WEIGHT}, got {0}")]
    Weight(f64),
    /// The node id is empty, too long or has characters outside the safe set.
    #[error("node_id {0}")]
    NodeId(&'static str),
    /// A string field is longer than its limit.
    #[error("{field} must be at most {max} bytes long, got {len}")]
    TooLong {
        /// The offending field.
        field: &'static str,
        /// Its limit.
        max: usize,
        /// The length received.
        len: usize,
    },
    /// A key appears twice: which value counts would depend on the parser.
    #[error("duplicate key {0:?}")]
    DuplicateKey(String),
    /// The object has more keys than any report needs.
    #[error("a report has at most {MAX_REPORT_KEYS} keys")]
    TooManyKeys,
    /// The URL is empty, not http(s), or not a plain base URL.
    #[error("url {url:?} {reason}")]
    Url {
        /// The URL received.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

// === impl LoadReport ===

impl LoadReport {
    /// Parses and validates a report body, full or seed-style.
    ///
    /// The seed-style form `{"cpu": 12.0, "memory": 40.0, "timestamp": 1763700000.1}`
    /// (what a five-line psutil agent serves) becomes a report with an empty
    /// `node_id` and no `url`; the poller that fetched it fills both in.
    pub fn from_json(body: &[u8]) -> Result<Self, ReportError> {
        // Full reports, the common case, parse straight into the struct;
        // the generic path below tells seed-style reports apart and words
        // the error of a malformed one.
        if let Ok(report) = parse_unique(body) {
            return report.validate();
        }
        let value: Value = serde_json::from_slice(body).map_err(malformed)?;
        let Value::Object(map) = value else {
            return Err(ReportError::Malformed("expected a JSON object".into()));
        };
        // `Value` keeps the last of duplicate keys: look before it counts.
        check_keys(body)?;
        let report = if !map.contains_key("cpu_percent") && map.contains_key("cpu") {
            from_seed(&map)?
        } else {
            serde_json::from_value(Value::Object(map)).map_err(malformed)?
        };
        report.validate()
    }

    /// Checks every field and returns the report with percentages clamped to
    /// 0–100 (rounding slack removed), or the first problem found.
    ///
    /// An empty `node_id` is allowed here (seed-style reports); ingest paths
    /// that need a name check [`validate_node_id`] themselves.
    pub fn validate(mut self) -> Result<Self, ReportError> {
        self.cpu_percent = percent("cpu_percent", self.cpu_percent)?;
        self.mem_percent = percent("mem_percent", self.mem_percent)?;
        non_negative("load1", self.load1)?;
        if let Some(rps) = self.rps {
            non_negative("rps", rps)?;
        }
        if let Some(rate) = self.error_rate {
            ratio("error_rate", rate)?;
        }
        if let Some(latency) = self.latency_p90_ms {
            non_negative("latency_p90_ms", latency)?;
        }
        if let Some(pressure) = self.cpu_pressure {
            self.cpu_pressure = Some(percent("cpu_pressure", pressure)?);
        }
        if !self.weight.is_finite() {
            return Err(ReportError::NotFinite { field: "weight" });
        }
        if self.weight <= 0.0 || self.weight > MAX_WEIGHT {
            return Err(ReportError::Weight(self.weight));
        }
        if !self.node_id.is_empty() {
            validate_node_id(&self.node_id)?;
        }
        if let Some(url) = &self.url {
            validate_url(url)?;
        }
        max_len("agent_version", &self.agent_version, MAX_AGENT_VERSION_LEN)?;
        Ok(self)
    }
}

/// Checks that `id` can name a node everywhere it appears: in URLs of the
/// admin API, in Prometheus labels and in the sticky cookie's value.
pub fn validate_node_id(id: &str) -> Result<(), ReportError> {
    if id.is_empty() {
        return Err(ReportError::NodeId("must not be empty"));
    }
    max_len("node_id", id, MAX_NODE_ID_LEN)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':');
    if !id.chars().all(allowed) {
        return Err(ReportError::NodeId(
            "may contain only letters, digits, '.', '-', '_' and ':'",
        ));
    }
    Ok(())
}

/// Checks that `url` is a base URL clients can be redirected to, written
/// exactly as it must appear in a `Location`: http or https, a host, an
/// optional port and path, and no credentials, query or fragment to collide
/// with the client's own path and query (see `base_url` for the grammar).
pub fn validate_url(url: &str) -> Result<(), ReportError> {
    max_len("url", url, MAX_URL_LEN)?;
    base_url::check(url).map_err(|reason| ReportError::Url {
        url: url.to_owned(),
        reason,
    })
}

fn default_weight() -> f64 {
    1.0
}

fn default_healthy() -> bool {
    true
}

fn malformed(err: serde_json::Error) -> ReportError {
    let mut message = err.to_string();
    if message.len() > MAX_MESSAGE_LEN {
        message.truncate(message.floor_char_boundary(MAX_MESSAGE_LEN));
        message.push('…');
    }
    ReportError::Malformed(message)
}

fn max_len(field: &'static str, value: &str, max: usize) -> Result<(), ReportError> {
    match value.len() {
        len if len > max => Err(ReportError::TooLong { field, max, len }),
        _ => Ok(()),
    }
}

fn percent(field: &'static str, value: f64) -> Result<f64, ReportError> {
    if !value.is_finite() {
        return Err(ReportError::NotFinite { field });
    }
    if !(0.0..=100.0 + PERCENT_SLACK).contains(&value) {
        return Err(ReportError::PercentOutOfRange { field, value });
    }
    Ok(value.min(100.0))
}

fn ratio(field: &'static str, value: f64) -> Result<(), ReportError> {
    if !value.is_finite() {
        return Err(ReportError::NotFinite { field });
    }
    if !(0.0..=1.0).contains(&value) {
        return Err(ReportError::RatioOutOfRange { field, value });
    }
    Ok(())
}

fn non_negative(field: &'static str, value: f64) -> Result<(), ReportError> {
    if !value.is_finite() {
        return Err(ReportError::NotFinite { field });
    }
    if value < 0.0 {
        return Err(ReportError::Negative { field, value });
    }
    Ok(())
}

// === impl ReportError ===

impl ReportError {
    /// A short, fixed label for metrics (`signpost_reports_rejected_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            ReportError::Malformed(_) => "malformed",
            ReportError::NotFinite { .. } => "not_finite",
            ReportError::PercentOutOfRange { .. } => "percent_out_of_range",
            ReportError::Negative { .. } => "negative",
            ReportError::RatioOutOfRange { .. } => "ratio_out_of_range",
            ReportError::Weight(_) => "weight",
            ReportError::NodeId(_) => "node_id",
            ReportError::Url { .. } => "url",
            ReportError::TooLong { .. } => "too_long",
            ReportError::DuplicateKey(_) => "duplicate_key",
            ReportError::TooManyKeys => "too_many_keys",
        }
    }
}

#[cfg(test)]
mod tests;
