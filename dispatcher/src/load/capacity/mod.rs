//! A node's capacity as a share of the pool's, learnt from its utilisation
//! and kept in coarse steps.
//!
//! gRPC's weighted round robin (gRFC A58) weighs each endpoint by
//! `qps / utilisation`: a node sent its share that runs hotter than the
//! pool is smaller than its share says. Estimated directly — busy time per
//! redirect over a window — that ratio feeds back on itself: the estimate
//! of a node that is sent more is biased by the work still queued at each
//! report, its share grows, and the simulator showed it herding. So the
//! share is corrected instead, as a controller: each snapshot multiplies
//! it by the pool's mean utilisation over the node's own (both smoothed
//! over reports), which converges to equal utilisation — shares in
//! proportion to capacity — and pushes back on any error. Below
//! saturation it takes the whole ratio (utilisation is linear in the
//! share there, so one correction lands); near it, half. A saturated
//! node's utilisation stops at 100% however far over it is, and while
//! `least-load` drains its queue the others run at 100% too, so no mean
//! can tell it apart; but the dispatcher knows how many redirects the
//! node's share named it for and how many it was really sent (the rest
//! went to lighter candidates), and a saturated node's share follows the
//! latter. Corrections wait for whole windows, except a node's first:
//! after a restart every node starts at the same share, and a deviation
//! well past the noise of the redirects it covers is taken at once, any
//! time in its first two windows (from reports older than `least-load`
//! trusts, only while some node's backlog is counted growing:
//! [`PoolBusy::backlog_growing`]) — a WRR told the true speeds one report
//! late matches one told them from the start, so the first reports are
//! enough; it aims at the pool's utilisation as the survey estimates it
//! ([`PoolBusy::utilisation`]), since the mean of figures counts a
//! saturated node at 100% of its capacity however far over it is. A
//! saturated node's 100% is a bound, never significant, so its
//! first cut is taken otherwise: once two reports show it overloaded, its
//! share jumps to the middle of what the pool's survey ([`PoolBusy`]) says
//! it can do — between all it is sent and the part of that the other nodes
//! could not take — where one quarter-octave step a window let the slow
//! nodes of a 4:1 pool queue for minutes at T = 100 service times. A
//! figure that climbs to saturation over the first reports (a queue
//! length) keeps a first window's average under saturated for the whole
//! window, so in its first window a node whose last two reports read
//! saturated counts as such while the other nodes read near idle — a
//! contrast chance never made on equal nodes. Likewise a busy fraction's
//! first interval starts idle, so a node whose reports after it average
//! saturated is overloaded while the pool's unsaturated nodes read well
//! below it ([`AFTER_FIRST_CONTRAST`]) — unless it was sent past its
//! share: then the saturated nodes' overflow filled it. No correction
//! moves a share more than an octave, none is taken while the deviation
//! is within the scatter of the node's own reports (or of the settled
//! nodes at its step, where theirs is wider: [`StepScatter`]), and once
//! the pool's figures are seen
//! answering the dispatcher's own changes of share more than twice over
//! (the slope of log figure on log redirects, each change weighed as half
//! an octave at most so one big cut cannot outvote the rest:
//! [`PoolBusy::elasticity`]; once read so, more than once over:
//! [`CONVEX_ONCE_READ`]) every gain is divided by that slope: all
//! three guard against figures that are not a busy fraction (a queue
//! length is neither linear in the share nor steady), which the controller
//! otherwise chased into a herd.
//! Two more guard the same: until the slope is measured, a pool with no
//! saturated node moves a share one step at a time, and once the figure
//! reads convex the noise gate weighs a node's whole record since its last
//! change against how alike the pool's neighbouring reports are
//! ([`PoolBusy::likeness`]), not the few of its own — the record restarting
//! where its latest reports part from the rest past noise, as a node's do
//! when its speed halves ([`SHIFT_SIGNIFICANCE`]) — and a node whose
//! record reads hotter than the pool far past that noise steps down a
//! step at least ([`HOT_SIGNIFICANCE`]): the divided gain moved it less
//! than one, and equal nodes stepped up on chance stayed up. One node is
//! not held to a step before the slope is measured: one at or above the
//! median's step whose record reads under a quarter of the pool's mean,
//! far past that noise ([`FAR_COLDER`]) — the fast half of an unequal
//! pool, which climbed a step every eight reports otherwise. The result
//! is rounded to quarter octaves (×1.19 steps) and moves to another step
//! only once the estimate is well past the boundary: on a pool of equal
//! nodes at 90% load a node weighted 10% above its share runs at 99%, so
//! equal nodes must keep exactly equal weights (a stale pool is then
//! spread as evenly as round robin), while a node twice or half as fast
//! gets twice or half the share.
//!
//! All of the above reads utilisations, and a saturated node's 100% hides
//! how far over it is. Once the pool's figure has been seen answering the
//! dispatcher's changes of share one for one (a busy fraction, not a queue
//! length: [`PoolBusy::speed_reference`]; and never while most nodes'
//! completions per unit of figure scatter past counts, as a queue
//! length's do, whatever slope its noise shows: [`PoolBusy::elasticity`]),
//! the controller stands by and
//! each node's step is its *measured* speed over the median node's
//! ([`CapacityStep::follow_speed`], [`SpeedMeter`]: completions — redirects
//! sent less the growth of its connections — per busy second), taken for
//! every node at each snapshot. Long simulated grids, seeds 1 and 2, busy
//! fractions: goal misses 58 / 52 → 49 / 46 of 720 checks, excess over the
//! goal −24% / −19%, worst cell 5.4 / 5.8 → 4.0 / 4.6 × the better spread;
//! queue-shaped figures, where the gate mostly holds it off: misses
//! 68 / 61 → 70 / 59, excess −6% / −27% (`bench/RESULTS.md`, thirteenth
//! session).
//!
//! Where no speed is lent — a pool whose shares never changed, so the
//! figure's response is unknown (equal machines until one slows down), or
//! any pool in its first seconds — the same count still bounds an
//! overloaded node: over its run of saturated reports, what it was sent
//! less the growth of its connections is what it completed, whatever the
//! figure's shape. Once that growth is well past noise the node is cut, in
//! one step of up to two octaves, to the share that sends it what it
//! completes less some to drain its backlog
//! ([`CapacityStep::cut_overload`]) — where the controller took a quarter
//! octave a window. It is taken at each snapshot, from a node's first
//! report: after a start the slow nodes of an unequal pool are cut at
//! their first report, not two later to the middle of the survey's bounds.
//! Nodes cut together are reckoned together against what the rest of the
//! pool then takes ([`PoolBusy::rest_scale`]), the drain only while the
//! unsaturated rest can take it ([`PoolBusy::cut_drains`]), and nodes yet
//! to take their first correction take the
//! cut as that — unless they read saturated themselves. Long grids, seeds
//! 1–4: busy fractions' excess over the goal
//! 16.9 / 14.2 / 17.5 / 19.7 → 9.0 / 7.8 / 9.6 / 8.5 (misses 46 / 43 / 55
//! / 44 → 40 / 38 / 52 / 39 of 720), the 4:1 pools of 8 at T = 100 service
//! times and 90% / 97% load 1.7–2.3 / 3.1–5.3 → 1.0–1.3 / 1.6–2.3 × the
//! better spread; queue-shaped figures' 15.5 / 11.0 / 14.6 / 18.2 → 11.3 /
//! 14.6 / 14.9 / 14.9, a few unequal cells at T = 100 worse; no equal cell
//! worse (`bench/RESULTS.md`, fifteenth session). The cut of the
//! fourteenth session, taken only after a node's first correction and
//! over a window-long run, an octave at most and each node reckoned alone,
//! had brought busy fractions' excess from 27.8 / 22.8 / 26.6 / 27.3.
//!
//! The same count speaks before a figure reads saturated: a busy fraction
//! over an interval that began with a moment's idle reads 0.93–0.96 while
//! the queue behind it grows. In its first window a node whose connections
//! grew well past noise while it reads over the pool's mean is overloaded
//! ([`GROWTH_SIGNIFICANCE`]) and corrected to what it completed of what it
//! was sent. Starts (`--from-start`, ten seeds), 2:1 pools on busy
//! fractions at T = 25 / 100 service times: 1.92 / 3.81 → 1.63 / 2.91 × the
//! better spread at the median, equal pools identical (`bench/RESULTS.md`,
//! seventeenth session).
//!
//! One more count needs no figure at all: the turns `least-load` gives
//! away. At reports fresh enough to trust, a node whose turns keep going
//! to lighter candidates is over its share by what it was not sent; and
//! where the figure caps below the node's backlog (a queue length),
//! nothing else says so: `least-load` steers off a slow node the moment it
//! reads saturated, so it hovers just under its cap, never saturated long
//! enough to be cut, and the controller waits two windows. So a node
//! hotter than the pool whose given-away turns are past noise is cut at
//! once to the share it was really sent ([`CapacityStep::cut_to_sent`]).
//! Starts, ten seeds, 4:1 pools on queue-shaped figures with reports one
//! service time old: 1.75 → 1.34 × the better spread at the median (the
//! pools of 8 with the queue at the report 2.77 → 1.98); long grids,
//! queue-shaped figures, seeds 1–4: misses 255 → 236 of 2 880; busy
//! fractions' misses unchanged (`bench/RESULTS.md`, twentieth session).
//! From older reports the turns given away repay a backlog past the
//! node's part of the pool's, so they count only while the node's backlog
//! held or grew all the same ([`CapacityStep::kept_backlog`]): a share
//! too big for what the node completes (long grids, queue-shaped figures,
//! seeds 1–4: misses 111 → 103; twenty-third session). The same count
//! enters every correction: a node's figure answers the share it was
//! really sent, so where `least-load` moved turns to or from it past the
//! noise of a count, the controller corrects that share, not the one
//! named ([`SENT_SIGNIFICANCE`]) — a fast node that took the overflow of
//! saturated ones read hot on it, and was cut for it (seeds 1–4: misses
//! 103 → 94; twenty-fourth session).

use super::{Speed, SpeedMeter};

/// A measured speed moves a node's step only once it is this many
/// standard errors of the ratio from the current step (and past
/// [`HYSTERESIS`]): with ~100 completions in its window a node's speed is
/// off by ~10%, half a step, and on the plain hysteresis the nodes of a 2:1
/// pool changed step every ~9 s each in the simulator (a fifth of a share
/// each time, and a log line); with it, and the meter's 10 s window, 14
/// times a run of ~220 s in all.
const SPEED_SIGNIFICANCE: f64 = 2.0;

/// Steps per doubling of capacity.
const STEPS_PER_OCTAVE: f64 = 4.0;

/// A new step is taken only once the estimate is this far (in steps) past
/// the half-way point between two steps.
const HYSTERESIS: f64 = 0.3;

/// The smoothed utilisation averages over about this many seconds, and a
/// step is held at least twice as long before the next, so each
/// correction sees the utilisation the previous one brought.
const WINDOW: f64 = 10.0;

/// ... and over at least this many reports, so a figure sampled at one
/// instant (a queue length) is averaged too.
const MIN_REPORTS: f64 = 4.0;

/// Each correction moves the share by this power of mean ÷ own
/// utilisation while the node or the pool is near saturation: a half
/// step, so a figure that grows faster than linearly with load (a queue
/// length, or a busy fraction hiding one) does not overshoot into
/// oscillation. Below saturation a busy fraction is linear in the share
/// (utilisation = redirects × service time), so the full ratio lands on
/// the capacity share in one correction: the half step needed three or
/// four, 20 s each, and the slow nodes of a 2:1 or 4:1 pool queued all the
/// while (`bench/RESULTS.md`, "Third session").
const GAIN_NEAR_SATURATION: f64 = 0.5;

/// A node this busy while the pool is [`SATURATED_MARGIN`] less is sent
/// more than it can do, by more than its utilisation (capped at 1) shows:
/// half the slow nodes of a 2:1 pool sent equal shares at 90% load report
/// 100% against a mean of 84%, inside the dead band, and would stay
/// saturated. So it steps down a whole step at each correction until it
/// is not.
const SATURATED: f64 = 0.98;

/// How far below a saturated node the pool's mean must be for it to step
/// down regardless: a pool that is all near 100% cannot tell who is over.
const SATURATED_MARGIN: f64 = 0.05;

/// A saturated node's share follows the redirects it was really sent
/// only once its share named it for this many.
const MIN_NAMED: f64 = 50.0;

/// Below this mean utilisation shares do not matter and the ratios are
/// noise: the steps stay — except a node reading hotter than a pool whose
/// figure reads convex, from reports fresh enough for `least-load` to trust
/// ([`CapacityStep::hot_in_a_quiet_convex_pool`]). A busy fraction under
/// 0.1 is a pool nearly idle, but a queue-shaped figure
/// (`min(100, 100·q/20)`) reads under 0.1 at 70% load: there the slow half
/// of a 2:1 pool of 8, at the even share every node starts at, ran at ~92%
/// and read 0.11–0.18 against fast nodes' 0.05 at reports 5 service times
/// old, the pool's mean of 0.08–0.10 held the steps, and the slow nodes
/// reached 0.59 of the median's share only ~60% into the run. Hot only, and
/// only from trusted reports: a node sent too much is the costly error, and
/// from reports 100 service times old a hot record at such a mean is as
/// likely a queue filling by chance (without the restriction, pools of 3 at
/// 70% load with reports that old: worst cells 1.10 → 1.13 × the better
/// spread, 4:1, and 1.10 → 1.22, one node halving). Long grids,
/// queue-shaped figures, seeds 1–8: misses with reports 0.1–5 service times
/// old 10 → 0 of 5 760 checks (87 → 77 in all), 2:1 and 4:1 pools of 8 at
/// 70% load there 0.82–1.16 → 0.77–1.05, 98 cells ≥ 5% better and 2 worse;
/// nothing with reports 25–100 service times old moved (`bench/RESULTS.md`,
/// thirty-second session).
const MIN_MEAN: f64 = 0.1;

/// Within its first window, a node is corrected as soon as its
/// utilisation is this many standard errors off the pool's mean, over at
/// least [`MIN_NAMED`] redirects: a busy fraction over `n` redirects of
/// exponential size is off by about 1/√n. Taking a learnt share at the
/// first report that shows it is what a WRR told the true speeds one
/// report late does, and that matches the oracle WRR in every stale cell
/// the windows missed (`bench/RESULTS.md`, "Fourth session").
const EARLY_SIGNIFICANCE: f64 = 3.0;

/// A node's first correction may come early, before whole windows, over
/// its first this many windows of reports. One was not enough: out of
/// phase, a fast node of a 4:1 pool whose first window closed before any
/// slow node read saturated waited two more windows for its first
/// correction (28 s at reports 100 service times apart) while the slow
/// nodes stayed overloaded. Long grids: busy misses 69 / 51 → 67 / 52 of
/// 720, queue excess over the goal −9% / −5%, no equal cell worse
/// (`bench/RESULTS.md`, ninth session).
const EARLY_WINDOWS: f64 = 2.0;

/// A node overloaded from its first reports is cut after this many,
/// before its first window is over (see [`CapacityStep::correct`]).
const EARLY_CUT_REPORTS: f64 = 2.0;

/// A correction moves a share by one octave at most, either way. The
/// controller reads a utilisation as linear in the share, and a figure
/// that is not (a queue-shaped one, `min(100, 100·q/20)`, as the issue's
/// testbed reports) breaks that: a node with one job queued reads 5%
/// against a pool's 35% and was given 8× its share in one correction,
/// flooded, cut, and the pool of equal nodes herded — 12–29× round robin
/// at reports 25–100 service times old (`bench/RESULTS.md`, sixth
/// session). Nothing a linear figure needs moves further: an early cut
/// was already capped at half (the saturated floor of a queue-shaped
/// figure reads near 0), and a 4:1 pool's fast nodes step up two.
const MAX_MOVE_OCTAVES: f64 = 1.0;

