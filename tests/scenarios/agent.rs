//! `signpost-agent` as an operator runs it: `/load`, drain and ready, push,
//! the backend probe, `once`, signals and bad configuration.

use std::time::Duration;

use serde_json::Value;
use signpost_e2e::agent::{BIN, INTERVAL, agent};
use signpost_e2e::{Proc, Stub, client, eventually, eventually_some, eventually_within, patience};
use signpost_e2e::{cut_off_after_half_a_head, refused_url, scaled};
use signpost_shared::{LoadReport, NodeState, VERSION, api};
use tokio::net::{TcpListener, TcpStream};

/// `GET /load` as raw JSON.
async fn load_json(agent: &Proc) -> Value {
    let response = client()
        .get(agent.url("agent") + api::LOAD)
        .send()
        .await
        .expect("GET /load");
    assert_eq!(response.status(), 200);
    response.json().await.expect("/load answers JSON")
}

/// `GET /load`, validated the way a dispatcher validates it.
async fn load(agent: &Proc) -> LoadReport {
    LoadReport::from_json(load_json(agent).await.to_string().as_bytes())
        .expect("/load answers a valid report")
}

fn wall_clock_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    now.as_millis() as u64
}

#[tokio::test]
async fn load_reports_every_field_and_counts_connections() {
    // The advertised service: a listener with two established clients.
    let service = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let advertise = format!("http://{}", service.local_addr().unwrap());
    let _clients = [
        TcpStream::connect(service.local_addr().unwrap())
            .await
            .unwrap(),
        TcpStream::connect(service.local_addr().unwrap())
            .await
            .unwrap(),
    ];
    let _accepted = [
        service.accept().await.unwrap(),
        service.accept().await.unwrap(),
    ];
    let agent = agent(&["--advertise", &advertise, "--weight", "2.5"]).await;

    let raw = load_json(&agent).await;
    for field in [
        "node_id",
        "url",
        "cpu_percent",
        "mem_percent",
        "load1",
        "cores",
        "connections",
        "weight",
        "state",
        "healthy",
        "seq",
        "sampled_at_ms",
        "agent_version",
    ] {
        assert!(raw.get(field).is_some(), "{field} missing from {raw}");
    }
    let report = load(&agent).await;
    assert_eq!(report.node_id, "e2e-node");
    assert_eq!(report.url.as_deref(), Some(advertise.as_str()));
    assert_eq!(report.weight, 2.5);
    assert_eq!((report.state, report.healthy), (NodeState::Ready, true));
    assert_eq!(report.agent_version, VERSION);
    assert!(report.cores >= 1, "{report:?}");
    assert!(report.mem_percent > 0.0, "{report:?}");
    assert!(report.seq >= 1, "{report:?}");
    assert!(
        wall_clock_ms().abs_diff(report.sampled_at_ms) < 60_000,
        "{report:?}"
    );
    // Two clients connected to the advertised port (each connection shows
    // up twice in the socket table, once per end; only the server end has
    // the port as its local port).
    assert_eq!(report.connections, 2, "{report:?}");
}

#[tokio::test]
async fn seq_advances_every_interval() {
    let agent = agent(&[]).await;
    let first = load(&agent).await;
    let later = eventually_some("seq to advance by 3", || async {
        let report = load(&agent).await;
        (report.seq >= first.seq + 3).then_some(report)
    })
    .await;
    assert!(
        later.sampled_at_ms > first.sampled_at_ms,
        "{first:?} then {later:?}"
    );
}

#[tokio::test]
async fn drain_and_ready_round_trip() {
    let agent = agent(&[]).await;
    let post = |path: &str| client().post(agent.url("agent") + path).send();

    assert_eq!(post(api::DRAIN).await.unwrap().status(), 200);
    assert_eq!(
        load(&agent).await.state,
        NodeState::Draining,
        "drain shows at once"
    );
    assert_eq!(post(api::READY).await.unwrap().status(), 200);
    assert_eq!(
        load(&agent).await.state,
        NodeState::Ready,
        "ready shows at once"
    );
}

