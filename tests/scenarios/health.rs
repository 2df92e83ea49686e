//! Active health checks against a real dispatcher: failing checks take a
//! backend down and passing ones bring it back, answers slower than the
//! ceiling count as failures, and `fastest` prefers the quicker backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use signpost_e2e::dispatcher::{
    dashboard, entry, hits, public, push, report, state_of, steady_dispatcher,
};
use signpost_e2e::{Proc, Stub, eventually, eventually_within, scaled};
use signpost_shared::{BackendState, Health};

/// A backend whose `/healthz` answers after a delay the test sets, and
/// counts the requests it answered.
struct SlowBackend {
    url: String,
    delay_ms: Arc<AtomicU64>,
    answered: Arc<AtomicU64>,
}

impl SlowBackend {
    async fn start() -> SlowBackend {
        let delay_ms = Arc::new(AtomicU64::new(0));
        let answered = Arc::new(AtomicU64::new(0));
        let (delay, count) = (delay_ms.clone(), answered.clone());
        let app = Router::new().fallback(move || {
            let delay = Duration::from_millis(delay.load(Ordering::Relaxed));
            let count = count.clone();
            async move {
                tokio::time::sleep(delay).await;
                count.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        SlowBackend {
            url,
            delay_ms,
            answered,
        }
    }
}

async fn health_of(disp: &Proc, id: &str) -> Option<(BackendState, Health)> {
    entry(disp, id).await.map(|b| (b.state, b.health))
}

const HEALTH_ARGS: [&str; 12] = [
    "--health-path",
    "/healthz",
    "--health-interval",
    "1s",
    "--health-timeout",
    "900ms",
    "--health-fall",
    "2",
    "--health-rise",
    "2",
    "--health-max-latency",
    "200ms",
];

#[tokio::test]
async fn failing_health_checks_take_a_backend_down_and_passing_ones_bring_it_back() {
    let app = Stub::start().await;
    let disp = steady_dispatcher(&HEALTH_ARGS).await;
    push(&disp, &report("web-1", &app.url(), 1)).await;
    eventually("the first check passes", || async {
        health_of(&disp, "web-1").await == Some((BackendState::Ready, Health::Passing))
            && app.count("/healthz") >= 1
    })
    .await;

    app.respond(500, "");
    // fall = 2 at 1s intervals: down within about two seconds.
    eventually_within(
        "500s take it down",
        scaled(std::time::Duration::from_secs(6)),
        || async {
            (health_of(&disp, "web-1").await == Some((BackendState::Down, Health::Failing)))
                .then_some(())
        },
    )
    .await;
    let response = public(&disp, "/").await;
    assert_eq!(response.status(), 503, "a down backend gets no clients");

    app.respond(200, "");
    eventually("passing checks bring it back", || async {
        health_of(&disp, "web-1").await == Some((BackendState::Ready, Health::Passing))
    })
    .await;
}

#[tokio::test]
async fn answers_slower_than_the_ceiling_count_as_failures() {
    let slow = SlowBackend::start().await;
    let disp = steady_dispatcher(&HEALTH_ARGS).await;
    push(&disp, &report("web-1", &slow.url, 1)).await;
    eventually("the first check passes", || async {
        health_of(&disp, "web-1").await == Some((BackendState::Ready, Health::Passing))
    })
    .await;
    slow.delay_ms.store(400, Ordering::Relaxed);
    eventually("slow answers take it down", || async {
        state_of(&disp, "web-1").await == Some(BackendState::Down)
    })
    .await;
    slow.delay_ms.store(0, Ordering::Relaxed);
    eventually("fast answers bring it back", || async {
        state_of(&disp, "web-1").await == Some(BackendState::Ready)
    })
    .await;
}

#[tokio::test]
async fn fastest_prefers_the_quicker_backend() {
    let quick = SlowBackend::start().await;
    let sluggish = SlowBackend::start().await;
    sluggish.delay_ms.store(120, Ordering::Relaxed);
    // The latency ceiling is not what this is about: on a loaded machine a
    // 200 ms ceiling took both backends down (a 503, not a preference).
    let mut args: Vec<&str> = HEALTH_ARGS
        .iter()
        .map(|&arg| if arg == "200ms" { "2s" } else { arg })
        .collect();
    args.extend(["--strategy", "fastest", "--slow-start", "0s"]);
    let disp = steady_dispatcher(&args).await;
    push(&disp, &report("quick", &quick.url, 1)).await;
    push(&disp, &report("sluggish", &sluggish.url, 1)).await;
    // Two answers each: the first check's latency has been filed.
    eventually("both are checked", || async {
        let view = dashboard(&disp).await;
        let checked = [&quick, &sluggish]
            .iter()
            .all(|b| b.answered.load(Ordering::Relaxed) >= 2);
        checked
            && view.dispatch.eligible == 2
            && view.backends.iter().all(|b| b.health == Health::Passing)
    })
    .await;
    let to_quick = hits(&disp, 100, &format!("{}/page", quick.url)).await;
    assert!(
        to_quick >= 65,
        "only {to_quick} of 100 went to the quicker backend"
    );
}
