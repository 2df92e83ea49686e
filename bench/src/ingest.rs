//! The ingest load generator of issue #5 part 3: many distinct nodes, each
//! pushing one report per interval to `POST /v1/report`, plus a probe that
//! measures how long a report takes to reach the pool clients are sent from.
//!
//! Pushes are spread evenly over the interval by worker tasks, each with
//! its own keep-alive connection, so 10 000 nodes at 1 s make a steady
//! 10 000 reports per second rather than a burst each second. Every node's
//! URL points at a loopback port nobody listens on: the dispatcher only
//! writes it into `Location` headers, and nothing follows them.
//!
//! The generator shares a core with wrk, so like wrk it is lean: a push is
//! one preformatted request written whole on a raw connection and an answer
//! read up to its declared length ([`Pusher`]), about a third of the CPU a
//! general HTTP client spends — otherwise the generator, not the
//! dispatcher, would cost wrk its throughput.
//!
//! The probe flips a node between `ready` and `maintenance` and polls that
//! node's own entry, `/v1/backends/{id}`, until its `eligible` flag — which
//! is read from the pool snapshot, not the registry — shows the flip. The
//! visible latency is therefore an upper bound: it includes the last poll's
//! round trip, which is reported beside it. (Polling the whole `/dashboard`
//! of 10 000 nodes took ~20 ms a round trip and measured mostly itself.)

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use signpost_shared::{BackendView, api};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, sleep_until, timeout};

/// Id of the node the probe flips.
const PROBE_ID: &str = "ingest-probe";

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Base URL of the dispatcher's control listener, e.g. `http://127.0.0.1:9100`.
    pub control: String,
    /// Distinct node ids pushing.
    pub nodes: usize,
    /// Each node pushes once per interval.
    pub interval: Duration,
    /// How long to push for.
    pub duration: Duration,
    /// Concurrent push tasks.
    pub workers: usize,
    /// Pause between two probes; `None` runs no probe.
    pub probe_every: Option<Duration>,
    /// Bearer token of `/v1/report`, if the dispatcher wants one.
    pub token: Option<String>,
    /// The `state` every node reports: `ready` nodes join the pool clients
    /// are sent from; `maintenance` ones isolate what ingest costs from what
    /// picking among thousands of backends costs.
    pub state: String,
}

/// A keep-alive connection that pushes reports, reconnecting after errors.
#[derive(Debug)]
struct Pusher {
    /// `host:port` of the control listener.
    authority: String,
    /// The request head up to (not including) `content-length`.
    head: String,
    stream: Option<TcpStream>,
    request: Vec<u8>,
    answer: Vec<u8>,
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Reports answered 2xx.
    pub accepted: u64,
    /// Reports refused or failed.
    pub failed: u64,
    /// Round-trip times of the pushes.
    pub push_rtt: Vec<Duration>,
    /// How far behind schedule the pushes fell at worst.
    pub max_lag: Duration,
    /// Report sent → flip visible in the pool, per probe.
    pub visible: Vec<Duration>,
    /// The round trip of the poll that saw each flip.
    pub last_poll: Vec<Duration>,
}

// === impl Summary ===

impl Summary {
    fn merge(&mut self, other: Summary) {
        self.accepted += other.accepted;
        self.failed += other.failed;
        self.push_rtt.extend(other.push_rtt);
        self.max_lag = self.max_lag.max(other.max_lag);
        self.visible.extend(other.visible);
        self.last_poll.extend(other.last_poll);
    }
}

/// The `q` quantile (0–1) of `samples`, or zero if there are none.
pub fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(at).copied().unwrap_or_default()
}

/// Runs `plan` to the end and sums up.
pub async fn run(plan: Plan) -> anyhow::Result<Summary> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .context("build the http client")?;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..plan.workers.max(1) {
        tasks.spawn(push(Pusher::new(&plan)?, plan.clone(), worker, start));
    }
    if let Some(every) = plan.probe_every {
        tasks.spawn(probe(client.clone(), plan.clone(), every, start));
    }
    let mut summary = Summary::default();
    while let Some(done) = tasks.join_next().await {
        summary.merge(done.context("a generator task panicked")??);
    }
    Ok(summary)
}

// === impl Pusher ===

