//! The first stage of parsing: `Args`, the flags and their `SIGNPOST_*`
//! environment variables as clap sees them, and the built-in defaults.
//!
//! Every field is optional and has no clap default, so "unset" stays visible
//! and a value from the config file can still win over the default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{BackendPattern, HashKey, LogFormat, StatusRange, Sticky, StrategyKind};

/// Default of `--listen`.
pub const DEFAULT_LISTEN: SocketAddr = addr([0, 0, 0, 0], 8080);
/// Default of `--control-listen`: loopback only.
pub const DEFAULT_CONTROL_LISTEN: SocketAddr = addr([127, 0, 0, 1], 9100);
/// Default of `--poll-interval`.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Default of `--stale-after`.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(3);
/// Default of `--forget-after`.
pub const DEFAULT_FORGET_AFTER: Duration = Duration::from_secs(5 * 60);
/// Default of `--strategy`.
pub const DEFAULT_STRATEGY: StrategyKind = StrategyKind::LeastLoad;
/// Default of `--hash-key`.
pub const DEFAULT_HASH_KEY: HashKey = HashKey::ClientIp;
/// Default of `--sticky`.
pub const DEFAULT_STICKY: Sticky = Sticky::None;
/// Default of `--redirect-code`.
pub const DEFAULT_REDIRECT_CODE: u16 = 302;
/// Default of `--redirect-code-other`.
pub const DEFAULT_REDIRECT_CODE_OTHER: u16 = 307;
/// Default of `--slow-start`.
pub const DEFAULT_SLOW_START: Duration = Duration::from_secs(10);
/// Default of `--mem-high-water`, in percent.
pub const DEFAULT_MEM_HIGH_WATER: f64 = 85.0;
/// Default `--eject-error-rate`, in percent.
pub const DEFAULT_EJECT_ERROR_RATE: f64 = 5.0;
/// Default `--eject-min-requests`.
pub const DEFAULT_EJECT_MIN_REQUESTS: usize = 50;
/// Default `--eject-latency`.
pub const DEFAULT_EJECT_LATENCY: Duration = Duration::from_millis(500);
/// Default `--eject-time`: Envoy's base ejection time.
pub const DEFAULT_EJECT_TIME: Duration = Duration::from_secs(30);
/// Default of `--health-interval`.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// Default of `--health-timeout`.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// Default of `--health-rise`.
pub const DEFAULT_HEALTH_RISE: u32 = 2;
/// Default of `--health-fall`.
pub const DEFAULT_HEALTH_FALL: u32 = 3;
/// Default of `--health-max-latency`.
pub const DEFAULT_HEALTH_MAX_LATENCY: Duration = Duration::from_millis(500);
/// Statuses that pass a health check by default: 2xx and 3xx.
pub const DEFAULT_HEALTH_STATUS: StatusRange = StatusRange {
    low: 200,
    high: 399,
};
/// Default of `--max-header-bytes`.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Default of `--max-requests-per-connection`, as nginx's
/// `keepalive_requests`.
pub const DEFAULT_MAX_REQUESTS_PER_CONNECTION: usize = 1000;
/// Default of `--client-timeout`.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `--shutdown-delay`: none.
pub const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::ZERO;
/// Default of `--log-format`.
pub const DEFAULT_LOG_FORMAT: LogFormat = LogFormat::Text;
/// Default of `--max-nodes`: room for a large fleet, while a flood of
/// made-up node ids stops well before memory does.
pub const DEFAULT_MAX_NODES: usize = 10_000;

/// Default of `--workers`: the available parallelism, or 1 when unknown.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

const fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    let [a, b, c, d] = ip;
    SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::new(a, b, c, d),
        port,
    ))
}

/// Parses a humantime duration such as `250ms`, `3s` or `5m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

