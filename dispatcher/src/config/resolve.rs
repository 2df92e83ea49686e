//! The second stage: merges flag > env > file > default into a [`Config`]
//! and checks every rule, collecting all the errors rather than stopping at
//! the first.
//!
//! Each value is carried as a [`Val`] with its file key and where it came
//! from, so that an error can point at the flag, the file line or the
//! default. A rule between two values blames the one set most specifically:
//! a `[backend.health]` override before a global value, a written value
//! before a default. The rules every kind of value shares (precedence,
//! layering, ranges, secrets) are in `rules.rs`; this file assembles the
//! [`Config`] from them.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::file::FileConfig;
use super::*;

/// Allowed `redirect_code` values.
const REDIRECT_CODES: [u16; 5] = [301, 302, 303, 307, 308];
/// Allowed `redirect_code_other` values: those that keep the method.
const REDIRECT_CODES_OTHER: [u16; 2] = [307, 308];
/// Allowed `max_header_bytes`; hyper refuses buffers under 8 KiB.
const HEADER_BYTES: RangeInclusive<usize> = 8192..=1024 * 1024;
/// Allowed `max_requests_per_connection`.
const REQUESTS_PER_CONNECTION: RangeInclusive<usize> = 1..=1_000_000;
/// Allowed `workers`.
const WORKERS: RangeInclusive<usize> = 1..=1024;
/// Shortest accepted cookie secret, in bytes.
pub(super) const MIN_SECRET_LEN: usize = 16;
/// Allowed `max_nodes`.
const MAX_NODES: RangeInclusive<usize> = 1..=1_000_000;
/// Allowed `eject_min_requests`.
const EJECT_MIN_REQUESTS: RangeInclusive<usize> = 1..=1_000_000;

/// `pick!(self, field, default)` merges the top-level setting `field`: its
/// flag or variable, else its file key (the same name), else `default`.
/// `pick!(self, field)` does the same for a setting without a default.
macro_rules! pick {
    ($r:ident, $field:ident, $default:expr) => {{
        let (arg, file) = ($r.args.$field.clone(), $r.file);
        $r.pick(stringify!($field), arg, &file.$field, $default)
    }};
    ($r:ident, $field:ident) => {{
        let (arg, file) = ($r.args.$field.clone().map(Some), $r.file);
        $r.pick(stringify!($field), arg, &file.$field, None)
    }};
}

/// Merges `args` over `file` over the defaults and checks every rule.
pub(super) fn resolve(args: &Args, file: &FileConfig) -> Result<Config, ConfigErrors> {
    let r = Resolver {
        args,
        file,
        errors: RefCell::default(),
    };
    let config = r.config();
    let mut errors = r.errors.into_inner();
    let mut seen = HashSet::new();
    errors.retain(|e| seen.insert(e.to_string()));
    errors.sort_by_key(order);
    match errors.is_empty() {
        true => Ok(config),
        false => Err(ConfigErrors(errors)),
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy)]
pub(super) enum At {
    Arg,
    File { line: usize },
    Default,
}

/// A value with its file key and origin.
#[derive(Debug, Clone)]
pub(super) struct Val<T> {
    pub(super) value: T,
    pub(super) key: String,
    pub(super) at: At,
}

/// Merges values and collects the errors found on the way (in a `RefCell`,
/// as serde_derive's `Ctxt` does, so that checks can nest).
pub(super) struct Resolver<'a> {
    pub(super) args: &'a Args,
    pub(super) file: &'a FileConfig,
    pub(super) errors: RefCell<Vec<ConfigError>>,
}

// === impl Val ===

impl<T> Val<T> {
    pub(super) fn new(key: impl Into<String>, value: T, at: At) -> Self {
        Self {
            value,
            key: key.into(),
            at,
        }
    }

    /// How specifically the value was set: default, global, per backend.
    pub(super) fn rank(&self) -> u8 {
        u8::from(!matches!(self.at, At::Default)) + u8::from(self.key.starts_with("backend["))
    }
}

