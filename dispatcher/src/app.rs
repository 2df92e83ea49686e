//! The running dispatcher's shared state, and the one place where the
//! writer side (ingest, health checks, admin, reload, expiry) meets the
//! reader side (the request path).
//!
//! Writers take the registry's mutex, never across an `.await`, and wake the
//! maintenance loop, which rebuilds the pool snapshot and swaps it in. The
//! request path only ever loads the current `Arc<Pool>`: no lock, no wait.
//!
//! Most reports change only a node's load, which the registry publishes to
//! the live snapshot directly ([`Change::Load`]); those ask for a lazy
//! rebuild that refreshes what is derived from loads. A change of who takes
//! clients ([`Change::Membership`]) asks for a prompt one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwap;
use rand::Rng as _;
use signpost_shared::{BackendView, DashboardView, Dispatch, LoadReport, NodeState};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Sticky};
use crate::edge::Edge;
use crate::metrics::Metrics;
use crate::pool::{Policy, Pool};
use crate::registry::{
    Change, CheckResult, IngestError, Observed, Registry, Settings, Source, Target, UnknownNode,
};
use crate::select::Strategy;
use crate::sticky::CookieSigner;

/// Rebuilds are at least this far apart, so a flood of reports costs a
/// bounded amount of CPU while staying visible within a few milliseconds,
const MIN_REBUILD_GAP: Duration = Duration::from_millis(5);

/// and, after a membership change, at least this many times as long as the
/// last rebuild took, so a large pool spends at most ~5% of a core on them,
const MEMBERSHIP_GAP_FACTOR: u32 = 20;

/// but never more than this apart, which keeps a node joining or leaving
/// visible well within 50 ms (`bench/ingest.sh` measures it). Floods of
/// reports are load-only and wait for the lazy rebuild, so this cap only
/// binds during real membership churn of a very large pool.
const MAX_MEMBERSHIP_GAP: Duration = Duration::from_millis(10);

/// After load-only reports a rebuild waits this many times its last
/// duration, so refreshing draw weights costs at most ~0.4% of a core
/// (a 10 000-node fleet pushing every second: a rebuild of ~0.9 ms every
/// ~0.2 s),
const LOAD_GAP_FACTOR: u32 = 250;

/// and at most this long. Nothing a client is sent by waits for it: each
/// report's projection counts at once, and what the rebuild refreshes —
/// the draw weights — are averages over report intervals of a second or
/// so, which a quarter of that staleness does not change.
const MAX_LOAD_GAP: Duration = Duration::from_millis(250);

/// Everything the listeners and background loops share.
#[derive(Debug)]
pub struct App {
    /// The snapshot the request path reads.
    pool: ArcSwap<Pool>,
    registry: Mutex<Registry>,
    strategy: ArcSwap<Strategy>,
    policy: ArcSwap<Policy>,
    config: ArcSwap<Config>,
    /// The cookie secret used when none is configured: random, but kept
    /// across reloads so cookies already issued stay valid.
    fallback_secret: [u8; 32],
    /// Wakes the maintenance loop for a prompt rebuild.
    membership_changed: Notify,
    /// Wakes the maintenance loop for a lazy rebuild.
    load_changed: Notify,
    /// Wakes the health checker: a node that may be a new target (one
    /// with checks is down until its first) joined, or the config changed.
    targets_changed: Notify,
    /// Counters and histograms exported at `/metrics`.
    pub metrics: Metrics,
    /// The public listener's rate limit and access log.
    pub edge: Edge,
}

// === impl App ===

impl App {
    /// State for `config`, with an empty pool until reports arrive.
    pub fn new(config: Config) -> Self {
        let mut fallback_secret = [0u8; 32];
        rand::rng().fill_bytes(&mut fallback_secret);
        let strategy = Strategy::new(config.strategy, &config.hash_key);
        let policy = Arc::new(Policy::new(&config));
        let signer = signer(&config, &fallback_secret);
        let registry = Registry::new(&config.backends, settings(&config), signer);
        let metrics = Metrics::default();
        let edge = Edge::new(&config, metrics.edge.clone());
        App {
            pool: ArcSwap::from_pointee(Pool::empty(&strategy, policy.clone())),
            registry: Mutex::new(registry),
            strategy: ArcSwap::from_pointee(strategy),
            policy: ArcSwap::new(policy),
            config: ArcSwap::from_pointee(config),
            fallback_secret,
            membership_changed: Notify::new(),
            load_changed: Notify::new(),
            targets_changed: Notify::new(),
            metrics,
            edge,
        }
    }

