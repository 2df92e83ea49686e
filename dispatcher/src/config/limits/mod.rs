//! Settings of the public listener's guards: the per-client rate limit
//! (`--rate-limit` and friends), overload shedding (`--overload`) and the
//! access log (`--access-log` and friends). Their flags live in [`LimitArgs`], flattened into [`Args`](super::Args), so
//! the two features stay apart from the rest of the configuration.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::file::FromFile;
use super::resolve::{Resolver, Val};

/// Default of `--rate-limit-status`, as nginx's `limit_req_status` would
/// be set for an API: "Too Many Requests".
pub const DEFAULT_RATE_LIMIT_STATUS: u16 = 429;
/// Default of `--overload`: today's fail-open behaviour.
pub const DEFAULT_OVERLOAD: Overload = Overload::Redirect;
/// Default of `--rate-limit-table`: 65536 slots of 8 bytes, 512 KiB.
pub const DEFAULT_RATE_LIMIT_TABLE: usize = 1 << 16;
/// Default of `--access-log-sample`: every answer.
pub const DEFAULT_ACCESS_LOG_SAMPLE: u32 = 1;
/// Default of `--access-log-max-uri`, in bytes.
pub const DEFAULT_ACCESS_LOG_MAX_URI: usize = 1024;

/// Allowed `rate_limit_status`, as nginx allows for `limit_req_status`.
const LIMIT_STATUSES: RangeInclusive<u16> = 400..=599;
/// Allowed `rate_limit_table`: 1024 slots (8 KiB) to 16 Mi slots (128 MiB).
const TABLE_SLOTS: RangeInclusive<usize> = 1024..=(1 << 24);
/// Allowed `access_log_max_uri`.
const MAX_URI: RangeInclusive<usize> = 16..=65536;

/// The flags of the rate limit and the access log.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Requests each client may make, as N/s, N/m or N/h (such as 20/s or
    /// 600/m); a client is an IPv4 address or an IPv6 /64, as
    /// --trust-forwarded resolves it [default: none, no limit]
    #[arg(long, env = "SIGNPOST_RATE_LIMIT", value_name = "RATE")]
    pub rate_limit: Option<Rate>,

    /// Requests a client may make at once, above its steady rate; needs
    /// --rate-limit [default: the N of --rate-limit]
    #[arg(long, env = "SIGNPOST_RATE_BURST", value_name = "N")]
    pub rate_burst: Option<u32>,

    /// Status of an answer over the limit, 400 to 599 [default: 429]
    #[arg(long, env = "SIGNPOST_RATE_LIMIT_STATUS", value_name = "CODE")]
    pub rate_limit_status: Option<u16>,

    /// Count and log clients over the limit, but redirect them anyway
    /// [default: false]
    #[arg(
        long,
        env = "SIGNPOST_RATE_LIMIT_DRY_RUN",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub rate_limit_dry_run: Option<bool>,

    /// Clients tracked at once (8 bytes each, allocated at start); when
    /// full, the client idle longest is forgotten, so memory never grows
    /// [default: 65536]
    #[arg(long, env = "SIGNPOST_RATE_LIMIT_TABLE", value_name = "SLOTS")]
    pub rate_limit_table: Option<usize>,

    /// When every eligible backend is projected full: `redirect` sends
    /// clients anyway; `shed` answers a share of new clients 503, growing
    /// with the overload, and clients pinned by a sticky cookie last
    /// [default: redirect]
    #[arg(long, env = "SIGNPOST_OVERLOAD", value_name = "MODE")]
    pub overload: Option<Overload>,

    /// Write one JSON line per answer of the public listener to FILE, or
    /// to stdout with `-`; reopened on SIGHUP [default: none, off]
    #[arg(long, env = "SIGNPOST_ACCESS_LOG", value_name = "FILE|-")]
    pub access_log: Option<AccessLogTarget>,

    /// Log one answer in N [default: 1]
    #[arg(long, env = "SIGNPOST_ACCESS_LOG_SAMPLE", value_name = "N")]
    pub access_log_sample: Option<u32>,

    /// Longest path and query logged, in bytes; longer ones are cut
    /// [default: 1024]
    #[arg(long, env = "SIGNPOST_ACCESS_LOG_MAX_URI", value_name = "BYTES")]
    pub access_log_max_uri: Option<usize>,
}

/// A steady rate: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per period.
    pub count: u32,
    /// The period: a second, a minute or an hour.
    pub per: Duration,
}

/// What to do when every eligible backend is projected full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Overload {
    /// Redirect anyway, as without a limit (fail open).
    Redirect,
    /// Refuse a share of clients with 503, new ones first.
    Shed,
}

/// The per-client rate limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// The steady rate.
    pub rate: Rate,
    /// Requests allowed at once.
    pub burst: u32,
    /// Status of a limited answer.
    pub status: u16,
    /// Count only, never reject.
    pub dry_run: bool,
    /// Slots of the client table.
    pub table: usize,
}

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    /// Standard output (`-`).
    Stdout,
    /// A file, appended to and reopened on SIGHUP.
    File(PathBuf),
}

/// The access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogConfig {
    /// Where lines go.
    pub target: AccessLogTarget,
    /// One answer in this many is logged.
    pub sample: u32,
    /// Longest path and query logged, in bytes.
    pub max_uri: usize,
}

