//! The balance simulator: simulated servers, the dispatcher's real registry
//! and strategies, and a clock that is advanced instead of read.
//!
//! Jobs arrive as a Poisson process at `load × total capacity`; each has an
//! exponential size of mean 1 (one mean service time at speed 1) and goes
//! to whichever server the balancer picks, into a FIFO [`Server`]. Every `T`
//! time units all servers report at once, as on Mitzenmacher's bulletin
//! board ("How useful is old information?", IEEE TPDS 2000): the reports go
//! through [`Registry::observe`] at that instant and the pool is rebuilt by
//! [`Registry::snapshot`], exactly as the dispatcher's ingest and
//! maintenance loop do. Between refreshes every pick is recorded on the
//! backend's live counter, so `least-load` projects from what it sent.
//! `T = 0` means reports are always current: before each arrival every node
//! whose figure changed, or that was sent a job, reports again.
//!
//! Arrivals and job sizes come from one seeded generator and decisions from
//! another, so every balancer faces the very same jobs (common random
//! numbers) and every run prints the same table.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};
use std::sync::Arc;

use signpost_dispatcher::pool::{Policy, Pool};
use signpost_dispatcher::registry::{Registry, Source};
use signpost_dispatcher::select::Strategy;
use signpost_shared::{LoadReport, NodeState};
use tokio::time::Instant;

use crate::balancer::Balancer;
use crate::harness;
use crate::queue::Server;

/// In the queue-length signal, each queued job reads as this many percent,
/// so a queue of 10 or more reads as full scale.
pub const PERCENT_PER_JOB: f64 = 10.0;

/// What a simulated agent puts in `cpu_percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// The busy fraction of the last report interval — what a real agent
    /// measures as CPU utilisation of a one-core server. It saturates at
    /// 100% however long the queue; at `T = 0` it is the instantaneous
    /// busy state (0% or 100%).
    Busy,
    /// The queue length at the report, [`PERCENT_PER_JOB`] per job, capped
    /// at 100% by the protocol — the signal of BALANCE.md's reference run.
    Queue,
}

/// The fixed part of a simulation: servers, load and jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scenario {
    /// Number of servers.
    pub servers: usize,
    /// If true, the first half of the servers are twice as fast.
    pub mixed: bool,
    /// If true, each agent reports its speed as its weight, as an operator
    /// who knows the capacities would configure; otherwise every weight is 1.
    pub weighted: bool,
    /// Arrival rate as a fraction of total capacity.
    pub load: f64,
    /// Arrivals simulated, warm-up included.
    pub jobs: usize,
    /// Leading arrivals left out of the statistics.
    pub warmup: usize,
    /// Seed of the arrival process; decisions use a derived seed.
    pub seed: u64,
}

/// One cell of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Servers, load and jobs.
    pub scenario: Scenario,
    /// Report refresh interval, in mean service times; 0 is always current.
    pub refresh: f64,
    /// What the reports carry.
    pub signal: Signal,
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
    /// `Server::busy_time` at each node's previous report.
    busy_before: Vec<f64>,
    /// Each node's last reported figure, and whether it was sent a job
    /// since (for `T = 0`).
    reported: Vec<(f64, bool)>,
    registry: Registry,
    strategy: Strategy,
    policy: Arc<Policy>,
    pool: Pool,
    /// The registry's clock at simulated time 0.
    epoch: Instant,
    seq: u64,
    signal: Signal,
    refresh: f64,
    weighted: bool,
}

