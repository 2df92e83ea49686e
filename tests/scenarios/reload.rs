//! SIGHUP: a bad configuration is refused and the running one stays; a
//! good one is swapped in without dropping the listeners.

use signpost_e2e::dispatcher::{control, dashboard, push, report, steady_dispatcher};
use signpost_e2e::{config_file, eventually};
use signpost_shared::api;

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
        dashboard(&disp).await.dispatch.eligible == 2
    })
    .await;
    assert_eq!(dashboard(&disp).await.dispatch.strategy, "round-robin");

    std::fs::write(config.path(), "strategy = \"nope\"\n").expect("write the broken config");
    disp.signal("HUP");
    eventually("the refusal is logged", || async {
        disp.stderr().contains("refused")
    })
    .await;
    let view = dashboard(&disp).await;
    assert_eq!(
        (view.dispatch.strategy.as_str(), view.dispatch.eligible),
        ("round-robin", 2)
    );

    // A new strategy and backend weight take effect; a new client
    // timeout cannot (the listeners are built once), and the log says so.
    let v2 = "strategy = \"weighted-round-robin\"\nclient_timeout = \"7s\"\n\n[[backend]]\nid = \"a\"\nurl = \"http://a-v2.test\"\nweight = 2\n";
    std::fs::write(config.path(), v2).expect("write the new config");
    disp.signal("HUP");
    eventually("the new config is in force", || async {
        dashboard(&disp).await.dispatch.strategy == "weighted-round-robin"
    })
    .await;
    eventually("the ignored client timeout is logged", || async {
        let log = disp.stderr();
        log.contains("change only with a restart") && log.contains("client-timeout")
    })
    .await;
    let view = dashboard(&disp).await;
    assert_eq!(
        view.dispatch.eligible, 2,
        "both backends kept their reports"
    );
    let a = view
        .backends
        .iter()
        .find(|b| b.id == "a")
        .expect("a is listed");
    assert_eq!((a.url.as_str(), a.weight), ("http://a-v2.test", 2.0));
    let healthz = control(&disp, api::HEALTHZ).await;
    assert_eq!(healthz.status(), 200, "the listeners never went away");
}
