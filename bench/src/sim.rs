//! The balance simulator: simulated servers, the dispatcher's real registry
//! and strategies, and a clock that is advanced instead of read.
//!
//! Jobs arrive as a Poisson process at `load × total capacity`; each has an
//! exponential size of mean 1 (one mean service time at speed 1) and goes
//! to whichever server the balancer picks, into a FIFO [`Server`]. Agents
//! report every `T` service times, either all at once (Mitzenmacher's
//! bulletin board, "How useful is old information?", IEEE TPDS 2000) or
//! each at its own phase. Reports go through [`Registry::observe`] at their
//! instant, which publishes the node's new projection at once, and the pool
//! is rebuilt [`REBUILD_GAP`] later, exactly as the dispatcher's ingest and
//! maintenance loop do; between reports every pick is recorded on the
//! backend's counter, so `least-load` projects from what it sent.
//!
//! One mean service time is [`SERVICE_SECONDS`] on the dispatcher's clock:
//! the dispatcher's own constants (rebuild gaps, refresh periods) are in
//! seconds, so the simulation must say how long a job is.
//!
//! Arrivals and job sizes come from one seeded generator and decisions from
//! another, so every balancer faces the very same jobs (common random
//! numbers) and every run prints the same table.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng};
use signpost_dispatcher::load::SpeedMeter;
use signpost_dispatcher::pool::{Policy, Pool};
use signpost_dispatcher::registry::{Registry, Source};
use signpost_dispatcher::select::Strategy;
use signpost_shared::LoadReport;
use tokio::time::Instant;

use crate::balancer::{Balancer, NodeView, Weights};
use crate::harness;
use crate::queue::Server;

/// One mean service time, in seconds of the dispatcher's clock: 40 ms, a
/// typical web request.
pub const SERVICE_SECONDS: f64 = 0.04;

/// The queue length a queue-proportional signal shows as 100%.
pub const QUEUE_FULL: f64 = 20.0;

/// The maintenance loop rebuilds this long after a report (its minimum gap
/// for a small pool), in seconds.
pub const REBUILD_GAP: f64 = 0.005;

/// The golden ratio's fractional part: multiples of it, modulo 1, fall
/// evenly over [0, 1) in an order unrelated to the index.
const GOLDEN_FRACTION: f64 = 0.618_033_988_749_895;

/// Mixed into a run's seed to deal its report slots ([`report_slots`]),
/// so the arrivals and decisions stay those of earlier builds.
const SLOT_SEED: u64 = 0x6a09_e667_f3bc_c908;

/// What a simulated agent puts in `cpu_percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// The busy fraction of the last report interval — what a real agent
    /// measures as CPU utilisation of a one-core server. It saturates at
    /// 100% however long the queue.
    Busy,
    /// `min(100, 100 · q / QUEUE_FULL)`: the queue length `q` at the report
    /// when agents refresh together, its mean over the interval when they
    /// refresh out of phase (BALANCE.md's two reference set-ups).
    Queue,
    /// The busy fraction, as [`Signal::Busy`], plus what a Linux agent
    /// adds beside it: `cpu_pressure`, the share of the interval in which
    /// a job waited (PSI `some`), and `runnable`, the jobs in the system
    /// at the report. Issue #16 asks whether least-load should read them.
    Pressure,
}

/// When agents refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phases {
    /// All at the same instants.
    Together,
    /// Each node at its own slot `s` of `N`, at `(s + ½) / N` of each
    /// interval, the slots dealt by the run's seed ([`report_slots`]).
    Apart,
}

/// How fast the servers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Speeds {
    /// All at speed 1.
    Equal,
    /// The first half twice as fast (with 3 servers, one of them).
    TwoToOne,
    /// The first half four times as fast.
    FourToOne,
    /// All at speed 1 until half the jobs have arrived, then server 0 at ½
    /// (another tenant arrived on its host).
    Halving,
}

/// The fixed part of a simulation: servers, load and jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Number of servers.
    pub servers: usize,
    /// Their speeds; no weights are reported (except by the oracle row).
    pub speeds: Speeds,
    /// Arrival rate as a fraction of total capacity (after a halving).
    pub load: f64,
    /// Arrivals simulated, warm-up included.
    pub jobs: usize,
    /// Over how many mean service times the reports of agents refreshing
    /// in phase reach the dispatcher: it polls each agent from a task of
    /// its own whose ticks drift apart, so its rebuilds see a round of
    /// reports a few at a time over up to a poll interval (100 ms, 2.5
    /// service times of 40 ms, in `bench/balance-e2e.sh`, where a round
    /// came in over ~55 ms; the default `--poll-interval` is 1 s). 0 is
    /// the bulletin board, every report at one instant.
    pub spread: f64,
    /// Leading arrivals left out of the statistics.
    pub warmup: usize,
    /// Seed of the arrival process; decisions use a derived seed.
    pub seed: u64,
    /// Print `least-load`'s view of the pool to stderr every this many
    /// arrivals ([`trace_line`]): what the tables' means cannot say — which
    /// node queued, what the dispatcher had learnt of it, where the picks
    /// went.
    pub trace: Option<usize>,
}

