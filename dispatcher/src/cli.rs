//! The command line: the [`Cli`] that `main` parses, and what happens
//! before the tokio runtime starts — `check-config`, and which runtime the
//! configuration asks for.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{Args, Config, LogFormat};

/// `EX_USAGE` of sysexits.h: a bad command line or config.
pub const EX_USAGE: u8 = 64;

/// Where --help points for logging, which no flag controls.
const LOG_HELP: &str = "Logs go to stderr; RUST_LOG sets their level (default info), \
    e.g. RUST_LOG=debug or RUST_LOG=info,signpost_dispatcher::poll=debug.";

/// A load balancer that answers every request with a redirect to the backend
/// with the most headroom, as reported live by an agent on each node.
#[derive(Parser)]
#[command(version, about, long_about = None, after_help = LOG_HELP)]
pub struct Cli {
    /// What to do; without a subcommand, run the dispatcher.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `run` (and, before a subcommand, of `check-config`).
    #[command(flatten)]
    pub args: Args,
}

/// The subcommands besides running.
#[derive(Subcommand)]
pub enum Command {
    /// Validate FILE, with the environment and flags before the subcommand
    /// applied, and exit: 0 when valid, 64 when not
    CheckConfig {
        /// The TOML config file
        file: PathBuf,
    },
    /// Run a dispatcher, three agents and three demo backends on loopback
    Demo {
        /// The demo dispatcher's flags.
        #[command(flatten)]
        args: Box<Args>,
    },
}

/// `check-config FILE`: validates the configuration and loads the TLS
/// certificate and key too, so a unit's `ExecStartPre` catches a bad PEM
/// before the restart. Prints `config ok` on stdout, or every error on
/// stderr and exits with [`EX_USAGE`].
pub fn check_config(file: &Path, args: &Args) -> ExitCode {
    let format = args.log_format.unwrap_or(LogFormat::Text);
    let config = match Config::check_file(file, args) {
        Ok(config) => config,
        Err(errors) => return usage_error(format, errors),
    };
    if let Err(err) = crate::http::tls::Tls::from_config(&config) {
        return usage_error(config.log_format, err);
    }
    for warning in config.security_warnings() {
        eprintln!("warning: {warning}");
    }
    println!("config ok: {} backends", config.backends.len());
    ExitCode::SUCCESS
}

/// Reports `error` on stderr in `format` (one JSON line with `--log-format
/// json`); exit code [`EX_USAGE`].
pub fn usage_error(format: LogFormat, error: impl std::fmt::Display) -> ExitCode {
    crate::startup_error(format, &error.to_string());
    ExitCode::from(EX_USAGE)
}

/// The runtime for `workers` worker threads. One worker gets a
/// current-thread runtime, which skips work-stealing and cross-thread
/// wake-ups (the benchmarked setting, pinned to one core).
pub fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    builder
        .enable_all()
        .build()
        .context("start the tokio runtime")
}
