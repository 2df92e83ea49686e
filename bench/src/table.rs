//! The grid of simulations behind `bench/RESULTS.md`: every balancer at every
//! report interval, run on a few threads, printed as Markdown with the
//! goals of issue #13 checked in every cell.
//!
//! Goals: `least-load`'s mean response time ≤ [`WITHIN_SPREAD`] × the
//! better of round robin and the oracle WRR, and ≤ [`WITHIN_ORACLE`] × the
//! oracle projection; where reports are fresh (`T ≤ 1`, load 0.9, N ≥ 8)
//! at least [`BEATS_RR`] × better than round robin.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::balancer::Balancer;
use crate::sim::{self, Cell, Outcome, Phases, Scenario, Signal, Speeds};

/// Report intervals of the table, in mean service times.
pub const REFRESHES: [f64; 5] = [0.1, 1.0, 5.0, 25.0, 100.0];

/// `least-load` may be this much worse than the better load-blind spread.
pub const WITHIN_SPREAD: f64 = 1.10;

/// ... and this much worse than the oracle projection.
pub const WITHIN_ORACLE: f64 = 1.25;

/// ... and must beat round robin by this factor with fresh reports.
pub const BEATS_RR: f64 = 1.3;

/// A set of cells and their outcomes.
#[derive(Debug)]
pub struct Grid {
    cells: Vec<Cell>,
    outcomes: Vec<Option<Outcome>>,
}

/// One block of the table: a scenario seen through one signal and phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Block {
    /// Servers, speeds, load.
    pub scenario: Scenario,
    /// What agents report.
    pub signal: Signal,
    /// When they report.
    pub phases: Phases,
}

/// A goal missed in one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    /// Where.
    pub block: Block,
    /// At which report interval.
    pub refresh: f64,
    /// Which goal, and the ratio found.
    pub what: String,
}

// === impl Grid ===

impl Grid {
    /// Every balancer for each block. Load-blind balancers run once per
    /// scenario: reports cannot change what they do.
    pub fn new(blocks: &[Block], balancers: &[Balancer]) -> Self {
        let mut cells = Vec::new();
        let mut blind_done: Vec<(Scenario, Balancer)> = Vec::new();
        for block in blocks {
            for &balancer in balancers {
                if balancer.needs_busy_fraction() && block.signal == Signal::Queue {
                    continue;
                }
                let refreshes: &[f64] = if balancer.load_blind() {
                    if blind_done.contains(&(block.scenario, balancer)) {
                        continue;
                    }
                    blind_done.push((block.scenario, balancer));
                    &[1.0]
                } else {
                    &REFRESHES
                };
                for &refresh in refreshes {
                    cells.push(Cell {
                        scenario: block.scenario,
                        refresh,
                        signal: block.signal,
                        phases: block.phases,
                        balancer,
                    });
                }
            }
        }
        let outcomes = vec![None; cells.len()];
        Grid { cells, outcomes }
    }

