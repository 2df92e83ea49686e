//! Which nodes exist and what was last heard from each.
//!
//! The registry is the single writer-side truth: ingest (polls and pushes)
//! feeds it reports, the maintenance loop asks it to expire and snapshot,
//! the dashboard reads views of it. It does no I/O and never reads a clock:
//! every method that cares about time takes `now`, so staleness is tested
//! with exact instants.
//!
//! Configured backends (from `[[backend]]` and `--agent`) are created at
//! start and never forgotten; pushed nodes appear with their first report
//! and are forgotten after `forget_after` of silence.
//!
//! Besides reports, a node's state is shaped by active health checks
//! ([`HealthState`]), by the admin API (an override that wins over the
//! agent's `state` until cleared with `ready`), and by slow start: a node
//! that becomes eligible ramps its weight up linearly over `slow_start`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use signpost_shared::{BackendState, BackendView, Health, LoadReport, NodeState};
use tokio::time::Instant;

use crate::config::{BackendConfig, HealthConfig};
use crate::health::{HealthState, Outcome, Target};
use crate::load::{CostModel, PooledCost, Projection};
use crate::pool::{Backend, Live, Members};
use crate::select::Metric;
use crate::sticky::{CookieSigner, PinCookie};

/// Memory above the high-water mark halves a node's weight.
const MEMORY_PRESSURE_FACTOR: f64 = 0.5;

/// A ramping node never weighs less than this share of its weight, so the
/// weighted tables never see a zero.
const RAMP_FLOOR: f64 = 0.01;

/// Snapshots are rebuilt this many times over a slow start, so the ramp is
/// smooth without rebuilding continuously.
const RAMP_STEPS: u32 = 20;

/// While a saturated node works off the backlog its projection carries,
/// the projection is refreshed this often (a tenth of the default report
/// interval), since it drains with the clock and not with reports.
const BACKLOG_REFRESH: Duration = Duration::from_millis(100);

/// Timing and weighting rules the registry applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// A report older than this, by the dispatcher's clock, is stale.
    pub stale_after: Duration,
    /// A pushed node silent this long is forgotten.
    pub forget_after: Duration,
    /// Memory percentage above which weight is halved.
    pub mem_high_water: f64,
    /// Ramp-up time of a node that becomes eligible; zero disables.
    pub slow_start: Duration,
    /// Health checks of pushed nodes (configured ones carry their own).
    pub health: HealthConfig,
    /// Most nodes known at once: a push from one more new node is refused.
    pub max_nodes: usize,
}

/// Where a report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Pushed to `POST /v1/report`.
    Push,
    /// Polled from the agent of configured backend number `slot`.
    Poll(usize),
}

/// What became of an acceptable report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    /// Stored.
    Accepted(Change),
    /// Older than or equal to what is stored: ignored, nothing changed.
    Replay {
        /// The sequence number received.
        seq: u64,
        /// The sequence number already stored.
        latest: u64,
    },
}

/// What an accepted report changed, which says how soon the pool snapshot
/// must be rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Only the node's load: its new projection is already published to
    /// every snapshot, so a rebuild only refreshes what is derived from
    /// loads (the draw weights, the learnt costs) and can wait.
    Load,
    /// Whether or how the node takes clients — it appeared, came back from
    /// stale, changed state, health, weight or URL: rebuild promptly.
    Membership,
}

/// Why a valid report could not be attributed to a backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// A pushed report must say which node it is.
    #[error("report has no node_id")]
    MissingNodeId,
    /// Clients could not be sent anywhere.
    #[error("node {0} has no url: the report advertises none and no [[backend]] names one")]
    NoUrl(String),
    /// Two backends claim one id.
    #[error("node_id {0} is already used by another backend")]
    IdConflict(String),
    /// A new node would exceed `max_nodes`; known nodes are never evicted.
    #[error("already {0} nodes, the most --max-nodes allows: no new node is taken")]
    TooManyNodes(usize),
    /// The report advertises a URL no `--allow-backend` pattern admits.
    #[error("url {0:?} is not allowed by --allow-backend")]
    NotAllowed(String),
}

