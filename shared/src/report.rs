//! The load report: what an agent says about its node, and the only way the
//! dispatcher learns about load.
//!
//! A report arrives as JSON from an untrusted peer, so parsing and validation
//! live together here: [`LoadReport::from_json`] either returns a report whose
//! every figure is in range, or a [`ReportError`] that says exactly what is
//! wrong. Nothing half-valid ever reaches the dispatcher's pool.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::base_url;

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

/// The typed parse of a full report, refusing a repeated key in the same
/// pass: the keys are read by [`Unique`] and handed on to serde's derive.
/// Any failure sends the caller to the generic path, which words it.
fn parse_unique(body: &[u8]) -> Result<LoadReport, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let report = LoadReport::deserialize(Unique(&mut de))?;
    de.end()?;
    Ok(report)
}

/// A deserializer that passes the top-level object to serde's derive
/// through [`UniqueKeys`].
struct Unique<D>(D);

/// Hands the derive's visitor [`UniqueKeys`] instead of the map itself.
struct UniqueVisitor<V>(V);

/// A map whose keys are checked for repeats (and counted) on their way,
/// kept in place so the common report costs no allocation.
struct UniqueKeys<'de, A> {
    map: A,
    seen: [&'de str; MAX_REPORT_KEYS],
    len: usize,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Unique<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(UniqueVisitor(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for UniqueVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(UniqueKeys {
            map,
            seen: [""; MAX_REPORT_KEYS],
            len: 0,
        })
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for UniqueKeys<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(Key(key)) = self.map.next_key::<Key<'de>>()? else {
            return Ok(None);
        };
        // An escaped key is left to the generic path, which decodes it.
        let Cow::Borrowed(key) = key else {
            return Err(de::Error::custom("escaped key"));
        };
        if self.len == MAX_REPORT_KEYS || self.seen[..self.len].contains(&key) {
            return Err(de::Error::custom("repeated or surplus key"));
        }
        self.seen[self.len] = key;
        self.len += 1;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Refuses a body (already known to be one JSON object) whose top-level
/// keys repeat or exceed [`MAX_REPORT_KEYS`]. serde_json keeps the last
/// of duplicate keys, and a typed parse ignores unknown ones, so neither
/// would notice. One pass over the body, values skipped unparsed, keys
/// borrowed from it unless escaped.
fn check_keys(body: &[u8]) -> Result<(), ReportError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    match de.deserialize_map(KeyCheck) {
        Ok(checked) => checked,
        Err(err) => Err(malformed(err)),
    }
}

/// Walks one object's keys for [`check_keys`].
struct KeyCheck;

/// An object key, borrowed from the body when it holds no escape.
struct Key<'de>(Cow<'de, str>);

impl<'de> Visitor<'de> for KeyCheck {
    type Value = Result<(), ReportError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen: Vec<Key<'de>> = Vec::with_capacity(16);
        let mut verdict = Ok(());
        // serde_json wants the whole object read, so a problem is noted and
        // the rest skipped rather than returned at once.
        while let Some(key) = map.next_key::<Key<'de>>()? {
            map.next_value::<IgnoredAny>()?;
            if verdict.is_err() {
                continue;
            }
            if seen.iter().any(|k| k.0 == key.0) {
                let mut key = key.0.into_owned();
                key.truncate(key.floor_char_boundary(MAX_NODE_ID_LEN));
                verdict = Err(ReportError::DuplicateKey(key));
            } else if seen.len() == MAX_REPORT_KEYS {
                verdict = Err(ReportError::TooManyKeys);
            } else {
                seen.push(key);
            }
        }
        Ok(verdict)
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Reads a [`Key`], borrowing when it can.
struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(key)))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(key.to_owned())))
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
            ReportError::TooLong { .. } => "too_long",
            ReportError::DuplicateKey(_) => "duplicate_key",
            ReportError::TooManyKeys => "too_many_keys",
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
            (&format!(r#"{{"node_id":"{}"}}"#, "n".repeat(128)), None),
            (
                &format!(r#"{{"node_id":"{}"}}"#, "n".repeat(129)),
                Some("node_id must be at most 128 bytes long, got 129"),
            ),
            (
                &format!(r#"{{"agent_version":"{}"}}"#, "v".repeat(64)),
                None,
            ),
            (
                &format!(r#"{{"agent_version":"{}"}}"#, "v".repeat(60_000)),
                Some("agent_version must be at most 64 bytes long, got 60000"),
            ),
            (
                &format!(r#"{{"url":"http://h/{}"}}"#, "p".repeat(2048)),
                Some("url must be at most 2048 bytes long, got 2057"),
            ),
            (
                &format!(r#"{{"state":"{}"}}"#, "x".repeat(10_000)),
                Some("malformed report: unknown variant"),
            ),
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
            let overrides: &str = overrides;
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
    fn duplicate_and_surplus_keys_are_refused() {
        let refused = |body: &str| LoadReport::from_json(body.as_bytes()).unwrap_err();
        let dup = |key: &str| ReportError::DuplicateKey(key.to_owned());
        // A known field twice: the typed parse stops, the generic one would
        // keep the last value.
        let twice = r#"{"node_id":"a","url":"http://h","url":"http://evil","cpu_percent":1,"mem_percent":2}"#;
        assert_eq!(refused(twice), dup("url"));
        // Written once plainly and once escaped, it is still one key.
        let escaped = r#"{"node_id":"a","cpu_percent":1,"mem_percent":2,"node\u005fid":"b"}"#;
        assert_eq!(refused(escaped), dup("node_id"));
        // An unknown key twice, which the typed parse would ignore.
        let unknown = r#"{"node_id":"a","cpu_percent":1,"mem_percent":2,"x":1,"x":[{}]}"#;
        assert_eq!(refused(unknown), dup("x"));
        assert_eq!(refused(r#"{"cpu":1,"cpu":2,"memory":3}"#), dup("cpu"));
        let many: String = (0..MAX_REPORT_KEYS)
            .map(|i| format!(r#","k{i}":0"#))
            .collect();
        let many = format!(r#"{{"node_id":"a","cpu_percent":1,"mem_percent":2{many}}}"#);
        assert_eq!(refused(&many), ReportError::TooManyKeys);
        assert_eq!(refused(&many).reason(), "too_many_keys");
    }

    #[test]
    fn a_malformed_reports_message_is_bounded() {
        let body = format!(
            r#"{{"node_id":"a","cpu_percent":1,"mem_percent":2,"state":"{}"}}"#,
            "é".repeat(5000)
        );
        let err = LoadReport::from_json(body.as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 2 * MAX_MESSAGE_LEN, "{err}");
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
