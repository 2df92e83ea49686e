//! The passive-health thresholds (`--eject-*`) as the registry applies
//! them; the policy itself lives in `registry/outlier.rs`.

use std::time::Duration;

use super::args::{
    DEFAULT_EJECT_ERROR_RATE, DEFAULT_EJECT_LATENCY, DEFAULT_EJECT_MIN_REQUESTS, DEFAULT_EJECT_TIME,
};

/// The longest ejection as a multiple of the first: Envoy's 300 s over 30 s.
const MAX_EJECTIONS_LONG: u32 = 10;

/// When a backend's own error rate or latency ejects it, and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierConfig {
    /// Error rate, 0–1, above which a node is ejected.
    pub error_rate: f64,
    /// Requests the window must hold before the error rate counts.
    pub min_requests: u64,
    /// p90 response time above which a node is ejected.
    pub latency: Duration,
    /// The first ejection's length; the n-th recent one lasts n times it.
    pub base_ejection: Duration,
    /// The longest ejection.
    pub max_ejection: Duration,
}

// === impl OutlierConfig ===

impl OutlierConfig {
    /// The default thresholds with ejections of `base_ejection` × the
    /// recent ejections, at most ten times it.
    pub fn new(base_ejection: Duration) -> Self {
        OutlierConfig {
            error_rate: DEFAULT_EJECT_ERROR_RATE / 100.0,
            min_requests: DEFAULT_EJECT_MIN_REQUESTS as u64,
            latency: DEFAULT_EJECT_LATENCY,
            base_ejection,
            max_ejection: base_ejection.saturating_mul(MAX_EJECTIONS_LONG),
        }
    }
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig::new(DEFAULT_EJECT_TIME)
    }
}
