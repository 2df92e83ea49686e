//! The admin API: drain, maintenance and ready need the admin token, and
//! an operator's override wins over the agent's own state until cleared.

use signpost_e2e::dispatcher::{
    backends, next_seq, push, report, state_of, steady_dispatcher, visit,
};
use signpost_e2e::{Proc, client, eventually};
use signpost_shared::{BackendState, api};

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
