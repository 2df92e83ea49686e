//! Prints the balance table of issue #5 part 4: mean and p99 response time
//! of each strategy under reports refreshed every T mean service times.
//! Seeded: the same flags print the same table. See `bench/README.md`.

use std::time::Duration;

use clap::Parser;
use signpost_bench::balancer::Balancer;
use signpost_bench::sim::{Scenario, Signal};
use signpost_bench::table::Grid;

/// Balance simulator: the dispatcher's real registry and strategies driving
/// simulated FIFO servers.
#[derive(Parser, Debug)]
struct Args {
    /// Arrivals per cell, warm-up included.
    #[arg(long, default_value_t = 400_000)]
    jobs: usize,
    /// Number of servers.
    #[arg(long, default_value_t = 100)]
    servers: usize,
    /// Loads to simulate, as fractions of capacity.
    #[arg(long, value_delimiter = ',', default_values_t = [0.9, 0.99])]
    load: Vec<f64>,
    /// Also simulate a 2:1 capacity mix (half the servers twice as fast).
    #[arg(long)]
    mixed: bool,
    /// With --mixed: agents report their speed as their weight.
    #[arg(long)]
    weighted: bool,
    /// Report signal: busy, queue, or both.
    #[arg(long, default_value = "both")]
    signal: String,
    /// Seed of the arrival process.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Only these rows (random, round-robin, greedy, p2c, least-load), to
    /// iterate on one strategy quickly; the goals need greedy and the best.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let signals = match args.signal.as_str() {
        "busy" => vec![Signal::Busy],
        "queue" => vec![Signal::Queue],
        _ => vec![Signal::Busy, Signal::Queue],
    };
    let mut scenarios = Vec::new();
    for mixed in [false, true].into_iter().filter(|&m| !m || args.mixed) {
        for &load in &args.load {
            scenarios.push(Scenario {
                servers: args.servers,
                mixed,
                weighted: mixed && args.weighted,
                load,
                jobs: args.jobs,
                warmup: args.jobs / 10,
                seed: args.seed,
            });
        }
    }
    let balancers: Vec<Balancer> = Balancer::ALL
        .into_iter()
        .filter(|b| args.only.is_empty() || args.only.iter().any(|o| o == b.flag()))
        .collect();
    let mut grid = Grid::new(&scenarios, &signals, &balancers);
    let started = tokio::time::Instant::now();
    grid.run(args.threads);
    let elapsed: Duration = started.elapsed();
    println!(
        "{} arrivals per cell ({} warm-up), seed {}; response times in mean service times\n",
        args.jobs,
        args.jobs / 10,
        args.seed
    );
    for scenario in &scenarios {
        for &signal in &signals {
            println!("{}", grid.markdown(scenario, signal, &balancers));
        }
    }
    eprintln!("simulated in {:.1} s", elapsed.as_secs_f64());
}