    /// The current pool snapshot: a lock-free load.
    #[inline]
    pub fn pool(&self) -> arc_swap::Guard<Arc<Pool>> {
        self.pool.load()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// The name of the strategy in force.
    pub fn strategy_name(&self) -> &'static str {
        self.strategy.load().name()
    }

    /// The agents to poll, as (slot, base URL).
    pub fn agents(&self) -> Vec<(usize, String)> {
        let registry = self.registry();
        registry
            .agents()
            .map(|(slot, url)| (slot, url.to_owned()))
            .collect()
    }

    /// What the health checker should probe.
    pub fn health_targets(&self) -> Vec<Target> {
        self.registry().health_targets()
    }

    /// Resolves when the health targets may have changed since the last
    /// call: a node joined or the config was reloaded.
    pub async fn targets_changed(&self) {
        self.targets_changed.notified().await;
    }

    /// Files a validated report received at `now` and wakes the
    /// maintenance loop. [`intake::receive`](crate::intake::receive) counts
    /// the outcome.
    pub fn ingest(
        &self,
        source: Source,
        report: LoadReport,
        now: Instant,
    ) -> Result<Observed, IngestError> {
        let observed = match self.disallowed(source, &report) {
            Some(url) => Err(IngestError::NotAllowed(url)),
            None => self.registry().observe(source, report, now),
        };
        match &observed {
            Ok(Observed::Accepted(Change::Load)) => self.load_changed.notify_one(),
            Ok(Observed::Accepted(Change::Membership)) => {
                self.membership_changed.notify_one();
                self.targets_changed.notify_one();
            }
            Ok(Observed::Ejected(id, reason)) => {
                tracing::warn!(backend = &**id, %reason, "passive health: backend ejected");
                self.membership_changed.notify_one();
            }
            _ => {}
        }
        observed
    }

    /// The URL `report` advertises when `--allow-backend` does not admit
    /// it. A configured backend's own `url` is trusted and wins over the
    /// report's, which is then not checked.
    fn disallowed(&self, source: Source, report: &LoadReport) -> Option<String> {
        let url = report.url.as_deref()?;
        let config = self.config.load();
        let configured = match source {
            Source::Poll(slot) => config.backends.get(slot),
            Source::Push => {
                (config.backends.iter()).find(|b| b.id.as_deref() == Some(report.node_id.as_str()))
            }
        };
        let trusted = configured.is_some_and(|b| b.url.is_some());
        (!trusted && !config.allow_backend.permits(url)).then(|| url.to_owned())
    }

    /// Files one health check of node `id`, logging a flip of its verdict.
    pub fn observe_health(&self, id: &str, result: &CheckResult) {
        let flipped = self.registry().observe_health(id, result);
        match (flipped, result) {
            (Some(false), CheckResult::Fail(reason)) => {
                tracing::warn!(backend = id, %reason, "health check failing: backend down");
            }
            (Some(true), _) => tracing::info!(backend = id, "health check passing: backend up"),
            _ => {}
        }
        // Latency feeds `fastest`, so every check may change the pool.
        self.membership_changed.notify_one();
    }

    /// Sets or clears (`None`) the admin override of node `id`.
    pub fn set_admin(&self, id: &str, state: Option<NodeState>) -> Result<(), UnknownNode> {
        self.registry().set_admin(id, state)?;
        self.membership_changed.notify_one();
        Ok(())
    }

    /// Swaps in `config` (SIGHUP): strategy, policy and backends change;
    /// what is known about backends that remain is kept.
    pub fn reload(&self, config: Config) {
        let signer = signer(&config, &self.fallback_secret);
        self.registry()
            .reconfigure(&config.backends, settings(&config), signer);
        self.strategy
            .store(Arc::new(Strategy::new(config.strategy, &config.hash_key)));
        self.policy.store(Arc::new(Policy::new(&config)));
        self.edge.reconfigure(&config);
        self.config.store(Arc::new(config));
        self.membership_changed.notify_one();
        self.targets_changed.notify_one();
    }