/// Flags of `signpost-dispatcher` and `signpost-dispatcher demo`.
///
/// Each flag can also be set by its `SIGNPOST_*` environment variable and by
/// the same key, in snake_case, in the `--config` file; a flag beats its
/// variable, which beats the file, which beats the default.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Args {
    /// TOML config file; its keys are the flags' names in snake_case,
    /// with the health flags in a [health] table [default: none]
    // The brackets are `--help` text, not links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(long, env = "SIGNPOST_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Public listener: every request on it is answered by a redirect
    /// [default: 0.0.0.0:8080]
    #[arg(long, env = "SIGNPOST_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Control listener: dashboard, metrics, report ingest, admin
    /// [default: 127.0.0.1:9100]
    #[arg(long, env = "SIGNPOST_CONTROL_LISTEN", value_name = "ADDR")]
    pub control_listen: Option<SocketAddr>,

    /// Agent base URL to poll at /load; repeat the flag, or separate URLs
    /// with commas in the variable [default: none]
    #[arg(
        long = "agent",
        env = "SIGNPOST_AGENTS",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub agents: Vec<String>,

    /// How often agents are polled [default: 1s]
    #[arg(long, env = "SIGNPOST_POLL_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub poll_interval: Option<Duration>,

    /// A backend whose last report is older than this is stale; at least
    /// twice --poll-interval [default: 3s]
    #[arg(long, env = "SIGNPOST_STALE_AFTER", value_name = "DURATION", value_parser = parse_duration)]
    pub stale_after: Option<Duration>,

    /// How often an --agent host name is resolved again: every address it
    /// resolves to (A/AAAA, or SRV for `_service._tcp.` names) is polled
    /// [default: 30s]
    #[arg(long, env = "SIGNPOST_AGENT_REFRESH", value_name = "DURATION", value_parser = parse_duration)]
    pub agent_refresh: Option<Duration>,

    /// DNS server (HOST:PORT) to resolve --agent names with, instead of the
    /// system's resolv.conf [default: the system's]
    #[arg(long, env = "SIGNPOST_RESOLVER", value_name = "HOST:PORT")]
    pub resolver: Option<SocketAddr>,

    /// A pushing backend silent for this long is forgotten [default: 5m]
    #[arg(long, env = "SIGNPOST_FORGET_AFTER", value_name = "DURATION", value_parser = parse_duration)]
    pub forget_after: Option<Duration>,

    /// Balancing strategy [default: least-load]
    #[arg(long, env = "SIGNPOST_STRATEGY", value_name = "NAME")]
    pub strategy: Option<StrategyKind>,

    /// Key of consistent-hash: ip, header:NAME or cookie:NAME [default: ip]
    #[arg(long, env = "SIGNPOST_HASH_KEY", value_name = "KEY")]
    pub hash_key: Option<HashKey>,

    /// Client pinning [default: none]
    #[arg(long, env = "SIGNPOST_STICKY", value_name = "MODE")]
    pub sticky: Option<Sticky>,

    /// HMAC secret of sticky cookies, at least 16 bytes; share it between
    /// replicas [default: random per process]
    #[arg(
        long,
        env = "SIGNPOST_COOKIE_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub cookie_secret: Option<String>,

    /// Mark sticky cookies Secure, so browsers send them over HTTPS only;
    /// always on with --tls-cert [default: false]
    #[arg(
        long,
        env = "SIGNPOST_COOKIE_SECURE",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub cookie_secure: Option<bool>,

    /// Lifetime of sticky cookies [default: none, they last until the
    /// browser closes]
    #[arg(long, env = "SIGNPOST_COOKIE_MAX_AGE", value_name = "DURATION", value_parser = parse_duration)]
    pub cookie_max_age: Option<Duration>,

    /// Proxies allowed to name the client in X-Forwarded-For or Forwarded,
    /// as CIDRs; repeat the flag or separate with commas [default: none,
    /// the socket's peer is the client]
    #[arg(
        long,
        env = "SIGNPOST_TRUST_FORWARDED",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trust_forwarded: Vec<ipnet::IpNet>,

    /// Bearer token agents must present to push reports; required, at least
    /// 16 bytes, when --control-listen is not loopback (make one with
    /// `openssl rand -hex 32`) [default: none, pushes are not authenticated]
    #[arg(
        long,
        env = "SIGNPOST_TOKEN",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Bearer token of the admin API; required, distinct from --token, when
    /// --control-listen is not loopback [default: none]
    #[arg(
        long,
        env = "SIGNPOST_ADMIN_TOKEN",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// Let the push token (--token) also authorize the admin API, instead
    /// of a separate --admin-token [default: false]
    #[arg(
        long,
        env = "SIGNPOST_ADMIN_USES_PUSH_TOKEN",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub admin_uses_push_token: Option<bool>,

    /// Serve a control listener beyond loopback without the tokens it
    /// otherwise requires; anyone who reaches it can then redirect every
    /// client, and every start logs a warning [default: false]
    #[arg(
        long,
        env = "SIGNPOST_INSECURE_OPEN_CONTROL",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub insecure_open_control: Option<bool>,

    /// Where reports may send clients: [SCHEME://]HOST[:PORT], HOST a CIDR,
    /// an address, a name or *.name; repeat the flag or separate with
    /// commas; configured backends' urls are always allowed [default: none,
    /// any URL]
    // The brackets are `--help` text, not links.
    #[allow(rustdoc::broken_intra_doc_links)]
    #[arg(
        long,
        env = "SIGNPOST_ALLOW_BACKEND",
        value_name = "PATTERN",
        value_delimiter = ','
    )]
    pub allow_backend: Vec<BackendPattern>,

    /// Most nodes known at once; a push from one more new node is refused
    /// with 429 [default: 10000]
    #[arg(long, env = "SIGNPOST_MAX_NODES", value_name = "N")]
    pub max_nodes: Option<usize>,

    /// Redirect status for GET and HEAD: 301, 302, 303, 307 or 308
    /// [default: 302]
    #[arg(long, env = "SIGNPOST_REDIRECT_CODE", value_name = "CODE")]
    pub redirect_code: Option<u16>,

    /// Redirect status for every other method: 307 or 308 [default: 307]
    #[arg(long, env = "SIGNPOST_REDIRECT_CODE_OTHER", value_name = "CODE")]
    pub redirect_code_other: Option<u16>,

    /// Ramp-up time of a joining backend; 0s disables [default: 10s]
    #[arg(long, env = "SIGNPOST_SLOW_START", value_name = "DURATION", value_parser = parse_duration)]
    pub slow_start: Option<Duration>,

    /// Memory percentage, in (0, 100], above which a backend's weight is
    /// halved [default: 85]
    #[arg(long, env = "SIGNPOST_MEM_HIGH_WATER", value_name = "PERCENT")]
    pub mem_high_water: Option<f64>,

    /// Passive health: eject a backend whose application fails more than
    /// this percentage of requests, in (0, 100] [default: 5]
    #[arg(long, env = "SIGNPOST_EJECT_ERROR_RATE", value_name = "PERCENT")]
    pub eject_error_rate: Option<f64>,

    /// Passive health: requests a backend's window must hold before its
    /// error rate can eject it [default: 50]
    #[arg(long, env = "SIGNPOST_EJECT_MIN_REQUESTS", value_name = "N")]
    pub eject_min_requests: Option<usize>,

    /// Passive health: eject a backend whose application's p90 response
    /// time exceeds this [default: 500ms]
    #[arg(long, env = "SIGNPOST_EJECT_LATENCY", value_name = "DURATION", value_parser = parse_duration)]
    pub eject_latency: Option<Duration>,

    /// Passive health: the first ejection's length; the n-th recent one
    /// lasts n times it, at most ten times [default: 30s]
    #[arg(long, env = "SIGNPOST_EJECT_TIME", value_name = "DURATION", value_parser = parse_duration)]
    pub eject_time: Option<Duration>,

    /// Path of active health checks, such as /healthz [default: none,
    /// checks off]
    #[arg(long, env = "SIGNPOST_HEALTH_PATH", value_name = "PATH")]
    pub health_path: Option<String>,

    /// Period of health checks, 1s to 30s [default: 5s]
    #[arg(long, env = "SIGNPOST_HEALTH_INTERVAL", value_name = "DURATION", value_parser = parse_duration)]
    pub health_interval: Option<Duration>,

    /// Timeout of one health check, shorter than the interval [default: 1s]
    #[arg(long, env = "SIGNPOST_HEALTH_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub health_timeout: Option<Duration>,

    /// Consecutive passes that bring a backend back [default: 2]
    #[arg(long, env = "SIGNPOST_HEALTH_RISE", value_name = "N")]
    pub health_rise: Option<u32>,

    /// Consecutive failures that take a backend down [default: 3]
    #[arg(long, env = "SIGNPOST_HEALTH_FALL", value_name = "N")]
    pub health_fall: Option<u32>,

    /// Slower health answers count as failures [default: 500ms]
    #[arg(long, env = "SIGNPOST_HEALTH_MAX_LATENCY", value_name = "DURATION", value_parser = parse_duration)]
    pub health_max_latency: Option<Duration>,

    /// HTTP statuses that pass a health check, as LOW-HIGH
    /// [default: 200-399]
    #[arg(long, env = "SIGNPOST_HEALTH_STATUS", value_name = "RANGE")]
    pub health_status: Option<StatusRange>,

    /// PEM certificate chain of the public listener; needs --tls-key
    /// [default: none, plain HTTP]
    #[arg(long, env = "SIGNPOST_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of the public listener; needs --tls-cert
    /// [default: none]
    #[arg(long, env = "SIGNPOST_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// TLS session ticket keys, one per line as 64 hex digits (`openssl
    /// rand -hex 32`): the first seals new tickets, every one opens them,
    /// so replicas sharing the file resume each other's sessions. Rotate by
    /// putting a new key first and keeping the old one after it for 12h;
    /// SIGHUP rereads the file [default: none, sessions resume on the
    /// replica that made them only]
    #[arg(long, env = "SIGNPOST_TLS_TICKET_KEY_FILE", value_name = "FILE")]
    pub tls_ticket_key_file: Option<PathBuf>,

    /// Runtime worker threads [default: available parallelism]
    #[arg(long, env = "SIGNPOST_WORKERS", value_name = "N")]
    pub workers: Option<usize>,

    /// Largest request head accepted on the public listener, 8192 to
    /// 1048576: a longer request target is answered 414, a larger header
    /// section or one of more than 100 fields 431 [default: 16384]
    #[arg(long, env = "SIGNPOST_MAX_HEADER_BYTES", value_name = "BYTES")]
    pub max_header_bytes: Option<usize>,

    /// Requests answered on one HTTP/1 connection of either listener
    /// before it is closed (`Connection: close` on the last answer), 1 to
    /// 1000000, as nginx's keepalive_requests: a client that keeps asking
    /// but reads its answers slowly cannot hold a connection forever
    /// [default: 1000]
    #[arg(long, env = "SIGNPOST_MAX_REQUESTS_PER_CONNECTION", value_name = "N")]
    pub max_requests_per_connection: Option<usize>,

    /// Time a client of either listener has to finish its TLS handshake or
    /// send its request head, and the keep-alive idle limit [default: 10s]
    #[arg(long, env = "SIGNPOST_CLIENT_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub client_timeout: Option<Duration>,

    /// Log output format [default: text]
    #[arg(long, env = "SIGNPOST_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// After SIGTERM or SIGINT, keep answering this long before draining,
    /// while load balancers (a Kubernetes Service) remove this endpoint; a
    /// second signal cuts it short [default: 0s]
    #[arg(long, env = "SIGNPOST_SHUTDOWN_DELAY", value_name = "DURATION", value_parser = parse_duration)]
    pub shutdown_delay: Option<Duration>,

    /// The rate limit and access log flags (`config/limits.rs`).
    #[command(flatten)]
    pub limits: super::LimitArgs,
}
