//! `signpost-dispatcher` as an operator runs it: ingest by poll and push,
//! staleness, backups and draining, the redirect itself, the control API,
//! signals and the demo.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_e2e::{
    Proc, Stub, client, config_file, cut_off, eventually, eventually_within, metric, refused_url,
    scaled,
};
use signpost_shared::{BackendState, DashboardView, api};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = "signpost-dispatcher";
const STALE: Duration = Duration::from_millis(400);

/// A dispatcher on ephemeral ports with short intervals, for scenarios
/// about staleness, plus `args`.
pub(crate) async fn dispatcher(args: &[&str]) -> Proc {
    dispatcher_timed("100ms", "400ms", args).await
}

/// A dispatcher whose backends stay fresh for 10 s, for scenarios that
/// must not race staleness on a busy machine.
pub(crate) async fn steady_dispatcher(args: &[&str]) -> Proc {
    dispatcher_timed("1s", "10s", args).await
}

pub(crate) async fn dispatcher_timed(poll: &str, stale: &str, args: &[&str]) -> Proc {
    let base = [
        "--listen",
        "127.0.0.1:0",
        "--control-listen",
        "127.0.0.1:0",
        "--poll-interval",
        poll,
        "--stale-after",
        stale,
    ];
    Proc::command(BIN)
        .args(&base)
        .args(args)
        .listeners(2)
        .spawn()
        .await
}

/// A full report for `id`, whose clients go to `url`.
pub(crate) fn report(id: &str, url: &str, seq: u64) -> Value {
    json!({
        "node_id": id, "url": url, "cpu_percent": 10.0, "mem_percent": 20.0,
        "load1": 0.1, "cores": 2, "connections": 3, "weight": 1.0,
        "state": "ready", "healthy": true, "seq": seq,
        "sampled_at_ms": 1_763_700_000_000u64 + seq, "agent_version": "e2e"
    })
}

pub(crate) async fn push_with(
    disp: &Proc,
    body: &Value,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = client().post(disp.url("control") + api::REPORT).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST /v1/report");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn push(disp: &Proc, body: &Value) -> StatusCode {
    push_with(disp, body, None).await.0
}

/// `GET` of `path` on the control listener.
pub(crate) async fn control(disp: &Proc, path: &str) -> reqwest::Response {
    let url = disp.url("control") + path;
    let response = client().get(&url).send().await;
    response.unwrap_or_else(|err| panic!("GET {url}: {err}"))
}

pub(crate) async fn dashboard(disp: &Proc) -> DashboardView {
    control(disp, api::DASHBOARD)
        .await
        .json()
        .await
        .expect("dashboard JSON")
}

pub(crate) async fn state_of(disp: &Proc, id: &str) -> Option<BackendState> {
    let view = dashboard(disp).await;
    view.backends.iter().find(|b| b.id == id).map(|b| b.state)
}

/// The `Location` of one GET to `path`, or the status if it is not a 302.
pub(crate) async fn redirect(disp: &Proc, path: &str) -> Result<String, StatusCode> {
    let response = client()
        .get(disp.url("public") + path)
        .send()
        .await
        .expect("GET public");
    match response.status() {
        StatusCode::FOUND => Ok(response.headers()["location"]
            .to_str()
            .expect("ASCII location")
            .to_owned()),
        other => Err(other),
    }
}

/// Asserts that `n` fresh requests for `/` all go to `location`.
async fn every_redirect_goes_to(disp: &Proc, n: usize, location: &str) {
    for _ in 0..n {
        assert_eq!(redirect(disp, "/").await.as_deref(), Ok(location));
    }
}

pub(crate) async fn metrics(disp: &Proc) -> String {
    control(disp, api::METRICS)
        .await
        .text()
        .await
        .expect("read /metrics")
}

