//! What an operator sees at 3 a.m.: a probe that never passed is logged,
//! and agents are back in a restarted dispatcher's pool within a few
//! intervals, not after a half-minute backoff.

use std::time::Duration;

use signpost_e2e::{Proc, Stub, eventually, eventually_within, reserved_port, scaled};

/// An agent advertising a backend that does not exist, plus `args`.
async fn agent(args: &[&str]) -> Proc {
    let advertise = ["--advertise", "http://127.0.0.1:7001"];
    signpost_e2e::agent::agent(&[&advertise[..], args].concat()).await
}

#[tokio::test]
async fn a_probe_failing_from_the_first_is_logged() {
    let app = Stub::start().await;
    app.respond(503, "");
    let agent = agent(&["--backend-health", &(app.url() + "/health")]).await;
    eventually("the failing probe to be logged", || async {
        agent.stderr().contains("backend health probe failing")
    })
    .await;
    app.respond(200, "");
    eventually("the recovery to be logged", || async {
        agent
            .stderr()
            .contains("backend health probe passing again")
    })
    .await;
    let stderr = agent.stderr();
    assert_eq!(
        stderr.matches("backend health probe failing").count(),
        1,
        "one warning, not one per probe:\n{stderr}"
    );
}

#[tokio::test]
async fn pushing_agents_return_soon_after_a_dispatcher_outage() {
    // A control port that nothing listens on yet: the agent fails, backs
    // off for a while, and must find the dispatcher within its capped
    // backoff (3 intervals) once it starts there. The port stays reserved
    // until the dispatcher starts: released for the whole outage, another
    // test's ephemeral port took it once and the dispatcher could not bind.
    let reserved = reserved_port();
    let control = reserved.local_addr().expect("a bound port").to_string();
    let agent = agent(&["--dispatcher", &format!("http://{control}")]).await;
    eventually("the push failure to be logged", || async {
        agent.stderr().contains("push failed")
    })
    .await;
    // The outage itself (this waits for time to pass, not for a
    // condition): with the old 30 s cap the backoff had grown to a ceiling
    // of 12-25 s by now, so the bound below failed most of the time; with
    // the cap at 3 intervals (600 ms) it has seconds of slack for a busy
    // machine.
    tokio::time::sleep(Duration::from_secs(8)).await;

    drop(reserved);
    let disp = Proc::command("signpost-dispatcher")
        .args(&["--listen", "127.0.0.1:0", "--control-listen", &control])
        .listeners(2)
        .spawn()
        .await;
    eventually_within(
        "the agent's node back in the pool",
        scaled(Duration::from_secs(5)),
        || async {
            let view = signpost_e2e::dispatcher::dashboard(&disp).await;
            (view.dispatch.eligible == 1).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn help_says_how_to_set_the_log_level() {
    for bin in ["signpost-dispatcher", "signpost-agent"] {
        let help = Proc::command(bin).args(&["--help"]).output().await;
        assert!(help.status.success(), "{bin}: {}", help.stderr);
        assert!(help.stdout.contains("RUST_LOG"), "{bin}:\n{}", help.stdout);
    }
}

#[tokio::test]
async fn sigterm_keeps_answering_for_the_shutdown_delay_then_exits_0() {
    let mut disp =
        signpost_e2e::dispatcher::loopback_dispatcher(&["--shutdown-delay", "1500ms"]).await;
    let report = signpost_e2e::dispatcher::report("web-1", "http://127.0.0.1:7101", 1);
    assert_eq!(signpost_e2e::dispatcher::push(&disp, &report).await, 200);
    eventually("web-1 takes clients", || async {
        signpost_e2e::dispatcher::redirect(&disp, "/").await.is_ok()
    })
    .await;

    let signalled = tokio::time::Instant::now();
    disp.terminate();
    eventually("the delay to be announced", || async {
        disp.stderr().contains("still answering for 1s 500ms")
    })
    .await;
    // A new client, on a new connection, during the delay.
    let fresh = signpost_e2e::client();
    let answer = fresh.get(disp.url("public") + "/late").send().await;
    assert_eq!(answer.map(|r| r.status().as_u16()).ok(), Some(302));

    let status = disp.wait_exit(scaled(Duration::from_secs(10))).await;
    assert!(status.success(), "{status}\n{}", disp.stderr());
    assert!(
        signalled.elapsed() >= Duration::from_millis(1500),
        "exited before the delay was over"
    );
}

/// Panics unless every non-empty line of `text` is a JSON object.
fn all_json(what: &str, text: &str) {
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok_and(|v| v.is_object()),
            "{what}: a line that is not JSON: {line}\n{text}"
        );
    }
}

#[tokio::test]
async fn json_logs_make_every_line_json_listening_and_startup_errors_included() {
    let mut disp = signpost_e2e::dispatcher::loopback_dispatcher(&["--log-format", "json"]).await;
    // Signal handlers are installed once it runs, not when it listens.
    eventually("the dispatcher to run", || async {
        disp.stderr().contains("dispatcher running")
    })
    .await;
    disp.terminate();
    let status = disp.wait_exit(scaled(Duration::from_secs(10))).await;
    assert!(status.success());
    assert!(disp.stdout().contains("\"listener\":\"public\""));
    all_json("stdout", &disp.stdout());
    all_json("stderr", &disp.stderr());

    // A port in use, and a bad config: the errors are JSON too.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("hold a port");
    let held = holder.local_addr().expect("the held port").to_string();
    for args in [
        ["--listen", held.as_str(), "--log-format", "json"],
        ["--listen", "127.0.0.1:0", "--stale-after", "1ms"],
    ] {
        let out = Proc::command("signpost-dispatcher")
            .args(&args)
            .args(&["--control-listen", "127.0.0.1:0"])
            .env("SIGNPOST_LOG_FORMAT", "json")
            .output()
            .await;
        assert!(!out.status.success(), "{args:?} started");
        assert!(out.stderr.contains("\"level\":\"ERROR\""), "{}", out.stderr);
        all_json("a failed start's stderr", &out.stderr);
        all_json("a failed start's stdout", &out.stdout);
    }
}
