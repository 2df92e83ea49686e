//! The app report's checks, its precedence over the agent's own figures,
//! and its expiry.

use super::*;

const INTERVAL: Duration = Duration::from_secs(1);

fn measured() -> LoadReport {
    LoadReport {
        cpu_percent: 30.0,
        rps: Some(50.0),
        error_rate: Some(0.0),
        latency_p90_ms: Some(12.0),
        ..LoadReport::default()
    }
}

#[test]
fn bad_posts_are_refused_with_the_field_at_fault() {
    let cases = [
        (r#"{"rps": -1}"#, "rps must be a number"),
        (r#"{"application_utilization": 1.5}"#, "share (0–1)"),
        (r#"{"rps": 10, "eps": 11}"#, "must not exceed rps"),
        (r#"{"eps": 1}"#, "eps needs rps"),
        (r#"{"qps": 10}"#, "unknown field"),
        (r#"{"rps": 1e999}"#, "not an app report"),
        ("[1, 2]", "not an app report"),
    ];
    for (body, want) in cases {
        let err = AppReport::from_json(body.as_bytes()).unwrap_err();
        assert!(err.contains(want), "{body}: {err}");
    }
    let ok = AppReport::from_json(br#"{"rps": 100, "eps": 7, "latency_p90_ms": 80}"#).unwrap();
    assert_eq!((ok.rps, ok.eps), (Some(100.0), Some(7.0)));
}

#[test]
fn a_fresh_post_wins_over_the_agents_figures() {
    let store = AppReports::new(INTERVAL);
    let t0 = Instant::now();
    store.post(
        AppReport::from_json(br#"{"application_utilization": 0.9, "rps": 100, "eps": 20}"#)
            .unwrap(),
        t0,
    );
    let mut report = measured();
    assert!(store.overlay(&mut report, t0 + INTERVAL));
    assert_eq!(report.cpu_percent, 90.0);
    assert_eq!((report.rps, report.error_rate), (Some(100.0), Some(0.2)));
    // What the post does not say stays the agent's.
    assert_eq!(report.latency_p90_ms, Some(12.0));
    // Laid over again, nothing changes.
    assert!(!store.overlay(&mut report, t0 + INTERVAL));
}

#[test]
fn an_expired_post_takes_its_figures_back_out_once() {
    let store = AppReports::new(INTERVAL);
    let t0 = Instant::now();
    store.post(
        AppReport::from_json(br#"{"rps": 10, "eps": 5}"#).unwrap(),
        t0,
    );
    let mut report = LoadReport::default();
    store.overlay(&mut report, t0 + INTERVAL * LIFETIME_INTERVALS);
    assert_eq!(report.error_rate, Some(0.5));
    let later = t0 + INTERVAL * LIFETIME_INTERVALS + Duration::from_millis(1);
    assert!(store.overlay(&mut report, later));
    assert_eq!((report.rps, report.error_rate), (None, None));
    // The agent's own figures, written after, are left alone from then on.
    let mut own = measured();
    assert!(!store.overlay(&mut own, later + INTERVAL));
    assert_eq!(own, measured());
}
