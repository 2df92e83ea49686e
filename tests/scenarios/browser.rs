//! The HTML dashboard at the control listener's `GET /`, rendered by a real
//! headless Chromium: the page's script must fetch `/dashboard` and draw one
//! row per backend with its live state, escape what it draws, and say so
//! when the JSON cannot be had.
//!
//! Chromium is Debian's `chromium` package, which `.ci/run` installs. A
//! machine without it fails these scenarios rather than skipping them.

use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use serde_json::{Value, json};
use signpost_e2e::dispatcher::{control, dashboard, push};
use signpost_e2e::{Proc, client, config_file, eventually, eventually_some, scaled};
use tokio::process::Command;

const BROWSER: &str = "chromium";

/// How long one headless run may take, start to DOM dump.
const BROWSER_DEADLINE: Duration = Duration::from_secs(60);

/// The flags of every run: headless as root, and no traffic of Chromium's
/// own (updates, sync, safe browsing) on a machine with no network.
const BROWSER_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
];

/// What [`rendered_dom`] adds: five seconds of page time, fast-forwarded
/// (several refreshes), then the DOM on stdout.
const DUMP_FLAGS: [&str; 2] = ["--virtual-time-budget=5000", "--dump-dom"];

/// A backend's report for the browser to show.
struct Node {
    id: &'static str,
    state: &'static str,
    healthy: bool,
    cpu: f64,
    mem: f64,
}

/// A backend named only in the config file: never reported, so it shows
/// `stale` with no report age.
const SILENT: &str = "web-5";

/// One of each state a report can cause, the last with a URL that would be
/// markup if the page ever parsed data as HTML.
const NODES: [Node; 4] = [
    Node {
        id: "web-1",
        state: "ready",
        healthy: true,
        cpu: 35.0,
        mem: 48.5,
    },
    Node {
        id: "web-2",
        state: "draining",
        healthy: true,
        cpu: 72.0,
        mem: 64.0,
    },
    Node {
        id: "web-3",
        state: "ready",
        healthy: false,
        cpu: 96.5,
        mem: 91.0,
    },
    Node {
        id: "web-4",
        state: "maintenance",
        healthy: true,
        cpu: 5.0,
        mem: 12.0,
    },
];

/// What the page must show for each node: (id, `data-state`).
const EXPECTED: [(&str, &str); 5] = [
    ("web-1", "ready"),
    ("web-2", "draining"),
    ("web-3", "down"),
    ("web-4", "maintenance"),
    (SILENT, "stale"),
];

/// A path of HTML entities: URLs may not carry `<` or `>` (they are not URI
/// characters), but `&` and `;` are, and a page that wrote data as HTML
/// would decode these where text shows them as written.
const MARKUP_PATH: &str = "/&lt;b&gt;bold&lt;/b&gt;";

fn url_of(index: usize) -> String {
    let path = if index == NODES.len() - 1 {
        MARKUP_PATH
    } else {
        ""
    };
    format!("http://127.0.0.1:{}{path}", 8001 + index)
}

fn report_of(index: usize, node: &Node) -> Value {
    json!({
        "node_id": node.id, "url": url_of(index),
        "cpu_percent": node.cpu, "mem_percent": node.mem, "load1": 0.5, "cores": 4,
        "connections": 10 * (index + 1), "weight": 1.0 + index as f64,
        "state": node.state, "healthy": node.healthy, "seq": 1,
        "sampled_at_ms": 1_763_700_000_000u64, "agent_version": "browser-e2e"
    })
}

/// Runs headless Chromium on `url` and returns the DOM once its scripts
/// have had [`DUMP_FLAGS`]' virtual time budget.
pub(crate) async fn rendered_dom(url: &str) -> String {
    let stdout = chromium(url, &DUMP_FLAGS).await;
    String::from_utf8(stdout).expect("the DOM dump is UTF-8")
}

