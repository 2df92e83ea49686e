//! Active health checks: `GET {backend url}{path}` every interval, off the
//! request path. This module is the I/O — one loop per backend, reconciled
//! with the registry every second and whenever a node joins or the config
//! is reloaded (a node with checks takes no clients before its first);
//! what a result means (rise/fall, the latency average) is
//! [`crate::registry::HealthState`]'s business. A check
//! passes when the status is in the expected range and the answer comes
//! within `max_latency`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::HealthConfig;
use crate::registry::{CheckResult, Target};

/// How often the set of backends to check is brought up to date.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);

/// Keeps one check loop per backend that has a URL and a health path, until
/// `shutdown`. Backends come and go (pushes, reloads), so the set is
/// reconciled every second, and at once when the app says it changed.
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
            () = app.targets_changed() => {}
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
        let result = check(&client, &target.url, &target.config).await;
        app.observe_health(&target.id, &result);
        tokio::select! {
            () = stop.cancelled() => return,
            () = sleep_until(started + target.config.interval) => {}
        }
    }
}

/// Runs one check of `url`.
pub async fn check(client: &reqwest::Client, url: &str, config: &HealthConfig) -> CheckResult {
    let started = Instant::now();
    let response = match client.get(url).timeout(config.timeout).send().await {
        Ok(response) => response,
        Err(err) if err.is_timeout() => {
            return CheckResult::Fail(format!("no answer within {:?}", config.timeout));
        }
        Err(err) => return CheckResult::Fail(format!("request failed: {err}")),
    };
    let took = started.elapsed();
    let status = response.status().as_u16();
    if !config.status.contains(status) {
        return CheckResult::Fail(format!("status {status}, expected {}", config.status));
    }
    if took > config.max_latency {
        return CheckResult::Fail(format!(
            "answered in {took:?}, slower than {:?}",
            config.max_latency
        ));
    }
    CheckResult::Pass(took)
}