// === impl Rate ===

impl Rate {
    /// The time one request "costs": the period divided by the count.
    pub fn interval(&self) -> Duration {
        self.per / self.count
    }
}

impl FromStr for Rate {
    type Err = String;

    /// Parses `N/s`, `N/m` or `N/h`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid rate {s:?}, expected N/s, N/m or N/h such as 20/s");
        let (count, unit) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        if count == 0 || count > 1_000_000 {
            return Err(format!("rate {s:?}: N must be between 1 and 1000000"));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "m",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

impl FromFile for Overload {
    type Raw = String;
    fn from_file(raw: &String) -> Result<Self, String> {
        match raw.as_str() {
            "redirect" => Ok(Overload::Redirect),
            "shed" => Ok(Overload::Shed),
            _ => Err(format!(
                "unknown value {raw:?}, expected one of redirect, shed"
            )),
        }
    }
}

impl FromFile for Rate {
    type Raw = String;
    fn from_file(raw: &String) -> Result<Self, String> {
        raw.parse()
    }
}

// === impl AccessLogTarget ===

impl FromStr for AccessLogTarget {
    type Err = String;

    /// `-` is stdout; anything else a file path.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "" => Err("must not be empty: a file path, or - for stdout".to_owned()),
            "-" => Ok(Self::Stdout),
            path => Ok(Self::File(PathBuf::from(path))),
        }
    }
}

impl FromFile for AccessLogTarget {
    type Raw = String;
    fn from_file(raw: &String) -> Result<Self, String> {
        raw.parse()
    }
}

// === impl Resolver ===

impl Resolver<'_> {
    /// The rate limit, if `rate_limit` is set; its other keys are refused
    /// without it, since they would silently do nothing.
    pub(super) fn rate_limit(&self) -> Option<RateLimitConfig> {
        let (args, file) = (&self.args.limits, self.file);
        let rate = self.pick(
            "rate_limit",
            args.rate_limit.map(Some),
            &file.rate_limit,
            None,
        );
        let burst = self.pick(
            "rate_burst",
            args.rate_burst.map(Some),
            &file.rate_burst,
            None,
        );
        let status = self.pick(
            "rate_limit_status",
            args.rate_limit_status,
            &file.rate_limit_status,
            DEFAULT_RATE_LIMIT_STATUS,
        );
        let dry_run = self.pick(
            "rate_limit_dry_run",
            args.rate_limit_dry_run,
            &file.rate_limit_dry_run,
            false,
        );
        let table = self.pick(
            "rate_limit_table",
            args.rate_limit_table,
            &file.rate_limit_table,
            DEFAULT_RATE_LIMIT_TABLE,
        );
        let Some(rate) = rate.value else {
            self.needs_rate_limit(&burst, burst.value.is_some());
            self.needs_rate_limit(&status, status.value != DEFAULT_RATE_LIMIT_STATUS);
            self.needs_rate_limit(&dry_run, dry_run.value);
            self.needs_rate_limit(&table, table.value != DEFAULT_RATE_LIMIT_TABLE);
            return None;
        };
        let burst_ok = burst.value.is_none_or(|n| n >= 1);
        self.require(&burst, burst_ok, || "must be at least 1".to_owned());
        Some(RateLimitConfig {
            rate,
            burst: burst.value.unwrap_or(rate.count).max(1),
            status: self.range(status, LIMIT_STATUSES),
            dry_run: dry_run.value,
            table: self.range(table, TABLE_SLOTS),
        })
    }

    /// The overload mode.
    pub(super) fn overload(&self) -> Overload {
        let arg = self.args.limits.overload;
        self.pick("overload", arg, &self.file.overload, DEFAULT_OVERLOAD)
            .value
    }

    /// The access log, if `access_log` is set.
    pub(super) fn access_log(&self) -> Option<AccessLogConfig> {
        let (args, file) = (&self.args.limits, self.file);
        let target = self.pick(
            "access_log",
            args.access_log.clone().map(Some),
            &file.access_log,
            None,
        );
        let sample = self.pick(
            "access_log_sample",
            args.access_log_sample,
            &file.access_log_sample,
            DEFAULT_ACCESS_LOG_SAMPLE,
        );
        self.require(&sample, sample.value >= 1, || {
            "must be at least 1".to_owned()
        });
        let max_uri = self.pick(
            "access_log_max_uri",
            args.access_log_max_uri,
            &file.access_log_max_uri,
            DEFAULT_ACCESS_LOG_MAX_URI,
        );
        let max_uri = self.range(max_uri, MAX_URI);
        target.value.map(|target| AccessLogConfig {
            target,
            sample: sample.value,
            max_uri,
        })
    }

    fn needs_rate_limit<T>(&self, val: &Val<T>, set: bool) {
        self.require(val, !set, || "is set but rate_limit is not".to_owned());
    }

    fn range<T: PartialOrd + fmt::Display + Copy>(
        &self,
        val: Val<T>,
        range: RangeInclusive<T>,
    ) -> T {
        let (lo, hi) = (*range.start(), *range.end());
        self.require(&val, range.contains(&val.value), || {
            format!("must be between {lo} and {hi}, got {}", val.value)
        });
        val.value
    }
}

#[cfg(test)]
mod tests;
