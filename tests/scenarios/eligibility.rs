//! Who may take new clients, and how many: backups only while no primary
//! can, never a draining or unhealthy node, and a joining node a share that
//! ramps up over the slow start.

use serde_json::json;
use signpost_e2e::dispatcher::{
    backends, dashboard, dispatcher_timed, entry, every_redirect_goes_to, hits, metrics, push,
    redirect, report, state_of, steady_dispatcher,
};
use signpost_e2e::{config_file, eventually, eventually_some, metric};
use signpost_shared::BackendState;

#[tokio::test]
async fn backups_serve_only_while_no_primary_is_eligible() {
    let config = config_file(
        "[[backend]]\nid = \"primary\"\nurl = \"http://127.0.0.1:7001\"\n\n\
         [[backend]]\nid = \"spare\"\nurl = \"http://127.0.0.1:7002\"\nbackup = true\n",
    );
    let disp = steady_dispatcher(&["--config", config.path().to_str().unwrap()]).await;
    // Reports without a url: the config names it.
    let mut spare = report("spare", "", 1);
    spare.as_object_mut().unwrap().remove("url");
    assert_eq!(push(&disp, &spare).await, 200);
    eventually("the backup serves while the primary is silent", || async {
        redirect(&disp, "/").await.as_deref() == Ok("http://127.0.0.1:7002/")
    })
    .await;
    let mut primary = report("primary", "", 1);
    primary.as_object_mut().unwrap().remove("url");
    push(&disp, &primary).await;
    eventually("the primary takes over", || async {
        redirect(&disp, "/").await.as_deref() == Ok("http://127.0.0.1:7001/")
    })
    .await;
    // Keep the spare fresh while checking that it gets nothing.
    spare["seq"] = json!(2);
    spare["sampled_at_ms"] = json!(1_763_700_000_002u64);
    push(&disp, &spare).await;
    every_redirect_goes_to(&disp, 20, "http://127.0.0.1:7001/").await;
}

#[tokio::test]
async fn draining_and_unhealthy_nodes_get_no_new_clients() {
    let disp = steady_dispatcher(&[]).await;
    push(&disp, &report("stay", "http://127.0.0.1:7101", 1)).await;
    let mut leaving = report("leaving", "http://127.0.0.1:7102", 1);
    leaving["state"] = json!("draining");
    push(&disp, &leaving).await;
    let mut sick = report("sick", "http://127.0.0.1:7103", 1);
    sick["healthy"] = json!(false);
    push(&disp, &sick).await;
    eventually("states are visible", || async {
        state_of(&disp, "sick").await == Some(BackendState::Down)
            && state_of(&disp, "leaving").await == Some(BackendState::Draining)
    })
    .await;
    every_redirect_goes_to(&disp, 30, "http://127.0.0.1:7101/").await;
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
async fn a_saturated_machine_is_learnt_slower_shown_and_logged() {
    let disp = steady_dispatcher(&["--slow-start", "0s"]).await;
    // Two machines sent alike; one keeps up at 40%, the other reports 100%.
    // Each round is a report from both and a burst of clients, until the
    // dashboard shows the saturated one learnt slower.
    let slow = eventually_some("the saturated machine is learnt slower", || async {
        backends(&disp, &[("quick", 40.0), ("slow", 100.0)]).await;
        for _ in 0..40 {
            redirect(&disp, "/").await.ok()?;
        }
        let slow = entry(&disp, "slow").await?;
        (slow.learnt_capacity < 1.0).then_some(slow)
    })
    .await;
    let quick = entry(&disp, "quick").await.expect("quick on the dashboard");
    assert_eq!(quick.learnt_capacity, 1.0, "{quick:?}");
    metric("signpost_backend_learnt_capacity")
        .label("backend", "slow")
        .value(slow.learnt_capacity)
        .assert_in(&metrics(&disp).await);
    // The log line says what moved it: its own figures — or, if the quick
    // machine (the median of two) stepped up first and the re-centring
    // moved the slow one, that machine by name.
    let stderr = disp.stderr();
    assert!(
        stderr.lines().any(|l| l.contains("learnt capacity changed")
            && l.contains("backend=\"slow\"")
            && l.contains("reason=")
            && (!l.contains("median machine changed") || l.contains("moved_by=\"quick ("))),
        "{stderr}"
    );
}
