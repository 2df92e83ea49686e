//! `authorize` as a table, and the router through `oneshot` with the peer
//! address injected, so the non-loopback cases need no second network.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

const REMOTE: &str = "10.1.2.3:4000";
const LOCAL: &str = "127.0.0.1:4000";

#[test]
fn authorize_table() {
    let v4_loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let v6_loopback: IpAddr = "::1".parse().unwrap();
    let mapped_loopback: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    let remote: IpAddr = "10.1.2.3".parse().unwrap();
    let cases: &[(IpAddr, Option<&str>, Option<&str>, bool)] = &[
        (v4_loopback, None, None, true),
        (v6_loopback, None, Some("s3cret"), true),
        (mapped_loopback, None, None, true),
        (remote, None, None, false),
        (remote, Some("Bearer s3cret"), None, false),
        (remote, None, Some("s3cret"), false),
        (remote, Some("Bearer s3cret"), Some("s3cret"), true),
        (remote, Some("Bearer wrong"), Some("s3cret"), false),
        (remote, Some("Bearer s3cre"), Some("s3cret"), false),
        (remote, Some("s3cret"), Some("s3cret"), false),
        (remote, Some("Basic s3cret"), Some("s3cret"), false),
    ];
    for &(peer, header, token, want) in cases {
        assert_eq!(
            authorize(peer, header, token),
            want,
            "{peer} {header:?} {token:?}"
        );
    }
}

fn apps() -> Arc<AppReports> {
    Arc::new(AppReports::new(Duration::from_secs(1)))
}

fn report() -> LoadReport {
    LoadReport::from_json(br#"{"node_id":"n1","cpu_percent":10,"mem_percent":20,"seq":5}"#).unwrap()
}

/// Sends one request as if from `peer` and returns the status and JSON body.
async fn call(
    app: &Router,
    method: &str,
    path: &str,
    peer: &str,
    auth: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(auth) = auth {
        request = request.header(header::AUTHORIZATION, auth);
    }
    send(app, request.body(Body::empty()).unwrap(), peer).await
}

/// Sends `request` as if from `peer`: (status, JSON body or null).
async fn send(app: &Router, mut request: Request<Body>, peer: &str) -> (StatusCode, Value) {
    let peer: SocketAddr = peer.parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn load_serves_the_latest_report() {
    let (tx, _rx) = watch::channel(report());
    let app = router(tx.clone(), apps(), Arc::default(), None);
    let (status, body) = call(&app, "GET", api::LOAD, LOCAL, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["node_id"], "n1");
    assert_eq!(body["seq"], 5);
    tx.send_modify(|r| r.seq = 9);
    assert_eq!(call(&app, "GET", api::LOAD, REMOTE, None).await.1["seq"], 9);
    assert_eq!(
        call(&app, "GET", api::HEALTHZ, REMOTE, None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn drain_and_ready_flip_the_state_at_once() {
    let (tx, rx) = watch::channel(report());
    let app = router(tx, apps(), Arc::default(), None);
    let (status, body) = call(&app, "POST", api::DRAIN, LOCAL, None).await;
    assert_eq!(
        (status, &body["state"]),
        (StatusCode::OK, &json!("draining"))
    );
    assert_eq!(rx.borrow().state, NodeState::Draining);
    assert_eq!(rx.borrow().seq, 6, "a state change is a new report");
    let (_, body) = call(&app, "GET", api::LOAD, LOCAL, None).await;
    assert_eq!(body["state"], "draining");
    call(&app, "POST", api::READY, LOCAL, None).await;
    assert_eq!(rx.borrow().state, NodeState::Ready);
}

#[tokio::test]
async fn remote_state_changes_need_the_token() {
    let (tx, rx) = watch::channel(report());
    let app = router(tx, apps(), Arc::default(), Some("s3cret".into()));
    for auth in [None, Some("Bearer nope")] {
        let (status, body) = call(&app, "POST", api::DRAIN, REMOTE, auth).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{auth:?}");
        assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
        assert_eq!(rx.borrow().state, NodeState::Ready);
    }
    let (status, _) = call(&app, "POST", api::DRAIN, REMOTE, Some("Bearer s3cret")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rx.borrow().state, NodeState::Draining);
}

#[tokio::test]
async fn remote_state_changes_are_refused_without_a_configured_token() {
    let (tx, rx) = watch::channel(report());
    let app = router(tx, apps(), Arc::default(), None);
    let (status, _) = call(&app, "POST", api::DRAIN, REMOTE, Some("Bearer anything")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rx.borrow().state, NodeState::Ready);
}

/// POSTs `body` to the app-report endpoint as if from `peer`.
async fn post_app_report(app: &Router, peer: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(api::APP_REPORT)
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(app, request, peer).await
}

#[tokio::test]
async fn the_application_reports_its_own_load_from_this_host_only() {
    let (tx, rx) = watch::channel(report());
    let app = router(tx, apps(), Arc::default(), None);
    let post = r#"{"application_utilization": 0.75, "rps": 200, "eps": 30}"#;
    // From another host, even with what would be a valid body: refused.
    let (status, body) = post_app_report(&app, REMOTE, post).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"].as_str().unwrap().contains("loopback"),
        "{body}"
    );
    assert_eq!(rx.borrow().rps, None);
    // A bad body: 400 with the field at fault, nothing changed.
    let (status, body) = post_app_report(&app, LOCAL, r#"{"rps": 1, "eps": 2}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("eps"), "{body}");
    assert_eq!(rx.borrow().rps, None);
    // A good one is in the report at once, and in the answer.
    let (status, body) = post_app_report(&app, LOCAL, post).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["cpu_percent"], 75.0);
    assert_eq!(body["error_rate"], 0.15);
    assert_eq!(rx.borrow().rps, Some(200.0));
    // A body far larger than four numbers need is refused unread.
    let huge = format!(r#"{{"rps": 1{}}}"#, " ".repeat(crate::app_report::MAX_BODY));
    assert_eq!(
        post_app_report(&app, LOCAL, &huge).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}
