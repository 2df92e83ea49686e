//! How loaded a backend is — and nothing about choosing one.
//!
//! A report is a picture of the past: by the time the next one arrives the
//! dispatcher may have sent that node hundreds of clients. Comparing stale
//! reports makes every client herd onto whichever node looked idle last
//! (Mitzenmacher, "How useful is old information?"). So between reports the
//! load is **projected**: the reported figure plus the redirects sent since
//! that report times a per-redirect cost.
//!
//! The cost is learnt online per node as *reported figure per redirect
//! received in a report interval* (a ratio of two moving averages). That is
//! the steady-state estimate that holds up: regressing *changes* in load on
//! redirects learns a cost near zero for a node whose load stays flat while
//! traffic keeps flowing, and that node then absorbs the herd. A node with
//! no traffic of its own yet borrows the pool-wide cost, and no node's cost
//! may fall below a fraction of it.
//!
//! Projections are never clipped at 100%: their job is to order candidates,
//! and clipping makes every busy node look the same.
//!
//! A node's current projection is published in a [`SharedProjection`] that
//! every pool snapshot reads, so a report that changes only a node's load
//! counts at once, without rebuilding the pool.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering, fence};

/// Weight of the newest interval in the moving averages of [`CostModel`].
const ALPHA: f64 = 0.3;

/// A node's cost may not fall below this share of the pool-wide cost.
const FLOOR_SHARE: f64 = 0.25;

/// The cost used when no node has seen traffic yet: 1% of a node per
/// redirect, enough to spread a first burst.
pub const PRIOR_COST: f64 = 0.01;

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
    /// The node's redirect counter when the report arrived.
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
#[derive(Debug, Clone, Default)]
pub struct CostModel {
    /// The redirect counter at the previous report.
    last_sent: Option<u64>,
    /// Moving average of the reported figure.
    figure: f64,
    /// Moving average of redirects received per report interval; `None`
    /// until one whole interval has been seen.
    per_interval: Option<f64>,
}

/// Sums of every node's averages, for the pool-wide cost.
#[derive(Debug, Clone, Copy, Default)]
pub struct PooledCost {
    figure: f64,
    per_interval: f64,
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
    /// Folds in a report of `figure` that arrived when `sent` redirects had
    /// been sent to the node in all.
    pub fn observe(&mut self, figure: f64, sent: u64) {
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

    /// Adds this node's averages to the pool-wide sums.
    pub fn add_to(&self, pooled: &mut PooledCost) {
        if let Some(per_interval) = self.per_interval {
            pooled.figure += self.figure;
            pooled.per_interval += per_interval;
        }
    }

    /// The cost per redirect for this node, given the pool-wide estimate.
    pub fn cost(&self, pooled: f64) -> f64 {
        let own = match self.per_interval {
            Some(per_interval) if per_interval >= 1.0 => self.figure / per_interval,
            _ => pooled,
        };
        own.max(pooled * FLOOR_SHARE)
    }
}

// === impl PooledCost ===

impl PooledCost {
    /// The pool-wide cost per redirect, or [`PRIOR_COST`] before any traffic.
    pub fn cost(&self) -> f64 {
        if self.per_interval >= 1.0 && self.figure > 0.0 {
            self.figure / self.per_interval
        } else {
            PRIOR_COST
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut m = CostModel::default();
        let mut sent = 0;
        for _ in 0..50 {
            sent += 40;
            m.observe(0.6, sent);
        }
        assert!((m.cost(0.0) - 0.6 / 40.0).abs() < 1e-3, "{}", m.cost(0.0));
    }

    #[test]
    fn idle_node_borrows_pool_cost_and_never_goes_below_floor() {
        let mut idle = CostModel::default();
        idle.observe(0.0, 0);
        idle.observe(0.0, 0);
        assert_eq!(idle.cost(0.02), 0.02);

        // A node whose load is flat near zero while traffic flows would
        // learn ~0 and absorb the herd; the floor stops that.
        let mut flat = CostModel::default();
        for i in 1..20 {
            flat.observe(0.001, i * 1000);
        }
        assert_eq!(flat.cost(0.02), 0.02 * FLOOR_SHARE);
    }

    #[test]
    fn pooled_cost_uses_prior_before_traffic() {
        assert_eq!(PooledCost::default().cost(), PRIOR_COST);
        let mut pooled = PooledCost::default();
        let mut a = CostModel::default();
        a.observe(0.5, 0);
        a.observe(0.5, 50);
        a.add_to(&mut pooled);
        assert!(pooled.cost() > 0.0 && pooled.cost() < 1.0);
    }
}