/// One cell of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Servers, load and jobs.
    pub scenario: Scenario,
    /// Report interval, in mean service times.
    pub refresh: f64,
    /// What the reports carry.
    pub signal: Signal,
    /// When agents refresh.
    pub phases: Phases,
    /// Who decides.
    pub balancer: Balancer,
}

/// Response-time statistics of one cell, in mean service times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Mean response time (waiting plus service).
    pub mean: f64,
    /// 99th percentile of response time.
    pub p99: f64,
    /// Jobs counted (after warm-up).
    pub counted: usize,
}

/// Simulated servers and the dispatcher state they feed.
struct World {
    servers: Vec<Server>,
    /// Time, busy time, queue area and waiting time at each node's
    /// previous report.
    before: Vec<(f64, f64, f64, f64)>,
    /// What each node last reported, and what it was sent since.
    view: Vec<NodeView>,
    /// Each node's next report, in simulated time.
    next_report: Vec<f64>,
    /// The pending rebuild, if any.
    rebuild_at: Option<f64>,
    /// The simulated time of the last report or rebuild played.
    clock: f64,
    registry: Registry,
    strategy: Strategy,
    policy: Arc<Policy>,
    pool: Pool,
    /// The registry's clock at simulated time 0.
    epoch: Instant,
    seq: Vec<u64>,
    signal: Signal,
    phases: Phases,
    refresh: f64,
    weights: Weights,
    /// Each node's speed at its previous report (`None` before the first).
    speed_before: Vec<Option<f64>>,
    /// The pool's mean speed at the start: what a node's first report,
    /// which covers nothing, tells of it ([`Weights::CoveredSpeed`]).
    mean_speed: f64,
    /// Each node's speed as measured from its reports ([`Weights::Measured`]).
    meters: Vec<SpeedMeter>,
}

/// Runs one cell to completion.
pub fn run(cell: &Cell) -> Outcome {
    let Scenario {
        load,
        jobs,
        warmup,
        seed,
        speeds,
        servers,
        trace,
        ..
    } = cell.scenario;
    let trace = trace.filter(|_| cell.balancer == Balancer::LeastLoad);
    let mut picks = vec![0u64; servers];
    let mut world = World::new(cell);
    let capacity = match speeds {
        Speeds::Halving => servers as f64 - 0.5,
        _ => world.servers.iter().map(Server::speed).sum::<f64>(),
    };
    let rate = load * capacity;
    let halve_at = (speeds == Speeds::Halving).then_some(jobs as f64 / 2.0 / rate);
    let mut arrivals = SmallRng::seed_from_u64(seed);
    let mut decisions = SmallRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut responses = Vec::with_capacity(jobs.saturating_sub(warmup));
    let mut t = 0.0;
    // Every agent's first report at start, then each at its own phase.
    for node in 0..servers {
        world.report(node, 0.0);
    }
    world.rebuild(0.0);
    // Every node has reported over time once its first phase has passed.
    let informed_from = world.next_report.iter().copied().fold(0.0, f64::max);
    for job in 0..jobs {
        t += exponential(&mut arrivals) / rate;
        let size = exponential(&mut arrivals);
        if halve_at.is_some_and(|h| t >= h) && world.servers[0].speed() == 1.0 {
            world.servers[0].set_speed(0.5);
        }
        world.catch_up(t);
        if cell.balancer == Balancer::InformedSed && t >= informed_from {
            for (view, server) in world.view.iter_mut().zip(&mut world.servers) {
                view.exact = Some((server.queue_len(t) as u64, server.speed()));
            }
        }
        let now = world.at(t);
        let chosen = cell
            .balancer
            .pick(&world.pool, &world.view, now, &mut decisions);
        world.view[chosen].sent_since += 1;
        if let Some(every) = trace {
            picks[chosen] += 1;
            if (job + 1) % every == 0 {
                eprintln!("{}", trace_line(cell, &mut world, &picks, t));
                picks.fill(0);
            }
        }
        let response = world.servers[chosen].assign(t, size);
        if job >= warmup {
            responses.push(response);
        }
    }
    summarise(responses)
}

