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
//! | `--agent-refresh` | `SIGNPOST_AGENT_REFRESH` | `agent_refresh` | `30s` |
//! | `--resolver HOST:PORT` | `SIGNPOST_RESOLVER` | `resolver` | the system's (`/etc/resolv.conf`) |
//! | `--strategy` | `SIGNPOST_STRATEGY` | `strategy` | `least-load` |
//! | `--hash-key` | `SIGNPOST_HASH_KEY` | `hash_key` | `ip` |
//! | `--sticky` | `SIGNPOST_STICKY` | `sticky` | `none` |
//! | `--cookie-secret` | `SIGNPOST_COOKIE_SECRET` | `cookie_secret` | random per process |
//! | `--cookie-secure` | `SIGNPOST_COOKIE_SECURE` | `cookie_secure` | `false` (always on with TLS) |
//! | `--cookie-max-age` | `SIGNPOST_COOKIE_MAX_AGE` | `cookie_max_age` | none (session cookie) |
//! | `--trust-forwarded CIDR` (repeatable) | `SIGNPOST_TRUST_FORWARDED` (comma-separated) | `trust_forwarded = [..]` | none (never trusted) |
//! | `--token` | `SIGNPOST_TOKEN` | `token` | none |
//! | `--admin-token` | `SIGNPOST_ADMIN_TOKEN` | `admin_token` | none |
//! | `--admin-uses-push-token` | `SIGNPOST_ADMIN_USES_PUSH_TOKEN` | `admin_uses_push_token` | `false` |
//! | `--insecure-open-control` | `SIGNPOST_INSECURE_OPEN_CONTROL` | `insecure_open_control` | `false` |
//! | `--allow-backend PATTERN` (repeatable) | `SIGNPOST_ALLOW_BACKEND` (comma-separated) | `allow_backend = [..]` | none (any URL) |
//! | `--max-nodes` | `SIGNPOST_MAX_NODES` | `max_nodes` | `10000` |
//! | `--redirect-code` | `SIGNPOST_REDIRECT_CODE` | `redirect_code` | `302` |
//! | `--redirect-code-other` | `SIGNPOST_REDIRECT_CODE_OTHER` | `redirect_code_other` | `307` |
//! | `--slow-start` | `SIGNPOST_SLOW_START` | `slow_start` | `10s` |
//! | `--mem-high-water` | `SIGNPOST_MEM_HIGH_WATER` | `mem_high_water` | `85` |
//! | `--eject-error-rate` | `SIGNPOST_EJECT_ERROR_RATE` | `eject_error_rate` | `5` (percent) |
//! | `--eject-min-requests` | `SIGNPOST_EJECT_MIN_REQUESTS` | `eject_min_requests` | `50` |
//! | `--eject-latency` | `SIGNPOST_EJECT_LATENCY` | `eject_latency` | `500ms` |
//! | `--eject-time` | `SIGNPOST_EJECT_TIME` | `eject_time` | `30s` (× recent ejections, ≤ 10×) |
//! | `--health-path` | `SIGNPOST_HEALTH_PATH` | `[health] path` | none (checks off) |
//! | `--health-interval` | `SIGNPOST_HEALTH_INTERVAL` | `[health] interval` | `5s` |
//! | `--health-timeout` | `SIGNPOST_HEALTH_TIMEOUT` | `[health] timeout` | `1s` |
//! | `--health-rise` | `SIGNPOST_HEALTH_RISE` | `[health] rise` | `2` |
//! | `--health-fall` | `SIGNPOST_HEALTH_FALL` | `[health] fall` | `3` |
//! | `--health-max-latency` | `SIGNPOST_HEALTH_MAX_LATENCY` | `[health] max_latency` | `500ms` |
//! | `--health-status` | `SIGNPOST_HEALTH_STATUS` | `[health] status` | `200-399` |
//! | `--tls-cert` | `SIGNPOST_TLS_CERT` | `tls_cert` | none (plain HTTP) |
//! | `--tls-key` | `SIGNPOST_TLS_KEY` | `tls_key` | none |
//! | `--tls-ticket-key-file` | `SIGNPOST_TLS_TICKET_KEY_FILE` | `tls_ticket_key_file` | none (per-process session cache) |
//! | `--workers` | `SIGNPOST_WORKERS` | `workers` | available parallelism |
//! | `--max-header-bytes` | `SIGNPOST_MAX_HEADER_BYTES` | `max_header_bytes` | `16384` |
//! | `--max-requests-per-connection` | `SIGNPOST_MAX_REQUESTS_PER_CONNECTION` | `max_requests_per_connection` | `1000` |
//! | `--client-timeout` | `SIGNPOST_CLIENT_TIMEOUT` | `client_timeout` | `10s` |
//! | `--log-format` | `SIGNPOST_LOG_FORMAT` | `log_format` | `text` |
//! | `--shutdown-delay` | `SIGNPOST_SHUTDOWN_DELAY` | `shutdown_delay` | `0s` |
//! | `--rate-limit` | `SIGNPOST_RATE_LIMIT` | `rate_limit` | none (no limit) |
//! | `--rate-burst` | `SIGNPOST_RATE_BURST` | `rate_burst` | the N of `--rate-limit` |
//! | `--rate-limit-status` | `SIGNPOST_RATE_LIMIT_STATUS` | `rate_limit_status` | `429` |
//! | `--rate-limit-dry-run` | `SIGNPOST_RATE_LIMIT_DRY_RUN` | `rate_limit_dry_run` | `false` |
//! | `--rate-limit-table` | `SIGNPOST_RATE_LIMIT_TABLE` | `rate_limit_table` | `65536` |
//! | `--overload` | `SIGNPOST_OVERLOAD` | `overload` | `redirect` |
//! | `--access-log` | `SIGNPOST_ACCESS_LOG` | `access_log` | none (off) |
//! | `--access-log-sample` | `SIGNPOST_ACCESS_LOG_SAMPLE` | `access_log_sample` | `1` |
//! | `--access-log-max-uri` | `SIGNPOST_ACCESS_LOG_MAX_URI` | `access_log_max_uri` | `1024` |
//!
//! The file also holds `[[backend]]` tables (`id`, `url`, `agent`, `weight`
//! default 1, `backup` default false, and a `[backend.health]` table whose
//! keys override `[health]` for that backend). Backends from `--agent` (or
//! the file's `agents`, which `--agent` replaces) come after them; an
//! `--agent` whose host is a name rather than an IP stands for every
//! address the name resolves to (A/AAAA, or SRV for `_service._tcp.`
//! names), each polled and each its own node, named by its reports.
//! Relative `tls_cert`, `tls_key` and `tls_ticket_key_file` paths in the
//! file are relative to the file's folder. `deploy/examples/dispatcher.toml` shows every key.
//!
//! A control listener beyond loopback is closed by default: it needs a push
//! token and a distinct admin token, each at least 16 bytes, unless
//! `--insecure-open-control` says otherwise; no secret may be a placeholder
//! shipped in `deploy/` (rules in `config/secure.rs`).

