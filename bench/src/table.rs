//! The grid of simulations behind `bench/RESULTS.md`: every balancer at every
//! refresh interval, run on a few threads, printed as Markdown with the
//! issue's goals checked.
//!
//! Goals (issue #5, part 4): `least-load` within 10% of the best mean at
//! every `T`, and at least 2× better than greedy arg-min at `T ≥ 1`.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::balancer::Balancer;
use crate::sim::{self, Cell, Outcome, Scenario, Signal};

/// Refresh intervals of the table, in mean service times.
pub const REFRESHES: [f64; 6] = [0.0, 0.1, 0.5, 1.0, 2.0, 5.0];

/// `least-load` may be this much worse than the best entry at any `T`.
pub const WITHIN_BEST: f64 = 1.10;

/// ... and must beat greedy arg-min by this factor at `T ≥ 1`.
pub const BEATS_GREEDY: f64 = 2.0;

/// A set of cells and their outcomes.
#[derive(Debug)]
pub struct Grid {
    cells: Vec<Cell>,
    outcomes: Vec<Option<Outcome>>,
}

/// Whether one block of the table meets the goals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Within [`WITHIN_BEST`] of the best mean at every `T`.
    pub near_best: bool,
    /// At least [`BEATS_GREEDY`] × better than greedy at every `T ≥ 1`.
    pub beats_greedy: bool,
}

// === impl Grid ===

impl Grid {
    /// Every balancer for each scenario and signal. Load-blind balancers run
    /// once per scenario: reports cannot change what they do.
    pub fn new(scenarios: &[Scenario], signals: &[Signal], balancers: &[Balancer]) -> Self {
        let mut cells = Vec::new();
        for &scenario in scenarios {
            for &balancer in balancers {
                if balancer.load_blind() {
                    cells.push(Cell {
                        scenario,
                        refresh: 1.0,
                        signal: Signal::Busy,
                        balancer,
                    });
                    continue;
                }
                for &signal in signals {
                    for refresh in REFRESHES {
                        cells.push(Cell {
                            scenario,
                            refresh,
                            signal,
                            balancer,
                        });
                    }
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
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(cell) = self.cells.get(index) else {
                            break;
                        };
                        let outcome = sim::run(cell);
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

    /// The outcome of `balancer` at `refresh` with `signal` in `scenario`.
    pub fn outcome(
        &self,
        scenario: &Scenario,
        signal: Signal,
        refresh: f64,
        balancer: Balancer,
    ) -> Option<Outcome> {
        self.cells
            .iter()
            .zip(&self.outcomes)
            .find(|(cell, _)| {
                cell.scenario == *scenario
                    && cell.balancer == balancer
                    && (balancer.load_blind() || (cell.signal == signal && cell.refresh == refresh))
            })
            .and_then(|(_, outcome)| *outcome)
    }

    /// The goals for one block.
    pub fn verdict(&self, scenario: &Scenario, signal: Signal, balancers: &[Balancer]) -> Verdict {
        let mean = |refresh, balancer| {
            self.outcome(scenario, signal, refresh, balancer)
                .map_or(f64::NAN, |o| o.mean)
        };
        let near_best = REFRESHES.iter().all(|&refresh| {
            let best = balancers
                .iter()
                .map(|&p| mean(refresh, p))
                .fold(f64::INFINITY, f64::min);
            mean(refresh, Balancer::LeastLoad) <= WITHIN_BEST * best
        });
        let beats_greedy = REFRESHES.iter().filter(|&&r| r >= 1.0).all(|&refresh| {
            mean(refresh, Balancer::Greedy) >= BEATS_GREEDY * mean(refresh, Balancer::LeastLoad)
        });
        Verdict {
            near_best,
            beats_greedy,
        }
    }

    /// One Markdown block: mean / p99 per balancer per `T`, the ratios the
    /// goals are about, and the verdict.
    pub fn markdown(&self, scenario: &Scenario, signal: Signal, balancers: &[Balancer]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", heading(scenario, signal));
        let header: Vec<String> = REFRESHES.iter().map(|r| format!("T = {r}")).collect();
        let _ = writeln!(out, "| mean / p99 | {} |", header.join(" | "));
        let _ = writeln!(out, "|---|{}", "---|".repeat(REFRESHES.len()));
        for &balancer in balancers {
            let row: Vec<String> = REFRESHES
                .iter()
                .map(|&r| match self.outcome(scenario, signal, r, balancer) {
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
        let mean = |r, p| {
            self.outcome(scenario, signal, r, p)
                .map_or(f64::NAN, |o| o.mean)
        };
        let best = |r| {
            balancers
                .iter()
                .map(|&p| mean(r, p))
                .fold(f64::INFINITY, f64::min)
        };
        out += &ratio("least-load ÷ best (goal ≤ 1.10)", &|r| {
            mean(r, Balancer::LeastLoad) / best(r)
        });
        out += &ratio("greedy ÷ least-load (goal ≥ 2 at T ≥ 1)", &|r| {
            mean(r, Balancer::Greedy) / mean(r, Balancer::LeastLoad)
        });
        let verdict = self.verdict(scenario, signal, balancers);
        let mark = |ok| if ok { "met" } else { "**missed**" };
        let _ = writeln!(
            out,
            "\nWithin 10% of best at every T: {}. ≥ 2× better than greedy at T ≥ 1: {}.",
            mark(verdict.near_best),
            mark(verdict.beats_greedy)
        );
        out
    }
}

fn heading(scenario: &Scenario, signal: Signal) -> String {
    let speeds = if scenario.mixed && scenario.weighted {
        "half the servers 2× faster, weight = speed"
    } else if scenario.mixed {
        "half the servers 2× faster"
    } else {
        "equal speeds"
    };
    let signal = match signal {
        Signal::Busy => "busy fraction of the last interval (what an agent measures)",
        Signal::Queue => "queue length, 10% per job",
    };
    format!(
        "#### load {}, {} servers, {speeds}; report: {signal}",
        scenario.load, scenario.servers
    )
}
