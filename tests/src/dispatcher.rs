//! Driving a real `signpost-dispatcher`: start one on ephemeral loopback
//! ports, push reports to it, follow its redirects, read its dashboard and
//! metrics. Every dispatcher scenario speaks to the binary through these.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use signpost_shared::{BackendState, BackendView, DashboardView, api};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Proc, client, eventually, scaled};

/// The dispatcher binary's name.
pub const BIN: &str = "signpost-dispatcher";

/// How long a backend of [`dispatcher`] stays fresh without a report.
pub const STALE: Duration = Duration::from_millis(400);

/// A dispatcher on ephemeral ports with short intervals, for scenarios
/// about staleness, plus `args`.
pub async fn dispatcher(args: &[&str]) -> Proc {
    dispatcher_timed("100ms", "400ms", args).await
}

/// A dispatcher whose backends stay fresh for 10 s, for scenarios that
/// must not race staleness on a busy machine.
pub async fn steady_dispatcher(args: &[&str]) -> Proc {
    dispatcher_timed("1s", "10s", args).await
}

/// A dispatcher on ephemeral ports polling every `poll` and judging a
/// backend stale after `stale`, plus `args`.
pub async fn dispatcher_timed(poll: &str, stale: &str, args: &[&str]) -> Proc {
    let timing = ["--poll-interval", poll, "--stale-after", stale];
    loopback_dispatcher(&[&timing[..], args].concat()).await
}

/// A dispatcher with both listeners on ephemeral loopback ports and
/// otherwise only `args` (its defaults untouched).
pub async fn loopback_dispatcher(args: &[&str]) -> Proc {
    let base = ["--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"];
    Proc::command(BIN)
        .args(&base)
        .args(args)
        .listeners(2)
        .spawn()
        .await
}

/// A steady dispatcher whose one backend, `web-1` at `url`, is in the
/// pool already.
pub async fn serving_web_1(url: &str) -> Proc {
    let disp = steady_dispatcher(&[]).await;
    push(&disp, &report("web-1", url, 1)).await;
    eventually("web-1 in the pool", || async {
        redirect(&disp, "/").await.is_ok()
    })
    .await;
    disp
}

/// A dispatcher with `args` whose one backend, `web-1`, is in the pool
/// and stays fresh for minutes: for scenarios that send many requests
/// (a spray, a log) on a machine that may be busy.
pub async fn lasting_web_1(args: &[&str]) -> Proc {
    let disp = dispatcher_timed("1s", "4m", args).await;
    add_web_1(&disp).await;
    disp
}

/// Pushes `web-1` (at `http://web-1.test`) to `disp` and waits until it is
/// in the pool.
pub async fn add_web_1(disp: &Proc) {
    assert_eq!(
        push(disp, &report("web-1", "http://web-1.test", 1)).await,
        200
    );
    eventually("web-1 in the pool", || async {
        dashboard(disp).await.dispatch.eligible == 1
    })
    .await;
}

/// `signpost-dispatcher demo` with both listeners on ephemeral loopback
/// ports.
pub async fn demo() -> Proc {
    Proc::command(BIN)
        .args(&[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
        ])
        .listeners(2)
        .spawn()
        .await
}

/// A full report for `id`, whose clients go to `url`.
pub fn report(id: &str, url: &str, seq: u64) -> Value {
    json!({
        "node_id": id, "url": url, "cpu_percent": 10.0, "mem_percent": 20.0,
        "load1": 0.1, "cores": 2, "connections": 3, "weight": 1.0,
        "state": "ready", "healthy": true, "seq": seq,
        "sampled_at_ms": 1_763_700_000_000u64 + seq, "agent_version": "e2e"
    })
}