/// The admin API named a node the registry does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no backend with id {0}")]
pub struct UnknownNode(pub String);

impl IngestError {
    /// A short, fixed label for `signpost_reports_rejected_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::MissingNodeId => "missing_node_id",
            IngestError::NoUrl(_) => "no_url",
            IngestError::IdConflict(_) => "id_conflict",
            IngestError::TooManyNodes(_) => "too_many_nodes",
            IngestError::NotAllowed(_) => "backend_not_allowed",
        }
    }
}

/// Every known node.
#[derive(Debug)]
pub struct Registry {
    /// Configured nodes first (their index is their poll slot), then pushed.
    nodes: Vec<Node>,
    /// Index into `nodes` of every node whose id is known.
    by_id: HashMap<Arc<str>, usize>,
    /// How many leading entries of `nodes` are configured.
    configured: usize,
    settings: Settings,
    /// Signs sticky cookies, when they are on.
    signer: Option<CookieSigner>,
    /// How the last snapshot projected loads; a load-only report is
    /// projected the same way. `None` before the first snapshot.
    basis: Option<Basis>,
    /// No pushed node can be forgotten before this instant, so [`expire`]
    /// skips its scan of a large fleet until then; `None` after a change of
    /// settings, when it must look. A lower bound: a report only moves a
    /// node's own deadline later.
    ///
    /// [`expire`]: Registry::expire
    forget_due: Option<Instant>,
}

/// The pool-wide inputs of every node's projection, fixed per snapshot.
#[derive(Debug, Clone, Copy)]
struct Basis {
    metric: Metric,
    /// Pool-wide costs, for nodes that have not learnt theirs.
    pooled: PooledCost,
    /// Health-check latency assumed for nodes not yet measured (`fastest`).
    fallback_latency: f64,
}

/// What of a node the pool snapshot depends on besides its load. A report
/// that leaves this unchanged is a [`Change::Load`].
#[derive(Debug, PartialEq)]
struct Standing {
    state: BackendState,
    weight: f64,
    base_url: Option<Arc<str>>,
}

#[derive(Debug)]
struct Node {
    /// Known from the config, or learnt from the first report.
    id: Option<Arc<str>>,
    /// The agent polled for this node, if any.
    agent: Option<String>,
    /// Overrides the report's url.
    url: Option<String>,
    /// The url in force without its trailing `/`, kept so that rebuilding
    /// a snapshot shares it instead of allocating it again.
    base_url: Option<Arc<str>>,
    weight: f64,
    backup: bool,
    /// Health check settings.
    checks: HealthConfig,
    last: Option<Received>,
    cpu: CostModel,
    connections: CostModel,
    live: Arc<Live>,
    /// Set by the admin API; wins over the report's state.
    admin: Option<NodeState>,
    health: HealthState,
    /// When the node last became eligible, for slow start.
    ready_since: Option<Instant>,
    /// The sticky cookie naming this node.
    pin: Option<Arc<PinCookie>>,
}

#[derive(Debug)]
struct Received {
    report: LoadReport,
    at: Instant,
    /// The node's redirect counter when the report arrived.
    sent: u64,
}

// === impl Registry ===

impl Registry {
    /// A registry holding the configured backends, none reported yet.
    pub fn new(
        backends: &[BackendConfig],
        settings: Settings,
        signer: Option<CookieSigner>,
    ) -> Self {
        let mut registry = Registry {
            nodes: Vec::new(),
            by_id: HashMap::new(),
            configured: 0,
            settings,
            signer,
            basis: None,
            forget_due: None,
        };
        registry.reconfigure(backends, registry.settings.clone(), registry.signer.clone());
        registry
    }

