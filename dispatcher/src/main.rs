//! `signpost-dispatcher`: parses the command line and hands over to the lib.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use signpost_dispatcher::config::{Args, Config, LogFormat};

/// Where --help points for logging, which no flag controls.
const LOG_HELP: &str = "Logs go to stderr; RUST_LOG sets their level (default info), \
    e.g. RUST_LOG=debug or RUST_LOG=info,signpost_dispatcher::poll=debug.";

/// `EX_USAGE` of sysexits.h: a bad command line or config.
const EX_USAGE: u8 = 64;

/// A load balancer that answers every request with a redirect to the backend
/// with the most headroom, as reported live by an agent on each node.
#[derive(Parser)]
#[command(version, about, long_about = None, after_help = LOG_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: Args,
}

#[derive(Subcommand)]
enum Command {
    /// Validate FILE, with the environment and flags before the subcommand
    /// applied, and exit: 0 when valid, 64 when not
    CheckConfig {
        /// The TOML config file
        file: PathBuf,
    },
    /// Run a dispatcher, three agents and three demo backends on loopback
    Demo {
        #[command(flatten)]
        args: Box<Args>,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            e.print()?;
            return Ok(ExitCode::from(if e.use_stderr() { EX_USAGE } else { 0 }));
        }
    };
    let loaded = match &cli.command {
        Some(Command::CheckConfig { file }) => Config::check_file(file, &cli.args),
        Some(Command::Demo { args }) => Config::load(args),
        None => Config::load(&cli.args),
    };
    // Until a config is loaded, errors follow --log-format or its env.
    let log_format = cli.args.log_format.unwrap_or(LogFormat::Text);
    let config = match loaded {
        Ok(config) => config,
        Err(errors) => {
            signpost_dispatcher::startup_error(log_format, &errors.to_string());
            return Ok(ExitCode::from(EX_USAGE));
        }
    };
    let log_format = config.log_format;
    if let Some(Command::CheckConfig { .. }) = cli.command {
        // Load the certificate too, so ExecStartPre catches a bad PEM.
        if let Err(err) = signpost_dispatcher::http::tls::Tls::from_config(&config) {
            signpost_dispatcher::startup_error(log_format, &err.to_string());
            return Ok(ExitCode::from(EX_USAGE));
        }
        println!("config ok: {} backends", config.backends.len());
        return Ok(ExitCode::SUCCESS);
    }
    // One worker: a current-thread runtime, which skips work-stealing and
    // cross-thread wake-ups (the benchmarked setting, pinned to one core).
    let mut builder = if config.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(config.workers);
        builder
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    let ran = match cli.command {
        Some(Command::Demo { args }) => runtime.block_on(signpost_dispatcher::demo(*args)),
        _ => runtime.block_on(signpost_dispatcher::run(config, cli.args)),
    };
    if let Err(err) = ran {
        signpost_dispatcher::startup_error(log_format, &format!("Error: {err:#}"));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
