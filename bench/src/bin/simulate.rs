//! Prints the balance tables of issue #13: mean and p99 response time of
//! each strategy under reports refreshed every T mean service times, for
//! every pool size, load, speed mix, signal and phase asked, and the cells
//! where `least-load` misses a goal. Seeded: the same flags print the same
//! tables. See `bench/README.md`.

use std::time::Duration;

use clap::{Parser, ValueEnum};
use signpost_bench::balancer::Balancer;
use signpost_bench::sim::{Phases, Scenario, Signal, Speeds};
use signpost_bench::table::{Block, Grid, WITHIN_SPREAD, heading};

/// Balance simulator: the dispatcher's real registry and strategies driving
/// simulated FIFO servers.
#[derive(Parser, Debug)]
struct Args {
    /// Arrivals per server per cell (warm-up of a tenth included); at
    /// least --min-jobs per cell.
    #[arg(long, default_value_t = 5_000)]
    jobs_per_server: usize,
    /// The fewest arrivals of a cell: loads near 1 need long runs.
    #[arg(long, default_value_t = 200_000)]
    min_jobs: usize,
    /// Pool sizes.
    #[arg(long, value_delimiter = ',', default_values_t = [2, 3, 8, 100])]
    servers: Vec<usize>,
    /// Loads, as fractions of capacity.
    #[arg(long, value_delimiter = ',', default_values_t = [0.7, 0.9, 0.97])]
    load: Vec<f64>,
    /// Speed mixes.
    #[arg(long, value_delimiter = ',', default_values_t = [SpeedArg::Equal, SpeedArg::TwoToOne, SpeedArg::FourToOne, SpeedArg::Halving])]
    speeds: Vec<SpeedArg>,
    /// Report signals.
    #[arg(long, value_delimiter = ',', default_values_t = [SignalArg::Busy, SignalArg::Queue])]
    signal: Vec<SignalArg>,
    /// Refresh phases.
    #[arg(long, value_delimiter = ',', default_values_t = [PhaseArg::Together, PhaseArg::Apart])]
    phases: Vec<PhaseArg>,
    /// Seed of the arrival process.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Only these rows (random, round-robin, oracle-wrr, learnt-wrr,
    /// measured-wrr, greedy, p2c, oracle-p2c, oracle-sed, least-load); the goals need round-robin, oracle-wrr,
    /// oracle-p2c and least-load.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print only the summary and the misses, not every table.
    #[arg(long)]
    summary: bool,
    /// Count every arrival from the first, with no warm-up: the first
    /// seconds after a dispatcher starts, when every node has the same
    /// share and the reports have yet to tell the speeds apart. The tenth
    /// of warm-up hides them otherwise. With `--min-jobs 4000
    /// --jobs-per-server 500` a cell of 8 nodes at 90% load lasts about as
    /// long as a run of `bench/balance-e2e.sh` (15–20 s).
    #[arg(long)]
    from_start: bool,
    /// Agents refreshing in phase reach the dispatcher spread over this
    /// many mean service times, not at one instant: it polls each agent
    /// from a task of its own, so a round of reports comes in a few at a
    /// time over up to a poll interval (100 ms, 2.5 service times, in
    /// bench/balance-e2e.sh). 0 is the bulletin board
    #[arg(long, value_name = "SERVICE_TIMES", default_value_t = 0.0)]
    poll_spread: f64,
    /// Print least-load's view of the pool to stderr every this many
    /// arrivals of each cell: per node its queue, learnt capacity factor
    /// and cost per redirect, projected report and the picks it got since
    /// the last line, each line labelled with its cell; between them, each
    /// change of a node's learnt capacity as the dispatcher logs it, with
    /// what moved it. Narrow the run to one cell's block first (--servers 8
    /// --load 0.9 --speeds four-to-one --signal busy --phases together
    /// --only least-load --threads 1) and read from the T's first line.
    #[arg(long, value_name = "ARRIVALS")]
    trace: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SpeedArg {
    Equal,
    TwoToOne,
    FourToOne,
    Halving,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SignalArg {
    Busy,
    Queue,
    /// Busy fraction plus `cpu_pressure` and `runnable` (issue #16).
    Pressure,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PhaseArg {
    Together,
    Apart,
}

impl std::fmt::Display for SpeedArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            self.to_possible_value()
                .expect("no skipped values")
                .get_name(),
        )
    }
}

impl std::fmt::Display for SignalArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            self.to_possible_value()
                .expect("no skipped values")
                .get_name(),
        )
    }
}

impl std::fmt::Display for PhaseArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            self.to_possible_value()
                .expect("no skipped values")
                .get_name(),
        )
    }
}

