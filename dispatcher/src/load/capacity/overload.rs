//! The cuts: a share too big for its node, cut at once from counts rather
//! than figures. A saturated node's 100% cannot say how far over it is, but
//! what it completed while its connections grew
//! ([`CapacityStep::cut_overload`]) and what `least-load` really sent it
//! ([`CapacityStep::cut_to_sent`]) can. Kept apart from the controller in
//! the parent module, which reads figures and consults some of these counts
//! through the helpers here.

use super::{
    CUT_MAX_OCTAVES, CapacityStep, HYSTERESIS, MAX_STEP, MIN_NAMED, PoolBusy, SATURATED,
    SATURATED_MARGIN, SPEED_SIGNIFICANCE, STEPS_PER_OCTAVE, StepMove, level,
};

/// An overloaded node is cut to what it completes once its connections
/// have grown this many standard errors over its run of saturated reports
/// ([`CapacityStep::cut_overload`]). Growth is arrivals less completions,
/// each about Poisson, so its error is √(sent + completed). The run is
/// checked at every report, from a node's first, and a random walk's
/// z-score crosses 3 somewhere along a long run far more often than any
/// one report's would; at 4 no equal cell of the long grids moved by more
/// than 10%.
const OVERLOAD_SIGNIFICANCE: f64 = 4.0;

/// In its first window a node is overloaded, whatever its figure reads,
/// once its connections have grown this many standard errors
/// (√(sent + completed), as for [`OVERLOAD_SIGNIFICANCE`]) while it reads
/// [`SATURATED_MARGIN`] over the pool's mean. A busy fraction over an
/// interval that began with a moment's idle reads under saturation while
/// the queue behind it grows: after a start, a slow node of a 2:1 pool at
/// 90% load read 0.93–0.96 over its first reports, 25 service times apart,
/// its queue growing 8 a report, and was left at its first share — under
/// the 0.98 that reads saturated, with too few redirects for the overload
/// cut's 4 — for ten reports. Only the first window: at 97% load a queue
/// length on equal nodes grows 2 standard errors by chance, and later
/// windows have the controller and the cut (`bench/RESULTS.md`,
/// seventeenth session). It is also the bar of a node saturated since its
/// first report once another node was cut
/// ([`CapacityStep::cut_overload_beside`]).
pub(super) const GROWTH_SIGNIFICANCE: f64 = 2.0;

/// An overloaded node is also one whose share named it, over a run of at
/// least [`MIN_OVERLOAD_REPORTS`] saturated reports, this many standard
/// errors (√(named + completed)) more than it completed — whether or not
/// its connections grew ([`CapacityStep::overload`]). Busy throughout the
/// run, it completed what it can do; `least-load` steers off a node that
/// reads saturated and sends it about what it completes, so its backlog
/// holds (or drains a few jobs a report) and never grows past the growth
/// bar, while its share still names it for twice that. After a start at
/// reports 100 service times apart, out of phase, two slow nodes of a 4:1
/// pool of 8 at 70% load held 20–80 jobs this way for four reports, cut
/// only as far as the turns `least-load` gave away (to 0.71 and 0.84)
/// where their peers were cut to what they complete (0.25–0.30): that
/// cell 1.32 → 1.09 × the better spread. Long grids, queue-shaped
/// figures, seeds 1–8: misses 63 → 58 of 5 760, excess over the goals
/// 7.85 → 6.78, 19 cells ≥ 5% better and 10 worse; busy fractions (seeds
/// 1–6) 8 misses as before. At 4 standard errors, 6.56, but 53 cells
/// better and 27 worse, among them pools of 3 at 97% load with a node
/// halving its speed (`bench/RESULTS.md`, thirty-eighth session).
pub(super) const SHORTFALL_SIGNIFICANCE: f64 = 6.0;

/// ... and the cut also drains this share of the backlog the run built,
/// over as long again as the run (never below half of what it completes):
/// cut to exactly what it completes, a node keeps its backlog and stays
/// saturated, and the controller took another window a quarter octave to
/// drain it (the halving node of 8 at 90% load, T = 100 service times,
/// seed 1: 1.6–1.8 × the better spread with none, 1.3–1.4 with half).
/// Once drained, the node reads below the pool and the controller gives
/// the share back.
pub(super) const OVERLOAD_DRAIN: f64 = 0.5;

