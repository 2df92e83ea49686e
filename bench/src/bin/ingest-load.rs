//! Pushes reports from many distinct node ids to a dispatcher's
//! `/v1/report` for a bounded time and prints what it saw; see
//! `bench/ingest.sh`, which runs it beside wrk. Loopback only.

use std::time::Duration;

use clap::Parser;
use signpost_bench::ingest::{self, Plan, quantile};

/// Ingest load generator (issue #5 part 3).
#[derive(Parser, Debug)]
struct Args {
    /// Base URL of the control listener.
    #[arg(long)]
    control: String,
    /// Distinct node ids.
    #[arg(long, default_value_t = 10_000)]
    nodes: usize,
    /// Each node pushes once per this many milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Seconds to push for.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Concurrent push tasks.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Milliseconds between visibility probes; 0 runs none.
    #[arg(long, default_value_t = 0)]
    probe_ms: u64,
    /// Bearer token of /v1/report.
    #[arg(long)]
    token: Option<String>,
    /// The state every node reports: `ready` (they join the pool) or
    /// `maintenance` (they report but take no clients).
    #[arg(long, default_value = "ready", value_parser = ["ready", "draining", "maintenance"])]
    state: String,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let control = args.control.clone();
    if !control.starts_with("http://127.") && !control.starts_with("http://localhost") {
        anyhow::bail!("refusing to load anything but loopback: {control}");
    }
    let plan = Plan {
        control,
        nodes: args.nodes,
        interval: Duration::from_millis(args.interval_ms),
        duration: Duration::from_secs(args.seconds),
        workers: args.workers,
        probe_every: (args.probe_ms > 0).then(|| Duration::from_millis(args.probe_ms)),
        token: args.token,
        state: args.state,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = runtime.block_on(ingest::run(plan))?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "accepted {} failed {} rate {:.0}/s push_rtt_p50_ms {:.2} push_rtt_p99_ms {:.2} max_lag_ms {:.1}",
        summary.accepted,
        summary.failed,
        summary.accepted as f64 / args.seconds as f64,
        ms(quantile(&summary.push_rtt, 0.5)),
        ms(quantile(&summary.push_rtt, 0.99)),
        ms(summary.max_lag),
    );
    if !summary.visible.is_empty() {
        println!(
            "probes {} visible_p50_ms {:.1} visible_p99_ms {:.1} visible_max_ms {:.1} poll_rtt_p50_ms {:.1}",
            summary.visible.len(),
            ms(quantile(&summary.visible, 0.5)),
            ms(quantile(&summary.visible, 0.99)),
            ms(quantile(&summary.visible, 1.0)),
            ms(quantile(&summary.last_poll, 0.5)),
        );
    }
    Ok(())
}
