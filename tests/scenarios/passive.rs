//! Passive health against a real dispatcher (and a real agent): a node's
//! own error rate and latency eject it, its clients move, the cap keeps
//! most of a sick pool serving, backups take over, everything bad fails
//! open, and an ejected node returns through slow start.

use serde_json::{Value, json};
use signpost_e2e::agent::agent;
use signpost_e2e::dispatcher::{
    dashboard, demo, entry, hits, metrics, next_seq, push, redirect, report, steady_dispatcher,
};
use signpost_e2e::{Proc, client, config_file, eventually, eventually_some, metric, refused_url};
use signpost_shared::{BackendState, LoadReport, api};

/// A report of `id` whose application serves 200 requests/s, `errors` of
/// them failing, with a p90 of `p90_ms`.
fn app_report(id: &str, errors: f64, p90_ms: f64) -> Value {
    let mut r = report(id, &url(id), next_seq());
    r["rps"] = json!(200.0);
    r["error_rate"] = json!(errors);
    r["latency_p90_ms"] = json!(p90_ms);
    r
}

fn url(id: &str) -> String {
    format!("http://{id}.test")
}

/// Where [`hits`] sends a client of `id`.
fn page(id: &str) -> String {
    url(id) + "/page"
}

/// Pushes healthy reports of `ids` and waits until all are eligible.
async fn healthy(disp: &Proc, ids: &[&str]) {
    for id in ids {
        assert_eq!(push(disp, &app_report(id, 0.0, 20.0)).await, 200);
    }
    eventually("every backend is eligible", || async {
        dashboard(disp).await.dispatch.eligible >= ids.len()
    })
    .await;
}

/// Keeps pushing `report` of `bad` (and healthy reports of `good`) until
/// `bad` is ejected: the window fills with requests as time passes.
async fn until_ejected(disp: &Proc, bad: &str, errors: f64, p90_ms: f64, good: &[&str]) {
    eventually(&format!("{bad} is ejected"), || async {
        for id in good {
            push(disp, &app_report(id, 0.0, 20.0)).await;
        }
        push(disp, &app_report(bad, errors, p90_ms)).await;
        entry(disp, bad).await.map(|b| b.state) == Some(BackendState::Ejected)
    })
    .await;
}

#[tokio::test]
async fn a_backend_failing_a_fifth_of_its_requests_is_ejected_and_its_clients_move() {
    let disp = steady_dispatcher(&["--eject-min-requests", "20"]).await;
    healthy(&disp, &["web-1", "web-2", "web-3"]).await;
    assert!(hits(&disp, 30, &page("web-3")).await > 0);
    until_ejected(&disp, "web-3", 0.2, 20.0, &["web-1", "web-2"]).await;

    let view = entry(&disp, "web-3").await.unwrap();
    let reason = view.outlier.unwrap();
    assert!(reason.starts_with("error rate 20.0% over"), "{reason}");
    assert!(!view.eligible);
    assert_eq!(view.ejections_total, 1);
    assert_eq!(hits(&disp, 30, &page("web-3")).await, 0);
    let body = metrics(&disp).await;
    metric("signpost_ejections_total")
        .label("backend", "web-3")
        .value(1)
        .assert_in(&body);
    metric("signpost_backends")
        .label("state", "ejected")
        .value(1)
        .assert_in(&body);
    metric("signpost_backend_error_ratio")
        .label("backend", "web-1")
        .value(0)
        .assert_in(&body);
    metric("signpost_fail_open").value(0).assert_in(&body);
}

#[tokio::test]
async fn a_slow_backend_is_ejected_and_its_clients_move() {
    let disp = steady_dispatcher(&["--eject-latency", "300ms"]).await;
    healthy(&disp, &["web-1", "web-2"]).await;
    until_ejected(&disp, "web-2", 0.0, 450.0, &["web-1"]).await;
    let view = entry(&disp, "web-2").await.unwrap();
    assert_eq!(view.outlier.as_deref(), Some("p90 latency 450 ms"));
    assert_eq!(hits(&disp, 20, &page("web-2")).await, 0);
    assert_eq!(hits(&disp, 20, &page("web-1")).await, 20);
}