/// A run of saturated reports counts for a cut once it is this many
/// reports long, or one if it began with the node's first: a queue length
/// saturated at a report says nothing of the interval before, when the
/// node may have idled, and one report's completions then read low — a
/// node of an equal pool at 97% load, sent more than its share by the
/// loads it reported, was cut an octave and more. After a start the first
/// report is the one chance to cut before a slow node's backlog doubles,
/// and its interval began with the node's first redirect.
const MIN_OVERLOAD_REPORTS: f64 = 2.0;

/// ... or one if it began with the node's second report after a first that
/// read at least this busy: that node did not idle before the run either.
/// Agents out of phase each report first at a moment of their own, so one
/// whose first report came a few service times after a start covered
/// only those: a slow node of a 4:1 pool of 8, busy fractions, reports
/// 100 service times apart, read 0.96 over its first 6 and was saturated
/// over the next 100, its queue grown by 133 — and was cut only a report
/// later still, with ~200 queued. Starts (ten seeds, both phasings,
/// medians × the better spread): that pool at T = 100 / 25 service times
/// 11.7 / 3.4 → 10.7 / 3.0, the 4:1 pools of 3 at T = 100 4.4 → 3.9, the
/// 2:1 pools of 8 at T = 100 3.25 → 3.34, every other median as before.
/// Long grids: busy fractions (seeds 1–6) misses 9 → 8 of 4 320, Σ excess
/// over the goals 2.57 → 2.23; queue-shaped figures (seeds 1–8) 83 → 82 of
/// 5 760, 9.12 → 9.05, four cells ≥ 3% better and two worse; no equal
/// pool's cell moved (`bench/RESULTS.md`, thirty-sixth session).
pub(super) const NEAR_SATURATED: f64 = 0.9;

/// A node hotter than the pool is cut to the share it was really sent
/// once the turns `least-load` gave away from it since its last change of
/// step — named less sent — are this many standard errors (√named) past
/// none ([`CapacityStep::cut_to_sent`]). Given away at fresh reports, turns
/// are the reports' verdict that its share is too big; and a figure that
/// caps below its backlog (a queue length, `min(100, 100·q/20)`) says so
/// nowhere else: with the backlog counted, `least-load` steers off a slow
/// node the moment it reads saturated, so it hovers just under its cap,
/// never saturated long enough to be cut, while its share names it twice
/// what it takes. After a start, the pools of 8 at 4:1 with a queue length
/// at the report and reports one service time old read 1.04–3.11 × the
/// better spread over ten seeds, 2.77 at the median; at 4 the cut brings
/// them to 1.04–2.32, 1.98 (`bench/RESULTS.md`, twentieth session).
const GIVEN_AWAY_SIGNIFICANCE: f64 = 4.0;

/// ... counted only while the node's share names it at most this many
/// redirects a report ([`CapacityStep::trusted`]; a first correction from
/// reports older waits for a counted backlog, [`PoolBusy::backlog_growing`],
/// and so does a cut to what was sent, [`CapacityStep::kept_backlog`]):
/// past about three trust horizons of four arrivals
/// each (`load::projector`) a report is too old for `least-load` to
/// trust, and the turns it gives away are a saturated node's by rule, not
/// the reports' verdict: without the bound, nodes whose turns went by
/// that rule at 100 service times were cut too (long grids, seeds 1–2,
/// queue-shaped figures' excess over the goals +30%, a 4:1 pool of 8
/// 1.3 → 4.0 × the better spread).
pub(super) const GIVEN_AWAY_MAX_NAMED: f64 = 12.0;

