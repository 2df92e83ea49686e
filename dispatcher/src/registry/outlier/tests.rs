use std::time::Duration;

use signpost_shared::{BackendState, LoadReport};
use tokio::time::Instant;

use super::*;
use crate::config::{BackendConfig, HealthConfig};
use crate::load::Metric;
use crate::registry::tests::report;
use crate::registry::{Observed, Settings, Source};

const SECOND: Duration = Duration::from_secs(1);

fn settings(slow_start: Duration) -> Settings {
    Settings {
        stale_after: Duration::from_secs(1000),
        forget_after: Duration::from_secs(3000),
        mem_high_water: 85.0,
        slow_start,
        health: HealthConfig::default(),
        max_nodes: usize::MAX,
        outlier: OutlierConfig {
            min_requests: 50,
            ..OutlierConfig::default()
        },
    }
}

/// A report of node `id` serving 100 requests/s with `errors` failing and
/// a p90 of `p90_ms`.
fn app(id: &str, seq: u64, errors: f64, p90_ms: f64) -> LoadReport {
    LoadReport {
        rps: Some(100.0),
        error_rate: Some(errors),
        latency_p90_ms: Some(p90_ms),
        ..report(id, seq)
    }
}

fn backup(id: &str) -> BackendConfig {
    BackendConfig {
        id: Some(id.into()),
        url: Some(format!("http://{id}.test:8000")),
        agent: None,
        weight: 1.0,
        backup: true,
        health: HealthConfig::default(),
    }
}

/// A registry of `primaries` pushed nodes `p0..` plus configured backups,
/// each reporting 100 rps every second for `seconds` from `t0`, the
/// primaries in `bad` with 20% errors. Returns the instant after.
fn pool(
    primaries: usize,
    backups: &[&str],
    bad: &[usize],
    seconds: u64,
    t0: Instant,
) -> (Registry, Instant) {
    let configs: Vec<BackendConfig> = backups.iter().map(|id| backup(id)).collect();
    let mut registry = Registry::new(&configs, settings(Duration::ZERO), None);
    let mut now = t0;
    for seq in 1..=seconds {
        for i in 0..primaries {
            let errors = if bad.contains(&i) { 0.2 } else { 0.0 };
            let r = app(&format!("p{i}"), seq, errors, 20.0);
            registry.observe(Source::Push, r, now).unwrap();
        }
        for id in backups {
            registry
                .observe(Source::Push, app(id, seq, 0.0, 20.0), now)
                .unwrap();
        }
        now += SECOND;
    }
    (registry, now)
}

fn active(registry: &mut Registry, now: Instant) -> Vec<String> {
    let mut ids: Vec<String> = (registry.members(now, Metric::Cpu).active.iter())
        .map(|b| b.id.to_string())
        .collect();
    ids.sort();
    ids
}

fn state(registry: &Registry, id: &str, now: Instant) -> BackendState {
    registry.view_of(id, now, &|_| true).unwrap().state
}

#[test]
fn errors_lower_the_weight_smoothly() {
    let cases = [
        (0.0, 0.0, 1.0),
        (0.1, 0.02, 0.5 / 0.52),
        (0.1, 0.2, 0.5 / 0.7),
        (0.1, 1.0, 1.0 / 3.0),
        (0.9, 0.2, 0.9 / 1.1),
    ];
    for (utilisation, errors, want) in cases {
        let got = penalty(utilisation, errors);
        assert!((got - want).abs() < 1e-9, "{utilisation} {errors}: {got}");
    }
}

#[test]
fn the_window_counts_requests_over_the_last_ten_seconds() {
    let t0 = Instant::now();
    let mut outlier = Outlier::default();
    for s in 0..=20 {
        outlier.observe(&app("a", s, 0.1, 30.0), SECOND, t0 + SECOND * s as u32);
    }
    // Eleven reports a second apart are within ten seconds of the last.
    assert_eq!(outlier.requests(), 1100.0);
    assert!((outlier.error_rate().unwrap() - 0.1).abs() < 1e-9);
    assert_eq!(outlier.latency_p90_ms(), Some(30.0));
    // An agent that measures nothing leaves nothing to judge.
    let mut quiet = Outlier::default();
    quiet.observe(&report("b", 1), SECOND, t0);
    assert_eq!((quiet.error_rate(), quiet.latency_p90_ms()), (None, None));
    assert_eq!(quiet.verdict(&OutlierConfig::default()), None);
}

#[test]
fn verdicts_need_enough_requests_but_latency_alone_suffices() {
    let config = OutlierConfig::default();
    let t0 = Instant::now();
    let judged = |rps: f64, errors: f64, p90: f64| {
        let mut outlier = Outlier::default();
        let r = LoadReport {
            rps: Some(rps),
            ..app("a", 1, errors, p90)
        };
        outlier.observe(&r, SECOND, t0);
        outlier.verdict(&config).map(|r| r.label())
    };
    assert_eq!(judged(100.0, 0.2, 20.0), Some("error_rate"));
    assert_eq!(judged(100.0, 0.05, 20.0), None, "5% is not above 5%");
    assert_eq!(judged(40.0, 1.0, 20.0), None, "40 requests say too little");
    assert_eq!(judged(1.0, 0.0, 501.0), Some("latency"));
    assert_eq!(judged(1.0, 0.0, 500.0), None);
}

