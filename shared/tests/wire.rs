//! Golden wire fixtures: each must parse, validate and serialise back to the
//! same JSON value. A failure here means the protocol changed under agents
//! and dispatchers already deployed.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use signpost_shared::{DashboardView, LoadReport};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("read {path}: {err}"))
}

fn assert_round_trip<T: Serialize + DeserializeOwned>(name: &str) -> T {
    let text = fixture(name);
    let parsed: T = serde_json::from_str(&text).expect("fixture parses as its type");
    let original: Value = serde_json::from_str(&text).expect("fixture is JSON");
    let again = serde_json::to_value(&parsed).expect("serialises");
    assert_eq!(again, original, "{name} does not round-trip");
    parsed
}

#[test]
fn reports_round_trip_unchanged() {
    for name in [
        "report_full.json",
        "report_draining_no_url.json",
        "report_pressure.json",
        "report_app.json",
    ] {
        let report: LoadReport = assert_round_trip(name);
        let validated = LoadReport::from_json(fixture(name).as_bytes()).unwrap();
        assert_eq!(
            validated, report,
            "{name}: validation changed a valid report"
        );
    }
}

#[test]
fn dashboard_round_trips_unchanged() {
    let view: DashboardView = assert_round_trip("dashboard.json");
    assert_eq!(view.backends.len(), 2);
    // The strategy and totals sit at the top level, beside `backends`.
    assert_eq!(
        (
            view.dispatch.strategy.as_str(),
            view.dispatch.redirects_total
        ),
        ("least-load", 1234)
    );
    assert_eq!(view.dispatch.eligible, 1);
    assert_eq!(view.backends[0].learnt_capacity, 0.5);
}

/// A view from a dispatcher that learnt no capacities reads as the median's.
#[test]
fn a_view_without_learnt_capacity_reads_as_the_median() {
    let mut raw: Value = serde_json::from_str(&fixture("dashboard.json")).unwrap();
    for backend in raw["backends"].as_array_mut().unwrap() {
        backend.as_object_mut().unwrap().remove("learnt_capacity");
    }
    let view: DashboardView = serde_json::from_value(raw).unwrap();
    assert!(view.backends.iter().all(|b| b.learnt_capacity == 1.0));
}

/// The contention fields are optional: present, they round-trip; absent
/// (older agents, the fixtures above), they stay absent rather than `null`.
#[test]
fn contention_fields_round_trip_and_stay_optional() {
    let report: LoadReport = assert_round_trip("report_pressure.json");
    assert_eq!(
        (report.cpu_pressure, report.runnable),
        (Some(63.18), Some(9))
    );
    let old: LoadReport = assert_round_trip("report_full.json");
    assert_eq!((old.cpu_pressure, old.runnable), (None, None));
    let view: DashboardView = assert_round_trip("dashboard_pressure.json");
    let backend = &view.backends[0];
    assert_eq!(
        (backend.cpu_pressure, backend.runnable),
        (Some(63.18), Some(9))
    );
}

/// The passive-health fields are optional too: an agent that measures its
/// application sends them; older agents (the fixtures above) do not, and
/// their reports stay exactly as they were.
#[test]
fn application_fields_round_trip_and_stay_optional() {
    let report: LoadReport = assert_round_trip("report_app.json");
    assert_eq!(
        (report.rps, report.error_rate, report.latency_p90_ms),
        (Some(212.4), Some(0.031), Some(87.5))
    );
    let old: LoadReport = assert_round_trip("report_full.json");
    assert_eq!(
        (old.rps, old.error_rate, old.latency_p90_ms),
        (None, None, None)
    );
}
