//! The balance testbed of issue #13 part 3: the balancing experiment of
//! the team's BALANCE.md end to end, through the release
//! `signpost-dispatcher` over loopback HTTP.
//!
//! One tokio process plays every part but the dispatcher:
//!
//! - N agents, each serving `GET /load` on a loopback port of its own with
//!   the `cpu_percent` of a simulated node ([`board`]), refreshed every T
//!   seconds, together or at independent phases ([`schedule`]);
//! - N single-server FIFO queues with exponential service, Lindley-exact
//!   ([`node`]): a job's completion is computed when it is assigned, never
//!   slept;
//! - clients: Poisson arrivals at ρ × total capacity, each one a `GET /job`
//!   to the dispatcher's public listener, whose `Location` names the node
//!   the job joins at the instant the request was sent ([`rig`]);
//! - reference strategies run on copies of the same system over the same
//!   arrivals, job sizes, refresh instants and poll delay ([`mod@reference`],
//!   [`world`]), so each signpost row has anchors measured in the same run.
//!
//! [`markdown`] prints the tables; `bench/README.md` explains every row.
//! At offered loads above 1, or with the dispatcher at `--overload shed`,
//! [`overload`] adds the table of issue #19: clients refused, the admitted
//! jobs' response times, and whether the queues stayed bounded.

pub mod board;
pub mod markdown;
pub mod node;
pub mod overload;
pub mod reference;
pub mod rig;
pub mod schedule;
pub mod world;

use std::path::PathBuf;

use board::Signal;
use schedule::Phases;

/// What every cell of a testbed invocation shares.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Simulated nodes.
    pub nodes: usize,
    /// Mean service time S at speed 1, seconds.
    pub mean_service: f64,
    /// Offered load ρ: arrival rate over total capacity; above 1 the
    /// nodes cannot keep up, what `--overload shed` is for.
    pub load: f64,
    /// Queue length reported as 100 %.
    pub qmax: f64,
    /// Jobs per run, unless `seconds` is set.
    pub jobs: usize,
    /// Run length in seconds of arrivals: jobs per run become the arrival
    /// rate × this, so runs at every load last alike.
    pub seconds: Option<f64>,
    /// The dispatcher's `--poll-interval`, seconds.
    pub poll: f64,
    /// Share of a run's expected duration not measured (at least two
    /// refresh periods, at most half the run).
    pub warmup: f64,
    /// Seed of every random stream; run i of a cell uses `seed + i`.
    pub seed: u64,
    /// The `signpost-dispatcher` binary.
    pub dispatcher: PathBuf,
    /// The dispatcher's `--stale-after`, seconds; `None`: max(3 T, 1 s).
    pub stale_after: Option<f64>,
}

/// One cell of the grid: how old reports get, how they line up, what they
/// say, and whether the nodes are equal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Agent refresh period T, seconds.
    pub period: f64,
    /// How the refreshes line up.
    pub phases: Phases,
    /// What the reports say.
    pub signal: Signal,
    /// Half the nodes (the first ⌊N/2⌋) twice as fast, no weights reported.
    pub mix: bool,
}

// === impl Plan ===

impl Plan {
    /// Poisson arrival rate, jobs per second, of `cell`.
    pub fn arrival_rate(&self, cell: &Cell) -> f64 {
        self.load * cell.speeds(self.nodes).iter().sum::<f64>() / self.mean_service
    }

    /// Jobs per run of `cell`.
    pub fn jobs(&self, cell: &Cell) -> usize {
        match self.seconds {
            Some(seconds) => (seconds * self.arrival_rate(cell)).round().max(1.0) as usize,
            None => self.jobs,
        }
    }

    /// Arrivals before this instant (seconds) are not measured.
    pub fn warmup_seconds(&self, cell: &Cell) -> f64 {
        let duration = self.jobs(cell) as f64 / self.arrival_rate(cell);
        (self.warmup * duration)
            .max(2.0 * cell.period)
            .min(duration / 2.0)
    }

    /// The dispatcher's `--stale-after` for `cell`, seconds: long enough
    /// that a report is never dropped between two refreshes.
    pub fn stale_after(&self, cell: &Cell) -> f64 {
        self.stale_after
            .unwrap_or((3.0 * cell.period).max(1.0))
            .max(2.0 * self.poll)
    }

    /// The defaults of the `testbed` binary, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Plan {
        Plan {
            nodes: 8,
            mean_service: 0.04,
            load: 0.9,
            qmax: 20.0,
            jobs: 1000,
            seconds: None,
            poll: 0.1,
            warmup: 0.1,
            seed: 1,
            dispatcher: PathBuf::from("signpost-dispatcher"),
            stale_after: None,
        }
    }
}

// === impl Cell ===

impl Cell {
    /// The true speeds of `nodes` nodes.
    pub fn speeds(&self, nodes: usize) -> Vec<f64> {
        (0..nodes)
            .map(|k| if self.mix && k < nodes / 2 { 2.0 } else { 1.0 })
            .collect()
    }

    /// A short label without T: `refresh together, signal queue, equal speeds`.
    pub fn label(&self) -> String {
        format!(
            "{}, signal {}, {}",
            match self.phases {
                Phases::Together => "refresh together",
                Phases::Independent => "independent phases",
            },
            signal_name(self.signal),
            if self.mix { "2:1 mix" } else { "equal speeds" }
        )
    }
}

/// The flag value of `signal`.
pub fn signal_name(signal: Signal) -> String {
    clap::ValueEnum::to_possible_value(&signal)
        .map_or_else(String::new, |v| v.get_name().to_owned())
}