/// A correction is noise, and not taken, while the node's deviation from
/// the pool's mean is within this many standard errors of its reports'
/// own scatter ([`CapacityStep::within_noise`]). A busy fraction over an
/// interval scatters little; a queue length at one instant scatters as
/// much as its mean, for as long as a queue takes to relax (hundreds of
/// service times at 90% load), and the controller chased that scatter.
const NOISE_SIGNIFICANCE: f64 = 3.0;

/// ... judged only over at least this many reports in the last two
/// windows: the spread of a handful says too little about the noise, and
/// with reports 4 s apart a real change (a node halving its speed) spreads
/// them as much as noise does, so a gate there held the halving node's
/// correction back (1.3–2.2 → 2.9–5.1× the better spread).
const NOISE_MIN_REPORTS: f64 = 40.0;

/// Neighbouring reports' likeness (lag-1 correlation) is counted up to
/// this: a queue's reports a few milliseconds apart are nearly the same
/// report, and clamped lower they counted as ~100 independent ones.
const MAX_LIKENESS: f64 = 0.999;

/// The pool's figure is read as convex, and every correction's gain
/// divided by its slope ([`PoolBusy::elasticity`]), once a change of share
/// moves it this many times over. A busy fraction moves one for one (its
/// slope measured through noise stays under 2: the busy-fraction grid did
/// not move), a queue length 5–10× at 90% load, and a controller that
/// reads it as linear overshoots by as much each correction.
const CONVEX: f64 = 2.0;

/// ... and once any node was corrected against a pool that read it so,
/// the figure reads convex while its slope is at least this, a busy
/// fraction's own: a queue length's slope is 1 ÷ (1 − utilisation), under
/// 2 wherever its node runs under half busy, so the fast nodes of a 4:1
/// pool at 70% load, their slow peers cut, measured the slope down
/// through 2.9, 2.3, 2.1 to under 2, and the pool lent "speeds" read off
/// queue lengths that cut two slow nodes to 1/32 of their share (long
/// grids, queue-shaped figures: excess over the goals 14.5 → 13.4 on seeds
/// 1–4, 21.2 → 20.2 on 5–8, five cells 5% better and one worse; busy
/// fractions and starts unchanged: `bench/RESULTS.md`, twenty-seventh
/// session).
const CONVEX_ONCE_READ: f64 = 1.0;

/// Once the figure is read as convex, the noise gate judges a node's
/// whole record since its last change of step, from this many reports,
/// with neighbours' likeness taken from the whole pool
/// ([`PoolBusy::likeness`]): a queue length relaxes over hundreds of
/// service times, a handful of one node's reports look independent when
/// they are not, and on pools of equal nodes with reports 100 service
/// times old the steps walked by ±1 with every window — at 90% load a
/// node one step over its share runs at 98% (`bench/RESULTS.md`, seventh
/// session).
const CONVEX_NOISE_MIN_REPORTS: f64 = 8.0;

/// How many standard errors a segment of a node's record must differ from
/// the rest by for the record to restart at it
/// ([`CapacityStep::restart_record_at_shift`]).
const SHIFT_SIGNIFICANCE: f64 = 3.0;

/// How many windows a segment spans at least: with reports a fraction of a
/// service time apart, eight of them are one moment's queue, and records
/// restarted on such moments moved 3-node pools at 70% load, 4:1, from
/// 0.9 to 1.2–1.6 × the better spread.
const SHIFT_WINDOWS: f64 = 2.0;

/// ... and a node whose average since its last change of step reads hotter
/// than the pool's mean by this many of those standard errors steps down
/// a step at least ([`CapacityStep::hotter_past_noise`]). Divided by the
/// figure's elasticity, a correction moves less than a step for any
/// deviation a queue length can show: answering a share ten times over at
/// 90% load, it reads a node one step over its share 2× hot, not 6× (it
/// saturates, and `least-load` steers away between reports), and the gain
/// read that as 7%. Two equal nodes of 8 at 90% load, stepped up on
/// chance, stayed up for 50 reports 100 service times apart, queueing
/// 15–28 against their peers' 1–5. Long grids, queue-shaped figures,
/// seeds 1–4: Σ excess over the goals 53.5 → 50.6, 42 cells ≥ 5% better
/// and 23 worse, equal pools at T = 100 up to 1.90 → 1.62 × round robin
/// (`bench/RESULTS.md`, nineteenth session).
const HOT_SIGNIFICANCE: f64 = 4.0;

/// Until the figure's slope is measured, a pool with no saturated node
/// moves a share one step a correction ([`PoolBusy::response_known`]),
/// but not a node at or above the median's step whose record since its
/// last change reads under this fraction of the pool's mean ...
/// ([`CapacityStep::far_colder_past_noise`]): it moves as far as any
/// correction (an octave at most, the gain divided by the slope read so
/// far). With queue lengths 100 service times old, the fast half of a
/// 2:1 pool of 8 at 70% load read a tenth of the pool's mean, 28
/// standard errors off, and climbed to its share a step every eight
/// reports (~2 400 service times; 1.37 × the better spread). Only at or
/// above the median: every node starts at the same share and `Members`
/// re-centres the steps on the median's, so a node below it was put
/// there by corrections, and at a steep figure one step under its share
/// reads a sixth of the pool (an equal pool of 8 at 90% load) — moved an
/// octave back, it overshot and the pool chased it (1.09 → 1.21 × round
/// robin). Long grids, queue-shaped figures: misses 88 → 80 of 2 880
/// (seeds 1–4) and 103 → 92 (5–8), no cell ≥ 5% worse on 1–4; busy
/// fractions and starts unchanged (`bench/RESULTS.md`, twenty-ninth
/// session).
const FAR_COLDER: f64 = 0.25;

/// ... by this many standard errors of that record (twice the noise
/// gate's bar): a deviation chance does not make.
const FAR_COLDER_SIGNIFICANCE: f64 = 6.0;

/// A node in its first window counts as saturated in the pool's survey
/// once this many reports running read saturated, though its window's
/// average does not yet ([`SATURATED`]) ... Two, not three: each report
/// waited for is a report interval of the slow nodes' queues growing, and
/// with the others' condition below no equal pool's start fired on two
/// (2 700 simulated starts: N = 2, 3, 8 × ρ 0.7 / 0.9 / 0.97 × both
/// phasings × T = 0.1–100 service times × 30 seeds), while a single
/// saturated report fired in three, one of which herded (`bench/RESULTS.md`,
/// ninth session).
const RAMP_SATURATED_REPORTS: f64 = 2.0;

/// ... while the other nodes' windows average at most this. A
/// queue-shaped figure climbs to saturation over the first reports (0.45,
/// 0.9, then 100% on the slow nodes of a 2:1 pool with reports 25 service
/// times apart), so the window's average, which counts the climb, stayed
/// under 0.98 for the whole first window, no node read saturated, and no
/// correction was taken in the first 20 s of a run while the slow nodes'
/// queues grew by 9 jobs a second (`bench/RESULTS.md`, eighth session).
/// Saturated reports alone are no sign: at 97% load an equal node's
/// queue reads saturated three running by chance, and equal pools of 2 and
/// 3 herded. But then the others are mostly busy too, while the fast nodes
/// of a 2:1 or 4:1 pool read 0.06–0.1. In 180 simulated 20 s starts of
/// equal pools of 2, 3 and 8 (loads 0.7–0.97, reports 0.1–100 service
/// times apart, both phasings) the others' mean was under 0.2 at such a
/// moment in 8, and one end-to-end run in twelve herded on it; under 0.12,
/// in none.
const RAMP_OTHERS_MEAN: f64 = 0.12;

/// A node in its first window is overloaded, too, once its reports after
/// the first interval average saturated while the pool's unsaturated
/// nodes average this much less. Its window's average counts the first
/// interval, which starts idle — the slow nodes of a 2:1 pool on busy
/// fractions read 0.75 there — so it stayed under [`SATURATED`] for 6–9
/// reports while the node queued, and its cut waited as long. Against the
/// whole pool's mean, as an overloaded node is otherwise judged, that
/// fired on chance runs of equal nodes (equal pools of 8 started 1.10 →
/// 1.16–1.31× round robin); against the unsaturated nodes it does not: a
/// slow node's unsaturated peers read ~0.77 on busy fractions and ~0.1 on
/// queue lengths, an equal node's ~0.88 (`bench/RESULTS.md`, eleventh
/// session). Not a node sent past its share, though
/// ([`CapacityStep::sent_over_named`]): `least-load` gave it the
/// saturated nodes' turns, and that overflow, not its share, is what
/// saturated it. A fast node of a 2:1 pool of 8 that took it after a start
/// (reports 100 service times apart) was cut an octave, to a quarter of
/// its speed's share, and climbed back over a third of the run: 2.38 →
/// 1.85 × the better spread. Long grids, queue-shaped figures, seeds 1–4:
/// misses 94 → 91 of 2 880, excess over the goals 15.8 → 14.5; held-out
/// seeds 5–8 118 → 117, 25.0 → 24.0; busy fractions unchanged
/// (`bench/RESULTS.md`, twenty-fifth session).
const AFTER_FIRST_CONTRAST: f64 = 0.2;

/// In [`PoolBusy::utilisation`], a saturated node's floor (the share of
/// what it is sent that it must be able to do) is read as at least this,
/// so its capacity as at least a tenth of what it is sent (the middle of
/// 0.01 and 1): the others' figures may overstate what they can do (a
/// queue length does) and put the floor at nothing.
const MIN_FLOOR: f64 = 0.01;

/// The gain is divided by a slope of this much at most.
const MAX_ELASTICITY: f64 = 20.0;

/// A slope is measured once the changes of share behind it add up to
/// this much (Σ of squared log changes: about three quarter-octave steps
/// or one half-octave step)...
const MIN_RESPONSE_SPREAD: f64 = 0.1;

/// ... each change of a node's redirect rate counted only past this much
/// (log), smaller ones being noise.
const MIN_RESPONSE_MOVE: f64 = 0.05;

/// A change of a node's redirect rate weighs in the slope as one of at
/// most this much (log: half an octave), its figure's answer scaled with
/// it. Through the origin, a least-squares slope weighs each change by its
/// square, so one big move outvoted every other: in a 2:1 pool of 8 on
/// mean queue lengths, 100 service times old, four changes of a quarter to
/// half an octave read the figure 5.5 × as steep as the share, then one
/// slow node's rate fell 1.6 octaves at a cut and its queue, answering
/// weakly, pulled the pooled slope to 1.7: the figure passed for a busy
/// fraction, the pool lent "speeds" from queue lengths and the controller
/// took whole ratios of noise (2.00 × the better spread; 1.11 with the
/// weight capped). Long grids, queue-shaped figures, seeds 1–4: misses 91 → 87
/// of 2 880, excess over the goals 14.45 → 12.60, 21 cells ≥ 5% better
/// and 1 worse; busy fractions unchanged (`bench/RESULTS.md`,
/// twenty-sixth session).
const MAX_RESPONSE_LEVERAGE: f64 = 0.5 * std::f64::consts::LN_2;

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
/// seventeenth session).
const GROWTH_SIGNIFICANCE: f64 = 2.0;

/// ... and the cut also drains this share of the backlog the run built,
/// over as long again as the run (never below half of what it completes):
/// cut to exactly what it completes, a node keeps its backlog and stays
/// saturated, and the controller took another window a quarter octave to
/// drain it (the halving node of 8 at 90% load, T = 100 service times,
/// seed 1: 1.6–1.8 × the better spread with none, 1.3–1.4 with half).
/// Once drained, the node reads below the pool and the controller gives
/// the share back.
const OVERLOAD_DRAIN: f64 = 0.5;

/// A run of saturated reports counts for a cut once it is this many
/// reports long, or one if it began with the node's first: a queue length
/// saturated at a report says nothing of the interval before, when the
/// node may have idled, and one report's completions then read low — a
/// node of an equal pool at 97% load, sent more than its share by the
/// loads it reported, was cut an octave and more. After a start the first
/// report is the one chance to cut before a slow node's backlog doubles,
/// and its interval began with the node's first redirect.
const MIN_OVERLOAD_REPORTS: f64 = 2.0;

/// A cut moves a share two octaves at most: it reads a count — what the
/// node was sent less what it still holds — not a ratio of capped
/// figures, and a slow node of a 4:1 pool started at an equal share is two
/// octaves over before its backlog is counted. The N = 8 pools 4:1 at 90%
/// load and T = 100 service times, six seeds, in / out of phase, × the
/// better spread: busy fractions 1.14 / 1.19 at two octaves, 1.38 / 1.26
/// at one and a half, 1.37 / 1.21 at three; queue lengths 1.37 / 1.39,
/// 2.71 / 1.77 and 2.90 / 2.18 (`bench/RESULTS.md`, fifteenth session).
const CUT_MAX_OCTAVES: f64 = 2.0;

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
const GIVEN_AWAY_MAX_NAMED: f64 = 12.0;

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
/// longer overloaded by it ([`AFTER_FIRST_CONTRAST`]).
const SENT_SIGNIFICANCE: f64 = 2.0;

/// The largest step either way: 32× the median.
const MAX_STEP: i32 = 20;

/// What last moved a node's capacity step, for the log line that reports
/// the change ([`CapacityStep::take_move`]): "capacity 1.0 → 0.42" says
/// little at 3 a.m. without whether a figure, a count or a speed moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMove {
    /// The controller's correction towards the pool's utilisation
    /// ([`CapacityStep::correct`]).
    Corrected,
    /// Cut to what its completions fill ([`CapacityStep::cut_overload`]).
    CutOverloaded,
    /// Cut to the share `least-load` really sent it
    /// ([`CapacityStep::cut_to_sent`]).
    CutToSent,
    /// Its measured speed over the pool's median node's
    /// ([`CapacityStep::follow_speed`]).
    PoolSpeed,
    /// A drop of its own measured speed ([`SpeedMeter::take_change`]).
    OwnSpeedDrop,
}

// === impl StepMove ===

impl StepMove {
    /// The reason, as the log line gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            StepMove::Corrected => "corrected towards the pool's utilisation",
            StepMove::CutOverloaded => "cut to what it completes while overloaded",
            StepMove::CutToSent => "cut to what least-load really sent it",
            StepMove::PoolSpeed => "its measured speed over the median node's",
            StepMove::OwnSpeedDrop => "its own measured speed dropped",
        }
    }
}

