//! Dispatcher configuration: command-line flags, `SIGNPOST_*` environment
//! variables and the TOML `--config` file, merged into one validated
//! [`Config`].
//!
//! Parsing has two stages. [`Args`] (clap) and [`FileConfig`] (serde) hold what
//! the operator wrote, every value optional; [`Config::load`] merges them,
//! flag > env > file > default, and checks every rule, reporting all broken
//! ones at once as [`ConfigErrors`], each naming the flag and variable, or
//! the file, line and key, it blames. `check-config` and SIGHUP run the same
//! path. Durations are humantime (`250ms`, `3s`, `5m`).
//!
//! | flag | env | file key | default |
//! |---|---|---|---|
//! | `--config FILE` | `SIGNPOST_CONFIG` | | none |
//! | `--listen ADDR` | `SIGNPOST_LISTEN` | `listen` | `0.0.0.0:8080` |
//! | `--control-listen ADDR` | `SIGNPOST_CONTROL_LISTEN` | `control_listen` | `127.0.0.1:9100` |
//! | `--agent URL` (repeatable) | `SIGNPOST_AGENTS` (comma-separated) | `agents = [..]` | none |
//! | `--poll-interval` | `SIGNPOST_POLL_INTERVAL` | `poll_interval` | `1s` |
//! | `--stale-after` | `SIGNPOST_STALE_AFTER` | `stale_after` | `3s` |
//! | `--forget-after` | `SIGNPOST_FORGET_AFTER` | `forget_after` | `5m` |
//! | `--strategy` | `SIGNPOST_STRATEGY` | `strategy` | `least-load` |
//! | `--hash-key` | `SIGNPOST_HASH_KEY` | `hash_key` | `ip` |
//! | `--sticky` | `SIGNPOST_STICKY` | `sticky` | `none` |
//! | `--cookie-secret` | `SIGNPOST_COOKIE_SECRET` | `cookie_secret` | random per process |
//! | `--cookie-secure` | `SIGNPOST_COOKIE_SECURE` | `cookie_secure` | `false` (always on with TLS) |
//! | `--cookie-max-age` | `SIGNPOST_COOKIE_MAX_AGE` | `cookie_max_age` | none (session cookie) |
//! | `--trust-forwarded CIDR` (repeatable) | `SIGNPOST_TRUST_FORWARDED` (comma-separated) | `trust_forwarded = [..]` | none (never trusted) |
//! | `--token` | `SIGNPOST_TOKEN` | `token` | none |
//! | `--admin-token` | `SIGNPOST_ADMIN_TOKEN` | `admin_token` | none |
//! | `--redirect-code` | `SIGNPOST_REDIRECT_CODE` | `redirect_code` | `302` |
//! | `--redirect-code-other` | `SIGNPOST_REDIRECT_CODE_OTHER` | `redirect_code_other` | `307` |
//! | `--slow-start` | `SIGNPOST_SLOW_START` | `slow_start` | `10s` |
//! | `--mem-high-water` | `SIGNPOST_MEM_HIGH_WATER` | `mem_high_water` | `85` |
//! | `--health-path` | `SIGNPOST_HEALTH_PATH` | `[health] path` | none (checks off) |
//! | `--health-interval` | `SIGNPOST_HEALTH_INTERVAL` | `[health] interval` | `5s` |
//! | `--health-timeout` | `SIGNPOST_HEALTH_TIMEOUT` | `[health] timeout` | `1s` |
//! | `--health-rise` | `SIGNPOST_HEALTH_RISE` | `[health] rise` | `2` |
//! | `--health-fall` | `SIGNPOST_HEALTH_FALL` | `[health] fall` | `3` |
//! | `--health-max-latency` | `SIGNPOST_HEALTH_MAX_LATENCY` | `[health] max_latency` | `500ms` |
//! | `--health-status` | `SIGNPOST_HEALTH_STATUS` | `[health] status` | `200-399` |
//! | `--tls-cert` | `SIGNPOST_TLS_CERT` | `tls_cert` | none (plain HTTP) |
//! | `--tls-key` | `SIGNPOST_TLS_KEY` | `tls_key` | none |
//! | `--workers` | `SIGNPOST_WORKERS` | `workers` | available parallelism |
//! | `--max-header-bytes` | `SIGNPOST_MAX_HEADER_BYTES` | `max_header_bytes` | `16384` |
//! | `--client-timeout` | `SIGNPOST_CLIENT_TIMEOUT` | `client_timeout` | `10s` |
//! | `--log-format` | `SIGNPOST_LOG_FORMAT` | `log_format` | `text` |
//! | `--shutdown-delay` | `SIGNPOST_SHUTDOWN_DELAY` | `shutdown_delay` | `0s` |
//!
//! The file also holds `[[backend]]` tables (`id`, `url`, `agent`, `weight`
//! default 1, `backup` default false, and a `[backend.health]` table whose
//! keys override `[health]` for that backend). Backends from `--agent` (or
//! the file's `agents`, which `--agent` replaces) come after them.
//! Relative `tls_cert` and `tls_key` paths in the file are relative to the
//! file's folder. `deploy/examples/dispatcher.toml` shows every key.

