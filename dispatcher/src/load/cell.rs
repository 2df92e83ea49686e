//! A node's load as the request path reads it: the last report frozen with
//! what is needed to project it to any instant ([`Projection`]), and the
//! per-node cell every snapshot shares ([`NodeLoad`]): the redirect counter
//! and the projection, behind a sequence lock.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use super::SATURATED;

/// A saturated report's difference from the pool's mean is never trusted
/// less than this, from a node whose agent does not count its
/// connections. A node reporting 100% carries a backlog it works off
/// only at the pool's spare capacity (a tenth of its speed at 90% load),
/// not a queue that chance refills and empties in a few arrivals; faded
/// to the mean like any other report, it was sent its full share again
/// and kept the backlog for minutes (a slow node of a 4:1 pool held ~300
/// jobs for 60 s after every share was right). Half, not all: kept whole,
/// equal nodes at 97% load that read 100% by chance were shunned for a
/// whole report interval. Long simulated runs, seeds 1–4: queue-length
/// reports' goal misses 111 / 107 / 122 / 117 → 67 / 56 / 71 / 87 of 720
/// checks and their excess over the goal −80%; busy fractions' misses
/// 67 / 52 / 72 / 72 → 62 / 48 / 69 / 64, equal pools unchanged
/// (`bench/RESULTS.md`, tenth session). Only utilisations age: counts
/// and latencies are trusted in full whatever their figure.
///
/// Where the agent counts connections the backlog is a count, repaid as
/// turns owed ([`PoolBacklog`](super::PoolBacklog), twenty-second
/// session), and the half kept on top shunned a node whose figure read
/// saturated by chance — a queue of 20 at 90% load, one report in eight —
/// for the whole report interval, its turns herded onto the rest: a 4:1
/// pool of 3 whose steps were exact from the first report got 1.52 × an
/// oracle WRR's mean response with reports 100 service times old, 0.89
/// without. Long grids, queue-shaped figures: misses 80 → 50 of 2 880,
/// excess over the goals 10.2 → 5.3 (seeds 1–4), held out 92 → 61 and
/// 13.6 → 7.1; equal pools with reports 100 service times old 0.99 →
/// 0.96 × round robin at the median (one cell 0.96 → 1.15); busy
/// fractions 3 → 4 misses (seeds 1–4, excess 0.41 → 0.46) and 5 → 5
/// (5–6, 1.14 → 0.84) (`bench/RESULTS.md`, twenty-ninth session).
pub const SATURATED_TRUST: f64 = 0.5;

/// A report's figure frozen with what the hot path needs to project it to
/// `now`: reading it costs a few atomic loads, a multiply and an `exp`.
///
/// Times are seconds since the registry's epoch (see
/// [`Members::epoch`](crate::backend::Members::epoch)), so the cell can
/// hold them in atomics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// The reported figure.
    pub base: f64,
    /// The redirect counter the cost counts from: the node's counter when
    /// the report arrived, less the redirects a saturated utilisation
    /// still hides as backlog (see [`CostModel`](super::CostModel)).
    pub sent_at_report: u64,
    /// Load added by each redirect sent since.
    pub cost: f64,
    /// Load one client's request is to the node at its own speed: its
    /// busy seconds per redirect over the report interval, which `cost`
    /// may cap at how far one report moves. With reports fresher than a
    /// job both nodes' costs are that same move, and only `job ÷ cost`
    /// turns a projection into time on the node (see
    /// [`Projection::time_per_load`]). Equal to `cost` for counts.
    pub job: f64,
    /// When the report arrived.
    pub at: f64,
    /// Load the node works off per second at the pace it was being sent:
    /// cost × its recent redirect rate. A node sent exactly that pace
    /// since its report projects flat, so nodes that reported at different
    /// instants compare alike. Zero while a saturated node drains a
    /// backlog (already counted in `sent_at_report`).
    pub drain: f64,
    /// How long, in seconds, the report's own information stays useful:
    /// its difference from the pool's mean decays as `exp(-age / horizon)`.
    /// Infinite for figures that are trusted whatever their age.
    pub horizon: f64,
    /// Age the report already had when it arrived: half the interval a
    /// busy fraction averages over.
    pub age_at_report: f64,
    /// How much of a saturated report's difference from the pool's mean
    /// is kept however old: [`SATURATED_TRUST`] where the node's backlog
    /// is not counted, 0 where it is.
    pub saturated_trust: f64,
}

