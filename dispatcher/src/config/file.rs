//! The config file as written: every key optional, unknown keys refused, and
//! every value kept with its place in the text so that an error can name the
//! line. Values are checked later, in `resolve`, so that one bad value does
//! not hide the next; only TOML syntax, unknown keys and wrong types stop the
//! parse.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, HashKey, LogFormat, StatusRange, Sticky, StrategyKind, parse_duration};

/// A value of the file and where it stands.
pub(super) type Field<T> = Option<Spanned<T>>;

/// The TOML `--config` file: the flags' names in snake_case, a `[health]`
/// table and `[[backend]]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub(super) listen: Field<String>,
    pub(super) control_listen: Field<String>,
    pub(super) agents: Option<Vec<Spanned<String>>>,
    pub(super) poll_interval: Field<String>,
    pub(super) stale_after: Field<String>,
    pub(super) forget_after: Field<String>,
    pub(super) agent_refresh: Field<String>,
    pub(super) resolver: Field<String>,
    pub(super) strategy: Field<String>,
    pub(super) hash_key: Field<String>,
    pub(super) sticky: Field<String>,
    pub(super) cookie_secret: Field<String>,
    pub(super) cookie_secure: Field<bool>,
    pub(super) cookie_max_age: Field<String>,
    pub(super) trust_forwarded: Option<Vec<Spanned<String>>>,
    pub(super) token: Field<String>,
    pub(super) admin_token: Field<String>,
    pub(super) admin_uses_push_token: Field<bool>,
    pub(super) insecure_open_control: Field<bool>,
    pub(super) allow_backend: Option<Vec<Spanned<String>>>,
    pub(super) max_nodes: Field<usize>,
    pub(super) redirect_code: Field<u16>,
    pub(super) redirect_code_other: Field<u16>,
    pub(super) slow_start: Field<String>,
    pub(super) mem_high_water: Field<f64>,
    pub(super) eject_error_rate: Field<f64>,
    pub(super) eject_min_requests: Field<usize>,
    pub(super) eject_latency: Field<String>,
    pub(super) eject_time: Field<String>,
    pub(super) health: Option<FileHealth>,
    pub(super) tls_cert: Field<PathBuf>,
    pub(super) tls_key: Field<PathBuf>,
    pub(super) tls_ticket_key_file: Field<PathBuf>,
    pub(super) workers: Field<usize>,
    pub(super) max_header_bytes: Field<usize>,
    pub(super) max_requests_per_connection: Field<usize>,
    pub(super) client_timeout: Field<String>,
    pub(super) log_format: Field<String>,
    pub(super) shutdown_delay: Field<String>,
    pub(super) rate_limit: Field<String>,
    pub(super) rate_burst: Field<u32>,
    pub(super) rate_limit_status: Field<u16>,
    pub(super) rate_limit_dry_run: Field<bool>,
    pub(super) rate_limit_table: Field<usize>,
    pub(super) overload: Field<String>,
    pub(super) access_log: Field<String>,
    pub(super) access_log_sample: Field<u32>,
    pub(super) access_log_max_uri: Field<usize>,
    #[serde(default, rename = "backend")]
    pub(super) backends: Vec<Spanned<FileBackend>>,
    /// Where the text came from, to turn byte offsets into lines.
    #[serde(skip)]
    pub(super) source: Source,
}

/// A `[health]` or `[backend.health]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileHealth {
    pub(super) path: Field<String>,
    pub(super) interval: Field<String>,
    pub(super) timeout: Field<String>,
    pub(super) rise: Field<u32>,
    pub(super) fall: Field<u32>,
    pub(super) max_latency: Field<String>,
    pub(super) status: Field<String>,
}

/// A `[[backend]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBackend {
    pub(super) id: Field<String>,
    pub(super) url: Field<String>,
    pub(super) agent: Field<String>,
    pub(super) weight: Field<f64>,
    pub(super) backup: Field<bool>,
    pub(super) health: Option<FileHealth>,
}

/// The file's path and the byte offset of each line start.
#[derive(Debug, Default)]
pub(super) struct Source {
    pub(super) path: PathBuf,
    line_starts: Vec<usize>,
}

/// A type the file holds as `Raw` (a string for a duration, say).
pub(super) trait FromFile: Sized {
    /// The type of the TOML value.
    type Raw;
    /// Parses the file's value.
    fn from_file(raw: &Self::Raw) -> Result<Self, String>;
}

// === impl FileConfig ===

impl FileConfig {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text`, read from `path`. Relative TLS paths in it are taken
    /// relative to the file's folder.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let source = Source::new(path, text);
        let mut file: Self = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            line: e.span().map_or(1, |span| source.line(span.start)),
            message: e.message().trim_end().to_owned(),
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        for tls in [
            &mut file.tls_cert,
            &mut file.tls_key,
            &mut file.tls_ticket_key_file,
        ]
        .into_iter()
        .flatten()
        {
            *tls.get_mut() = dir.join(tls.get_ref());
        }
        file.source = source;
        Ok(file)
    }
}

// === impl Source ===

impl Source {
    fn new(path: &Path, text: &str) -> Self {
        let newlines = text.match_indices('\n').map(|(i, _)| i + 1);
        Self {
            path: path.to_owned(),
            line_starts: std::iter::once(0).chain(newlines).collect(),
        }
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }
}

// === impl FromFile ===

/// Types the file holds as they are.
macro_rules! from_file_as_is {
    ($($t:ty),*) => {$(
        impl FromFile for $t {
            type Raw = $t;
            fn from_file(raw: &$t) -> Result<Self, String> {
                Ok(raw.clone())
            }
        }
    )*};
}
from_file_as_is!(String, PathBuf, u16, u32, usize, f64, bool);

/// Types the file names by their `--help` value names.
macro_rules! from_file_by_name {
    ($($t:ty),*) => {$(
        impl FromFile for $t {
            type Raw = String;
            fn from_file(raw: &String) -> Result<Self, String> {
                parse_enum(raw)
            }
        }
    )*};
}
from_file_by_name!(StrategyKind, Sticky, LogFormat);

impl FromFile for Duration {
    type Raw = String;
    fn from_file(raw: &String) -> Result<Self, String> {
        parse_duration(raw)
    }
}

impl FromFile for SocketAddr {
    type Raw = String;
    fn from_file(raw: &String) -> Result<Self, String> {
        raw.parse()
            .map_err(|_| format!("invalid address {raw:?}, expected IP:PORT"))
    }
}

impl FromFile for StatusRange {
    type Raw = String;
    fn from_file(raw: &String) -> Result<Self, String> {
        raw.parse()
    }
}

impl FromFile for HashKey {
    type Raw = String;
    fn from_file(raw: &String) -> Result<Self, String> {
        raw.parse()
    }
}

impl<T: FromFile> FromFile for Option<T> {
    type Raw = T::Raw;
    fn from_file(raw: &T::Raw) -> Result<Self, String> {
        T::from_file(raw).map(Some)
    }
}

/// Parses one of the names clap lists for `T`.
fn parse_enum<T: ValueEnum>(s: &str) -> Result<T, String> {
    T::from_str(s, false).map_err(|_| {
        let names = T::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value);
        let names: Vec<_> = names.map(|v| v.get_name().to_owned()).collect();
        format!("unknown value {s:?}, expected one of {}", names.join(", "))
    })
}