/// A correction starts from the share a node was really sent, not the one
/// its share named, once the two differ by more than this many standard
/// errors of a count (√named; [`CapacityStep::sent_over_named`]): its
/// figure answers what it was sent. `least-load` hands a saturated node's
/// turns to lighter candidates, and a node that took that overflow reads
/// hot on it: after a start, at stale reports, a fast node of a 2:1 pool
/// was cut an octave for it, to a quarter of its speed's share. Long
/// grids, queue-shaped figures, seeds 1–4: misses 103 → 94 of 2 880,
/// excess over the goals 18.0 → 17.3; held-out seeds 5–8 131 → 119, but
/// excess 24.3 → 25.0; busy fractions 13 → 9 over six seeds
/// (`bench/RESULTS.md`, twenty-fourth session). That node's first
/// correction was an early cut, though — its reports after the first
/// interval read saturated on the overflow — until such a node was no
/// longer overloaded by it ([`AFTER_FIRST_CONTRAST`](super::AFTER_FIRST_CONTRAST)).
pub(super) const SENT_SIGNIFICANCE: f64 = 2.0;

/// What a node was sent and how far its connections grew over its latest
/// run of saturated reports, for [`CapacityStep::cut_overload`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct OverloadRun {
    /// Redirects sent over the run, the growth of its connections, and
    /// the redirects its share named it for.
    pub(super) sent: f64,
    pub(super) grew: f64,
    pub(super) named: f64,
    /// Reports, and seconds, the run covers.
    pub(super) reports: f64,
    /// Whether it began with the node's first report that covers time, or
    /// with its second after a first that read [`NEAR_SATURATED`].
    pub(super) from_start: bool,
    pub(super) covered: f64,
}

// === impl OverloadRun ===

impl OverloadRun {
    /// What the node completed over the run — what it was sent less the
    /// growth of its connections — where that falls short of what its
    /// share named it for by [`SHORTFALL_SIGNIFICANCE`] standard errors
    /// (√(named + completed)), over [`MIN_OVERLOAD_REPORTS`] reports at
    /// least.
    fn completed_short_of_named(&self) -> Option<f64> {
        let done = self.completed();
        let short = self.named - done > SHORTFALL_SIGNIFICANCE * (self.named + done).sqrt();
        (self.reports >= MIN_OVERLOAD_REPORTS && short).then_some(done)
    }

    /// What the node completed over the run: what it was sent less the
    /// growth of its connections.
    fn completed(&self) -> f64 {
        (self.sent - self.grew).max(0.0)
    }

    /// The `done` redirects the node completed over the run as a rate, and
    /// the same less what drains the backlog the run built
    /// ([`OVERLOAD_DRAIN`]; never below half: a backlog that shrank over
    /// the run needs no more draining than `least-load`'s steering gives
    /// it).
    fn rates(&self, done: f64) -> Overload {
        let drained = (done - OVERLOAD_DRAIN * self.grew.max(0.0)).max(done / 2.0);
        Overload {
            completed: done / self.covered,
            drained: drained / self.covered,
        }
    }
}

/// What an overloaded node completes, in redirects a second, as
/// [`CapacityStep::cut_overload`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Overload {
    /// Its completions over its run of saturated reports.
    pub(super) completed: f64,
    /// The same less what drains its backlog ([`OVERLOAD_DRAIN`]).
    pub(super) drained: f64,
}

// === impl Overload ===

impl Overload {
    /// The rate to send: `drained` while the pool `drains` the cut nodes'
    /// backlogs ([`PoolBusy::cut_drains`]), `completed` otherwise.
    pub(super) fn rate(self, drains: bool) -> f64 {
        if drains { self.drained } else { self.completed }
    }
}

// === impl CapacityStep ===

impl CapacityStep {
    /// What an overloaded node completed over its run of saturated
    /// reports — what it was sent less the growth of its connections,
    /// whatever its figure's shape — once that growth is significant
    /// ([`OVERLOAD_SIGNIFICANCE`]) over a run long enough
    /// ([`MIN_OVERLOAD_REPORTS`]), or what it completed falls short of
    /// what its share named it for ([`SHORTFALL_SIGNIFICANCE`]).
    pub(super) fn overload(&self) -> Option<Overload> {
        self.overload_past(OVERLOAD_SIGNIFICANCE)
    }

    /// [`CapacityStep::overload`], the growth judged significant past
    /// `significance` standard errors.
    fn overload_past(&self, significance: f64) -> Option<Overload> {
        let OverloadRun {
            sent,
            grew,
            reports,
            from_start,
            covered,
            ..
        } = self.overload;
        let needed = if from_start {
            1.0
        } else {
            MIN_OVERLOAD_REPORTS
        };
        let done = completed_past_growth(sent, grew, significance)
            .or_else(|| self.overload.completed_short_of_named())?;
        (reports >= needed && covered > 0.0 && self.named_rate > 0.0)
            .then(|| self.overload.rates(done))
    }

