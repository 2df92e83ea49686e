//! The passive-health thresholds (`--eject-*`) as the registry applies
//! them; the policy itself lives in `registry/outlier.rs`.

use std::time::Duration;

use super::args::{DEFAULT_EJECT_ERROR_RATE, DEFAULT_EJECT_LATENCY, DEFAULT_EJECT_MIN_REQUESTS};

/// Envoy's base ejection time, multiplied by the recent ejections.
pub(super) const BASE_EJECTION: Duration = Duration::from_secs(30);
/// Envoy's cap on one ejection.
pub(super) const MAX_EJECTION: Duration = Duration::from_secs(300);

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

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            error_rate: DEFAULT_EJECT_ERROR_RATE / 100.0,
            min_requests: DEFAULT_EJECT_MIN_REQUESTS as u64,
            latency: DEFAULT_EJECT_LATENCY,
            base_ejection: BASE_EJECTION,
            max_ejection: MAX_EJECTION,
        }
    }
}
