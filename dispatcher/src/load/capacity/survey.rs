//! The pool survey: what all the nodes' reports say together at a snapshot.
//! [`PoolBusy`] sums up their capacity models and [`StepScatter`] how widely
//! the settled nodes' reports scatter at each step; each node's share is
//! then cut or corrected against them. Kept apart from the per-node
//! controller in the parent module because it reads every node at once.

use super::overload::Overload;
use super::record::likeness;
use super::{
    CONVEX, CONVEX_ONCE_READ, CapacityStep, MIN_RESPONSE_SPREAD, RAMP_OTHERS_MEAN, SATURATED, level,
};
use crate::load::Speed;

/// In [`PoolBusy::utilisation`], a saturated node's floor (the share of
/// what it is sent that it must be able to do) is read as at least this,
/// so its capacity as at least a tenth of what it is sent (the middle of
/// 0.01 and 1): the others' figures may overstate what they can do (a
/// queue length does) and put the floor at nothing.
const MIN_FLOOR: f64 = 0.01;

/// The gain is divided by a slope of this much at most.
const MAX_ELASTICITY: f64 = 20.0;

/// What the pool's reports say at a snapshot, that each node's share is
/// corrected against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolBusy {
    /// How many connections the ready nodes typically hold
    /// ([`level::typical`]), which a node's own are held against
    /// ([`CapacityStep::cut_backlogged`]); `None` before any reported.
    pub typical_level: Option<f64>,
    /// The ready nodes' mean smoothed utilisation.
    pub mean: f64,
    /// The same over the nodes whose smoothed utilisation is under
    /// saturation; `mean` while none is.
    pub unsaturated_mean: f64,
    /// The mean of √(share factor) over the nodes `mean` is taken over
    /// (positive: a survey counts at least one node, and every factor is):
    /// what a node's own √factor is weighed against where a queue-shaped
    /// figure's target leans to the faster nodes
    /// ([`ROOT_RULE_FULL_BELOW`](super::ROOT_RULE_FULL_BELOW)).
    pub mean_root_factor: f64,
    /// The least fraction of what the saturated nodes are sent that they
    /// must be able to do if the pool can take its load: what the pool is
    /// sent less what its unsaturated nodes can do (each one's redirects ÷
    /// its utilisation), over what the saturated ones are sent. A
    /// saturated node's capacity lies between this share of its redirects
    /// and all of them; `None` while no node is saturated. A node still
    /// climbing to saturation in its first window counts as saturated
    /// once its reports say so and the others' do not (see
    /// [`RAMP_OTHERS_MEAN`]).
    pub saturated_floor: Option<f64>,
    /// How many times over the figure moves for a change of a node's
    /// redirects, pooled over every node's measured changes of step
    /// (the slope of log figure on log rate, a big change weighed as a
    /// half-octave one: [`MAX_RESPONSE_LEVERAGE`](super::MAX_RESPONSE_LEVERAGE)): 1 until measured, or
    /// below [`CONVEX`] (below [`CONVEX_ONCE_READ`] once some node was
    /// corrected against a pool that read it convex; [`CONVEX`] at least
    /// from there). A queue length reads 5–10× at 90% load. [`CONVEX`] at
    /// least once most nodes' completions per unit of figure scatter past
    /// counts ([`SpeedMeter::scattered`](crate::load::SpeedMeter::scattered)), whatever the slope: measured
    /// through a queue length's noise it read under [`CONVEX`] in pools
    /// at 70–90% load, the figure was taken as a busy fraction, and the
    /// speeds it lent moved the steps of a 4:1 pool of 8 by up to three
    /// octaves at a snapshot, and the controller took whole ratios of
    /// noise (long grids, queue-shaped figures, seeds 1–4: misses 236 →
    /// 200 of 2 880, excess over the goals 49.8 → 41.9; busy fractions
    /// unchanged; `bench/RESULTS.md`, twenty-first session). Past chance
    /// from each meter's first tested segment, not only after eight: a
    /// queue length read at the report lent speeds for ~8 reports that
    /// moved the steps of a 4:1 pool of 8 by ±2–4 at a snapshot (1.77 →
    /// 1.12 × the better spread; [`SpeedMeter::scattered`](crate::load::SpeedMeter::scattered)).
    pub elasticity: f64,
    /// Whether that slope has been measured. Until it is, a correction
    /// of a pool with no saturated node moves a share one step at most
    /// (an overloaded node's own cut excepted):
    /// a busy fraction's first correction lands at once, but a queue
    /// length read as one moved the nodes of an equal pool an octave each
    /// in its first minute (0.12 against a mean of 0.22), and they never
    /// came back together. A slope measured under [`CONVEX`] at a figure
    /// read convex is not known: the gain is then divided by that floor,
    /// not by what was measured, and a node that halved its speed was cut
    /// an octave at a queue's slope of ~8, to half the share it needed,
    /// while equal nodes stepped up two and three on chance.
    pub response_known: bool,
    /// How alike one node's neighbouring reports are (lag-1 correlation),
    /// pooled over every node's reports since its last change of step;
    /// `None` before any node has two.
    pub likeness: Option<f64>,
    /// What the pool is sent over what it can do, while some node is
    /// saturated: each unsaturated node's capacity read as its redirects ÷
    /// its utilisation, each saturated one's as the geometric middle of
    /// its bounds (`saturated_floor`); never under `mean`, which counts a
    /// saturated node's 100% as if that were all it was sent. A node's
    /// first correction aims at it ([`CapacityStep::correct_on_report`]). `mean`
    /// while no node is saturated.
    pub utilisation: f64,
    /// How much the redirects of the nodes not cut for overload grow once
    /// those that are ([`CapacityStep::cut_overload`]) are sent what their
    /// completions fill: what the pool is sent less what the cut nodes
    /// will be, over what the rest are now. A cut node's share is set
    /// against it, so nodes cut together — the slow half of a pool after a
    /// start — land on their rates jointly; each reckoned alone, a 4:1
    /// pool's slow nodes were cut against a pace the others' cuts then
    /// raised. `None` while no node is cut.
    pub rest_scale: Option<f64>,
    /// Whether a cut node also drains its backlog ([`OVERLOAD_DRAIN`](super::overload::OVERLOAD_DRAIN)):
    /// only while the unsaturated nodes not cut would on average stay
    /// under full utilisation taking what it sheds — the other node of a
    /// pair at 97% load, sent a third more, was flooded in turn. A
    /// saturated node not cut takes none of it, but no longer stops it: a
    /// slow node of a 4:1 pool whose growth fell short of the cut's bar at
    /// the first report, 100 service times after a start, kept its three
    /// peers from draining, and they were cut to what they complete with
    /// 60–70 jobs queued each, and kept some for ~400 service times
    /// (long grids, busy fractions, seeds 1–4: misses 14 → 9;
    /// `bench/RESULTS.md`, twentieth session).
    pub cut_drains: bool,
    /// The measured speed ([`SpeedMeter`](crate::load::SpeedMeter)) of the pool's median node, that
    /// every node's capacity is then its own speed over; `None` until the
    /// figure has been seen answering changes of share one for one (a busy
    /// fraction: a speed is busy time's inverse, and a queue length read
    /// as one put the N = 8 pools 4:1 at 97% load from 2.4 to 13.8 × the
    /// better spread), and until more than half the nodes with a speed have
    /// had it tested against counts of completions and not found
    /// scattering
    /// ([`SpeedMeter::tested_unscattered`](crate::load::SpeedMeter::tested_unscattered)).
    /// A queue length averaged over the interval answered a 4:1 pool's changes of share one for one at
    /// its low levels before any segment was tested, and the "speeds" lent
    /// from it put the slow nodes of a pool of 8 at 90% load, reports 25
    /// service times old, at 14–15 steps under the fast ones where 8 were
    /// due (five seeds of eight 1.05–1.40 × the better spread; tested
    /// first, 0.89–1.08). Long grids, queue-shaped figures: misses 73 → 69
    /// of 5 760 (those at T = 25 service times 8 → 4), 7 cells ≥ 5% better,
    /// none worse; busy fractions 7 of 4 320 as before, no cell 5% apart;
    /// starts unchanged (`bench/RESULTS.md`, thirty-third session).
    pub speed_reference: Option<Speed>,
    /// Σ share factor ÷ Σ measured speed over the nodes with a speed,
    /// whatever the figure is seen to be, and that ratio's relative
    /// standard error: a node is overloaded by its share only while its
    /// own factor ÷ speed is significantly over it
    /// ([`CapacityStep::correct_on_report`]).
    pub share_per_speed: Option<(f64, f64)>,
    /// Whether some node's connections grew past noise since its last
    /// change of step ([`GROWTH_SIGNIFICANCE`](super::overload::GROWTH_SIGNIFICANCE)): a count, not a figure,
    /// saying some share is wrong. A node's first correction from reports
    /// too old for `least-load` to trust ([`GIVEN_AWAY_MAX_NAMED`](super::overload::GIVEN_AWAY_MAX_NAMED)) waits
    /// for it ([`CapacityStep::correct_on_report`]): with queue lengths 100 service
    /// times old, the eight nodes of an equal pool at 90% load took first
    /// corrections of up to an octave on chance, and three sat at a third
    /// of their peers' share for ~3 000 service times (1.62 × round
    /// robin). Long grids, seeds 1–4: misses 200 → 190 (queue-shaped) and
    /// 9 → 7 (busy fractions); starts lose 6–11% in two cells of reports
    /// 25–100 service times old (`bench/RESULTS.md`, twenty-first session).
    pub backlog_growing: bool,
}

