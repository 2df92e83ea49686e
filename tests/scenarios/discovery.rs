//! DNS discovery (issue #21): an agent whose `--dispatcher` names several
//! replicas pushes to each of them, and a dispatcher whose `--agent` names
//! several agents polls each, both following the name as records come and
//! go. A real DNS server (dnsmasq) answers on a loopback port; three
//! dispatcher replicas (or three agents) share one port on 127.0.0.2, .3
//! and .4.

use std::time::Duration;

use signpost_e2e::dispatcher::{self, STALE, state_of};
use signpost_e2e::dns::Dns;
use signpost_e2e::{Proc, agent::agent, client, eventually, eventually_within, metric, scaled};
use signpost_shared::{BackendState, api};

/// `--dispatcher-refresh` in these scenarios.
const REFRESH: Duration = Duration::from_millis(300);

/// The replicas' addresses, all on the same port.
const REPLICAS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];

/// The node id the harness's agent reports.
const NODE: &str = "e2e-node";

#[tokio::test]
async fn an_agent_pushes_to_every_address_of_a_name_and_follows_it() {
    let (replicas, port) = replicas().await;
    let dns = Dns::start(&hosts(&[0, 1]), &[]).await;
    let dispatcher = format!("http://disp.test:{port}");
    let _agent = pushing_agent(&dispatcher, &dns).await;
    reached_exactly(&replicas, [true, true, false]).await;

    dns.set_hosts(&hosts(&[1, 2]));
    reached_exactly(&replicas, [false, true, true]).await;
}

#[tokio::test]
async fn an_agent_pushes_to_every_target_of_an_srv_name() {
    let (replicas, port) = replicas().await;
    let srv = [("_signpost._tcp.disp.test", "disp.test", port)];
    let dns = Dns::start(&hosts(&[0, 1, 2]), &srv).await;
    // No port in the URL: the SRV record's port is the one used.
    let _agent = pushing_agent("http://_signpost._tcp.disp.test", &dns).await;
    reached_exactly(&replicas, [true, true, true]).await;

    dns.set_hosts(&hosts(&[0, 2]));
    reached_exactly(&replicas, [true, false, true]).await;
}

#[tokio::test]
async fn a_failing_resolver_keeps_the_last_addresses_and_is_counted() {
    let (replicas, port) = replicas().await;
    let mut dns = Dns::start(&hosts(&[0, 2]), &[]).await;
    let agent = pushing_agent(&format!("http://disp.test:{port}"), &dns).await;
    reached_exactly(&replicas, [true, false, true]).await;

    dns.stop().await;
    let metrics = agent.url("agent") + api::METRICS;
    eventually("resolution failures are counted", || async {
        let body = client().get(&metrics).send().await.expect("GET /metrics");
        let body = body.text().await.expect("read /metrics");
        metric("signpost_agent_resolve_failures_total")
            .find(&body)
            .is_some_and(|failures| failures >= 1.0)
            && metric("signpost_agent_dispatcher_addresses")
                .value(2)
                .is_in(&body)
    })
    .await;
    reached_exactly(&replicas, [true, false, true]).await;
}

#[tokio::test]
async fn a_dispatcher_polls_every_agent_a_name_resolves_to() {
    let agents = agents_on_one_port().await;
    let port = agents[0].addr("agent").port();
    let dns = Dns::start(&named("agents.test", &[0, 1]), &[]).await;
    let disp = polling_dispatcher(&format!("http://agents.test:{port}"), &dns).await;
    polled_exactly(&disp, [true, true, false]).await;

    dns.set_hosts(&named("agents.test", &[1, 2]));
    polled_exactly(&disp, [false, true, true]).await;
    let metrics = dispatcher::metrics(&disp).await;
    metric("signpost_agent_addresses")
        .value(2)
        .assert_in(&metrics);
}

#[tokio::test]
async fn a_dispatcher_polls_every_target_of_an_srv_name() {
    let agents = agents_on_one_port().await;
    let port = agents[0].addr("agent").port();
    let srv = [("_signpost._tcp.agents.test", "agents.test", port)];
    let dns = Dns::start(&named("agents.test", &[0, 1, 2]), &srv).await;
    let disp = polling_dispatcher("http://_signpost._tcp.agents.test", &dns).await;
    polled_exactly(&disp, [true, true, true]).await;

    dns.set_hosts(&named("agents.test", &[0, 1]));
    polled_exactly(&disp, [true, true, false]).await;
}

