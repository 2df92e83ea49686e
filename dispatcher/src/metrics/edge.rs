//! Counters of the public listener's guards (`crate::edge`): limited
//! answers by reason, rate-limit table evictions, access log lines written
//! and dropped. Plain atomics, bumped on the request path or by the log
//! writer, encoded at scrape time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

/// The guards' counters.
#[derive(Debug, Default)]
pub struct EdgeCounters {
    rate_limited: AtomicU64,
    rate_limited_dry_run: AtomicU64,
    evictions: AtomicU64,
    log_lines: AtomicU64,
    log_dropped: AtomicU64,
}

/// The counters as read at scrape time.
#[derive(Debug)]
pub(super) struct EdgeSnapshot([u64; 5]);

// === impl EdgeCounters ===

impl EdgeCounters {
    /// Counts a request over the rate limit: refused, or only counted in a
    /// dry run.
    #[inline]
    pub fn limited(&self, dry_run: bool) {
        let counter = match dry_run {
            true => &self.rate_limited_dry_run,
            false => &self.rate_limited,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a client forgotten while it still owed time.
    pub fn evicted(&self) {
        self.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an access log line written.
    pub fn logged(&self) {
        self.log_lines.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an access log line dropped: the writer was behind, or the
    /// write failed.
    pub fn log_dropped(&self) {
        self.log_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused by a limit, for the dashboard.
    pub fn limited_total(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }

    pub(super) fn snapshot(&self) -> EdgeSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        EdgeSnapshot([
            load(&self.rate_limited),
            load(&self.rate_limited_dry_run),
            load(&self.evictions),
            load(&self.log_lines),
            load(&self.log_dropped),
        ])
    }
}

// === impl EdgeSnapshot ===

impl Collector for EdgeSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let [limited, dry_run, evictions, lines, dropped] = self.0;
        let by_reason = [
            (
                "signpost_limited",
                "Requests refused by a limit of the public listener, by reason",
                limited,
            ),
            (
                "signpost_limited_dry_run",
                "Requests over a limit but let through by its dry run, by reason",
                dry_run,
            ),
        ];
        for (name, help, value) in by_reason {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            let labels = [("reason", "rate_limit")];
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        let plain = [
            (
                "signpost_rate_limit_evictions",
                "Clients forgotten by the full rate-limit table while they still owed \
                 time (they get a fresh burst): the table is too small for the traffic",
                evictions,
            ),
            (
                "signpost_access_log_lines",
                "Access log lines written",
                lines,
            ),
            (
                "signpost_access_log_dropped",
                "Access log lines dropped: the writer was behind or a write failed",
                dropped,
            ),
        ];
        for (name, help, value) in plain {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            ConstCounter::new(value).encode(metric)?;
        }
        Ok(())
    }
}
