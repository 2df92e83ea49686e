//! The command line and its `SIGNPOST_AGENT_*` environment variables, as
//! clap reads them: every value optional, so the merge can tell "not set"
//! from a default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::{AppLogFormat, LogFormat};

/// The command line: run the agent, or sample `once` and print the report.
#[derive(Debug, Parser)]
#[command(name = "signpost-agent", version = signpost_shared::VERSION, about)]
#[command(
    after_help = "Logs go to stderr; RUST_LOG sets their level (default info), e.g. RUST_LOG=debug."
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; without a subcommand the agent runs until signalled.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for running the agent.
    #[command(flatten)]
    pub args: Args,
}

/// Subcommands of `signpost-agent`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sample once (two CPU readings an interval apart), print the report as
    /// JSON on stdout and exit.
    Once(Args),
}

/// What the process was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Serve `/load` (and push) until SIGTERM or SIGINT.
    Run,
    /// Print one report and exit.
    Once,
}

/// Flags and their `SIGNPOST_AGENT_*` environment variables. Every field is
/// optional here so that a file value can fill in what neither set.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Args {
    /// TOML file with any of the settings below (keys as the long flag names,
    /// with `_` for `-`; `dispatcher` is a list).
    #[arg(long, env = "SIGNPOST_AGENT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to serve `/load` on [default: 127.0.0.1:9101].
    #[arg(long, env = "SIGNPOST_AGENT_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// The backend URL clients are sent to; its port is the one whose
    /// connections are counted [default: none].
    #[arg(long, env = "SIGNPOST_AGENT_ADVERTISE", value_name = "URL")]
    pub advertise: Option<String>,
    /// Name of this node [default: the hostname].
    #[arg(long, env = "SIGNPOST_AGENT_NODE_ID", value_name = "ID")]
    pub node_id: Option<String>,
    /// Relative capacity of this node [default: 1].
    #[arg(long, env = "SIGNPOST_AGENT_WEIGHT", value_name = "N")]
    pub weight: Option<f64>,
    /// Sampling period, at least 200ms [default: 1s].
    #[arg(long, env = "SIGNPOST_AGENT_INTERVAL", value_parser = humantime::parse_duration)]
    pub interval: Option<Duration>,
    /// Dispatcher base URL to push every report to; repeatable, or
    /// comma-separated in the environment [default: none, pull only].
    #[arg(
        long,
        env = "SIGNPOST_AGENT_DISPATCHER",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub dispatcher: Vec<String>,
    /// How often a --dispatcher host name is resolved again: every address
    /// it resolves to (A/AAAA, or SRV for `_service._tcp.` names) gets the
    /// reports [default: 30s].
    #[arg(long, env = "SIGNPOST_AGENT_DISPATCHER_REFRESH", value_parser = humantime::parse_duration)]
    pub dispatcher_refresh: Option<Duration>,
    /// DNS server (HOST:PORT) to resolve --dispatcher names with, instead of
    /// the system's resolv.conf [default: the system's].
    #[arg(long, env = "SIGNPOST_AGENT_RESOLVER", value_name = "HOST:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Bearer token sent with pushes and required for `/drain` and `/ready`
    /// from non-loopback peers [default: none].
    #[arg(
        long,
        env = "SIGNPOST_AGENT_TOKEN",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// URL of the local application to probe every interval; while it fails
    /// the report says `healthy: false` [default: no probe].
    #[arg(long, env = "SIGNPOST_AGENT_BACKEND_HEALTH", value_name = "URL")]
    pub backend_health: Option<String>,
    /// CPUs to report CPU% and cores against, for a container pinned with
    /// --cpuset-cpus and no quota (the agent cannot tell that from a shared
    /// pool); overrides a cgroup quota [default: the quota, else the host's
    /// CPUs].
    #[arg(long, env = "SIGNPOST_AGENT_CPU_LIMIT", value_name = "N")]
    pub cpu_limit: Option<f64>,
    /// The application's access log, tailed (following rotation) for its
    /// requests/s, 5xx share and p90 latency [default: none].
    #[arg(long, env = "SIGNPOST_AGENT_APP_LOG", value_name = "PATH")]
    pub app_log: Option<PathBuf>,
    /// Format of --app-log: nginx (combined plus $request_time) or json
    /// (status, duration_ms or request_time) [default: nginx].
    #[arg(long, env = "SIGNPOST_AGENT_APP_LOG_FORMAT", value_enum)]
    pub app_log_format: Option<AppLogFormat>,
    /// Log format on stderr [default: text].
    #[arg(long, env = "SIGNPOST_AGENT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}