mod args;
mod backend;
mod file;
mod resolve;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use args::*;
pub use file::FileConfig;

/// The validated configuration the dispatcher runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Public listener: every request is answered by a redirect.
    pub listen: SocketAddr,
    /// Control listener: dashboard, metrics, report ingest, admin.
    pub control_listen: SocketAddr,
    /// How often configured agents are polled.
    pub poll_interval: Duration,
    /// A backend whose last report is older than this is stale.
    pub stale_after: Duration,
    /// A pushed backend silent for this long is forgotten.
    pub forget_after: Duration,
    /// The balancing strategy.
    pub strategy: StrategyKind,
    /// The key of `consistent-hash`.
    pub hash_key: HashKey,
    /// Client pinning.
    pub sticky: Sticky,
    /// HMAC secret of sticky cookies.
    pub cookie_secret: Option<String>,
    /// Mark sticky cookies `Secure` (they always are when TLS is on).
    pub cookie_secure: bool,
    /// `Max-Age` of sticky cookies; `None` for a session cookie.
    pub cookie_max_age: Option<Duration>,
    /// Peers whose `X-Forwarded-For`/`Forwarded` headers may name the client.
    pub trust_forwarded: Vec<ipnet::IpNet>,
    /// Bearer token agents must present to push.
    pub token: Option<String>,
    /// Bearer token of the admin API.
    pub admin_token: Option<String>,
    /// Status for GET and HEAD redirects.
    pub redirect_code: u16,
    /// Status for every other method.
    pub redirect_code_other: u16,
    /// Ramp-up time of a (re)joining backend; zero disables.
    pub slow_start: Duration,
    /// Memory percentage above which a backend's weight is halved.
    pub mem_high_water: f64,
    /// Active health checks, global defaults.
    pub health: HealthConfig,
    /// TLS on the public listener.
    pub tls: Option<TlsConfig>,
    /// Statically configured backends, `--agent` flags included.
    pub backends: Vec<BackendConfig>,
    /// Runtime worker threads.
    pub workers: usize,
    /// Largest request head accepted on the public listener.
    pub max_header_bytes: usize,
    /// Time a client has to send its request head, and idle keep-alive limit.
    pub client_timeout: Duration,
    /// Log output format.
    pub log_format: LogFormat,
    /// How long SIGTERM/SIGINT leave everything answering before the
    /// drain, while load balancers remove this endpoint.
    pub shutdown_delay: Duration,
    /// The file this config was read from, for reloads.
    pub config_file: Option<PathBuf>,
}

/// Why a config was refused: one or more problems, each on its own line.
#[derive(Debug)]
pub struct ConfigErrors(Vec<ConfigError>);

/// One problem with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a value of the
    /// wrong type.
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// The 1-based line of the problem.
        line: usize,
        /// What the TOML parser said.
        message: String,
    },
    /// A value that breaks a rule.
    #[error("{at}: {reason}")]
    Invalid {
        /// The setting at fault and where its value came from.
        at: Location,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where a faulty value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A flag or its environment variable (clap does not say which);
    /// `key` is the file key, such as `health.interval`.
    Arg {
        /// The setting's file key.
        key: String,
    },
    /// A key of the config file, such as `backend[1].weight`.
    File {
        /// The config file.
        path: PathBuf,
        /// The 1-based line of the value.
        line: usize,
        /// The key.
        key: String,
    },
    /// The built-in default, at odds with another value.
    Default {
        /// The setting's file key.
        key: String,
    },
}

/// One value per `--strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyKind {
    /// Live-weighted least-load (default).
    LeastLoad,
    /// Plain rotation.
    RoundRobin,
    /// Smooth weighted rotation.
    WeightedRoundRobin,
    /// Uniform (weighted) random.
    Random,
    /// Fewest agent-reported connections.
    LeastConnections,
    /// Lowest health-check latency.
    Fastest,
    /// Hash of the client address.
    IpHash,
    /// Consistent hash of the --hash-key.
    ConsistentHash,
}

/// What `consistent-hash` hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    /// The client address.
    ClientIp,
    /// A request header (lower-case name).
    Header(String),
    /// A cookie.
    Cookie(String),
}

/// Client pinning mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sticky {
    /// No pinning.
    None,
    /// Signed cookie.
    Cookie,
    /// Client address.
    Ip,
}

/// Active health check settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// Path probed; checks are off when `None`.
    pub path: Option<String>,
    /// Period.
    pub interval: Duration,
    /// Per-check timeout.
    pub timeout: Duration,
    /// Consecutive passes to come back.
    pub rise: u32,
    /// Consecutive failures to go down.
    pub fall: u32,
    /// Slower answers count as failures.
    pub max_latency: Duration,
    /// Statuses that pass.
    pub status: StatusRange,
}

/// An inclusive range of HTTP statuses, written `200-399` (or `204`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest passing status.
    pub low: u16,
    /// Highest passing status.
    pub high: u16,
}

