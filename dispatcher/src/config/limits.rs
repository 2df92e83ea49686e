//! Settings of the public listener's guards: the per-client rate limit
//! (`--rate-limit` and friends) and the access log (`--access-log` and
//! friends). Their flags live in [`LimitArgs`], flattened into [`Args`], so
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
mod tests {
    use std::path::Path;

    use super::super::{Args, Config, FileConfig};
    use super::*;

    fn load(args: Args, text: &str) -> Result<Config, String> {
        let file = FileConfig::parse(Path::new("t.toml"), text).map_err(|e| e.to_string())?;
        Config::try_from((&args, &file)).map_err(|e| e.to_string())
    }

    #[test]
    fn rates_parse_and_print() {
        for (text, count, secs) in [("20/s", 20, 1), ("600/m", 600, 60), ("5/h", 5, 3600)] {
            let rate: Rate = text.parse().unwrap();
            assert_eq!((rate.count, rate.per), (count, Duration::from_secs(secs)));
            assert_eq!(rate.to_string(), text);
        }
        assert_eq!(
            "600/m".parse::<Rate>().unwrap().interval(),
            Duration::from_millis(100)
        );
        for bad in ["", "20", "0/s", "20/d", "x/s", "20/", "2000000/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn off_by_default_and_burst_defaults_to_the_rate() {
        let config = load(Args::default(), "").unwrap();
        assert_eq!((config.rate_limit, config.access_log), (None, None));
        let config = load(Args::default(), "rate_limit = \"600/m\"").unwrap();
        let limit = config.rate_limit.unwrap();
        assert_eq!(limit.burst, 600);
        assert_eq!((limit.status, limit.dry_run), (429, false));
        assert_eq!(limit.table, DEFAULT_RATE_LIMIT_TABLE);
    }

    #[test]
    fn flags_beat_the_file() {
        let text = "rate_limit = \"600/m\"\nrate_burst = 3\naccess_log = \"/a\"\n\
                    access_log_sample = 5";
        let args = Args {
            limits: LimitArgs {
                rate_limit: Some("2/s".parse().unwrap()),
                rate_limit_status: Some(503),
                access_log: Some(AccessLogTarget::Stdout),
                ..LimitArgs::default()
            },
            ..Args::default()
        };
        let config = load(args, text).unwrap();
        let limit = config.rate_limit.unwrap();
        assert_eq!((limit.rate.count, limit.burst, limit.status), (2, 3, 503));
        let log = config.access_log.unwrap();
        assert_eq!(log.target, AccessLogTarget::Stdout);
        assert_eq!((log.sample, log.max_uri), (5, DEFAULT_ACCESS_LOG_MAX_URI));
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        for (text, expected) in [
            ("rate_limit = \"20/d\"", "rate_limit: invalid rate"),
            ("rate_burst = 3", "rate_burst: is set but rate_limit is not"),
            (
                "rate_limit_dry_run = true",
                "rate_limit_dry_run: is set but",
            ),
            (
                "rate_limit = \"1/s\"\nrate_limit_status = 302",
                "rate_limit_status: must be between 400 and 599",
            ),
            (
                "rate_limit = \"1/s\"\nrate_limit_table = 10",
                "rate_limit_table: must be between 1024",
            ),
            (
                "rate_limit = \"1/s\"\nrate_burst = 0",
                "rate_burst: must be at least 1",
            ),
            ("access_log = \"\"", "access_log: must not be empty"),
            (
                "access_log_sample = 0",
                "access_log_sample: must be at least 1",
            ),
            (
                "access_log_max_uri = 1",
                "access_log_max_uri: must be between",
            ),
        ] {
            let message = load(Args::default(), text).unwrap_err();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
