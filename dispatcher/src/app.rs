//! The running dispatcher's shared state, and the one place where the
//! writer side (ingest, expiry) meets the reader side (the request path).
//!
//! Writers take the registry's mutex, never across an `.await`, and wake the
//! maintenance loop, which rebuilds the pool snapshot and swaps it in. The
//! request path only ever loads the current `Arc<Pool>`: no lock, no wait.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use signpost_shared::{DashboardView, LoadReport};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::registry::{IngestError, Observed, Registry, Settings, Source};
use crate::select::Strategy;

/// Rebuilds are at least this far apart, so a flood of reports costs a
/// bounded amount of CPU while staying visible within a few milliseconds.
const MIN_REBUILD_GAP: Duration = Duration::from_millis(5);

/// Everything the listeners and background loops share.
#[derive(Debug)]
pub struct App {
    /// The snapshot the request path reads.
    pool: ArcSwap<Pool>,
    registry: Mutex<Registry>,
    strategy: Strategy,
    /// Wakes the maintenance loop when the registry changed.
    changed: Notify,
    /// Counters and histograms exported at `/metrics`.
    pub metrics: Metrics,
    /// The configuration in force.
    pub config: Config,
}

// === impl App ===

impl App {
    /// State for `config`, with an empty pool until reports arrive.
    pub fn new(config: Config, strategy: Strategy) -> Self {
        let settings = Settings {
            stale_after: config.stale_after,
            forget_after: config.forget_after,
            mem_high_water: config.mem_high_water,
        };
        App {
            pool: ArcSwap::from_pointee(Pool::empty(&strategy)),
            registry: Mutex::new(Registry::new(&config.backends, settings)),
            strategy,
            changed: Notify::new(),
            metrics: Metrics::default(),
            config,
        }
    }

    /// The current pool snapshot: a lock-free load.
    #[inline]
    pub fn pool(&self) -> arc_swap::Guard<Arc<Pool>> {
        self.pool.load()
    }

    /// The strategy in force.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The agents to poll, as (slot, base URL).
    pub fn agents(&self) -> Vec<(usize, String)> {
        let registry = self.registry();
        registry
            .agents()
            .map(|(slot, url)| (slot, url.to_owned()))
            .collect()
    }

    /// Files a validated report received at `now` and counts the outcome.
    pub fn ingest(
        &self,
        source: Source,
        report: LoadReport,
        now: Instant,
    ) -> Result<Observed, IngestError> {
        let observed = self.registry().observe(source, report, now);
        match &observed {
            Ok(Observed::Accepted) => {
                self.metrics.reports_accepted.inc();
                self.changed.notify_one();
            }
            Ok(Observed::Replay { .. }) => self.metrics.reject("replay"),
            Err(err) => self.metrics.reject(err.reason()),
        }
        observed
    }

    /// Expires what is due at `now` and swaps in a fresh snapshot.
    pub fn rebuild(&self, now: Instant) {
        let mut registry = self.registry();
        registry.expire(now);
        let pool = registry.snapshot(now, &self.strategy);
        drop(registry);
        self.pool.store(Arc::new(pool));
    }

    /// The dashboard's view of the pool at `now`.
    pub fn dashboard(&self, now: Instant) -> DashboardView {
        let pool = self.pool();
        let backends = self.registry().views(now, &pool);
        DashboardView {
            strategy: self.strategy.name().to_owned(),
            redirects_total: self.metrics.redirects(),
            no_backend_total: self.metrics.no_backend(),
            eligible: pool.backends().len(),
            backends,
        }
    }

    /// Keeps the snapshot current: rebuilds when the registry changed and
    /// exactly when the next node goes stale, until `shutdown`.
    pub async fn maintain(&self, shutdown: CancellationToken) {
        loop {
            self.rebuild(Instant::now());
            let deadline = self.registry().next_deadline(Instant::now());
            let wake_at = deadline.unwrap_or_else(|| Instant::now() + self.config.stale_after);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.changed.notified() => sleep(MIN_REBUILD_GAP).await,
                () = sleep_until(wake_at) => {}
            }
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves the registry consistent
        // (every write is a single assignment), so poisoning is ignored.
        self.registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