impl Pusher {
    fn new(plan: &Plan) -> anyhow::Result<Self> {
        let authority = plan
            .control
            .strip_prefix("http://")
            .context("the control URL must be http://host:port")?
            .trim_end_matches('/')
            .to_owned();
        let auth = plan
            .token
            .as_ref()
            .map(|token| format!("authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST /v1/report HTTP/1.1\r\nhost: {authority}\r\n{auth}content-type: application/json\r\n"
        );
        Ok(Pusher {
            authority,
            head,
            stream: None,
            request: Vec::with_capacity(512),
            answer: Vec::with_capacity(512),
        })
    }

    /// Pushes report `seq` of node `id`, served on loopback `port`, as an
    /// agent would; true if answered 2xx. An error drops the connection;
    /// the next push opens a new one.
    async fn push(&mut self, id: &str, port: usize, seq: u64, state: &str) -> bool {
        self.request.clear();
        let body = format!(
            r#"{{"node_id":"{id}","url":"http://127.0.0.1:{port}","cpu_percent":{cpu:.1},"mem_percent":40.0,"cores":4,"state":"{state}","seq":{seq},"sampled_at_ms":{at},"agent_version":"ingest-load"}}"#,
            cpu = (seq % 90) as f64 + 5.0,
            at = seq * 1000,
        );
        // Writing into a Vec cannot fail.
        let _ = write!(
            self.request,
            "{}content-length: {}\r\n\r\n{body}",
            self.head,
            body.len()
        );
        match timeout(Duration::from_secs(5), self.exchange()).await {
            Ok(Ok(status)) => (200..300).contains(&status),
            _ => {
                self.stream = None;
                false
            }
        }
    }

    /// Writes the request and reads one whole answer; its status.
    async fn exchange(&mut self) -> anyhow::Result<u16> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.authority).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().context("connected above")?;
        stream.write_all(&self.request).await?;
        self.answer.clear();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = response.parse(&self.answer)? {
                let length: usize = response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                    .context("an answer without content-length")?;
                let status = response.code.context("an answer without status")?;
                let whole = head + length;
                while self.answer.len() < whole {
                    ensure!(stream.read_buf(&mut self.answer).await? > 0, "closed");
                }
                ensure!(self.answer.len() == whole, "more than one answer");
                return Ok(status);
            }
            ensure!(stream.read_buf(&mut self.answer).await? > 0, "closed");
        }
    }
}

/// Worker `worker` pushes for nodes `worker`, `worker + workers`, … at
/// evenly spaced instants.
async fn push(
    mut pusher: Pusher,
    plan: Plan,
    worker: usize,
    start: Instant,
) -> anyhow::Result<Summary> {
    let workers = plan.workers.max(1);
    // (id, port) of this worker's nodes, named once.
    let mine: Vec<(String, usize)> = (worker..plan.nodes)
        .step_by(workers)
        .map(|node| (format!("ingest-{node:05}"), 20_000 + node))
        .collect();
    let mut summary = Summary::default();
    if mine.is_empty() {
        return Ok(summary);
    }
    let spacing = plan.interval / mine.len() as u32;
    // Workers start staggered so their pushes interleave.
    let offset = spacing * worker as u32 / workers as u32;
    for k in 0u32.. {
        let due = start + offset + spacing * k;
        if due >= start + plan.duration {
            break;
        }
        let now = Instant::now();
        summary.max_lag = summary.max_lag.max(now.saturating_duration_since(due));
        sleep_until(due).await;
        let (id, port) = &mine[k as usize % mine.len()];
        let seq = u64::from(k) / mine.len() as u64 + 1;
        let sent = Instant::now();
        if pusher.push(id, *port, seq, &plan.state).await {
            summary.accepted += 1;
            summary.push_rtt.push(sent.elapsed());
        } else {
            summary.failed += 1;
        }
    }
    Ok(summary)
}

/// Flips the probe node every `every` and times until the pool shows it.
async fn probe(
    client: reqwest::Client,
    plan: Plan,
    every: Duration,
    start: Instant,
) -> anyhow::Result<Summary> {
    let mut pusher = Pusher::new(&plan)?;
    let mut summary = Summary::default();
    let url = format!("{}{}", plan.control, api::backend_path(PROBE_ID));
    // Let every node report once before timing anything.
    sleep_until(start + plan.interval * 2).await;
    let mut seq = 0;
    while start.elapsed() + every < plan.duration {
        seq += 1;
        let ready = seq % 2 == 0;
        let state = if ready { "ready" } else { "maintenance" };
        let sent = Instant::now();
        if !pusher.push(PROBE_ID, 19_999, seq, state).await {
            bail!("the probe's report was refused");
        }
        loop {
            let polled = Instant::now();
            let view: BackendView = client
                .get(&url)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?
                .error_for_status()?
                .json()
                .await
                .with_context(|| format!("parse {url}"))?;
            let eligible = view.eligible;
            if eligible == ready {
                summary.visible.push(sent.elapsed());
                summary.last_poll.push(polled.elapsed());
                break;
            }
            if sent.elapsed() > Duration::from_secs(5) {
                bail!("the probe's flip was not visible after 5 s");
            }
        }
        sleep(every).await;
    }
    Ok(summary)
}
