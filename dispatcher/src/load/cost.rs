//! Learning what one redirect costs a node, from what it reported against
//! what it was sent: a steady-state ratio, bounded with fresh reports by
//! how far one report moves from the last per redirect (see the room's
//! docs in [`super`]).

use tokio::time::Instant;

use super::{Projection, SATURATED_TRUST};

/// Weight of the newest interval in the moving averages of [`CostModel`].
const ALPHA: f64 = 0.3;

/// A node's cost may not fall below this share of the pool-wide cost.
pub(super) const FLOOR_SHARE: f64 = 0.25;

/// The cost used when no node has seen traffic yet: 1% of a node per
/// redirect, enough to spread a first burst.
pub const PRIOR_COST: f64 = 0.01;

/// A utilisation at or above this may hide a queue: the node need not have
/// been idle at any moment of the interval.
pub const SATURATED: f64 = 0.99;

/// Ended busy cycles are averaged over about this many redirects.
pub(super) const CYCLE_WINDOW: f64 = 100.0;

/// A node's own cost counts once its ended cycles hold this many redirects;
/// before, it borrows the pool's.
const MIN_OWN_REDIRECTS: f64 = 1.0;

/// An open run bounds the busy time per redirect from below only once it
/// holds this many redirects; fewer say more about job sizes than the node.
const MIN_BOUND_REDIRECTS: f64 = 20.0;

/// While a node stays saturated, each redirect it was sent counts as this
/// much more work than the estimate. Estimates carry errors — about
/// 1/√[`CYCLE_WINDOW`] with job sizes as varied as exponential ones — and
/// an overloaded node cannot correct one that is too low: it only shows
/// 100%, and at the rate it is sent its backlog looks flat. With the margin
/// a saturated node's backlog grows, it is sent less until it idles, and
/// the cycle that ends then is learnt. Without it (`bench/RESULTS.md`) the
/// slow half of a 2:1 mix at 99% load queued without bound.
pub(super) const OPEN_RUN_MARGIN: f64 = 0.1;

/// The first interval after a node's first report ends a busy cycle worth
/// learning only below this figure. A node sent more than it can do from
/// the first redirect still idled before that redirect reached it, so its
/// first interval can read just under [`SATURATED`] while its queue grows:
/// a cycle that did not end, whose busy time per redirect reads a fraction
/// of the truth (a slow node of a 4:1 pool learnt 0.43 of its service time
/// so) and stays the node's own for as long as it stays saturated. 0.9
/// measured best of 0.01, 0.7 and 0.9 (`bench/RESULTS.md`, "Eleventh
/// session").
const FIRST_CYCLE_BELOW: f64 = 0.9;

/// How one report moved from the last per redirect received in between is
/// averaged over about this many report intervals...
const STEP_WINDOW: f64 = 50.0;

/// ... and counts once a node has this many pairs of unsaturated reports.
const MIN_STEP_PAIRS: f64 = 5.0;

/// Learns one node's per-redirect cost from its reports.
#[derive(Debug, Clone)]
pub enum CostModel {
    /// A figure that is a count at the moment of the report.
    Level(Level),
    /// A figure that is the busy share of the last interval.
    Utilisation(Utilisation),
}

/// The cost model of a count: figure per redirect per interval.
#[derive(Debug, Clone, Default)]
pub struct Level {
    /// The redirect counter at the previous report.
    last_sent: Option<u64>,
    /// Moving average of the reported figure.
    figure: f64,
    /// Moving average of redirects received per report interval; `None`
    /// until one whole interval has been seen.
    per_interval: Option<f64>,
}

/// The cost model of a utilisation: busy seconds per redirect over ended
/// busy cycles, and the backlog of the open one.
#[derive(Debug, Clone, Default)]
pub struct Utilisation {
    /// The redirect counter and receipt time of the previous report.
    last: Option<(u64, Instant)>,
    /// Moving average of the time between reports, in seconds; 0 until
    /// one whole interval has been seen.
    interval: f64,
    /// Moving average of the redirects received per second.
    rate: f64,
    /// Busy seconds and redirects of ended busy cycles, decayed by
    /// redirects so that about [`CYCLE_WINDOW`] of the latest count.
    done: f64,
    received: f64,
    /// Busy seconds and redirects of the open run of saturated intervals.
    run_done: f64,
    run_received: f64,
    /// Redirects received in the interval that ended the last cycle: the
    /// most the node can have held when the open run began.
    carried: f64,
    /// The last figure reported, and how each report moved from the one
    /// before against the redirects received in between.
    previous: Option<f64>,
    steps: Steps,
    /// The connections open at the last unsaturated report: where the
    /// open run started.
    run_start_connections: Option<f64>,
    /// How many more the latest saturated report counted: the run's
    /// backlog, counted rather than reckoned ([`Utilisation::queued`]).
    run_grew: Option<f64>,
    /// Whether the agent has ever reported an open connection: one that
    /// does not count them reports 0 whatever its backlog.
    counts_connections: bool,
}

