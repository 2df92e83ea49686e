//! Ingest: which node a report belongs to (learning a polled node's id,
//! creating a pushed one), whether it is a replay, and what storing it
//! changed — which tells the maintenance loop how soon to rebuild.

use std::sync::Arc;
use std::time::Duration;

use signpost_shared::LoadReport;
use tokio::time::Instant;

use super::node::{Node, Received};
use super::outlier::Reason;
use super::{Registry, sign};

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

// === impl Registry ===

impl Registry {
    /// Stores a validated report received at `now`.
    pub fn observe(
        &mut self,
        source: Source,
        report: LoadReport,
        now: Instant,
    ) -> Result<Observed, IngestError> {
        let index = self.attribute(source, &report)?;
        let named_now = self.named_at(&self.nodes[index], now);
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
        let counted_before = node.backlog_count();
        let sent = node.load.redirects();
        node.models
            .cpu
            .observe(report.cpu_percent / 100.0, sent, report.connections, now);
        node.models
            .connections
            .observe(report.connections as f64, sent, report.connections, now);
        let elapsed = node.last.as_ref().map_or(0.0, |last| {
            now.saturating_duration_since(last.at).as_secs_f64()
        });
        let received = node
            .last
            .as_ref()
            .map_or(0, |last| sent.saturating_sub(last.sent));
        let named = node
            .last
            .as_ref()
            .map_or(0.0, |last| named_now.since(last.named, elapsed));
        node.models.capacity.report(
            report.cpu_percent / 100.0,
            elapsed,
            received as f64,
            named,
            report.connections,
        );
        let gap = Duration::from_secs_f64(elapsed).min(self.settings.stale_after);
        node.outlier.observe(&report, gap, now);
        node.last = Some(Received {
            report,
            at: now,
            sent,
            named: named_now,
        });
        node.refresh_base_url();
        self.note_backlog(index, counted_before);
        if let Some(reason) = self.judge(index, now) {
            return Ok(Observed::Ejected(self.nodes[index].display_id(), reason));
        }
        let node = &self.nodes[index];
        match self.projector {
            Some(projector) if node.membership(&self.settings, now) == before => {
                node.publish(&projector, self.settings.stale_after);
                Ok(Observed::Accepted(Change::Load))
            }
            _ => Ok(Observed::Accepted(Change::Membership)),
        }
    }

    /// Sets the turns node `index` owes the pool from its latest report,
    /// which replaced the count it had `before` in the pool's sums: its
    /// connections past its share's part of the pool's ([`PoolBacklog`](crate::load::PoolBacklog)).
    fn note_backlog(&mut self, index: usize, before: Option<(u64, f64)>) {
        let node = &self.nodes[index];
        if let Some((connections, share)) = before {
            self.backlog.remove(connections, share);
        }
        let owed = node.backlog_count().map_or(0, |(connections, share)| {
            self.backlog.add(connections, share);
            self.backlog.owed(connections, share)
        });
        node.load.owe_turns(owed);
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