/// A node's capacity relative to the pool's median, in quarter octaves.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CapacityStep {
    step: i32,
    /// Smoothed reported utilisation, 0–1, since the step was last
    /// changed; `None` before the first report after it.
    busy: Option<f64>,
    /// The reports since the step last changed, or since the node's
    /// figure last shifted past noise at the same step
    /// ([`CapacityStep::restart_record_at_shift`]).
    record: Record,
    /// The latest part of `record`, tested against the rest of it.
    segment: Record,
    /// Whether the node's first correction has been taken (its step may
    /// have stayed): from then on corrections wait for whole windows.
    settled: bool,
    /// The window before the last change of step: (redirects a second,
    /// utilisation). A node's first correction often comes a report
    /// before another's (agents out of phase); without it, a node just
    /// corrected dropped out of the survey, and a slow node cut then read
    /// a floor of the saturated alone: 4:1 at T = 100, out of phase, 15.9
    /// → 8.6× the better spread (`bench/RESULTS.md`, fifth session).
    last: Option<(f64, f64)>,
    /// The pool's mean when `last` closed, to take the pool's own drift
    /// out of how the node's figure answered its change of step.
    last_mean: f64,
    /// How the node's figure answered its changes of step, summed over
    /// them and kept across them: Σ w Δln(redirects a second) × Δln(figure
    /// ÷ pool's mean), and Σ w Δln(redirects a second)², a big change's
    /// weight w capped ([`MAX_RESPONSE_LEVERAGE`]); each taken once a
    /// window after the change (`measured`).
    response: (f64, f64),
    measured: bool,
    /// Reports running, up to the latest, that read saturated.
    saturated_run: f64,
    /// The busy seconds and seconds of the node's first interval, which
    /// starts idle (see [`AFTER_FIRST_CONTRAST`]).
    first_interval: Option<(f64, f64)>,
    /// Completions per busy second, kept across changes of step.
    meter: SpeedMeter,
    /// The node's run of saturated reports, kept across changes of step.
    overload: OverloadRun,
    /// Redirects a second its share named it for at its latest report —
    /// what it was sent, while the dispatcher had no pace to name by (the
    /// pool's first reports): what a cut scales ([`PoolBusy::rest_scale`]).
    named_rate: f64,
    /// Whether a report covering time has been measured
    /// ([`CapacityStep::measure`]).
    measured_before: bool,
    /// The share factor before a drop of the node's own speed, while the
    /// drop is provisional ([`CapacityStep::follow_own_speed`]).
    before_drop: Option<f64>,
    /// What moved the step since the last [`CapacityStep::take_move`].
    moved: Option<StepMove>,
    /// Whether a report was folded in since the last correction
    /// ([`CapacityStep::correct_on_report`]).
    reported: bool,
    /// Whether the node was corrected against a pool whose figure read
    /// convex (see [`CONVEX_ONCE_READ`]); kept across changes of step.
    read_convex: bool,
}

/// What a run of a node's reports adds up to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Record {
    /// Seconds of reports it covers.
    covered: f64,
    /// Reports it covers.
    reports: f64,
    /// Busy seconds those reports add up to.
    work: f64,
    /// Redirects the node was sent over those reports, and the redirects
    /// its share of the cycle named it for: `least-load` moves a
    /// saturated node's turns to others, so a node sent much less than
    /// its share is over-shared by that much, whatever its utilisation
    /// (capped at 100%) can show. An interval the dispatcher had no pace
    /// to name by (the pool's first after a start) counts as named what it
    /// was sent: counted as none named, every node of a pool read as sent
    /// twice its share a report later, and a correction started from that
    /// double share ([`CapacityStep::sent_over_named`]).
    sent: f64,
    named: f64,
    /// How much its connections grew over those reports: what it was sent
    /// and did not complete.
    grew: f64,
    /// How the reports scatter about their average.
    scatter: Scatter,
}

/// What a node was sent and how far its connections grew over its latest
/// run of saturated reports, for [`CapacityStep::cut_overload`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct OverloadRun {
    /// Redirects sent over the run, and the growth of its connections.
    sent: f64,
    grew: f64,
    /// Reports, and seconds, the run covers.
    reports: f64,
    /// Whether it began with the node's first report that covers time.
    from_first: bool,
    covered: f64,
}

/// What an overloaded node completes, in redirects a second, as
/// [`CapacityStep::cut_overload`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Overload {
    /// Its completions over its run of saturated reports.
    completed: f64,
    /// The same less what drains its backlog ([`OVERLOAD_DRAIN`]).
    drained: f64,
}

// === impl Overload ===

impl Overload {
    /// The rate to send: `drained` while the pool `drains` the cut nodes'
    /// backlogs ([`PoolBusy::cut_drains`]), `completed` otherwise.
    fn rate(self, drains: bool) -> f64 {
        if drains { self.drained } else { self.completed }
    }
}

/// The scatter of a node's reports since its last change of step, to
/// tell a deviation from the noise of the figure itself (see
/// [`NOISE_SIGNIFICANCE`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Scatter {
    /// Time-weighted squares of the utilisations reported.
    squares: f64,
    /// The previous report's utilisation, and the products of consecutive
    /// ones over that many pairs, for how alike neighbours are.
    previous: Option<f64>,
    lagged: f64,
    pairs: f64,
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

/// What the pool's reports say at a snapshot, that each node's share is
/// corrected against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolBusy {
    /// The ready nodes' mean smoothed utilisation.
    pub mean: f64,
    /// The same over the nodes whose smoothed utilisation is under
    /// saturation; `mean` while none is.
    pub unsaturated_mean: f64,
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
    /// half-octave one: [`MAX_RESPONSE_LEVERAGE`]): 1 until measured, or
    /// below [`CONVEX`] (below [`CONVEX_ONCE_READ`] once some node was
    /// corrected against a pool that read it convex; [`CONVEX`] at least
    /// from there). A queue length reads 5–10× at 90% load. [`CONVEX`] at
    /// least once most nodes' completions per unit of figure scatter past
    /// counts ([`SpeedMeter::scattered`]), whatever the slope: measured
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
    /// 1.12 × the better spread; [`SpeedMeter::scattered`]).
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
    /// first correction aims at it ([`CapacityStep::correct`]). `mean`
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
    /// Whether a cut node also drains its backlog ([`OVERLOAD_DRAIN`]):
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
    /// The measured speed ([`SpeedMeter`]) of the pool's median node, that
    /// every node's capacity is then its own speed over; `None` until the
    /// figure has been seen answering changes of share one for one (a busy
    /// fraction: a speed is busy time's inverse, and a queue length read
    /// as one put the N = 8 pools 4:1 at 97% load from 2.4 to 13.8 × the
    /// better spread), and until a node has a speed.
    pub speed_reference: Option<Speed>,
    /// Σ share factor ÷ Σ measured speed over the nodes with a speed,
    /// whatever the figure is seen to be, and that ratio's relative
    /// standard error: a node is overloaded by its share only while its
    /// own factor ÷ speed is significantly over it
    /// ([`CapacityStep::correct`]).
    pub share_per_speed: Option<(f64, f64)>,
    /// Whether some node's connections grew past noise since its last
    /// change of step ([`GROWTH_SIGNIFICANCE`]): a count, not a figure,
    /// saying some share is wrong. A node's first correction from reports
    /// too old for `least-load` to trust ([`GIVEN_AWAY_MAX_NAMED`]) waits
    /// for it ([`CapacityStep::correct`]): with queue lengths 100 service
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
    fn at(&self, step: i32) -> Option<f64> {
        self.steps
            .iter()
            .find(|(at, ..)| *at == step)
            .map(|(_, sum, count)| sum / count)
    }
}

// === impl PoolBusy ===

impl PoolBusy {
    /// Whether the pool's figure reads convex: it answers a change of
    /// share at least [`CONVEX`] times over, as a queue length does, and
    /// every correction's gain is divided by that slope.
    fn reads_convex(&self) -> bool {
        self.elasticity >= CONVEX
    }

