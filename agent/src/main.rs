//! `signpost-agent`: parse the command line, then hand over to the library.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use signpost_agent::config::{Cli, Config, Mode};
use tokio_util::sync::CancellationToken;

/// Exit status for a configuration that cannot be used (sysexits EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> anyhow::Result<ExitCode> {
    let (mode, args) = Cli::parse().into_parts();
    let config = match Config::load(args) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("signpost-agent: {err}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    signpost_agent::init_logging(config.log_format);
    // One thread: the agent's work is a few small reads and requests per
    // interval, and every extra runtime thread costs memory on every node.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the async runtime")?;
    runtime.block_on(async {
        if mode == Mode::Once {
            let report = signpost_agent::once(&config).await?;
            println!("{}", serde_json::to_string(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
        let shutdown = CancellationToken::new();
        tokio::spawn(signpost_agent::cancel_on_signal(shutdown.clone()));
        signpost_agent::run(config, shutdown).await?;
        Ok(ExitCode::SUCCESS)
    })
}