    /// Whether the node's share is more than its measured speed warrants,
    /// against the `pool`'s share per speed, past their noise; true where
    /// either is unmeasured. Equal nodes at 97% load read saturated by
    /// chance, and stepped down by it the others ran at 99%.
    pub(super) fn share_outruns_speed(&self, pool: PoolBusy) -> bool {
        match (self.meter.speed(), pool.share_per_speed) {
            (Some(own), Some((pool_share, pool_error))) => {
                let error = own.relative_error.hypot(pool_error);
                let excess = (self.factor() / own.per_busy_second / pool_share).ln();
                excess > SPEED_SIGNIFICANCE * error
            }
            _ => true,
        }
    }

    /// Cuts an overloaded node, in one step of at most two octaves
    /// ([`CUT_MAX_OCTAVES`]), to the step at or below the share that sends
    /// it what its completions fill less its drain
    /// ([`CapacityStep::overload`]), the rest of the `pool` taking
    /// the difference ([`PoolBusy::rest_scale`]); returns whether it was
    /// cut. A saturated node's 100% hides how far over it is, and the
    /// controller steps it down a quarter octave a window, its queue
    /// growing all the while; but a count of what it completed does not:
    /// a node that halves its speed mid-run is cut within a window, and
    /// the slow nodes of a 4:1 pool at their first report after a start.
    /// Not while the whole pool reads saturated, when growth is anyone's.
    /// A new run is counted from the cut.
    pub fn cut_overload(&mut self, pool: PoolBusy) -> bool {
        self.cut_overload_past(pool, OVERLOAD_SIGNIFICANCE)
    }

    /// Another node was cut at this pass ([`CapacityStep::cut_overload`],
    /// [`CapacityStep::cut_to_sent`]): a node not cut itself that has read
    /// saturated since its first report (or its second, after a first
    /// that read [`NEAR_SATURATED`]) is cut as
    /// [`CapacityStep::cut_overload`] cuts once its growth is past
    /// [`GROWTH_SIGNIFICANCE`] — the first window's bar — rather than
    /// [`OVERLOAD_SIGNIFICANCE`]; returns whether it was cut. The slow nodes
    /// of a 4:1 pool of 8 at 70% load, their first report 100 service
    /// times after a start, were each sent 179 redirects and grew 78, 86,
    /// 65 and 58: the first two passed the bar of 67, the other two were
    /// steered off by `least-load` from the next report on, so their growth
    /// never passed it, and cut to what they were sent, a step or two at a
    /// time, they queued 56–64 jobs for eight reports. A pool that has just
    /// shown one node overloaded is no equal pool's chance: no equal cell
    /// of the long grids moved. Long grids, queue-shaped figures, seeds
    /// 1–4: misses 35 → 33 of 2 880, Σ excess over the goals 3.77 → 3.53;
    /// held-out seeds 5–8 42 → 40, 5.25 → 4.53; 17 cells ≥ 5% better, 4
    /// worse (a 2:1 pool of 8 at 97% load, T = 100, seed 4: 1.21 → 1.39 and
    /// 1.31 → 1.40; the cut's drain overshoots a slow node there); every
    /// cell that moved has reports 25–100 service times old. Busy
    /// fractions, seeds 1–6: misses 9 → 7 of 4 320, one cell 1% worse;
    /// starts' medians as before or better (`bench/RESULTS.md`,
    /// thirty-third session).
    pub fn cut_overload_beside(&mut self, pool: PoolBusy) -> bool {
        if !self.overload.from_start
            || self.moved.is_some()
            || !self.busy.is_some_and(|busy| busy >= SATURATED)
        {
            return false;
        }
        self.cut_overload_past(pool, GROWTH_SIGNIFICANCE)
    }