/// Per-node state shared by the registry and every snapshot: one small
/// allocation, so a pick touches one or two cache lines per candidate.
///
/// The projection is a sequence lock over atomics: one writer (the
/// registry, under its lock) replaces it while the request path reads it
/// lock-free; a reader that overlaps a write retries, so it never sees the
/// base of one report with the cost of another.
#[derive(Debug, Default)]
pub struct NodeLoad {
    /// Redirects sent to this node since the dispatcher started.
    redirects: AtomicU64,
    /// Odd while a write is in progress; bumped twice by every write.
    version: AtomicU64,
    /// The [`Projection`]'s fields, as bits.
    fields: [AtomicU64; 9],
    /// When the last report stops counting, in milliseconds since the
    /// epoch; 0 while unknown. A snapshot is rebuilt at that moment, but
    /// only as soon as the maintenance loop's timer fires, which CPU
    /// starvation delays (by +84 to +143 ms in `chaos/churn.py`): the
    /// request path checks it too, so no client is sent to a node whose
    /// report has expired.
    stale_at_ms: AtomicU64,
    /// Turns of `least-load`'s cycle this node gives to another candidate:
    /// its connections past its share's part of the pool's at its last
    /// report
    /// ([`PoolBacklog`](super::PoolBacklog)), counted down as repaid.
    turns_owed: AtomicU64,
}

// === impl Projection ===

impl Projection {
    /// A projection of `base` that redirects raise by `cost` each, with no
    /// drain and full trust: what counts (connections) and latencies use.
    pub fn counting(base: f64, sent_at_report: u64, cost: f64) -> Self {
        Projection {
            base,
            sent_at_report,
            cost,
            job: cost,
            at: 0.0,
            drain: 0.0,
            horizon: f64::INFINITY,
            age_at_report: 0.0,
            saturated_trust: 0.0,
        }
    }

    /// How much of the report's difference from the pool's mean is still
    /// believed at `now`: 1 when fresh, towards 0 as it ages.
    #[inline]
    pub fn trust(&self, now: f64) -> f64 {
        let since = (now - self.at).max(0.0);
        (-(since + self.age_at_report) / self.horizon).exp()
    }

    /// The projected load at `now` (seconds since the epoch) once
    /// `redirects` have been sent in all, with the report's difference from
    /// the pool's `mean` discounted by its age (a saturated report's only
    /// down to [`Projection::saturated_trust`]). Never clipped: its job is
    /// to order candidates, and clipping makes every busy node look alike.
    /// 0 is idle, 1 a report's full scale (100% CPU); a projection may
    /// exceed 1 or, for a node sent less than its pace, fall below its
    /// report.
    #[inline]
    pub fn load(&self, redirects: u64, now: f64, mean: f64) -> f64 {
        self.load_trusting(redirects, now, mean, self.trust(now))
    }

    /// [`Projection::load`] given the report's [`Projection::trust`] at
    /// `now`, for a caller that has already computed it (an `exp`).
    #[inline]
    pub fn load_trusting(&self, redirects: u64, now: f64, mean: f64, trust: f64) -> f64 {
        let since = (now - self.at).max(0.0);
        let sent = redirects.saturating_sub(self.sent_at_report) as f64;
        let trust = if self.base >= SATURATED {
            trust.max(self.saturated_trust)
        } else {
            trust
        };
        let faded = mean + (self.base - mean) * trust;
        faded + sent * self.cost - since * self.drain
    }

    /// How much time one unit of this projection is at the node's own
    /// speed, in its jobs' time over the units of [`Projection::load`]:
    /// `job ÷ cost`, 1 where the cost is a job's busy time. A busy
    /// fraction's projection is the node's own busy time then; under the
    /// cap ([`Projection::job`]) it counts reports' moves, and a move of a
    /// slow node's report is longer work than a fast one's.
    #[inline]
    pub fn time_per_load(&self) -> f64 {
        if self.cost > 0.0 && self.job > 0.0 {
            self.job / self.cost
        } else {
            1.0
        }
    }

