//! One rule per setting, each returning the message an operator needs to
//! fix it; [`super::Config::merge`] names the flag and collects them all.

use std::net::SocketAddr;
use std::time::Duration;

use signpost_shared::{MAKE_TOKEN, MAX_WEIGHT, MIN_TOKEN_LEN, PLACEHOLDER, is_placeholder};

use super::{MAX_CPU_LIMIT, MIN_INTERVAL};

/// A token must not be empty nor a placeholder from `deploy/`; when the
/// agent listens beyond loopback it guards `/drain` and `/ready` there, so
/// it must also resist guessing (the dispatcher's rule for its control
/// listener).
pub(super) fn check_token(token: &str, listen: SocketAddr) -> Result<(), String> {
    let exposed = !listen.ip().to_canonical().is_loopback();
    if token.is_empty() {
        Err("must not be empty".into())
    } else if is_placeholder(token) {
        Err(format!(
            "is a placeholder from the examples (it contains {PLACEHOLDER:?}): make a real one \
             with `{MAKE_TOKEN}`"
        ))
    } else if exposed && token.len() < MIN_TOKEN_LEN {
        Err(format!(
            "must be at least {MIN_TOKEN_LEN} bytes long when --listen ({listen}) is not \
             loopback, got {}: make one with `{MAKE_TOKEN}`",
            token.len()
        ))
    } else {
        Ok(())
    }
}

pub(super) fn check_weight(weight: f64) -> Result<(), String> {
    if weight.is_finite() && weight > 0.0 && weight <= MAX_WEIGHT {
        Ok(())
    } else {
        Err(format!(
            "must be greater than 0 and at most {MAX_WEIGHT}, got {weight}"
        ))
    }
}

pub(super) fn check_cpu_limit(cpus: f64) -> Result<(), String> {
    if cpus.is_finite() && cpus > 0.0 && cpus <= MAX_CPU_LIMIT {
        Ok(())
    } else {
        Err(format!(
            "must be greater than 0 and at most {MAX_CPU_LIMIT}, got {cpus}"
        ))
    }
}

pub(super) fn check_interval(interval: Duration) -> Result<(), String> {
    if interval >= MIN_INTERVAL {
        Ok(())
    } else {
        Err(format!(
            "must be at least {}, got {}",
            humantime::format_duration(MIN_INTERVAL),
            humantime::format_duration(interval)
        ))
    }
}

/// A refresh that re-resolves many times a second only loads the DNS
/// server; one longer than an hour leaves a moved replica unreached.
pub(super) fn check_refresh(refresh: Duration) -> Result<(), String> {
    const BOUNDS: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(3600));
    if (BOUNDS.0..=BOUNDS.1).contains(&refresh) {
        Ok(())
    } else {
        Err(format!(
            "must be between 100ms and 1h, got {}",
            humantime::format_duration(refresh)
        ))
    }
}

pub(super) fn check_probe_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        Ok(_) => Err(format!("{url:?} must use http or https")),
        Err(err) => Err(format!("{url:?} is not a valid URL: {err}")),
    }
}
