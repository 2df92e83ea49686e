//! One node as the registry knows it: its configuration, its last report,
//! what it has learnt, and the verdicts drawn from them — its state, its
//! health as shown, its weight and slow-start ramp.

use std::sync::Arc;
use std::time::Duration;

use signpost_shared::{BackendState, Health, LoadReport, NodeState};
use tokio::time::Instant;

use super::outlier::Outlier;
use super::{HealthState, Settings};
use crate::config::{BackendConfig, HealthConfig};
use crate::load::{Figures, NodeLoad, NodeModels, Projection, Projector};
use crate::sticky::PinCookie;

/// Memory above the high-water mark halves a node's weight.
pub const MEMORY_PRESSURE_FACTOR: f64 = 0.5;

/// A ramping node never weighs less than this share of its weight, so the
/// weighted tables never see a zero.
const RAMP_FLOOR: f64 = 0.01;

/// What of a node the pool snapshot depends on besides its load: whether
/// and how it takes clients. A report that leaves this unchanged is a
/// load-only change.
#[derive(Debug, PartialEq)]
pub(super) struct Membership {
    state: BackendState,
    weight: f64,
    base_url: Option<Arc<str>>,
}

/// A node: configured, or learnt from a push.
#[derive(Debug)]
pub(super) struct Node {
    /// Known from the config, or learnt from the first report.
    pub id: Option<Arc<str>>,
    /// The agent polled for this node, if any.
    pub agent: Option<String>,
    /// Overrides the report's url.
    pub url: Option<String>,
    /// The url in force without its trailing `/`, kept so that rebuilding
    /// a snapshot shares it instead of allocating it again.
    pub base_url: Option<Arc<str>>,
    pub weight: f64,
    pub backup: bool,
    /// Health check settings.
    pub checks: HealthConfig,
    pub last: Option<Received>,
    /// Costs and capacity learnt from reports.
    pub models: NodeModels,
    /// Its share of new clients at the last snapshot (weight × ramp ×
    /// capacity), 0 while it takes none.
    pub share: f64,
    /// What its shares named it for up to the last snapshot.
    pub named: Named,
    /// The learnt capacity factor last logged, so that each change is
    /// logged once (see `note_capacity` in `members.rs`).
    pub capacity_logged: f64,
    /// Redirect counter and projection, shared with every snapshot.
    pub load: Arc<NodeLoad>,
    /// Set by the admin API; wins over the report's state.
    pub admin: Option<NodeState>,
    pub health: HealthState,
    /// When the node last became eligible, for slow start.
    pub ready_since: Option<Instant>,
    /// The sticky cookie naming this node.
    pub pin: Option<Arc<PinCookie>>,
    /// Passive health: its application's errors and latency, ejections.
    pub outlier: Outlier,
}

/// The last report, when it arrived and the redirect counter then.
#[derive(Debug)]
pub(super) struct Received {
    /// The report itself.
    pub report: LoadReport,
    /// When it arrived, by the dispatcher's clock.
    pub at: Instant,
    /// The node's redirect counter when the report arrived.
    pub sent: u64,
    /// What its shares had named it for when the report arrived.
    pub named: Named,
}

/// The redirects a node's shares named it for, summed snapshot by snapshot
/// (each snapshot's pace × the node's share × how long it stood), and the
/// seconds of that with a pace to name by. Named at each report from the
/// pace and share of that moment instead, an interval over which shares
/// changed was named as if the latest had stood throughout: right after
/// a start, a fast node whose report came just after its slow peers were
/// cut was named the pace their cut raised for the whole interval, read
/// as given away turns it had never been named, and was cut itself.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct Named {
    /// Redirects named, in all.
    pub redirects: f64,
    /// Seconds of them with a pace (the pool's first report over time on).
    pub paced: f64,
}

// === impl Named ===

impl Named {
    /// These sums carried `seconds` further at `pace` redirects a second
    /// per unit of `share`.
    pub fn after(self, pace: f64, share: f64, seconds: f64) -> Named {
        Named {
            redirects: self.redirects + pace * share * seconds,
            paced: self.paced + if pace > 0.0 { seconds } else { 0.0 },
        }
    }

    /// What was named between `earlier` and these sums, over `elapsed`
    /// seconds: where part of them had no pace to name by (the pool's
    /// first reports), the rest's rate stands for it; 0 where none had.
    pub fn since(self, earlier: Named, elapsed: f64) -> f64 {
        let paced = self.paced - earlier.paced;
        if paced > 0.0 {
            (self.redirects - earlier.redirects) * (elapsed / paced).max(1.0)
        } else {
            0.0
        }
    }
}

// === impl Node ===

impl Node {
    pub fn empty() -> Self {
        Node {
            id: None,
            agent: None,
            url: None,
            base_url: None,
            weight: 1.0,
            backup: false,
            checks: HealthConfig::default(),
            last: None,
            models: NodeModels::default(),
            share: 0.0,
            named: Named::default(),
            capacity_logged: 1.0,
            load: Arc::default(),
            admin: None,
            health: HealthState::default(),
            ready_since: None,
            pin: None,
            outlier: Outlier::default(),
        }
    }

    pub fn configured(config: &BackendConfig) -> Self {
        Node {
            id: config.id.as_deref().map(Arc::from),
            ..Node::empty().reconfigured(config)
        }
    }

    /// This node with `config`'s settings, keeping what it learnt.
    pub fn reconfigured(self, config: &BackendConfig) -> Self {
        let health = if config.health == self.checks {
            self.health
        } else {
            HealthState::default()
        };
        let mut node = Node {
            agent: config.agent.clone(),
            url: config.url.clone(),
            weight: config.weight,
            backup: config.backup,
            checks: config.health.clone(),
            health,
            ..self
        };
        node.refresh_base_url();
        node
    }

