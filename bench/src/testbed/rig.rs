//! The I/O of one testbed run: the agents' `/load` servers, the real
//! dispatcher as a child process, the refresh clock and the clients.
//!
//! Everything listens on 127.0.0.1 with ephemeral ports. The dispatcher is
//! started with `kill_on_drop` and killed when the run ends (or fails), and
//! every task the run spawned is aborted with it.

use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::Json;
use axum::extract::State;
use axum::routing::get;
use rand::SeedableRng as _;
use rand::rngs::SmallRng;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};
use signpost_shared::{DashboardView, api};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use super::reference::Reference;
use super::world::{self, Stats, World, quantile};
use super::{Cell, Plan};

/// The host every backend URL points at: a port nobody listens on, since
/// clients read the `Location` and never follow it.
const BACKEND_PREFIX: &str = "http://127.0.0.1:1/node";

/// How long the dispatcher may take to start and see every agent.
const STARTUP: Duration = Duration::from_secs(15);

/// Windows of a run over which the queue is averaged: enough to tell a
/// queue that is flat from one that grows.
pub const TIMELINE: usize = 5;

/// How the dispatcher of a run is started.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatcher {
    /// Its `--strategy`.
    pub strategy: String,
    /// Its `--overload`: `redirect` (fail-open) or `shed`.
    pub overload: String,
}

// === impl Dispatcher ===

impl Dispatcher {
    /// Its name in the tables: the strategy, and the overload policy when
    /// it is not the default `redirect`.
    pub fn label(&self) -> String {
        match self.overload.as_str() {
            "redirect" => self.strategy.clone(),
            overload => format!("{} --overload {overload}", self.strategy),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// How the dispatcher was started.
    pub dispatcher: Dispatcher,
    /// The offered load ρ.
    pub load: f64,
    /// What the clients refused by the dispatcher left behind.
    pub admission: Admission,
    /// Response times of the jobs the dispatcher placed.
    pub dispatched: Stats,
    /// Response times of each reference strategy, same arrivals.
    pub references: Vec<(Reference, Stats)>,
    /// The rig's own timing.
    pub rig: Rig,
}

/// Admission under overload: how many clients were refused, and whether
/// the queues of those admitted stayed bounded.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    /// Share of the requests sent after the warm-up that were answered
    /// 503: refused, not jobs.
    pub refused_share: f64,
    /// Clients the dispatcher itself counted as shed, over the whole run
    /// (its dashboard's `shed_total`): tells shedding from 503s for want of
    /// a backend.
    pub shed_total: u64,
    /// Mean jobs per node in the dispatched system over each of
    /// [`TIMELINE`] equal windows of the run.
    pub queue: Vec<f64>,
    /// When the last arrival fired, seconds into the run.
    pub seconds: f64,
}

/// How well the rig kept time: a reader's check that a run measured the
/// strategies, not the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rig {
    /// Requests sent.
    pub sent: usize,
    /// Answers 503 (shed, or no backend eligible); those jobs join no
    /// queue.
    pub unavailable: usize,
    /// Requests that failed or got another answer.
    pub failed: usize,
    /// Median and p99 of the dispatcher's answer latency, ms.
    pub answer_p50_ms: f64,
    /// See `answer_p50_ms`.
    pub answer_p99_ms: f64,
    /// p99 of how late an arrival fired after its Poisson instant, ms.
    pub late_p99_ms: f64,
    /// Arrivals per second actually achieved, over the offered rate.
    pub rate_ratio: f64,
}

/// What the clients collect, under the world's lock.
#[derive(Debug, Default)]
struct Tally {
    answers: Vec<f64>,
    /// Arrival instant of every request, and of every one answered 503.
    asked: Vec<f64>,
    refused: Vec<f64>,
    failed: usize,
}

type Shared = Arc<Mutex<(World, Tally)>>;

/// Runs `cell` once with `dispatcher`, seeded with `seed`.
pub async fn run(
    plan: &Plan,
    cell: &Cell,
    dispatcher: &Dispatcher,
    seed: u64,
) -> anyhow::Result<Run> {
    let shared: Shared = Arc::new(Mutex::new((World::new(plan, cell, seed), Tally::default())));
    let mut tasks = JoinSet::new();
    let mut agents = Vec::with_capacity(plan.nodes);
    for k in 0..plan.nodes {
        agents.push(serve_agent(&mut tasks, shared.clone(), k).await?);
    }
    let mut child = spawn_dispatcher(plan, cell, dispatcher, &agents)?;
    let outcome = drive(
        plan, cell, dispatcher, seed, &shared, &mut child, &mut tasks,
    )
    .await;
    child.kill().await.ok();
    tasks.shutdown().await;
    outcome
}

