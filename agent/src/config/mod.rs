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

use clap::ValueEnum;
use serde::Deserialize;
use signpost_shared::{validate_node_id, validate_url};

pub use crate::applog::Format as AppLogFormat;
use crate::discovery::DEFAULT_REFRESH;

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
    /// See [`Args::dispatcher_refresh`].
    #[serde(default, with = "humantime_serde")]
    pub dispatcher_refresh: Option<Duration>,
    /// See [`Args::resolver`].
    pub resolver: Option<SocketAddr>,
    /// See [`Args::token`].
    pub token: Option<String>,
    /// See [`Args::backend_health`].
    pub backend_health: Option<String>,
    /// See [`Args::cpu_limit`].
    pub cpu_limit: Option<f64>,
    /// See [`Args::app_log`].
    pub app_log: Option<PathBuf>,
    /// See [`Args::app_log_format`].
    pub app_log_format: Option<AppLogFormat>,
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
    /// How often a dispatcher host name is resolved again.
    pub dispatcher_refresh: Duration,
    /// The DNS server to ask instead of the system's.
    pub resolver: Option<SocketAddr>,
    /// Bearer token for push and for remote `/drain` and `/ready`.
    pub token: Option<String>,
    /// Local application URL to probe.
    pub backend_health: Option<String>,
    /// The CPU count to report against, over any cgroup quota.
    pub cpu_limit: Option<f64>,
    /// The application's access log to tail, and its format.
    pub app_log: Option<(PathBuf, AppLogFormat)>,
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
        let dispatcher_refresh = args
            .dispatcher_refresh
            .or(file.dispatcher_refresh)
            .unwrap_or(DEFAULT_REFRESH);
        check("dispatcher-refresh", check_refresh(dispatcher_refresh));
        let resolver = args.resolver.or(file.resolver);
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
            dispatcher_refresh,
            resolver,
            token,
            backend_health,
            cpu_limit,
            app_log: (args.app_log.or(file.app_log)).map(|path| {
                (
                    path,
                    args.app_log_format
                        .or(file.app_log_format)
                        .unwrap_or_default(),
                )
            }),
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

mod args;
mod checks;

pub use args::{Args, Cli, Command, Mode};
use checks::*;

#[cfg(test)]
mod tests;
