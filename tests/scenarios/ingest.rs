//! How reports reach a real dispatcher, by push and by poll, from stubs
//! and from the real agent: what is accepted, what is refused (and
//! counted), and how a silent node goes stale and rejoins.

use reqwest::StatusCode;
use serde_json::json;
use signpost_e2e::dispatcher::{
    STALE, control, dashboard, dispatcher, dispatcher_timed, entry, metrics, public, push,
    push_with, redirect, report, state_of, steady_dispatcher,
};
use signpost_e2e::{
    Proc, Stub, config_file, eventually, eventually_within, metric, refused_url, scaled,
};
use signpost_shared::{BackendState, api};
use tokio::net::TcpListener;

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
    let response = public(&disp, "/").await;
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
        dashboard(&disp).await.dispatch.eligible == 2
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
        || async { (dashboard(&disp).await.dispatch.eligible == 0).then_some(()) },
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
    let legacy = entry(&disp, "legacy").await.expect("listed");
    assert_eq!((legacy.cpu_percent, legacy.mem_percent), (12.0, 40.0));
    assert!(seed.count(api::LOAD) >= 1);
}
