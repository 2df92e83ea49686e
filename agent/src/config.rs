//! Configuration: command-line flags, `SIGNPOST_AGENT_*` environment
//! variables and an optional TOML file, merged into one validated [`Config`].
//!
//! Parsing happens in two stages so the merge can be tested without a process
//! environment: clap turns flags and env into [`Args`] (flag beats env), serde
//! turns the file into [`FileConfig`], and [`Config::merge`] applies
//! flag > env > file > default and checks every value, reporting all problems
//! at once rather than one per run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use signpost_shared::{
    MAKE_TOKEN, MAX_WEIGHT, MIN_TOKEN_LEN, PLACEHOLDER, is_placeholder, validate_node_id,
    validate_url,
};

/// Default `--listen`: loopback, so `/drain` and `/ready` are not exposed.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9101";
/// Default `--interval`: one sample per second.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Default `--weight`.
pub const DEFAULT_WEIGHT: f64 = 1.0;
/// The shortest `--interval`: sysinfo needs this long between two CPU
/// readings for a meaningful usage figure.
pub const MIN_INTERVAL: Duration = sysinfo::MINIMUM_CPU_UPDATE_INTERVAL;
/// The largest `--cpu-limit`: Linux's own ceiling on CPUs (`NR_CPUS`).
pub const MAX_CPU_LIMIT: f64 = 8192.0;
/// The longest any outgoing request (push, probe) may take, whatever the
/// interval: a slow peer must not hold a task for a minute.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Log format on stderr [default: text].
    #[arg(long, env = "SIGNPOST_AGENT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// The `--config` file. Unknown keys are an error, so a typo is reported
/// with its line rather than silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FileConfig {
    /// See [`Args::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Args::advertise`].
    pub advertise: Option<String>,
    /// See [`Args::node_id`].
    pub node_id: Option<String>,
    /// See [`Args::weight`].
    pub weight: Option<f64>,
    /// See [`Args::interval`].
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// See [`Args::dispatcher`].
    #[serde(default)]
    pub dispatcher: Vec<String>,
    /// See [`Args::token`].
    pub token: Option<String>,
    /// See [`Args::backend_health`].
    pub backend_health: Option<String>,
    /// See [`Args::cpu_limit`].
    pub cpu_limit: Option<f64>,
    /// See [`Args::log_format`].
    pub log_format: Option<LogFormat>,
}

/// How logs are written to stderr.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The validated settings the agent runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where `/load` is served.
    pub listen: SocketAddr,
    /// The advertised backend URL, if any.
    pub advertise: Option<String>,
    /// The local port whose established connections are counted: the
    /// advertised URL's port, or its scheme's default.
    pub advertise_port: Option<u16>,
    /// This node's name.
    pub node_id: String,
    /// This node's weight.
    pub weight: f64,
    /// Sampling (and push, and probe) period.
    pub interval: Duration,
    /// Dispatcher base URLs to push to.
    pub dispatchers: Vec<String>,
    /// Bearer token for push and for remote `/drain` and `/ready`.
    pub token: Option<String>,
    /// Local application URL to probe.
    pub backend_health: Option<String>,
    /// The CPU count to report against, over any cgroup quota.
    pub cpu_limit: Option<f64>,
    /// Log format.
    pub log_format: LogFormat,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The `--config` file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML for this schema; the message
    /// names the line and the offending key.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file named by `--config`.
        path: PathBuf,
        /// The TOML error, with line and column.
        source: toml::de::Error,
    },
    /// One or more values are invalid; every problem is listed.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

// === impl Cli ===

impl Cli {
    /// Splits the command line into what to do and the settings to do it with.
    pub fn into_parts(self) -> (Mode, Args) {
        match self.command {
            Some(Command::Once(args)) => (Mode::Once, args),
            None => (Mode::Run, self.args),
        }
    }
}

// === impl FileConfig ===

impl FileConfig {
    /// Reads and parses a config file.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

// === impl Config ===

impl Config {
    /// Reads the `--config` file named in `args`, if any, and merges it with
    /// `args` and the defaults; the node id defaults to the hostname.
    pub fn load(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        Self::merge(args, file, || sysinfo::System::host_name().ok())
    }