    /// Recomputes `base_url` if the url in force changed.
    pub fn refresh_base_url(&mut self) {
        let wanted = self.url().map(|url| url.trim_end_matches('/'));
        if self.base_url.as_deref() != wanted {
            self.base_url = wanted.map(Arc::from);
        }
    }

    /// What the node counts for in the pool's backlog
    /// ([`PoolBacklog`](crate::load::PoolBacklog)): the connections of its
    /// last report and its share, once its agent has counted a connection
    /// at all — one that does not reports 0 whatever its backlog.
    pub fn backlog_count(&self) -> Option<(u64, f64)> {
        self.models.cpu.counts_backlog().then_some(())?;
        Some((self.last.as_ref()?.report.connections, self.share))
    }

    /// The configured URL, else the reported one.
    pub fn url(&self) -> Option<&str> {
        let reported = self
            .last
            .as_ref()
            .and_then(|last| last.report.url.as_deref());
        self.url.as_deref().or(reported)
    }

    /// Makes this node's projection under `projector` the one every
    /// snapshot reads, and the moment its last report expires (after
    /// `stale_after`), if it has reported.
    pub fn publish(&self, projector: &Projector, stale_after: Duration) {
        if let Some(projection) = self.projection(projector) {
            self.load.publish(projection);
        }
        if let Some(last) = &self.last {
            self.load
                .set_stale_at(projector.seconds(last.at + stale_after));
        }
    }

    /// This node's load under `projector`, projected from its last
    /// report; `None` before the first.
    pub fn projection(&self, projector: &Projector) -> Option<Projection> {
        let last = self.last.as_ref()?;
        let figures = Figures {
            cpu: last.report.cpu_percent / 100.0,
            connections: last.report.connections as f64,
            sent: last.sent,
            at: last.at,
            share: self.share,
        };
        Some(projector.project(&self.models, &figures, self.health.latency()))
    }

    /// Everything but the load that decides whether and how the node
    /// takes clients at `now`.
    pub fn membership(&self, settings: &Settings, now: Instant) -> Membership {
        Membership {
            state: self.state(settings.stale_after, now),
            weight: self.effective_weight(settings.mem_high_water),
            base_url: self.base_url.clone(),
        }
    }

    /// The id, or the agent URL while the node has not reported yet.
    pub fn display_id(&self) -> Arc<str> {
        match (&self.id, &self.agent) {
            (Some(id), _) => id.clone(),
            (None, Some(agent)) => agent.as_str().into(),
            (None, None) => "".into(),
        }
    }

    /// The dispatcher's verdict at `now`, worst reason first.
    pub fn state(&self, stale_after: Duration, now: Instant) -> BackendState {
        let Some(last) = &self.last else {
            return BackendState::Stale;
        };
        if now.saturating_duration_since(last.at) >= stale_after {
            return BackendState::Stale;
        }
        if !last.report.healthy || !self.health.passing() || self.awaiting_check() {
            return BackendState::Down;
        }
        let wanted = self.admin.unwrap_or(last.report.state);
        if wanted != NodeState::Maintenance && self.outlier.ejected(now).is_some() {
            return BackendState::Ejected;
        }
        match wanted {
            NodeState::Maintenance => BackendState::Maintenance,
            NodeState::Draining => BackendState::Draining,
            NodeState::Ready => BackendState::Ready,
        }
    }

    /// Failing if the agent's probe or an active check fails; unknown
    /// until the first report and, with active checks, the first check.
    pub fn health_view(&self) -> Health {
        match &self.last {
            Some(last) if !last.report.healthy || !self.health.passing() => Health::Failing,
            Some(_) if self.awaiting_check() => Health::Unknown,
            Some(_) => Health::Passing,
            None => Health::Unknown,
        }
    }

    /// Whether active checks are configured and none has completed yet:
    /// such a node is down, not ready. An agent reports its host, not the
    /// application behind the URL it advertises; taking it on trust until
    /// the first check sent clients to a dead backend for up to a
    /// reconcile interval (`chaos/soak.py --churn`, RELIABILITY.md). The
    /// checker probes a new target as soon as it appears.
    fn awaiting_check(&self) -> bool {
        self.checks.path.is_some() && !self.health.checked()
    }

    /// Share of its weight the node has ramped up to at `now`.
    pub fn ramp(&self, slow_start: Duration, now: Instant) -> f64 {
        match self.ready_since {
            Some(since) if !slow_start.is_zero() => {
                let elapsed = now.saturating_duration_since(since).as_secs_f64();
                (elapsed / slow_start.as_secs_f64()).clamp(RAMP_FLOOR, 1.0)
            }
            _ => 1.0,
        }
    }

    pub fn silent_for(&self, period: Duration, now: Instant) -> bool {
        self.last
            .as_ref()
            .is_none_or(|last| now.saturating_duration_since(last.at) >= period)
    }

    /// Static weight × reported weight, halved under memory pressure and
    /// lowered by the application's errors (see [`super::outlier::penalty`]).
    pub fn effective_weight(&self, mem_high_water: f64) -> f64 {
        let Some(last) = &self.last else {
            return self.weight;
        };
        let pressure = if last.report.mem_percent > mem_high_water {
            MEMORY_PRESSURE_FACTOR
        } else {
            1.0
        };
        let errors = self.outlier.penalty(last.report.cpu_percent / 100.0);
        self.weight * last.report.weight * pressure * errors
    }
}