    /// Applies a new configuration (SIGHUP) without losing what is known:
    /// a configured backend that stays (same id, or same agent for id-less
    /// ones) keeps its reports, counters and health; pushed nodes stay.
    pub fn reconfigure(
        &mut self,
        backends: &[BackendConfig],
        settings: Settings,
        signer: Option<CookieSigner>,
    ) {
        let mut old: Vec<Node> = self.nodes.drain(..).collect();
        let pushed = old.split_off(self.configured);
        let mut nodes: Vec<Node> = backends
            .iter()
            .map(|config| {
                let same = |n: &Node| match &config.id {
                    Some(id) => n.id.as_deref() == Some(id.as_str()),
                    None => n.agent.is_some() && n.agent == config.agent,
                };
                match old.iter().position(same) {
                    Some(i) => old.swap_remove(i).reconfigured(config),
                    None => Node::configured(config),
                }
            })
            .collect();
        self.configured = nodes.len();
        let taken = |n: &Node| nodes.iter().any(|m| m.id.is_some() && m.id == n.id);
        let pushed: Vec<Node> = pushed.into_iter().filter(|n| !taken(n)).collect();
        nodes.extend(pushed.into_iter().map(|n| Node {
            checks: settings.health.clone(),
            ..n
        }));
        self.nodes = nodes;
        self.settings = settings;
        self.signer = signer;
        self.forget_due = None;
        for node in &mut self.nodes {
            node.pin = node
                .id
                .as_deref()
                .and_then(|id| sign(self.signer.as_ref(), id));
        }
        self.reindex();
    }

    /// The agents to poll: (slot, agent base URL).
    pub fn agents(&self) -> impl Iterator<Item = (usize, &str)> {
        self.nodes[..self.configured]
            .iter()
            .enumerate()
            .filter_map(|(slot, n)| Some((slot, n.agent.as_deref()?)))
    }

    /// Stores a validated report received at `now`.
    pub fn observe(
        &mut self,
        source: Source,
        report: LoadReport,
        now: Instant,
    ) -> Result<Observed, IngestError> {
        let index = self.attribute(source, &report)?;
        let node = &mut self.nodes[index];
        if let Some(latest) = node.last.as_ref().map(|last| &last.report)
            && is_replay(&report, latest)
        {
            return Ok(Observed::Replay {
                seq: report.seq,
                latest: latest.seq,
            });
        }
        if node.url.is_none() && report.url.is_none() {
            return Err(IngestError::NoUrl(node.display_id().to_string()));
        }
        let before = node.standing(&self.settings, now);
        let sent = node.live.sent();
        node.cpu.observe(report.cpu_percent / 100.0, sent, now);
        node.connections
            .observe(report.connections as f64, sent, now);
        node.last = Some(Received {
            report,
            at: now,
            sent,
        });
        node.refresh_base_url();
        match self.basis {
            Some(basis) if node.standing(&self.settings, now) == before => {
                node.publish(&basis, now);
                Ok(Observed::Accepted(Change::Load))
            }
            _ => Ok(Observed::Accepted(Change::Membership)),
        }
    }

    /// Folds in an active health check of node `id`; returns the new
    /// verdict when it flipped.
    pub fn observe_health(&mut self, id: &str, outcome: &Outcome) -> Option<bool> {
        let node = &mut self.nodes[*self.by_id.get(id)?];
        let (rise, fall) = (node.checks.rise, node.checks.fall);
        node.health.observe(outcome, rise, fall)
    }

    /// Sets (or, with `None`, clears) the admin override of node `id`.
    pub fn set_admin(&mut self, id: &str, state: Option<NodeState>) -> Result<(), UnknownNode> {
        let index = *self
            .by_id
            .get(id)
            .ok_or_else(|| UnknownNode(id.to_owned()))?;
        self.nodes[index].admin = state;
        Ok(())
    }

    /// What the health checker should probe now.
    pub fn health_targets(&self) -> Vec<Target> {
        self.nodes
            .iter()
            .filter_map(|node| {
                let path = node.checks.path.as_deref()?;
                let url = node.url()?;
                Some(Target {
                    id: node.id.clone()?,
                    url: format!("{}{path}", url.trim_end_matches('/')),
                    config: node.checks.clone(),
                })
            })
            .collect()
    }

