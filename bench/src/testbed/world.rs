//! The synchronous core of one testbed run: the system the real dispatcher
//! drives, one system per reference strategy, the refresh schedule they
//! share, and every job's response time. No I/O and no clock: the rig
//! passes in each instant, in seconds since the run started.
//!
//! Every system sees the very same arrivals (the instant the request was
//! sent to the dispatcher) and the very same job sizes, so differences
//! between rows are the strategies', not the random streams' (common
//! random numbers).

use rand::rngs::SmallRng;
use rand::{Rng, RngExt, SeedableRng};

use super::board::{Board, Published, Signal};
use super::reference::{Picker, Reference};
use super::schedule::Schedule;
use super::{Cell, Plan};

/// All systems of one run.
#[derive(Debug)]
pub struct World {
    dispatched: Board,
    dispatched_jobs: Jobs,
    references: Vec<(Picker, Board, Jobs)>,
    schedule: Schedule,
    rng: SmallRng,
    mean_service: f64,
}

/// (arrival, response time) of every job a system placed, in seconds.
type Jobs = Vec<(f64, f64)>;

/// Response times of one system after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    /// Jobs measured.
    pub jobs: usize,
    /// Mean response time, ms.
    pub mean_ms: f64,
    /// 99th percentile of the response time, ms.
    pub p99_ms: f64,
}

// === impl World ===

impl World {
    /// Idle systems for `cell` under `plan`; `seed` fixes job sizes, poll
    /// phases, refresh jitter and the reference strategies' draws.
    pub fn new(plan: &Plan, cell: &Cell, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let speeds = cell.speeds(plan.nodes);
        let phases: Vec<f64> = (0..plan.nodes)
            .map(|_| rng.random_range(0.0..1.0) * plan.poll)
            .collect();
        let board = Board::new(&speeds, plan.poll, phases, cell.signal, plan.qmax);
        let costs: Vec<f64> = speeds
            .iter()
            .map(|&speed| {
                job_cost(
                    cell.signal,
                    plan.qmax,
                    plan.mean_service,
                    cell.period,
                    speed,
                )
            })
            .collect();
        let references = Reference::ALL
            .iter()
            .map(|&kind| {
                let picker = Picker::new(kind, speeds.clone(), costs.clone(), rng.next_u64());
                (picker, board.clone(), Vec::new())
            })
            .collect();
        World {
            schedule: Schedule::new(cell.phases, cell.period, plan.nodes, rng.next_u64()),
            dispatched: board,
            dispatched_jobs: Vec::new(),
            references,
            rng,
            mean_service: plan.mean_service,
        }
    }

    /// A job arrives at `t`: draws its size, lets every reference strategy
    /// place it in its own system, and returns its service time at speed 1
    /// for the dispatched system.
    pub fn arrive(&mut self, t: f64) -> f64 {
        let service = self.mean_service * exponential(&mut self.rng);
        for (picker, board, jobs) in &mut self.references {
            let k = picker.pick(board, t);
            jobs.push((t, board.assign(k, t, service)));
        }
        service
    }

    /// The dispatcher sent the job that arrived at `t` to node `k`.
    pub fn dispatched(&mut self, k: usize, t: f64, service: f64) {
        let response = self.dispatched.assign(k, t, service);
        self.dispatched_jobs.push((t, response));
    }

    /// When the next refresh is due.
    pub fn next_refresh(&self) -> f64 {
        self.schedule.next_due()
    }

    /// Every agent whose refresh is due at `t` samples, in every system.
    pub fn refresh_due(&mut self, t: f64) {
        for k in self.schedule.take_due(t) {
            self.dispatched.refresh(k, t);
            for (_, board, _) in &mut self.references {
                board.refresh(k, t);
            }
        }
    }

    /// What node `k` of the dispatched system serves at `/load`.
    pub fn latest(&self, k: usize) -> Published {
        self.dispatched.latest(k)
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.dispatched.len()
    }

    /// Mean jobs per node in the dispatched system over each of `windows`
    /// equal windows of `[0, end]` (see [`queue_timeline`]).
    pub fn queue_timeline(&self, end: f64, windows: usize) -> Vec<f64> {
        queue_timeline(&self.dispatched_jobs, self.nodes(), end, windows)
    }

    /// Response times of jobs that arrived at or after `warmup`: the
    /// dispatched system's, then each reference's.
    pub fn stats(&self, warmup: f64) -> (Stats, Vec<(Reference, Stats)>) {
        let references = self
            .references
            .iter()
            .map(|(picker, _, jobs)| (picker.kind(), Stats::of(jobs, warmup)))
            .collect();
        (Stats::of(&self.dispatched_jobs, warmup), references)
    }
}

