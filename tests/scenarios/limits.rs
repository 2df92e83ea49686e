//! The per-client rate limit of the public listener: clients from many
//! loopback source addresses (127.0.0.x) or named by a trusted proxy's
//! `X-Forwarded-For`, each with its own budget; `Retry-After` rounded up;
//! dry run; and memory that a spray of addresses does not grow.

use std::net::IpAddr;

use reqwest::StatusCode;
use signpost_e2e::dispatcher::{add_web_1, control, dashboard, lasting_web_1, metrics};
use signpost_e2e::{Proc, eventually, metric, patience};
use signpost_shared::api;

/// A client whose connections come from `source` on loopback.
fn client_from(source: &str) -> reqwest::Client {
    let source: IpAddr = source.parse().expect("a source address");
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(source)
        .timeout(patience())
        .build()
        .expect("build a client bound to a source address")
}

/// One GET of the public listener by `client`, as `forwarded_for` if
/// given: (status, `Retry-After`, `Cache-Control`).
async fn get(
    disp: &Proc,
    client: &reqwest::Client,
    forwarded_for: Option<&str>,
) -> (StatusCode, Option<String>, Option<String>) {
    let mut request = client.get(disp.url("public") + "/page");
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    let response = request.send().await.expect("GET public");
    let header = |name| {
        let value = response.headers().get(name)?;
        Some(value.to_str().expect("ASCII header").to_owned())
    };
    let (retry_after, cache) = (header("retry-after"), header("cache-control"));
    (response.status(), retry_after, cache)
}

/// The `signpost_limited*_total{reason="rate_limit"}` counter `name`.
async fn limited_count(disp: &Proc, name: &str) -> Option<f64> {
    let body = metrics(disp).await;
    metric(name).label("reason", "rate_limit").find(&body)
}

#[tokio::test]
async fn each_source_address_has_its_own_budget_and_is_told_when_to_retry() {
    let disp = lasting_web_1(&["--rate-limit", "1/m", "--rate-burst", "2"]).await;
    let (a, b) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    for _ in 0..2 {
        assert_eq!(get(&disp, &a, None).await.0, StatusCode::FOUND);
    }
    // The third within the minute owes 60 s less a few milliseconds:
    // rounded up, 60.
    let (status, retry_after, cache) = get(&disp, &a, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry_after.as_deref(), Some("60"));
    assert_eq!(cache.as_deref(), Some("no-store"));
    // Another address is not touched by a's debt.
    for _ in 0..2 {
        assert_eq!(get(&disp, &b, None).await.0, StatusCode::FOUND);
    }
    assert_eq!(get(&disp, &b, None).await.0, StatusCode::TOO_MANY_REQUESTS);

    assert_eq!(
        limited_count(&disp, "signpost_limited_total").await,
        Some(2.0)
    );
    let dry = limited_count(&disp, "signpost_limited_dry_run_total").await;
    assert_eq!(dry, Some(0.0));
    assert_eq!(dashboard(&disp).await.dispatch.limited_total, 2);
    let page = control(&disp, api::DASHBOARD)
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("\"limited_total\":2"), "{page}");
}

