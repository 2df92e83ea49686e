//! How loaded a backend is — and nothing about choosing one.
//!
//! A report is a picture of the past: by the time the next one arrives the
//! dispatcher may have sent that node hundreds of clients. Comparing stale
//! reports makes every client herd onto whichever node looked idle last
//! (Mitzenmacher, "How useful is old information?"). So between reports the
//! load is **projected**: the reported figure plus the redirects sent since
//! that report times a per-redirect cost.
//!
//! The cost is learnt online per node from what it reported against what
//! it was sent: a steady-state ratio, not a regression. Regressing
//! *changes* in load on redirects learns a cost near zero for a node whose
//! load stays flat while traffic keeps flowing, and that node then absorbs
//! the herd. A node with no traffic of its own yet borrows the pool-wide
//! cost, and no node's cost may fall below a fraction of it.
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
//!   the work it had been sent. An open run would only give a lower bound
//!   (the node may be falling behind), and learning from it would make an
//!   overloaded node look as cheap as it is being used. During an open run
//!   the work sent beyond what the node has done — what it reported, then
//!   full speed since the report — is carried as a **backlog** on top of
//!   the 100% (redirects not yet counted off, in
//!   [`Projection::sent_at_report`]), and each of its redirects counts a
//!   margin more than the estimate: a node that stays saturated looks
//!   busier with every report, is sent less, idles, and its cycle is
//!   learnt. Busy seconds become shares of the pool's mean report
//!   interval, so nodes compare alike whatever pace they report at.
//!
//! Projections are never clipped at 100%: their job is to order candidates,
//! and clipping makes every busy node look the same.
//!
//! A node's current projection is published in a [`SharedProjection`] that
//! every pool snapshot reads, so a report that changes only a node's load
//! counts at once, without rebuilding the pool.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use tokio::time::Instant;

/// Weight of the newest interval in the moving averages of [`CostModel`].
const ALPHA: f64 = 0.3;

/// A node's cost may not fall below this share of the pool-wide cost.
const FLOOR_SHARE: f64 = 0.25;

/// The cost used when no node has seen traffic yet: 1% of a node per
/// redirect, enough to spread a first burst.
pub const PRIOR_COST: f64 = 0.01;

/// A utilisation at or above this may hide a queue: the node need not have
/// been idle at any moment of the interval.
const SATURATED: f64 = 0.99;

/// Ended busy cycles are averaged over about this many redirects.
const CYCLE_WINDOW: f64 = 100.0;

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
const OPEN_RUN_MARGIN: f64 = 0.1;

/// A load figure as strategies compare it: 0 is idle, 1 is a report's full
/// scale (100% CPU); projections may exceed 1.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Load(pub f64);

/// A report's figure frozen with what the hot path needs to project it:
/// reading it costs one atomic load and a multiply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// The reported figure.
    pub base: f64,
    /// The redirect counter the cost counts from: the node's counter when
    /// the report arrived, less the redirects a saturated utilisation
    /// still hides as backlog (see [`CostModel`]).
    pub sent_at_report: u64,
    /// Load added by each redirect sent since.
    pub cost: f64,
}

/// A [`Projection`] that one writer (the registry, under its lock) replaces
/// while the request path reads it, lock-free: a sequence lock over three
/// atomics. A reader that overlaps a write retries, so it never sees the
/// base of one report with the cost of another.
#[derive(Debug, Default)]
pub struct SharedProjection {
    /// Odd while a write is in progress; bumped twice by every write.
    version: AtomicU64,
    base: AtomicU64,
    sent_at_report: AtomicU64,
    cost: AtomicU64,
}

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
}

/// Sums over every node, for the pool-wide cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct PooledCost {
    /// Level figures: averages of figure and of redirects per interval.
    figure: f64,
    per_interval: f64,
    /// Utilisations: busy seconds and redirects of ended cycles, and the
    /// report intervals.
    done: f64,
    received: f64,
    interval: f64,
    intervals: f64,
}