/// Least-squares sums of a figure's moves between consecutive unsaturated
/// reports (y) against the redirects received in between (x), decayed
/// over about [`STEP_WINDOW`] intervals.
#[derive(Debug, Clone, Copy, Default)]
struct Steps {
    pairs: f64,
    x: f64,
    y: f64,
    xx: f64,
    xy: f64,
}

/// Where a node stands in its pool, as its projection needs it.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    /// Redirects a second the node's fair share of the pool's traffic
    /// comes to.
    pub fair_rate: f64,
    /// Its learnt capacity factor
    /// ([`CapacityStep::factor`](super::CapacityStep::factor)).
    pub capacity: f64,
}

/// Sums over every node, for the pool-wide cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct PooledCost {
    /// Level figures: averages of figure and of redirects per interval.
    figure: f64,
    per_interval: f64,
    /// Utilisations: busy seconds and redirects of ended cycles, the
    /// report intervals, and the redirects a second sent in all.
    done: f64,
    received: f64,
    interval: f64,
    intervals: f64,
    rate: f64,
    /// The shares of new clients of all the nodes, and of those whose
    /// reports have covered time (whose redirects a second `rate` sums).
    share: f64,
    rated_share: f64,
    /// Report moves against redirects, each node's sums centred on its own
    /// means (its own drain) and added up: Σ xy and Σ xx.
    moved: f64,
    received_spread: f64,
    /// Busy seconds of ended cycles, each node's times its capacity factor:
    /// over `received`, the pool's busy seconds per redirect at a capacity
    /// of 1.
    done_by_capacity: f64,
}

// === impl CostModel ===

impl CostModel {
    /// A model for a count at the moment of the report (connections).
    pub fn level() -> Self {
        CostModel::Level(Level::default())
    }

    /// A model for the busy share of the last interval (CPU).
    pub fn utilisation() -> Self {
        CostModel::Utilisation(Utilisation::default())
    }

    /// Folds in a report of `figure` received at `now`, when `sent`
    /// redirects had been sent to the node in all and it counted
    /// `connections` open (a saturated utilisation's backlog is their
    /// growth; a count is its own figure).
    pub fn observe(&mut self, figure: f64, sent: u64, connections: u64, now: Instant) {
        match self {
            CostModel::Level(model) => model.observe(figure, sent),
            CostModel::Utilisation(model) => model.observe(figure, sent, connections, now),
        }
    }

    /// Adds this node's averages to the pool-wide sums; `capacity` is its
    /// learnt capacity factor ([`CapacityStep::factor`](super::CapacityStep::factor))
    /// and `share` its share of new clients.
    pub fn add_to(&self, pooled: &mut PooledCost, capacity: f64, share: f64) {
        match self {
            CostModel::Level(model) => model.add_to(pooled),
            CostModel::Utilisation(model) => model.add_to(pooled, capacity, share),
        }
    }

    /// The projection of a report of `figure`, received when `sent`
    /// redirects had been sent to the node in all, for a node that stands
    /// so in its pool; `at` and `horizon` are left for the caller, who
    /// knows the epoch and the pool.
    pub fn project(
        &self,
        figure: f64,
        sent: u64,
        pooled: PooledCost,
        node: Standing,
    ) -> Projection {
        match self {
            CostModel::Level(model) => {
                Projection::counting(figure, sent, model.cost(pooled.level_cost()))
            }
            CostModel::Utilisation(model) => model.project(figure, sent, pooled, node),
        }
    }

    /// Whether a saturated report's backlog is a count — the growth of
    /// the node's connections over its run — rather than reckoned from
    /// busy time at a learnt cost, which drifts by the cost's error every
    /// report. False for counts, which carry no backlog.
    pub fn counts_backlog(&self) -> bool {
        match self {
            CostModel::Utilisation(model) => model.counts_connections,
            CostModel::Level(_) => false,
        }
    }