#[tokio::test]
async fn once_prints_one_report_and_exits_zero() {
    let output = Proc::command(BIN)
        .args(&["once", "--interval", INTERVAL, "--node-id", "once-node"])
        .output()
        .await;
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{output:?}");
    let report = LoadReport::from_json(lines[0].as_bytes()).unwrap();
    assert_eq!((report.node_id.as_str(), report.seq), ("once-node", 1));
}

/// `cpu_pressure` is there exactly when the host has PSI, `runnable`
/// always (the agent itself is running), and `--cpu-limit` (flag or env)
/// sets the CPU count the report is made against.
#[tokio::test]
async fn once_reports_contention_and_honours_cpu_limit() {
    let once = |flags: &'static [&'static str], env: &'static str| {
        Proc::command(BIN)
            .args(&["once", "--interval", INTERVAL, "--node-id", "n"])
            .args(flags)
            .env("SIGNPOST_AGENT_CPU_LIMIT", env)
            .output()
    };
    let host_psi = host_has_psi();
    for (flags, env, cores) in [(&["--cpu-limit", "1"][..], "3", 1), (&[][..], "3", 3)] {
        let output = once(flags, env).await;
        assert!(output.status.success(), "{output:?}");
        let report = LoadReport::from_json(output.stdout.as_bytes()).unwrap();
        assert_eq!(report.cores, cores, "{flags:?} {env}: {report:?}");
        assert!(report.runnable >= Some(1), "{report:?}");
        assert_eq!(report.cpu_pressure.is_some(), host_psi, "{report:?}");
    }
}

/// The figures travel from a real agent through a real dispatcher to the
/// dashboard's JSON.
#[tokio::test]
async fn contention_figures_reach_the_dashboard() {
    let disp = signpost_e2e::dispatcher::steady_dispatcher(&[]).await;
    let _agent = agent(&[
        "--dispatcher",
        &disp.url("control"),
        "--advertise",
        "http://127.0.0.1:9",
    ])
    .await;
    let backend = eventually_some("the agent's push on the dashboard", || async {
        let view = signpost_e2e::dispatcher::dashboard(&disp).await;
        view.backends.into_iter().find(|b| b.id == "e2e-node")
    })
    .await;
    assert!(backend.runnable >= Some(1), "{backend:?}");
    assert_eq!(
        backend.cpu_pressure.is_some(),
        host_has_psi(),
        "{backend:?}"
    );
}

/// Whether this kernel reports CPU pressure (PSI; not with `psi=0`).
fn host_has_psi() -> bool {
    std::fs::read_to_string("/proc/pressure/cpu").is_ok_and(|text| text.starts_with("some avg10="))
}