// === impl Projection ===

impl Projection {
    /// The projected load once `sent_now` redirects have been sent in all.
    #[inline]
    pub fn at(&self, sent_now: u64) -> Load {
        let since = sent_now.saturating_sub(self.sent_at_report) as f64;
        Load(self.base + since * self.cost)
    }
}

// === impl SharedProjection ===

impl SharedProjection {
    /// Holding `projection` from the start.
    pub fn new(projection: Projection) -> Self {
        let shared = SharedProjection::default();
        shared.publish(projection);
        shared
    }

    /// The projection last published.
    #[inline]
    pub fn get(&self) -> Projection {
        loop {
            let before = self.version.load(Ordering::Acquire);
            if before & 1 == 0 {
                let projection = Projection {
                    base: f64::from_bits(self.base.load(Ordering::Relaxed)),
                    sent_at_report: self.sent_at_report.load(Ordering::Relaxed),
                    cost: f64::from_bits(self.cost.load(Ordering::Relaxed)),
                };
                fence(Ordering::Acquire);
                if self.version.load(Ordering::Relaxed) == before {
                    return projection;
                }
            }
            spin_loop();
        }
    }

    /// Replaces the projection. Writers must not race each other: the
    /// registry's lock serialises them.
    pub fn publish(&self, projection: Projection) {
        let version = self.version.load(Ordering::Relaxed);
        self.version
            .store(version.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        self.base
            .store(projection.base.to_bits(), Ordering::Relaxed);
        self.sent_at_report
            .store(projection.sent_at_report, Ordering::Relaxed);
        self.cost
            .store(projection.cost.to_bits(), Ordering::Relaxed);
        self.version
            .store(version.wrapping_add(2), Ordering::Release);
    }
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
    /// redirects had been sent to the node in all.
    pub fn observe(&mut self, figure: f64, sent: u64, now: Instant) {
        match self {
            CostModel::Level(model) => model.observe(figure, sent),
            CostModel::Utilisation(model) => model.observe(figure, sent, now),
        }
    }

    /// Adds this node's averages to the pool-wide sums.
    pub fn add_to(&self, pooled: &mut PooledCost) {
        match self {
            CostModel::Level(model) => model.add_to(pooled),
            CostModel::Utilisation(model) => model.add_to(pooled),
        }
    }

    /// True while the node is in an open saturated run: its projection
    /// counts off the backlog with the clock, so it must be recomputed as
    /// time passes, not only when the node reports.
    pub fn drains_with_time(&self) -> bool {
        matches!(self, CostModel::Utilisation(model) if model.run_done > 0.0)
    }

    /// The projection of a report of `figure`, received when `sent`
    /// redirects had been sent to the node in all.
    pub fn project(&self, figure: f64, sent: u64, pooled: PooledCost, now: Instant) -> Projection {
        let (cost, queued) = match self {
            CostModel::Level(model) => (model.cost(pooled.level_cost()), 0),
            CostModel::Utilisation(model) => model.project(pooled, now),
        };
        Projection {
            base: figure,
            sent_at_report: sent.saturating_sub(queued),
            cost,
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
    fn observe(&mut self, figure: f64, sent: u64, now: Instant) {
        let Some((last_sent, last_at)) = self.last else {
            self.last = Some((sent, now));
            return;
        };
        let elapsed = now.saturating_duration_since(last_at).as_secs_f64();
        if elapsed <= 0.0 {
            // No time passed: the next report covers these redirects.
            return;
        }
        self.last = Some((sent, now));
        let received = sent.saturating_sub(last_sent) as f64;
        self.interval = if self.interval > 0.0 {
            self.interval + ALPHA * (elapsed - self.interval)
        } else {
            elapsed
        };
        self.run_done += figure.clamp(0.0, 1.0) * elapsed;
        self.run_received += received;
        if figure < SATURATED {
            // Idle at some moment: the cycle ended, all its work is done.
            let decay = (-self.run_received / CYCLE_WINDOW).exp();
            self.done = self.done * decay + self.run_done;
            self.received = self.received * decay + self.run_received;
            self.run_done = 0.0;
            self.run_received = 0.0;
            self.carried = received;
        }
    }

    fn add_to(&self, pooled: &mut PooledCost) {
        pooled.done += self.done;
        pooled.received += self.received;
        if self.interval > 0.0 {
            pooled.interval += self.interval;
            pooled.intervals += 1.0;
        }
    }

    /// Busy seconds per redirect: this node's ended cycles (or the pool's),
    /// never below a share of the pool's; during an open run at least what
    /// the run proves, plus [`OPEN_RUN_MARGIN`].
    fn service(&self, pooled: f64) -> f64 {
        let own = if self.received >= 1.0 && self.done > 0.0 {
            self.done / self.received
        } else {
            pooled
        };
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

    /// The redirects of the open run beyond what the node has done at
    /// `service` busy seconds each — what it reported, then full speed
    /// since the report, as a saturated node works on — in whole redirects.
    fn queued(&self, service: f64, now: Instant) -> u64 {
        let since = self.last.map_or(0.0, |(_, at)| {
            now.saturating_duration_since(at).as_secs_f64()
        });
        (self.run_received - (self.run_done + since) / service)
            .max(0.0)
            .round() as u64
    }

    /// The cost per redirect in shares of a report interval, and the
    /// redirects still queued.
    fn project(&self, pooled: PooledCost, now: Instant) -> (f64, u64) {
        let interval = pooled.interval();
        let service = self.service(pooled.service(interval));
        (service / interval, self.queued(service, now))
    }
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

    /// The mean report interval in seconds, or one second before any.
    fn interval(&self) -> f64 {
        if self.intervals > 0.0 {
            self.interval / self.intervals
        } else {
            1.0
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Feeds `model` reports of (seconds after `t0`, figure, redirects sent
    /// in all).
    fn feed(model: &mut CostModel, t0: Instant, reports: &[(f64, f64, u64)]) {
        for &(at, figure, sent) in reports {
            model.observe(figure, sent, t0 + Duration::from_secs_f64(at));
        }
    }

    fn pooled(models: &[&CostModel]) -> PooledCost {
        let mut pooled = PooledCost::default();
        for model in models {
            model.add_to(&mut pooled);
        }
        pooled
    }

    /// A utilisation model that reported 50% every second while sent 10
    /// redirects a second, up to `sent` = 100 at t0 + 10 s: 0.05 busy
    /// seconds per redirect.
    fn half_busy(t0: Instant) -> CostModel {
        let mut model = CostModel::utilisation();
        let reports: Vec<_> = (0..=10).map(|i| (i as f64, 0.5, i * 10)).collect();
        feed(&mut model, t0, &reports);
        model
    }

    /// The decayed redirects `half_busy` remembers: ten cycles of 10.
    fn half_busy_received() -> f64 {
        (0..10)
            .map(|k| 10.0 * (-10.0 * k as f64 / CYCLE_WINDOW).exp())
            .sum()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn projection_adds_sent_since_report_times_cost() {
        let p = Projection {
            base: 0.2,
            sent_at_report: 100,
            cost: 0.01,
        };
        assert_eq!(p.at(100), Load(0.2));
        assert!((p.at(130).0 - 0.5).abs() < 1e-12);
        // Never clipped: order survives past 100%.
        assert!(p.at(300) > p.at(250));
        assert!(p.at(300).0 > 1.0);
    }

    #[test]
    fn shared_projection_is_never_torn() {
        use std::sync::Arc;
        // Every published projection has base == cost == sent_at_report;
        // a torn read would mix two of them.
        let shared = Arc::new(SharedProjection::new(Projection {
            base: 0.0,
            sent_at_report: 0,
            cost: 0.0,
        }));
        let writer = {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for i in 1..=200_000u64 {
                    let x = i as f64;
                    shared.publish(Projection {
                        base: x,
                        sent_at_report: i,
                        cost: x,
                    });
                }
            })
        };
        let mut last = 0;
        while last < 200_000 {
            let p = shared.get();
            assert_eq!(p.base, p.cost);
            assert_eq!(p.base, p.sent_at_report as f64);
            assert!(p.sent_at_report >= last, "went back in time");
            last = p.sent_at_report;
        }
        writer.join().unwrap();
    }

    #[test]
    fn steady_traffic_learns_figure_per_redirect() {
        let t0 = Instant::now();
        let mut m = CostModel::level();
        let reports: Vec<_> = (1..=50).map(|i| (i as f64, 0.6, i * 40)).collect();
        feed(&mut m, t0, &reports);
        let p = m.project(0.6, 2000, PooledCost::default(), t0);
        assert!((p.cost - 0.6 / 40.0).abs() < 1e-3, "{}", p.cost);
    }

    #[test]
    fn idle_node_borrows_pool_cost_and_never_goes_below_floor() {
        let t0 = Instant::now();
        let mut busy = CostModel::level();
        feed(&mut busy, t0, &[(0.0, 0.0, 0), (1.0, 1.0, 50)]);
        let pool = pooled(&[&busy]);
        assert_eq!(pool.level_cost(), 0.02);

        let mut idle = CostModel::level();
        feed(&mut idle, t0, &[(0.0, 0.0, 0), (1.0, 0.0, 0)]);
        assert_eq!(idle.project(0.0, 0, pool, t0).cost, 0.02);

        // A node whose load is flat near zero while traffic flows would
        // learn ~0 and absorb the herd; the floor stops that.
        let mut flat = CostModel::level();
        let reports: Vec<_> = (1..20).map(|i| (i as f64, 0.001, i * 1000)).collect();
        feed(&mut flat, t0, &reports);
        assert_eq!(
            flat.project(0.001, 19_000, pool, t0).cost,
            0.02 * FLOOR_SHARE
        );
    }

    #[test]
    fn pooled_cost_uses_prior_before_traffic() {
        let t0 = Instant::now();
        assert_eq!(PooledCost::default().level_cost(), PRIOR_COST);
        // A utilisation model with no report interval yet: 1% per redirect.
        let fresh = CostModel::utilisation();
        let p = fresh.project(0.2, 0, PooledCost::default(), t0);
        assert_eq!(p.cost, PRIOR_COST);
        let mut a = CostModel::level();
        feed(&mut a, t0, &[(0.0, 0.5, 0), (1.0, 0.5, 50)]);
        let pool = pooled(&[&a]);
        assert!(pool.level_cost() > 0.0 && pool.level_cost() < 1.0);
    }

    #[test]
    fn utilisation_learns_busy_seconds_per_redirect_over_ended_cycles() {
        let t0 = Instant::now();
        let model = half_busy(t0);
        let pool = pooled(&[&model]);
        // 0.05 busy seconds per redirect, in shares of a 1 s interval.
        let p = model.project(0.5, 100, pool, t0 + Duration::from_secs(10));
        assert!(close(p.cost, 0.05), "{}", p.cost);
        assert_eq!(p.sent_at_report, 100);
        // The same node reporting every 2 s: shares of a 2 s interval.
        let mut slow_reports = CostModel::utilisation();
        let reports: Vec<_> = (0..=5).map(|i| (2.0 * i as f64, 0.5, i * 20)).collect();
        feed(&mut slow_reports, t0, &reports);
        let pool = pooled(&[&slow_reports]);
        let p = slow_reports.project(0.5, 100, pool, t0 + Duration::from_secs(10));
        assert!(close(p.cost, 0.025), "{}", p.cost);
    }

    /// `half_busy`, then five saturated seconds at 30 redirects a second:
    /// 150 redirects, 5 busy seconds.
    fn overloaded(t0: Instant) -> CostModel {
        let mut model = half_busy(t0);
        let reports: Vec<_> = (1..=5)
            .map(|i| (10.0 + i as f64, 1.0, 100 + i * 30))
            .collect();
        feed(&mut model, t0, &reports);
        model
    }

    #[test]
    fn a_saturated_run_is_not_learnt_and_carries_a_backlog() {
        let t0 = Instant::now();
        let model = overloaded(t0);
        let pool = pooled(&[&model]);
        let p = model.project(1.0, 250, pool, t0 + Duration::from_secs(15));
        // Learning from the run would have made the node look cheaper
        // (1/30 s per redirect). Instead the ended cycles' 0.05 s holds,
        // plus the margin of an open run.
        let service = 0.05 * (1.0 + OPEN_RUN_MARGIN);
        assert!(close(p.cost, service), "{}", p.cost);
        // 150 redirects sent, 5 s of them done: 150 - 5 / 0.055 = 59.1
        // still queued, so the node projects far above its 100%.
        assert_eq!(p.sent_at_report, 250 - 59);
        assert!(close(p.at(250).0, 1.0 + 59.0 * service));
    }

    #[test]
    fn the_backlog_drains_at_full_speed_after_the_report() {
        let t0 = Instant::now();
        let model = overloaded(t0);
        let pool = pooled(&[&model]);
        let at = |secs| model.project(1.0, 250, pool, t0 + Duration::from_secs(secs));
        // 2 s later: 150 - 7 / 0.055 = 22.7.
        assert_eq!(at(17).sent_at_report, 250 - 23);
        assert_eq!(at(30).sent_at_report, 250);
    }

    #[test]
    fn an_unsaturated_report_ends_the_run_and_the_backlog() {
        let t0 = Instant::now();
        let mut model = overloaded(t0);
        feed(&mut model, t0, &[(16.0, 0.5, 250)]);
        let pool = pooled(&[&model]);
        let p = model.project(0.5, 250, pool, t0 + Duration::from_secs(16));
        assert_eq!(p.sent_at_report, 250);
        // The ended cycle (5.5 busy seconds, 150 redirects) is learnt now.
        let before = half_busy_received() * (-150.0 / CYCLE_WINDOW).exp();
        let learnt = (0.05 * before + 5.5) / (before + 150.0);
        assert!(close(p.cost, learnt), "{} vs {learnt}", p.cost);
    }

    #[test]
    fn a_long_saturated_run_proves_a_higher_cost() {
        let t0 = Instant::now();
        let mut model = half_busy(t0);
        // Saturated for 4 s at 15 redirects a second: 60 redirects, plus at
        // most the 10 of the interval that ended the last cycle, took 4 s.
        let reports: Vec<_> = (1..=4)
            .map(|i| (10.0 + i as f64, 1.0, 100 + i * 15))
            .collect();
        feed(&mut model, t0, &reports);
        let pool = pooled(&[&model]);
        let p = model.project(1.0, 160, pool, t0 + Duration::from_secs(14));
        let proven = 4.0 / 70.0 * (1.0 + OPEN_RUN_MARGIN);
        assert!(close(p.cost, proven), "{} vs {proven}", p.cost);
        // That cost explains every redirect: nothing queued.
        assert_eq!(p.sent_at_report, 160);
    }

    #[test]
    fn reports_at_one_instant_are_folded_into_the_next() {
        let t0 = Instant::now();
        let mut model = half_busy(t0);
        let at10 = t0 + Duration::from_secs(10);
        model.observe(1.0, 130, at10);
        feed(&mut model, t0, &[(11.0, 0.5, 140)]);
        // One interval of 40 redirects at 50%: 0.0125 s each, not a
        // division by zero.
        let pool = pooled(&[&model]);
        let p = model.project(0.5, 140, pool, t0 + Duration::from_secs(11));
        let before = half_busy_received() * (-40.0 / CYCLE_WINDOW).exp();
        let learnt = (0.05 * before + 0.5) / (before + 40.0);
        assert!(close(p.cost, learnt), "{} vs {learnt}", p.cost);
    }
}