    /// Busy seconds per redirect this node has shown over ended busy
    /// cycles holding at least `min_redirects` (decayed): the inverse of
    /// its capacity. `None` for counts.
    pub fn own_service(&self, min_redirects: f64) -> Option<f64> {
        match self {
            CostModel::Utilisation(model) => model.own_service(min_redirects),
            CostModel::Level(_) => None,
        }
    }
}

// === impl Level ===

impl Level {
    fn observe(&mut self, figure: f64, sent: u64) {
        let Some(last) = self.last_sent.replace(sent) else {
            self.figure = figure;
            return;
        };
        let received = sent.saturating_sub(last) as f64;
        match &mut self.per_interval {
            Some(avg) => {
                *avg += ALPHA * (received - *avg);
                self.figure += ALPHA * (figure - self.figure);
            }
            // The first whole interval seeds both averages.
            None => {
                self.per_interval = Some(received);
                self.figure = figure;
            }
        }
    }

    fn add_to(&self, pooled: &mut PooledCost) {
        if let Some(per_interval) = self.per_interval {
            pooled.figure += self.figure;
            pooled.per_interval += per_interval;
        }
    }

    /// The cost per redirect, given the pool-wide estimate.
    fn cost(&self, pooled: f64) -> f64 {
        let own = match self.per_interval {
            Some(per_interval) if per_interval >= 1.0 => self.figure / per_interval,
            _ => pooled,
        };
        own.max(pooled * FLOOR_SHARE)
    }
}

// === impl Utilisation ===

impl Utilisation {
    fn observe(&mut self, figure: f64, sent: u64, connections: u64, now: Instant) {
        let Some((last_sent, last_at)) = self.last else {
            self.last = Some((sent, now));
            self.count_backlog(figure, connections);
            return;
        };
        let elapsed = now.saturating_duration_since(last_at).as_secs_f64();
        if elapsed <= 0.0 {
            // No time passed: the next report covers these redirects.
            return;
        }
        self.last = Some((sent, now));
        let received = sent.saturating_sub(last_sent) as f64;
        let first = self.interval <= 0.0;
        (self.interval, self.rate) = if self.interval > 0.0 {
            (
                self.interval + ALPHA * (elapsed - self.interval),
                self.rate + ALPHA * (received / elapsed - self.rate),
            )
        } else {
            (elapsed, received / elapsed)
        };
        if let Some(previous) = self.previous.replace(figure)
            && previous < SATURATED
            && figure < SATURATED
        {
            self.steps.add(received, figure - previous);
        }
        self.run_done += figure.clamp(0.0, 1.0) * elapsed;
        self.run_received += received;
        if figure < SATURATED {
            // Idle at some moment: the cycle ended, all its work is done —
            // unless the moment was the start (see FIRST_CYCLE_BELOW).
            if !first || figure < FIRST_CYCLE_BELOW {
                let decay = (-self.run_received / CYCLE_WINDOW).exp();
                self.done = self.done * decay + self.run_done;
                self.received = self.received * decay + self.run_received;
            }
            self.run_done = 0.0;
            self.run_received = 0.0;
            self.carried = received;
        }
        self.count_backlog(figure, connections);
    }

    /// Notes the `connections` a report of `figure` counted: at an
    /// unsaturated report, where the next run would start; at a saturated
    /// one, how far the open run has grown them since. (The capacity
    /// model's overload run counts the same growth but starts afresh at
    /// each cut, while the backlog is the whole run's.)
    fn count_backlog(&mut self, figure: f64, connections: u64) {
        let connections = connections as f64;
        self.counts_connections |= connections > 0.0;
        if figure < SATURATED {
            self.run_start_connections = Some(connections);
            self.run_grew = None;
        } else {
            self.run_grew = self
                .run_start_connections
                .filter(|_| self.counts_connections)
                .map(|start| connections - start);
        }
    }

    fn add_to(&self, pooled: &mut PooledCost, capacity: f64, share: f64) {
        if let Some((moved, spread)) = self.steps.centred() {
            pooled.moved += moved;
            pooled.received_spread += spread;
        }
        pooled.done += self.done;
        pooled.done_by_capacity += self.done * capacity;
        pooled.received += self.received;
        pooled.share += share;
        if self.interval > 0.0 {
            pooled.interval += self.interval;
            pooled.intervals += 1.0;
            pooled.rate += self.rate;
            pooled.rated_share += share;
        }
    }