// === impl Resolver ===

impl Resolver<'_> {
    fn config(&self) -> Config {
        let (listen, control_listen) = self.listeners();
        let (token, admin_token, insecure_open_control) = self.control_tokens(&control_listen);
        let control_listen = control_listen.value;
        let (poll_interval, stale_after, forget_after) = self.timing();
        let health = self.global_health();
        let (backends, agent_names) = self.backends(&health);
        let strategy = self.strategy(&health, &backends);
        Config {
            listen,
            control_listen,
            poll_interval,
            stale_after,
            forget_after,
            agent_names,
            agent_refresh: self
                .nonzero(pick!(
                    self,
                    agent_refresh,
                    signpost_agent::discovery::DEFAULT_REFRESH
                ))
                .value,
            resolver: pick!(self, resolver).value,
            strategy,
            hash_key: pick!(self, hash_key, DEFAULT_HASH_KEY).value,
            sticky: pick!(self, sticky, DEFAULT_STICKY).value,
            cookie_secret: self.secret(pick!(self, cookie_secret), MIN_SECRET_LEN),
            cookie_secure: pick!(self, cookie_secure, false).value,
            cookie_max_age: pick!(self, cookie_max_age).value,
            trust_forwarded: self.trust_forwarded(),
            token,
            admin_token,
            insecure_open_control,
            allow_backend: self.allow_backend(),
            max_nodes: self.within(pick!(self, max_nodes, DEFAULT_MAX_NODES), MAX_NODES),
            redirect_code: self.one_of(
                pick!(self, redirect_code, DEFAULT_REDIRECT_CODE),
                &REDIRECT_CODES,
            ),
            redirect_code_other: self.one_of(
                pick!(self, redirect_code_other, DEFAULT_REDIRECT_CODE_OTHER),
                &REDIRECT_CODES_OTHER,
            ),
            slow_start: pick!(self, slow_start, DEFAULT_SLOW_START).value,
            mem_high_water: self.percent(pick!(self, mem_high_water, DEFAULT_MEM_HIGH_WATER)),
            outlier: self.outlier(),
            tls: self.tls(),
            backends,
            health: health.config(),
            workers: self.within(pick!(self, workers, default_workers()), WORKERS),
            max_header_bytes: self.within(
                pick!(self, max_header_bytes, DEFAULT_MAX_HEADER_BYTES),
                HEADER_BYTES,
            ),
            max_requests_per_connection: self.within(
                pick!(
                    self,
                    max_requests_per_connection,
                    DEFAULT_MAX_REQUESTS_PER_CONNECTION
                ),
                REQUESTS_PER_CONNECTION,
            ),
            client_timeout: self
                .nonzero(pick!(self, client_timeout, DEFAULT_CLIENT_TIMEOUT))
                .value,
            log_format: pick!(self, log_format, DEFAULT_LOG_FORMAT).value,
            shutdown_delay: pick!(self, shutdown_delay, DEFAULT_SHUTDOWN_DELAY).value,
            rate_limit: self.rate_limit(),
            overload: self.overload(),
            access_log: self.access_log(),
            config_file: self.args.config.clone(),
        }
    }

    /// The passive-health thresholds; ejection times are Envoy's.
    fn outlier(&self) -> OutlierConfig {
        let rate = self.percent(pick!(self, eject_error_rate, DEFAULT_EJECT_ERROR_RATE));
        let min_requests = pick!(self, eject_min_requests, DEFAULT_EJECT_MIN_REQUESTS);
        OutlierConfig {
            error_rate: rate / 100.0,
            min_requests: self.within(min_requests, EJECT_MIN_REQUESTS) as u64,
            latency: self
                .nonzero(pick!(self, eject_latency, DEFAULT_EJECT_LATENCY))
                .value,
            ..OutlierConfig::new(
                self.nonzero(pick!(self, eject_time, DEFAULT_EJECT_TIME))
                    .value,
            )
        }
    }

    /// The strategy; `fastest` needs health checks to rank backends by.
    fn strategy(&self, health: &backend::HealthVals, backends: &[BackendConfig]) -> StrategyKind {
        let strategy = pick!(self, strategy, DEFAULT_STRATEGY);
        let checked =
            health.config().path.is_some() || backends.iter().any(|b| b.health.path.is_some());
        self.require(
            &strategy,
            strategy.value != StrategyKind::Fastest || checked,
            || {
                "fastest ranks backends by health-check latency: set --health-path \
             (or a [health] path)"
                    .to_owned()
            },
        );
        strategy.value
    }

    /// The `--trust-forwarded` CIDRs, or else the file's list.
    fn trust_forwarded(&self) -> Vec<ipnet::IpNet> {
        self.list(
            "trust_forwarded",
            &self.args.trust_forwarded,
            &self.file.trust_forwarded,
            |cidr| {
                cidr.parse()
                    .map_err(|_| format!("invalid CIDR {cidr:?}, expected such as 10.0.0.0/8"))
            },
        )
    }

    fn listeners(&self) -> (SocketAddr, Val<SocketAddr>) {
        let listen = pick!(self, listen, DEFAULT_LISTEN);
        let control = pick!(self, control_listen, DEFAULT_CONTROL_LISTEN);
        let clash = listen.value == control.value && listen.value.port() != 0;
        self.relate((&control, &listen), !clash, || {
            format!(
                "listen and control_listen must differ, both are {}",
                listen.value
            )
        });
        (listen.value, control)
    }

    fn timing(&self) -> (Duration, Duration, Duration) {
        let poll = self.nonzero(pick!(self, poll_interval, DEFAULT_POLL_INTERVAL));
        let stale = self.nonzero(pick!(self, stale_after, DEFAULT_STALE_AFTER));
        let forget = self.nonzero(pick!(self, forget_after, DEFAULT_FORGET_AFTER));
        let (p, s, g) = (poll.value, stale.value, forget.value);
        self.relate((&stale, &poll), s >= 2 * p, || {
            format!(
                "stale_after ({}) must be at least twice poll_interval ({})",
                fmt(s),
                fmt(p)
            )
        });
        self.relate((&forget, &stale), g >= s, || {
            format!(
                "forget_after ({}) must not be shorter than stale_after ({})",
                fmt(g),
                fmt(s)
            )
        });
        (p, s, g)
    }

    fn tls(&self) -> Option<TlsConfig> {
        let cert = pick!(self, tls_cert);
        let key = pick!(self, tls_key);
        let tickets = pick!(self, tls_ticket_key_file);
        if tickets.value.is_some() && cert.value.is_none() {
            self.fail(&tickets, "is set but tls_cert is not");
        }
        match (&cert.value, &key.value) {
            (Some(cert_path), Some(key_path)) => {
                let cert_ok = self.readable(&cert, cert_path);
                let key_ok = self.readable(&key, key_path);
                let tickets_ok = tickets
                    .value
                    .as_ref()
                    .is_none_or(|p| self.readable(&tickets, p));
                (cert_ok && key_ok && tickets_ok).then(|| TlsConfig {
                    cert: cert_path.clone(),
                    key: key_path.clone(),
                    ticket_keys: tickets.value.clone(),
                })
            }
            (Some(_), None) => {
                self.fail(&cert, "is set but tls_key is not");
                None
            }
            (None, Some(_)) => {
                self.fail(&key, "is set but tls_cert is not");
                None
            }
            (None, None) => None,
        }
    }
}

/// Sorts errors as flags, then file lines, then defaults.
fn order(error: &ConfigError) -> (u8, usize) {
    match error {
        ConfigError::Invalid { at, .. } => match at {
            Location::Arg { .. } => (0, 0),
            Location::File { line, .. } => (1, *line),
            Location::Default { .. } => (2, 0),
        },
        ConfigError::Read { .. } | ConfigError::Syntax { .. } => (1, 0),
    }
}

/// A duration as humantime writes it.
pub(super) fn fmt(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