#[tokio::test]
async fn a_trusted_proxy_names_the_client_and_ipv6_counts_by_64() {
    let disp = Proc::command(signpost_e2e::dispatcher::BIN)
        .args(&["--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"])
        .args(&["--trust-forwarded", "127.0.0.1/32", "--rate-limit", "1/h"])
        .env("SIGNPOST_RATE_BURST", "1")
        .env("SIGNPOST_RATE_LIMIT_STATUS", "503")
        .listeners(2)
        .spawn()
        .await;
    add_web_1(&disp).await;
    let proxy = client_from("127.0.0.1");
    let status = |xff: &'static str| {
        let (disp, proxy) = (&disp, &proxy);
        async move { get(disp, proxy, Some(xff)).await }
    };
    assert_eq!(status("198.51.100.1").await.0, StatusCode::FOUND);
    let (code, retry_after, _) = status("198.51.100.1").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after.as_deref(), Some("3600"));
    assert_eq!(status("198.51.100.2").await.0, StatusCode::FOUND);
    // One /64 is one client; the next /64 is another.
    assert_eq!(status("2001:db8:1:2::1").await.0, StatusCode::FOUND);
    let same_64 = status("2001:db8:1:2:ffff::9").await.0;
    assert_eq!(same_64, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(status("2001:db8:1:3::1").await.0, StatusCode::FOUND);
    // An untrusted peer's header names nobody: 127.0.0.4 is the client.
    let stranger = client_from("127.0.0.4");
    let forged = get(&disp, &stranger, Some("198.51.100.9")).await.0;
    assert_eq!(forged, StatusCode::FOUND);
    let again = get(&disp, &stranger, Some("198.51.100.10")).await.0;
    assert_eq!(again, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_dry_run_counts_and_logs_but_redirects() {
    let args = [
        "--rate-limit",
        "1/m",
        "--rate-burst",
        "1",
        "--rate-limit-dry-run",
    ];
    let disp = lasting_web_1(&args).await;
    let client = client_from("127.0.0.5");
    for _ in 0..3 {
        assert_eq!(get(&disp, &client, None).await.0, StatusCode::FOUND);
    }
    let dry = limited_count(&disp, "signpost_limited_dry_run_total").await;
    assert_eq!(dry, Some(2.0));
    assert_eq!(
        limited_count(&disp, "signpost_limited_total").await,
        Some(0.0)
    );
    eventually("the dry run is logged", || async {
        disp.stderr().contains("client over the rate limit")
    })
    .await;
    assert!(disp.stderr().contains("127.0.0.5"), "{}", disp.stderr());
}

/// Resident memory of `disp`, in KiB, from `/proc`.
fn rss_kib(disp: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", disp.pid()))
        .expect("read /proc/PID/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1));
    kib.and_then(|n| n.parse().ok()).expect("a VmRSS line")
}

/// `n` requests, each from a distinct IPv6 /64 numbered from `first`,
/// forwarded by the trusted proxy over `lanes` keep-alive connections:
/// how many were refused. A new client is refused only when its hash
/// matches a tracked one's set and 16-bit tag: about 1 in 16 000.
async fn spray(disp: &Proc, first: u32, n: u32, lanes: u32) -> usize {
    let url = disp.url("public") + "/";
    let lanes = (0..lanes).map(|lane| {
        let (url, client) = (url.clone(), client_from("127.0.0.1"));
        tokio::spawn(async move {
            let mut refused = 0;
            for i in (first + lane..first + n).step_by(lanes as usize) {
                let xff = format!("2001:db8:{:x}:{:x}::1", i >> 16, i & 0xffff);
                let response = client.get(&url).header("x-forwarded-for", xff).send();
                match response.await.expect("GET").status() {
                    StatusCode::FOUND => {}
                    StatusCode::TOO_MANY_REQUESTS => refused += 1,
                    other => panic!("a sprayed request got {other}"),
                }
            }
            refused
        })
    });
    let mut refused = 0;
    for lane in lanes.collect::<Vec<_>>() {
        refused += lane.await.expect("a spray lane");
    }
    refused
}

#[tokio::test]
async fn a_spray_of_addresses_does_not_grow_memory() {
    let disp = lasting_web_1(&[
        "--trust-forwarded",
        "127.0.0.1/32",
        "--rate-limit",
        "1/h",
        "--rate-limit-table",
        "1024",
    ])
    .await;
    // Warm up connections, buffers and the allocator, then measure.
    spray(&disp, 0, 2_000, 8).await;
    let before = rss_kib(&disp);
    let refused = spray(&disp, 2_000, 10_000, 8).await;
    let after = rss_kib(&disp);
    assert!(refused < 20, "{refused} new clients refused");
    // 12 000 clients, each owing an hour, in a table of 1024: most were
    // forgotten, and memory stayed put (bench/limits-spray.sh sends a
    // million to a release build).
    let body = metrics(&disp).await;
    let evictions = metric("signpost_rate_limit_evictions_total").find(&body);
    assert!(evictions.is_some_and(|n| n > 9_000.0), "{body}");
    assert!(
        after < before + 2048,
        "RSS grew from {before} KiB to {after} KiB under the spray"
    );
}