/// Sends raw bytes to the public listener and returns the raw response.
async fn raw(disp: &Proc, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(disp.addr("public"))
        .await
        .expect("connect public");
    stream.write_all(request).await.expect("send raw request");
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        scaled(Duration::from_secs(5)),
        stream.read_to_end(&mut response),
    )
    .await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn pushed_backend_receives_redirects_until_it_goes_stale() {
    let disp = dispatcher(&[]).await;
    assert_eq!(
        redirect(&disp, "/").await,
        Err(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(
        push(&disp, &report("web-1", "http://127.0.0.1:8001", 1)).await,
        200
    );
    let location = signpost_e2e::eventually_some("web-1 in the pool", || async {
        redirect(&disp, "/a/b?c=1").await.ok()
    })
    .await;
    assert_eq!(location, "http://127.0.0.1:8001/a/b?c=1");

    // No further report: stale within stale_after (plus a rebuild).
    eventually_within("web-1 goes stale", scaled(STALE * 3), || async {
        (state_of(&disp, "web-1").await == Some(BackendState::Stale)).then_some(())
    })
    .await;
    let response = client().get(disp.url("public") + "/").send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    // Rejoin.
    push(&disp, &report("web-1", "http://127.0.0.1:8001", 2)).await;
    eventually("web-1 rejoins", || async {
        redirect(&disp, "/").await.is_ok()
    })
    .await;
}

#[tokio::test]
async fn polled_agents_that_refuse_hang_or_lie_go_stale_and_healthy_ones_rejoin() {
    let healthy = Stub::start().await;
    healthy.respond(200, &report("good", "http://127.0.0.1:9001", 0).to_string());
    let garbage = Stub::start().await;
    garbage.respond(200, &report("liar", "http://127.0.0.1:9002", 0).to_string());
    // Accepts connections and never answers.
    let hanging = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    let refused = refused_url();
    let disp = dispatcher(&[
        "--agent",
        &healthy.url(),
        "--agent",
        &garbage.url(),
        "--agent",
        &hanging_url,
        "--agent",
        &refused,
    ])
    .await;
    eventually("both answering agents are in the pool", || async {
        dashboard(&disp).await.eligible == 2
    })
    .await;

    // The liar starts sending garbage; the healthy agent dies. Both are
    // stale one stale_after after their last good poll (exactness is the
    // registry's unit tests' job); the bound leaves room for a busy machine.
    garbage.respond(200, "{\"cpu_percent\": \"lots\"");
    healthy.respond(500, "");
    eventually_within(
        "both go stale soon after stale_after",
        scaled(STALE * 3),
        || async { (dashboard(&disp).await.eligible == 0).then_some(()) },
    )
    .await;
    let body = metrics(&disp).await;
    assert!(
        metric("signpost_reports_rejected_total")
            .label("reason", "malformed")
            .is_in(&body),
        "{body}"
    );
    assert!(
        metric("signpost_agent_polls_failed_total")
            .find(&body)
            .unwrap_or(0.0)
            > 0.0
    );

    // The healthy agent comes back: it rejoins despite its backoff.
    healthy.respond(200, &report("good", "http://127.0.0.1:9001", 0).to_string());
    eventually_within("the recovered agent rejoins", scaled(STALE * 6), || async {
        (redirect(&disp, "/").await.ok()? == "http://127.0.0.1:9001/").then_some(())
    })
    .await;
    // The hanging agent never delayed anything: the pool kept moving.
    drop(hanging);
}

#[tokio::test]
async fn backups_serve_only_while_no_primary_is_eligible() {
    let config = config_file(
        "[[backend]]\nid = \"primary\"\nurl = \"http://127.0.0.1:7001\"\n\n\
         [[backend]]\nid = \"spare\"\nurl = \"http://127.0.0.1:7002\"\nbackup = true\n",
    );
    let disp = steady_dispatcher(&["--config", config.path().to_str().unwrap()]).await;
    // Reports without a url: the config names it.
    let mut spare = report("spare", "", 1);
    spare.as_object_mut().unwrap().remove("url");
    assert_eq!(push(&disp, &spare).await, 200);
    eventually("the backup serves while the primary is silent", || async {
        redirect(&disp, "/").await.as_deref() == Ok("http://127.0.0.1:7002/")
    })
    .await;
    let mut primary = report("primary", "", 1);
    primary.as_object_mut().unwrap().remove("url");
    push(&disp, &primary).await;
    eventually("the primary takes over", || async {
        redirect(&disp, "/").await.as_deref() == Ok("http://127.0.0.1:7001/")
    })
    .await;
    // Keep the spare fresh while checking that it gets nothing.
    spare["seq"] = json!(2);
    spare["sampled_at_ms"] = json!(1_763_700_000_002u64);
    push(&disp, &spare).await;
    every_redirect_goes_to(&disp, 20, "http://127.0.0.1:7001/").await;
}

#[tokio::test]
async fn draining_and_unhealthy_nodes_get_no_new_clients() {
    let disp = steady_dispatcher(&[]).await;
    push(&disp, &report("stay", "http://127.0.0.1:7101", 1)).await;
    let mut leaving = report("leaving", "http://127.0.0.1:7102", 1);
    leaving["state"] = json!("draining");
    push(&disp, &leaving).await;
    let mut sick = report("sick", "http://127.0.0.1:7103", 1);
    sick["healthy"] = json!(false);
    push(&disp, &sick).await;
    eventually("states are visible", || async {
        state_of(&disp, "sick").await == Some(BackendState::Down)
            && state_of(&disp, "leaving").await == Some(BackendState::Draining)
    })
    .await;
    every_redirect_goes_to(&disp, 30, "http://127.0.0.1:7101/").await;
}

#[tokio::test]
async fn push_requires_the_token_and_refuses_bad_reports_without_touching_the_pool() {
    let disp = steady_dispatcher(&["--token", "s3cret"]).await;
    let good = report("web-1", "http://127.0.0.1:7201", 5);
    let (status, _) = push_with(&disp, &good, None).await;
    assert_eq!(status, 401);
    let (status, _) = push_with(&disp, &good, Some("wrong")).await;
    assert_eq!(status, 401);
    let (status, body) = push_with(&disp, &good, Some("s3cret")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );

    // Invalid reports: 400 with a reason naming the field.
    let cases = [
        (
            "cpu_percent",
            json!(150.0),
            "cpu_percent must be between 0 and 100",
        ),
        (
            "mem_percent",
            json!(-3),
            "mem_percent must be between 0 and 100",
        ),
        ("url", json!("ftp://x"), "must use http or https"),
        ("url", json!(""), "must not be empty"),
        // Once accepted, and every client sent to it got a 400: a URL is
        // written into `Location` as sent, so it must be sendable as is.
        (
            "url",
            json!("http://127.0.0.1:7201/a\nb"),
            "only URI characters",
        ),
        ("state", json!("asleep"), "unknown variant"),
    ];
    for (field, value, reason) in cases {
        let mut bad = report("web-1", "http://127.0.0.1:7201", 6);
        bad[field] = value;
        let (status, body) = push_with(&disp, &bad, Some("s3cret")).await;
        assert_eq!(status, 400, "{field}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "{field}: {error}");
    }
    // Over 64 KiB: 413.
    let mut huge = report("web-1", "http://127.0.0.1:7201", 6);
    huge["agent_version"] = json!("x".repeat(70 * 1024));
    assert_eq!(push_with(&disp, &huge, Some("s3cret")).await.0, 413);
    // Pushes skip the router; every other method still meets it.
    assert_eq!(control(&disp, api::REPORT).await.status(), 405);
    // A replay is ignored, not an error.
    let (status, body) = push_with(&disp, &good, Some("s3cret")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ignored"))
    );

    // The pool still holds exactly the good report.
    let view = dashboard(&disp).await;
    assert_eq!(view.backends.len(), 1);
    assert_eq!(view.backends[0].cpu_percent, 10.0);
    assert_eq!(view.backends[0].url, "http://127.0.0.1:7201");
    let body = metrics(&disp).await;
    metric("signpost_reports_rejected_total")
        .label("reason", "percent_out_of_range")
        .value(2)
        .assert_in(&body);
    metric("signpost_reports_rejected_total")
        .label("reason", "url")
        .value(3)
        .assert_in(&body);
    metric("signpost_reports_rejected_total")
        .label("reason", "too_large")
        .value(1)
        .assert_in(&body);
    metric("signpost_reports_rejected_total")
        .label("reason", "replay")
        .value(1)
        .assert_in(&body);
    metric("signpost_reports_accepted_total")
        .value(1)
        .assert_in(&body);
}

/// A steady dispatcher whose one backend, `web-1` at `url`, is in the
/// pool already.
async fn serving_web_1(url: &str) -> Proc {
    let disp = steady_dispatcher(&[]).await;
    push(&disp, &report("web-1", url, 1)).await;
    eventually("web-1 in the pool", || async {
        redirect(&disp, "/").await.is_ok()
    })
    .await;
    disp
}

#[tokio::test]
async fn location_is_byte_exact_and_never_leaves_the_backend() {
    let disp = serving_web_1("http://127.0.0.1:7301/app/").await;
    let cases = [
        ("/", "http://127.0.0.1:7301/app/"),
        (
            "//evil.example/x",
            "http://127.0.0.1:7301/app//evil.example/x",
        ),
        (
            "/%0d%0aSet-Cookie:%20a=b",
            "http://127.0.0.1:7301/app/%0d%0aSet-Cookie:%20a=b",
        ),
        (
            "/../../etc/passwd",
            "http://127.0.0.1:7301/app/../../etc/passwd",
        ),
        ("/@evil.example", "http://127.0.0.1:7301/app/@evil.example"),
        (
            "/%2F%2Fevil.example?next=//x",
            "http://127.0.0.1:7301/app/%2F%2Fevil.example?next=//x",
        ),
        (
            "/\\evil.example",
            "http://127.0.0.1:7301/app/\\evil.example",
        ),
        (
            "http://evil.example/p?q=1",
            "http://127.0.0.1:7301/app/p?q=1",
        ),
        ("/a%20b?x=%41&y", "http://127.0.0.1:7301/app/a%20b?x=%41&y"),
    ];
    for (target, want) in cases {
        let response = raw(
            &disp,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 302"), "{target}: {response}");
        let location = response
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap_or_else(|| panic!("{target}: no location in {response}"));
        assert_eq!(location, want, "{target}");
        assert!(response.contains("cache-control: no-store"), "{target}");
    }
    // Methods that must survive get 307.
    let response = client()
        .post(disp.url("public") + "/form")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
    let response = client()
        .head(disp.url("public") + "/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
}

#[tokio::test]
async fn oversized_heads_get_431_and_slow_clients_are_cut_off() {
    let disp =
        steady_dispatcher(&["--max-header-bytes", "8192", "--client-timeout", "300ms"]).await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let response = raw(&disp, big.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");

    // Half a request head, then silence: both listeners hang up, so slow
    // or idle connections cannot pile up on either.
    for listener in ["public", "control"] {
        let mut stream = TcpStream::connect(disp.addr(listener)).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        assert!(
            cut_off(&mut stream, scaled(Duration::from_secs(5))).await,
            "slow client of the {listener} listener was not cut off"
        );
    }
}

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

/// A real agent for node `id`, advertising `url`, sampling every 200 ms.
async fn real_agent(id: &str, url: &str, args: &[&str]) -> Proc {
    let base = [
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "200ms",
        "--node-id",
        id,
        "--advertise",
        url,
    ];
    Proc::command("signpost-agent")
        .args(&base)
        .args(args)
        .spawn()
        .await
}

#[tokio::test]
async fn real_agents_feed_the_dispatcher_by_push_and_by_poll() {
    let disp = dispatcher_timed("200ms", "1s", &["--token", "t0k"]).await;
    let control = disp.url("control");
    let pusher = real_agent(
        "pusher",
        "http://127.0.0.1:7501",
        &["--dispatcher", &control, "--token", "t0k"],
    )
    .await;
    let polled = real_agent("polled", "http://127.0.0.1:7502", &[]).await;
    let poller = dispatcher_timed("200ms", "1s", &["--agent", &polled.url("agent")]).await;
    eventually("the pushing agent's backend takes clients", || async {
        redirect(&disp, "/x").await.as_deref() == Ok("http://127.0.0.1:7501/x")
    })
    .await;
    eventually("the polled agent's backend takes clients", || async {
        redirect(&poller, "/y").await.as_deref() == Ok("http://127.0.0.1:7502/y")
    })
    .await;
    assert_eq!(state_of(&disp, "pusher").await, Some(BackendState::Ready));
    assert_eq!(state_of(&poller, "polled").await, Some(BackendState::Ready));

    // The agent dies: its node goes stale, and clients stop going there.
    drop(pusher);
    eventually("the dead agent's node goes stale", || async {
        state_of(&disp, "pusher").await == Some(BackendState::Stale)
    })
    .await;
    assert_eq!(
        redirect(&disp, "/").await,
        Err(StatusCode::SERVICE_UNAVAILABLE)
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    // One worker: the current-thread runtime, as benchmarked.
    let mut disp = steady_dispatcher(&["--workers", "1"]).await;
    push(&disp, &report("web-1", "http://127.0.0.1:7601", 1)).await;
    disp.terminate();
    let status = disp.wait_exit(scaled(Duration::from_secs(10))).await;
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        disp.stderr()
    );
}

#[tokio::test]
async fn demo_serves_hello_from_its_backends() {
    let demo = Proc::command(BIN)
        .args(&[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
        ])
        .listeners(2)
        .spawn()
        .await;
    let location = signpost_e2e::eventually_some("the demo's agents report", || async {
        redirect(&demo, "/hello").await.ok()
    })
    .await;
    let greeting = client()
        .get(&location)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .expect("read /metrics");
    assert!(greeting.starts_with("hello from backend-"), "{greeting}");
    eventually("all three backends are eligible", || async {
        dashboard(&demo).await.eligible == 3
    })
    .await;
    // The log names the three pushing agents, not "agents=0".
    let stderr = demo.stderr();
    assert!(stderr.contains("agents=3"), "{stderr}");
    assert!(!stderr.contains(" agents=0"), "{stderr}");
}

#[tokio::test]
async fn unknown_strategy_or_bad_flag_exits_64() {
    let out = Proc::command(BIN)
        .args(&[
            "--listen",
            "127.0.0.1:0",
            "--stale-after",
            "100ms",
            "--poll-interval",
            "1s",
        ])
        .output()
        .await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    assert!(out.stderr.contains("stale_after"), "{}", out.stderr);
}

#[tokio::test]
async fn a_seed_style_agent_works_with_the_url_from_the_config() {
    // What a five-line Flask + psutil agent serves.
    let seed = Stub::start().await;
    seed.respond(
        200,
        r#"{"cpu": 12.0, "memory": 40.0, "timestamp": 1763700000.1}"#,
    );
    let config = config_file(&format!(
        "[[backend]]\nid = \"legacy\"\nurl = \"http://127.0.0.1:7701\"\nagent = \"{}\"\n",
        seed.url()
    ));
    let disp = dispatcher(&["--config", config.path().to_str().expect("UTF-8 path")]).await;
    eventually("the seed agent's backend takes clients", || async {
        redirect(&disp, "/x").await.as_deref() == Ok("http://127.0.0.1:7701/x")
    })
    .await;
    let view = dashboard(&disp).await;
    let legacy = view
        .backends
        .iter()
        .find(|b| b.id == "legacy")
        .expect("listed");
    assert_eq!((legacy.cpu_percent, legacy.mem_percent), (12.0, 40.0));
    assert!(seed.count(api::LOAD) >= 1);
}
