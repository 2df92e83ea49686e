//! The balance testbed (issue #13 part 3): the experiment of BALANCE.md end
//! to end through the real `signpost-dispatcher`, on loopback. See
//! `bench/README.md` and `bench/balance-e2e.sh`; the logic lives in
//! `signpost_bench::testbed`.

use std::path::PathBuf;

use clap::{ArgAction, Parser};
use signpost_bench::testbed::board::Signal;
use signpost_bench::testbed::schedule::Phases;
use signpost_bench::testbed::{Cell, Plan, markdown, overload, rig};
use tokio::signal::unix::{SignalKind, signal};

/// Drives the release dispatcher with Poisson clients over simulated
/// Lindley-exact FIFO nodes whose agents report stale load; prints Markdown
/// tables beside reference strategies run on the same arrivals.
#[derive(Parser, Debug)]
// A flag given twice takes its last value, lists included (`Set`, not
// `Append`): the scripts' defaults come first, the caller's extra
// arguments after them.
#[command(args_override_self = true)]
struct Args {
    /// The dispatcher binary [default: target/release/signpost-dispatcher].
    #[arg(long, env = "SIGNPOST_BIN")]
    dispatcher: Option<PathBuf>,
    /// Dispatcher strategies to run, one run each per cell.
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "least-load,round-robin")]
    strategies: Vec<String>,
    /// The dispatcher's --overload policies to run, each with every
    /// strategy; with `shed` or a load above 1, an overload table follows.
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "redirect", value_parser = ["redirect", "shed"])]
    overload: Vec<String>,
    /// Runs of each (cell, strategy, overload), at consecutive seeds; the
    /// balance tables average them, the overload table takes medians.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Agent refresh periods T, seconds.
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "0.1,1,3")]
    periods: Vec<f64>,
    /// Refresh regimes.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',', action = ArgAction::Set,
        default_value = "together,independent"
    )]
    phases: Vec<Phases>,
    /// What agents report [default: queue when refreshing together,
    /// queue-mean at independent phases].
    #[arg(long, value_enum)]
    signal: Option<Signal>,
    /// Speed mixes: `equal`, or `mix` (half the nodes twice as fast).
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "equal,mix", value_parser = ["equal", "mix"])]
    speeds: Vec<String>,
    /// Jobs per run (20 000 is the reference; ~2 min a run at 180 jobs/s).
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Seconds of arrivals per run instead of --jobs: runs at every load
    /// last alike.
    #[arg(long)]
    seconds: Option<f64>,
    /// Simulated nodes.
    #[arg(long, default_value_t = 8)]
    nodes: usize,
    /// Mean service time S at speed 1, ms.
    #[arg(long, default_value_t = 40.0)]
    service_ms: f64,
    /// Offered loads ρ, each a grid of its own; above 1 the nodes cannot
    /// keep up (see --overload).
    #[arg(long, value_delimiter = ',', action = ArgAction::Set, default_value = "0.9")]
    load: Vec<f64>,
    /// Queue length reported as 100 % by the queue signals.
    #[arg(long, default_value_t = 20.0)]
    qmax: f64,
    /// The dispatcher's --poll-interval, ms.
    #[arg(long, default_value_t = 100.0)]
    poll_ms: f64,
    /// The dispatcher's --stale-after, ms [default: max(3 T, 1 s)].
    #[arg(long)]
    stale_after_ms: Option<f64>,
    /// Share of each run not measured (at least 2 T, at most half).
    #[arg(long, default_value_t = 0.1)]
    warmup: f64,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    anyhow::ensure!(
        args.load.iter().all(|&load| load > 0.0 && load.is_finite()),
        "--load must be positive"
    );
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(
        args.seconds.is_none_or(|s| s > 0.0),
        "--seconds must be positive"
    );
    anyhow::ensure!(
        args.periods.iter().all(|&t| t > 0.0),
        "--periods must be positive"
    );
    let base = Plan {
        nodes: args.nodes,
        mean_service: args.service_ms / 1000.0,
        load: args.load[0],
        qmax: args.qmax,
        jobs: args.jobs,
        seconds: args.seconds,
        poll: args.poll_ms / 1000.0,
        warmup: args.warmup,
        seed: args.seed,
        dispatcher: args.dispatcher.clone().unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/release/signpost-dispatcher"
            ))
        }),
        stale_after: args.stale_after_ms.map(|ms| ms / 1000.0),
    };
    let cells = grid(&args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut all = Vec::new();
    for (l, &load) in args.load.iter().enumerate() {
        let plan = Plan {
            load,
            ..base.clone()
        };
        let mut results = Vec::with_capacity(cells.len());
        for (i, cell) in cells.iter().enumerate() {
            let mut runs = Vec::new();
            for (j, strategy) in args.strategies.iter().enumerate() {
                for overload in &args.overload {
                    let dispatcher = rig::Dispatcher {
                        strategy: strategy.clone(),
                        overload: overload.clone(),
                    };
                    for r in 0..args.runs {
                        eprintln!(
                            "[{}/{}] ρ = {load}, T = {} s, {}: {} (run {}/{})",
                            i + 1,
                            cells.len(),
                            cell.period,
                            cell.label(),
                            dispatcher.label(),
                            r + 1,
                            args.runs,
                        );
                        // The same seeds for every overload policy: they
                        // face the very same arrivals and job sizes.
                        let index =
                            ((l * cells.len() + i) * args.strategies.len() + j) * args.runs + r;
                        let seed = plan.seed.wrapping_add(index as u64);
                        let run = rig::run(&plan, cell, &dispatcher, seed);
                        runs.push(runtime.block_on(until_stopped(run))?);
                    }
                }
            }
            results.push((*cell, runs));
        }
        println!(
            "{} nodes, S = {} ms, ρ = {}, Qmax = {}, {} a run, poll {} ms, slow start 0 s, dispatcher {}",
            plan.nodes,
            args.service_ms,
            plan.load,
            plan.qmax,
            match plan.seconds {
                Some(seconds) => format!("{seconds} s of arrivals"),
                None => format!("{} jobs", plan.jobs),
            },
            args.poll_ms,
            plan.dispatcher.display()
        );
        print!("{}", markdown::render(&plan, &results));
        all.extend(results);
    }
    if args.overload.iter().any(|o| o == "shed") || args.load.iter().any(|&l| l > 1.0) {
        print!("{}", overload::render(&all));
    }
    Ok(())
}

