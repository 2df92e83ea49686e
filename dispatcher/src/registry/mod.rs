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
//!
//! The rooms: this file is the node table and ingest; [`node`] one node
//! and its verdicts; [`members`] who may take clients (slow start, weights,
//! capacities); [`views`] the dashboard's view; [`health`] the verdict of
//! active checks; [`outlier`] passive health (a node's own error rate and
//! latency: weight penalty and ejection).

mod health;
mod members;
mod node;
mod outlier;
mod views;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use signpost_shared::{LoadReport, NodeState};
use tokio::time::Instant;

pub use health::{CheckResult, HealthState, Target};
pub use node::MEMORY_PRESSURE_FACTOR;
use node::{Node, Received};
pub use outlier::{Reason, penalty};

use crate::config::{BackendConfig, HealthConfig, OutlierConfig};
use crate::load::Projector;
use crate::sticky::{CookieSigner, PinCookie};

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
    /// Passive health thresholds and ejection times.
    pub outlier: OutlierConfig,
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
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Stored.
    Accepted(Change),
    /// Stored, and it made node `.0` an outlier that is now ejected.
    Ejected(Arc<str>, Reason),
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
    projector: Option<Projector>,
    /// The instant projections count seconds from: the first snapshot's.
    epoch: Option<Instant>,
    /// The ready nodes' mean smoothed CPU utilisation at the last
    /// snapshot, which reports correct capacities towards.
    mean_busy: Option<f64>,
    /// No pushed node can be forgotten before this instant, so [`expire`]
    /// skips its scan of a large fleet until then; `None` after a change of
    /// settings, when it must look. A lower bound: a report only moves a
    /// node's own deadline later.
    ///
    /// [`expire`]: Registry::expire
    forget_due: Option<Instant>,
    /// At the last snapshot every candidate was an outlier, so clients go
    /// to the least bad (fail open).
    fail_open: bool,
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
            projector: None,
            epoch: None,
            mean_busy: None,
            forget_due: None,
            fail_open: false,
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
        if let Some(last) = &node.last
            && is_replay(&report, &last.report)
            && !restarted_after_silence(&report, last, self.settings.stale_after, now)
        {
            return Ok(Observed::Replay {
                seq: report.seq,
                latest: last.report.seq,
            });
        }
        if node.url.is_none() && report.url.is_none() {
            return Err(IngestError::NoUrl(node.display_id().to_string()));
        }
        let before = node.membership(&self.settings, now);
        let sent = node.load.redirects();
        node.models
            .cpu
            .observe(report.cpu_percent / 100.0, sent, now);
        node.models
            .connections
            .observe(report.connections as f64, sent, now);
        let elapsed = node.last.as_ref().map_or(0.0, |last| {
            now.saturating_duration_since(last.at).as_secs_f64()
        });
        node.models
            .capacity
            .observe(report.cpu_percent / 100.0, elapsed);
        let gap = Duration::from_secs_f64(elapsed).min(self.settings.stale_after);
        node.outlier.observe(&report, gap, now);
        if let Some(mean) = self.mean_busy {
            node.models.capacity.correct(mean);
        }
        node.last = Some(Received {
            report,
            at: now,
            sent,
        });
        node.refresh_base_url();
        if let Some(reason) = self.judge(index, now) {
            return Ok(Observed::Ejected(self.nodes[index].display_id(), reason));
        }
        let node = &self.nodes[index];
        match self.projector {
            Some(projector) if node.membership(&self.settings, now) == before => {
                node.publish(&projector);
                Ok(Observed::Accepted(Change::Load))
            }
            _ => Ok(Observed::Accepted(Change::Membership)),
        }
    }

    /// Folds in an active health check of node `id`; returns the new
    /// verdict when it flipped.
    pub fn observe_health(&mut self, id: &str, result: &CheckResult) -> Option<bool> {
        let node = &mut self.nodes[*self.by_id.get(id)?];
        let (rise, fall) = (node.checks.rise, node.checks.fall);
        node.health.observe(result, rise, fall)
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
}

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

/// True if `report` counts from a lower `seq` than `last` after the node
/// has been silent for `stale_after`: its agent restarted, whatever its
/// clock says. One whose clock went back an hour over the restart would
/// otherwise stay out until its new `seq` caught up with the old one.
/// Reordering never reaches that far back, and an unchanged `seq` (a
/// stuck sampler answering polls) is still a replay.
fn restarted_after_silence(
    report: &LoadReport,
    last: &Received,
    stale_after: Duration,
    now: Instant,
) -> bool {
    report.seq < last.report.seq && now.saturating_duration_since(last.at) >= stale_after
}

#[cfg(test)]
pub(crate) mod tests;
