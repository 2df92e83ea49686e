//! Membership: which nodes may take clients at an instant, as [`Backend`]s
//! with their weights, slow-start ramps and learnt capacities — and when
//! that answer next changes by itself.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use signpost_shared::BackendState;
use tokio::time::Instant;

use super::node::Node;
use super::{Registry, Settings};
use crate::backend::{Backend, Members};
use crate::load::{Metric, PoolBusy, Projector, StepMove, StepScatter};

/// Snapshots are rebuilt this many times over a slow start, so the ramp is
/// smooth without rebuilding continuously.
const RAMP_STEPS: u32 = 20;

// === impl Registry ===

impl Registry {
    /// The next instant at which the pool must be rebuilt: a node goes
    /// stale, is forgotten, or takes its next slow-start step. (A backlog
    /// needs no rebuilds: projections drain with the clock of each pick.)
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
        let returns = self
            .nodes
            .iter()
            .filter_map(|n| n.outlier.until())
            .filter(|&until| until > now);
        expiries.chain(ramp_step).chain(returns).min()
    }

    /// The backends clients may be sent to at `now`, with the load of
    /// `metric` projected. Also notes when nodes became eligible, for slow
    /// start, and updates their learnt capacities.
    pub fn members(&mut self, now: Instant, metric: Metric) -> Members {
        let stale_after = self.settings.stale_after;
        let epoch = *self.epoch.get_or_insert(now);
        // What the pace and shares about to change named each node so far.
        let (pace, seconds) = self.naming_since_snapshot(now);
        for node in &mut self.nodes {
            node.named = node.named.after(pace, node.share, seconds);
        }
        self.named_until = Some(now);
        let projector = Projector::new(
            metric,
            self.nodes.iter().map(|n| (&n.models, n.share)),
            self.nodes.iter().filter_map(|n| n.health.latency()),
            epoch,
        );
        let projector = projector.with_shares(self.note_shares(now, metric));
        self.projector = Some(projector);
        let mut members = Members {
            epoch: Some(epoch),
            ..Members::default()
        };
        let (mut primaries, mut backups) = (Vec::new(), Vec::new());
        // Passive health: outliers among them, and the ejected nodes,
        // which serve only when the pool fails open.
        let (mut bad_primaries, mut bad_backups) = (0, 0);
        let (mut ejected, mut ejected_backups) = (Vec::new(), Vec::new());
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
            let backup = node.backup;
            let list = match (state, backup) {
                (BackendState::Ready, false) => &mut primaries,
                (BackendState::Ready, true) => &mut backups,
                (BackendState::Draining, _) => &mut members.draining,
                (BackendState::Ejected, false) => &mut ejected,
                (BackendState::Ejected, true) => &mut ejected_backups,
                _ => continue,
            };
            list.extend(self.backend(&self.nodes[index], &projector, now));
            if state == BackendState::Ready && self.is_bad(index, now) {
                *(if backup {
                    &mut bad_backups
                } else {
                    &mut bad_primaries
                }) += 1;
            }
        }
        let any_bad = bad_primaries + bad_backups + ejected.len() + ejected_backups.len() > 0;
        self.fail_open = false;
        let (active, on_backups) = if primaries.len() > bad_primaries {
            (primaries, false)
        } else if backups.len() > bad_backups {
            // Every primary is an outlier, or none is eligible: backups
            // serve.
            (backups, true)
        } else if !any_bad {
            (primaries, false)
        } else {
            self.fail_open = true;
            // Everything is bad: fail open to the least bad — outliers
            // not ejected (their weights carry the error penalty), else
            // the ejected ones themselves.
            [(primaries, false), (backups, true), (ejected, false)]
                .into_iter()
                .find(|(list, _)| !list.is_empty())
                .unwrap_or((ejected_backups, true))
        };
        members.on_backups = on_backups;
        members.active = active;
        members
    }

    /// Prepares every node's share of new clients at `now` and returns
    /// their sum (`note_shares`): a pass to survey the ready nodes, then
    /// the rest in turn — the pool's utilisation that reports correct
    /// capacity steps towards ([`PoolBusy`]; CPU only); once it lends one,
    /// the median node's measured speed that every ready node's step
    /// follows at once ([`CapacityStep::follow_speed`](crate::load::CapacityStep::follow_speed)); the
    /// overloaded nodes cut to what they complete
    /// ([`CapacityStep::cut_overload`](crate::load::CapacityStep::cut_overload)), or
    /// hot ones to what `least-load` really sent them
    /// ([`CapacityStep::cut_to_sent`](crate::load::CapacityStep::cut_to_sent)),
    /// or backlogged ones by their connections alone
    /// ([`CapacityStep::cut_backlogged`](crate::load::CapacityStep::cut_backlogged)) —
    /// after any cut of the first two, a node saturated since its first report at a lower
    /// bar ([`CapacityStep::cut_overload_beside`](crate::load::CapacityStep::cut_overload_beside)) —
    /// the others yet to take their first correction taking that as it; every
    /// other node reported since the last pass corrected against this
    /// survey ([`CapacityStep::correct_on_report`](crate::load::CapacityStep::correct_on_report)),
    /// its reports' scatter taken as at least that of the settled nodes at
    /// its step ([`StepScatter`]); the steps
    /// re-centred on their median — corrections are noisier upwards (a
    /// utilisation cannot exceed 1), so uncentred steps drift apart — and
    /// each share: weight × ramp × capacity, 0 unless ready.
    fn note_shares(&mut self, now: Instant, metric: Metric) -> f64 {
        let Settings {
            stale_after,
            slow_start,
            mem_high_water,
            ..
        } = self.settings;
        let ready = |n: &Node| n.state(stale_after, now) == BackendState::Ready;
        let pool = if metric == Metric::Cpu {
            PoolBusy::survey(
                self.nodes
                    .iter()
                    .filter(|n| ready(n))
                    .map(|n| &n.models.capacity),
            )
        } else {
            None
        };
        let mut cut = false;
        if let Some(pool) = pool {
            for n in self.nodes.iter_mut().filter(|n| ready(n)) {
                n.models.capacity.follow_speed(pool);
                let capacity = &mut n.models.capacity;
                let counted = capacity.cut_overload(pool) || capacity.cut_to_sent(pool);
                // Cut on its level alone, a node moves alone (see there).
                if !counted {
                    capacity.cut_backlogged(pool);
                }
                cut |= counted;
            }
            if cut {
                for n in self.nodes.iter_mut().filter(|n| ready(n)) {
                    n.models.capacity.cut_overload_beside(pool);
                }
            }
        }
        // A node just cut is settled, so this leaves it as it is; the
        // others' corrections come after the cuts, which they would
        // otherwise compound: a 4:1 pool's fast nodes stepping up an octave
        // at the first report while its slow ones were cut to what they
        // complete left the slow ones at an eighth.
        let peers = StepScatter::survey(
            self.nodes
                .iter()
                .filter(|n| ready(n))
                .map(|n| &n.models.capacity),
        );
        let mut steps: Vec<i32> = (self.nodes.iter_mut().filter(|n| ready(n)))
            .map(|n| {
                if let Some(pool) = pool {
                    if cut {
                        n.models.capacity.settle_on_cut(pool.mean);
                    }
                    n.models.capacity.correct_on_report(pool, &peers);
                }
                n.models.capacity.step()
            })
            .collect();
        let middle = steps.len() / 2;
        let median = if steps.is_empty() {
            0
        } else {
            *steps.select_nth_unstable(middle).1
        };
        // Who moved on their own figures, for the other nodes' log lines
        // when the median moved with them.
        let movers = if median == 0 {
            String::new()
        } else {
            movers(
                self.nodes
                    .iter()
                    .filter(|n| ready(n))
                    .filter_map(|n| Some((n.display_id(), n.models.capacity.moved()?))),
            )
        };
        let mut total = 0.0;
        for node in &mut self.nodes {
            node.share = if ready(node) {
                node.models.capacity.shift(-median);
                note_capacity(node, &movers);
                node.effective_weight(mem_high_water)
                    * node.ramp(slow_start, now)
                    * capacity(node, metric)
            } else {
                0.0
            };
            total += node.share;
        }
        self.backlog = self.nodes.iter().filter_map(Node::backlog_count).collect();
        total
    }

    /// The node as a pool member (whatever its state), if it has reported
    /// and has a URL; its projection at `now` is published on the way.
    fn backend(&self, node: &Node, projector: &Projector, now: Instant) -> Option<Backend> {
        node.publish(projector, self.settings.stale_after);
        Some(Backend {
            id: node.id.clone()?,
            base_url: node.base_url.clone()?,
            weight: node.effective_weight(self.settings.mem_high_water),
            ramp: node.ramp(self.settings.slow_start, now),
            capacity: capacity(node, projector.metric),
            load: node.load.clone(),
            reads_busy: node.models.capacity.reads_busy(),
            counts_backlog: node.models.cpu.counts_backlog(),
            pin: node.pin.clone(),
        })
    }
}