    fn to_bits(self) -> [u64; 9] {
        [
            self.base.to_bits(),
            self.sent_at_report,
            self.cost.to_bits(),
            self.job.to_bits(),
            self.at.to_bits(),
            self.drain.to_bits(),
            self.horizon.to_bits(),
            self.age_at_report.to_bits(),
            self.saturated_trust.to_bits(),
        ]
    }

    fn from_bits(bits: [u64; 9]) -> Self {
        Projection {
            base: f64::from_bits(bits[0]),
            sent_at_report: bits[1],
            cost: f64::from_bits(bits[2]),
            job: f64::from_bits(bits[3]),
            at: f64::from_bits(bits[4]),
            drain: f64::from_bits(bits[5]),
            horizon: f64::from_bits(bits[6]),
            age_at_report: f64::from_bits(bits[7]),
            saturated_trust: f64::from_bits(bits[8]),
        }
    }
}

// === impl NodeLoad ===

impl NodeLoad {
    /// No redirects yet, projecting `projection`.
    pub fn new(projection: Projection) -> Self {
        let cell = NodeLoad::default();
        cell.publish(projection);
        cell
    }

    /// Redirects sent to this node since the dispatcher started.
    #[inline]
    pub fn redirects(&self) -> u64 {
        self.redirects.load(Ordering::Relaxed)
    }

    /// Sets the turns the node owes, from its latest report.
    pub fn owe_turns(&self, turns: u64) {
        self.turns_owed.store(turns, Ordering::Relaxed);
    }

    /// The turns the node still owes.
    #[inline]
    pub fn turns_owed(&self) -> u64 {
        self.turns_owed.load(Ordering::Relaxed)
    }

    /// Whether the node still owes turns.
    #[inline]
    pub fn owes_turns(&self) -> bool {
        self.turns_owed() > 0
    }

    /// Repays one turn; false if none was owed (another request may have
    /// repaid the last one first).
    #[inline]
    pub fn repay_turn(&self) -> bool {
        self.turns_owed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Counts one redirect to this node.
    #[inline]
    pub fn add_redirect(&self) {
        self.redirects.fetch_add(1, Ordering::Relaxed);
    }

    /// The projected load at `now` against the pool's `mean`.
    #[inline]
    pub fn load(&self, now: f64, mean: f64) -> f64 {
        self.projection().load(self.redirects(), now, mean)
    }

    /// Marks the last report as expiring `seconds` after the epoch.
    pub fn set_stale_at(&self, seconds: f64) {
        let ms = (seconds.max(0.0) * 1000.0).ceil() as u64;
        self.stale_at_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Whether the last report has expired at `now` (seconds since the
    /// epoch); never before an expiry is known.
    #[inline]
    pub fn is_stale(&self, now: f64) -> bool {
        let ms = self.stale_at_ms.load(Ordering::Relaxed);
        ms != 0 && now * 1000.0 >= ms as f64
    }

    /// The projection last published.
    #[inline]
    pub fn projection(&self) -> Projection {
        loop {
            let before = self.version.load(Ordering::Acquire);
            if before & 1 == 0 {
                let bits = std::array::from_fn(|i| self.fields[i].load(Ordering::Relaxed));
                fence(Ordering::Acquire);
                if self.version.load(Ordering::Relaxed) == before {
                    return Projection::from_bits(bits);
                }
            }
            spin_loop();
        }
    }

    /// Makes `projection` the one every snapshot reads. Writers must not
    /// race each other: only the registry calls this, under its lock.
    pub fn publish(&self, projection: Projection) {
        let version = self.version.load(Ordering::Relaxed);
        self.version
            .store(version.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        for (field, bits) in self.fields.iter().zip(projection.to_bits()) {
            field.store(bits, Ordering::Relaxed);
        }
        self.version
            .store(version.wrapping_add(2), Ordering::Release);
    }
}