/// How widely the reports of the nodes sent the same share scatter: per
/// step, the mean variance of the reports since their last change of
/// step over the settled nodes there. A node's deviation from the pool
/// is judged against the larger of that and its own scatter
/// ([`CapacityStep::correct_on_report`]): at a queue-shaped figure a
/// record's own scatter shrinks with its level, so a few calm reports
/// (a slow node's queue read 0 or 2 seven times running, right at its
/// share) passed the noise gate as a node twice too cold, which moved
/// up, overloaded, lifted the pool's mean, and the fast node that then
/// read coldest against it moved up an octave (4:1 pool of 8 at 70%
/// load, queue at the report, reports 100 service times old: 1.38 →
/// 0.98 × the better spread). Only settled nodes count: every node
/// starts at the same step whatever its speed, and there the slow
/// nodes' scatter held the fast half of a 2:1 pool back from its share
/// (1.02 → 1.43). Long grids, queue-shaped figures: misses 50 → 46 of
/// 2 880 (seeds 1–4) and 61 → 51 (5–8), excess over the goals 5.26 →
/// 4.88 and 7.09 → 5.82; busy fractions unchanged (`bench/RESULTS.md`,
/// thirtieth session).
#[derive(Debug)]
pub struct StepScatter {
    /// Per step with a settled node: Σ variance and how many nodes.
    steps: Vec<(i32, f64, f64)>,
}

