//! Secure by default (issue #15), with the real binaries: a control
//! listener beyond loopback refuses to start without strong tokens, the
//! allow-list stops an open redirect, the node cap holds, field limits and
//! duplicate keys are refused, and every refusal is counted and logged
//! with the peer, but not once per request of a flood.
//!
//! Nothing here binds beyond loopback: the refusals happen before any
//! bind, and the settings that would open the listener are checked with
//! `check-config`, which binds nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_e2e::{Proc, Stub, client, config_file, eventually, metric};
use signpost_shared::api;

const BIN: &str = "signpost-dispatcher";
const STRONG: &str = "0123456789abcdef0123456789abcdef";
const ADMIN: &str = "fedcba9876543210fedcba9876543210";

/// A dispatcher on loopback with `args`.
async fn dispatcher(args: &[&str]) -> Proc {
    signpost_e2e::dispatcher::loopback_dispatcher(args).await
}

/// A report from `id` sending clients to `url`.
fn report(id: &str, url: &str) -> Value {
    json!({ "node_id": id, "url": url, "cpu_percent": 10.0, "mem_percent": 20.0,
            "seq": 1, "agent_version": "e2e" })
}

/// POSTs `body` (raw JSON) to `/v1/report`: the status and the error body.
async fn push_raw(disp: &Proc, body: String, token: Option<&str>) -> (StatusCode, String) {
    let mut request = client()
        .post(disp.url("control") + api::REPORT)
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST /v1/report");
    (response.status(), response.text().await.unwrap_or_default())
}

async fn push(disp: &Proc, body: &Value) -> (StatusCode, String) {
    push_raw(disp, body.to_string(), None).await
}

async fn metrics(disp: &Proc) -> String {
    let response = client()
        .get(disp.url("control") + api::METRICS)
        .send()
        .await;
    response
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics body")
}

/// `signpost_control_refused_total{endpoint,reason}`.
fn refused(endpoint: &str, reason: &str) -> signpost_e2e::MetricMatch {
    metric("signpost_control_refused_total")
        .label("endpoint", endpoint)
        .label("reason", reason)
}

/// Runs `bin` with `args` to completion, expecting exit `code` and every
/// one of `said` on stderr.
async fn exits(bin: &str, args: &[&str], code: i32, said: &[&str]) -> String {
    let out = Proc::command(bin).args(args).output().await;
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", out.stderr);
    for want in said {
        assert!(
            out.stderr.contains(want),
            "{args:?}: {want:?} not in\n{}",
            out.stderr
        );
    }
    out.stderr
}

#[tokio::test]
async fn a_control_listener_beyond_loopback_needs_two_strong_tokens() {
    let open = ["--listen", "127.0.0.1:0", "--control-listen", "0.0.0.0:0"];
    let how = "make one with `openssl rand -hex 32`";
    exits(
        BIN,
        &open,
        64,
        &[
            "is not loopback, so agents must push with a token",
            how,
            "so the admin API needs a token",
            "--insecure-open-control",
        ],
    )
    .await;
    let short = [
        &open[..],
        &["--token", "short-token", "--admin-token", ADMIN],
    ]
    .concat();
    exits(
        BIN,
        &short,
        64,
        &["--token (SIGNPOST_TOKEN): must be at least 16 bytes", how],
    )
    .await;
    let same = [&open[..], &["--token", STRONG, "--admin-token", STRONG]].concat();
    exits(
        BIN,
        &same,
        64,
        &["--admin-token (SIGNPOST_ADMIN_TOKEN): equals the push token"],
    )
    .await;
    // The variable is read the same way as the flag.
    let out = Proc::command(BIN)
        .args(&["--listen", "127.0.0.1:0"])
        .env("SIGNPOST_CONTROL_LISTEN", "[::]:0")
        .output()
        .await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    // A placeholder from deploy/ is refused even on loopback.
    exits(
        BIN,
        &["--token", "demo-token-change-me"],
        64,
        &["is a placeholder"],
    )
    .await;

    // Settings that open it pass check-config (which binds nothing), with a
    // warning for what stays open.
    let tokens = format!("control_listen = \"0.0.0.0:9100\"\ntoken = \"{STRONG}\"\n");
    let file = config_file(&format!("{tokens}admin_token = \"{ADMIN}\""));
    let path = file.path().to_str().expect("UTF-8 path");
    exits(
        BIN,
        &["check-config", path],
        0,
        &["warning: no --allow-backend"],
    )
    .await;
    let file = config_file(&format!(
        "{tokens}admin_uses_push_token = true\nallow_backend = [\"10.0.0.0/8\"]"
    ));
    let path = file.path().to_str().expect("UTF-8 path");
    let said = exits(BIN, &["check-config", path], 0, &[]).await;
    assert!(!said.contains("warning"), "{said}");
    let file = config_file("control_listen = \"0.0.0.0:9100\"\ninsecure_open_control = true");
    let path = file.path().to_str().expect("UTF-8 path");
    exits(
        BIN,
        &["check-config", path],
        0,
        &["warning: --insecure-open-control"],
    )
    .await;
}