/// Serves node `k`'s `/load` on an ephemeral loopback port; returns the
/// agent's base URL.
async fn serve_agent(tasks: &mut JoinSet<()>, shared: Shared, k: usize) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind an agent")?;
    let addr = listener.local_addr()?;
    let router = axum::Router::new()
        .route(api::LOAD, get(load))
        .with_state((shared, k));
    tasks.spawn(async move {
        axum::serve(listener, router).await.ok();
    });
    Ok(format!("http://{addr}"))
}

/// `GET /load` of one node: its latest report as signpost's `LoadReport`.
async fn load(State((shared, k)): State<(Shared, usize)>) -> Json<Value> {
    let report = lock(&shared).0.latest(k);
    Json(json!({
        "node_id": format!("node{k}"),
        "url": format!("{BACKEND_PREFIX}{k}"),
        "cpu_percent": report.figure,
        "mem_percent": 30.0,
        "cores": 1,
        "connections": report.connections.round() as u64,
        "seq": report.seq,
        "sampled_at_ms": (report.at * 1000.0) as u64 + 1,
        "agent_version": "testbed",
    }))
}

/// Starts `dispatcher` polling `agents`.
fn spawn_dispatcher(
    plan: &Plan,
    cell: &Cell,
    dispatcher: &Dispatcher,
    agents: &[String],
) -> anyhow::Result<Child> {
    let mut command = Command::new(&plan.dispatcher);
    command
        .args(["--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"])
        .args([
            "--strategy",
            &dispatcher.strategy,
            "--overload",
            &dispatcher.overload,
            "--slow-start",
            "0s",
            "--workers",
            "1",
        ])
        .arg("--poll-interval")
        .arg(format!("{}ms", (plan.poll * 1000.0).round()))
        .arg("--stale-after")
        .arg(format!("{}ms", (plan.stale_after(cell) * 1000.0).round()));
    for agent in agents {
        command.arg("--agent").arg(agent);
    }
    command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", plan.dispatcher.display()))
}

/// Waits for the dispatcher, then runs the clock, the clients and the
/// refreshes, and collects what they measured.
async fn drive(
    plan: &Plan,
    cell: &Cell,
    dispatcher: &Dispatcher,
    seed: u64,
    shared: &Shared,
    child: &mut Child,
    tasks: &mut JoinSet<()>,
) -> anyhow::Result<Run> {
    let (public, control) = timeout(STARTUP, listening(child))
        .await
        .context("the dispatcher did not print its listeners in time")??;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(5))
        .build()?;
    wait_eligible(&client, &control, plan.nodes).await?;
    let start = Instant::now();
    tasks.spawn(refresh(shared.clone(), start));
    let url = format!("http://{public}/job");
    let (late, last) = arrive(plan, cell, shared, &client, &url, start, seed).await;
    let shed_total = dashboard(&client, &control).await?.dispatch.shed_total;
    let (world, tally) = &mut *lock(shared);
    let warmup = plan.warmup_seconds(cell);
    let (dispatched, references) = world.stats(warmup);
    tally.answers.sort_by(f64::total_cmp);
    let measured = |instants: &[f64]| instants.iter().filter(|&&t| t >= warmup).count();
    let jobs = plan.jobs(cell);
    Ok(Run {
        dispatcher: dispatcher.clone(),
        load: plan.load,
        admission: Admission {
            refused_share: measured(&tally.refused) as f64 / measured(&tally.asked).max(1) as f64,
            shed_total,
            queue: world.queue_timeline(last, TIMELINE),
            seconds: last,
        },
        dispatched,
        references,
        rig: Rig {
            sent: jobs,
            unavailable: tally.refused.len(),
            failed: tally.failed,
            answer_p50_ms: quantile(&tally.answers, 0.5),
            answer_p99_ms: quantile(&tally.answers, 0.99),
            late_p99_ms: late,
            rate_ratio: jobs as f64 / last / plan.arrival_rate(cell),
        },
    })
}

/// The dispatcher's dashboard view.
async fn dashboard(client: &reqwest::Client, control: &str) -> anyhow::Result<DashboardView> {
    let url = format!("http://{control}{}", api::DASHBOARD);
    let answer = client.get(&url).send().await.context("GET the dashboard")?;
    answer.json().await.context("read the dashboard")
}

