//! `/metrics` of both binaries as Prometheus' own checker reads it: every
//! family has help text, counters exist from the start, the content type is
//! what the body is (OpenMetrics when the scraper asks for it), and a
//! histogram's `+Inf` bucket equals its `_count`.
//!
//! `promtool` is Debian's `prometheus` package, which `.ci/run` installs. A
//! machine without it fails these scenarios rather than skipping them.

use std::process::Stdio;

use signpost_e2e::{Proc, client, eventually, metric};
use signpost_shared::api;
use signpost_shared::exposition::{OPENMETRICS, PROMETHEUS_TEXT};
use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

use signpost_e2e::dispatcher::{push, report, steady_dispatcher};

/// What Prometheus 3 sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
    application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Runs `promtool check metrics` on `body` and panics with its output
/// unless it finds nothing to say.
async fn promtool_accepts(what: &str, body: &str) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "`promtool` is not installed: install Debian's prometheus package \
             (`apt-get install prometheus`), as .ci/run does"
        ),
        spawned => spawned.expect("start promtool"),
    };
    let mut stdin = child.stdin.take().expect("promtool's stdin");
    stdin
        .write_all(body.as_bytes())
        .await
        .expect("feed promtool");
    drop(stdin);
    let output = child.wait_with_output().await.expect("wait for promtool");
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool check metrics on {what} ({}):\n{said}\n--- body:\n{body}",
        output.status
    );
}

/// The metric the KEDA example in deploy/ scales on: the `signpost_...`
/// name in its Prometheus trigger's query.
fn autoscaling_metric() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/kubernetes/autoscaling/scaledobject.yaml"
    );
    let text = std::fs::read_to_string(path).expect("read the autoscaling example");
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("parse the autoscaling example");
    let query = docs[0]["spec"]["triggers"][0]["metadata"]["query"]
        .as_str()
        .expect("the trigger's query");
    let start = query
        .find("signpost_")
        .expect("a signpost metric in the query");
    query[start..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .expect("a metric name")
        .to_owned()
}

/// `GET url` with `accept`, as (content type, body).
async fn scrape(url: &str, accept: Option<&str>) -> (String, String) {
    let mut request = client().get(url);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ASCII content type")
        .to_owned();
    (content_type, response.text().await.expect("read /metrics"))
}

#[tokio::test]
async fn the_dispatchers_metrics_pass_promtool_from_the_start_and_under_traffic() {
    let disp = steady_dispatcher(&[]).await;
    let url = disp.url("control") + api::METRICS;

    let (content_type, fresh) = scrape(&url, None).await;
    assert_eq!(content_type, PROMETHEUS_TEXT);
    promtool_accepts("a fresh dispatcher", &fresh).await;
    for counter in [
        "signpost_reports_accepted_total",
        "signpost_agent_polls_failed_total",
        "signpost_no_backend_total",
    ] {
        metric(counter).value(0).assert_in(&fresh);
    }
    metric("signpost_reports_rejected_total")
        .label("reason", "malformed")
        .value(0)
        .assert_in(&fresh);
    metric("signpost_config_reloads_total")
        .label("outcome", "failure")
        .value(0)
        .assert_in(&fresh);

    assert_eq!(
        push(&disp, &report("web-1", "http://127.0.0.1:8001", 1)).await,
        200
    );
    eventually("web-1 takes clients", || async {
        client()
            .get(disp.url("public") + "/")
            .send()
            .await
            .is_ok_and(|r| r.status() == 302)
    })
    .await;
    // Picks are timed on one request in 16: enough requests that some are,
    // on one kept-alive connection.
    let public = client();
    for _ in 0..400 {
        public
            .get(disp.url("public") + "/x")
            .send()
            .await
            .expect("GET public");
    }

    // A fresh report, so the node is eligible whatever the machine's pace.
    assert_eq!(
        push(&disp, &report("web-1", "http://127.0.0.1:8001", 2)).await,
        200
    );
    let (content_type, busy) = scrape(&url, None).await;
    assert_eq!(content_type, PROMETHEUS_TEXT);
    promtool_accepts("a dispatcher that redirected", &busy).await;
    let count = metric("signpost_pick_duration_seconds_count")
        .find(&busy)
        .expect("the pick histogram's count");
    let inf = metric("signpost_pick_duration_seconds_bucket")
        .label("le", "+Inf")
        .find(&busy)
        .expect("the pick histogram's +Inf bucket");
    assert!(count > 0.0, "no pick was timed:\n{busy}");
    assert_eq!(inf, count, "+Inf bucket is not _count:\n{busy}");
    metric("signpost_backend_cpu_percent")
        .label("backend", "web-1")
        .value(10.0)
        .assert_in(&busy);
    metric("signpost_pool_primaries").value(1).assert_in(&busy);
    metric("signpost_pool_utilisation_mean")
        .find(&busy)
        .expect("pool utilisation");

    let autoscaled = autoscaling_metric();
    assert!(
        busy.contains(&format!("# TYPE {autoscaled} gauge")),
        "the autoscaling example queries {autoscaled}, which is not exported:\n{busy}"
    );

    let (content_type, openmetrics) = scrape(&url, Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(content_type, OPENMETRICS);
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    assert!(
        openmetrics.contains("# TYPE signpost_redirects counter"),
        "{openmetrics}"
    );
}

#[tokio::test]
async fn the_agents_metrics_pass_promtool() {
    let agent = Proc::command("signpost-agent")
        .args(&[
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "200ms",
            "--node-id",
            "e2e-node",
        ])
        .listeners(1)
        .spawn()
        .await;
    let url = agent.url("agent") + api::METRICS;
    let (content_type, body) = scrape(&url, None).await;
    assert_eq!(content_type, PROMETHEUS_TEXT);
    promtool_accepts("an agent", &body).await;
    metric("signpost_agent_state")
        .label("state", "ready")
        .value(1)
        .assert_in(&body);
    metric("signpost_agent_cpu_percent")
        .find(&body)
        .expect("the agent's CPU gauge");
    let (content_type, openmetrics) = scrape(&url, Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(content_type, OPENMETRICS);
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
}