/// One line of `simulate --trace`: the cell, the time in service times,
/// and per node (by index) its queue, the capacity factor and cost per
/// redirect `least-load` has learnt, its last report's figure as
/// projected, and the picks it got since the last line.
fn trace_line(cell: &Cell, world: &mut World, picks: &[u64], t: f64) -> String {
    let Scenario {
        servers,
        speeds,
        load,
        ..
    } = cell.scenario;
    // A node out of the pool (none is, in the simulator) shows a dash.
    let mut capacity = vec![String::from("-"); servers];
    let mut cost = capacity.clone();
    let mut report = capacity.clone();
    for backend in world.pool.backends() {
        let node: usize = backend.id.parse().expect("node ids are indexes");
        let projection = backend.load.projection();
        capacity[node] = format!("{:.2}", backend.capacity);
        cost[node] = format!("{:.4}", projection.cost);
        report[node] = format!("{:.2}", projection.base);
    }
    let queue: Vec<String> = (0..servers)
        .map(|i| world.servers[i].queue_len(t).to_string())
        .collect();
    let picks: Vec<String> = picks.iter().map(u64::to_string).collect();
    format!(
        "trace N={servers} load={load} {speeds:?} {:?} {:?} T={} t={t:.0} queue=[{}] capacity=[{}] cost=[{}] report=[{}] picks=[{}]",
        cell.signal,
        cell.phases,
        cell.refresh,
        queue.join(" "),
        capacity.join(" "),
        cost.join(" "),
        report.join(" "),
        picks.join(" "),
    )
}

/// The slot in each report interval at which each of `servers` agents
/// refreshing out of phase reports, dealt by `seed`: the fast nodes are
/// the low indexes, and slots by index had them report first in every run
/// — the order a start goes best in. Dealt by index, the long grids'
/// queue-shaped figures missed 65 goals of 5 760 (seeds 1–8); fast nodes
/// last, 85; by the golden ratio, 73; dealt by each seed, 83
/// (`bench/RESULTS.md`, thirty-fifth session). A fleet guarantees no
/// order.
fn report_slots(servers: usize, seed: u64) -> Vec<usize> {
    let mut slots: Vec<usize> = (0..servers).collect();
    slots.shuffle(&mut SmallRng::seed_from_u64(seed ^ SLOT_SEED));
    slots
}

/// An exponential variate of mean 1.
fn exponential<R: Rng>(rng: &mut R) -> f64 {
    -(1.0 - rng.random::<f64>()).ln()
}

fn summarise(mut responses: Vec<f64>) -> Outcome {
    let counted = responses.len();
    if counted == 0 {
        return Outcome {
            mean: f64::NAN,
            p99: f64::NAN,
            counted,
        };
    }
    let mean = responses.iter().sum::<f64>() / counted as f64;
    let at = (counted * 99 / 100).min(counted - 1);
    let (_, &mut p99, _) = responses.select_nth_unstable_by(at, f64::total_cmp);
    Outcome { mean, p99, counted }
}

// === impl World ===

impl World {
    fn new(cell: &Cell) -> Self {
        let Scenario {
            servers,
            speeds,
            spread,
            ..
        } = cell.scenario;
        let fast = match speeds {
            Speeds::TwoToOne => 2.0,
            Speeds::FourToOne => 4.0,
            Speeds::Equal | Speeds::Halving => 1.0,
        };
        let speed = |i: usize| if i < servers / 2 { fast } else { 1.0 };
        let strategy = cell.balancer.strategy();
        let policy = harness::policy();
        let refresh = cell.refresh;
        let slots = report_slots(servers, cell.scenario.seed);
        let phase = |k: usize| match cell.phases {
            // Scattered over the spread by the golden ratio: evenly, in no
            // order of speed.
            Phases::Together => refresh + spread * (k as f64 * GOLDEN_FRACTION).fract(),
            Phases::Apart => (slots[k] as f64 + 0.5) / servers as f64 * refresh,
        };
        // Reports are never older than T, so nothing goes stale.
        let stale_after = Duration::from_secs_f64((3.0 * refresh * SERVICE_SECONDS).max(3.0));
        World {
            servers: (0..servers).map(|i| Server::new(speed(i))).collect(),
            before: vec![(0.0, 0.0, 0.0, 0.0); servers],
            view: vec![NodeView::default(); servers],
            next_report: (0..servers).map(phase).collect(),
            rebuild_at: None,
            clock: 0.0,
            registry: harness::registry(stale_after),
            pool: Pool::empty(&strategy, policy.clone()),
            strategy,
            policy,
            epoch: Instant::now(),
            seq: vec![0; servers],
            signal: cell.signal,
            phases: cell.phases,
            refresh,
            weights: cell.balancer.weights(),
            speed_before: vec![None; servers],
            mean_speed: (0..servers).map(speed).sum::<f64>() / servers as f64,
            meters: vec![SpeedMeter::default(); servers],
        }
    }

