//! Unit tests of the rate limit, overload and access log settings.

use std::path::Path;

use super::*;
use crate::config::{Args, Config, FileConfig};

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
    assert_eq!(config.overload, Overload::Redirect);
    let shed = load(Args::default(), "overload = \"shed\"").unwrap();
    assert_eq!(shed.overload, Overload::Shed);
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
        ("overload = \"drop\"", "overload: unknown value \"drop\""),
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