    /// Runs every cell on `threads` threads; the outcomes do not depend on
    /// the thread count.
    pub fn run(&mut self, threads: usize) {
        let next = AtomicUsize::new(0);
        let done = Mutex::new(Vec::new());
        // The largest pools first, so no thread is left with one at the end.
        let mut order: Vec<usize> = (0..self.cells.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.cells[i].scenario.jobs));
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| {
                    while let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let outcome = sim::run(&self.cells[index]);
                        done.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((index, outcome));
                    }
                });
            }
        });
        for (index, outcome) in done.into_inner().unwrap_or_else(|p| p.into_inner()) {
            self.outcomes[index] = Some(outcome);
        }
    }

    /// The mean response of `balancer` at `refresh` in `block`.
    pub fn mean(&self, block: &Block, refresh: f64, balancer: Balancer) -> f64 {
        self.outcome(block, refresh, balancer)
            .map_or(f64::NAN, |o| o.mean)
    }

    fn outcome(&self, block: &Block, refresh: f64, balancer: Balancer) -> Option<Outcome> {
        self.cells
            .iter()
            .zip(&self.outcomes)
            .find(|(cell, _)| {
                cell.scenario == block.scenario
                    && cell.balancer == balancer
                    && (balancer.load_blind()
                        || (cell.signal == block.signal
                            && cell.phases == block.phases
                            && cell.refresh == refresh))
            })
            .and_then(|(_, outcome)| *outcome)
    }

    /// `least-load` ÷ the better of round robin and the oracle WRR.
    pub fn vs_spread(&self, block: &Block, refresh: f64) -> f64 {
        self.vs_better_of_rr_and(block, refresh, Balancer::OracleWrr)
    }

    /// `least-load` ÷ the better of round robin and the WRR told the true
    /// speeds only once a report covers them ([`Balancer::LearntWrr`]):
    /// the spread check against what any learner must wait for, since no
    /// report says a node's speed before the first one. NaN where that row
    /// was not run.
    pub fn vs_first_report_spread(&self, block: &Block, refresh: f64) -> f64 {
        self.vs_better_of_rr_and(block, refresh, Balancer::LearntWrr)
    }

    /// The oracle told every node's exact queue and true speed once the
    /// first reports are in ([`Balancer::InformedSed`]) ÷ the better of
    /// round robin and the oracle WRR. Over [`WITHIN_SPREAD`], the backlog
    /// built before the first reports costs more than the spread goal
    /// allows even a dispatcher told everything after them. NaN where that
    /// row was not run.
    pub fn informed_vs_spread(&self, block: &Block, refresh: f64) -> f64 {
        self.mean(block, refresh, Balancer::InformedSed)
            / self.better_of_rr_and(block, refresh, Balancer::OracleWrr)
    }

    /// `least-load` ÷ the better of round robin and `wrr`.
    fn vs_better_of_rr_and(&self, block: &Block, refresh: f64, wrr: Balancer) -> f64 {
        self.mean(block, refresh, Balancer::LeastLoad) / self.better_of_rr_and(block, refresh, wrr)
    }

    /// The lower mean of round robin and `wrr`.
    fn better_of_rr_and(&self, block: &Block, refresh: f64, wrr: Balancer) -> f64 {
        self.mean(block, refresh, Balancer::RoundRobin)
            .min(self.mean(block, refresh, wrr))
    }

    /// `least-load` ÷ the oracle projection.
    pub fn vs_oracle(&self, block: &Block, refresh: f64) -> f64 {
        self.mean(block, refresh, Balancer::LeastLoad)
            / self.mean(block, refresh, Balancer::OracleTwoChoices)
    }

    /// Round robin ÷ `least-load`.
    pub fn gain_over_rr(&self, block: &Block, refresh: f64) -> f64 {
        self.mean(block, refresh, Balancer::RoundRobin)
            / self.mean(block, refresh, Balancer::LeastLoad)
    }

    /// Every goal missed in `block`.
    pub fn misses(&self, block: &Block) -> Vec<Miss> {
        let mut misses = Vec::new();
        for refresh in REFRESHES {
            let mut miss = |what: String| {
                misses.push(Miss {
                    block: *block,
                    refresh,
                    what,
                })
            };
            let spread = self.vs_spread(block, refresh);
            if spread > WITHIN_SPREAD {
                miss(format!("{spread:.2} × the better spread"));
            }
            let oracle = self.vs_oracle(block, refresh);
            if oracle > WITHIN_ORACLE {
                miss(format!("{oracle:.2} × the oracle projection"));
            }
            let fresh = refresh <= 1.0
                && block.scenario.load == 0.9
                && block.scenario.servers >= 8
                && block.scenario.speeds == Speeds::Equal;
            let gain = self.gain_over_rr(block, refresh);
            if fresh && gain < BEATS_RR {
                miss(format!("only {gain:.2} × better than round robin"));
            }
        }
        misses
    }

    /// One Markdown block: mean / p99 per balancer per `T`, the ratios the
    /// goals are about.
    pub fn markdown(&self, block: &Block, balancers: &[Balancer]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", heading(block));
        let header: Vec<String> = REFRESHES.iter().map(|r| format!("T = {r}")).collect();
        let _ = writeln!(out, "| mean / p99 | {} |", header.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(REFRESHES.len()));
        for &balancer in balancers {
            let row: Vec<String> = REFRESHES
                .iter()
                .map(|&r| match self.outcome(block, r, balancer) {
                    Some(o) => format!("{:.2} / {:.1}", o.mean, o.p99),
                    None => "–".into(),
                })
                .collect();
            let _ = writeln!(out, "| {} | {} |", balancer.name(), row.join(" | "));
        }
        let ratio = |label: &str, f: &dyn Fn(f64) -> f64| {
            let row: Vec<String> = REFRESHES.iter().map(|&r| format!("{:.2}", f(r))).collect();
            format!("| {label} | {} |\n", row.join(" | "))
        };
        if balancers.contains(&Balancer::LeastLoad) {
            out += &ratio("least-load ÷ better spread (≤ 1.10)", &|r| {
                self.vs_spread(block, r)
            });
            out += &ratio("least-load ÷ oracle projection (≤ 1.25)", &|r| {
                self.vs_oracle(block, r)
            });
            if balancers.contains(&Balancer::LearntWrr) {
                out += &ratio(
                    "least-load ÷ better of round robin and the WRR told at the first report",
                    &|r| self.vs_first_report_spread(block, r),
                );
            }
        }
        if balancers.contains(&Balancer::InformedSed) {
            out += &ratio(
                "oracle told everything from the first reports ÷ better spread",
                &|r| self.informed_vs_spread(block, r),
            );
        }
        out
    }
}

