//! One access-log line → one request's outcome.
//!
//! - `nginx`: the `combined` format with `$request_time` appended, which
//!   is what `log_format` needs to say:
//!   `'$remote_addr - $remote_user [$time_local] "$request" $status
//!   $body_bytes_sent "$http_referer" "$http_user_agent" $request_time'`.
//!   The status is the first field after the quoted request; the duration
//!   (seconds) the last field of the line.
//! - `json`: one object per line with `status` (a number, or a string of
//!   digits) and the duration as `duration_ms` (milliseconds) or
//!   `request_time` (seconds, as nginx's `escape=json` logs give it).
//!
//! A request failed when its status is 5xx. Lines that do not parse are
//! skipped: a log also holds lines of other formats.

use std::time::Duration;

use clap::ValueEnum;
use serde::Deserialize;
use serde_json::Value;

/// The format of `--app-log`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// nginx `combined` plus `$request_time`.
    #[default]
    Nginx,
    /// JSON lines with `status` and `duration_ms` or `request_time`.
    Json,
}

/// What one logged request says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Not a 5xx.
    pub ok: bool,
    /// How long the application took.
    pub latency: Duration,
}

// === impl Format ===

impl Format {
    /// The outcome logged in `line`, if it is a line of this format.
    pub fn parse(self, line: &[u8]) -> Option<Outcome> {
        match self {
            Format::Nginx => nginx(std::str::from_utf8(line).ok()?),
            Format::Json => json(line),
        }
    }
}

fn nginx(line: &str) -> Option<Outcome> {
    let (_, after_open) = line.split_once('"')?;
    let (_request, after) = after_open.split_once('"')?;
    let status: u16 = after.split_whitespace().next()?.parse().ok()?;
    let seconds: f64 = line.rsplit(char::is_whitespace).next()?.parse().ok()?;
    outcome(status, seconds)
}

fn json(line: &[u8]) -> Option<Outcome> {
    let Value::Object(map) = serde_json::from_slice(line).ok()? else {
        return None;
    };
    let status = match map.get("status")? {
        Value::Number(n) => u16::try_from(n.as_u64()?).ok()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    let seconds = match (map.get("duration_ms"), map.get("request_time")) {
        (Some(ms), _) => number(ms)? / 1000.0,
        (None, Some(s)) => number(s)?,
        (None, None) => return None,
    };
    outcome(status, seconds)
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn outcome(status: u16, seconds: f64) -> Option<Outcome> {
    if !(100..600).contains(&status) || !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Outcome {
        ok: status < 500,
        latency: Duration::try_from_secs_f64(seconds).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(format: Format, line: &str, want: Option<(bool, u64)>) {
        let got = format.parse(line.as_bytes());
        let want = want.map(|(ok, ms)| Outcome {
            ok,
            latency: Duration::from_millis(ms),
        });
        assert_eq!(got, want, "{line}");
    }

    #[test]
    fn nginx_combined_with_request_time() {
        let cases = [
            (
                r#"10.0.0.1 - - [03/Dec/2026:20:00:00 +0000] "GET /a?b=1 HTTP/1.1" 200 612 "-" "curl/8.5" 0.012"#,
                Some((true, 12)),
            ),
            (
                r#"::1 - bob [03/Dec/2026:20:00:00 +0000] "POST /x HTTP/2.0" 503 0 "http://r/" "Mozilla/5.0 (X11; Linux)" 1.500"#,
                Some((false, 1500)),
            ),
            (
                r#"10.0.0.1 - - [03/Dec/2026:20:00:00 +0000] "\x16\x03\x01" 400 157 "-" "-" 0.000"#,
                Some((true, 0)),
            ),
            // Plain combined, without $request_time: not this format.
            (
                r#"10.0.0.1 - - [03/Dec/2026:20:00:00 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.5""#,
                None,
            ),
            (
                "2026/12/03 20:00:00 [error] 12#12: *1 connect() failed",
                None,
            ),
            ("", None),
        ];
        for (line, want) in cases {
            check(Format::Nginx, line, want);
        }
    }

    #[test]
    fn json_lines() {
        let cases = [
            (r#"{"status":200,"duration_ms":12}"#, Some((true, 12))),
            (
                r#"{"status":"502","request_time":"0.250"}"#,
                Some((false, 250)),
            ),
            (
                r#"{"status":500,"request_time":2,"path":"/x"}"#,
                Some((false, 2000)),
            ),
            (r#"{"status":200}"#, None),
            (r#"{"status":99,"duration_ms":1}"#, None),
            (r#"{"status":200,"duration_ms":-1}"#, None),
            (r#"[200, 12]"#, None),
            ("not json", None),
        ];
        for (line, want) in cases {
            check(Format::Json, line, want);
        }
    }
}