#[test]
fn ejections_last_longer_each_time_up_to_the_cap() {
    let config = OutlierConfig::default();
    let mut outlier = Outlier::default();
    let mut now = Instant::now();
    let reason = Reason::Latency { p90_ms: 900.0 };
    let mut lengths = Vec::new();
    for _ in 0..12 {
        let until = outlier.eject(reason, &config, now);
        lengths.push((until - now).as_secs());
        assert_eq!(outlier.ejected(until - SECOND), Some(reason));
        assert_eq!(outlier.ejected(until), None);
        now = until + SECOND;
    }
    assert_eq!(
        lengths,
        [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]
    );
    // Five minutes in good standing forgive the past.
    now += config.max_ejection;
    assert_eq!((outlier.eject(reason, &config, now) - now).as_secs(), 30);
    assert_eq!(outlier.total(), 13);
}

#[test]
fn a_failing_primary_is_ejected_and_returns_through_slow_start() {
    let t0 = Instant::now();
    let mut registry = Registry::new(&[], settings(Duration::from_secs(10)), None);
    let mut now = t0;
    for seq in 1..=3 {
        registry
            .observe(Source::Push, app("good", seq, 0.0, 20.0), now)
            .unwrap();
        let observed = registry.observe(Source::Push, app("bad", seq, 0.2, 20.0), now);
        if seq == 2 {
            // 100 requests at 20% errors in the window: out.
            assert!(
                matches!(observed, Ok(Observed::Ejected(..))),
                "{observed:?}"
            );
        }
        now += SECOND;
    }
    assert_eq!(state(&registry, "bad", now), BackendState::Ejected);
    let view = registry.view_of("bad", now, &|_| false).unwrap();
    assert!(view.outlier.unwrap().starts_with("error rate 20.0%"));
    assert_eq!(active(&mut registry, now), ["good"]);
    // The pool is rebuilt when the ejection ends.
    let back = t0 + SECOND + OutlierConfig::default().base_ejection;
    assert_eq!(registry.next_deadline(back - 5 * SECOND), Some(back));
    assert_eq!(active(&mut registry, back), ["bad", "good"]);
    assert_eq!(state(&registry, "bad", back), BackendState::Ready);
    let members = registry.members(back + SECOND, Metric::Cpu);
    let ramp = members
        .active
        .iter()
        .find(|b| &*b.id == "bad")
        .unwrap()
        .ramp;
    assert!(
        (ramp - 0.1).abs() < 1e-9,
        "slow start ramps it back: {ramp}"
    );
}

#[test]
fn a_slow_primary_is_ejected() {
    let t0 = Instant::now();
    let mut registry = Registry::new(&[], settings(Duration::ZERO), None);
    registry
        .observe(Source::Push, app("fast", 1, 0.0, 20.0), t0)
        .unwrap();
    let observed = registry.observe(Source::Push, app("slow", 1, 0.0, 800.0), t0);
    assert!(matches!(
        observed,
        Ok(Observed::Ejected(_, Reason::Latency { .. }))
    ));
    assert_eq!(active(&mut registry, t0), ["fast"]);
}

#[test]
fn at_most_a_tenth_of_the_primaries_is_ejected_at_once() {
    assert_eq!(
        [1, 9, 10, 19, 20, 100].map(max_ejected),
        [1, 1, 1, 1, 2, 10]
    );
    let t0 = Instant::now();
    // Half of ten primaries fail: one is ejected, the others keep serving
    // with a lighter weight, and no fail-open is declared.
    let (mut registry, now) = pool(10, &[], &[0, 1, 2, 3, 4], 3, t0);
    let ejected = (0..10)
        .filter(|i| state(&registry, &format!("p{i}"), now) == BackendState::Ejected)
        .count();
    assert_eq!(ejected, 1);
    let members = registry.members(now, Metric::Cpu);
    assert_eq!(members.active.len(), 9);
    let weight = |id: &str| members.active.iter().find(|b| &*b.id == id).unwrap().weight;
    let bad = (1..5)
        .map(|i| format!("p{i}"))
        .find(|id| members.active.iter().any(|b| &*b.id == id));
    assert!(weight(&bad.unwrap()) < weight("p9"));
    assert!(!registry.fail_open());
}

#[test]
fn backups_serve_when_every_primary_is_bad() {
    let t0 = Instant::now();
    let (mut registry, now) = pool(2, &["spare"], &[0, 1], 3, t0);
    assert_eq!(active(&mut registry, now), ["spare"]);
    assert!(!registry.fail_open());
}

#[test]
fn everything_bad_fails_open_to_the_least_bad() {
    let t0 = Instant::now();
    let (mut registry, now) = pool(3, &[], &[0, 1, 2], 3, t0);
    // One is ejected (the cap); the other two still serve, penalised.
    assert_eq!(active(&mut registry, now).len(), 2);
    assert!(registry.fail_open());
    // A lone primary that is ejected still serves: nothing else can.
    let (mut alone, now) = pool(1, &[], &[0], 3, t0);
    assert_eq!(state(&alone, "p0", now), BackendState::Ejected);
    assert_eq!(active(&mut alone, now), ["p0"]);
    assert!(alone.fail_open());
}
