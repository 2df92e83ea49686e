//! The dashboard with a fleet of 5 000 pushed nodes, in headless Chromium:
//! the few eligible nodes come first, the page fetches only the rows it
//! shows, and the first rows are on screen within a second. A screenshot
//! is saved under the target directory for a human to look at.

use std::time::Duration;

use serde_json::{Value, json};
use signpost_e2e::{Proc, client, eventually, scaled};
use signpost_shared::api::{self, DashboardPage};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::browser::{chromium, rendered_dom, tag_with};
use signpost_e2e::dispatcher::dispatcher_timed;

/// Nodes in the fleet.
const FLEET: usize = 5_000;

/// The few that take clients; their ids sort last, so only the order the
/// dashboard imposes brings them to the top.
const LIVE: [&str; 3] = ["zz-live-1", "zz-live-2", "zz-live-3"];

/// Rows the page shows at once (`PAGE` in dashboard.html).
const PAGE: usize = 100;

/// How soon the first rows must show, in page time since navigation.
const FIRST_ROWS: Duration = Duration::from_secs(1);

/// Concurrent pushers.
const PUSHERS: usize = 8;

/// A report of node `id` in `state`, healthy or not.
fn report(id: &str, state: &str, healthy: bool, n: usize) -> Value {
    json!({
        "node_id": id, "url": format!("http://127.0.0.1:{}", 10_000 + n % 50_000),
        "cpu_percent": (n % 97) as f64, "mem_percent": 30.0, "connections": n % 40,
        "state": state, "healthy": healthy, "seq": 1
    })
}

/// Pushes the fleet: the live nodes plus nodes in maintenance, draining
/// or down, [`PUSHERS`] at a time.
async fn push_fleet(disp: &Proc) {
    let url = disp.url("control") + api::REPORT;
    let mut reports: Vec<Value> = LIVE
        .iter()
        .enumerate()
        .map(|(n, id)| report(id, "ready", true, n))
        .collect();
    for n in LIVE.len()..FLEET {
        let (state, healthy) = match n % 3 {
            0 => ("maintenance", true),
            1 => ("draining", true),
            _ => ("ready", false),
        };
        reports.push(report(&format!("node-{n:04}"), state, healthy, n));
    }
    let mut pushers = JoinSet::new();
    for (i, chunk) in reports.chunks(FLEET.div_ceil(PUSHERS)).enumerate() {
        let (url, chunk) = (url.clone(), chunk.to_vec());
        pushers.spawn(async move {
            let client = client();
            for body in chunk {
                let status = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map(|r| r.status());
                assert!(
                    status.as_ref().is_ok_and(|s| s.is_success()),
                    "pusher {i}: {body}: {status:?}"
                );
            }
        });
    }
    while let Some(done) = pushers.join_next().await {
        done.expect("a pusher panicked");
    }
}

#[tokio::test]
async fn five_thousand_nodes_show_the_live_ones_first_within_a_second() {
    // Reports stay fresh for the whole scenario: one push per node.
    let disp = dispatcher_timed("1s", "120s", &[]).await;
    push_fleet(&disp).await;
    let view_url = disp.url("control") + api::DASHBOARD;
    eventually(
        "the whole fleet is known and the live nodes eligible",
        || async {
            let Ok(response) = client().get(format!("{view_url}?limit=1")).send().await else {
                return false;
            };
            let page: DashboardPage = response.json().await.expect("dashboard JSON");
            page.summary.backends == FLEET && page.dispatch.eligible == LIVE.len()
        },
    )
    .await;

    // What the page asks for: one page, the live nodes on top.
    let started = Instant::now();
    let response = client()
        .get(format!("{view_url}?limit={PAGE}"))
        .send()
        .await
        .expect("GET one page");
    let bytes = response.bytes().await.expect("read the page");
    let took = started.elapsed();
    let page: DashboardPage = serde_json::from_slice(&bytes).expect("dashboard JSON");
    println!(
        "GET /dashboard?limit={PAGE} with {FLEET} nodes: {took:?}, {} bytes",
        bytes.len()
    );
    assert_eq!(page.backends.len(), PAGE);
    assert_eq!(page.matched, FLEET);
    let first: Vec<&str> = page.backends[..3]
        .iter()
        .map(|r| r.view.id.as_str())
        .collect();
    assert_eq!(first, LIVE);
    assert!(page.next.is_some());

    let dom = rendered_dom(&(disp.url("control") + "/")).await;
    let rows = dom.matches("data-backend=\"").count();
    assert_eq!(rows, PAGE, "the page should draw one page of rows");
    let top = tag_with(&dom, "data-backend=\"").expect("a first row");
    assert!(
        top.contains(LIVE[0]),
        "the first row is not a live node: {top}"
    );
    let body = tag_with(&dom, "data-first-rows-ms=").expect("the first-rows mark");
    let ms: u64 = body
        .split("data-first-rows-ms=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("unreadable first-rows mark: {body}"));
    println!("first rows at {ms} ms of page time with {FLEET} nodes");
    assert!(
        Duration::from_millis(ms) <= scaled(FIRST_ROWS),
        "first rows after {ms} ms"
    );
    assert!(dom.contains("ready 3<"), "the state counts are missing");

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-5000-nodes.png");
    let _ = std::fs::remove_file(&shot);
    let flag = format!("--screenshot={}", shot.display());
    chromium(
        &(disp.url("control") + "/"),
        &[
            "--window-size=1440,1000",
            "--virtual-time-budget=3000",
            &flag,
        ],
    )
    .await;
    let size = std::fs::metadata(&shot).map_or(0, |m| m.len());
    assert!(size > 10_000, "no real screenshot at {}", shot.display());
    println!("screenshot: {}", shot.display());
}