#[tokio::test]
async fn an_agent_listening_beyond_loopback_refuses_a_weak_token() {
    let args = [
        "--listen",
        "0.0.0.0:0",
        "--node-id",
        "n",
        "--token",
        "short",
    ];
    exits(
        "signpost-agent",
        &args,
        64,
        &["at least 16 bytes", "openssl rand -hex 32"],
    )
    .await;
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--node-id",
        "n",
        "--token",
        "x-change-me-x",
    ];
    exits("signpost-agent", &args, 64, &["placeholder"]).await;
}

#[tokio::test]
async fn the_allow_list_stops_an_open_redirect_from_push_and_poll() {
    let polled = Stub::start().await;
    polled.respond(200, &report("polled", "https://evil.example").to_string());
    let trusted = Stub::start().await;
    trusted.respond(200, &report("trusted", "https://evil.example").to_string());
    let file = config_file(&format!(
        "[[backend]]\nid = \"trusted\"\nurl = \"http://trusted.example\"\nagent = \"{}\"",
        trusted.url()
    ));
    let disp = dispatcher(&[
        "--config",
        file.path().to_str().expect("UTF-8 path"),
        "--agent",
        &polled.url(),
        "--poll-interval",
        "100ms",
        "--stale-after",
        "10s",
        "--allow-backend",
        "127.0.0.0/8",
        "--allow-backend",
        "*.good.example",
    ])
    .await;

    let (status, body) = push(&disp, &report("evil", "https://evil.example")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("is not allowed by --allow-backend"), "{body}");
    let (status, _) = push(&disp, &report("local", "http://127.0.0.1:9")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = push(&disp, &report("named", "https://a.good.example")).await;
    assert_eq!(status, StatusCode::OK);

    eventually(
        "the polled report refused, the trusted one taken",
        || async {
            let m = metrics(&disp).await;
            metric("signpost_reports_rejected_total")
                .label("reason", "backend_not_allowed")
                .find(&m)
                .is_some_and(|n| n >= 2.0)
                && metric("signpost_backends")
                    .label("state", "ready")
                    .value(3)
                    .is_in(&m)
        },
    )
    .await;
    let m = metrics(&disp).await;
    refused("report", "backend_not_allowed")
        .value(1)
        .assert_in(&m);
    let view: Value = client()
        .get(disp.url("control") + api::DASHBOARD)
        .send()
        .await
        .expect("dashboard")
        .json()
        .await
        .expect("dashboard JSON");
    let ids: Vec<&str> = view["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .map(|b| b["id"].as_str().expect("id"))
        .collect();
    assert!(
        !ids.contains(&"evil") && !ids.contains(&"polled"),
        "{ids:?}"
    );
    assert!(ids.contains(&"trusted"), "{ids:?}");
    assert!(
        disp.stderr()
            .contains("url \"https://evil.example\" is not allowed"),
        "{}",
        disp.stderr()
    );
}

#[tokio::test]
async fn the_node_cap_refuses_new_nodes_and_keeps_known_ones() {
    let disp = dispatcher(&["--max-nodes", "3", "--stale-after", "10s"]).await;
    for id in ["n1", "n2", "n3"] {
        assert_eq!(
            push(&disp, &report(id, "http://127.0.0.1:9")).await.0,
            StatusCode::OK
        );
    }
    let (status, body) = push(&disp, &report("n4", "http://127.0.0.1:9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.contains("--max-nodes"), "{body}");
    let mut again = report("n1", "http://127.0.0.1:9");
    again["seq"] = json!(2);
    assert_eq!(
        push(&disp, &again).await.0,
        StatusCode::OK,
        "a known node is never refused"
    );
    let m = metrics(&disp).await;
    refused("report", "too_many_nodes").value(1).assert_in(&m);
    metric("signpost_reports_rejected_total")
        .label("reason", "too_many_nodes")
        .value(1)
        .assert_in(&m);
    metric("signpost_backends")
        .label("state", "ready")
        .value(3)
        .assert_in(&m);
}

#[tokio::test]
async fn long_fields_and_repeated_keys_are_refused() {
    let disp = dispatcher(&[]).await;
    let mut long = report("n", "http://127.0.0.1:9");
    long["agent_version"] = json!("v".repeat(60_000));
    let (status, body) = push(&disp, &long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("agent_version must be at most 64 bytes long, got 60000"),
        "{body}"
    );
    let mut long = report(&"n".repeat(129), "http://127.0.0.1:9");
    long["seq"] = json!(1);
    let (status, body) = push(&disp, &long).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("node_id must be at most 128 bytes"), "{body}");
    let twice = r#"{"node_id":"n","url":"http://127.0.0.1:9","url":"https://evil.example","cpu_percent":1,"mem_percent":2}"#;
    let (status, body) = push_raw(&disp, twice.to_owned(), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains(r#"duplicate key \"url\""#), "{body}");
    let m = metrics(&disp).await;
    refused("report", "too_long").value(2).assert_in(&m);
    refused("report", "duplicate_key").value(1).assert_in(&m);
    metric("signpost_reports_rejected_total")
        .label("reason", "duplicate_key")
        .value(1)
        .assert_in(&m);
}

#[tokio::test]
async fn refusals_are_counted_and_logged_with_the_peer_and_overrides_by_their_word() {
    let disp = dispatcher(&[
        "--token",
        STRONG,
        "--admin-token",
        ADMIN,
        "--stale-after",
        "10s",
    ])
    .await;
    let body = report("n1", "http://127.0.0.1:9").to_string();
    assert_eq!(
        push_raw(&disp, body.clone(), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        push_raw(&disp, body.clone(), Some("wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(push_raw(&disp, body, Some(STRONG)).await.0, StatusCode::OK);
    let admin = |token: &'static str| {
        let url = disp.url("control") + api::BACKENDS + "/n1/drain";
        async move {
            client()
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("admin")
                .status()
        }
    };
    assert_eq!(
        admin(STRONG).await,
        StatusCode::UNAUTHORIZED,
        "the push token is not the admin's"
    );
    assert_eq!(admin(ADMIN).await, StatusCode::OK);

    let m = metrics(&disp).await;
    refused("report", "unauthorized").value(2).assert_in(&m);
    refused("admin", "unauthorized").value(1).assert_in(&m);
    eventually("the refusals and the override logged", || async {
        let log = disp.stderr();
        log.matches("control request refused").count() == 3
            && log.contains("peer=127.0.0.1:")
            && log.contains("action=drain")
    })
    .await;
    let log = disp.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("admin override"))
        .expect("override line");
    assert!(
        line.contains("peer=127.0.0.1:") && line.contains("backend=n1"),
        "{line}"
    );
    assert!(!log.contains("Draining"), "no Rust debug text: {log}");
}

#[tokio::test]
async fn a_flood_of_bad_pushes_is_counted_in_full_but_logged_in_part() {
    let disp = dispatcher(&["--token", STRONG]).await;
    const FLOOD: usize = 300;
    let url = disp.url("control") + api::REPORT;
    let started = tokio::time::Instant::now();
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..FLOOD {
        let request = client().post(&url).body("{}");
        flood.spawn(async move { request.send().await.expect("POST").status() });
    }
    while let Some(status) = flood.join_next().await {
        assert_eq!(status.expect("join"), StatusCode::UNAUTHORIZED);
    }
    refused("report", "unauthorized")
        .value(FLOOD as f64)
        .assert_in(&metrics(&disp).await);
    // A later refusal says how many lines were held back.
    eventually("a line reporting the suppressed ones", || async {
        push_raw(&disp, "{}".to_owned(), None).await;
        let log = disp.stderr();
        log.lines()
            .any(|l| l.contains("suppressed=") && !l.contains("suppressed=0"))
    })
    .await;
    // The lines written are the burst plus what the budget refilled (ten
    // a second) meanwhile, whatever this machine's pace.
    let took = started.elapsed().as_secs_f64();
    let lines = disp.stderr().matches("control request refused").count();
    let budget = 10.0 + 10.0 * (took + 1.0);
    assert!(
        (lines as f64) <= budget,
        "{lines} lines for {FLOOD} refusals in {took:.1}s"
    );
}