fn main() {
    let args = Args::parse();
    if args.trace.is_some() {
        // The dispatcher's own line for each move of a node's capacity
        // step says what moved it, which the trace's snapshots cannot.
        // Simulated time runs far faster than the wall clock: no stamps.
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .without_time()
            .with_ansi(false)
            .with_target(false)
            .with_level(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "signpost_dispatcher::registry=info",
            ))
            .init();
    }
    let mut blocks = Vec::new();
    for &servers in &args.servers {
        for &load in &args.load {
            for &speeds in &args.speeds {
                let jobs = (servers * args.jobs_per_server).max(args.min_jobs);
                let scenario = Scenario {
                    servers,
                    speeds: match speeds {
                        SpeedArg::Equal => Speeds::Equal,
                        SpeedArg::TwoToOne => Speeds::TwoToOne,
                        SpeedArg::FourToOne => Speeds::FourToOne,
                        SpeedArg::Halving => Speeds::Halving,
                    },
                    load,
                    jobs,
                    warmup: if args.from_start { 0 } else { jobs / 10 },
                    seed: args.seed,
                    spread: args.poll_spread,
                    trace: args.trace.filter(|&every| every > 0),
                };
                for &signal in &args.signal {
                    for &phases in &args.phases {
                        blocks.push(Block {
                            scenario,
                            signal: match signal {
                                SignalArg::Busy => Signal::Busy,
                                SignalArg::Queue => Signal::Queue,
                                SignalArg::Pressure => Signal::Pressure,
                            },
                            phases: match phases {
                                PhaseArg::Together => Phases::Together,
                                PhaseArg::Apart => Phases::Apart,
                            },
                        });
                    }
                }
            }
        }
    }
    let balancers: Vec<Balancer> = Balancer::ALL
        .into_iter()
        .filter(|b| args.only.is_empty() || args.only.iter().any(|o| o == b.flag()))
        .collect();
    let mut grid = Grid::new(&blocks, &balancers);
    let started = tokio::time::Instant::now();
    grid.run(args.threads);
    let elapsed: Duration = started.elapsed();
    println!(
        "{} arrivals per server per cell (at least {}, {}), seed {}; \
         response times in mean service times\n",
        args.jobs_per_server,
        args.min_jobs,
        if args.from_start {
            "every one counted from the start"
        } else {
            "a tenth warm-up"
        },
        args.seed
    );
    if !args.summary {
        for block in &blocks {
            println!("{}", grid.markdown(block, &balancers));
        }
    }
    if balancers.contains(&Balancer::LeastLoad) {
        summary(
            &grid,
            &blocks,
            balancers.contains(&Balancer::LearntWrr),
            balancers.contains(&Balancer::InformedSed),
        );
    }
    eprintln!("simulated in {:.1} s", elapsed.as_secs_f64());
}

/// The worst ratios over every block, every missed goal, and — where the
/// WRR told the speeds at the first report ran (`learnt`) — how many spread
/// checks miss against it in place of the WRR told them from the start;
/// and where the oracle told everything from the first reports ran
/// (`informed`), how many spread misses it misses too.
fn summary(grid: &Grid, blocks: &[Block], learnt: bool, informed: bool) {
    let cells = || {
        blocks
            .iter()
            .flat_map(|b| signpost_bench::table::REFRESHES.map(|r| (b, r)))
    };
    let worst = |f: &dyn Fn(&Block, f64) -> f64| cells().map(|(b, r)| f(b, r)).fold(0.0, f64::max);
    println!(
        "Worst least-load ÷ better spread: {:.2}; worst least-load ÷ oracle projection: {:.2} \
         over {} cells.\n",
        worst(&|b, r| grid.vs_spread(b, r)),
        worst(&|b, r| grid.vs_oracle(b, r)),
        cells().count()
    );
    if learnt {
        let over: Vec<f64> = cells()
            .map(|(b, r)| grid.vs_first_report_spread(b, r))
            .filter(|&ratio| ratio > WITHIN_SPREAD)
            .collect();
        println!(
            "Against the better of round robin and the WRR told the true speeds at the first \
             report (what any learner must wait for): {} spread checks miss, excess over the goal \
             {:.2}.\n",
            over.len(),
            // From +0: an empty f64 sum is −0, printed "-0.00".
            over.iter()
                .fold(0.0, |excess, ratio| excess + ratio - WITHIN_SPREAD)
        );
    }
    if informed {
        let (mut missed, mut out_of_reach) = (0, 0);
        for (b, r) in cells() {
            if grid.vs_spread(b, r) > WITHIN_SPREAD {
                missed += 1;
                out_of_reach += usize::from(grid.informed_vs_spread(b, r) > WITHIN_SPREAD);
            }
        }
        println!(
            "{missed} spread checks miss; in {out_of_reach} of their cells the oracle told every \
             node's exact queue and true speed from the first reports on misses the goal too (there \
             the backlog built before any report costs more than the goal allows even it).\n"
        );
    }
    let misses: Vec<_> = blocks.iter().flat_map(|b| grid.misses(b)).collect();
    println!("{} goal misses:\n", misses.len());
    for miss in misses {
        println!(
            "- {} at T = {}: {}",
            heading(&miss.block),
            miss.refresh,
            miss.what
        );
    }
}
