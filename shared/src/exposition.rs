//! The two text formats a Prometheus scrape may ask for, and how to serve
//! the one it asked for.
//!
//! Both binaries encode their metrics with `prometheus-client`, which writes
//! OpenMetrics text only. Prometheus itself asks for OpenMetrics, but
//! `promtool check metrics`, `curl` and many other scrapers read the older
//! Prometheus text format (0.0.4), in which a counter's `HELP` and `TYPE`
//! lines carry its `_total` sample name and there is no `# EOF`. Serving
//! OpenMetrics labelled `text/plain; version=0.0.4` makes those readers see
//! counters without help text, so the body is converted instead: the
//! content type always says what the body is.

/// The `Content-Type` of an OpenMetrics 1.0 text body.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of a Prometheus 0.0.4 text body.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A text exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, what Prometheus prefers.
    OpenMetrics,
    /// Prometheus text 0.0.4, what everything else reads.
    Prometheus,
}

// === impl Format ===

impl Format {
    /// The format an `Accept` header prefers: OpenMetrics when it is
    /// offered with a quality at least that of plain text, else 0.0.4 text
    /// (also when there is no header, so `curl` gets the classic format).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut openmetrics, mut text) = (0.0f64, 0.0f64);
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f64>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(quality),
                "text/plain" | "text/*" | "*/*" => text = text.max(quality),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => OPENMETRICS,
            Format::Prometheus => PROMETHEUS_TEXT,
        }
    }

    /// `openmetrics` (as `prometheus-client` writes it) in this format.
    pub fn from_openmetrics(self, openmetrics: String) -> String {
        match self {
            Format::OpenMetrics => openmetrics,
            Format::Prometheus => to_prometheus_text(&openmetrics),
        }
    }
}

/// Rewrites OpenMetrics text as Prometheus 0.0.4 text: a counter family's
/// `HELP` and `TYPE` lines take its samples' `_total` name, `# UNIT` and
/// `# EOF` go. Everything else (gauges, histograms, labels, escapes) is the
/// same in both formats for what signpost exports.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len() + 256);
    // `prometheus-client` writes a family's HELP line just before its TYPE
    // line, so the HELP line waits until the type is known.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), "");
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let suffix = if kind == "counter" && !name.ends_with("_total") {
                "_total"
            } else {
                ""
            };
            flush_help(&mut out, help.take(), suffix);
            out.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
            continue;
        }
        flush_help(&mut out, help.take(), "");
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    flush_help(&mut out, help, "");
    out
}

fn flush_help(out: &mut String, help: Option<(&str, &str)>, suffix: &str) {
    if let Some((name, text)) = help {
        out.push_str(&format!("# HELP {name}{suffix} {text}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_accept_header() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
            application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        let cases = [
            (None, Format::Prometheus),
            (Some("*/*"), Format::Prometheus),
            (Some("text/plain"), Format::Prometheus),
            (Some(prometheus), Format::OpenMetrics),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (
                Some("application/openmetrics-text;q=0.2, text/plain"),
                Format::Prometheus,
            ),
            (Some("application/openmetrics-text;q=0"), Format::Prometheus),
        ];
        for (accept, want) in cases {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn counters_take_their_total_name_and_eof_goes() {
        let openmetrics = "# HELP a_requests Requests.\n# TYPE a_requests counter\n\
            a_requests_total{x=\"1\"} 3\n# HELP b_up Up.\n# TYPE b_up gauge\nb_up 1\n\
            # HELP c_seconds Took.\n# TYPE c_seconds histogram\n# UNIT c_seconds seconds\n\
            c_seconds_count 0\n# EOF\n";
        let want = "# HELP a_requests_total Requests.\n# TYPE a_requests_total counter\n\
            a_requests_total{x=\"1\"} 3\n# HELP b_up Up.\n# TYPE b_up gauge\nb_up 1\n\
            # HELP c_seconds Took.\n# TYPE c_seconds histogram\nc_seconds_count 0\n";
        assert_eq!(to_prometheus_text(openmetrics), want);
        assert_eq!(
            Format::OpenMetrics.from_openmetrics(openmetrics.to_owned()),
            openmetrics
        );
    }
}