    /// Forgets pushed nodes silent for `forget_after`; true if any went.
    /// Scans the fleet only once the earliest of them may be due.
    pub fn expire(&mut self, now: Instant) -> bool {
        if self.forget_due.is_some_and(|due| now < due) {
            return false;
        }
        let forget_after = self.settings.forget_after;
        let before = self.nodes.len();
        let mut index = 0;
        self.nodes.retain(|node| {
            index += 1;
            index <= self.configured || !node.silent_for(forget_after, now)
        });
        // A node pushing for the first time later is due later than that.
        self.forget_due = self.nodes[self.configured..]
            .iter()
            .map(|node| {
                node.last
                    .as_ref()
                    .map_or(now, |last| last.at + forget_after)
            })
            .min()
            .or(Some(now + forget_after));
        if self.nodes.len() == before {
            return false;
        }
        // A forgotten flood of nodes hands its slots back (issue #15).
        if self.nodes.capacity() > 2 * self.nodes.len() {
            self.nodes.shrink_to_fit();
        }
        self.reindex();
        true
    }

    /// The next instant at which the pool must be rebuilt: a node goes
    /// stale, is forgotten, takes its next slow-start step, or has drained
    /// more of its backlog.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let Settings {
            stale_after,
            forget_after,
            slow_start,
            ..
        } = self.settings;
        let ramping = self.nodes.iter().any(|n| n.ramp(slow_start, now) < 1.0);
        let ramp_step =
            ramping.then(|| now + (slow_start / RAMP_STEPS).max(Duration::from_millis(10)));
        let expiries = self.nodes.iter().enumerate().filter_map(|(i, node)| {
            let at = node.last.as_ref()?.at;
            let pushed = i >= self.configured;
            [Some(at + stale_after), pushed.then_some(at + forget_after)]
                .into_iter()
                .flatten()
                .find(|&deadline| deadline > now)
        });
        let projecting_cpu = self.basis.is_some_and(|b| b.metric == Metric::Cpu);
        let in_pool = |n: &Node| {
            matches!(
                n.state(stale_after, now),
                BackendState::Ready | BackendState::Draining
            )
        };
        let draining = projecting_cpu
            && self
                .nodes
                .iter()
                .any(|n| n.cpu.drains_with_time() && in_pool(n));
        let drain_step = draining.then_some(now + BACKLOG_REFRESH);
        expiries.chain(ramp_step).chain(drain_step).min()
    }

    /// The backends clients may be sent to at `now`, with the load of
    /// `metric` projected. Also notes when nodes became eligible, for slow
    /// start.
    pub fn members(&mut self, now: Instant, metric: Metric) -> Members {
        let stale_after = self.settings.stale_after;
        let basis = Basis {
            metric,
            pooled: self.pooled_cost(metric),
            fallback_latency: match metric {
                Metric::Latency => self.mean_latency(),
                Metric::Cpu | Metric::Connections => 0.0,
            },
        };
        self.basis = Some(basis);
        let mut members = Members::default();
        let (mut primaries, mut backups) = (Vec::new(), Vec::new());
        for index in 0..self.nodes.len() {
            let node = &mut self.nodes[index];
            let state = node.state(stale_after, now);
            node.ready_since = match (state == BackendState::Ready, node.ready_since) {
                (true, None) => Some(now),
                (true, since) => since,
                (false, _) => None,
            };
            // Only nodes that may take clients cost a `Backend`: a fleet
            // with thousands stale or in maintenance rebuilds as fast as
            // its eligible part.
            let list = match (state, node.backup) {
                (BackendState::Ready, false) => &mut primaries,
                (BackendState::Ready, true) => &mut backups,
                (BackendState::Draining, _) => &mut members.draining,
                _ => continue,
            };
            list.extend(self.backend(&self.nodes[index], &basis, now));
        }
        members.on_backups = primaries.is_empty() && !backups.is_empty();
        members.active = if members.on_backups {
            backups
        } else {
            primaries
        };
        members
    }

    /// Every node as the dashboard shows it, ordered by id. `eligible` are
    /// the ids in the current pool.
    pub fn views(&self, now: Instant, eligible: &dyn Fn(&str) -> bool) -> Vec<BackendView> {
        let cpu = self.view_basis();
        let mut views: Vec<BackendView> = self
            .nodes
            .iter()
            .map(|node| self.view(node, now, eligible, &cpu))
            .collect();
        views.sort_by(|a, b| a.id.cmp(&b.id));
        views
    }

    /// Node `id` as the dashboard shows it, without building the rest.
    pub fn view_of(
        &self,
        id: &str,
        now: Instant,
        eligible: &dyn Fn(&str) -> bool,
    ) -> Result<BackendView, UnknownNode> {
        let index = *self
            .by_id
            .get(id)
            .ok_or_else(|| UnknownNode(id.to_owned()))?;
        Ok(self.view(&self.nodes[index], now, eligible, &self.view_basis()))
    }

    /// The dashboard shows the CPU projection, whatever the strategy.
    fn view_basis(&self) -> Basis {
        Basis {
            metric: Metric::Cpu,
            pooled: self.pooled_cost(Metric::Cpu),
            fallback_latency: 0.0,
        }
    }

    /// Finds (or, for a push from a new node, creates) the node a report
    /// belongs to, learning its id on the first report.
    fn attribute(&mut self, source: Source, report: &LoadReport) -> Result<usize, IngestError> {
        match source {
            Source::Poll(slot) => {
                if self.nodes[slot].id.is_none() {
                    let id = self.learnt_id(slot, report);
                    if self.by_id.contains_key(id.as_str()) {
                        return Err(IngestError::IdConflict(id));
                    }
                    let pin = sign(self.signer.as_ref(), &id);
                    let id: Arc<str> = id.into();
                    self.by_id.insert(id.clone(), slot);
                    self.nodes[slot].id = Some(id);
                    self.nodes[slot].pin = pin;
                }
                Ok(slot)
            }
            Source::Push if report.node_id.is_empty() => Err(IngestError::MissingNodeId),
            Source::Push => match self.by_id.get(report.node_id.as_str()) {
                Some(&index) => Ok(index),
                // Checked before the node exists, so a refused push leaves no trace.
                None if report.url.is_none() => Err(IngestError::NoUrl(report.node_id.clone())),
                None if self.nodes.len() >= self.settings.max_nodes => {
                    Err(IngestError::TooManyNodes(self.settings.max_nodes))
                }
                None => Ok(self.add_pushed(&report.node_id)),
            },
        }
    }

    /// The id a polled node takes: the report's, or for seed-style reports
    /// (which carry none) the agent's host and port.
    fn learnt_id(&self, slot: usize, report: &LoadReport) -> String {
        if !report.node_id.is_empty() {
            return report.node_id.clone();
        }
        let agent = self.nodes[slot].agent.as_deref().unwrap_or_default();
        url::Url::parse(agent)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            .unwrap_or_else(|| format!("agent-{slot}"))
    }

    fn add_pushed(&mut self, id: &str) -> usize {
        let pin = sign(self.signer.as_ref(), id);
        let id: Arc<str> = id.into();
        self.nodes.push(Node {
            id: Some(id.clone()),
            checks: self.settings.health.clone(),
            pin,
            ..Node::empty()
        });
        self.by_id.insert(id, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    fn reindex(&mut self) {
        self.by_id = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.id.clone()?, i)))
            .collect();
    }

    fn pooled_cost(&self, metric: Metric) -> PooledCost {
        let mut pooled = PooledCost::default();
        for node in &self.nodes {
            if let Some(model) = node.cost_model(metric) {
                model.add_to(&mut pooled);
            }
        }
        pooled
    }

    /// Mean health-check latency, in seconds, stood in for nodes not yet
    /// measured so `fastest` neither shuns nor floods them.
    fn mean_latency(&self) -> f64 {
        let (sum, count) = self
            .nodes
            .iter()
            .filter_map(|n| n.health.latency())
            .fold((0.0, 0u32), |(sum, count), l| {
                (sum + l.as_secs_f64(), count + 1)
            });
        if count == 0 {
            0.0
        } else {
            sum / f64::from(count)
        }
    }

    /// The node as a pool member (whatever its state), if it has reported
    /// and has a URL; its projection at `now` is published on the way.
    fn backend(&self, node: &Node, basis: &Basis, now: Instant) -> Option<Backend> {
        node.publish(basis, now);
        let ramp = node.ramp(self.settings.slow_start, now);
        Some(Backend {
            id: node.id.clone()?,
            base_url: node.base_url.clone()?,
            weight: node.effective_weight(self.settings.mem_high_water) * ramp,
            live: node.live.clone(),
            pin: node.pin.clone(),
        })
    }

    fn view(
        &self,
        node: &Node,
        now: Instant,
        eligible: &dyn Fn(&str) -> bool,
        cpu: &Basis,
    ) -> BackendView {
        let state = node.state(self.settings.stale_after, now);
        let report = node.last.as_ref().map(|last| &last.report);
        let id = node.display_id();
        let in_pool = eligible(&id);
        let ramp = node.ramp(self.settings.slow_start, now);
        BackendView {
            url: node.url().unwrap_or_default().to_owned(),
            state,
            eligible: in_pool,
            backup: node.backup,
            cpu_percent: report.map_or(0.0, |r| r.cpu_percent),
            mem_percent: report.map_or(0.0, |r| r.mem_percent),
            connections: report.map_or(0, |r| r.connections),
            weight: node.weight * report.map_or(1.0, |r| r.weight),
            effective_weight: if in_pool {
                node.effective_weight(self.settings.mem_high_water) * ramp
            } else {
                0.0
            },
            projected_load: node
                .projection(cpu, now)
                .map_or(0.0, |projection| projection.at(node.live.sent()).0),
            report_age_ms: node
                .last
                .as_ref()
                .map(|last| now.saturating_duration_since(last.at).as_millis() as u64),
            redirects_total: node.live.sent(),
            health: node.health_view(),
            agent_version: report.map(|r| r.agent_version.clone()).unwrap_or_default(),
            id: id.to_string(),
        }
    }
}

