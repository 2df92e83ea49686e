//! What operators do to a running dispatcher, and what it does on its own
//! behalf: the admin API, SIGHUP reloads, active health checks and slow
//! start.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use signpost_e2e::{Proc, Stub, client, config_file, eventually, eventually_within, scaled};
use signpost_shared::{BackendState, Health, api};

use signpost_e2e::dispatcher::{
    backends, control, dashboard, dispatcher_timed, entry, next_seq, public, push, report,
    state_of, steady_dispatcher, visit,
};

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

/// How many of `n` fresh clients are sent to `location`.
async fn hits(disp: &Proc, n: usize, location: &str) -> usize {
    let mut hits = 0;
    for _ in 0..n {
        if visit(disp, None, None).await.0 == location {
            hits += 1;
        }
    }
    hits
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
    let mut args = HEALTH_ARGS.to_vec();
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
        checked && view.eligible == 2 && view.backends.iter().all(|b| b.health == Health::Passing)
    })
    .await;
    let to_quick = hits(&disp, 100, &format!("{}/page", quick.url)).await;
    assert!(
        to_quick >= 65,
        "only {to_quick} of 100 went to the quicker backend"
    );
}

#[tokio::test]
async fn slow_start_ramps_a_joining_backends_share() {
    // A ramp long enough that the early sample stays early on a slow machine:
    // 50 requests within 1.5 s still see at most a quarter of the weight.
    // Two 6 s ramps back to back: reports must stay fresh for the whole test.
    let disp = dispatcher_timed("1s", "60s", &["--strategy", "random", "--slow-start", "6s"]).await;
    backends(&disp, &[("old", 10.0)]).await;
    eventually("the old backend has ramped up", || async {
        let view = dashboard(&disp).await;
        view.backends[0].effective_weight >= 1.0
    })
    .await;
    backends(&disp, &[("old", 10.0), ("new", 10.0)]).await;
    let early = hits(&disp, 50, "http://new.test/page").await;
    let new = entry(&disp, "new").await.expect("new is listed");
    assert!(new.effective_weight < 1.0, "ramp visible on the dashboard");
    eventually("the new backend has ramped up", || async {
        let view = dashboard(&disp).await;
        view.backends.iter().all(|b| b.effective_weight >= 1.0)
    })
    .await;
    let late = hits(&disp, 200, "http://new.test/page").await;
    assert!(
        early < 20,
        "{early} of the first 50 went to the joining backend"
    );
    assert!(late > 70, "only {late} of 200 once ramped");
}

#[tokio::test]
async fn sighup_keeps_the_old_config_on_errors_and_swaps_a_good_one() {
    let v1 = "strategy = \"round-robin\"\n\n[[backend]]\nid = \"a\"\nurl = \"http://a-v1.test\"\n";
    let config = config_file(v1);
    let path = config.path().to_str().expect("UTF-8 temp path").to_owned();
    let disp = steady_dispatcher(&["--config", &path]).await;
    let mut a = report("a", "", 1);
    a.as_object_mut().expect("object").remove("url");
    push(&disp, &a).await;
    push(&disp, &report("b", "http://b.test", 1)).await;
    eventually("both serve", || async {
        dashboard(&disp).await.eligible == 2
    })
    .await;
    assert_eq!(dashboard(&disp).await.strategy, "round-robin");

    std::fs::write(config.path(), "strategy = \"nope\"\n").expect("write the broken config");
    disp.signal("HUP");
    eventually("the refusal is logged", || async {
        disp.stderr().contains("refused")
    })
    .await;
    let view = dashboard(&disp).await;
    assert_eq!((view.strategy.as_str(), view.eligible), ("round-robin", 2));

    // A new strategy and backend weight take effect; a new client
    // timeout cannot (the listeners are built once), and the log says so.
    let v2 = "strategy = \"weighted-round-robin\"\nclient_timeout = \"7s\"\n\n[[backend]]\nid = \"a\"\nurl = \"http://a-v2.test\"\nweight = 2\n";
    std::fs::write(config.path(), v2).expect("write the new config");
    disp.signal("HUP");
    eventually("the new config is in force", || async {
        dashboard(&disp).await.strategy == "weighted-round-robin"
    })
    .await;
    eventually("the ignored client timeout is logged", || async {
        let log = disp.stderr();
        log.contains("change only with a restart") && log.contains("client-timeout")
    })
    .await;
    let view = dashboard(&disp).await;
    assert_eq!(view.eligible, 2, "both backends kept their reports");
    let a = view
        .backends
        .iter()
        .find(|b| b.id == "a")
        .expect("a is listed");
    assert_eq!((a.url.as_str(), a.weight), ("http://a-v2.test", 2.0));
    let healthz = control(&disp, api::HEALTHZ).await;
    assert_eq!(healthz.status(), 200, "the listeners never went away");
}
/// `POST /v1/backends/{id}/{action}` with `token`, returning the status.
async fn admin(disp: &Proc, id: &str, action: &str, token: Option<&str>) -> u16 {
    let mut request = client().post(disp.url("control") + &api::admin_path(id, action));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("POST admin").status().as_u16()
}

#[tokio::test]
async fn admin_api_needs_its_token_and_wins_over_reports() {
    let disp = steady_dispatcher(&["--admin-token", "adm1n"]).await;
    backends(&disp, &[("a", 10.0), ("b", 10.0)]).await;
    assert_eq!(admin(&disp, "a", "drain", None).await, 401);
    assert_eq!(admin(&disp, "a", "drain", Some("wrong")).await, 401);
    assert_eq!(admin(&disp, "a", "drain", Some("adm1n")).await, 200);
    // Visible at once, and it outlives the agent's next report.
    assert_eq!(state_of(&disp, "a").await, Some(BackendState::Draining));
    push(&disp, &report("a", "http://a.test", next_seq())).await;
    for _ in 0..10 {
        assert_eq!(visit(&disp, None, None).await.0, "http://b.test/page");
    }
    assert_eq!(admin(&disp, "a", "ready", Some("adm1n")).await, 200);
    eventually("a takes clients again", || async {
        visit(&disp, None, None).await.0 == "http://a.test/page"
    })
    .await;
    assert_eq!(admin(&disp, "nope", "drain", Some("adm1n")).await, 404);
    assert_eq!(admin(&disp, "a", "explode", Some("adm1n")).await, 404);
}