/// Runs headless Chromium on `url` with `flags` besides
/// [`BROWSER_FLAGS`], and returns what it printed on stdout.
pub(crate) async fn chromium(url: &str, flags: &[&str]) -> Vec<u8> {
    let profile = tempfile::tempdir().expect("create a fresh Chromium profile dir");
    let mut command = Command::new(BROWSER);
    command
        .args(BROWSER_FLAGS)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match command.spawn() {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{BROWSER}` is not installed, and the dashboard scenarios need a real browser: \
             install Debian's chromium (`apt-get install chromium`), as .ci/run does"
        ),
        spawned => spawned.expect("start chromium"),
    };
    let output = tokio::time::timeout(scaled(BROWSER_DEADLINE), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {BROWSER_DEADLINE:?}"))
        .expect("wait for chromium");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "chromium failed ({}):\n{stderr}",
        output.status
    );
    output.stdout
}

/// A dispatcher on loopback ports of its own, and the HTML page its
/// control listener serves.
async fn dispatcher_and_page() -> (Proc, String) {
    let disp = Proc::command("signpost-dispatcher")
        .args(&["--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"])
        .listeners(2)
        .spawn()
        .await;
    let html = control(&disp, "/")
        .await
        .text()
        .await
        .expect("read the page");
    (disp, html)
}

/// The DOM of the page `app` serves at `/`, served on a loopback port of
/// its own for as long as Chromium takes: the real page with a view the
/// test chose, or none.
async fn rendered_dom_of(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the page server");
    let addr = listener
        .local_addr()
        .expect("read the page server's address");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dom = rendered_dom(&format!("http://{addr}/")).await;
    server.abort();
    dom
}

/// The opening tag of the element carrying `attr`, such as
/// `data-backend="web-1"`.
pub(crate) fn tag_with<'a>(dom: &'a str, attr: &str) -> Option<&'a str> {
    let at = dom.find(attr)?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    Some(&dom[start..=end])
}

/// The whole `<tr>` of backend `id`.
fn row_with<'a>(dom: &'a str, id: &str) -> Option<&'a str> {
    let tag = tag_with(dom, &format!("data-backend=\"{id}\""))?;
    let start = dom.find(tag)?;
    let end = start + dom[start..].find("</tr>")?;
    Some(&dom[start..end])
}

#[tokio::test]
async fn the_page_renders_every_backend_with_its_live_state_in_chromium() {
    let config = config_file(&format!(
        "[[backend]]\nid = \"{SILENT}\"\nurl = \"http://127.0.0.1:8005\"\n"
    ));
    let config_path = config.path().to_str().expect("UTF-8 temp path");
    let disp = Proc::command("signpost-dispatcher")
        .args(&[
            "--listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
            "--stale-after",
            "10s",
            "--config",
            config_path,
        ])
        .listeners(2)
        .spawn()
        .await;

    // The page itself, without a browser.
    let response = control(&disp, "/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.expect("read the page");
    assert!(
        page.contains("fetch(query()"),
        "the page does not fetch the view"
    );

    for (index, node) in NODES.iter().enumerate() {
        let pushed = push(&disp, &report_of(index, node)).await;
        assert_eq!(pushed, 200, "report of {}", node.id);
    }
    // Three redirects, all to the one eligible backend.
    for _ in 0..3 {
        eventually_some("web-1 takes a redirect", || async {
            let response = client().get(disp.url("public") + "/x").send().await.ok()?;
            (response.status() == 302).then_some(())
        })
        .await;
    }
    eventually(
        "the view holds every backend in its expected state",
        || async {
            let view = dashboard(&disp).await;
            EXPECTED.iter().all(|(id, state)| {
                view.backends
                    .iter()
                    .any(|b| b.id == *id && b.state.as_str() == *state)
            }) && view.dispatch.redirects_total == 3
        },
    )
    .await;

    let dom = rendered_dom(&(disp.url("control") + "/")).await;
    for (id, state) in EXPECTED {
        let row = tag_with(&dom, &format!("data-backend=\"{id}\""))
            .unwrap_or_else(|| panic!("no row for {id} in the rendered page:\n{dom}"));
        assert!(
            row.contains(&format!("data-state=\"{state}\"")),
            "{id} should be {state}: {row}"
        );
    }
    let strategy = tag_with(&dom, "id=\"t-strategy\"").expect("the strategy total");
    assert!(dom.contains(&format!("{strategy}least-load<")), "{dom}");
    assert!(dom.contains(">1 / 5<"), "eligible / total missing:\n{dom}");
    let first = row_with(&dom, "web-1").expect("web-1's row");
    assert!(
        first.contains(">3 in all<"),
        "web-1's redirects missing: {first}"
    );
    assert!(
        first.contains(">100%<"),
        "web-1's share of redirects missing: {first}"
    );
    // The silent backend has no report age: a dash, not "null" or "NaN".
    let silent = row_with(&dom, SILENT).expect("the silent backend's row");
    assert!(silent.contains(">—<"), "{silent}");
    assert!(
        !silent.contains("null") && !silent.contains("NaN"),
        "{silent}"
    );
    // Data is text, never markup: the link's text shows the entities as
    // written, so the serialized DOM escapes their `&`.
    let shown = format!(">{}<", url_of(NODES.len() - 1).replace('&', "&amp;"));
    assert!(dom.contains(&shown), "a URL was parsed as HTML:\n{dom}");
    let banner = tag_with(&dom, "id=\"banner\"").expect("the banner");
    assert!(
        banner.contains("hidden"),
        "the banner shows while live: {banner}"
    );
}

#[tokio::test]
async fn the_page_says_so_when_the_view_is_unreachable() {
    // The real page, served by a server that has no `/dashboard`.
    let (_disp, html) = dispatcher_and_page().await;
    let dom =
        rendered_dom_of(Router::new().route("/", get(move || async move { Html(html) }))).await;
    let banner = tag_with(&dom, "id=\"banner\"").expect("the banner");
    assert!(
        !banner.contains("hidden"),
        "no banner while unreachable: {banner}"
    );
    assert!(dom.contains("HTTP 404 from dashboard"), "{dom}");
    assert!(!dom.contains("data-backend="), "rows without data:\n{dom}");
}

#[tokio::test]
async fn the_page_shows_a_learnt_capacity_and_the_turns_a_backend_owes() {
    let (disp, html) = dispatcher_and_page().await;
    assert_eq!(push(&disp, &report_of(0, &NODES[0])).await, 200);
    eventually("web-1 is ready", || async {
        let view = dashboard(&disp).await;
        view.backends
            .iter()
            .any(|b| b.id == "web-1" && b.state.as_str() == "ready")
    })
    .await;
    // The real page and the real view, with the capacity a slow machine
    // would have learnt: learning one takes seconds of reports.
    let mut view: Value = control(&disp, "/dashboard")
        .await
        .json()
        .await
        .expect("the dashboard JSON");
    assert_eq!(view["backends"][0]["learnt_capacity"], 1.0, "{view}");
    view["backends"][0]["learnt_capacity"] = json!(0.5);
    // Absent while none is owed.
    assert_eq!(view["backends"][0].get("turns_owed"), None, "{view}");
    view["backends"][0]["turns_owed"] = json!(7);
    let app = Router::new()
        .route("/", get(move || async move { Html(html) }))
        .route("/dashboard", get(move || async move { axum::Json(view) }));

    let dom = rendered_dom_of(app).await;
    let row = row_with(&dom, "web-1").unwrap_or_else(|| panic!("no row for web-1:\n{dom}"));
    assert!(row.contains(">capacity ×0.5<"), "{row}");
    assert!(row.contains(">owes 7 turns<"), "{row}");
}
