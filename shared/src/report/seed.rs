//! The seed form of a report, `{"cpu": 12.0, "memory": 40.0, "timestamp":
//! 1763700000.1}`: what the five-line psutil agent of the project's origin
//! serves, still accepted so that agent keeps working.

use serde_json::{Map, Value};

use super::{LoadReport, ReportError, non_negative};

/// Reads the seed-style `{cpu, memory, timestamp}` object.
pub(super) fn from_seed(map: &Map<String, Value>) -> Result<LoadReport, ReportError> {
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
        cpu_percent: number("cpu")?,
        mem_percent: number("memory")?,
        // Float-to-int `as` saturates, so a huge timestamp cannot wrap.
        sampled_at_ms: (timestamp * 1000.0) as u64,
        ..LoadReport::default()
    })
}