    /// Applies flag/env > file > default and validates every value, listing
    /// all problems found. `hostname` supplies the default node id.
    pub fn merge(
        args: Args,
        file: FileConfig,
        hostname: impl FnOnce() -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut check = |what: &str, result: Result<(), String>| {
            if let Err(reason) = result {
                problems.push(format!("{what}: {reason}"));
            }
        };

        let advertise = args.advertise.or(file.advertise);
        let advertise_port = advertise.as_deref().and_then(url_port);
        if let Some(url) = &advertise {
            check("advertise", validate_url(url).map_err(|e| e.to_string()));
        }
        let node_id = args.node_id.or(file.node_id).or_else(hostname);
        match &node_id {
            Some(id) => check("node-id", validate_node_id(id).map_err(|e| e.to_string())),
            None => check("node-id", Err("no hostname to default to; set it".into())),
        }
        let weight = args.weight.or(file.weight).unwrap_or(DEFAULT_WEIGHT);
        check("weight", check_weight(weight));
        let interval = args.interval.or(file.interval).unwrap_or(DEFAULT_INTERVAL);
        check("interval", check_interval(interval));
        let dispatchers = if args.dispatcher.is_empty() {
            file.dispatcher
        } else {
            args.dispatcher
        };
        for url in &dispatchers {
            check("dispatcher", validate_url(url).map_err(|e| e.to_string()));
        }
        let listen = args.listen.or(file.listen).unwrap_or_else(default_listen);
        let token = args.token.or(file.token);
        if let Some(token) = &token {
            check("token", check_token(token, listen));
        }
        let backend_health = args.backend_health.or(file.backend_health);
        if let Some(url) = &backend_health {
            check("backend-health", check_probe_url(url));
        }
        let cpu_limit = args.cpu_limit.or(file.cpu_limit);
        if let Some(cpus) = cpu_limit {
            check("cpu-limit", check_cpu_limit(cpus));
        }

        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Config {
            listen,
            advertise,
            advertise_port,
            node_id: node_id.unwrap_or_default(),
            weight,
            interval,
            dispatchers,
            token,
            backend_health,
            cpu_limit,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
        })
    }

    /// The timeout for every outgoing request: below the interval, so a
    /// hanging peer is abandoned before the next report is due.
    pub fn request_timeout(&self) -> Duration {
        self.interval.mul_f64(0.8).min(MAX_REQUEST_TIMEOUT)
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .expect("DEFAULT_LISTEN is a socket address")
}

/// The port clients connect to at `url`, explicit or implied by the scheme.
fn url_port(url: &str) -> Option<u16> {
    reqwest::Url::parse(url).ok()?.port_or_known_default()
}

/// A token must not be empty nor a placeholder from `deploy/`; when the
/// agent listens beyond loopback it guards `/drain` and `/ready` there, so
/// it must also resist guessing (the dispatcher's rule for its control
/// listener).
fn check_token(token: &str, listen: SocketAddr) -> Result<(), String> {
    let exposed = !listen.ip().to_canonical().is_loopback();
    if token.is_empty() {
        Err("must not be empty".into())
    } else if is_placeholder(token) {
        Err(format!(
            "is a placeholder from the examples (it contains {PLACEHOLDER:?}): make a real one \
             with `{MAKE_TOKEN}`"
        ))
    } else if exposed && token.len() < MIN_TOKEN_LEN {
        Err(format!(
            "must be at least {MIN_TOKEN_LEN} bytes long when --listen ({listen}) is not \
             loopback, got {}: make one with `{MAKE_TOKEN}`",
            token.len()
        ))
    } else {
        Ok(())
    }
}

fn check_weight(weight: f64) -> Result<(), String> {
    if weight.is_finite() && weight > 0.0 && weight <= MAX_WEIGHT {
        Ok(())
    } else {
        Err(format!(
            "must be greater than 0 and at most {MAX_WEIGHT}, got {weight}"
        ))
    }
}

fn check_cpu_limit(cpus: f64) -> Result<(), String> {
    if cpus.is_finite() && cpus > 0.0 && cpus <= MAX_CPU_LIMIT {
        Ok(())
    } else {
        Err(format!(
            "must be greater than 0 and at most {MAX_CPU_LIMIT}, got {cpus}"
        ))
    }
}

fn check_interval(interval: Duration) -> Result<(), String> {
    if interval >= MIN_INTERVAL {
        Ok(())
    } else {
        Err(format!(
            "must be at least {}, got {}",
            humantime::format_duration(MIN_INTERVAL),
            humantime::format_duration(interval)
        ))
    }
}

fn check_probe_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        Ok(_) => Err(format!("{url:?} must use http or https")),
        Err(err) => Err(format!("{url:?} is not a valid URL: {err}")),
    }
}

#[cfg(test)]
mod tests;
