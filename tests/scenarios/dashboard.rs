//! What the control listener shows: the JSON dashboard, one backend's
//! view, `/metrics` and `/healthz`.

use serde_json::Value;
use signpost_e2e::dispatcher::{control, metrics, redirect, serving_web_1};
use signpost_e2e::metric;
use signpost_shared::api;

#[tokio::test]
async fn dashboard_and_metrics_show_every_backend() {
    let disp = serving_web_1("http://127.0.0.1:7401").await;
    for _ in 0..4 {
        redirect(&disp, "/").await.unwrap();
    }
    let raw_view: Value = control(&disp, api::DASHBOARD).await.json().await.unwrap();
    for key in [
        "strategy",
        "redirects_total",
        "no_backend_total",
        "backends",
    ] {
        assert!(raw_view.get(key).is_some(), "dashboard lacks {key}");
    }
    let backend = &raw_view["backends"][0];
    for key in [
        "id",
        "url",
        "state",
        "eligible",
        "backup",
        "cpu_percent",
        "mem_percent",
        "connections",
        "weight",
        "effective_weight",
        "learnt_capacity",
        "report_age_ms",
        "redirects_total",
        "health",
    ] {
        assert!(backend.get(key).is_some(), "backend lacks {key}");
    }
    assert_eq!(raw_view["strategy"], "least-load");
    assert_eq!(backend["redirects_total"], 5);
    assert_eq!(raw_view["redirects_total"], 5);
    assert_eq!(backend["state"], "ready");
    assert_eq!(backend["health"], "passing");

    // One backend alone: the same entry, without the rest of the fleet.
    let one: Value = control(&disp, &api::backend_path("web-1"))
        .await
        .json()
        .await
        .unwrap();
    for key in [
        "id",
        "url",
        "state",
        "eligible",
        "redirects_total",
        "health",
    ] {
        assert_eq!(one[key], backend[key], "{key}");
    }
    let unknown = control(&disp, &api::backend_path("nope")).await;
    assert_eq!(unknown.status(), 404);

    let body = metrics(&disp).await;
    metric("signpost_redirects_total")
        .label("backend", "web-1")
        .value(5)
        .assert_in(&body);
    metric("signpost_backends")
        .label("state", "ready")
        .value(1)
        .assert_in(&body);
    metric("signpost_backends")
        .label("state", "stale")
        .value(0)
        .assert_in(&body);
    metric("signpost_no_backend_total")
        .value(0)
        .assert_in(&body);
    assert!(
        metric("signpost_report_age_seconds")
            .label("backend", "web-1")
            .is_in(&body)
    );
    assert!(
        body.contains("signpost_pick_duration_seconds_count"),
        "{body}"
    );
    assert_eq!(control(&disp, api::HEALTHZ).await.status(), 200);
}