/// Runs one cell to completion.
pub fn run(cell: &Cell) -> Outcome {
    let Scenario {
        load,
        jobs,
        warmup,
        seed,
        ..
    } = cell.scenario;
    let mut world = World::new(cell);
    let rate = load * world.servers.iter().map(Server::speed).sum::<f64>();
    let mut arrivals = SmallRng::seed_from_u64(seed);
    let mut decisions = SmallRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut responses = Vec::with_capacity(jobs.saturating_sub(warmup));
    let (mut t, mut refreshes) = (0.0, 0u64);
    world.refresh_all(0.0);
    for job in 0..jobs {
        t += exponential(&mut arrivals) / rate;
        let size = exponential(&mut arrivals);
        if cell.refresh > 0.0 {
            while (refreshes + 1) as f64 * cell.refresh <= t {
                refreshes += 1;
                world.refresh_all(refreshes as f64 * cell.refresh);
            }
        } else {
            world.refresh_changed(t);
        }
        let chosen = {
            let backend = cell
                .balancer
                .pick(&world.pool, &mut decisions)
                .expect("every simulated server is always eligible");
            backend.live.record();
            backend.id.parse::<usize>().expect("node ids are indexes")
        };
        world.reported[chosen].1 = true;
        let response = world.servers[chosen].assign(t, size);
        if job >= warmup {
            responses.push(response);
        }
    }
    summarise(responses)
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
        let Scenario { servers, mixed, .. } = cell.scenario;
        let speed = |i: usize| if mixed && i < servers / 2 { 2.0 } else { 1.0 };
        let strategy = cell.balancer.strategy();
        let policy = harness::policy();
        World {
            servers: (0..servers).map(|i| Server::new(speed(i))).collect(),
            busy_before: vec![0.0; servers],
            reported: vec![(f64::NAN, true); servers],
            // Reports are never older than T, so nothing goes stale.
            registry: harness::registry(Duration::from_secs(3600)),
            pool: Pool::empty(&strategy, policy.clone()),
            strategy,
            policy,
            epoch: Instant::now(),
            seq: 0,
            signal: cell.signal,
            refresh: cell.refresh,
            weighted: cell.scenario.weighted,
        }
    }

    /// Every node reports at `at`, then the pool is rebuilt.
    fn refresh_all(&mut self, at: f64) {
        self.seq += 1;
        for node in 0..self.servers.len() {
            self.report(node, at);
        }
        self.rebuild(at);
    }

    /// `T = 0`: the nodes whose figure changed, or that were sent a job,
    /// report at `at`; the pool is rebuilt if any did.
    fn refresh_changed(&mut self, at: f64) {
        self.seq += 1;
        let mut any = false;
        for node in 0..self.servers.len() {
            let (last, sent) = self.reported[node];
            if sent || self.figure(node, at) != last {
                self.report(node, at);
                any = true;
            }
        }
        if any {
            self.rebuild(at);
        }
    }

    /// What node's agent would report at `at`, in percent.
    fn figure(&mut self, node: usize, at: f64) -> f64 {
        let server = &mut self.servers[node];
        match self.signal {
            Signal::Queue => (server.queue_len(at) as f64 * PERCENT_PER_JOB).min(100.0),
            Signal::Busy if self.refresh == 0.0 => {
                if server.queue_len(at) > 0 {
                    100.0
                } else {
                    0.0
                }
            }
            Signal::Busy => {
                let busy = server.busy_time(at) - self.busy_before[node];
                (100.0 * busy / self.refresh).clamp(0.0, 100.0)
            }
        }
    }

    fn report(&mut self, node: usize, at: f64) {
        let cpu_percent = self.figure(node, at);
        self.busy_before[node] = self.servers[node].busy_time(at);
        self.reported[node] = (cpu_percent, false);
        let report = LoadReport {
            node_id: node.to_string(),
            url: Some(format!("http://s{node}.sim")),
            cpu_percent,
            mem_percent: 0.0,
            load1: 0.0,
            cores: 1,
            connections: self.servers[node].queue_len(at) as u64,
            cpu_pressure: None,
            runnable: None,
            weight: if self.weighted {
                self.servers[node].speed()
            } else {
                1.0
            },
            state: NodeState::Ready,
            healthy: true,
            seq: self.seq,
            sampled_at_ms: (at * 1000.0) as u64,
            agent_version: "sim".into(),
        };
        self.registry
            .observe(Source::Push, report, self.at(at))
            .expect("simulated reports are valid");
    }

    fn rebuild(&mut self, at: f64) {
        let now = self.at(at);
        self.pool = harness::snapshot(&mut self.registry, now, &self.strategy, &self.policy);
    }

    fn at(&self, t: f64) -> Instant {
        self.epoch + Duration::from_secs_f64(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(balancer: Balancer, refresh: f64) -> Cell {
        Cell {
            scenario: Scenario {
                servers: 10,
                mixed: false,
                weighted: false,
                load: 0.5,
                jobs: 20_000,
                warmup: 2_000,
                seed: 7,
            },
            refresh,
            signal: Signal::Busy,
            balancer,
        }
    }

    #[test]
    fn runs_are_deterministic() {
        let a = run(&cell(Balancer::LeastLoad, 0.5));
        assert_eq!(a, run(&cell(Balancer::LeastLoad, 0.5)));
        assert_eq!(a.counted, 18_000);
    }

    #[test]
    fn random_matches_mm1_theory() {
        // M/M/1 at 50% load: mean response 1 / (1 - 0.5) = 2.
        let got = run(&cell(Balancer::Random, 1.0)).mean;
        assert!((got - 2.0).abs() < 0.25, "{got}");
    }

    #[test]
    fn fresh_reports_beat_blind_choice() {
        let fresh = run(&cell(Balancer::Greedy, 0.0)).mean;
        let blind = run(&cell(Balancer::Random, 0.0)).mean;
        assert!(fresh < 0.7 * blind, "greedy {fresh} vs random {blind}");
    }
}
