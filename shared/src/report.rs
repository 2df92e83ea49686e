//! The load report: what an agent says about its node, and the only way the
//! dispatcher learns about load.
//!
//! A report arrives as JSON from an untrusted peer, so parsing and validation
//! live together here: [`LoadReport::from_json`] either returns a report whose
//! every figure is in range, or a [`ReportError`] that says exactly what is
//! wrong. Nothing half-valid ever reaches the dispatcher's pool.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::base_url;

/// The longest `node_id` accepted: a full DNS name.
pub const MAX_NODE_ID_LEN: usize = 253;

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
    /// The weight is not in (0, [`MAX_WEIGHT`]].
    #[error("weight must be greater than 0 and at most {MAX_WEIGHT}, got {0}")]
    Weight(f64),
    /// The node id is empty, too long or has characters outside the safe set.
    #[error("node_id {0}")]
    NodeId(&'static str),
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
        if let Ok(report) = serde_json::from_slice::<LoadReport>(body) {
            return report.validate();
        }
        let value: Value = serde_json::from_slice(body).map_err(malformed)?;
        let Value::Object(map) = value else {
            return Err(ReportError::Malformed("expected a JSON object".into()));
        };
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
        Ok(self)
    }
}

/// Checks that `id` can name a node everywhere it appears: in URLs of the
/// admin API, in Prometheus labels and in the sticky cookie's value.
pub fn validate_node_id(id: &str) -> Result<(), ReportError> {
    if id.is_empty() {
        return Err(ReportError::NodeId("must not be empty"));
    }
    if id.len() > MAX_NODE_ID_LEN {
        return Err(ReportError::NodeId("must be at most 253 characters"));
    }
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
    ReportError::Malformed(err.to_string())
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

fn non_negative(field: &'static str, value: f64) -> Result<(), ReportError> {
    if !value.is_finite() {
        return Err(ReportError::NotFinite { field });
    }
    if value < 0.0 {
        return Err(ReportError::Negative { field, value });
    }
    Ok(())
}

/// Reads the seed-style `{cpu, memory, timestamp}` object.
fn from_seed(map: &Map<String, Value>) -> Result<LoadReport, ReportError> {
    let number = |key: &str| -> Result<f64, ReportError> {
        match map.get(key) {
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| ReportError::Malformed(format!("{key} is not a number"))),
            Some(_) => Err(ReportError::Malformed(format!("{key} must be a number"))),
            None => Err(ReportError::Malformed(format!("missing field `{key}`"))),
        }
    };
    let timestamp = match map.get("timestamp") {
        Some(_) => number("timestamp")?,
        None => 0.0,
    };
    non_negative("timestamp", timestamp)?;
    Ok(LoadReport {
        node_id: String::new(),
        url: None,
        cpu_percent: number("cpu")?,
        mem_percent: number("memory")?,
        load1: 0.0,
        cores: 0,
        connections: 0,
        cpu_pressure: None,
        runnable: None,
        weight: default_weight(),
        state: NodeState::Ready,
        healthy: true,
        seq: 0,
        // Float-to-int `as` saturates, so a huge timestamp cannot wrap.
        sampled_at_ms: (timestamp * 1000.0) as u64,
        agent_version: String::new(),
    })
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
            ReportError::Weight(_) => "weight",
            ReportError::NodeId(_) => "node_id",
            ReportError::Url { .. } => "url",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(overrides: &str) -> String {
        let mut base: Map<String, Value> = serde_json::from_str(
            r#"{"node_id":"web-1","url":"http://10.0.0.11:8000","cpu_percent":37.5,
                "mem_percent":61.2,"load1":0.82,"cores":4,"connections":118,"weight":1.0,
                "state":"ready","healthy":true,"seq":4411,"sampled_at_ms":1763700000000,
                "agent_version":"0.1.0"}"#,
        )
        .unwrap();
        let extra: Map<String, Value> = serde_json::from_str(overrides).unwrap();
        base.extend(extra);
        Value::Object(base).to_string()
    }

    /// Each case: field overrides on a valid report, and the error expected
    /// (`None`: accepted).
    #[test]
    fn validation_table() {
        let nan = ReportError::NotFinite {
            field: "cpu_percent",
        };
        let cases: &[(&str, Option<&str>)] = &[
            ("{}", None),
            (r#"{"cpu_percent":100.4}"#, None),
            (
                r#"{"cpu_percent":100.6}"#,
                Some("cpu_percent must be between 0 and 100, got 100.6"),
            ),
            (
                r#"{"cpu_percent":-1}"#,
                Some("cpu_percent must be between 0 and 100, got -1"),
            ),
            (
                r#"{"mem_percent":250}"#,
                Some("mem_percent must be between 0 and 100, got 250"),
            ),
            (
                r#"{"load1":-0.5}"#,
                Some("load1 must not be negative, got -0.5"),
            ),
            (
                r#"{"weight":0}"#,
                Some("weight must be greater than 0 and at most 1000, got 0"),
            ),
            (
                r#"{"weight":1e9}"#,
                Some("weight must be greater than 0 and at most 1000"),
            ),
            (r#"{"node_id":""}"#, None),
            (r#"{"node_id":"a b"}"#, Some("node_id may contain only")),
            (r#"{"node_id":"web;1"}"#, Some("node_id may contain only")),
            (r#"{"url":""}"#, Some(r#"url "" must not be empty"#)),
            (r#"{"url":"ftp://x"}"#, Some("must use http or https")),
            (r#"{"url":"not a url"}"#, Some("is not a valid URL")),
            (
                r#"{"url":"http://u:p@host"}"#,
                Some("must not carry credentials"),
            ),
            (
                r#"{"url":"http://host/?q=1"}"#,
                Some("must not have a query"),
            ),
            (r#"{"url":"https://[::1]:8443/app"}"#, None),
            (r#"{"state":"draining"}"#, None),
            (
                r#"{"state":"sleeping"}"#,
                Some("unknown variant `sleeping`"),
            ),
            (
                r#"{"cpu_percent":"high"}"#,
                Some("malformed report: invalid type"),
            ),
            (r#"{"cores":-2}"#, Some("malformed report")),
            (r#"{"cpu_pressure":0,"runnable":0}"#, None),
            (r#"{"cpu_pressure":97.3,"runnable":130}"#, None),
            (r#"{"cpu_pressure":null,"runnable":null}"#, None),
            (
                r#"{"cpu_pressure":-0.1}"#,
                Some("cpu_pressure must be between 0 and 100, got -0.1"),
            ),
            (
                r#"{"cpu_pressure":101}"#,
                Some("cpu_pressure must be between 0 and 100, got 101"),
            ),
            (
                r#"{"cpu_pressure":"high"}"#,
                Some("malformed report: invalid type"),
            ),
            (r#"{"runnable":-1}"#, Some("malformed report")),
            (r#"{"runnable":1.5}"#, Some("malformed report")),
        ];
        for (overrides, expected) in cases {
            let got = LoadReport::from_json(full(overrides).as_bytes());
            match (expected, got) {
                (None, Ok(_)) => {}
                (Some(want), Err(err)) => assert!(
                    err.to_string().contains(want),
                    "{overrides}: error {err:?} does not contain {want:?}"
                ),
                (want, got) => panic!("{overrides}: expected {want:?}, got {got:?}"),
            }
        }
        // NaN cannot be written in JSON, so check the typed path directly.
        let mut report = LoadReport::from_json(full("{}").as_bytes()).unwrap();
        report.cpu_percent = f64::NAN;
        assert_eq!(report.validate(), Err(nan));
        let mut report = LoadReport::from_json(full("{}").as_bytes()).unwrap();
        report.cpu_pressure = Some(f64::NAN);
        assert_eq!(
            report.validate(),
            Err(ReportError::NotFinite {
                field: "cpu_pressure"
            })
        );
    }

    #[test]
    fn rounding_slack_is_clamped_away() {
        let report = LoadReport::from_json(full(r#"{"cpu_percent":100.3}"#).as_bytes()).unwrap();
        assert_eq!(report.cpu_percent, 100.0);
    }

    #[test]
    fn missing_optional_fields_take_defaults() {
        let report =
            LoadReport::from_json(br#"{"node_id":"n","cpu_percent":1,"mem_percent":2}"#).unwrap();
        assert!(report.healthy);
        assert_eq!(report.state, NodeState::Ready);
        assert_eq!(report.weight, 1.0);
        assert_eq!(report.url, None);
        assert_eq!((report.cpu_pressure, report.runnable), (None, None));
    }

    #[test]
    fn seed_style_report_is_accepted() {
        let report =
            LoadReport::from_json(br#"{"cpu": 12.0, "memory": 40.0, "timestamp": 1763700000.1}"#)
                .unwrap();
        assert_eq!(report.cpu_percent, 12.0);
        assert_eq!(report.mem_percent, 40.0);
        assert_eq!(report.sampled_at_ms, 1_763_700_000_100);
        assert_eq!(report.node_id, "");
        assert_eq!(report.seq, 0);
    }

    #[test]
    fn seed_style_report_is_validated() {
        let err = LoadReport::from_json(br#"{"cpu": 120, "memory": 40}"#).unwrap_err();
        assert_eq!(err.reason(), "percent_out_of_range");
        let err = LoadReport::from_json(br#"{"cpu": 12}"#).unwrap_err();
        assert!(err.to_string().contains("missing field `memory`"), "{err}");
    }

    #[test]
    fn non_objects_are_malformed() {
        for body in [&b"[]"[..], b"42", b"", b"{", b"null"] {
            let err = LoadReport::from_json(body).unwrap_err();
            assert_eq!(err.reason(), "malformed", "{body:?}");
        }
    }
}