/// A `seq` higher than any pushed before by this test process, so a push
/// is never dropped as a replay.
pub fn next_seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(1);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// POSTs `body` to the control listener's report endpoint, with `token`
/// as bearer if given: the status and the JSON answer (`null` if none).
pub async fn push_with(disp: &Proc, body: &Value, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = client().post(disp.url("control") + api::REPORT).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST /v1/report");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// [`push_with`] without a token: the status only.
pub async fn push(disp: &Proc, body: &Value) -> StatusCode {
    push_with(disp, body, None).await.0
}

/// Pushes `ids` (with cpu figures) to `disp` and waits until all are in the
/// pool. Every push carries a new `seq`, so pushing a node again refreshes
/// it rather than being dropped as a replay.
pub async fn backends(disp: &Proc, ids: &[(&str, f64)]) {
    for (id, cpu) in ids {
        let mut r = report(id, &format!("http://{id}.test"), next_seq());
        r["cpu_percent"] = json!(cpu);
        assert_eq!(push(disp, &r).await, 200);
    }
    eventually("every backend is eligible", || async {
        dashboard(disp).await.dispatch.eligible == ids.len()
    })
    .await;
}

/// `GET` of `path` on the control listener.
pub async fn control(disp: &Proc, path: &str) -> reqwest::Response {
    get(disp, "control", path).await
}

/// `GET` of `path` on the public listener, whatever it answers.
pub async fn public(disp: &Proc, path: &str) -> reqwest::Response {
    get(disp, "public", path).await
}

/// `GET` of `path` on `listener`.
async fn get(disp: &Proc, listener: &str, path: &str) -> reqwest::Response {
    let url = disp.url(listener) + path;
    let response = client().get(&url).send().await;
    response.unwrap_or_else(|err| panic!("GET {url}: {err}"))
}

/// The control listener's JSON dashboard.
pub async fn dashboard(disp: &Proc) -> DashboardView {
    control(disp, api::DASHBOARD)
        .await
        .json()
        .await
        .expect("dashboard JSON")
}

/// The dashboard's entry for backend `id`, if it lists it.
pub async fn entry(disp: &Proc, id: &str) -> Option<BackendView> {
    let view = dashboard(disp).await;
    view.backends.into_iter().find(|b| b.id == id)
}

/// The state the dashboard shows for backend `id`, if it lists it.
pub async fn state_of(disp: &Proc, id: &str) -> Option<BackendState> {
    entry(disp, id).await.map(|b| b.state)
}

/// The control listener's Prometheus text.
pub async fn metrics(disp: &Proc) -> String {
    control(disp, api::METRICS)
        .await
        .text()
        .await
        .expect("read /metrics")
}

/// The `Location` of one GET to `path`, or the status if it is not a 302.
pub async fn redirect(disp: &Proc, path: &str) -> Result<String, StatusCode> {
    let response = public(disp, path).await;
    match response.status() {
        StatusCode::FOUND => Ok(response.headers()["location"]
            .to_str()
            .expect("ASCII location")
            .to_owned()),
        other => Err(other),
    }
}

/// Asserts that `n` fresh requests for `/` all go to `location`.
pub async fn every_redirect_goes_to(disp: &Proc, n: usize, location: &str) {
    for _ in 0..n {
        assert_eq!(redirect(disp, "/").await.as_deref(), Ok(location));
    }
}

/// How many of `n` fresh clients (no cookie) are sent to `location`. One
/// connection carries them all: a client built per request cost more than
/// the dispatcher's answer, and on a loaded machine 100 of them outlasted
/// the pushed reports' freshness, turning the count into a 503.
pub async fn hits(disp: &Proc, n: usize, location: &str) -> usize {
    let client = client();
    let mut hits = 0;
    for _ in 0..n {
        if visit_with(&client, disp, None, None).await.0 == location {
            hits += 1;
        }
    }
    hits
}

/// One GET of `/page` with `cookie` and `X-Forwarded-For: forwarded_for`,
/// if given, which must be a 302: (Location, the `signpost=...` pair it
/// sets, if any).
pub async fn visit(
    disp: &Proc,
    cookie: Option<&str>,
    forwarded_for: Option<&str>,
) -> (String, Option<String>) {
    visit_with(&client(), disp, cookie, forwarded_for).await
}

/// [`visit`] over `client`'s connections.
pub async fn visit_with(
    client: &reqwest::Client,
    disp: &Proc,
    cookie: Option<&str>,
    forwarded_for: Option<&str>,
) -> (String, Option<String>) {
    let mut request = client.get(disp.url("public") + "/page");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    let response = request.send().await.expect("GET public");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let set = response.headers().get("set-cookie").map(|v| {
        let v = v.to_str().expect("ASCII cookie");
        v[..v.find(';').unwrap_or(v.len())].to_owned()
    });
    (location, set)
}

/// Sends raw bytes to the public listener and returns the raw response.
pub async fn raw(disp: &Proc, request: &[u8]) -> String {
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
