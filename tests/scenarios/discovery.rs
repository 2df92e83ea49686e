//! DNS discovery (issue #21): an agent whose `--dispatcher` names several
//! replicas pushes to each of them, and follows the name as records come
//! and go. A real DNS server (dnsmasq) answers on a loopback port; three
//! dispatcher replicas share one control port on 127.0.0.2, .3 and .4.

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

/// Host records naming `disp.test` at the chosen [`REPLICAS`].
fn hosts(which: &[usize]) -> Vec<(&'static str, &'static str)> {
    which.iter().map(|&i| ("disp.test", REPLICAS[i])).collect()
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