    /// Plays every report and rebuild due by `t`, in time order.
    fn catch_up(&mut self, t: f64) {
        loop {
            let report = self
                .next_report
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let rebuild = self.rebuild_at.unwrap_or(f64::INFINITY);
            let deadline = self
                .registry
                .next_deadline(self.at(self.clock))
                .map_or(f64::INFINITY, |at| self.sim_time(at));
            let next = report.min(rebuild).min(deadline);
            if next > t {
                return;
            }
            self.clock = next;
            if next == report {
                self.report_due(report);
            } else {
                self.rebuild(next);
            }
        }
    }

    /// Every node whose report is due at `at` reports; a rebuild follows.
    fn report_due(&mut self, at: f64) {
        for node in 0..self.servers.len() {
            if self.next_report[node] <= at {
                self.report(node, at);
                self.next_report[node] += self.refresh;
            }
        }
        let gap = REBUILD_GAP / SERVICE_SECONDS;
        if self.rebuild_at.is_none() {
            self.rebuild_at = Some(at + gap);
        }
    }

    /// What node's agent reports at `at`, in percent.
    fn figure(&mut self, node: usize, at: f64) -> f64 {
        let (last, busy_before, area_before, _) = self.before[node];
        let server = &mut self.servers[node];
        // The first report of an out-of-phase agent covers less than T.
        let span = (at - last).max(f64::MIN_POSITIVE);
        let percent = match (self.signal, self.phases) {
            (Signal::Busy | Signal::Pressure, _) => {
                100.0 * (server.busy_time(at) - busy_before) / span
            }
            (Signal::Queue, Phases::Together) => 100.0 * server.queue_len(at) as f64 / QUEUE_FULL,
            (Signal::Queue, Phases::Apart) => {
                let mean = (server.queue_area(at) - area_before) / span;
                100.0 * mean / QUEUE_FULL
            }
        };
        percent.clamp(0.0, 100.0)
    }

    fn report(&mut self, node: usize, at: f64) {
        let cpu_percent = self.figure(node, at);
        let (last, _, _, waited_before) = self.before[node];
        let server = &mut self.servers[node];
        let waited = server.waiting_time(at);
        let (cpu_pressure, runnable) = match self.signal {
            Signal::Pressure => {
                let span = (at - last).max(f64::MIN_POSITIVE);
                let share = ((waited - waited_before) / span).clamp(0.0, 1.0);
                (Some(100.0 * share), Some(server.queue_len(at) as u32))
            }
            Signal::Busy | Signal::Queue => (None, None),
        };
        let connections = server.queue_len(at) as u64;
        // Only the row that reports it pays for measuring a speed.
        let measured = (self.weights == Weights::Measured).then(|| {
            let meter = &mut self.meters[node];
            let elapsed = (at - last) * SERVICE_SECONDS;
            let sent = self.view[node].sent_since as f64;
            meter.observe(sent, cpu_percent / 100.0, connections, elapsed);
            meter
                .speed()
                .map_or(1.0, |speed| speed.per_busy_second * SERVICE_SECONDS)
        });
        self.before[node] = (at, server.busy_time(at), server.queue_area(at), waited);
        let speed_before = self.speed_before[node].replace(server.speed());
        self.view[node] = NodeView {
            reported: cpu_percent / 100.0,
            sent_since: 0,
            cost: match self.signal {
                Signal::Queue => 1.0 / QUEUE_FULL,
                Signal::Busy | Signal::Pressure => 1.0 / server.speed() / self.refresh,
            },
            // Told again before the next pick, once the row is told it.
            exact: None,
        };
        self.seq[node] += 1;
        let report = LoadReport {
            node_id: node.to_string(),
            url: Some(format!("http://s{node}.sim")),
            cpu_percent,
            cpu_pressure,
            runnable,
            cores: 1,
            connections,
            weight: match self.weights {
                Weights::Unknown => 1.0,
                Weights::TrueSpeed => server.speed(),
                Weights::CoveredSpeed => speed_before.unwrap_or(self.mean_speed),
                Weights::Measured => measured.unwrap_or(1.0),
            },
            seq: self.seq[node],
            sampled_at_ms: (at * SERVICE_SECONDS * 1000.0) as u64,
            agent_version: "sim".into(),
            ..LoadReport::default()
        };
        let now = self.at(at);
        self.registry
            .observe(Source::Push, report, now)
            .expect("simulated reports are valid");
    }

    fn rebuild(&mut self, at: f64) {
        self.rebuild_at = None;
        let now = self.at(at);
        self.pool = harness::snapshot(&mut self.registry, now, &self.strategy, &self.policy);
    }

    /// The registry's clock at simulated time `t`.
    fn at(&self, t: f64) -> Instant {
        self.epoch + Duration::from_secs_f64(t.max(0.0) * SERVICE_SECONDS)
    }

    /// Simulated time at the registry's `instant`.
    fn sim_time(&self, instant: Instant) -> f64 {
        instant.saturating_duration_since(self.epoch).as_secs_f64() / SERVICE_SECONDS
    }
}

#[cfg(test)]
mod tests;
