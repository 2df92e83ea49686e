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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use signpost_shared::{BackendState, BackendView, Health, LoadReport, NodeState};
use tokio::time::Instant;

use crate::config::BackendConfig;
use crate::load::{CostModel, PooledCost, Projection};
use crate::pool::{Backend, Live, Pool};
use crate::select::{Metric, Strategy};

/// Memory above the high-water mark halves a node's weight.
const MEMORY_PRESSURE_FACTOR: f64 = 0.5;

/// Timing and weighting rules the registry applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// A report older than this, by the dispatcher's clock, is stale.
    pub stale_after: Duration,
    /// A pushed node silent this long is forgotten.
    pub forget_after: Duration,
    /// Memory percentage above which weight is halved.
    pub mem_high_water: f64,
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
    /// Stored; the pool must be rebuilt.
    Accepted,
    /// Older than or equal to what is stored: ignored, nothing changed.
    Replay {
        /// The sequence number received.
        seq: u64,
        /// The sequence number already stored.
        latest: u64,
    },
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
}

impl IngestError {
    /// A short, fixed label for `signpost_reports_rejected_total{reason}`.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::MissingNodeId => "missing_node_id",
            IngestError::NoUrl(_) => "no_url",
            IngestError::IdConflict(_) => "id_conflict",
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
}