/// The sticky cookie of `id`, when cookies are on.
fn sign(signer: Option<&CookieSigner>, id: &str) -> Option<Arc<PinCookie>> {
    signer?.pin(id).map(Arc::new)
}

/// True if `report` is not newer than `latest`. A restarted agent counts
/// from 1 again but samples later, so a lower `seq` with a later
/// `sampled_at_ms` is a restart, not a replay. Unsequenced reports (seq 0)
/// are never replays.
fn is_replay(report: &LoadReport, latest: &LoadReport) -> bool {
    report.seq != 0
        && latest.seq != 0
        && report.seq <= latest.seq
        && report.sampled_at_ms <= latest.sampled_at_ms
}

// === impl Node ===

impl Node {
    fn empty() -> Self {
        Node {
            id: None,
            agent: None,
            url: None,
            base_url: None,
            weight: 1.0,
            backup: false,
            checks: HealthConfig::default(),
            last: None,
            cpu: CostModel::utilisation(),
            connections: CostModel::level(),
            live: Arc::default(),
            admin: None,
            health: HealthState::default(),
            ready_since: None,
            pin: None,
        }
    }

    fn configured(config: &BackendConfig) -> Self {
        Node {
            id: config.id.as_deref().map(Arc::from),
            ..Node::empty().reconfigured(config)
        }
    }