/// A dispatcher polling `agent` through `dns`, re-resolving every
/// [`REFRESH`].
async fn polling_dispatcher(agent: &str, dns: &Dns) -> Proc {
    let resolver = dns.addr().to_string();
    let refresh = format!("{}ms", REFRESH.as_millis());
    let args = ["--agent", agent, "--resolver", &resolver];
    dispatcher::dispatcher(&[&args[..], &["--agent-refresh", &refresh]].concat()).await
}

/// Three dispatchers, one per [`REPLICAS`] address, whose control
/// listeners share one ephemeral port; and that port.
async fn replicas() -> (Vec<Proc>, u16) {
    let first = replica(REPLICAS[0], 0).await;
    let port = first.addr("control").port();
    let mut all = vec![first];
    for ip in &REPLICAS[1..] {
        all.push(replica(ip, port).await);
    }
    (all, port)
}

async fn replica(ip: &str, port: u16) -> Proc {
    let public = format!("{ip}:0");
    let control = format!("{ip}:{port}");
    let args = ["--listen", &public, "--control-listen", &control];
    Proc::command(dispatcher::BIN)
        .args(&["--poll-interval", "100ms", "--stale-after", "400ms"])
        .args(&args)
        .listeners(2)
        .spawn()
        .await
}

/// Three agents, one per [`REPLICAS`] address (node ids `node-0` to
/// `node-2`), listening on one ephemeral port.
async fn agents_on_one_port() -> Vec<Proc> {
    let mut all: Vec<Proc> = Vec::new();
    for (i, ip) in REPLICAS.iter().enumerate() {
        let port = all.first().map_or(0, |first| first.addr("agent").port());
        let listen = format!("{ip}:{port}");
        let (id, url) = (format!("node-{i}"), format!("http://{ip}:8000"));
        let args = ["--listen", &listen, "--node-id", &id, "--advertise", &url];
        let agent = Proc::command(signpost_e2e::agent::BIN)
            .args(&["--interval", signpost_e2e::agent::INTERVAL])
            .args(&args)
            .spawn()
            .await;
        all.push(agent);
    }
    all
}

/// Waits until the dispatcher has fresh reports from exactly the agents
/// marked true, and none from the others (stale or unknown).
async fn polled_exactly(disp: &Proc, expected: [bool; 3]) {
    let bound = scaled(REFRESH + STALE + Duration::from_millis(1500));
    let what = format!("the dispatcher polls exactly the agents {expected:?}");
    eventually_within(&what, bound, || async {
        for (i, want) in expected.into_iter().enumerate() {
            let ready = state_of(disp, &format!("node-{i}")).await == Some(BackendState::Ready);
            if ready != want {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// Host records naming `disp.test` at the chosen [`REPLICAS`].
fn hosts(which: &[usize]) -> Vec<(&'static str, &'static str)> {
    named("disp.test", which)
}

/// Host records naming `name` at the chosen [`REPLICAS`].
fn named(name: &'static str, which: &[usize]) -> Vec<(&'static str, &'static str)> {
    which.iter().map(|&i| (name, REPLICAS[i])).collect()
}

async fn pushing_agent(dispatcher: &str, dns: &Dns) -> Proc {
    let resolver = dns.addr().to_string();
    let refresh = format!("{}ms", REFRESH.as_millis());
    agent(&[
        "--advertise",
        "http://127.0.0.1:8000",
        "--dispatcher",
        dispatcher,
        "--resolver",
        &resolver,
        "--dispatcher-refresh",
        &refresh,
    ])
    .await
}

/// Waits until the agent's node is fresh on exactly the replicas marked
/// true, and stale or unknown on the others: within one refresh, one push
/// interval and one stale period (scaled for a busy machine).
async fn reached_exactly(replicas: &[Proc], expected: [bool; 3]) {
    let bound = scaled(REFRESH + STALE + Duration::from_millis(1500));
    let what = format!("reports reach exactly the replicas {expected:?}");
    eventually_within(&what, bound, || async {
        for (replica, want) in replicas.iter().zip(expected) {
            let ready = state_of(replica, NODE).await == Some(BackendState::Ready);
            if ready != want {
                return None;
            }
        }
        Some(())
    })
    .await;
}