mod allow;
mod args;
mod backend;
mod eject;
mod error;
mod file;
mod limits;
mod resolve;
mod rules;
mod secure;
#[cfg(test)]
mod tests;
mod values;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use allow::{AllowList, BackendPattern};
pub use args::*;
pub use eject::OutlierConfig;
pub use error::{ConfigError, ConfigErrors, Location};
pub use file::FileConfig;
pub use limits::*;
pub use values::*;

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
    /// `--agent` URLs whose host is a name: every address it resolves to
    /// is polled, each its own node named by its reports (as pushed nodes
    /// are), re-resolved every `agent_refresh`.
    pub agent_names: Vec<String>,
    /// How often `agent_names` are resolved again.
    pub agent_refresh: Duration,
    /// The DNS server to ask instead of the system's.
    pub resolver: Option<SocketAddr>,
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
    /// Bearer token of the admin API (the push token when
    /// `admin_uses_push_token` is set and no admin token is).
    pub admin_token: Option<String>,
    /// Serve a non-loopback control listener without tokens.
    pub insecure_open_control: bool,
    /// Where reports may send clients; empty allows every URL.
    pub allow_backend: AllowList,
    /// Most nodes known at once.
    pub max_nodes: usize,
    /// Status for GET and HEAD redirects.
    pub redirect_code: u16,
    /// Status for every other method.
    pub redirect_code_other: u16,
    /// Ramp-up time of a (re)joining backend; zero disables.
    pub slow_start: Duration,
    /// Memory percentage above which a backend's weight is halved.
    pub mem_high_water: f64,
    /// Passive health: when a backend's own error rate or latency ejects it.
    pub outlier: OutlierConfig,
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
    /// Requests answered on one HTTP/1 connection (either listener) before
    /// it closes.
    pub max_requests_per_connection: usize,
    /// Time a client has to send its request head, and idle keep-alive limit.
    pub client_timeout: Duration,
    /// Log output format.
    pub log_format: LogFormat,
    /// How long SIGTERM/SIGINT leave everything answering before the
    /// drain, while load balancers remove this endpoint.
    pub shutdown_delay: Duration,
    /// The per-client rate limit of the public listener; off when `None`.
    pub rate_limit: Option<RateLimitConfig>,
    /// What to do when every eligible backend is projected full.
    pub overload: Overload,
    /// The public listener's access log; off when `None`.
    pub access_log: Option<AccessLogConfig>,
    /// The file this config was read from, for reloads.
    pub config_file: Option<PathBuf>,
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
            ("tls-cert/tls-key/tls-ticket-key-file", self.tls != new.tls),
            ("workers", self.workers != new.workers),
            (
                "max-header-bytes",
                self.max_header_bytes != new.max_header_bytes,
            ),
            (
                "max-requests-per-connection",
                self.max_requests_per_connection != new.max_requests_per_connection,
            ),
            ("client-timeout", self.client_timeout != new.client_timeout),
            ("log-format", self.log_format != new.log_format),
            ("shutdown-delay", self.shutdown_delay != new.shutdown_delay),
            ("access-log", self.access_log != new.access_log),
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
