//! The value types of the configuration: the closed sets `--strategy`,
//! `--sticky` and `--log-format` choose from, the hash key, health settings,
//! TLS files and backends, with their parsers.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::args::*;

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
    /// Session ticket keys shared by replicas (`http/ticket.rs`); `None`
    /// keeps rustls's per-process session cache.
    pub ticket_keys: Option<PathBuf>,
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

/// Log format: the agent's, so both binaries log alike from one
/// [`init_logging`](signpost_agent::init_logging).
pub use signpost_agent::config::LogFormat;

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
