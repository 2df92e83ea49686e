//! Client pinning with the real dispatcher: signed cookies (across
//! replicas) and client addresses.

use std::collections::HashMap;

use serde_json::json;
use signpost_e2e::dispatcher::{
    backends, dashboard, next_seq, push, report, state_of, steady_dispatcher, visit, visit_with,
};
use signpost_e2e::{Proc, client, eventually};

const SECRET: &str = "e2e-shared-cookie-secret-0123456789";

fn cookie_args() -> Vec<&'static str> {
    vec![
        "--sticky",
        "cookie",
        "--cookie-secret",
        SECRET,
        "--slow-start",
        "0s",
    ]
}

#[tokio::test]
async fn a_cookie_pins_the_client_even_to_the_busiest_node() {
    let disp = steady_dispatcher(&cookie_args()).await;
    backends(&disp, &[("busy", 95.0), ("idle", 2.0)]).await;
    // A client without a cookie gets one with its redirect.
    let (_, set) = visit(&disp, None, None).await;
    let set = set.expect("the first redirect pins the client");
    assert!(set.starts_with("signpost="), "{set}");
    // A cookie for the busy node keeps that client there, with no new cookie.
    let busy_cookie = cookie_for(&disp, "busy").await;
    for _ in 0..20 {
        let (location, set) = visit(&disp, Some(&busy_cookie), None).await;
        assert_eq!(location, "http://busy.test/page");
        assert_eq!(set, None, "a valid pin is not re-issued");
    }
}

#[tokio::test]
async fn forged_unknown_and_stale_pins_are_replaced() {
    let disp = steady_dispatcher(&cookie_args()).await;
    backends(&disp, &[("a", 10.0), ("b", 10.0)]).await;
    let valid_a = cookie_for(&disp, "a").await;
    let forged = format!("{}0", &valid_a[..valid_a.len() - 1]);
    let unknown = valid_a.replace("signpost=a.", "signpost=zz.");
    for bad in [forged.as_str(), unknown.as_str(), "signpost=garbage"] {
        let (_, set) = visit(&disp, Some(bad), None).await;
        let set = set.unwrap_or_else(|| panic!("{bad} was honoured"));
        assert!(
            set == valid_a || set == cookie_for(&disp, "b").await,
            "{set}"
        );
    }
    // The pinned node leaves (maintenance): its clients are re-pinned.
    let mut leaving = report("a", "http://a.test", next_seq());
    leaving["state"] = json!("maintenance");
    push(&disp, &leaving).await;
    eventually("a leaves the pool", || async {
        let (location, set) = visit(&disp, Some(&valid_a), None).await;
        location == "http://b.test/page" && set.is_some()
    })
    .await;
}

#[tokio::test]
async fn draining_nodes_keep_pinned_clients_only() {
    let disp = steady_dispatcher(&cookie_args()).await;
    backends(&disp, &[("a", 10.0), ("b", 10.0)]).await;
    let pinned_to_a = cookie_for(&disp, "a").await;
    let mut draining = report("a", "http://a.test", next_seq());
    draining["state"] = json!("draining");
    push(&disp, &draining).await;
    eventually("a is draining", || async {
        state_of(&disp, "a").await == Some(signpost_shared::BackendState::Draining)
    })
    .await;
    for _ in 0..10 {
        assert_eq!(
            visit(&disp, Some(&pinned_to_a), None).await.0,
            "http://a.test/page"
        );
        assert_eq!(visit(&disp, None, None).await.0, "http://b.test/page");
    }
}

#[tokio::test]
async fn replicas_with_the_same_secret_honour_each_others_cookies() {
    let one = steady_dispatcher(&cookie_args()).await;
    let two = steady_dispatcher(&cookie_args()).await;
    for disp in [&one, &two] {
        backends(disp, &[("a", 10.0), ("b", 10.0)]).await;
    }
    let (first, set) = visit(&one, None, None).await;
    let cookie = set.expect("replica one pins the client");
    for _ in 0..10 {
        let (location, set) = visit(&two, Some(&cookie), None).await;
        assert_eq!(location, first, "replica two honours replica one's pin");
        assert_eq!(set, None);
    }
    // A replica with another secret does not.
    let stranger = steady_dispatcher(&[
        "--sticky",
        "cookie",
        "--cookie-secret",
        "a-different-secret-0000",
    ])
    .await;
    backends(&stranger, &[("a", 10.0), ("b", 10.0)]).await;
    assert!(visit(&stranger, Some(&cookie), None).await.1.is_some());
}

#[tokio::test]
async fn ip_stickiness_is_stable_and_moves_only_the_leavers_clients() {
    let disp = steady_dispatcher(&[
        "--sticky",
        "ip",
        "--trust-forwarded",
        "127.0.0.0/8",
        "--slow-start",
        "0s",
    ])
    .await;
    backends(&disp, &[("a", 10.0), ("b", 10.0), ("c", 10.0)]).await;
    // One connection for all 160 visits: a client built per visit outlasted
    // the pushed reports' freshness on a loaded machine.
    let client = client();
    let clients: Vec<String> = (1..=40).map(|i| format!("198.51.100.{i}")).collect();
    let mut before = HashMap::new();
    for ip in &clients {
        let (first, _) = visit_with(&client, &disp, None, Some(ip)).await;
        for _ in 0..2 {
            assert_eq!(
                visit_with(&client, &disp, None, Some(ip)).await.0,
                first,
                "{ip} moved"
            );
        }
        before.insert(ip.clone(), first);
    }
    let owners: std::collections::HashSet<&String> = before.values().collect();
    assert!(
        owners.len() >= 2,
        "40 clients all hashed to one node: {owners:?}"
    );

    let mut leaving = report("b", "http://b.test", next_seq());
    leaving["state"] = json!("maintenance");
    push(&disp, &leaving).await;
    eventually("b leaves", || async {
        dashboard(&disp).await.dispatch.eligible == 2
    })
    .await;
    for ip in &clients {
        let (now, _) = visit_with(&client, &disp, None, Some(ip)).await;
        if before[ip] != "http://b.test/page" {
            assert_eq!(now, before[ip], "{ip} was not on b but moved");
        } else {
            assert_ne!(now, "http://b.test/page");
        }
    }
}

/// A valid cookie for `id`, learnt by asking until a redirect pins there.
async fn cookie_for(disp: &Proc, id: &str) -> String {
    let want = format!("http://{id}.test/page");
    signpost_e2e::eventually_some(&format!("a redirect pinning to {id}"), || async {
        let (location, set) = visit(disp, None, None).await;
        (location == want).then_some(set?)
    })
    .await
}