    /// [`CapacityStep::cut_overload`], the growth judged past
    /// `significance` standard errors.
    fn cut_overload_past(&mut self, pool: PoolBusy, significance: f64) -> bool {
        let (Some(overload), Some(scale)) = (self.overload_past(significance), pool.rest_scale)
        else {
            return false;
        };
        if pool.mean >= SATURATED - SATURATED_MARGIN {
            return false;
        }
        let rate = overload.rate(pool.cut_drains);
        let factor = self.factor() * rate / (scale * self.named_rate);
        self.cut_to(
            (factor.log2() * STEPS_PER_OCTAVE).floor() as i32,
            pool.mean,
            StepMove::CutOverloaded,
        )
    }

    /// Cuts a node hotter than the `pool`'s mean to the share it was
    /// really sent since its last change of step, once the turns
    /// `least-load` gave away from it are past noise
    /// ([`GIVEN_AWAY_SIGNIFICANCE`]) at reports fresh enough to be trusted
    /// ([`GIVEN_AWAY_MAX_NAMED`]) — or at older ones, while its connections
    /// did not drain all the same ([`CapacityStep::kept_backlog`]) — and
    /// the cut is more than the hysteresis (two octaves at most, as
    /// [`CapacityStep::cut_overload`]); returns whether it was cut. A node
    /// that reads cooler than the pool is left to the controller: its
    /// turns went to nodes lighter still.
    pub fn cut_to_sent(&mut self, pool: PoolBusy) -> bool {
        let Some(busy) = self.busy else {
            return false;
        };
        let given_away = self.record.named - self.record.sent;
        if !(self.trusted() || self.kept_backlog())
            || busy <= pool.mean + SATURATED_MARGIN
            || self.record.named < MIN_NAMED
            || given_away < GIVEN_AWAY_SIGNIFICANCE * self.record.named.sqrt()
        {
            return false;
        }
        let steps = (self.record.sent / self.record.named).log2() * STEPS_PER_OCTAVE;
        steps <= -(0.5 + HYSTERESIS)
            && self.cut_to(
                self.step + steps.round() as i32,
                pool.mean,
                StepMove::CutToSent,
            )
    }

    /// Cuts a node whose connections at its last two reports since its
    /// last change of step both stand past chance against the `pool`'s
    /// typical level ([`level::chance_bar`]), from reports too old for
    /// `least-load` to trust ([`CapacityStep::trusted`]: at fresher ones
    /// it steers off the node's backlog itself); returns whether it was
    /// cut. Cut to the share that sends it what it completed over its run
    /// of saturated reports, less the drain, as
    /// [`CapacityStep::cut_overload`] cuts but whatever the run's noise —
    /// its level is the proof — and a step at least, which is all of it
    /// where no run is counted (a mean queue over an interval under its
    /// cap): a node overloaded by a few percent needs little, one that
    /// halved its speed needs two octaves. A step at most, and a node
    /// that halved its speed was left at 84% of its share and cut to half
    /// a report later, the others' steps churning meanwhile (long grids,
    /// queue-shaped figures, 90% load, seed 4: 1.03 → 1.24 × the better
    /// spread). The others are not reckoned with it
    /// ([`PoolBusy::rest_scale`]), nor do they settle on it
    /// ([`CapacityStep::settle_on_cut`]): as measured, it moves only its
    /// own node.
    pub fn cut_backlogged(&mut self, pool: PoolBusy) -> bool {
        let Some(typical) = pool.typical_level else {
            return false;
        };
        if self.trusted()
            || self.record.reports < 2.0
            || !self.levels.held_past(level::chance_bar(typical))
        {
            return false;
        }
        let run = self.overload;
        let mut step = self.step - 1;
        if run.reports >= 1.0 && run.covered > 0.0 && self.named_rate > 0.0 {
            let rate = run.rates(run.completed()).rate(pool.cut_drains);
            let factor = self.factor() * rate / self.named_rate;
            step = step.min((factor.log2() * STEPS_PER_OCTAVE).floor() as i32);
        }
        self.cut_to(step, pool.mean, StepMove::CutBacklogged)
    }

