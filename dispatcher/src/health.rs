//! Active health checks: `GET {backend url}{path}` every interval, off the
//! request path.
//!
//! A backend's verdict flips only after `rise` consecutive passes or `fall`
//! consecutive failures (as pingora's `observe_health` and HAProxy do), so
//! one slow answer does not take it down. The very first result decides at
//! once: a fresh backend is neither kept waiting `rise` intervals nor sent
//! clients for `fall` intervals while it is dead. A check passes when the
//! status is in the expected range and the answer comes within
//! `max_latency`. Latencies feed an EWMA, which the `fastest` strategy uses.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::HealthConfig;

/// Weight of the newest latency in the moving average.
const LATENCY_ALPHA: f64 = 0.3;

/// How often the set of backends to check is brought up to date.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

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

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
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
    pub fn observe(&mut self, outcome: &Outcome, rise: u32, fall: u32) -> Option<bool> {
        if let Outcome::Pass(took) = outcome {
            let secs = took.as_secs_f64();
            self.latency = Some(match self.latency {
                Some(avg) => avg + LATENCY_ALPHA * (secs - avg),
                None => secs,
            });
        }
        let passed = matches!(outcome, Outcome::Pass(_));
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

    /// False only once checks have failed; unchecked backends pass.
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

/// Keeps one check loop per backend that has a URL and a health path, until
/// `shutdown`. Backends come and go (pushes, reloads), so the set is
/// reconciled every second.
pub async fn supervise(app: Arc<App>, client: reqwest::Client, shutdown: CancellationToken) {
    let mut running: HashMap<Arc<str>, (Target, CancellationToken)> = HashMap::new();
    loop {
        let wanted: HashMap<Arc<str>, Target> = app
            .health_targets()
            .into_iter()
            .map(|target| (target.id.clone(), target))
            .collect();
        running.retain(|id, (target, stop)| {
            let keep = wanted.get(id) == Some(target);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for (id, target) in wanted {
            if running.contains_key(&id) {
                continue;
            }
            let stop = shutdown.child_token();
            tokio::spawn(check_loop(
                app.clone(),
                client.clone(),
                target.clone(),
                stop.clone(),
            ));
            running.insert(id, (target, stop));
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = sleep(RECONCILE_EVERY) => {}
        }
    }
}

async fn check_loop(
    app: Arc<App>,
    client: reqwest::Client,
    target: Target,
    stop: CancellationToken,
) {
    loop {
        let started = Instant::now();
        let outcome = check(&client, &target.url, &target.config).await;
        app.observe_health(&target.id, &outcome);
        tokio::select! {
            () = stop.cancelled() => return,
            () = sleep_until(started + target.config.interval) => {}
        }
    }
}

/// Runs one check of `url`.
pub async fn check(client: &reqwest::Client, url: &str, config: &HealthConfig) -> Outcome {
    let started = Instant::now();
    let response = match client.get(url).timeout(config.timeout).send().await {
        Ok(response) => response,
        Err(err) if err.is_timeout() => {
            return Outcome::Fail(format!("no answer within {:?}", config.timeout));
        }
        Err(err) => return Outcome::Fail(format!("request failed: {err}")),
    };
    let took = started.elapsed();
    let status = response.status().as_u16();
    if !config.status.contains(status) {
        return Outcome::Fail(format!("status {status}, expected {}", config.status));
    }
    if took > config.max_latency {
        return Outcome::Fail(format!(
            "answered in {took:?}, slower than {:?}",
            config.max_latency
        ));
    }
    Outcome::Pass(took)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: Outcome = Outcome::Pass(Duration::from_millis(10));

    fn fail() -> Outcome {
        Outcome::Fail("test".into())
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
        state.observe(&Outcome::Pass(Duration::from_millis(100)), 1, 1);
        state.observe(&Outcome::Pass(Duration::from_millis(200)), 1, 1);
        let ms = state.latency().unwrap().as_secs_f64() * 1000.0;
        assert!((ms - 130.0).abs() < 1e-6, "{ms}");
        state.observe(&fail(), 1, 1);
        assert!((state.latency().unwrap().as_secs_f64() * 1000.0 - ms).abs() < 1e-6);
    }
}