impl Default for HealthConfig {
    /// Checks off, every other setting at its default.
    fn default() -> Self {
        HealthConfig {
            path: None,
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_TIMEOUT,
            rise: DEFAULT_HEALTH_RISE,
            fall: DEFAULT_HEALTH_FALL,
            max_latency: DEFAULT_HEALTH_MAX_LATENCY,
            status: DEFAULT_HEALTH_STATUS,
        }
    }
}

impl StatusRange {
    /// Whether `status` passes.
    pub fn contains(&self, status: u16) -> bool {
        (self.low..=self.high).contains(&status)
    }
}

impl FromStr for StatusRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid status range {s:?}, expected LOW-HIGH such as 200-399");
        let (low, high) = s.split_once('-').unwrap_or((s, s));
        let parse = |x: &str| x.trim().parse::<u16>().map_err(|_| bad());
        let (low, high) = (parse(low)?, parse(high)?);
        if !(100..=599).contains(&low) || !(low..=599).contains(&high) {
            return Err(bad());
        }
        Ok(StatusRange { low, high })
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.low, self.high)
    }
}

/// Certificate and key of the public listener.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// One `[[backend]]` table or `--agent` flag.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Node id; default from the report.
    pub id: Option<String>,
    /// Where clients are sent; overrides the report's url.
    pub url: Option<String>,
    /// Agent base URL, polled at `/load`.
    pub agent: Option<String>,
    /// Static weight.
    pub weight: f64,
    /// Used only while no primary is eligible.
    pub backup: bool,
    /// Health settings with per-backend overrides applied.
    pub health: HealthConfig,
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

// === impl Config ===

impl Config {
    /// Reads `args.config` if set, merges flag > env > file > default and
    /// checks every rule.
    pub fn load(args: &Args) -> Result<Self, ConfigErrors> {
        let file = match &args.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        Self::try_from((args, &file))
    }

    /// The settings (by their flag names) that differ between `self`, the
    /// running configuration, and `new` but take effect only at start-up:
    /// the listeners, TLS, the runtime, the HTTP limits and the log format
    /// are built once, so a reload keeps their running values and the
    /// operator must be told.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        [
            ("listen", self.listen != new.listen),
            ("control-listen", self.control_listen != new.control_listen),
            ("tls-cert/tls-key", self.tls != new.tls),
            ("workers", self.workers != new.workers),
            (
                "max-header-bytes",
                self.max_header_bytes != new.max_header_bytes,
            ),
            ("client-timeout", self.client_timeout != new.client_timeout),
            ("log-format", self.log_format != new.log_format),
            ("shutdown-delay", self.shutdown_delay != new.shutdown_delay),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

    /// What `check-config FILE` validates: the file at `path` with `args`
    /// (flags and environment) applied on top, exactly as a start with
    /// `--config FILE` would load it.
    pub fn check_file(path: &Path, args: &Args) -> Result<Self, ConfigErrors> {
        Self::load(&Args {
            config: Some(path.to_owned()),
            ..args.clone()
        })
    }
}

impl TryFrom<(&Args, &FileConfig)> for Config {
    type Error = ConfigErrors;

    /// Merges flag > env > file > default and checks every rule.
    fn try_from((args, file): (&Args, &FileConfig)) -> Result<Self, ConfigErrors> {
        resolve::resolve(args, file)
    }
}

// === impl ConfigErrors ===

impl ConfigErrors {
    /// Every problem found, in the order of the settings.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "\n" };
            write!(f, "{sep}{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

// === impl Location ===

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Arg { key } => write!(f, "{} ({})", flag_of(key), env_of(key)),
            Self::File { path, line, key } => write!(f, "{}:{line}: {key}", path.display()),
            Self::Default { key } => write!(f, "{key} (default)"),
        }
    }
}

/// The flag that sets file key `key`: `health.max_latency` is
/// `--health-max-latency`.
fn flag_of(key: &str) -> String {
    match key {
        "agents" => "--agent".to_owned(),
        _ => format!("--{}", key.replace(['_', '.'], "-")),
    }
}

/// The variable that sets file key `key`: `health.max_latency` is
/// `SIGNPOST_HEALTH_MAX_LATENCY`.
fn env_of(key: &str) -> String {
    format!("SIGNPOST_{}", key.replace('.', "_").to_ascii_uppercase())
}

// === impl HashKey ===

impl FromStr for HashKey {
    type Err = String;

    /// Parses `ip`, `header:NAME` (stored lower-case) or `cookie:NAME`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "ip" => Ok(Self::ClientIp),
            Some(("header", name)) if is_token(name) => Ok(Self::Header(name.to_ascii_lowercase())),
            Some(("cookie", name)) if is_token(name) => Ok(Self::Cookie(name.to_owned())),
            _ => Err(format!(
                "invalid hash key {s:?}, expected ip, header:NAME or cookie:NAME"
            )),
        }
    }
}

/// Whether `name` is a valid header or cookie name (an RFC 9110 token).
fn is_token(name: &str) -> bool {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    !name.is_empty() && name.chars().all(tchar)
}
