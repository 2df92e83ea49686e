//! Overload shedding (`--overload shed`): once every backend is projected
//! past full, a growing share of clients is answered 503, new clients
//! before those a sticky cookie pins; the default (`redirect`) never sheds.

use reqwest::StatusCode;
use serde_json::json;
use signpost_e2e::dispatcher::{dashboard, dispatcher_timed, metrics, next_seq, push, report};
use signpost_e2e::{Proc, client, eventually, metric};

const SECRET: &str = "shedding-secret-0123456789";

/// A dispatcher with `args` and two backends reporting 98% CPU: nearly
/// full, so every redirect sent projects them further past capacity. Not
/// 99% or more: a pool that reports itself full without an idle moment is
/// shed more and more, pinned clients too (`edge::shed`'s unit tests),
/// and these tests measure the share the projection sets.
async fn full_pool(args: &[&str]) -> Rig {
    let disp = dispatcher_timed("1s", "4m", args).await;
    for id in ["a", "b"] {
        let mut r = report(id, &format!("http://{id}.test"), next_seq());
        r["cpu_percent"] = json!(98.0);
        assert_eq!(push(&disp, &r).await, 200);
    }
    eventually("both backends eligible", || async {
        dashboard(&disp).await.dispatch.eligible == 2
    })
    .await;
    Rig {
        disp,
        http: client(),
    }
}

/// A dispatcher and the client a test talks to it with (one client for
/// hundreds of requests: building one is slow).
struct Rig {
    disp: Proc,
    http: reqwest::Client,
}

/// One GET of the public listener with `cookie` if given.
async fn get(rig: &Rig, cookie: Option<&str>) -> reqwest::Response {
    let mut request = rig.http.get(rig.disp.url("public") + "/");
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.expect("GET public")
}

/// The `signpost=...` pair a first visit sets.
async fn sticky_cookie(rig: &Rig) -> String {
    let response = get(rig, None).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let set = response.headers()["set-cookie"].to_str().expect("ASCII");
    set[..set.find(';').unwrap_or(set.len())].to_owned()
}

#[tokio::test]
async fn new_clients_are_shed_before_pinned_ones() {
    let args = [
        "--overload",
        "shed",
        "--sticky",
        "cookie",
        "--cookie-secret",
        SECRET,
    ];
    let rig = full_pool(&args).await;
    let cookie = sticky_cookie(&rig).await;
    // Redirects push the projection past 1.0; shedding starts by degrees.
    eventually("new clients are shed", || async {
        for _ in 0..20 {
            let response = get(&rig, None).await;
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                let headers = response.headers();
                assert!(headers.contains_key("retry-after"), "{headers:?}");
                assert_eq!(headers["cache-control"], "no-store");
                return true;
            }
        }
        false
    })
    .await;
    let (mut new_shed, mut pinned_shed) = (0, 0);
    for _ in 0..100 {
        new_shed += usize::from(get(&rig, None).await.status() == 503);
        let pinned = get(&rig, Some(&cookie)).await;
        match pinned.status() {
            StatusCode::FOUND => assert!(pinned.headers().get("set-cookie").is_none()),
            StatusCode::SERVICE_UNAVAILABLE => pinned_shed += 1,
            other => panic!("a pinned client got {other}"),
        }
    }
    assert!(new_shed > 0, "no new client shed");
    let disp = &rig.disp;
    assert!(
        pinned_shed * 3 < new_shed,
        "{pinned_shed} pinned and {new_shed} new clients shed"
    );
    let body = metrics(disp).await;
    let shed = metric("signpost_limited_total").label("reason", "overload");
    assert!(
        shed.find(&body).is_some_and(|n| n >= new_shed as f64),
        "{body}"
    );
    assert!(
        metric("signpost_shed_share").find(&body).is_some(),
        "{body}"
    );
    let view = dashboard(disp).await;
    assert!(view.dispatch.shed_total >= new_shed as u64);
    eventually("the dashboard shows the share being shed", || async {
        dashboard(disp).await.dispatch.shed_share > 0.0
    })
    .await;
}

#[tokio::test]
async fn by_default_an_overloaded_pool_still_redirects() {
    let rig = full_pool(&[]).await;
    for _ in 0..300 {
        assert_eq!(get(&rig, None).await.status(), StatusCode::FOUND);
    }
    let disp = &rig.disp;
    let body = metrics(disp).await;
    let shed = metric("signpost_limited_total").label("reason", "overload");
    shed.value(0).assert_in(&body);
    let view = dashboard(disp).await;
    assert_eq!(
        (view.dispatch.shed_total, view.dispatch.shed_share),
        (0, 0.0)
    );
}