#[tokio::test]
async fn the_cap_holds_when_half_the_pool_goes_bad() {
    let disp = steady_dispatcher(&["--eject-min-requests", "20"]).await;
    let ids: Vec<String> = (0..10).map(|i| format!("web-{i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    healthy(&disp, &ids).await;
    let (bad, good) = ids.split_at(5);
    eventually("one of the five bad backends is ejected", || async {
        for id in good {
            push(&disp, &app_report(id, 0.0, 20.0)).await;
        }
        for id in bad {
            push(&disp, &app_report(id, 0.3, 20.0)).await;
        }
        let view = dashboard(&disp).await;
        let ejected = view
            .backends
            .iter()
            .filter(|b| b.state == BackendState::Ejected);
        ejected.count() == 1
    })
    .await;
    // More reports of the same do not eject a second: max(1, 10%) of ten.
    for _ in 0..5 {
        for id in bad {
            push(&disp, &app_report(id, 0.3, 20.0)).await;
        }
    }
    let view = dashboard(&disp).await;
    let states: Vec<BackendState> = view.backends.iter().map(|b| b.state).collect();
    let ejected = states.iter().filter(|s| **s == BackendState::Ejected);
    assert_eq!(ejected.count(), 1, "{states:?}");
    assert_eq!(view.dispatch.eligible, 9);
    assert!(!view.dispatch.fail_open);
    // The bad ones still serving are marked and weigh less.
    let serving_bad = (view.backends.iter())
        .find(|b| bad.contains(&b.id.as_str()) && b.eligible)
        .unwrap();
    assert!(serving_bad.outlier.is_some());
    assert!(serving_bad.effective_weight < 0.9, "{serving_bad:?}");
}

#[tokio::test]
async fn backups_take_over_when_every_primary_is_bad() {
    let file =
        config_file("[[backend]]\nid = \"spare\"\nurl = \"http://spare.test\"\nbackup = true\n");
    let path = file.path().to_str().unwrap();
    let disp = steady_dispatcher(&["--config", path, "--eject-latency", "300ms"]).await;
    assert_eq!(push(&disp, &app_report("spare", 0.0, 20.0)).await, 200);
    healthy(&disp, &["web-1", "web-2"]).await;
    assert_eq!(hits(&disp, 10, &page("spare")).await, 0);
    until_ejected(&disp, "web-1", 0.0, 900.0, &["spare"]).await;
    // The cap lets one of two primaries out; the other is bad too.
    assert_eq!(push(&disp, &app_report("web-2", 0.0, 900.0)).await, 200);
    eventually("the backup takes every client", || async {
        hits(&disp, 10, &page("spare")).await == 10
    })
    .await;
    assert!(!dashboard(&disp).await.dispatch.fail_open);
}

#[tokio::test]
async fn everything_bad_fails_open_and_says_so() {
    let disp = steady_dispatcher(&["--eject-latency", "300ms"]).await;
    healthy(&disp, &["web-1"]).await;
    until_ejected(&disp, "web-1", 0.0, 900.0, &[]).await;
    eventually("the dispatcher fails open", || async {
        dashboard(&disp).await.dispatch.fail_open
    })
    .await;
    assert_eq!(redirect(&disp, "/x").await, Ok(url("web-1") + "/x"));
    metric("signpost_fail_open")
        .value(1)
        .assert_in(&metrics(&disp).await);
}

#[tokio::test]
async fn an_ejected_backend_returns_through_slow_start() {
    let args = [
        "--eject-latency",
        "300ms",
        "--eject-time",
        "1s",
        "--slow-start",
        "3s",
    ];
    let disp = steady_dispatcher(&args).await;
    healthy(&disp, &["web-1", "web-2"]).await;
    until_ejected(&disp, "web-2", 0.0, 900.0, &["web-1"]).await;
    // It is well again; reports during the ejection do not count.
    let back = eventually_some("web-2 returns", || async {
        push(&disp, &app_report("web-1", 0.0, 20.0)).await;
        push(&disp, &app_report("web-2", 0.0, 20.0)).await;
        entry(&disp, "web-2")
            .await
            .filter(|b| b.state == BackendState::Ready && b.eligible)
    })
    .await;
    assert!(back.effective_weight < 1.0, "slow start ramps it: {back:?}");
    assert!(back.outlier.is_none());
    eventually("web-2 takes clients again", || async {
        hits(&disp, 20, &page("web-2")).await > 0
    })
    .await;
}

/// The agent turns its `--backend-health` probe into the report's
/// figures; without a source it sends none, as older agents did.
#[tokio::test]
async fn the_agents_probe_window_feeds_the_report() {
    // An application that refuses every probe: a machine busy with other
    // work can time out a passing probe, never pass a refused one.
    let probe = refused_url();
    let node = agent(&["--backend-health", &probe]).await;
    let report = eventually_some("the probe's figures are reported", || async {
        let report = load(&node).await;
        report.latency_p90_ms.is_some().then_some(report)
    })
    .await;
    assert_eq!(report.error_rate, Some(1.0));
    assert!(report.rps.is_some_and(|rps| rps > 0.0), "{report:?}");
    assert!(!report.healthy);

    let bare = agent(&[]).await;
    let raw: Value = client()
        .get(bare.url("agent") + api::LOAD)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in ["rps", "error_rate", "latency_p90_ms"] {
        assert!(raw.get(field).is_none(), "{field} in {raw}");
    }
}

async fn load(node: &Proc) -> LoadReport {
    let response = client().get(node.url("agent") + api::LOAD).send().await;
    let body = response.expect("GET /load").bytes().await.expect("body");
    LoadReport::from_json(&body).expect("a valid report")
}

/// An nginx `combined` line with `$request_time`.
fn nginx_line(status: u16, seconds: f64) -> String {
    format!(
        "127.0.0.1 - - [03/Dec/2026:20:00:00 +0000] \"GET /p HTTP/1.1\" {status} 12 \"-\" \"e2e\" {seconds:.3}\n"
    )
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write as _;
    let mut file = (std::fs::OpenOptions::new().create(true).append(true))
        .open(path)
        .expect("open the access log");
    file.write_all(text.as_bytes())
        .expect("append to the access log");
}

/// The agent tails the application's access log and follows it when
/// logrotate moves it aside: the new file's 5xx and slow answers show.
#[tokio::test]
async fn the_access_log_source_follows_a_rotated_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("access.log");
    std::fs::write(&log, nginx_line(500, 9.0)).expect("create the log");
    let path = log.to_str().expect("UTF-8 path");
    let node = agent(&["--app-log", path, "--app-log-format", "nginx"]).await;
    append(&log, &nginx_line(200, 0.010).repeat(20));
    let before = eventually_some("the log's figures are reported", || async {
        let report = load(&node).await;
        report.latency_p90_ms.is_some().then_some(report)
    })
    .await;
    // The line written before the agent started is history, not news.
    assert_eq!(before.error_rate, Some(0.0), "{before:?}");
    assert!(
        before.latency_p90_ms.is_some_and(|p90| p90 < 20.0),
        "{before:?}"
    );

    std::fs::rename(&log, dir.path().join("access.log.1")).expect("rotate");
    append(&log, &nginx_line(503, 2.0).repeat(30));
    let after = eventually_some("the rotated-in file is read", || async {
        let report = load(&node).await;
        report.error_rate.filter(|rate| *rate > 0.5).map(|_| report)
    })
    .await;
    assert!(
        after.latency_p90_ms.is_some_and(|p90| p90 >= 2000.0),
        "{after:?}"
    );
    assert!(after.rps.is_some_and(|rps| rps > 0.0));
}

/// The demo's knob slows a backend down; clients that follow their
/// redirects make it slow in its own access log, its agent reports the p90,
/// and the dispatcher ejects it.
#[tokio::test]
async fn the_demo_knob_gets_a_backend_ejected() {
    let demo = demo().await;
    let slow = eventually_some("the demo's agents report", || async {
        entry(&demo, "backend-1").await.filter(|b| b.eligible)
    })
    .await;
    let knob = format!("{}/demo/knob?latency_ms=700", slow.url);
    let answer = client().post(&knob).send().await.expect("POST the knob");
    assert_eq!(answer.status(), 200);
    eventually("backend-1 is ejected for its latency", || async {
        if let Ok(location) = redirect(&demo, "/x").await {
            client()
                .get(&location)
                .send()
                .await
                .expect("follow the redirect");
        }
        let view = entry(&demo, "backend-1").await;
        view.is_some_and(|b| {
            b.state == BackendState::Ejected
                && b.outlier.is_some_and(|why| why.starts_with("p90 latency"))
        })
    })
    .await;
}

/// The application posts its own figures to its agent (`POST
/// /v1/app-report`): its utilisation becomes the node's CPU and its errors
/// get the node ejected, through the agent's pushes to a real dispatcher.
#[tokio::test]
async fn the_applications_own_report_gets_its_node_ejected() {
    let disp = steady_dispatcher(&["--eject-min-requests", "20"]).await;
    healthy(&disp, &["web-1", "web-2"]).await;
    let node = agent(&[
        "--dispatcher",
        &disp.url("control"),
        "--advertise",
        "http://127.0.0.1:9",
    ])
    .await;
    let post = json!({ "application_utilization": 0.75, "rps": 200, "eps": 40 });
    eventually(
        "the node reporting its application's errors is ejected",
        || async {
            // Healthy peers stay fresh; the application keeps posting, as it
            // must (a post counts for three agent intervals).
            for id in ["web-1", "web-2"] {
                push(&disp, &app_report(id, 0.0, 20.0)).await;
            }
            let answer = client()
                .post(node.url("agent") + api::APP_REPORT)
                .json(&post)
                .send()
                .await
                .expect("POST /v1/app-report");
            assert_eq!(answer.status(), 200);
            entry(&disp, "e2e-node").await.map(|b| b.state) == Some(BackendState::Ejected)
        },
    )
    .await;
    let ejected = entry(&disp, "e2e-node").await.expect("listed");
    let reason = ejected.outlier.expect("a reason");
    assert!(reason.contains("error rate"), "{reason}");
    let report = load(&node).await;
    assert_eq!((report.cpu_percent, report.error_rate), (75.0, Some(0.2)));
}