/// The nodes of a survey whose reports climbed to saturation in their
/// first window though its average did not ([`RAMP_OTHERS_MEAN`]): the
/// sums over their windows of redirects a second, of redirects a second ÷
/// utilisation, and of utilisation, and how many there are.
#[derive(Debug, Default)]
struct Ramped {
    rate: f64,
    capacity: f64,
    busy: f64,
    nodes: f64,
}

// === impl PoolBusy ===

impl PoolBusy {
    /// Whether the pool's figure reads convex: it answers a change of
    /// share at least [`CONVEX`] times over, as a queue length does, and
    /// every correction's gain is divided by that slope.
    pub(super) fn reads_convex(&self) -> bool {
        self.elasticity >= CONVEX
    }

    /// Surveys the nodes' capacity models; `None` before any reported
    /// since its last change of step.
    pub fn survey<'a>(nodes: impl IntoIterator<Item = &'a CapacityStep>) -> Option<PoolBusy> {
        let (mut busy, mut count, mut root_factors) = (0.0, 0.0, 0.0);
        let (mut unsaturated_busy, mut unsaturated_count) = (0.0, 0.0);
        let (mut sent, mut unsaturated, mut saturated) = (0.0, 0.0, 0.0);
        let (mut product, mut spread) = (0.0, 0.0);
        let (mut variance, mut covariance) = (0.0, 0.0);
        let mut ramped = Ramped::default();
        let mut speeds: Vec<Speed> = Vec::new();
        let mut scattered = 0;
        let mut tested_unscattered = 0;
        let mut backlog_growing = false;
        let mut read_convex = false;
        // Σ factor, Σ speed and Σ (speed's standard error)² over the nodes
        // with a speed.
        let mut shared = (0.0, 0.0, 0.0);
        let (mut named, mut cut_named) = (0.0, 0.0);
        let (mut completed, mut drained) = (0.0, 0.0);
        let (mut rest_busy, mut rest_count, mut rest_saturated) = (0.0, 0.0, 0.0);
        let mut levels = Vec::new();
        for node in nodes {
            levels.push(node.levels);
            backlog_growing |= node.completed_while_queueing().is_some();
            read_convex |= node.read_convex;
            named += node.named_rate;
            if let Some(overload) = node.overload() {
                cut_named += node.named_rate;
                completed += overload.completed;
                drained += overload.drained;
            } else if let Some((_, busy)) = node.window() {
                if busy >= SATURATED {
                    rest_saturated += node.named_rate;
                } else {
                    rest_busy += busy;
                    rest_count += 1.0;
                }
            }
            if let Some(speed) = node.meter.speed() {
                speeds.push(speed);
                scattered += usize::from(node.meter.scattered());
                tested_unscattered += usize::from(node.meter.tested_unscattered());
                shared.0 += node.factor();
                shared.1 += speed.per_busy_second;
                shared.2 += (speed.relative_error * speed.per_busy_second).powi(2);
            }
            product += node.response.0;
            spread += node.response.1;
            if let Some((v, c)) = node.record.moments() {
                variance += v;
                covariance += c;
            }
            let (rate, b) = match node.window() {
                Some(window) => {
                    busy += window.1;
                    count += 1.0;
                    root_factors += node.factor().sqrt();
                    if window.1 < SATURATED {
                        unsaturated_busy += window.1;
                        unsaturated_count += 1.0;
                    }
                    window
                }
                // Just corrected: its last window stands in for the
                // redirects and capacity it has (not for the mean).
                None => match node.last {
                    Some(last) => last,
                    None => continue,
                },
            };
            sent += rate;
            if b >= SATURATED {
                saturated += rate;
            } else {
                unsaturated += rate / b.max(0.01);
                // Only a node that has not been corrected yet, so one with a
                // window of its own, counted in `busy` and `count`.
                if node.ramped_to_saturation() {
                    ramped.rate += rate;
                    ramped.capacity += rate / b.max(0.01);
                    ramped.busy += b;
                    ramped.nodes += 1.0;
                }
            }
        }
        let others = count - ramped.nodes;
        if ramped.nodes > 0.0 && others > 0.0 && (busy - ramped.busy) / others <= RAMP_OTHERS_MEAN {
            saturated += ramped.rate;
            unsaturated -= ramped.capacity;
        }
        let measured = spread >= MIN_RESPONSE_SPREAD;
        let convex_from = if read_convex {
            CONVEX_ONCE_READ
        } else {
            CONVEX
        };
        let slope = product / spread;
        let elasticity = match slope {
            slope if measured && slope >= convex_from => slope.clamp(CONVEX, MAX_ELASTICITY),
            _ if 2 * scattered > speeds.len() => CONVEX,
            _ => 1.0,
        };
        let response_known = measured && (elasticity < CONVEX || slope >= CONVEX);
        if count == 0.0 {
            return None;
        }
        let mean = busy / count;
        let saturated_floor =
            (saturated > 0.0).then(|| ((sent - unsaturated) / saturated).clamp(0.0, 1.0));
        let utilisation = match saturated_floor {
            Some(floor) => {
                let capacity = unsaturated + saturated * floor.max(MIN_FLOOR).sqrt();
                (sent / capacity).max(mean)
            }
            None => mean,
        };
        // The upper median, as `Members` re-centres the steps on: the node
        // it names keeps step 0.
        let middle = speeds.len() / 2;
        let speed_reference = (response_known
            && elasticity < CONVEX
            && 2 * tested_unscattered > speeds.len())
        .then(|| {
            *speeds
                .select_nth_unstable_by(middle, |a, b| {
                    a.per_busy_second.total_cmp(&b.per_busy_second)
                })
                .1
        });
        let rest = named - cut_named;
        // The unsaturated rest, each taking its share of what the drain
        // sheds, at most fully busy on average; a saturated node not cut
        // (yet) takes no more than it is sent now.
        let open = rest - rest_saturated;
        let cut_drains = rest_count > 0.0
            && open > 0.0
            && (named - drained - rest_saturated) / open * (rest_busy / rest_count) <= 1.0;
        let cut_rate = Overload { completed, drained }.rate(cut_drains);
        let rest_scale =
            (cut_named > 0.0 && rest > 0.0 && named > cut_rate).then(|| (named - cut_rate) / rest);
        Some(PoolBusy {
            typical_level: level::typical(&levels),
            backlog_growing,
            rest_scale,
            cut_drains,
            speed_reference,
            share_per_speed: (shared.1 > 0.0)
                .then(|| (shared.0 / shared.1, shared.2.sqrt() / shared.1)),
            mean_root_factor: root_factors / count,
            unsaturated_mean: if unsaturated_count > 0.0 {
                unsaturated_busy / unsaturated_count
            } else {
                mean
            },
            elasticity,
            response_known,
            likeness: (variance > 0.0).then(|| likeness(covariance, variance)),
            mean,
            saturated_floor,
            utilisation,
        })
    }
}

// === impl StepScatter ===

impl StepScatter {
    /// Surveys the nodes' records of reports.
    pub fn survey<'a>(nodes: impl IntoIterator<Item = &'a CapacityStep>) -> StepScatter {
        let mut steps: Vec<(i32, f64, f64)> = Vec::new();
        for node in nodes.into_iter().filter(|node| node.settled) {
            let Some((variance, _)) = node.record.moments() else {
                continue;
            };
            match steps.iter_mut().find(|(step, ..)| *step == node.step) {
                Some((_, sum, count)) => {
                    *sum += variance;
                    *count += 1.0;
                }
                None => steps.push((node.step, variance, 1.0)),
            }
        }
        StepScatter { steps }
    }

    /// The mean variance of the reports of the settled nodes at `step`;
    /// `None` where there are none.
    pub(super) fn at(&self, step: i32) -> Option<f64> {
        self.steps
            .iter()
            .find(|(at, ..)| *at == step)
            .map(|(_, sum, count)| sum / count)
    }
}