/// Reads the dispatcher's `listening public|control ADDR` lines.
async fn listening(child: &mut Child) -> anyhow::Result<(String, String)> {
    let stdout = child.stdout.take().context("dispatcher stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut public, mut control) = (None, None);
    while public.is_none() || control.is_none() {
        let Some(line) = lines.next_line().await? else {
            bail!("the dispatcher exited before listening (see its stderr above)");
        };
        let mut words = line.split_whitespace().skip(1);
        match (words.next(), words.next()) {
            (Some("public"), Some(addr)) => public = Some(addr.to_owned()),
            (Some("control"), Some(addr)) => control = Some(addr.to_owned()),
            _ => {}
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((public.unwrap_or_default(), control.unwrap_or_default()))
}

/// Polls the dashboard until all `nodes` backends are eligible.
async fn wait_eligible(
    client: &reqwest::Client,
    control: &str,
    nodes: usize,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP;
    let mut seen = 0;
    while Instant::now() < deadline {
        if let Ok(view) = dashboard(client, control).await {
            seen = view.dispatch.eligible;
            if seen == nodes {
                return Ok(());
            }
        }
        sleep(Duration::from_millis(50)).await;
    }
    bail!("only {seen} of {nodes} backends became eligible within {STARTUP:?}")
}

/// Fires every agent refresh on time, forever (the run aborts it).
async fn refresh(shared: Shared, start: Instant) {
    loop {
        let due = lock(&shared).0.next_refresh();
        sleep_until(start + Duration::from_secs_f64(due)).await;
        let t = start.elapsed().as_secs_f64();
        lock(&shared).0.refresh_due(t);
    }
}

/// Sends `plan.jobs(cell)` Poisson arrivals (drawn from `seed`) to `url` from
/// `start`, waits for their answers, and returns the p99 of how late
/// arrivals fired (ms) and the instant of the last one (s).
async fn arrive(
    plan: &Plan,
    cell: &Cell,
    shared: &Shared,
    client: &reqwest::Client,
    url: &str,
    start: Instant,
    seed: u64,
) -> (f64, f64) {
    let rate = plan.arrival_rate(cell);
    let mut clients = JoinSet::new();
    let jobs = plan.jobs(cell);
    let mut late = Vec::with_capacity(jobs);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let (mut due, mut t) = (0.0, 0.0);
    for _ in 0..jobs {
        due += world::exponential(&mut rng) / rate;
        sleep_until(start + Duration::from_secs_f64(due)).await;
        t = start.elapsed().as_secs_f64();
        late.push((t - due) * 1000.0);
        let service = lock(shared).0.arrive(t);
        clients.spawn(ask(
            client.clone(),
            url.to_owned(),
            shared.clone(),
            t,
            service,
        ));
    }
    while clients.join_next().await.is_some() {}
    late.sort_by(f64::total_cmp);
    (quantile(&late, 0.99), t)
}

/// One client: asks the dispatcher where the job arriving at `t` goes, and
/// puts it there.
async fn ask(client: reqwest::Client, url: String, shared: Shared, t: f64, service: f64) {
    let sent = Instant::now();
    let answer = client.get(&url).send().await;
    let latency = sent.elapsed().as_secs_f64() * 1000.0;
    let (world, tally) = &mut *lock(&shared);
    tally.answers.push(latency);
    tally.asked.push(t);
    match answer {
        Ok(answer) if answer.status() == StatusCode::SERVICE_UNAVAILABLE => tally.refused.push(t),
        Ok(answer) => match node_of(&answer, world.nodes()) {
            Some(k) => world.dispatched(k, t, service),
            None => tally.failed += 1,
        },
        Err(_) => tally.failed += 1,
    }
}

/// The node a redirect names: `http://127.0.0.1:1/node<k>/job` → k.
fn node_of(answer: &reqwest::Response, nodes: usize) -> Option<usize> {
    if !answer.status().is_redirection() {
        return None;
    }
    node_in(answer.headers().get(LOCATION)?.to_str().ok()?, nodes)
}

/// The node of a `Location`, if it names one of `nodes`.
fn node_in(location: &str, nodes: usize) -> Option<usize> {
    let rest = location.strip_prefix(BACKEND_PREFIX)?;
    let k: usize = rest.split('/').next()?.parse().ok()?;
    (k < nodes).then_some(k)
}

fn lock(shared: &Shared) -> MutexGuard<'_, (World, Tally)> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_names_the_node() {
        assert_eq!(node_in("http://127.0.0.1:1/node3/job", 8), Some(3));
        assert_eq!(node_in("http://127.0.0.1:1/node12/job", 16), Some(12));
        assert_eq!(node_in("http://127.0.0.1:1/node8/job", 8), None);
        assert_eq!(node_in("http://127.0.0.1:2/node3/job", 8), None);
        assert_eq!(node_in("http://127.0.0.1:1/nodex/job", 8), None);
    }
}