/// How much one more job adds to a node's reported figure, truly: one
/// queue slot of `100 / qmax` for the queue signals; for the busy signal,
/// its service time as a share of the refresh period.
pub fn job_cost(signal: Signal, qmax: f64, mean_service: f64, period: f64, speed: f64) -> f64 {
    match signal {
        Signal::Queue | Signal::QueueMean => 100.0 / qmax,
        Signal::Busy => 100.0 * mean_service / (speed * period),
    }
}

/// The time-average number of `jobs` (arrival, response in seconds) in
/// the system, per node of `nodes`, over each of `windows` equal windows
/// of `[0, end]`: flat when the queues are bounded, rising when they grow.
/// Exact: a job counts for the part of `[arrival, arrival + response)`
/// that falls in the window.
pub fn queue_timeline(jobs: &[(f64, f64)], nodes: usize, end: f64, windows: usize) -> Vec<f64> {
    let width = end / windows.max(1) as f64;
    if width <= 0.0 || nodes == 0 {
        return vec![0.0; windows];
    }
    let mut area = vec![0.0; windows];
    for &(arrival, response) in jobs {
        for (i, area) in area.iter_mut().enumerate() {
            let (from, to) = (i as f64 * width, (i + 1) as f64 * width);
            *area += ((arrival + response).min(to) - arrival.max(from)).max(0.0);
        }
    }
    area.iter().map(|a| a / width / nodes as f64).collect()
}

/// A draw of the exponential distribution of mean 1.
pub fn exponential<R: Rng>(rng: &mut R) -> f64 {
    -(1.0 - rng.random::<f64>()).ln()
}

// === impl Stats ===

impl Stats {
    /// Mean and p99 of the responses of `jobs` (arrival, response in
    /// seconds) that arrived at or after `warmup`.
    pub fn of(jobs: &[(f64, f64)], warmup: f64) -> Stats {
        let mut kept: Vec<f64> = jobs
            .iter()
            .filter(|&&(t, _)| t >= warmup)
            .map(|&(_, r)| r * 1000.0)
            .collect();
        if kept.is_empty() {
            return Stats::default();
        }
        kept.sort_by(f64::total_cmp);
        Stats {
            jobs: kept.len(),
            mean_ms: kept.iter().sum::<f64>() / kept.len() as f64,
            p99_ms: quantile(&kept, 0.99),
        }
    }
}

/// The `q` quantile of `sorted` (nearest rank); 0 when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::super::schedule::Phases;
    use super::*;

    #[test]
    fn stats_skip_the_warm_up_and_take_nearest_rank_p99() {
        let jobs: Vec<(f64, f64)> = (0..=100).map(|i| (i as f64, i as f64 / 1000.0)).collect();
        let stats = Stats::of(&jobs, 1.0);
        assert_eq!(stats.jobs, 100);
        assert!((stats.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(stats.p99_ms, 99.0);
    }

    #[test]
    fn the_queue_timeline_integrates_jobs_in_system_per_window() {
        // Two nodes, windows [0, 1) and [1, 2): one job in system on
        // [0.5, 1.5), one on [1.0, 2.5) (cut at the end).
        let jobs = [(0.5, 1.0), (1.0, 1.5)];
        assert_eq!(queue_timeline(&jobs, 2, 2.0, 2), vec![0.25, 0.75]);
        assert_eq!(queue_timeline(&[], 2, 2.0, 2), vec![0.0, 0.0]);
    }

    /// Load-blind references on equal nodes match queueing theory: random
    /// splits Poisson arrivals into M/M/1 queues (mean S / (1 − ρ)); round
    /// robin is a little better (Erlang-N arrivals).
    #[test]
    fn load_blind_references_match_mm1_theory() {
        let plan = Plan::for_tests();
        let cell = Cell {
            period: 1.0,
            phases: Phases::Together,
            signal: Signal::Queue,
            mix: false,
        };
        let mut world = World::new(&plan, &cell, 11);
        let rate = plan.arrival_rate(&cell);
        let mut t = 0.0;
        for _ in 0..100_000 {
            t += exponential(&mut world.rng) / rate;
            world.refresh_due(t);
            world.arrive(t);
        }
        let (_, references) = world.stats(t * 0.1);
        let mean = |kind| {
            references
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, s)| s.mean_ms)
        };
        let mm1 = 1000.0 * plan.mean_service / (1.0 - plan.load);
        let random = mean(Reference::Random).expect("random row");
        assert!(
            (random / mm1 - 1.0).abs() < 0.1,
            "random {random} vs M/M/1 {mm1}"
        );
        let rr = mean(Reference::RoundRobin).expect("round-robin row");
        assert!(rr < 0.7 * random, "round robin {rr} vs random {random}");
        let projected = mean(Reference::P2cProjected).expect("projection row");
        assert!(projected < rr, "projection {projected} vs round robin {rr}");
    }
}
