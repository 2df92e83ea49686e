//! Counters of the public listener's guards (`crate::edge`): limited
//! answers by reason, the share being shed, rate-limit table evictions,
//! access log lines written and dropped. Plain atomics, bumped on the request path or by the log
//! writer, encoded at scrape time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The guards' counters.
#[derive(Debug, Default)]
pub struct EdgeCounters {
    rate_limited: AtomicU64,
    rate_limited_dry_run: AtomicU64,
    shed: AtomicU64,
    /// The share of answers being shed now, as `f64` bits.
    shed_share: AtomicU64,
    evictions: AtomicU64,
    log_lines: AtomicU64,
    log_dropped: AtomicU64,
}

/// The counters as read at scrape time.
#[derive(Debug)]
pub(super) struct EdgeSnapshot {
    counters: [u64; 6],
    shed_share: f64,
}

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

    /// Counts a client shed for overload.
    #[inline]
    pub fn shed(&self) {
        self.shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the share of answers being shed now.
    pub fn set_shed_share(&self, share: f64) {
        self.shed_share.store(share.to_bits(), Ordering::Relaxed);
    }

    /// Clients shed for overload, for the dashboard.
    pub fn shed_total(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// The share of answers being shed now, for the dashboard.
    pub fn shed_share(&self) -> f64 {
        f64::from_bits(self.shed_share.load(Ordering::Relaxed))
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
        EdgeSnapshot {
            counters: [
                load(&self.rate_limited),
                load(&self.rate_limited_dry_run),
                load(&self.shed),
                load(&self.evictions),
                load(&self.log_lines),
                load(&self.log_dropped),
            ],
            shed_share: self.shed_share(),
        }
    }
}

// === impl EdgeSnapshot ===

impl Collector for EdgeSnapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let [limited, dry_run, shed, evictions, lines, dropped] = self.counters;
        let mut family = encoder.encode_descriptor(
            "signpost_limited",
            "Requests refused by a limit of the public listener, by reason \
             (rate_limit: --rate-limit; overload: --overload shed)",
            None,
            MetricType::Counter,
        )?;
        for (reason, value) in [("rate_limit", limited), ("overload", shed)] {
            let labels = [("reason", reason)];
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "signpost_limited_dry_run",
            "Requests over a limit but let through by its dry run, by reason",
            None,
            MetricType::Counter,
        )?;
        let labels = [("reason", "rate_limit")];
        ConstCounter::new(dry_run).encode(family.encode_family(&labels)?)?;
        let metric = encoder.encode_descriptor(
            "signpost_shed_share",
            "Share of the clients on their way to a backend that --overload shed \
             refuses now, 0-1",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.shed_share).encode(metric)?;
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