    /// Expires what is due at `now` and swaps in a fresh snapshot.
    pub fn rebuild(&self, now: Instant) {
        let strategy = self.strategy.load();
        let mut registry = self.registry();
        registry.expire(now);
        let members = registry.members(now, strategy.metric());
        drop(registry);
        let pool = Pool::new(members, &strategy, self.policy.load_full());
        self.pool.store(Arc::new(pool));
    }

    /// The dashboard's view of the pool at `now`.
    pub fn dashboard(&self, now: Instant) -> DashboardView {
        let pool = self.pool();
        let active: HashSet<&str> = pool.backends().iter().map(|b| &*b.id).collect();
        let backends = self.registry().views(now, &|id| active.contains(id));
        DashboardView {
            dispatch: Dispatch {
                strategy: self.strategy_name().to_owned(),
                redirects_total: self.metrics.redirects(),
                no_backend_total: self.metrics.no_backend(),
                limited_total: self.metrics.edge.limited_total(),
                shed_total: self.metrics.edge.shed_total(),
                shed_share: self.metrics.edge.shed_share(),
                eligible: pool.backends().len(),
                fail_open: self.registry().fail_open(),
            },
            backends,
        }
    }

    /// Backend `id` as the dashboard shows it: a cheap look at one node of
    /// a large fleet.
    pub fn backend_view(&self, id: &str, now: Instant) -> Result<BackendView, UnknownNode> {
        let pool = self.pool();
        let in_pool = |id: &str| pool.backends().iter().any(|b| &*b.id == id);
        self.registry().view_of(id, now, &in_pool)
    }

    /// Keeps the snapshot current: rebuilds soon after a membership
    /// change, a little later after load-only reports, and exactly when the
    /// next node goes stale, until `shutdown`.
    pub async fn maintain(&self, shutdown: CancellationToken) {
        loop {
            let started = Instant::now();
            self.rebuild(started);
            let took = started.elapsed();
            let membership_gap =
                (took * MEMBERSHIP_GAP_FACTOR).clamp(MIN_REBUILD_GAP, MAX_MEMBERSHIP_GAP);
            let load_gap = (took * LOAD_GAP_FACTOR).clamp(MIN_REBUILD_GAP, MAX_LOAD_GAP);
            let now = Instant::now();
            let due = self
                .registry()
                .next_deadline(now)
                .unwrap_or(now + self.config.load().stale_after);
            let rebuild = sleep_until(due);
            tokio::pin!(rebuild);
            // A second notice of a kind cannot bring the rebuild forward
            // (its gap counts from a later instant), so after the first
            // the loop stops listening for that kind: during a flood of
            // reports each one then stores a permit instead of waking
            // this task (the permit asks for the rebuild after this one).
            let (mut heard_membership, mut heard_load) = (false, false);
            loop {
                let gap = tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = &mut rebuild => break,
                    () = self.membership_changed.notified(), if !heard_membership => {
                        heard_membership = true;
                        membership_gap
                    }
                    () = self.load_changed.notified(), if !heard_load => {
                        heard_load = true;
                        load_gap
                    }
                };
                let soon = Instant::now() + gap;
                if soon < rebuild.deadline() {
                    rebuild.as_mut().reset(soon);
                }
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

/// The registry's rules from `config`.
fn settings(config: &Config) -> Settings {
    Settings {
        stale_after: config.stale_after,
        forget_after: config.forget_after,
        mem_high_water: config.mem_high_water,
        slow_start: config.slow_start,
        health: config.health.clone(),
        max_nodes: config.max_nodes,
        outlier: config.outlier.clone(),
    }
}

/// The cookie signer `config` asks for; cookies are `Secure` when asked or
/// when the public listener speaks TLS.
fn signer(config: &Config, fallback_secret: &[u8]) -> Option<CookieSigner> {
    if config.sticky != Sticky::Cookie {
        return None;
    }
    let secret = match &config.cookie_secret {
        Some(secret) => secret.as_bytes(),
        None => {
            tracing::warn!(
                "--sticky cookie without --cookie-secret: using a random secret; \
                 other dispatcher replicas (and this one after a restart) will not \
                 honour the cookies it issues"
            );
            fallback_secret
        }
    };
    let secure = config.cookie_secure || config.tls.is_some();
    Some(CookieSigner::new(secret, secure, config.cookie_max_age))
}

#[cfg(test)]
mod tests;