    /// Surveys the nodes' capacity models; `None` before any reported
    /// since its last change of step.
    pub fn survey<'a>(nodes: impl IntoIterator<Item = &'a CapacityStep>) -> Option<PoolBusy> {
        let (mut busy, mut count) = (0.0, 0.0);
        let (mut unsaturated_busy, mut unsaturated_count) = (0.0, 0.0);
        let (mut sent, mut unsaturated, mut saturated) = (0.0, 0.0, 0.0);
        let (mut product, mut spread) = (0.0, 0.0);
        let (mut variance, mut covariance) = (0.0, 0.0);
        let mut ramped = Ramped::default();
        let mut speeds: Vec<Speed> = Vec::new();
        let mut scattered = 0;
        let mut backlog_growing = false;
        let mut read_convex = false;
        // Σ factor, Σ speed and Σ (speed's standard error)² over the nodes
        // with a speed.
        let mut shared = (0.0, 0.0, 0.0);
        let (mut named, mut cut_named) = (0.0, 0.0);
        let (mut completed, mut drained) = (0.0, 0.0);
        let (mut rest_busy, mut rest_count, mut rest_saturated) = (0.0, 0.0, 0.0);
        for node in nodes {
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
        let speed_reference =
            (response_known && elasticity < CONVEX && !speeds.is_empty()).then(|| {
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
            backlog_growing,
            rest_scale,
            cut_drains,
            speed_reference,
            share_per_speed: (shared.1 > 0.0)
                .then(|| (shared.0 / shared.1, shared.2.sqrt() / shared.1)),
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

// === impl CapacityStep ===

impl CapacityStep {
    /// Folds in a utilisation reported `elapsed` seconds after the
    /// previous report. A node's first report (no previous one: `elapsed`
    /// is 0) describes a time before the dispatcher sent it anything, so it
    /// says nothing about its share: seeding the average with it (an idle
    /// 0% at a restart) kept a node that was overloaded from the first
    /// second from looking so for ~40 s. The node was `sent` redirects
    /// over the report, of the `named` its share named it for; `named` is
    /// 0 while the dispatcher has no pace to name by, and then counts as
    /// what was sent (see the `sent` field).
    pub fn observe(&mut self, utilisation: f64, elapsed: f64, sent: f64, named: f64) {
        if elapsed <= 0.0 {
            return;
        }
        let sent = sent.max(0.0);
        let named = if named > 0.0 { named } else { sent };
        self.named_rate = named / elapsed;
        let u = utilisation.clamp(0.0, 1.0);
        if !self.settled && self.first_interval.is_none() {
            self.first_interval = Some((u * elapsed, elapsed));
        }
        self.record.add(u, elapsed, sent, named);
        self.segment.add(u, elapsed, sent, named);
        // Over the first window a plain average: smoothing from the first
        // report would weigh it as a whole window however short it is.
        let alpha = (1.0 - (-elapsed / WINDOW).exp()).min(1.0 / MIN_REPORTS);
        self.saturated_run = if u >= SATURATED {
            self.saturated_run + 1.0
        } else {
            0.0
        };
        self.busy = Some(match self.busy {
            Some(avg) if self.record.covered > WINDOW => avg + alpha * (u - avg),
            _ => self.record.average(),
        });
        self.reported = true;
    }

    /// Folds a report into the node's [`SpeedMeter`]: `sent` redirects
    /// over the `elapsed` seconds it covers, its `utilisation` and the
    /// `connections` open at its end.
    pub fn measure(&mut self, sent: f64, utilisation: f64, connections: u64, elapsed: f64) {
        let grew = self.meter.observe(sent, utilisation, connections, elapsed);
        self.follow_own_speed();
        let first = !self.measured_before;
        self.measured_before |= grew.is_some();
        self.record.grew += grew.unwrap_or(0.0);
        self.segment.grew += grew.unwrap_or(0.0);
        match grew {
            Some(grew) if utilisation >= SATURATED => {
                let run = &mut self.overload;
                if run.reports == 0.0 {
                    run.from_first = first;
                }
                run.sent += sent.max(0.0);
                run.grew += grew;
                run.reports += 1.0;
                run.covered += elapsed;
            }
            _ => self.overload = OverloadRun::default(),
        }
    }

    /// Moves the step down by a drop of the node's own speed, once its
    /// meter finds one ([`SpeedMeter::take_change`]; two octaves at most),
    /// from the share it had before the drop, and starts its windows
    /// afresh: they straddle the drop. It needs no survey: a node of an
    /// equal pool never changed step, so the pool never lends speeds, and
    /// one that halved its speed was held by the controller and the
    /// overload cut, both waiting for windows, for ~10 reports
    /// (`bench/RESULTS.md`, sixteenth session).
    fn follow_own_speed(&mut self) {
        let Some(change) = self.meter.take_change() else {
            return;
        };
        let from = *self.before_drop.get_or_insert(self.factor());
        if !change.provisional {
            self.before_drop = None;
        }
        let before = self.step;
        let least = (-CUT_MAX_OCTAVES).exp2();
        self.update(from * change.ratio.clamp(least, 1.0));
        if self.step != before {
            self.moved = Some(StepMove::OwnSpeedDrop);
            self.restart(self.last_mean);
            // The figure's answer to this step is the node's, not its share's.
            self.measured = true;
        }
    }

    /// Takes the node's measured speed over the `pool`'s reference (the
    /// median node's, [`PoolBusy::speed_reference`]) as its capacity, in
    /// steps as every correction, and returns the factor its share is
    /// weighted by; without a speed, or while the pool lends none, the
    /// step stays. Called for every node
    /// at each snapshot: a node's share follows the pool's speeds without
    /// waiting for its own next report (one report late, a 4:1 pool at 90%
    /// load with reports 100 service times old went 1.0 → 1.4 × the better
    /// spread in the simulator: the slow nodes' backlog grew a whole
    /// interval longer). An octave at a snapshot at most, as any
    /// correction ([`MAX_MOVE_OCTAVES`]): until its meters are tested for
    /// scatter (one segment past chance, eight past counts) a
    /// queue-shaped figure may pass for a busy fraction, and the "speed"
    /// it lends is noise — it moved a fast node of a 4:1 pool of 8 up 18
    /// steps at once (×22), and that node queued 327 jobs (long grids,
    /// queue-shaped figures, eight seeds: excess over the goals −9%,
    /// misses 256 → 260, worst cell 5.3 → 2.6 × the better spread; busy
    /// fractions unchanged: `bench/RESULTS.md`, twenty-second session).
    ///
    /// A move starts the node's windows afresh at the pool's mean, as a
    /// correction's does: they covered the share before it, and once the
    /// pool stops lending (its meters found scattering) the controller
    /// judged the node by them. Traced (N = 3, ρ 0.7, 4:1, mean queue,
    /// out of phase, reports 100 service times old): lending stopped with
    /// the fast node at 8× where 4× is due, and the controller, reading a
    /// window that mostly covered its share at 2×, stepped it up an octave
    /// more (1.53 → 1.00 × the better spread; long grids, queue-shaped
    /// figures: excess over the goals 11.7 → 11.2 on seeds 1–4; busy
    /// fractions unchanged: `bench/RESULTS.md`, twenty-eighth session).
    pub fn follow_speed(&mut self, pool: PoolBusy) -> f64 {
        let (Some(reference), Some(speed)) = (pool.speed_reference, self.meter.speed()) else {
            return self.factor();
        };
        let error = speed.relative_error.hypot(reference.relative_error);
        let noise = SPEED_SIGNIFICANCE * error / std::f64::consts::LN_2 * STEPS_PER_OCTAVE;
        let before = self.step;
        let most = MAX_MOVE_OCTAVES.exp2();
        let ratio = (speed.per_busy_second / reference.per_busy_second)
            .clamp(self.factor() / most, self.factor() * most);
        let factor = self.update_beyond(ratio, (0.5 + HYSTERESIS).max(noise));
        if self.step != before {
            self.moved = Some(StepMove::PoolSpeed);
            self.restart(pool.mean);
        }
        factor
    }

    /// Whether the node's figure reads as a busy fraction: its measured
    /// speed has held steady ([`SpeedMeter::steady`]).
    pub fn reads_busy(&self) -> bool {
        self.meter.steady()
    }

    /// The smoothed utilisation, once reported.
    pub fn busy(&self) -> Option<f64> {
        self.busy
    }

    /// Whether, in its first window, the node's latest reports read
    /// saturated [`RAMP_SATURATED_REPORTS`] running: its window's average
    /// still counts the climb to it.
    fn ramped_to_saturation(&self) -> bool {
        !self.settled
            && self.record.covered < WINDOW
            && self.saturated_run >= RAMP_SATURATED_REPORTS
    }

    /// In its first window, the average of the node's reports after its
    /// first interval, once there are any.
    fn after_first_interval(&self) -> Option<f64> {
        let (work, covered) = self.first_interval?;
        (!self.settled && self.record.covered > covered)
            .then(|| (self.record.work - work) / (self.record.covered - covered))
    }

    /// The current window as (redirects a second, smoothed utilisation),
    /// once a report covers it.
    fn window(&self) -> Option<(f64, f64)> {
        // A utilisation is only folded in with the time it covers.
        self.busy
            .map(|busy| (self.record.sent / self.record.covered, busy))
    }

    /// Corrects the share ([`CapacityStep::correct`]) once after each
    /// report, at the first rebuild after it: its survey (`pool`) counts
    /// that report and every other node's latest. Corrected at the report
    /// itself, against the survey of the rebuild before, a node's fresh
    /// window met the pool as it stood a report earlier — 100 service
    /// times with reports that old. Agents in phase made it worst: a
    /// correction's first chance came at the second report, where the
    /// clean contrast of the first (slow nodes saturated, fast ones idle)
    /// was averaged with what `least-load`'s herding on it left, and three
    /// nodes of a 2:1 pool of 8 stayed uncorrected for ~10 reports (that
    /// cell, queue at the report, 90% load, reports 100 service times old:
    /// 1.85 → 0.97 × the better spread; over eight seeds of long grids,
    /// queue-shaped misses 199 → 193 and excess over the goals 35.2 →
    /// 35.7: `bench/RESULTS.md`, twenty-seventh session).
    ///
    /// `peers` says how widely the reports of the settled nodes at its
    /// step scatter: the least its own record's scatter is taken to be.
    pub fn correct_on_report(&mut self, pool: PoolBusy, peers: &StepScatter) {
        if std::mem::take(&mut self.reported) {
            self.correct_among(pool, peers.at(self.step));
        }
    }

    /// Corrects the share towards the `pool`'s mean utilisation (an early
    /// cut by its saturated floor; see the module docs), judging the
    /// node's record against at least its `peers`' scatter, and returns
    /// the factor its share is weighted by.
    fn correct_among(&mut self, pool: PoolBusy, peers: Option<f64>) -> f64 {
        let mean = pool.mean;
        self.read_convex |= pool.reads_convex();
        let Some(busy) = self.busy else {
            return self.factor();
        };
        // Once the pool's speeds are measured, they are the capacity
        // ([`CapacityStep::follow_speed`]); the controller stands by.
        if pool.speed_reference.is_some() && self.meter.speed().is_some() {
            return self.factor();
        }
        self.measure_response(mean);
        self.restart_record_at_shift(pool, peers);
        // An overloaded node's queue grows with every second it waits, and
        // 100% against a cooler pool is unambiguous: it steps down after
        // one window; any other correction waits for two. A node's first
        // correction is taken as soon as its deviation is well past noise:
        // after a restart every node starts at the same share, and a slow
        // node of a 4:1 pool queues ~30 jobs a second until corrected —
        // but only while some node is saturated, the sign that shares are
        // wrong. Without one, the deviations of a pool's first seconds
        // are as likely queues filling by chance (a queue-shaped figure
        // read 0.05 to 0.27 on equal nodes, and every node of the pool was
        // moved an octave: 3–7× round robin over a 20 s run).
        let over = |b: f64| b >= SATURATED && mean < b - SATURATED_MARGIN;
        // In its first window, what a node whose queue grew completed.
        let growing = if !self.settled && busy >= mean + SATURATED_MARGIN {
            self.completed_while_queueing()
        } else {
            None
        };
        // Its figure answers the share it was really sent, which
        // `least-load`'s turns moved off the one named.
        let sent_over_named = self.sent_over_named();
        let overloaded = self.share_outruns_speed(pool)
            && (over(busy)
                || growing.is_some()
                || self.after_first_interval().is_some_and(|after| {
                    over(after)
                        && pool.unsaturated_mean < after - AFTER_FIRST_CONTRAST
                        && sent_over_named <= 1.0
                }));
        let windows = if overloaded { 1.0 } else { 2.0 };
        // From reports too old to trust, a deviation may be chance (an
        // equal pool's queue lengths after a start): taken early only
        // while some node's backlog is counted growing.
        let early = !self.settled
            && self.record.covered < EARLY_WINDOWS * WINDOW
            && pool.saturated_floor.is_some()
            && (self.trusted() || pool.backlog_growing)
            && self.significant(busy, mean);
        // A node overloaded from its first reports (a slow node of an
        // unequal pool after a restart) is cut without waiting for its
        // window, and by as much as the pool's survey says: its queue
        // grows with every report it waits.
        let early_cut = overloaded
            && !self.settled
            && self.record.reports >= EARLY_CUT_REPORTS
            && self.record.named >= MIN_NAMED;
        if (mean < MIN_MEAN && !self.hot_in_a_quiet_convex_pool(busy, mean, pool))
            || (!early_cut && self.within_noise(busy, mean, pool, peers))
            || (!early
                && !early_cut
                && (self.record.covered < windows * WINDOW
                    || self.record.reports < windows * MIN_REPORTS))
        {
            return self.factor();
        }
        // A first correction that is not a cut aims at the pool's
        // utilisation as its survey estimates it, not at the mean of the
        // figures: while a slow node of a 4:1 pool reads 100% for 225% of
        // its capacity, the mean reads 0.78 for 0.89, and the fast nodes
        // stepped up two where three were due, leaving the slow ones
        // overloaded a window longer.
        let target = if self.settled || overloaded {
            mean
        } else {
            pool.utilisation
        };
        self.settled = true;
        let before = self.step;
        let gain = if busy.max(mean) < SATURATED {
            1.0
        } else {
            GAIN_NEAR_SATURATION
        } / pool.elasticity;
        let share_sent = self.factor() * sent_over_named;
        let mut ratio = share_sent * (target / busy.max(0.01)).powf(gain);
        // An overloaded node, or one hot far past its noise at a convex
        // figure, steps down one step at least.
        if overloaded || self.hotter_past_noise(mean, pool, peers) {
            ratio = ratio.min(self.factor() * (-1.0 / STEPS_PER_OCTAVE).exp2());
        }
        // An early cut's capacity lies between `floor` and all of what it
        // is sent: the share that brings it to the pool's mean from the
        // geometric middle of the two (one octave down at most, as every
        // correction).
        if early_cut && let Some(floor) = pool.saturated_floor {
            ratio = ratio.min(self.factor() * mean * floor.sqrt());
        }
        if let Some(completed) = growing {
            // What it completed of what it was sent, brought to the mean.
            ratio =
                ratio.min(self.factor() * completed / self.record.sent * (mean / busy).min(1.0));
        }
        // A saturated node's 100% is a bound, so no more than what it was
        // sent, even where that is within the noise of a count.
        if busy >= SATURATED && self.record.named >= MIN_NAMED {
            ratio = ratio.min(self.factor() * self.record.sent / self.record.named);
        }
        let cautious = !pool.response_known
            && pool.saturated_floor.is_none()
            && !overloaded
            && !self.far_colder_past_noise(mean, pool, peers);
        let most = if cautious {
            (1.0 / STEPS_PER_OCTAVE).exp2()
        } else {
            MAX_MOVE_OCTAVES.exp2()
        };
        let factor = self.update(ratio.clamp(self.factor() / most, self.factor() * most));
        if self.step != before {
            self.moved = Some(StepMove::Corrected);
            self.restart(mean);
        }
        factor
    }

    /// Restarts the node's record at its latest segment where the
    /// segment's average is [`SHIFT_SIGNIFICANCE`] standard errors from the
    /// rest's, at a convex figure — tested once a segment holds
    /// [`CONVEX_NOISE_MIN_REPORTS`] reports over [`SHIFT_WINDOWS`]
    /// windows. The record is what a convex figure's noise is judged over;
    /// kept since the last change of step, it averaged a node that halved
    /// its speed (another tenant arrived) with the ~60 calm reports before
    /// the halving, and the node read 0.4–0.7 against a pool's 0.12 for
    /// twenty reports, 100 service times apart, without passing noise.
    fn restart_record_at_shift(&mut self, pool: PoolBusy, peers: Option<f64>) {
        let segment = self.segment;
        if !pool.reads_convex()
            || segment.reports < CONVEX_NOISE_MIN_REPORTS
            || segment.covered < SHIFT_WINDOWS * WINDOW
        {
            return;
        }
        self.segment = Record::default();
        let before = self.record.before(&segment);
        let error = |record: &Record| record.convex_error(pool.likeness, peers);
        let (Some(now), Some(then)) = (error(&segment), error(&before)) else {
            return;
        };
        if (segment.average() - before.average()).abs() >= SHIFT_SIGNIFICANCE * now.hypot(then) {
            self.record = segment;
            // What is left of the record comes after the first interval.
            if !self.settled {
                self.first_interval = Some((0.0, 0.0));
            }
        }
    }

    /// Starts the windows afresh after a change of step, at the pool's
    /// `mean`; what outlives a step (the response, the meter, the run of
    /// saturated reports) is kept.
    fn restart(&mut self, mean: f64) {
        *self = CapacityStep {
            step: self.step,
            settled: true,
            last: self.window(),
            last_mean: mean,
            response: self.response,
            meter: self.meter,
            overload: self.overload,
            named_rate: self.named_rate,
            measured_before: self.measured_before,
            before_drop: self.before_drop,
            moved: self.moved,
            read_convex: self.read_convex,
            ..CapacityStep::default()
        };
    }

    /// What an overloaded node completed over its run of saturated
    /// reports — what it was sent less the growth of its connections,
    /// whatever its figure's shape — once that growth is significant
    /// ([`OVERLOAD_SIGNIFICANCE`]) over a run long enough
    /// ([`MIN_OVERLOAD_REPORTS`]).
    fn overload(&self) -> Option<Overload> {
        let OverloadRun {
            sent,
            grew,
            reports,
            from_first,
            covered,
        } = self.overload;
        let needed = if from_first {
            1.0
        } else {
            MIN_OVERLOAD_REPORTS
        };
        let done = completed_past_growth(sent, grew, OVERLOAD_SIGNIFICANCE)?;
        (reports >= needed && covered > 0.0 && self.named_rate > 0.0).then(|| Overload {
            completed: done / covered,
            drained: (done - OVERLOAD_DRAIN * grew).max(done / 2.0) / covered,
        })
    }

    /// Whether the node's share is more than its measured speed warrants,
    /// against the `pool`'s share per speed, past their noise; true where
    /// either is unmeasured. Equal nodes at 97% load read saturated by
    /// chance, and stepped down by it the others ran at 99%.
    fn share_outruns_speed(&self, pool: PoolBusy) -> bool {
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
        let (Some(overload), Some(scale)) = (self.overload(), pool.rest_scale) else {
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
    fn sent_over_named(&self) -> f64 {
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
    fn trusted(&self) -> bool {
        self.record.named <= GIVEN_AWAY_MAX_NAMED * self.record.reports
    }

    /// What the node completed of what it was sent since its last change
    /// of step, once its connections grew past noise
    /// ([`GROWTH_SIGNIFICANCE`]).
    fn completed_while_queueing(&self) -> Option<f64> {
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

    /// Whether `busy` is off `mean` by more than the noise of the redirects
    /// it covers (see [`EARLY_SIGNIFICANCE`]).
    fn significant(&self, busy: f64, mean: f64) -> bool {
        let deviation = (mean / busy.max(0.01)).ln().abs();
        let n = self.record.sent;
        let b = busy.min(SATURATED);
        let queued = b / (1.0 - b) / n;
        let error = (1.0 / n + queued * queued).sqrt();
        n >= MIN_NAMED && deviation >= EARLY_SIGNIFICANCE * error
    }

    /// Once a window after a change of step, adds how the node's figure
    /// (relative to the pool's `mean`) answered the change of its
    /// redirects to `response`, a big change weighed as a half-octave one
    /// ([`MAX_RESPONSE_LEVERAGE`]). Windows at saturation say nothing (the
    /// figure is capped there), nor tiny changes.
    fn measure_response(&mut self, mean: f64) {
        if self.measured || self.record.covered < WINDOW || self.record.reports < MIN_REPORTS {
            return;
        }
        self.measured = true;
        let (Some((rate_before, busy_before)), Some((rate, busy))) = (self.last, self.window())
        else {
            return;
        };
        let usable = |rate: f64, busy: f64| rate > 0.0 && busy > 0.01 && busy < SATURATED;
        // `last_mean` is at least MIN_MEAN: steps change only above it.
        if !usable(rate_before, busy_before) || !usable(rate, busy) {
            return;
        }
        let moved = (rate / rate_before).ln();
        if moved.abs() > MIN_RESPONSE_MOVE {
            let answered = (busy / busy_before).ln() - (mean / self.last_mean).ln();
            let weight = (MAX_RESPONSE_LEVERAGE / moved.abs()).min(1.0).powi(2);
            self.response.0 += weight * moved * answered;
            self.response.1 += weight * moved * moved;
        }
    }

    /// Whether `busy` is within [`NOISE_SIGNIFICANCE`] standard errors of
    /// `mean`, the error taken from the scatter of the node's own reports,
    /// over at least [`NOISE_MIN_REPORTS`] in the last two windows; once
    /// the `pool`'s figure reads convex, the node's average since its last
    /// change of step against the pool's likeness and at least its
    /// `peers`' scatter, over at least [`CONVEX_NOISE_MIN_REPORTS`].
    fn within_noise(&self, busy: f64, mean: f64, pool: PoolBusy, peers: Option<f64>) -> bool {
        let inside = |deviation: f64, error: Option<f64>| {
            error.is_some_and(|error| deviation.abs() < NOISE_SIGNIFICANCE * error)
        };
        if pool.reads_convex() {
            return self
                .record_against(mean, pool, peers)
                .is_some_and(|(deviation, error)| inside(deviation, Some(error)));
        }
        let recent = self.record.reports * (2.0 * WINDOW / self.record.covered).min(1.0);
        recent >= NOISE_MIN_REPORTS && inside(busy - mean, self.record.error(recent, None, None))
    }

    /// Whether the `pool`'s figure reads convex and the node, from reports
    /// `least-load` trusts ([`CapacityStep::trusted`]), reads hotter than
    /// its `mean` — its smoothed figure (`busy`) and its record's average
    /// both: such a node is corrected under [`MIN_MEAN`] (see there).
    fn hot_in_a_quiet_convex_pool(&self, busy: f64, mean: f64, pool: PoolBusy) -> bool {
        pool.reads_convex() && self.trusted() && busy > mean && self.record.average() > mean
    }

    /// Whether the `pool`'s figure reads convex and the node's record is
    /// over `mean` by [`HOT_SIGNIFICANCE`] standard errors.
    fn hotter_past_noise(&self, mean: f64, pool: PoolBusy, peers: Option<f64>) -> bool {
        pool.reads_convex()
            && self
                .record_against(mean, pool, peers)
                .is_some_and(|(deviation, error)| deviation >= HOT_SIGNIFICANCE * error)
    }

    /// Whether the node, at or above the median's step, reads under
    /// [`FAR_COLDER`] of `mean` by [`FAR_COLDER_SIGNIFICANCE`] standard
    /// errors of its record ([`CapacityStep::record_against`]).
    fn far_colder_past_noise(&self, mean: f64, pool: PoolBusy, peers: Option<f64>) -> bool {
        self.step >= 0
            && self
                .record_against(mean, pool, peers)
                .is_some_and(|(deviation, error)| {
                    mean + deviation < FAR_COLDER * mean
                        && -deviation >= FAR_COLDER_SIGNIFICANCE * error
                })
    }

    /// How a convex figure is judged: the node's average since its last
    /// change of step less `mean`, and that average's standard error with
    /// the `pool`'s likeness, its reports scattering at least as widely
    /// as its `peers`' ([`StepScatter`]); `None` before
    /// [`CONVEX_NOISE_MIN_REPORTS`] or while no report scatters.
    fn record_against(&self, mean: f64, pool: PoolBusy, peers: Option<f64>) -> Option<(f64, f64)> {
        let error = self.record.convex_error(pool.likeness, peers)?;
        Some((self.record.average() - mean, error))
    }

    /// Folds in a fresh estimate of `ratio` = this node's capacity ÷ the
    /// median's, and returns the factor its share is weighted by. A ratio
    /// that is not a positive number leaves the step as it is.
    fn update(&mut self, ratio: f64) -> f64 {
        self.update_beyond(ratio, 0.5 + HYSTERESIS)
    }

    /// [`CapacityStep::update`], moving to another step only once the
    /// estimate is more than `threshold` steps from the current one.
    fn update_beyond(&mut self, ratio: f64, threshold: f64) -> f64 {
        if ratio.is_finite() && ratio > 0.0 {
            let steps = ratio.log2() * STEPS_PER_OCTAVE;
            if (steps - f64::from(self.step)).abs() > threshold {
                self.step = (steps.round() as i32).clamp(-MAX_STEP, MAX_STEP);
            }
        }
        self.factor()
    }

    /// What moved the step since the last call, if anything did: the pool
    /// re-centring every step on its median moves a node's factor with
    /// no move of its own.
    pub fn take_move(&mut self) -> Option<StepMove> {
        self.moved.take()
    }

    /// What moved the step since the last [`CapacityStep::take_move`],
    /// without taking it: for the other nodes' log lines.
    pub fn moved(&self) -> Option<StepMove> {
        self.moved
    }

    /// The step, in quarter octaves.
    pub fn step(&self) -> i32 {
        self.step
    }

    /// Moves the step by `by`: the pool re-centres every step on its
    /// median so that corrections, which are noisier upwards (a
    /// utilisation cannot exceed 1), do not drift the steps apart.
    pub fn shift(&mut self, by: i32) {
        self.step = (self.step + by).clamp(-MAX_STEP, MAX_STEP);
    }

    /// The share factor of the current step: 1 for the median.
    pub fn factor(&self) -> f64 {
        (f64::from(self.step) / STEPS_PER_OCTAVE).exp2()
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

/// Neighbouring reports' lag-1 correlation from their covariance and
/// variance, counted up to [`MAX_LIKENESS`].
fn likeness(covariance: f64, variance: f64) -> f64 {
    (covariance / variance).clamp(0.0, MAX_LIKENESS)
}

// === impl Record ===

impl Record {
    /// Folds in a report of utilisation `u` over `elapsed` seconds, over
    /// which the node was `sent` redirects of the `named` its share named.
    fn add(&mut self, u: f64, elapsed: f64, sent: f64, named: f64) {
        self.covered += elapsed;
        self.reports += 1.0;
        self.work += u * elapsed;
        self.sent += sent;
        self.named += named;
        self.scatter.add(u, elapsed);
    }

    /// The reports' time-weighted mean utilisation.
    fn average(&self) -> f64 {
        self.work / self.covered
    }

    /// [`Scatter::moments`] of these reports.
    fn moments(&self) -> Option<(f64, f64)> {
        self.scatter.moments(self.work, self.covered)
    }

    /// [`Scatter::error`] of their average, counted as `reports` reports.
    fn error(&self, reports: f64, likeness: Option<f64>, at_least: Option<f64>) -> Option<f64> {
        self.scatter
            .error(self.work, self.covered, reports, likeness, at_least)
    }

    /// The error a convex figure's record is judged with: of its average
    /// over all its reports, with `likeness` and at least the `peers`'
    /// variance; `None` before [`CONVEX_NOISE_MIN_REPORTS`].
    fn convex_error(&self, likeness: Option<f64>, peers: Option<f64>) -> Option<f64> {
        if self.reports < CONVEX_NOISE_MIN_REPORTS {
            return None;
        }
        self.error(self.reports, likeness, peers)
    }

    /// This record less its latest `segment`: the reports before it.
    fn before(&self, segment: &Record) -> Record {
        Record {
            covered: self.covered - segment.covered,
            reports: self.reports - segment.reports,
            work: self.work - segment.work,
            sent: self.sent - segment.sent,
            named: self.named - segment.named,
            grew: self.grew - segment.grew,
            scatter: self.scatter.less(&segment.scatter),
        }
    }
}

// === impl Scatter ===

impl Scatter {
    /// These reports' sums less a later run's of them; the pair across
    /// the boundary stays with the earlier, which says nothing of it.
    fn less(&self, later: &Scatter) -> Scatter {
        Scatter {
            squares: self.squares - later.squares,
            previous: None,
            lagged: self.lagged - later.lagged,
            pairs: self.pairs - later.pairs,
        }
    }

    /// Folds in a utilisation `u` reported over `elapsed` seconds.
    fn add(&mut self, u: f64, elapsed: f64) {
        self.squares += u * u * elapsed;
        if let Some(previous) = self.previous.replace(u) {
            self.lagged += u * previous;
            self.pairs += 1.0;
        }
    }

    /// The variance of the reports about their time-weighted mean and the
    /// covariance of neighbours, given the `work` (busy seconds) they add
    /// up to over `covered` seconds; `None` before two reports.
    fn moments(&self, work: f64, covered: f64) -> Option<(f64, f64)> {
        if self.pairs < 1.0 || covered <= 0.0 {
            return None;
        }
        let average = work / covered;
        let squared = average * average;
        Some((
            (self.squares / covered - squared).max(0.0),
            self.lagged / self.pairs - squared,
        ))
    }

    /// The standard error of the reports' time-weighted mean (`work` over
    /// `covered` seconds), counted as `reports` reports of which
    /// neighbours' likeness — `likeness` if given, else their own — leaves
    /// fewer independent ones (an AR(1) effective count), their variance
    /// taken as `at_least` where that is more; `None` when neither
    /// scatters.
    fn error(
        &self,
        work: f64,
        covered: f64,
        reports: f64,
        likeness: Option<f64>,
        at_least: Option<f64>,
    ) -> Option<f64> {
        let (own, covariance) = self.moments(work, covered)?;
        let variance = own.max(at_least.unwrap_or(0.0));
        if variance <= 0.0 {
            return None;
        }
        // Reports that do not scatter say nothing of how alike they are.
        let likeness = likeness.unwrap_or_else(|| {
            if own > 0.0 {
                self::likeness(covariance, own)
            } else {
                0.0
            }
        });
        let independent = (reports * (1.0 - likeness) / (1.0 + likeness)).max(1.0);
        Some((variance / independent).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl CapacityStep {
        /// [`CapacityStep::correct_among`] with no peers at its step.
        fn correct(&mut self, pool: PoolBusy) -> f64 {
            self.correct_among(pool, None)
        }
    }

    /// A node that reported `busy` over two windows (8 reports of 2.5 s),
    /// each covering `sent` redirects of the `named` its share named.
    fn two_windows(busy: f64, sent: f64, named: f64) -> CapacityStep {
        let mut node = CapacityStep::default();
        for _ in 0..8 {
            node.observe(busy, 2.5, sent, named);
        }
        node
    }

    /// A pool at `mean` utilisation whose figure's response to changes of
    /// share has been measured as `elasticity`.
    fn surveyed(mean: f64, saturated_floor: Option<f64>, elasticity: f64) -> PoolBusy {
        PoolBusy {
            mean,
            unsaturated_mean: mean,
            saturated_floor,
            elasticity,
            response_known: true,
            likeness: None,
            utilisation: mean,
            speed_reference: None,
            share_per_speed: None,
            rest_scale: None,
            cut_drains: true,
            backlog_growing: true,
        }
    }

    /// A pool at `mean` utilisation with a saturated node.
    fn overloaded(mean: f64) -> PoolBusy {
        surveyed(mean, Some(0.5), 1.0)
    }

    /// A pool at `mean` utilisation with no saturated node.
    fn mean(mean: f64) -> PoolBusy {
        surveyed(mean, None, 1.0)
    }

    #[test]
    fn equal_nodes_stay_equal_despite_noise() {
        let mut step = CapacityStep::default();
        for ratio in [1.0, 1.08, 0.93, 1.12, 0.9, 1.0] {
            assert_eq!(step.update(ratio), 1.0, "{ratio}");
        }
    }

    #[test]
    fn real_differences_are_followed_exactly_and_with_hysteresis() {
        let mut step = CapacityStep::default();
        assert_eq!(step.update(2.0), 2.0);
        assert_eq!(step.update(0.5), 0.5);
        // 0.54 is nearer 0.59 than 0.5, but not by the hysteresis.
        assert_eq!(step.update(0.54), 0.5);
        assert!((step.update(0.62) - 0.5f64.powf(0.75)).abs() < 1e-12);
        assert_eq!(step.update(f64::NAN), step.factor());
        assert_eq!(step.update(1e9), 32.0);
    }

    #[test]
    fn a_node_read_saturated_is_overloaded_only_if_its_share_outruns_its_speed() {
        // Eight reports of 5 s at 100% against a pool's 92%: a node as
        // fast as the pool at the pool's share (25 jobs a busy second, as
        // the pool's 8) is saturated by chance, as equal nodes at 97% load
        // read, and stepping it down ran the rest at 99%; one that does
        // 12.5 is overloaded by its share, and steps down.
        let pool = |own: f64| {
            let mut node = CapacityStep::default();
            node.measure(0.0, 0.0, 0, 0.0);
            for _ in 0..8 {
                node.observe(1.0, 5.0, 5.0 * own, 5.0 * own);
                node.measure(5.0 * own, 1.0, 0, 5.0);
            }
            let mut nodes = vec![timed(CapacityStep::default(), 25.0, 0.9); 7];
            nodes.push(node);
            let survey = PoolBusy::survey(&nodes).unwrap();
            (
                node,
                PoolBusy {
                    mean: 0.92,
                    ..survey
                },
            )
        };
        let (mut equal, survey) = pool(25.0);
        assert_eq!(equal.correct(survey), 1.0);
        let (mut slow, survey) = pool(12.5);
        assert!(slow.correct(survey) < 1.0, "{slow:?}");
    }

    #[test]
    fn a_saturated_node_steps_down_even_inside_the_dead_band() {
        // A slow node of a 2:1 pool sent an equal share: 100% against a
        // mean of 84%, a half-gain ratio of 0.92, inside the dead band.
        let mut slow = CapacityStep::default();
        for _ in 0..8 {
            slow.observe(1.0, 5.0, 0.0, 0.0);
        }
        assert_eq!(slow.correct(mean(0.84)), (-0.25f64).exp2());
        // A pool that is all saturated moves nothing.
        let mut busy = CapacityStep::default();
        for _ in 0..8 {
            busy.observe(1.0, 5.0, 0.0, 0.0);
        }
        assert_eq!(busy.correct(mean(0.97)), 1.0);
    }

    #[test]
    fn a_node_hotter_than_the_pool_loses_share_until_it_is_not() {
        // Sent an equal share, a node half as fast runs twice as hot.
        let mut slow = CapacityStep::default();
        let mut factor: f64 = 1.0;
        for _ in 0..400 {
            // Its utilisation follows its share: 2 × 0.45 × share, capped.
            slow.observe((0.9 * factor).min(1.0), 1.0, 0.0, 0.0);
            factor = slow.correct(mean(0.45));
        }
        // Within the dead band of the last correction: a step of 0.5.
        assert!((0.5..0.6).contains(&factor), "{factor}");
        // Noise around the mean moves nothing.
        let mut equal = CapacityStep::default();
        for u in [0.9, 0.82, 0.97, 0.86].repeat(10) {
            equal.observe(u, 1.0, 0.0, 0.0);
            assert_eq!(equal.correct(mean(0.9)), 1.0);
        }
    }

    #[test]
    fn a_node_below_saturation_takes_its_whole_correction_at_once() {
        // A node 1.5× slower than the pool's median, sent the median's
        // share: 90% against a mean of 60%. The full ratio, 2/3, is 2.3
        // steps down; a half-gain correction would have taken one.
        let mut slow = CapacityStep::default();
        for _ in 0..8 {
            slow.observe(0.9, 5.0, 0.0, 0.0);
        }
        assert_eq!(slow.correct(mean(0.6)), (-0.5f64).exp2());
        assert_eq!(slow.step(), -2);
    }

    #[test]
    fn an_overloaded_node_steps_down_after_one_window_not_two() {
        let mut slow = CapacityStep::default();
        for _ in 0..3 {
            slow.observe(1.0, 2.5, 0.0, 0.0);
            assert_eq!(
                slow.correct(mean(0.7)),
                1.0,
                "one window is not yet covered"
            );
        }
        // Four reports over ten seconds: the first step down.
        slow.observe(1.0, 2.5, 0.0, 0.0);
        assert_eq!(slow.correct(mean(0.7)), (-0.25f64).exp2());
        // A node below saturation still waits for two windows.
        let mut warm = CapacityStep::default();
        for _ in 0..7 {
            warm.observe(0.9, 2.5, 0.0, 0.0);
            assert_eq!(warm.correct(mean(0.6)), 1.0);
        }
    }

    #[test]
    fn a_first_report_does_not_seed_the_average() {
        // At a restart the first report (nothing before it) says 0%; the
        // node is then sent more than it can do from the first second.
        let mut slow = CapacityStep::default();
        slow.observe(0.0, 0.0, 0.0, 0.0);
        assert_eq!(slow.busy(), None);
        for _ in 0..4 {
            slow.observe(1.0, 2.5, 0.0, 0.0);
        }
        assert_eq!(slow.busy(), Some(1.0));
        assert_eq!(slow.correct(mean(0.7)), (-0.25f64).exp2());
    }

    #[test]
    fn the_first_window_is_a_plain_average_not_its_first_report_smoothed() {
        // With reports every 4 ms the first one, busy or idle by chance,
        // held a smoothed average for seconds.
        let mut node = CapacityStep::default();
        node.observe(0.0, 0.004, 0.0, 0.0);
        for _ in 0..249 {
            node.observe(0.8, 0.004, 0.0, 0.0);
        }
        let busy = node.busy().expect("reported");
        assert!((busy - 0.8 * 249.0 / 250.0).abs() < 1e-9, "{busy}");
    }

    #[test]
    fn a_gross_deviation_is_corrected_at_once_and_noise_waits_for_windows() {
        // A fast node of a 4:1 pool sent an equal share: one 4 s report
        // over 90 redirects says 56% against a mean of 78%.
        // Its slow peers are saturated.
        let mut fast = CapacityStep::default();
        fast.observe(0.56, 4.0, 90.0, 90.0);
        assert_eq!(fast.correct(overloaded(0.78)), 0.5f64.exp2());
        // Its next correction waits for two windows again.
        fast.observe(0.9, 4.0, 120.0, 120.0);
        assert_eq!(fast.correct(mean(0.5)), 0.5f64.exp2());
        // An equal node 8% under the mean over as many is noise.
        let mut equal = CapacityStep::default();
        equal.observe(0.83, 4.0, 90.0, 90.0);
        assert_eq!(equal.correct(overloaded(0.9)), 1.0);
        // So is a gross deviation over a handful of redirects.
        let mut few = CapacityStep::default();
        few.observe(0.2, 0.5, 10.0, 10.0);
        assert_eq!(few.correct(overloaded(0.9)), 1.0);
        // With no node saturated the fast node's deviation waits for its
        // windows: in a pool's first seconds queues fill by chance.
        let mut calm = CapacityStep::default();
        calm.observe(0.56, 4.0, 90.0, 90.0);
        assert_eq!(calm.correct(mean(0.78)), 1.0);
    }

    #[test]
    fn a_saturated_node_sent_less_than_its_share_is_given_what_it_was_sent() {
        // A slow node whose turns least-load hands to others reports 100%
        // like the rest of a hot pool (no margin to step down by), but it
        // was sent 40% of what its share named it for.
        let mut slow = two_windows(1.0, 40.0, 100.0);
        // 0.4 is 5.3 steps down: one octave now, the rest a window later.
        assert_eq!(slow.correct(mean(0.99)), 0.5);
        for _ in 0..8 {
            slow.observe(1.0, 2.5, 40.0, 50.0);
        }
        assert_eq!(slow.correct(mean(0.99)), 0.5f64.powf(1.25));
        // A node sent its share keeps it.
        let mut fair = two_windows(1.0, 95.0, 100.0);
        assert_eq!(fair.correct(mean(0.99)), 1.0);
    }

    #[test]
    fn a_correction_starts_from_the_share_the_node_was_really_sent() {
        // At 50% against a pool at 40%, a node sent what its share named
        // is 0.8 of it: one step down.
        let mut named = two_windows(0.5, 100.0, 100.0);
        assert_eq!(named.correct(mean(0.4)), (-0.25f64).exp2());
        // One whose turns went elsewhere ran that hot on 60% of its
        // share: 0.48, an octave down (the most one correction moves).
        let mut gave_away = two_windows(0.5, 60.0, 100.0);
        assert_eq!(gave_away.correct(mean(0.4)), 0.5);
        // One that took others' overflow, half again its share, carries
        // 1.2 of it: one step up, where the figure alone cut it.
        let mut took = two_windows(0.5, 150.0, 100.0);
        assert_eq!(took.correct(mean(0.4)), 0.25f64.exp2());
        // Within the noise of a count (832 against 800 named, 2√800 = 57
        // apart), the share named is the share sent.
        let mut close = two_windows(0.5, 104.0, 100.0);
        assert_eq!(close.correct(mean(0.4)), (-0.25f64).exp2());
    }

    #[test]
    fn an_interval_the_dispatcher_had_no_pace_for_counts_as_sent_what_was_named() {
        // The pool's first interval after a start: the dispatcher has no
        // pace yet and names nothing (0). Then seven intervals sent just
        // what was named. Counting that first interval's 100 redirects
        // against none named read "sent 1.14 × its share" for every node
        // of the pool, past the noise of a count (800 against 700).
        let mut node = CapacityStep::default();
        node.observe(0.5, 2.5, 100.0, 0.0);
        for _ in 0..7 {
            node.observe(0.5, 2.5, 100.0, 100.0);
        }
        assert_eq!(node.sent_over_named(), 1.0);
        assert_eq!(node.correct(mean(0.4)), (-0.25f64).exp2());
    }

    #[test]
    fn a_correction_moves_one_octave_at_most() {
        // A queue-shaped figure: one job queued reads 5% against a pool's
        // 35%. Read as a busy fraction that is 7× the capacity; the share
        // doubles, no more.
        let mut node = two_windows(0.05, 25.0, 25.0);
        assert_eq!(node.correct(mean(0.35)), 2.0);
        // And down: a node at 100% sent a tenth of its share halves.
        let mut slow = two_windows(1.0, 10.0, 100.0);
        assert_eq!(slow.correct(mean(0.99)), 0.5);
    }

    #[test]
    fn a_deviation_inside_the_reports_own_scatter_is_noise() {
        // A queue length reported every 125 ms swings between empty and
        // 60% in runs of 20 reports: its mean, 30%, is off the pool's 45%
        // by less than its scatter, so nothing moves.
        let mut queue = CapacityStep::default();
        for report in 0..200 {
            let u = if report / 20 % 2 == 0 { 0.0 } else { 0.6 };
            queue.observe(u, 0.125, 1.0, 1.0);
        }
        assert_eq!(queue.correct(mean(0.45)), 1.0);
        // A steady 30% over as many reports is a real difference.
        let mut steady = CapacityStep::default();
        for _ in 0..200 {
            steady.observe(0.3, 0.125, 1.0, 1.0);
        }
        assert_eq!(steady.correct(mean(0.45)), 0.5f64.exp2());
        // Over a handful of reports the scatter is not judged: a node
        // reporting every 4 s corrects as before.
        let mut sparse = CapacityStep::default();
        for u in [0.0, 0.6, 0.0, 0.6, 0.0, 0.6, 0.0, 0.6] {
            sparse.observe(u, 4.0, 90.0, 90.0);
        }
        assert_eq!(sparse.correct(mean(0.45)), 0.5f64.exp2());
    }

    /// A node corrected up two steps (its share × √2), whose figure then
    /// answered the √2 more redirects it was sent `slope` times over.
    fn answered(slope: f64) -> CapacityStep {
        let node = answered_from(0.1, 0.15, slope);
        assert_eq!(node.step(), 2);
        node
    }

    /// A node reading `busy` in a pool at `pool`, corrected up, whose
    /// figure then answered the redirects it was sent `slope` times over.
    fn answered_from(busy: f64, pool: f64, slope: f64) -> CapacityStep {
        let mut node = two_windows(busy, 25.0, 25.0);
        node.correct(mean(pool));
        let more = node.factor();
        for _ in 0..4 {
            node.observe(busy * more.powf(slope), 2.5, 25.0 * more, 25.0 * more);
        }
        node.correct(mean(pool));
        node
    }

    #[test]
    fn one_big_change_of_share_does_not_outvote_the_figures_other_answers() {
        // Two nodes' figures answered half an octave more redirects four
        // times over, as a queue length does; a third node's redirects
        // doubled and its figure did not move. Weighed by its square, the
        // doubling read the pool's figure as linear (slope 1.33), and
        // speeds were lent from queue lengths; weighed as a half-octave
        // change, it leaves the figure convex (8/3).
        let doubled = answered_from(0.05, 0.4, 0.0);
        assert_eq!(doubled.step(), 4);
        let timed = |node| timed(node, 40.0, 0.5);
        let pool = PoolBusy::survey(&[timed(answered(4.0)), timed(answered(4.0)), timed(doubled)]);
        let pool = pool.unwrap();
        assert!(
            (pool.elasticity - 8.0 / 3.0).abs() < 1e-6,
            "{}",
            pool.elasticity
        );
        assert_eq!(pool.speed_reference, None);
    }

    /// `node` with a measured speed of `speed` jobs a busy second: ten
    /// 10 s reports, busy `busy` of each, connections steady (hundreds of
    /// completions: a speed known to a few per cent).
    fn timed(mut node: CapacityStep, speed: f64, busy: f64) -> CapacityStep {
        node.measure(0.0, 0.0, 3, 0.0);
        for _ in 0..10 {
            node.measure(10.0 * speed * busy, busy, 3, 10.0);
        }
        node
    }

    /// A node steady at 25 jobs a busy second over 4 s reports at 80%.
    fn steady_node() -> CapacityStep {
        let mut node = CapacityStep::default();
        node.measure(0.0, 0.0, 3, 0.0);
        for _ in 0..20 {
            node.observe(0.8, 4.0, 80.0, 80.0);
            node.measure(80.0, 0.8, 3, 4.0);
        }
        node
    }

    #[test]
    fn a_node_whose_own_speed_drops_takes_the_drop_as_its_step() {
        // Half as fast: its step goes down an octave at the next report,
        // whatever the pool's survey knows (an equal pool never lends
        // speeds: its steps never changed), and its windows start afresh.
        let mut node = steady_node();
        assert_eq!(node.step(), 0);
        node.observe(1.0, 4.0, 80.0, 80.0);
        node.measure(80.0, 1.0, 33, 4.0);
        assert_eq!(node.step(), -4);
        assert_eq!(node.busy(), None);
        // What it completes after, at the same speed, confirms it.
        for queued in [63, 93, 123] {
            node.measure(80.0, 1.0, queued, 4.0);
        }
        assert_eq!(node.step(), -4);
        // A drop by chance is undone once the reports after it count
        // the speed it had.
        let mut node = steady_node();
        node.measure(40.0, 0.8, 3, 4.0);
        assert_eq!(node.step(), -4);
        for _ in 0..2 {
            node.measure(80.0, 0.8, 3, 4.0);
        }
        assert_eq!(node.step(), 0);
    }

    #[test]
    fn a_linear_figure_lends_the_median_speed_and_each_node_follows_its_own() {
        // Two nodes whose figure answered a change of share one for one,
        // one twice as fast as the other (at any utilisation).
        let (fast, slow) = (
            timed(answered(1.0), 40.0, 0.5),
            timed(answered(1.0), 20.0, 0.9),
        );
        let pool = PoolBusy::survey(&[fast, slow]).unwrap();
        // The upper median, the node Members re-centres on.
        let reference = pool.speed_reference.unwrap();
        assert!(
            (reference.per_busy_second - 40.0).abs() < 1e-9,
            "{reference:?}"
        );
        let (mut fast, mut slow) = (fast, slow);
        assert_eq!(fast.follow_speed(pool), 1.0);
        // An octave and a half below its step: two snapshots.
        assert_eq!(slow.follow_speed(pool), 2f64.sqrt() / 2.0);
        assert_eq!(slow.follow_speed(pool), 0.5);
        // A speed eight times the reference's moves a step an octave a
        // snapshot, as any correction.
        let mut far = timed(answered(1.0), 320.0, 0.5);
        assert_eq!(far.step(), 2);
        assert_eq!(far.follow_speed(pool), 2f64.powf(6.0 / 4.0));
        assert_eq!(far.follow_speed(pool), 2f64.powf(10.0 / 4.0));
        assert_eq!(far.follow_speed(pool), 8.0);
        // And the controller stands by: a node at 20% in a pool at 40%
        // would otherwise be doubled (see the test above).
        let mut measured = timed(two_windows(0.2, 25.0, 25.0), 20.0, 0.9);
        assert_eq!(measured.follow_speed(pool), 0.5);
        let hot = PoolBusy {
            speed_reference: Some(reference),
            ..overloaded(0.4)
        };
        assert_eq!(measured.correct(hot), 0.5);
    }

    #[test]
    fn a_node_moved_by_a_lent_speed_is_judged_afresh_once_lending_stops() {
        // A node at 20% in a pool at 40% over two windows, that the
        // controller would step up; its speed, lent, halves its share first.
        let lending = PoolBusy {
            speed_reference: Some(Speed {
                per_busy_second: 40.0,
                relative_error: 0.0,
            }),
            ..surveyed(0.4, None, 1.0)
        };
        let mut node = timed(two_windows(0.2, 25.0, 25.0), 20.0, 0.9);
        assert_eq!(node.follow_speed(lending), 0.5);
        // The pool stops lending (its figure found convex): the windows
        // before the move say nothing of the share it has now.
        assert_eq!(node.correct(surveyed(0.4, None, CONVEX)), 0.5);
    }

    #[test]
    fn a_figure_once_read_convex_lends_speeds_only_below_a_busy_fractions_slope() {
        // A queue length at a node under half busy answers a change of
        // share 1.5 times over: read so from the start, it passes for a
        // busy fraction (under CONVEX) and the pool lends speeds.
        let timed = |node| timed(node, 40.0, 0.5);
        let fresh = PoolBusy::survey(&[timed(answered(1.5))]).unwrap();
        assert!(fresh.speed_reference.is_some(), "{fresh:?}");
        // Once the node was corrected against a pool that read the figure
        // convex, the same slope reads convex; under 1 it lends again.
        let after_convex = |slope| {
            let mut node = answered(slope);
            node.correct(surveyed(0.15, None, 4.0));
            PoolBusy::survey(&[timed(node)]).unwrap()
        };
        let queue = after_convex(1.5);
        assert_eq!((queue.elasticity, queue.speed_reference), (CONVEX, None));
        let busy = after_convex(0.9);
        assert!(busy.speed_reference.is_some(), "{busy:?}");
    }

    #[test]
    fn no_speed_is_lent_before_the_figure_is_seen_linear() {
        // Before any change of share has been answered: nothing to go by.
        let fresh: Vec<_> = four_to_one_pool()
            .into_iter()
            .map(|n| timed(n, 40.0, 0.5))
            .collect();
        assert_eq!(PoolBusy::survey(&fresh).unwrap().speed_reference, None);
        // A queue length answers four times over: completions per unit of
        // it are no speed.
        let convex = PoolBusy::survey(&[timed(answered(4.0), 40.0, 0.5)]).unwrap();
        assert_eq!(convex.speed_reference, None);
        // Without completions counted, no speed either.
        let unmeasured = PoolBusy::survey(&[answered(1.0)]).unwrap();
        assert_eq!(unmeasured.speed_reference, None);
    }

    /// `node` whose completions per unit of figure scatter as a queue
    /// length's do: three 10 s reports at 50%, alternately 50 and 250
    /// completions — ten standard errors at the first segment tested.
    fn scattered(mut node: CapacityStep) -> CapacityStep {
        node.measure(0.0, 0.0, 3, 0.0);
        for k in 0..3 {
            let done = if k % 2 == 0 { 50.0 } else { 250.0 };
            node.measure(done, 0.5, 3, 10.0);
        }
        node
    }

    #[test]
    fn a_figure_whose_completions_scatter_reads_convex_and_lends_no_speed() {
        // Both nodes' figures answered a change of share one for one —
        // a slope a queue length's noise can give — but what they
        // complete per unit of it scatters many times past counts.
        let pool = PoolBusy::survey(&[scattered(answered(1.0)), scattered(answered(1.0))]).unwrap();
        assert_eq!(pool.elasticity, CONVEX);
        assert_eq!(pool.speed_reference, None);
        // The gain is divided by that floor, not by a measured slope: the
        // slope is not known, and shares move a step at a time.
        assert!(!pool.response_known);
        // One node of two is no majority: the slope stands.
        let mixed = PoolBusy::survey(&[scattered(answered(1.0)), timed(answered(1.0), 40.0, 0.5)]);
        assert_eq!(mixed.unwrap().elasticity, 1.0);
        // A measured slope steeper still is kept.
        let steep = PoolBusy::survey(&[scattered(answered(4.0))]).unwrap();
        assert!(
            (steep.elasticity - 4.0).abs() < 1e-9,
            "{}",
            steep.elasticity
        );
        assert!(steep.response_known);
    }

    #[test]
    fn the_survey_reads_how_steeply_the_figure_answers_a_change_of_share() {
        // A busy fraction answers one for one: read as linear.
        let linear = PoolBusy::survey(&[answered(1.0)]).unwrap();
        assert_eq!(linear.elasticity, 1.0);
        assert!(linear.response_known);
        // So is a slope under CONVEX, which noise can give a busy fraction.
        assert_eq!(PoolBusy::survey(&[answered(1.8)]).unwrap().elasticity, 1.0);
        // A queue length answers four times over at this load.
        let convex = PoolBusy::survey(&[answered(4.0)]).unwrap().elasticity;
        assert!((convex - 4.0).abs() < 1e-9, "{convex}");
        // Before any measured change there is nothing to go by.
        let fresh = PoolBusy::survey(&four_to_one_pool()).unwrap();
        assert_eq!(fresh.elasticity, 1.0);
        assert!(!fresh.response_known);
    }

    #[test]
    fn until_the_figures_response_is_known_a_calm_pool_moves_a_share_one_step() {
        // 20% against a pool's 40%, read as linear: the share doubles...
        assert_eq!(two_windows(0.2, 25.0, 25.0).correct(mean(0.4)), 2.0);
        // ... but only once the pool has shown how its figure answers; a
        // queue length's first corrections were chance, and an octave.
        let calm = PoolBusy {
            response_known: false,
            ..mean(0.4)
        };
        assert_eq!(two_windows(0.2, 25.0, 25.0).correct(calm), 0.25f64.exp2());
        // A saturated node says the shares are wrong: the whole ratio.
        let hot = PoolBusy {
            response_known: false,
            ..overloaded(0.4)
        };
        assert_eq!(two_windows(0.2, 25.0, 25.0).correct(hot), 2.0);
    }

    #[test]
    fn the_survey_pools_how_alike_neighbouring_reports_are() {
        let node = |reports: &[f64]| {
            let mut step = CapacityStep::default();
            for &u in reports {
                step.observe(u, 1.0, 10.0, 10.0);
            }
            step
        };
        // Variances 1/4 each; neighbours' covariances 1/12 and 3/20.
        let pool = [
            node(&[0.0, 0.0, 1.0, 1.0]),
            node(&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]),
        ];
        let likeness = PoolBusy::survey(&pool).unwrap().likeness.unwrap();
        assert!((likeness - 7.0 / 15.0).abs() < 1e-9, "{likeness}");
        // One report each: nothing to go by.
        let single = PoolBusy::survey(&[node(&[0.5])]).unwrap();
        assert_eq!(single.likeness, None);
    }

    #[test]
    fn a_convex_figure_is_judged_over_its_record_with_the_pools_likeness() {
        // A queue-shaped figure: runs of 0.6 and of 0 (a mean of 0.3)
        // against a pool's 0.55, over 24 reports of 2.5 s.
        let queue_like = || {
            let mut node = CapacityStep::default();
            for i in 0..24 {
                node.observe(if i % 4 < 2 { 0.6 } else { 0.0 }, 2.5, 25.0, 25.0);
            }
            node
        };
        let convex = |likeness| PoolBusy {
            likeness,
            ..surveyed(0.55, None, 4.0)
        };
        // Its own 24 reports look nearly independent: past noise, taken.
        assert_ne!(queue_like().correct(convex(None)), 1.0);
        // The pool's reports are 90% alike: the same deviation is noise.
        assert_eq!(queue_like().correct(convex(Some(0.9))), 1.0);
    }

    #[test]
    fn a_calm_record_is_judged_against_the_scatter_of_its_peers() {
        // A node whose queue read 0 and 0.1 in turn (a mean of 0.05)
        // against a pool's 0.12, over 24 reports of 2.5 s, the figure
        // convex and neighbouring reports unlike.
        let calm = || {
            let mut node = CapacityStep::default();
            for i in 0..24 {
                node.observe(if i % 2 == 0 { 0.0 } else { 0.1 }, 2.5, 25.0, 25.0);
            }
            node
        };
        let pool = PoolBusy {
            likeness: Some(0.0),
            ..surveyed(0.12, None, 2.5)
        };
        // Its own reports scatter by 0.05: seven standard errors cold, it
        // steps up.
        assert!(calm().correct_among(pool, None) > 1.0);
        // The nodes sent the same share scatter by 0.2: the same record is
        // within their noise, and it keeps its step.
        assert_eq!(calm().correct_among(pool, Some(0.04)), 1.0);
    }

    #[test]
    fn a_record_restarts_where_its_figure_shifts_past_noise() {
        // A node whose queue read 0 and 0.2 in turn over reports of 4 s,
        // as the pool's did, and from report `shift` on 0.5 and 0.7 (its
        // speed halved) against a pool's 0.13; the figure convex.
        let run = |shift: usize| {
            let mut node = CapacityStep::default();
            for i in 0..64 {
                let (u, mean) = match (i >= shift, i % 2 == 0) {
                    (false, even) => (if even { 0.0 } else { 0.2 }, 0.1),
                    (true, even) => (if even { 0.5 } else { 0.7 }, 0.13),
                };
                node.observe(u, 4.0, 40.0, 40.0);
                node.correct(PoolBusy {
                    likeness: Some(0.0),
                    response_known: false,
                    ..surveyed(mean, None, 2.5)
                });
            }
            node
        };
        // Averaged with the 56 calm reports before it, the shift stayed
        // within noise of the pool's mean; its record restarted at the
        // shift, the node steps down.
        assert_eq!(run(56).step(), -1);
        // A record that did not shift is kept whole.
        let calm = run(64);
        assert_eq!((calm.step(), calm.record.reports), (0, 64.0));
    }

    #[test]
    fn the_scatter_of_a_step_is_its_settled_nodes_mean() {
        // Eight reports of 0 and `high` in turn, from `step`.
        let node = |step: i32, settled: bool, high: f64| {
            let mut node = CapacityStep::default();
            node.shift(step);
            node.settled = settled;
            for i in 0..8 {
                node.observe(if i % 2 == 0 { 0.0 } else { high }, 2.5, 25.0, 25.0);
            }
            node
        };
        let nodes = [
            node(0, true, 0.2),
            node(0, true, 0.4),
            // Every node starts at the same step whatever its speed: one
            // not yet settled says nothing of the share's scatter.
            node(0, false, 1.0),
            node(-2, true, 0.6),
        ];
        let scatter = StepScatter::survey(&nodes);
        // Variances of 0.01 and 0.04 at step 0, 0.09 at step −2.
        assert!((scatter.at(0).unwrap() - 0.025).abs() < 1e-9);
        assert!((scatter.at(-2).unwrap() - 0.09).abs() < 1e-9);
        assert_eq!(scatter.at(1), None);
    }

    #[test]
    fn a_convex_figure_divides_the_gain_of_a_correction() {
        // 20% against a pool's 40%: read as linear the share doubles; a
        // figure that answers four times over needs a quarter of that.
        let pool = |elasticity| surveyed(0.4, None, elasticity);
        assert_eq!(two_windows(0.2, 25.0, 25.0).correct(pool(1.0)), 2.0);
        assert_eq!(
            two_windows(0.2, 25.0, 25.0).correct(pool(4.0)),
            0.25f64.exp2()
        );
    }

    #[test]
    fn a_node_far_colder_than_the_pool_moves_before_the_slope_is_known() {
        // Reports of `low` and `high` in turn, over 24 reports of 2.5 s,
        // from `step`.
        let cold = |step: i32, low: f64, high: f64| {
            let mut node = CapacityStep::default();
            node.shift(step);
            for i in 0..24 {
                node.observe(if i % 2 == 0 { low } else { high }, 2.5, 25.0, 25.0);
            }
            node
        };
        // A calm pool at 0.4 whose figure reads convex, its slope unknown.
        let calm = PoolBusy {
            response_known: false,
            ..surveyed(0.4, None, 2.0)
        };
        // A mean of 0.05, far past chance: as far as any correction, an
        // octave, not one step.
        assert_eq!(cold(0, 0.04, 0.06).correct(calm), 2.0);
        // Below the median's step, corrections put it there: one step
        // back, however cold.
        assert_eq!(cold(-1, 0.04, 0.06).correct(calm), 1.0);
        // A third of the pool's mean is not far enough: one step.
        assert_eq!(cold(0, 0.12, 0.14).correct(calm), 0.25f64.exp2());
    }

    #[test]
    fn a_node_hot_past_noise_at_a_convex_figure_steps_down_a_whole_step() {
        // A node a step over its share, reading 0.6 and 0.5 in turn (a
        // mean of 0.55) against a pool's 0.3, over 24 reports of 2.5 s.
        let hot = || {
            let mut node = CapacityStep::default();
            node.shift(1);
            for i in 0..24 {
                node.observe(if i % 2 == 0 { 0.6 } else { 0.5 }, 2.5, 25.0, 25.0);
            }
            node
        };
        // Read as a queue length that answers a share nine times over,
        // the gain makes the deviation a 7% excess: less than a step, and
        // the node kept its step. Far past the record's noise, it steps
        // down one.
        assert_eq!(hot().correct(surveyed(0.3, None, 9.0)), 1.0);
        // A deviation inside the noise keeps the divided gain: reports of
        // 0.9 and 0.2 in turn scatter too much to tell.
        let mut noisy = CapacityStep::default();
        noisy.shift(1);
        for i in 0..24 {
            noisy.observe(if i % 2 == 0 { 0.9 } else { 0.2 }, 2.5, 25.0, 25.0);
        }
        assert_eq!(
            noisy.correct(surveyed(0.3, None, 9.0)),
            0.25f64.exp2(),
            "inside the noise"
        );
    }

    #[test]
    fn a_node_hot_in_a_quiet_convex_pool_is_corrected_from_trusted_reports() {
        // A queue-shaped figure reads under MIN_MEAN at 70% load: a pool's
        // 0.08, a node reading 0.25 and 0.35 in turn over 24 reports of
        // 2.5 s, named `per_report` redirects each.
        let node = |per_report: f64, high: f64, low: f64| {
            let mut node = CapacityStep::default();
            for i in 0..24 {
                node.observe(
                    if i % 2 == 0 { high } else { low },
                    2.5,
                    per_report,
                    per_report,
                );
            }
            node
        };
        let quiet = surveyed(0.08, None, 4.0);
        // From reports fresh enough to trust (5 redirects a report), it is
        // corrected: (0.08 / 0.3)^(1/4), two steps down.
        assert_eq!(node(5.0, 0.35, 0.25).correct(quiet), (-0.5f64).exp2());
        // From stale ones (25 a report) the steps stay under MIN_MEAN, as
        // they do for a cold node, and for a figure read linear.
        assert_eq!(node(25.0, 0.35, 0.25).correct(quiet), 1.0, "stale");
        assert_eq!(node(5.0, 0.03, 0.01).correct(quiet), 1.0, "cold");
        assert_eq!(
            node(5.0, 0.35, 0.25).correct(surveyed(0.08, None, 1.0)),
            1.0,
            "linear"
        );
    }

    #[test]
    fn a_hot_node_whose_turns_are_given_away_is_cut_to_what_it_was_sent_if_fresh_or_backlogged() {
        // A node reading 0.9 against a pool's 0.5, under saturation: over
        // 8 reports its share named it for 10 redirects a report and
        // `least-load` sent it 5 — 40 given away, past 4 × √80.
        let hot = |sent, named| two_windows(0.9, sent, named);
        let pool = surveyed(0.5, None, 9.0);
        let mut node = hot(5.0, 10.0);
        assert!(node.cut_to_sent(pool));
        assert_eq!(node.factor(), 0.5);
        // Its record starts afresh: nothing more to cut on.
        assert!(!node.cut_to_sent(pool));
        // Not for turns given away within their noise (16 of 80)...
        assert!(!hot(8.0, 10.0).cut_to_sent(pool));
        // ... nor at reports too old to trust, 40 named apart, whose
        // turns went by the rule for saturated nodes ...
        assert!(!hot(20.0, 40.0).cut_to_sent(pool));
        // ... unless its backlog held though they went elsewhere: it was
        // sent at least what it completed. Not while the turns repaid a
        // backlog that drained, nor where the agent counts no connections.
        let stale = |before: u64, after: u64| {
            let mut node = hot(20.0, 40.0);
            node.measure(0.0, 0.0, before, 0.0);
            node.measure(160.0, 0.9, after, 20.0);
            node
        };
        let mut held = stale(30, 30);
        assert!(held.cut_to_sent(pool));
        assert_eq!(held.factor(), 0.5);
        assert!(stale(30, 41).cut_to_sent(pool));
        assert!(!stale(30, 5).cut_to_sent(pool), "drained");
        assert!(!stale(0, 0).cut_to_sent(pool), "no connections counted");
        // ... nor from a node cooler than the pool.
        let mut cool = two_windows(0.4, 5.0, 10.0);
        assert!(!cool.cut_to_sent(pool));
    }

    #[test]
    fn each_move_of_a_step_says_what_moved_it_once() {
        let mut cut = two_windows(0.9, 5.0, 10.0);
        assert!(cut.cut_to_sent(surveyed(0.5, None, 9.0)));
        assert_eq!(cut.take_move(), Some(StepMove::CutToSent));
        assert_eq!(cut.take_move(), None);
        let mut corrected = two_windows(0.2, 25.0, 25.0);
        assert_eq!(corrected.correct(mean(0.4)), 2.0);
        assert_eq!(corrected.take_move(), Some(StepMove::Corrected));
        // A re-centring is no move of the node's own.
        corrected.shift(-4);
        assert_eq!(corrected.take_move(), None);
        let mut dropped = steady_node();
        dropped.observe(1.0, 4.0, 80.0, 80.0);
        dropped.measure(80.0, 1.0, 33, 4.0);
        assert_eq!(dropped.take_move(), Some(StepMove::OwnSpeedDrop));
        // Nothing moved, nothing to say.
        assert_eq!(two_windows(0.4, 25.0, 25.0).take_move(), None);
    }

    /// Half the nodes of an 8-node pool at 90% load are 4× slower, all
    /// sent equal shares: 2.25 jobs/s each, the fast ones at 56%, the slow
    /// ones saturated (they can do 1).
    fn four_to_one_pool() -> Vec<CapacityStep> {
        let node = |busy| {
            let mut step = CapacityStep::default();
            step.observe(busy, 10.0, 22.5, 22.5);
            step
        };
        // The slow nodes complete 10 of their 22.5.
        let slow = queued(node(1.0), 22.5, 12, 10.0);
        [vec![node(0.5625); 4], vec![slow; 4]].concat()
    }

    /// `node` whose connections grew by `grew` over a saturated report of
    /// `elapsed` seconds that sent it `sent`, after a first that set their
    /// baseline: a backlog counted.
    fn queued(mut node: CapacityStep, sent: f64, grew: u64, elapsed: f64) -> CapacityStep {
        node.measure(0.0, 0.0, 0, 0.0);
        node.measure(sent, 1.0, grew, elapsed);
        node
    }

    #[test]
    fn the_survey_bounds_a_saturated_node_by_what_the_others_cannot_take() {
        let pool = PoolBusy::survey(&four_to_one_pool()).unwrap();
        assert!((pool.mean - 0.78125).abs() < 1e-9, "{pool:?}");
        // The fast nodes can do 4 jobs/s each: of the 18 sent, the slow
        // ones must do at least 2 of their 9.
        let floor = pool.saturated_floor.unwrap();
        assert!((floor - 2.0 / 9.0).abs() < 1e-9, "{floor}");
        // A fast node just corrected counts by its last window: the same
        // floor, though the mean is the others'.
        let mut pool = four_to_one_pool();
        pool[0] = CapacityStep::default();
        for _ in 0..8 {
            pool[0].observe(0.5625, 2.5, 5.625, 5.625);
        }
        pool[0].correct(mean(0.78));
        assert_eq!(pool[0].step(), 2);
        assert_eq!(pool[0].busy(), None, "corrected, its window starts over");
        let survey = PoolBusy::survey(&pool).unwrap();
        assert!(
            (survey.saturated_floor.unwrap() - 2.0 / 9.0).abs() < 1e-9,
            "{survey:?}"
        );
        // No saturated node, no floor; no report, no survey.
        let cool = PoolBusy::survey(&four_to_one_pool()[..4]).unwrap();
        assert_eq!(cool.saturated_floor, None);
        assert_eq!(PoolBusy::survey(&[CapacityStep::default()]), None);
    }

    /// A node of a pool's first seconds that reported each of `figures`
    /// over a second, sent 34 redirects in each.
    fn first_seconds(figures: &[f64]) -> CapacityStep {
        let mut node = CapacityStep::default();
        for &figure in figures {
            node.observe(figure, 1.0, 34.0, 34.0);
        }
        node
    }

    #[test]
    fn a_first_correction_may_come_early_for_two_windows() {
        // A fast node of a 4:1 pool whose agent is out of phase with the
        // slow nodes': 12 s of reports at half busy, and no node read
        // saturated until now.
        // Nothing saturated: it waits for two whole windows.
        let mut calm = first_seconds(&[0.5; 12]);
        assert_eq!(calm.correct(mean(0.8)), 1.0);
        // A slow node reads saturated: its first correction is taken
        // now, past its first window, not 8 s later: × 0.8 / 0.5, three
        // steps.
        let mut fast = first_seconds(&[0.5; 12]);
        fast.correct(overloaded(0.8));
        assert_eq!(fast.step(), 3);
    }

    #[test]
    fn a_first_correction_aims_at_the_utilisation_the_survey_estimates() {
        // Equal shares of a 4:1 pool at 90% load: the slow nodes read 100%
        // for 225% of what they can do. Reading each at the middle of its
        // bounds (2.25 × √(2/9) = 1.06 jobs/s, true 1), the pool is sent 18
        // of the 20.2 it can do: 0.89, where the mean of figures says 0.78.
        let pool = PoolBusy::survey(&four_to_one_pool()).unwrap();
        assert!((pool.utilisation - 18.0 / (16.0 + 9.0 * (2.0f64 / 9.0).sqrt())).abs() < 1e-9);
        // A fast node's first correction: × 0.89 / 0.5625, three steps (true:
        // four above the median), not two (× 0.78 / 0.5625).
        let mut fast = first_seconds(&[0.5625; 3]);
        fast.correct(pool);
        assert_eq!(fast.step(), 3);
        // Later corrections aim at the mean: they see the utilisation the
        // first one brought.
        for _ in 0..24 {
            fast.observe(0.5625, 1.0, 34.0, 34.0);
        }
        fast.correct(pool);
        assert_eq!(fast.step(), 5);
        // With no node saturated the two are one.
        let calm = PoolBusy::survey([&first_seconds(&[0.5; 3]); 2]).unwrap();
        assert_eq!(calm.utilisation, calm.mean);
    }

    #[test]
    fn a_first_correction_from_stale_reports_waits_for_a_counted_backlog() {
        // An equal pool's first reports, 34 redirects apart (older than
        // `least-load` trusts): a node reads 0.2 against a pool at 0.5, one
        // queue read saturated by chance, and no backlog is counted.
        let chance = PoolBusy {
            backlog_growing: false,
            ..overloaded(0.5)
        };
        let mut stale = first_seconds(&[0.2; 3]);
        assert_eq!(stale.correct(chance), 1.0);
        // Some node's connections grew past noise: the shares are wrong,
        // and the correction is taken at once (an octave at most).
        let mut stale = first_seconds(&[0.2; 3]);
        assert_eq!(stale.correct(overloaded(0.5)), 2.0);
        // From reports a dozen redirects apart it needs no count.
        let mut fresh = CapacityStep::default();
        for _ in 0..5 {
            fresh.observe(0.2, 1.0, 12.0, 12.0);
        }
        assert_eq!(fresh.correct(chance), 2.0);
        // The survey reads the count off the nodes.
        let slow = queued(first_seconds(&[1.0; 3]), 102.0, 40, 3.0);
        assert!(PoolBusy::survey([&slow, &stale]).unwrap().backlog_growing);
        let even = first_seconds(&[1.0; 3]);
        assert!(
            !PoolBusy::survey([&even, &first_seconds(&[0.2; 3])])
                .unwrap()
                .backlog_growing
        );
    }

    #[test]
    fn a_node_climbing_to_saturation_is_saturated_when_the_others_idle() {
        // A 2:1 pool's slow node under a queue-shaped figure: its window
        // averages 0.87 for the climb, under the 0.98 that reads saturated.
        // It completes ~23 of its 34 redirects a second.
        let slow = queued(first_seconds(&[0.45, 0.9, 1.0, 1.0]), 136.0, 45, 4.0);
        let fast = first_seconds(&[0.06; 5]);
        let pool = PoolBusy::survey([&slow, &fast, &fast, &fast]).unwrap();
        assert!(pool.saturated_floor.is_some(), "{pool:?}");
        // So the fast nodes' first correction is taken, as a busy fraction's
        // would be: an octave up.
        let mut corrected = fast;
        corrected.correct(pool);
        assert_eq!(corrected.step(), 4);
        // Not while the others are busy too (an equal pool at 97% load, one
        // queue saturated by chance), nor from one saturated report, nor
        // once its first window is over: its average speaks then.
        let busy = first_seconds(&[0.5; 5]);
        let chance = PoolBusy::survey([&slow, &busy, &busy, &busy]).unwrap();
        assert_eq!(chance.saturated_floor, None);
        let one = first_seconds(&[0.45, 0.9, 0.95, 1.0]);
        let early = PoolBusy::survey([&one, &fast, &fast, &fast]).unwrap();
        assert_eq!(early.saturated_floor, None);
        let late = first_seconds(&[0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 1.0, 1.0, 1.0]);
        let settled = PoolBusy::survey([&late, &fast, &fast, &fast]).unwrap();
        assert_eq!(settled.saturated_floor, None);
    }

    #[test]
    fn a_first_window_that_started_idle_reads_overloaded_against_cooler_unsaturated_nodes() {
        // A slow node of a 2:1 pool on busy fractions: idle at the start,
        // 75% over its first interval, saturated since. Its window reads
        // 0.92, under saturation; its reports after the first read 100%.
        let slow = first_seconds(&[0.75, 1.0, 1.0]);
        // The fast nodes, unsaturated, read 0.77: cut now.
        let two_to_one = PoolBusy {
            unsaturated_mean: 0.77,
            ..surveyed(0.88, Some(0.5), 1.0)
        };
        let mut cut = slow;
        assert!(cut.correct(two_to_one) < 1.0);
        // A fast node that read the same on the slow nodes' overflow, sent
        // half again its share, was overloaded by that overflow, not by
        // its share: not cut.
        let mut flooded = CapacityStep::default();
        for figure in [0.75, 1.0, 1.0] {
            flooded.observe(figure, 1.0, 51.0, 34.0);
        }
        assert!(flooded.correct(two_to_one) >= 1.0);
        // Equal nodes around it read 0.88: a chance run, not cut.
        let equal = PoolBusy {
            unsaturated_mean: 0.88,
            ..surveyed(0.9, Some(0.5), 1.0)
        };
        let mut kept = slow;
        assert_eq!(kept.correct(equal), 1.0);
    }

    #[test]
    fn an_overloaded_first_reports_cut_to_the_middle_of_what_the_pool_says() {
        let pool = PoolBusy::survey(&four_to_one_pool()).unwrap();
        // One report is not enough.
        let mut slow = CapacityStep::default();
        slow.observe(1.0, 2.5, 60.0, 60.0);
        assert_eq!(slow.correct(pool), 1.0);
        // Two, over 60 redirects, 5 s into its first window: the share jumps
        // towards the pool's mean times the geometric middle of [floor, 1]
        // of what it is sent, 0.78 × √(2/9) = 0.37, but one octave at most:
        // 4 steps down (true: 8).
        let mut slow = CapacityStep::default();
        for _ in 0..2 {
            slow.observe(1.0, 2.5, 30.0, 30.0);
        }
        slow.correct(pool);
        assert_eq!(slow.step(), -4);
        // Overloaded again a window later: one step, as any later cut.
        for _ in 0..4 {
            slow.observe(1.0, 2.5, 30.0, 30.0);
        }
        slow.correct(pool);
        assert_eq!(slow.step(), -5);
        // In a 2:1 pool the middle is above the cap: 0.84 × √(14/27) = 0.60,
        // 3 steps (true: 2 of its equal share at 90%).
        let pool = surveyed(0.84, Some(14.0 / 27.0), 1.0);
        let mut slow = CapacityStep::default();
        for _ in 0..2 {
            slow.observe(1.0, 2.5, 30.0, 30.0);
        }
        slow.correct(pool);
        assert_eq!(slow.step(), -3);
        // With no saturated floor to go by, the early cut is one step.
        let mut alone = CapacityStep::default();
        for _ in 0..2 {
            alone.observe(1.0, 2.5, 30.0, 30.0);
        }
        assert_eq!(alone.correct(mean(0.78)), (-0.25f64).exp2());
    }

    /// A pool of nodes sent 100 redirects a 2.5 s report each, their
    /// shares naming them for as many: one saturated node for each of
    /// `overloaded` that completes `completes` a report, the others busy
    /// `others` of the time. After each of `reports`, the survey of the
    /// pool and a cut; the overloaded nodes' factors after each.
    fn overloaded_pool(
        overloaded: usize,
        completes: f64,
        others: &[f64],
        reports: usize,
    ) -> Vec<Vec<f64>> {
        let mut nodes = vec![CapacityStep::default(); overloaded + others.len()];
        let busy = |k: usize| {
            if k < overloaded {
                1.0
            } else {
                others[k - overloaded]
            }
        };
        for (k, node) in nodes.iter_mut().enumerate() {
            node.measure(0.0, busy(k), 0, 0.0);
        }
        (1..=reports)
            .map(|report| {
                for (k, node) in nodes.iter_mut().enumerate() {
                    let queued = if k < overloaded {
                        100.0 - completes
                    } else {
                        0.0
                    };
                    node.measure(100.0, busy(k), (queued * report as f64) as u64, 2.5);
                    node.observe(busy(k), 2.5, 100.0, 100.0);
                }
                let pool = PoolBusy::survey(&nodes).unwrap();
                for node in &mut nodes {
                    node.cut_overload(pool);
                }
                nodes[..overloaded]
                    .iter()
                    .map(CapacityStep::factor)
                    .collect()
            })
            .collect()
    }

    #[test]
    fn an_overloaded_node_is_cut_to_what_it_completes_once_its_backlog_is_significant() {
        // 75 of 100 done a report: 25 more queued each, 1.9 standard
        // errors a report, past 4 at the fifth. It completes 30 a second;
        // less half its backlog again over as long, 25: the three others,
        // sent 120 a second, take 135, and the step at or below that is
        // an octave down. From the node's first reports: it has no need
        // of a correction first.
        let run = overloaded_pool(1, 75.0, &[0.6; 3], 5);
        assert_eq!(run, [[1.0], [1.0], [1.0], [1.0], [0.5]]);
        // Two octaves at most a cut, however far behind.
        assert_eq!(overloaded_pool(1, 10.0, &[0.6; 3], 1), [[0.25]]);
        // Not while the whole pool reads saturated: growth is anyone's.
        let run = overloaded_pool(1, 75.0, &[0.95; 3], 8);
        assert!(run.iter().flatten().all(|&f| f == 1.0), "{run:?}");
        // Not for growth within its noise.
        let run = overloaded_pool(1, 95.0, &[0.6; 3], 12);
        assert!(run.iter().flatten().all(|&f| f == 1.0), "{run:?}");
    }

    #[test]
    fn nodes_cut_together_land_on_what_they_complete_together() {
        // Two overloaded nodes of four, each to be sent 25 a second of the
        // 160: the other two take 110 of it, 1.375 times what they are
        // sent now, so each cut node's share is 25 / 1.375 of the 40 it
        // names now, 2^(-1.14): the step below, 2^(-5/4). Each cut as if
        // alone (the others taking 135) would be at 2^(-1), and be sent
        // 26.7 a second.
        let run = overloaded_pool(2, 75.0, &[0.6; 2], 5);
        assert_eq!(run.last().unwrap(), &[(-1.25f64).exp2(); 2]);
    }

    #[test]
    fn a_cut_drains_only_what_the_rest_can_take() {
        // Its pair at 80% would take 55 of the 80 a second: 110%. Cut to
        // the 30 it completes, the pair taking 50: 2^(-0.74), the step
        // below. At 60% it takes the drain (83%): an octave down.
        let run = overloaded_pool(1, 75.0, &[0.8], 5);
        assert_eq!(run.last().unwrap(), &[(-0.75f64).exp2()]);
        let run = overloaded_pool(1, 75.0, &[0.6; 3], 5);
        assert_eq!(run.last().unwrap(), &[0.5]);
        // A node of the rest that reads saturated takes none of it, but
        // no longer stops the two at 60% from taking it: an octave down.
        let run = overloaded_pool(1, 75.0, &[0.99, 0.6, 0.6], 5);
        assert_eq!(run.last().unwrap(), &[0.5]);
        // Beside two at 85%, which it would fill past full, none.
        let run = overloaded_pool(1, 75.0, &[0.99, 0.85, 0.85], 5);
        assert_eq!(run.last().unwrap(), &[(-0.75f64).exp2()]);
    }

    #[test]
    fn a_run_that_did_not_begin_with_the_first_report_counts_from_its_second() {
        // 10 of 100 done: significant within one report. A first report
        // counts alone; after an unsaturated one, a run takes two.
        let mut nodes = vec![CapacityStep::default(); 4];
        for node in &mut nodes {
            node.measure(0.0, 0.6, 0, 0.0);
        }
        let report = |nodes: &mut Vec<CapacityStep>, busy: f64, connections: u64| {
            nodes[0].measure(100.0, busy, connections, 2.5);
            nodes[0].observe(busy, 2.5, 100.0, 100.0);
            for node in &mut nodes[1..] {
                node.measure(100.0, 0.6, 0, 2.5);
                node.observe(0.6, 2.5, 100.0, 100.0);
            }
            let pool = PoolBusy::survey(nodes.iter()).unwrap();
            nodes[0].cut_overload(pool)
        };
        assert!(!report(&mut nodes, 0.9, 0));
        assert!(!report(&mut nodes, 1.0, 90));
        assert!(report(&mut nodes, 1.0, 180));
        let mut fresh = vec![CapacityStep::default(); 4];
        for node in &mut fresh {
            node.measure(0.0, 0.6, 0, 0.0);
        }
        assert!(report(&mut fresh, 1.0, 90));
    }

    #[test]
    fn a_cut_is_a_first_correction_to_the_nodes_yet_to_take_theirs() {
        let mut fresh = two_windows(0.8, 80.0, 80.0);
        fresh.settle_on_cut(0.8);
        assert!(fresh.settled && fresh.busy.is_none(), "{fresh:?}");
        let mut settled = two_windows(0.8, 80.0, 80.0);
        settled.correct(mean(0.8));
        let before = settled;
        settled.settle_on_cut(0.8);
        assert_eq!(settled, before);
    }

    #[test]
    fn a_node_reading_saturated_keeps_its_own_first_correction_when_others_are_cut() {
        // Two saturated reports while the pool reads half busy: another
        // node's cut leaves it unsettled, and its early cut is taken.
        let mut slow = first_seconds(&[1.0, 1.0]);
        slow.settle_on_cut(0.5);
        assert!(!slow.settled, "{slow:?}");
        slow.correct(overloaded(0.5));
        assert!(slow.step() < 0, "{slow:?}");
    }

    /// A node of a pool's first seconds that read 0.94 over three reports
    /// of a second, sent 34 redirects in each, its connections growing
    /// `growth` a report.
    fn hot_first_seconds(growth: u64) -> CapacityStep {
        let mut node = CapacityStep::default();
        node.measure(0.0, 0.0, 0, 0.0);
        for report in 1..=3 {
            node.measure(34.0, 0.94, growth * report, 1.0);
            node.observe(0.94, 1.0, 34.0, 34.0);
        }
        node
    }

    #[test]
    fn a_node_whose_queue_grows_in_its_first_window_is_overloaded_below_saturation() {
        // 30 of 102 left queued: 2.3 standard errors. Cut to what it
        // completed (72 of 102) at the pool's 0.8 over its 0.94: three steps.
        let mut growing = hot_first_seconds(10);
        growing.correct(overloaded(0.8));
        assert_eq!(growing.step(), -3, "{growing:?}");
        // The same figures with nothing queued are within their noise:
        // the node waits for its window.
        let mut steady = hot_first_seconds(0);
        steady.correct(overloaded(0.8));
        assert_eq!(steady.step(), 0, "{steady:?}");
    }

    #[test]
    fn an_unsaturated_report_ends_the_run_a_change_of_step_does_not() {
        let mut node = two_windows(0.8, 80.0, 80.0);
        node.correct(mean(0.8));
        node.measure(0.0, 0.8, 0, 0.0);
        for report in 1..=3 {
            node.measure(100.0, 1.0, report * 40, 2.5);
        }
        // A step changed on the way keeps the run.
        node.step = -2;
        node.restart(0.8);
        node.measure(100.0, 1.0, 160, 2.5);
        let run = node.overload;
        assert_eq!((run.sent, run.grew, run.covered), (400.0, 160.0, 10.0));
        // An unsaturated report ends it.
        node.measure(100.0, 0.9, 200, 2.5);
        assert_eq!(node.overload, OverloadRun::default());
    }
}
