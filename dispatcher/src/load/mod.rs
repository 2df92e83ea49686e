//! How loaded a backend is — and nothing about choosing one.
//!
//! A report is a picture of the past: by the time the next one arrives the
//! dispatcher may have sent that node hundreds of clients. Comparing stale
//! reports makes every client herd onto whichever node looked idle last
//! (Mitzenmacher, "How useful is old information?"). So the load a strategy
//! compares is a **projection** ([`Projection::load`]) of the report to the
//! moment of the request, from three things:
//!
//! - the **report**, whose difference from the pool's mean is trusted less
//!   as it ages — `exp(-age / horizon)`, with the horizon a few of the
//!   node's arrivals (the mean time between redirects to one node, which
//!   the dispatcher counts, whatever the figure's scale) and the age
//!   counted from the middle of the interval a busy fraction averages
//!   over — so an old report says "average", never "idle" (a saturated
//!   one says "half-way to full": its backlog drains only at the pool's
//!   spare capacity, not with the next few arrivals);
//! - the **redirects sent since** the report, times a cost per redirect
//!   learnt online ([`CostModel`]): what the dispatcher knows for certain;
//! - the **pace** the node was being sent at, subtracted with the clock:
//!   a node sent exactly its usual pace since its report projects flat, so
//!   a node that reported a moment ago does not look lighter than one that
//!   reported a second ago (the herd of out-of-phase agents).
//!
//! The cost is learnt per node from what it reported against what it was
//! sent: a steady-state ratio, not a regression. Regressing *changes* in
//! load on redirects learns a cost near zero for a node whose load stays
//! flat while traffic keeps flowing, and that node then absorbs the herd. A
//! node with no traffic of its own yet borrows the pool-wide cost (for a
//! utilisation, per unit of the capacity each node has learnt, so a node
//! learnt to be slow borrows a slow node's cost), and no
//! node's cost may fall below a fraction of it.
//!
//! Two kinds of figure are learnt differently:
//!
//! - A **level** (connections) is a count at the moment of the report: its
//!   cost is the average figure per redirect received in a report interval.
//! - A **utilisation** (CPU) is the busy share of the interval before the
//!   report, and it saturates: at 100% a node may be draining one job or
//!   fifty. Its cost is learnt as busy time per redirect, and only over
//!   *busy cycles that ended* — runs of saturated reports closed by one
//!   that was not, so the node was idle at some moment and had done all
//!   the work it had been sent. During an open run the node's **backlog**
//!   is carried on top of the 100%: how far its connections grew over the
//!   run, where its agent counts them, else the work sent beyond what its
//!   busy time did at the learnt service time. A count does not drift;
//!   the reckoning drifts by the estimate's few percent every report, and
//!   over the long runs of a pool at 97% load it herded clients onto a
//!   node learnt slightly fast. Each of its redirects counts a margin more
//!   than the estimate: a node that stays saturated looks busier with
//!   every report, is sent less, idles, and its cycle is learnt.
//!
//!   With reports at most one arrival apart, busy time per redirect
//!   overstates what one redirect does to the next report: a job cannot
//!   fill more than an interval, and a queue-shaped figure
//!   (`min(100, 100·q/20)`) moves by 1/20 a job while its busy time per
//!   redirect, over an interval of a tenth of a job, reads ~60× that; the
//!   count term then drowned the reports and `least-load` spread no better
//!   than round robin. So there the cost is at most how far a report moves
//!   from the last per redirect received in between — a least-squares
//!   slope within each node (its own drain as the intercept), pooled over
//!   the nodes, over pairs of unsaturated reports. This is the regression
//!   warned against above, used only as a bound and only where it holds:
//!   between reports that close, a node's departures hardly depend on its
//!   arrivals; over longer intervals they do, and the slope reads low.
//!   The bound is the same for every node, so the projection also carries
//!   the node's own busy time per redirect (`Projection::job`): what a
//!   client costs it in time, which a slow node's and a fast node's
//!   report moves do not tell apart.
//!
//! Busy time per redirect is also the inverse of a node's **capacity**
//! (gRFC A58's `qps / utilisation`): [`CapacityStep`] turns it into a
//! share of the pool, in coarse steps so that equal nodes stay exactly
//! equal. `select` spreads clients by it when reports say nothing more.
//! Where the figure is a busy fraction, the capacity is measured outright
//! once the pool shows it is one: a node's [`SpeedMeter`] counts what it
//! completed (redirects sent less the growth of its connections) per busy
//! second, which a saturated node's 100% cannot hide.
//!
//! With reports too old for any of that, what a node's agent counts still
//! settles the capacity's error: its connections past its share's part of
//! the pool's are turns it owes the others ([`PoolBacklog`]), given away
//! over the next interval.
//!
//! A node's current projection lives in its [`NodeLoad`], which every pool
//! snapshot shares with the registry, so a report that changes only a
//! node's load counts at once, without rebuilding the pool; so do the
//! turns it owes.

mod backlog;
mod capacity;
mod cell;
mod cost;
mod projector;
mod speed;

pub use backlog::PoolBacklog;
pub use capacity::{CapacityStep, PoolBusy, StepMove, StepScatter};
pub use cell::{NodeLoad, Projection, SATURATED_TRUST};
pub use cost::{CostModel, Level, PRIOR_COST, PooledCost, SATURATED, Standing, Utilisation};
pub use projector::{Figures, NodeModels, Projector};
pub use speed::{Speed, SpeedChange, SpeedMeter};

/// Which report figure a strategy compares. A metric names a figure, not a
/// choice: it belongs here, and `select` says which one each strategy uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// CPU utilisation, 0–1.
    Cpu,
    /// Established connections.
    Connections,
    /// Health-check latency, in seconds.
    Latency,
}

#[cfg(test)]
mod tests;