    /// Busy seconds per redirect: this node's ended cycles (or, before
    /// any, the pool's at its `capacity`), never below a share of the
    /// pool's `pooled`; during an open run at least what the run proves,
    /// plus [`OPEN_RUN_MARGIN`].
    fn service(&self, pooled: f64, at_capacity: f64) -> f64 {
        let own = self.own_service(MIN_OWN_REDIRECTS).unwrap_or(at_capacity);
        let proven = if self.run_received >= MIN_BOUND_REDIRECTS {
            self.run_done / (self.run_received + self.carried)
        } else {
            0.0
        };
        let own = own.max(pooled * FLOOR_SHARE);
        if self.run_done > 0.0 {
            own.max(proven) * (1.0 + OPEN_RUN_MARGIN)
        } else {
            own
        }
    }

    /// The redirects of the open run the node still held at its report,
    /// in whole redirects: what its connections grew by over the run,
    /// where the agent counts them; else what it was sent beyond what its
    /// busy time did at `service` busy seconds each. After the report the
    /// projection's drain works them off at full speed.
    ///
    /// The count comes first. The reckoning reads a learnt service time
    /// that is a few percent off either way, and its error grows with
    /// every report the run lasts: at 97% load a run lasts dozens of
    /// reports, and a node learnt 6% fast looked ever emptier than it
    /// was, was sent ever more, and queued 100 jobs while its peers queued
    /// 20. Long simulated grids, busy fractions, seeds 1–4: goal misses
    /// 23 / 18 / 33 / 22 → 4 / 2 / 4 / 6 of 720 (`bench/RESULTS.md`,
    /// nineteenth session).
    fn queued(&self, service: f64) -> u64 {
        let queued = match self.run_grew {
            Some(grew) => grew,
            None => self.run_received - self.run_done / service,
        };
        queued.max(0.0).round() as u64
    }

    /// Busy seconds per redirect over ended cycles, once they hold
    /// `min_redirects`.
    fn own_service(&self, min_redirects: f64) -> Option<f64> {
        (self.received >= min_redirects && self.done > 0.0).then(|| self.done / self.received)
    }

    /// The projection of a report of `figure`: cost per redirect in shares
    /// of a report interval, and the drain after the report. A saturated
    /// node (an open run) carries the redirects it still holds as sent
    /// since, and works them and any new ones off at full speed: one
    /// interval's worth of load per interval. Any other node drains at its
    /// fair share of the pool's pace — not at the pace it was really sent:
    /// that one follows the dispatcher's own choices, and a node sent less
    /// would then drain less, look busier and be sent less still.
    fn project(&self, figure: f64, sent: u64, pooled: PooledCost, node: Standing) -> Projection {
        let interval = pooled.interval();
        let service = self.service(
            pooled.service(interval),
            pooled.service_at(interval, node.capacity),
        );
        let cost = match pooled.step_cost() {
            Some(step) if interval <= pooled.arrival_gap() => (service / interval).min(step),
            _ => service / interval,
        };
        let saturated = self.run_done > 0.0;
        Projection {
            job: service / interval,
            sent_at_report: sent.saturating_sub(self.queued(service)),
            drain: if saturated {
                1.0 / interval
            } else {
                cost * node.fair_rate
            },
            age_at_report: self.interval / 2.0,
            saturated_trust: if self.counts_connections {
                0.0
            } else {
                SATURATED_TRUST
            },
            ..Projection::counting(figure, sent, cost)
        }
    }
}

// === impl Steps ===

impl Steps {
    /// Folds in a report that moved `y` from the last with `x` redirects
    /// received in between.
    fn add(&mut self, x: f64, y: f64) {
        let keep = 1.0 - 1.0 / STEP_WINDOW;
        *self = Steps {
            pairs: self.pairs * keep + 1.0,
            x: self.x * keep + x,
            y: self.y * keep + y,
            xx: self.xx * keep + x * x,
            xy: self.xy * keep + x * y,
        };
    }

