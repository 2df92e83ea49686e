//! Which figure a strategy compares and how each node's is projected: the
//! pool-wide inputs fixed once per snapshot ([`Projector`]) and one node's
//! learnt models ([`NodeModels`]).

use std::time::Duration;

use tokio::time::Instant;

use super::{CapacityStep, CostModel, Metric, PooledCost, Projection, Standing};

/// A report's difference from the pool's mean stays useful for about this
/// many of a node's arrivals: a queue gains a job per arrival and, near
/// saturation, loses one about as often, so after a few the report says
/// little about which node is shorter now (Mitzenmacher: past ~10 service
/// times even two random choices on reports lose to round robin). Counted
/// in arrivals — the time between the redirects a node is sent, which the
/// dispatcher knows exactly — not in service times read off the figure:
/// a busy fraction's busy time per redirect is the service time, but a
/// queue length's (`min(100, 100·q/20)`) is a fifth of it or less, and
/// its reports were forgotten before they could be used — no better than
/// round robin with reports 1–5 service times old (`bench/RESULTS.md`,
/// seventh session). `bench/RESULTS.md` has the sweep that chose 4 when
/// it was counted in service times; at 90% load 4 arrivals are 4.4.
const TRUST_ARRIVALS: f64 = 4.0;

/// The pool-wide inputs of every node's projection, fixed per snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Projector {
    /// The figure compared.
    pub metric: Metric,
    /// Pool-wide costs, for nodes that have not learnt theirs.
    pub pooled: PooledCost,
    /// Health-check latency assumed for nodes not yet measured (`fastest`).
    pub fallback_latency: f64,
    /// The instant projections count their seconds from.
    pub epoch: Instant,
    /// Redirects a second per unit of share: the pool's pace divided by
    /// the shares of the nodes taking clients.
    pub pace: f64,
}

/// What one node has learnt about its load.
#[derive(Debug, Clone)]
pub struct NodeModels {
    /// CPU utilisation: busy time per redirect.
    pub cpu: CostModel,
    /// Connections per redirect.
    pub connections: CostModel,
    /// Capacity relative to the pool, in coarse steps.
    pub capacity: CapacityStep,
}

/// The figures of a node's last report, with when it arrived and the
/// redirect counter at that moment.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// CPU utilisation, 0–1.
    pub cpu: f64,
    /// Established connections.
    pub connections: f64,
    /// The node's redirect counter when the report arrived.
    pub sent: u64,
    /// When it arrived.
    pub at: Instant,
    /// The node's share of new clients: weight × ramp × capacity.
    pub share: f64,
}

// === impl Projector ===

impl Projector {
    /// The projector of `metric` over every node's `models` and share of
    /// new clients, with `latencies` the health-check latencies measured
    /// so far.
    pub fn new<'a>(
        metric: Metric,
        models: impl Iterator<Item = (&'a NodeModels, f64)>,
        latencies: impl Iterator<Item = Duration>,
        epoch: Instant,
    ) -> Self {
        let mut pooled = PooledCost::default();
        if metric != Metric::Latency {
            for (node, share) in models {
                node.model(metric)
                    .add_to(&mut pooled, node.capacity.factor(), share);
            }
        }
        Projector {
            metric,
            pooled,
            fallback_latency: match metric {
                Metric::Latency => mean_secs(latencies),
                Metric::Cpu | Metric::Connections => 0.0,
            },
            epoch,
            pace: 0.0,
        }
    }

    /// Sets the pace from the total `shares` of the nodes taking clients.
    pub fn with_shares(self, shares: f64) -> Self {
        Projector {
            pace: if shares > 0.0 {
                self.pooled.rate() / shares
            } else {
                0.0
            },
            ..self
        }
    }

    /// Seconds from the epoch to `at`.
    pub fn seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.epoch).as_secs_f64()
    }

    /// A node's load under this projector, projected from `figures`;
    /// `latency` is its health-check average, if any.
    pub fn project(
        &self,
        models: &NodeModels,
        figures: &Figures,
        latency: Option<Duration>,
    ) -> Projection {
        match self.metric {
            Metric::Cpu => Projection {
                at: self.seconds(figures.at),
                horizon: TRUST_ARRIVALS * self.pooled.arrival_gap(),
                ..models.cpu.project(
                    figures.cpu,
                    figures.sent,
                    self.pooled,
                    Standing {
                        fair_rate: self.pace * figures.share,
                        capacity: models.capacity.factor(),
                    },
                )
            },
            Metric::Connections => models.connections.project(
                figures.connections,
                figures.sent,
                self.pooled,
                Standing::UNKNOWN,
            ),
            Metric::Latency => Projection::counting(
                latency.map_or(self.fallback_latency, |l| l.as_secs_f64()),
                figures.sent,
                0.0,
            ),
        }
    }
}

/// The mean of `latencies` in seconds, or 0 when there are none.
fn mean_secs(latencies: impl Iterator<Item = Duration>) -> f64 {
    let (sum, count) = latencies.fold((0.0, 0u32), |(sum, count), l| {
        (sum + l.as_secs_f64(), count + 1)
    });
    if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    }
}

// === impl NodeModels ===

impl NodeModels {
    /// The model that learns `metric`'s cost. Latency has none: it is
    /// measured, not sent.
    pub fn model(&self, metric: Metric) -> &CostModel {
        match metric {
            Metric::Connections => &self.connections,
            Metric::Cpu | Metric::Latency => &self.cpu,
        }
    }
}

impl Default for NodeModels {
    fn default() -> Self {
        NodeModels {
            cpu: CostModel::utilisation(),
            connections: CostModel::level(),
            capacity: CapacityStep::default(),
        }
    }
}