#[tokio::test]
async fn flag_beats_env_beats_file() {
    let dir = std::env::temp_dir().join(format!("signpost-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("precedence.toml");
    std::fs::write(
        &file,
        "node_id = \"from-file\"\nweight = 3\ninterval = \"200ms\"\n",
    )
    .unwrap();
    let once = |flags: &'static [&'static str]| {
        Proc::command(BIN)
            .args(&["once", "--config", file.to_str().unwrap()])
            .args(flags)
            .env("SIGNPOST_AGENT_NODE_ID", "from-env")
            .output()
    };

    let from_env = once(&[]).await;
    let report = LoadReport::from_json(from_env.stdout.as_bytes()).unwrap();
    assert_eq!(
        (report.node_id.as_str(), report.weight),
        ("from-env", 3.0),
        "env over file"
    );
    let from_flag = once(&["--node-id", "from-flag"]).await;
    let report = LoadReport::from_json(from_flag.stdout.as_bytes()).unwrap();
    assert_eq!(report.node_id, "from-flag", "flag over env");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn push_carries_the_token_and_a_valid_report() {
    let dispatcher = Stub::start().await;
    let _agent = agent(&["--dispatcher", &dispatcher.url(), "--token", "s3cret"]).await;

    eventually("a push to arrive", || async {
        dispatcher.count(api::REPORT) > 0
    })
    .await;
    let push = &dispatcher.requests()[0];
    assert_eq!(push.method, "POST");
    assert_eq!(push.uri, api::REPORT);
    assert_eq!(push.headers["authorization"], "Bearer s3cret");
    let report = LoadReport::from_json(&push.body).unwrap();
    assert_eq!(report.node_id, "e2e-node");
}

/// A refusing dispatcher and one that accepts connections but never answers
/// must not slow pushes to a live one, and the dead one's failure is logged
/// once, not at every attempt.
#[tokio::test]
async fn dead_dispatchers_do_not_delay_live_ones() {
    let dead = refused_url();
    let hanging = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    let live = Stub::start().await;
    let agent = agent(&[
        "--dispatcher",
        &dead,
        "--dispatcher",
        &hanging_url,
        "--dispatcher",
        &live.url(),
    ])
    .await;

    eventually("a first push to the live dispatcher", || async {
        live.count(api::REPORT) > 0
    })
    .await;
    let start = live.count(api::REPORT);
    // Five more at one per 200ms interval is one second; allow double.
    eventually_within(
        "five more pushes",
        scaled(Duration::from_secs(2)),
        || async { (live.count(api::REPORT) >= start + 5).then_some(()) },
    )
    .await;
    let stderr = agent.stderr();
    let warnings = stderr.matches("push failed").count();
    let dead_report_url = format!("{dead}{}", api::REPORT);
    let dead_warnings = stderr
        .lines()
        .filter(|l| l.contains(&dead_report_url))
        .count();
    assert_eq!(
        dead_warnings, 1,
        "one warning for the refusing dispatcher:\n{stderr}"
    );
    assert_eq!(warnings, 2, "one warning per failing dispatcher:\n{stderr}");
}

#[tokio::test]
async fn backend_health_follows_the_probed_application() {
    let app = Stub::start().await;
    app.respond(500, "");
    let agent = agent(&["--backend-health", &(app.url() + "/health")]).await;

    eventually("healthy: false while the app answers 500", || async {
        !load(&agent).await.healthy
    })
    .await;
    app.respond(200, "");
    eventually("healthy: true once the app answers 200", || async {
        load(&agent).await.healthy
    })
    .await;
    assert!(app.count("/health") >= 2);
}

#[tokio::test]
async fn sigterm_exits_zero_with_json_logs() {
    let mut agent = agent(&["--log-format", "json"]).await;
    load(&agent).await;
    agent.terminate();
    let status = agent.wait_exit(patience()).await;
    assert!(status.success(), "{status}\n{}", agent.stderr());
    let stderr = agent.stderr();
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    for line in stderr.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    }
}

#[tokio::test]
async fn bad_config_exits_64_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("signpost-e2e-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("typo.toml");
    std::fs::write(&file, "interval = \"1s\"\nlisten_addr = \"127.0.0.1:1\"\n").unwrap();
    let typo = ["--config", file.to_str().unwrap()];
    let cases: [(&[&str], &[&str]); 3] = [
        (&typo, &["listen_addr", "line 2"]),
        (
            &["--advertise", "ftp://x"],
            &["advertise", "ftp://x", "http or https"],
        ),
        (
            &["--interval", "50ms", "--weight=-1"],
            &["interval", "weight"],
        ),
    ];
    for (args, needles) in cases {
        let output = Proc::command(BIN).args(args).output().await;
        assert_eq!(output.status.code(), Some(64), "{args:?}: {output:?}");
        for needle in needles {
            assert!(
                output.stderr.contains(needle),
                "{args:?}: {needle:?} not in {}",
                output.stderr
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_is_cut_off() {
    let agent = agent(&[]).await;
    let mut stream = TcpStream::connect(agent.addr("agent")).await.unwrap();
    // The agent's head timeout is 10 s; allow for a loaded machine.
    assert!(
        cut_off_after_half_a_head(&mut stream, "/load", scaled(Duration::from_secs(20))).await,
        "a half-sent request held the agent's connection"
    );
    // And the agent still answers everyone else.
    load(&agent).await;
}
