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
//! The rooms: this file is the node table; [`ingest`] files a report
//! under its node (attribution, replays, what it changed); [`node`] one node
//! and its verdicts; [`members`] who may take clients (slow start, weights,
//! capacities); [`views`] the dashboard's view; [`health`] the verdict of
//! active checks; [`outlier`] passive health (a node's own error rate and
//! latency: weight penalty and ejection).

mod health;
mod ingest;
mod members;
mod node;
mod outlier;
mod views;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use signpost_shared::NodeState;
use tokio::time::Instant;

pub use health::{CheckResult, HealthState, Target};
pub use ingest::{Change, IngestError, Observed, Source};
pub use node::MEMORY_PRESSURE_FACTOR;
use node::Node;
pub use outlier::{Reason, penalty};

use crate::config::{BackendConfig, HealthConfig, OutlierConfig};
use crate::load::{PoolBacklog, Projector};
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

/// The admin API named a node the registry does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no backend with id {0}")]
pub struct UnknownNode(pub String);

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
    /// When the last snapshot set the pace and shares in force, up to
    /// which every node's [`Node::named`](node::Node::named) is summed.
    named_until: Option<Instant>,
    /// The connections and shares that turns owed for a backlog are
    /// reckoned against ([`Node::backlog_count`]): summed at each snapshot,
    /// kept up to date by each report, so a report costs O(1), not a scan
    /// of the fleet.
    backlog: PoolBacklog,
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
            named_until: None,
            backlog: PoolBacklog::default(),
            forget_due: None,
            fail_open: false,
        };
        registry.reconfigure(backends, registry.settings.clone(), registry.signer.clone());
        registry
    }

    /// What `node`'s shares have named it for up to `now`: its sums to
    /// the last snapshot carried on at that snapshot's pace and its share.
    fn named_at(&self, node: &Node, now: Instant) -> node::Named {
        let (pace, seconds) = self.naming_since_snapshot(now);
        node.named.after(pace, node.share, seconds)
    }

    /// The pace set by the last snapshot, and the seconds from it to `now`.
    fn naming_since_snapshot(&self, now: Instant) -> (f64, f64) {
        let pace = self.projector.as_ref().map_or(0.0, |p| p.pace);
        let seconds = self.named_until.map_or(0.0, |until| {
            now.saturating_duration_since(until).as_secs_f64()
        });
        (pace, seconds)
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

#[cfg(test)]
pub(crate) mod tests;