#[derive(Debug)]
struct Node {
    /// Known from the config, or learnt from the first report.
    id: Option<Arc<str>>,
    /// The agent polled for this node, if any.
    agent: Option<String>,
    /// Overrides the report's url.
    url: Option<String>,
    weight: f64,
    backup: bool,
    last: Option<Received>,
    cpu: CostModel,
    connections: CostModel,
    live: Arc<Live>,
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
    pub fn new(backends: &[BackendConfig], settings: Settings) -> Self {
        let nodes: Vec<Node> = backends.iter().map(Node::configured).collect();
        let by_id = nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.id.clone()?, i)))
            .collect();
        Registry {
            configured: nodes.len(),
            nodes,
            by_id,
            settings,
        }
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
        let sent = node.live.sent();
        node.cpu.observe(report.cpu_percent / 100.0, sent);
        node.connections.observe(report.connections as f64, sent);
        node.last = Some(Received {
            report,
            at: now,
            sent,
        });
        Ok(Observed::Accepted)
    }

    /// Forgets pushed nodes silent for `forget_after`; true if any went.
    pub fn expire(&mut self, now: Instant) -> bool {
        let forget_after = self.settings.forget_after;
        let before = self.nodes.len();
        let mut index = 0;
        self.nodes.retain(|node| {
            index += 1;
            index <= self.configured || !node.silent_for(forget_after, now)
        });
        if self.nodes.len() == before {
            return false;
        }
        self.reindex();
        true
    }

    /// The next instant at which a node goes stale or is forgotten, so the
    /// maintenance loop can sleep exactly until then.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let Settings {
            stale_after,
            forget_after,
            ..
        } = self.settings;
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, node)| {
                let at = node.last.as_ref()?.at;
                let pushed = i >= self.configured;
                [Some(at + stale_after), pushed.then_some(at + forget_after)]
                    .into_iter()
                    .flatten()
                    .find(|&deadline| deadline > now)
            })
            .min()
    }

    /// The immutable pool of backends eligible at `now`.
    pub fn snapshot(&self, now: Instant, strategy: &Strategy) -> Pool {
        let metric = strategy.metric();
        let pooled = self.pooled_cost(metric);
        let (mut primaries, mut backups) = (Vec::new(), Vec::new());
        for node in &self.nodes {
            if let Some(backend) = self.backend(node, metric, pooled, now) {
                if node.backup {
                    backups.push(backend);
                } else {
                    primaries.push(backend);
                }
            }
        }
        if primaries.is_empty() && !backups.is_empty() {
            Pool::new(backups, true, strategy)
        } else {
            Pool::new(primaries, false, strategy)
        }
    }

    /// Every node as the dashboard shows it, ordered by id.
    pub fn views(&self, now: Instant, pool: &Pool) -> Vec<BackendView> {
        let pooled = self.pooled_cost(Metric::Cpu);
        let mut views: Vec<BackendView> = self
            .nodes
            .iter()
            .map(|node| self.view(node, now, pool, pooled))
            .collect();
        views.sort_by(|a, b| a.id.cmp(&b.id));
        views
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
                    let id: Arc<str> = id.into();
                    self.by_id.insert(id.clone(), slot);
                    self.nodes[slot].id = Some(id);
                }
                Ok(slot)
            }
            Source::Push if report.node_id.is_empty() => Err(IngestError::MissingNodeId),
            Source::Push => match self.by_id.get(report.node_id.as_str()) {
                Some(&index) => Ok(index),
                // Checked before the node exists, so a refused push leaves no trace.
                None if report.url.is_none() => Err(IngestError::NoUrl(report.node_id.clone())),
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
        let id: Arc<str> = id.into();
        self.nodes.push(Node {
            id: Some(id.clone()),
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

    fn pooled_cost(&self, metric: Metric) -> f64 {
        let mut pooled = PooledCost::default();
        for node in &self.nodes {
            node.cost_model(metric).add_to(&mut pooled);
        }
        pooled.cost()
    }

    /// The node as a pool member, if it is eligible at `now`.
    fn backend(&self, node: &Node, metric: Metric, pooled: f64, now: Instant) -> Option<Backend> {
        if node.state(self.settings.stale_after, now) != BackendState::Ready {
            return None;
        }
        let last = node.last.as_ref()?;
        let url = node.url.as_deref().or(last.report.url.as_deref())?;
        let base = match metric {
            Metric::Cpu => last.report.cpu_percent / 100.0,
            Metric::Connections => last.report.connections as f64,
        };
        Some(Backend {
            id: node.id.clone()?,
            base_url: url.trim_end_matches('/').into(),
            weight: node.effective_weight(self.settings.mem_high_water),
            load: Projection {
                base,
                sent_at_report: last.sent,
                cost: node.cost_model(metric).cost(pooled),
            },
            live: node.live.clone(),
        })
    }

    fn view(&self, node: &Node, now: Instant, pool: &Pool, pooled: f64) -> BackendView {
        let state = node.state(self.settings.stale_after, now);
        let report = node.last.as_ref().map(|last| &last.report);
        let id = node.display_id();
        let in_pool = pool.backends().iter().any(|b| *b.id == *id);
        BackendView {
            url: node
                .url
                .clone()
                .or_else(|| report.and_then(|r| r.url.clone()))
                .unwrap_or_default(),
            state,
            eligible: in_pool,
            backup: node.backup,
            cpu_percent: report.map_or(0.0, |r| r.cpu_percent),
            mem_percent: report.map_or(0.0, |r| r.mem_percent),
            connections: report.map_or(0, |r| r.connections),
            weight: node.weight * report.map_or(1.0, |r| r.weight),
            effective_weight: if in_pool {
                node.effective_weight(self.settings.mem_high_water)
            } else {
                0.0
            },
            projected_load: node.last.as_ref().map_or(0.0, |last| {
                let projection = Projection {
                    base: last.report.cpu_percent / 100.0,
                    sent_at_report: last.sent,
                    cost: node.cpu.cost(pooled),
                };
                projection.at(node.live.sent()).0
            }),
            report_age_ms: node
                .last
                .as_ref()
                .map(|last| now.saturating_duration_since(last.at).as_millis() as u64),
            redirects_total: node.live.sent(),
            health: match report {
                None => Health::Unknown,
                Some(r) if r.healthy => Health::Passing,
                Some(_) => Health::Failing,
            },
            agent_version: report.map(|r| r.agent_version.clone()).unwrap_or_default(),
            id: id.to_string(),
        }
    }
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
            weight: 1.0,
            backup: false,
            last: None,
            cpu: CostModel::default(),
            connections: CostModel::default(),
            live: Arc::default(),
        }
    }

    fn configured(config: &BackendConfig) -> Self {
        Node {
            id: config.id.as_deref().map(Arc::from),
            agent: config.agent.clone(),
            url: config.url.clone(),
            weight: config.weight,
            backup: config.backup,
            ..Node::empty()
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
        if !last.report.healthy {
            return BackendState::Down;
        }
        match last.report.state {
            NodeState::Maintenance => BackendState::Maintenance,
            NodeState::Draining => BackendState::Draining,
            NodeState::Ready => BackendState::Ready,
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

    fn cost_model(&self, metric: Metric) -> &CostModel {
        match metric {
            Metric::Cpu => &self.cpu,
            Metric::Connections => &self.connections,
        }
    }
}

#[cfg(test)]
mod tests;