    /// This node with `config`'s settings, keeping what it learnt.
    fn reconfigured(self, config: &BackendConfig) -> Self {
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
    fn refresh_base_url(&mut self) {
        let wanted = self.url().map(|url| url.trim_end_matches('/'));
        if self.base_url.as_deref() != wanted {
            self.base_url = wanted.map(Arc::from);
        }
    }

    /// The configured URL, else the reported one.
    fn url(&self) -> Option<&str> {
        let reported = self
            .last
            .as_ref()
            .and_then(|last| last.report.url.as_deref());
        self.url.as_deref().or(reported)
    }

    /// Makes this node's projection under `basis` at `now` the one every
    /// snapshot reads, if it has reported.
    fn publish(&self, basis: &Basis, now: Instant) {
        if let Some(projection) = self.projection(basis, now) {
            self.live.publish(projection);
        }
    }

    /// This node's load under `basis` at `now`, projected from its last
    /// report; `None` before the first.
    fn projection(&self, basis: &Basis, now: Instant) -> Option<Projection> {
        let last = self.last.as_ref()?;
        let projection = match basis.metric {
            Metric::Cpu => self.cpu.project(
                last.report.cpu_percent / 100.0,
                last.sent,
                basis.pooled,
                now,
            ),
            Metric::Connections => self.connections.project(
                last.report.connections as f64,
                last.sent,
                basis.pooled,
                now,
            ),
            Metric::Latency => {
                let latency = self.health.latency().map(|l| l.as_secs_f64());
                Projection {
                    base: latency.unwrap_or(basis.fallback_latency),
                    sent_at_report: last.sent,
                    cost: 0.0,
                }
            }
        };
        Some(projection)
    }

    /// Everything but the load that decides whether and how the node
    /// takes clients at `now`.
    fn standing(&self, settings: &Settings, now: Instant) -> Standing {
        Standing {
            state: self.state(settings.stale_after, now),
            weight: self.effective_weight(settings.mem_high_water),
            base_url: self.base_url.clone(),
        }
    }

    /// The id, or the agent URL while the node has not reported yet.
    fn display_id(&self) -> Arc<str> {
        match (&self.id, &self.agent) {
            (Some(id), _) => id.clone(),
            (None, Some(agent)) => agent.as_str().into(),
            (None, None) => "".into(),
        }
    }

    /// The dispatcher's verdict at `now`, worst reason first.
    fn state(&self, stale_after: Duration, now: Instant) -> BackendState {
        let Some(last) = &self.last else {
            return BackendState::Stale;
        };
        if now.saturating_duration_since(last.at) >= stale_after {
            return BackendState::Stale;
        }
        if !last.report.healthy || !self.health.passing() {
            return BackendState::Down;
        }
        match self.admin.unwrap_or(last.report.state) {
            NodeState::Maintenance => BackendState::Maintenance,
            NodeState::Draining => BackendState::Draining,
            NodeState::Ready => BackendState::Ready,
        }
    }

    /// Failing if the agent's probe or an active check fails; unknown
    /// until the first report and, with active checks, the first check.
    fn health_view(&self) -> Health {
        let awaiting_check = self.checks.path.is_some() && !self.health.checked();
        match &self.last {
            Some(last) if !last.report.healthy || !self.health.passing() => Health::Failing,
            Some(_) if awaiting_check => Health::Unknown,
            Some(_) => Health::Passing,
            None => Health::Unknown,
        }
    }

    /// Share of its weight the node has ramped up to at `now`.
    fn ramp(&self, slow_start: Duration, now: Instant) -> f64 {
        match self.ready_since {
            Some(since) if !slow_start.is_zero() => {
                let elapsed = now.saturating_duration_since(since).as_secs_f64();
                (elapsed / slow_start.as_secs_f64()).clamp(RAMP_FLOOR, 1.0)
            }
            _ => 1.0,
        }
    }

    fn silent_for(&self, period: Duration, now: Instant) -> bool {
        self.last
            .as_ref()
            .is_none_or(|last| now.saturating_duration_since(last.at) >= period)
    }

    /// Static weight × reported weight, halved under memory pressure.
    fn effective_weight(&self, mem_high_water: f64) -> f64 {
        let Some(last) = &self.last else {
            return self.weight;
        };
        let pressure = if last.report.mem_percent > mem_high_water {
            MEMORY_PRESSURE_FACTOR
        } else {
            1.0
        };
        self.weight * last.report.weight * pressure
    }

    fn cost_model(&self, metric: Metric) -> Option<&CostModel> {
        match metric {
            Metric::Cpu => Some(&self.cpu),
            Metric::Connections => Some(&self.connections),
            Metric::Latency => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
