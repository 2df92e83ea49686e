//! A backend's health verdict from active checks: pure values, beside the
//! registry that keeps them (the checks themselves run in
//! [`crate::health`]).
//!
//! A verdict flips only after `rise` consecutive passes or `fall`
//! consecutive failures (as pingora's `observe_health` and HAProxy do), so
//! one slow answer does not take a backend down. The very first result
//! decides at once: a fresh backend is neither kept waiting `rise`
//! intervals nor sent clients for `fall` intervals while it is dead.
//! Latencies feed an EWMA, which the `fastest` strategy uses.

use std::sync::Arc;
use std::time::Duration;

use crate::config::HealthConfig;

/// Weight of the newest latency in the moving average.
const LATENCY_ALPHA: f64 = 0.3;

/// One backend's health verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HealthState {
    /// `None` until the first check; then whether it passes.
    passing: Option<bool>,
    /// Consecutive results against the current verdict.
    streak: u32,
    /// Moving average of answer times, in seconds.
    latency: Option<f64>,
}

/// The result of one active health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckResult {
    /// Expected status, in time.
    Pass(Duration),
    /// Anything else, with why.
    Fail(String),
}

/// What to check: a backend's id, its URL and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The node id.
    pub id: Arc<str>,
    /// The full URL probed.
    pub url: String,
    /// Interval, timeout, thresholds.
    pub config: HealthConfig,
}

// === impl HealthState ===

impl HealthState {
    /// Folds in one result; returns the new verdict if it flipped.
    pub fn observe(&mut self, outcome: &CheckResult, rise: u32, fall: u32) -> Option<bool> {
        if let CheckResult::Pass(took) = outcome {
            let secs = took.as_secs_f64();
            self.latency = Some(match self.latency {
                Some(avg) => avg + LATENCY_ALPHA * (secs - avg),
                None => secs,
            });
        }
        let passed = matches!(outcome, CheckResult::Pass(_));
        match self.passing {
            None => {
                self.passing = Some(passed);
                return Some(passed);
            }
            Some(current) if current == passed => self.streak = 0,
            Some(_) => self.streak += 1,
        }
        let needed = if passed { rise } else { fall };
        if self.streak >= needed.max(1) {
            self.passing = Some(passed);
            self.streak = 0;
            return Some(passed);
        }
        None
    }

    /// False only once checks have failed: a node without checks passes
    /// (one with checks awaits its first, [`Node`](super::node::Node)).
    pub fn passing(&self) -> bool {
        self.passing != Some(false)
    }

    /// Whether any check has completed.
    pub fn checked(&self) -> bool {
        self.passing.is_some()
    }

    /// The latency moving average, if any check passed.
    pub fn latency(&self) -> Option<Duration> {
        self.latency.map(Duration::from_secs_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: CheckResult = CheckResult::Pass(Duration::from_millis(10));

    fn fail() -> CheckResult {
        CheckResult::Fail("test".into())
    }

    #[test]
    fn first_result_decides_then_rise_and_fall_apply() {
        let mut state = HealthState::default();
        assert!(
            state.passing() && !state.checked(),
            "unchecked backends pass"
        );
        assert_eq!(state.observe(&PASS, 2, 3), Some(true));
        // Two failures: still passing; the third flips it.
        assert_eq!(state.observe(&fail(), 2, 3), None);
        assert_eq!(state.observe(&fail(), 2, 3), None);
        assert!(state.passing());
        assert_eq!(state.observe(&fail(), 2, 3), Some(false));
        assert!(!state.passing());
        // One pass is not enough to rise; a failure resets the streak.
        assert_eq!(state.observe(&PASS, 2, 3), None);
        assert_eq!(state.observe(&fail(), 2, 3), None);
        assert_eq!(state.observe(&PASS, 2, 3), None);
        assert_eq!(state.observe(&PASS, 2, 3), Some(true));
    }

    #[test]
    fn a_dead_backend_is_down_after_its_first_check() {
        let mut state = HealthState::default();
        assert_eq!(state.observe(&fail(), 2, 3), Some(false));
        assert!(!state.passing());
    }

    #[test]
    fn latency_is_a_moving_average_of_passes() {
        let mut state = HealthState::default();
        state.observe(&CheckResult::Pass(Duration::from_millis(100)), 1, 1);
        state.observe(&CheckResult::Pass(Duration::from_millis(200)), 1, 1);
        let ms = state.latency().unwrap().as_secs_f64() * 1000.0;
        assert!((ms - 130.0).abs() < 1e-6, "{ms}");
        state.observe(&fail(), 1, 1);
        assert!((state.latency().unwrap().as_secs_f64() * 1000.0 - ms).abs() < 1e-6);
    }
}