/// A one-line description of `block`.
pub fn heading(block: &Block) -> String {
    let Block {
        scenario,
        signal,
        phases,
    } = block;
    let speeds = match scenario.speeds {
        Speeds::Equal => "equal speeds",
        Speeds::TwoToOne => "half the servers 2× faster",
        Speeds::FourToOne => "half the servers 4× faster",
        Speeds::Halving => "server 0 halves its speed mid-run",
    };
    let signal = match signal {
        Signal::Busy => "busy fraction of the interval",
        Signal::Pressure => "busy fraction, with CPU pressure and runnable",
        Signal::Queue if *phases == Phases::Together => "queue at the report (q/20)",
        Signal::Queue => "mean queue over the interval (q/20)",
    };
    let phases = match phases {
        Phases::Together => "in phase",
        Phases::Apart => "out of phase",
    };
    format!(
        "#### N = {}, load {}, {speeds}; report: {signal}, {phases}",
        scenario.servers, scenario.load
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grid of one queue-shaped block whose cells of each balancer have
    /// the mean `mean(balancer)`.
    fn uniform_block(mean: impl Fn(Balancer) -> f64, balancers: &[Balancer]) -> (Grid, Block) {
        let block = Block {
            scenario: Scenario {
                servers: 8,
                speeds: Speeds::TwoToOne,
                load: 0.9,
                jobs: 1_000,
                spread: 0.0,
                warmup: 100,
                seed: 1,
                trace: None,
            },
            signal: Signal::Queue,
            phases: Phases::Apart,
        };
        let mut grid = Grid::new(&[block], balancers);
        grid.outcomes = grid
            .cells
            .iter()
            .map(|cell| {
                Some(Outcome {
                    mean: mean(cell.balancer),
                    p99: 0.0,
                    counted: 900,
                })
            })
            .collect();
        (grid, block)
    }

    #[test]
    fn the_references_a_learner_is_held_to_are_printed_beside_the_spread_check() {
        let balancers = [
            Balancer::RoundRobin,
            Balancer::OracleWrr,
            Balancer::LearntWrr,
            Balancer::InformedSed,
            Balancer::LeastLoad,
        ];
        // Least-load 1.5 × the WRR told the speeds from the start, which a
        // WRR told them at the first report only matches at 1.4 × its mean;
        // told everything from the first reports on, an oracle still reads
        // 1.2 × it: the goal is out of reach there.
        let (grid, block) = uniform_block(
            |b| match b {
                Balancer::RoundRobin => 10.0,
                Balancer::OracleWrr => 2.0,
                Balancer::LearntWrr => 2.8,
                Balancer::InformedSed => 2.4,
                _ => 3.0,
            },
            &balancers,
        );
        assert_eq!(grid.vs_spread(&block, 100.0), 1.5);
        let first = grid.vs_first_report_spread(&block, 100.0);
        assert!((first - 3.0 / 2.8).abs() < 1e-12, "{first}");
        let informed = grid.informed_vs_spread(&block, 100.0);
        assert!((informed - 1.2).abs() < 1e-12, "{informed}");
        let table = grid.markdown(&block, &balancers);
        for row in [
            "| least-load ÷ better of round robin and the WRR told at the first report | 1.07 |",
            "| oracle told everything from the first reports ÷ better spread | 1.20 |",
        ] {
            assert!(table.contains(row), "{table}");
        }
        // Without those rows there is nothing to judge against.
        let (grid, block) = uniform_block(|_| 1.0, &balancers[..2]);
        assert!(grid.vs_first_report_spread(&block, 100.0).is_nan());
        assert!(grid.informed_vs_spread(&block, 100.0).is_nan());
        let table = grid.markdown(&block, &balancers[..2]);
        assert!(!table.contains("first report"), "{table}");
    }
}
