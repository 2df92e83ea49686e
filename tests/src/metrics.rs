//! A small matcher for Prometheus text exposition:
//! `metric("signpost_redirects_total").label("backend", "web-1").value(3)`
//! finds a sample with that name, at least those labels, and that value.
//!
//! It understands the subset the text format needs for assertions: comment
//! lines, `name{k="v",...} value [timestamp]`, and `\"`, `\\`, `\n` escapes
//! in label values.

use std::collections::HashMap;

/// What to look for in a scraped body; build it with [`metric`].
#[derive(Debug, Clone, PartialEq)]
pub struct MetricMatch {
    name: String,
    labels: Vec<(String, String)>,
    value: Option<f64>,
}

/// Starts a match on the sample name (including any `_total`, `_bucket`...
/// suffix).
pub fn metric(name: &str) -> MetricMatch {
    MetricMatch {
        name: name.to_owned(),
        labels: Vec::new(),
        value: None,
    }
}

/// One parsed sample line.
#[derive(Debug, PartialEq)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

// === impl MetricMatch ===

impl MetricMatch {
    /// Requires the label `key` to equal `value` (other labels may exist).
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Requires the sample's value to be `value`.
    pub fn value(mut self, value: impl Into<f64>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// The value of the first sample in `body` with this name and labels
    /// (the expected value, if set, is not consulted).
    pub fn find(&self, body: &str) -> Option<f64> {
        body.lines()
            .filter_map(parse_line)
            .find(|sample| self.names(sample))
            .map(|sample| sample.value)
    }

    /// Whether `body` has a sample with this name, labels and value.
    pub fn is_in(&self, body: &str) -> bool {
        body.lines()
            .filter_map(parse_line)
            .any(|sample| self.names(&sample) && self.value.is_none_or(|v| v == sample.value))
    }

    /// Panics, showing the body, unless [`MetricMatch::is_in`] holds.
    pub fn assert_in(&self, body: &str) {
        assert!(self.is_in(body), "no sample matching {self:?} in:\n{body}");
    }

    fn names(&self, sample: &Sample) -> bool {
        sample.name == self.name
            && self
                .labels
                .iter()
                .all(|(k, v)| sample.labels.get(k) == Some(v))
    }
}

/// Parses `name{labels} value [timestamp]`; comments and junk give `None`.
fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = HashMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses `k="v",k2="v2"}` and returns the labels and what follows `}`.
fn parse_labels(mut text: &str) -> Option<(HashMap<String, String>, &str)> {
    let mut labels = HashMap::new();
    loop {
        text = text.trim_start_matches([',', ' ']);
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => value.push(match chars.next()?.1 {
                    'n' => '\n',
                    other => other,
                }),
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim().to_owned(), value);
        text = &rest[end + 1..];
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"# HELP signpost_redirects_total Redirects sent.
# TYPE signpost_redirects_total counter
signpost_redirects_total{backend="web-1"} 3
signpost_redirects_total{backend="web-2",zone="a"} 0
signpost_backends{state="ready"} 2 1763700000000
signpost_up 1
signpost_odd{path="a\"b\\c\nd",x="}"} 1.5e3
signpost_latency_bucket{le="+Inf"} 7
"#;

    #[test]
    fn matcher_table() {
        let cases = [
            (
                metric("signpost_redirects_total")
                    .label("backend", "web-1")
                    .value(3),
                true,
            ),
            (
                metric("signpost_redirects_total")
                    .label("backend", "web-1")
                    .value(4),
                false,
            ),
            (
                metric("signpost_redirects_total")
                    .label("backend", "web-2")
                    .value(0),
                true,
            ),
            (metric("signpost_redirects_total").label("zone", "a"), true),
            (
                metric("signpost_redirects_total").label("backend", "web-3"),
                false,
            ),
            (
                metric("signpost_redirects").label("backend", "web-1"),
                false,
            ),
            (
                metric("signpost_backends").label("state", "ready").value(2),
                true,
            ),
            (metric("signpost_up").value(1), true),
            (metric("signpost_up").label("x", "y"), false),
            (
                metric("signpost_odd")
                    .label("path", "a\"b\\c\nd")
                    .label("x", "}")
                    .value(1500),
                true,
            ),
            (
                metric("signpost_latency_bucket")
                    .label("le", "+Inf")
                    .value(7),
                true,
            ),
            (metric("HELP"), false),
        ];
        for (matcher, want) in cases {
            assert_eq!(matcher.is_in(BODY), want, "{matcher:?}");
        }
    }

    #[test]
    fn find_returns_the_value() {
        assert_eq!(metric("signpost_up").find(BODY), Some(1.0));
        assert_eq!(metric("signpost_backends").find(BODY), Some(2.0));
        assert_eq!(metric("signpost_missing").find(BODY), None);
    }
}