    /// Σ xy and Σ xx about the node's own means, once it has
    /// [`MIN_STEP_PAIRS`] pairs.
    fn centred(&self) -> Option<(f64, f64)> {
        (self.pairs >= MIN_STEP_PAIRS).then(|| {
            (
                self.xy - self.x * self.y / self.pairs,
                self.xx - self.x * self.x / self.pairs,
            )
        })
    }
}

// === impl Standing ===

impl Standing {
    /// A node with no fair rate known and the median's capacity: what a
    /// count's projection, which uses neither, is given.
    pub const UNKNOWN: Standing = Standing {
        fair_rate: 0.0,
        capacity: 1.0,
    };
}

// === impl PooledCost ===

impl PooledCost {
    /// The pool-wide cost per redirect of a level figure, or
    /// [`PRIOR_COST`] before any traffic.
    pub fn level_cost(&self) -> f64 {
        if self.per_interval >= 1.0 && self.figure > 0.0 {
            self.figure / self.per_interval
        } else {
            PRIOR_COST
        }
    }

    /// Redirects a second sent to the whole pool, as its reports saw them:
    /// the nodes whose reports have covered time, scaled up to every
    /// node's share once they hold half of it, and none before. Right
    /// after a start, agents' first reports reach the dispatcher a few at
    /// a time (each agent is polled by a task of its own; out of phase,
    /// over a whole report interval), and summed over those alone the
    /// pool's pace read an eighth of what it was at the first of eight: a
    /// slow node of a 4:1 pool, named an eighth of what it was sent, read
    /// as sent past its share rather than overloaded, and was not cut for
    /// a whole report interval. Scaled up from fewer than half, out of
    /// phase, it rests on the first reporters, whose intervals are a
    /// fraction of a service time and whose rates are the noisiest: pools
    /// of 100 on queue-shaped figures, out of phase, went 0.99 → 1.36–1.38
    /// × the better spread at reports 25 service times old, and back with
    /// the half (`bench/RESULTS.md`, thirty-fourth session).
    pub fn rate(&self) -> f64 {
        if self.rated_share * 2.0 < self.share {
            0.0
        } else if self.rated_share > 0.0 {
            self.rate * (self.share / self.rated_share).max(1.0)
        } else {
            self.rate
        }
    }

    /// How far a report moves from the last per redirect received in
    /// between, pooled over the nodes; `None` until measured. Read only
    /// with reports at most one arrival apart: then the departures in
    /// between hardly depend on the arrivals, and the slope is what a
    /// redirect adds. Over longer intervals a node works off more of what
    /// it is sent before it reports, and the slope reads low.
    fn step_cost(&self) -> Option<f64> {
        (self.received_spread > 0.0 && self.moved > 0.0).then(|| self.moved / self.received_spread)
    }

    /// Seconds between two redirects to one node at the pool's pace: how
    /// fast a report ages. Before any traffic, the pool-wide busy seconds
    /// per redirect (the prior's), which is short: reports are trusted
    /// little until the pace is known.
    pub fn arrival_gap(&self) -> f64 {
        if self.rate > 0.0 && self.intervals > 0.0 {
            self.intervals / self.rate
        } else {
            self.service(self.interval())
        }
    }

    /// The mean report interval in seconds, or one second before any.
    fn interval(&self) -> f64 {
        if self.intervals > 0.0 {
            self.interval / self.intervals
        } else {
            1.0
        }
    }

    /// Busy seconds per redirect of a node of capacity factor `capacity`
    /// that has not ended a cycle of its own: the pool's per unit of
    /// capacity, divided by its. Unscaled, a slow node of a 4:1 pool that
    /// is saturated from the start borrowed the fast nodes' cost, a
    /// quarter of its own, and then the bound its open run proves — which
    /// falls the more the node is sent, so the node sent most over its
    /// capacity looked the cheapest. The capacity learnt from utilisation
    /// does not depend on how many redirects the node was sent.
    fn service_at(&self, interval: f64, capacity: f64) -> f64 {
        if self.received >= 1.0 && self.done_by_capacity > 0.0 && capacity > 0.0 {
            self.done_by_capacity / self.received / capacity
        } else {
            self.service(interval)
        }
    }

    /// Pool-wide busy seconds per redirect, or [`PRIOR_COST`] of a report
    /// `interval` before any cycle ended.
    fn service(&self, interval: f64) -> f64 {
        if self.received >= 1.0 && self.done > 0.0 {
            self.done / self.received
        } else {
            PRIOR_COST * interval
        }
    }
}