    /// Whether the node holds connections, as many as at its last change
    /// of step or more. From reports too old for `least-load` to trust,
    /// the turns it gives away are a saturated node's by rule or repay a
    /// backlog past its part of the pool's (`NodeLoad::owe_turns`); while
    /// that backlog was repaid, they say nothing about the share (a 2:1
    /// pool's slow node whose first cut left 104 jobs queued, repaid over
    /// the next report, was cut two octaves more on them). But a node
    /// whose backlog held or grew though turns went elsewhere was sent at
    /// least what it completed: its share is too big by what it gave
    /// away. Long grids, queue-shaped figures, seeds 1–4: misses 111 →
    /// 103 of 2 880, excess over the goals 19.5 → 18.0; busy fractions
    /// unchanged (`bench/RESULTS.md`, twenty-third session). Counted
    /// without that condition, 111 and 46.1, the worst cell 2.5 → 5.6 ×
    /// the better spread.
    fn kept_backlog(&self) -> bool {
        self.record.grew >= 0.0 && self.meter.holds_connections()
    }

    /// What the node was sent over what its share named it for since its
    /// last change of step, where the two differ past the noise of a count
    /// ([`SENT_SIGNIFICANCE`]) and enough was named to tell
    /// ([`MIN_NAMED`]); 1 otherwise.
    pub(super) fn sent_over_named(&self) -> f64 {
        let apart = (self.record.sent - self.record.named).abs()
            > SENT_SIGNIFICANCE * self.record.named.sqrt();
        if self.record.named >= MIN_NAMED && apart {
            self.record.sent / self.record.named
        } else {
            1.0
        }
    }

    /// Whether the node's reports are fresh enough for `least-load` to
    /// trust: its share named it at most [`GIVEN_AWAY_MAX_NAMED`]
    /// redirects a report since its last change of step.
    pub(super) fn trusted(&self) -> bool {
        self.record.named <= GIVEN_AWAY_MAX_NAMED * self.record.reports
    }

    /// What the node completed of what it was sent since its last change
    /// of step, once its connections grew past noise
    /// ([`GROWTH_SIGNIFICANCE`]).
    pub(super) fn completed_while_queueing(&self) -> Option<f64> {
        if self.record.sent > 0.0 {
            completed_past_growth(self.record.sent, self.record.grew, GROWTH_SIGNIFICANCE)
        } else {
            None
        }
    }

    /// Cuts the step down to `step`, by two octaves at most
    /// ([`CUT_MAX_OCTAVES`]), a new run and new windows counted from the
    /// cut (at the pool's `mean`); returns whether that is a cut at all.
    fn cut_to(&mut self, step: i32, mean: f64, why: StepMove) -> bool {
        let most = (STEPS_PER_OCTAVE * CUT_MAX_OCTAVES) as i32;
        let step = step.max(self.step - most).max(-MAX_STEP);
        if step >= self.step {
            return false;
        }
        self.step = step;
        self.moved = Some(why);
        self.overload = OverloadRun::default();
        self.restart(mean);
        true
    }

    /// Another node was cut ([`CapacityStep::cut_overload`]): a node yet to
    /// take its first correction takes the cut as that, its windows
    /// starting afresh at the pool's `mean`. They covered the pool before
    /// the cut, and read against it the fast nodes of a 4:1 pool, which
    /// take what the slow ones shed, were corrected as if overloaded
    /// themselves — or, on a queue-shaped figure, stepped up an octave and
    /// flooded. Not a node whose last report read saturated: it is one of
    /// the overloaded, not one of those that take what they shed, and
    /// settled it lost its early cut — a slow node of a 4:1 pool whose
    /// growth fell just short of the cut's bar at the first report, while
    /// its peers' passed, stayed at its first share for whole windows,
    /// four reports 100 service times apart (`bench/RESULTS.md`,
    /// seventeenth session).
    pub fn settle_on_cut(&mut self, mean: f64) {
        if !self.settled && self.saturated_run == 0.0 {
            self.restart(mean);
        }
    }
}

/// What a node completed of `sent` redirects while its connections grew
/// `grew`, once that growth is past `significance` standard errors: growth
/// is arrivals less completions, each about Poisson, so its error is
/// √(sent + completed). `None` within the noise.
fn completed_past_growth(sent: f64, grew: f64, significance: f64) -> Option<f64> {
    let completed = (sent - grew).max(0.0);
    (grew > significance * (sent + completed).sqrt()).then_some(completed)
}