/// Runs `run` unless SIGINT or SIGTERM comes first; dropping the run then
/// kills the dispatcher it started (`kill_on_drop`) before the process
/// exits.
async fn until_stopped(
    run: impl Future<Output = anyhow::Result<rig::Run>>,
) -> anyhow::Result<rig::Run> {
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        outcome = run => outcome,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted"),
        _ = term.recv() => anyhow::bail!("terminated"),
    }
}

/// Every cell of the grid, speeds outermost, then regime, then T.
fn grid(args: &Args) -> Vec<Cell> {
    let mut cells = Vec::new();
    for speeds in &args.speeds {
        for &phases in &args.phases {
            let signal = args.signal.unwrap_or(match phases {
                Phases::Together => Signal::Queue,
                Phases::Independent => Signal::QueueMean,
            });
            for &period in &args.periods {
                cells.push(Cell {
                    period,
                    phases,
                    signal,
                    mix: speeds == "mix",
                });
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_given_again_overrides_the_scripts_default() {
        let args = Args::try_parse_from([
            "testbed",
            "--load",
            "0.9,1.1",
            "--overload",
            "redirect,shed",
            "--load",
            "1.5",
        ])
        .unwrap();
        assert_eq!(args.load, vec![1.5]);
        assert_eq!(args.overload, vec!["redirect", "shed"]);
        assert_eq!(args.runs, 1);
    }
}