/// Logs a change of `node`'s learnt capacity factor, once re-centred on
/// the pool's median. Rare — a few times after a start with unequal
/// machines, and when one slows down — and the answer to "why does this
/// node get fewer clients now", so at info.
fn note_capacity(node: &mut Node, movers: &str) {
    let factor = node.models.capacity.factor();
    let moved = node.models.capacity.take_move();
    if factor == node.capacity_logged {
        return;
    }
    // A line moved by the re-centring alone names who moved.
    tracing::info!(
        backend = &*node.display_id(),
        from = node.capacity_logged,
        to = factor,
        reason = moved.map_or("the pool's median machine changed", StepMove::as_str),
        moved_by = moved.is_none().then_some(movers),
        "least-load: learnt capacity changed (relative to the pool's median machine)"
    );
    node.capacity_logged = factor;
}

/// The nodes whose step moved on their own figures since the last
/// snapshot, each with what moved it, for a log line: at most
/// [`MAX_MOVERS_LOGGED`] named, then how many more. The median node
/// itself keeps its factor when it moves — the pool re-centres on it — so
/// without this no line said what moved the others.
fn movers(moved: impl Iterator<Item = (Arc<str>, StepMove)>) -> String {
    let mut line = String::new();
    let mut more = 0;
    for (i, (id, why)) in moved.enumerate() {
        if i >= MAX_MOVERS_LOGGED {
            more += 1;
        } else {
            let comma = if i > 0 { ", " } else { "" };
            // Writing to a String cannot fail.
            let _ = write!(line, "{comma}{id} ({})", why.as_str());
        }
    }
    if more > 0 {
        let _ = write!(line, " and {more} more");
    }
    line
}

/// At most this many nodes are named in a log line's `moved_by`: a large
/// fleet's line stays readable.
const MAX_MOVERS_LOGGED: usize = 5;

/// The learnt capacity factor of `node`: a CPU notion, 1 for other metrics.
fn capacity(node: &Node, metric: Metric) -> f64 {
    match metric {
        Metric::Cpu => node.models.capacity.factor(),
        Metric::Connections | Metric::Latency => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_re_centred_nodes_line_names_who_moved_and_stays_short() {
        let moved = |n: usize| (0..n).map(|i| (Arc::from(format!("n{i}")), StepMove::Corrected));
        let why = StepMove::Corrected.as_str();
        assert_eq!(movers(moved(2)), format!("n0 ({why}), n1 ({why})"));
        // Seven moved: five named, then how many more.
        let long = movers(moved(7));
        assert!(long.ends_with(&format!("n4 ({why}) and 2 more")), "{long}");
        assert_eq!(long.matches(why).count(), MAX_MOVERS_LOGGED, "{long}");
        assert_eq!(movers(moved(0)), "");
    }
}
