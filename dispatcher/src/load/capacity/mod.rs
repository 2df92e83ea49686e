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
//! than one, and equal nodes stepped up on chance stayed up. Two kinds of
//! node are not held to a step before the slope is measured: one at or above
//! the median's step whose record reads under a quarter of the pool's
//! mean, far past that noise ([`FAR_COLDER`]) — the fast half of an
//! unequal pool, which climbed a step every eight reports otherwise; and
//! one stepping down whose record restarted where its figure shifted
//! hotter — its speed dropped, which chance does not do, and one node of
//! eight halving its speed at 70–90% load, reports 100 service times
//! old, came down a quarter octave every 8–20 reports while its queue
//! held (long grids, queue-shaped figures, seeds 1–8: misses 58 → 54 of
//! 5 760, four such cells 5% better or more, none worse;
//! `bench/RESULTS.md`, fortieth session). The result
//! is rounded to quarter octaves (×1.19 steps) and moves to another step
//! only once the estimate is well past the boundary: on a pool of equal
//! nodes at 90% load a node weighted 10% above its share runs at 99%, so
//! equal nodes must keep exactly equal weights (a stale pool is then
//! spread as evenly as round robin), while a node twice or half as fast
//! gets twice or half the share. Equal figures are the right aim for a
//! busy fraction, whose speeds are then lent; a queue length should not
//! read equal: mean response time is least where a fast node queues more
//! than a slow one, by the root of their speeds, so a settled node's aim
//! is the pool's mean × √(its factor) over the pool's mean √factor, while
//! figures read well under their cap ([`ROOT_RULE_FULL_BELOW`]). A slow
//! node then settles a step under its proportional share rather than a
//! step over, where the hysteresis held it in pools of 2 and 3.
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
//! A node that reads saturated while `least-load` steers off it is sent
//! about what it completes, and its backlog holds rather than grows: it is
//! overloaded all the same once, over two saturated reports, its share
//! names it past noise for more than it completed
//! ([`SHORTFALL_SIGNIFICANCE`](overload::SHORTFALL_SIGNIFICANCE); long
//! grids, queue-shaped figures, seeds 1–8: misses 63 → 58 of 5 760,
//! thirty-eighth session).
//!
//! The same count speaks before a figure reads saturated: a busy fraction
//! over an interval that began with a moment's idle reads 0.93–0.96 while
//! the queue behind it grows. In its first window a node whose connections
//! grew well past noise while it reads over the pool's mean is overloaded
//! ([`GROWTH_SIGNIFICANCE`](overload::GROWTH_SIGNIFICANCE)) and corrected to what it completed of what it
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
//! named ([`SENT_SIGNIFICANCE`](overload::SENT_SIGNIFICANCE)) — a fast node that took the overflow of
//! saturated ones read hot on it, and was cut for it (seeds 1–4: misses
//! 103 → 94; twenty-fourth session).
//!
//! The counts above all read growth or shortfall, and a node sent a few
//! percent more than it completes hides in their noise: its queue grows a
//! few jobs a report against a random walk of ~15 at reports 100 service
//! times apart. Its *level* does not hide ([`level`]): a queue below
//! saturation holds `k` jobs with a chance of about `ρᵏ`, so a node that
//! holds far more connections than a queue at the pool's typical level
//! would reach by chance, at two reports running, is cut — from reports
//! too old for `least-load` to trust, which steers off it otherwise — to
//! what it completed over its run of saturated reports less its drain, a
//! step at least ([`CapacityStep::cut_backlogged`]). After a start, out of
//! phase, the fast node of a 4:1 pool of 8 at 70% load that took the first
//! correction alone, an octave up before its slow peers were cut, ran at
//! 103–109% of its speed and held 50–114 jobs from ~280 to ~480 service
//! times after the start, against its peers' 0–3, until ~860 in all; cut
//! a step at its report at ~380, it drained by ~570, and that cell went
//! 1.44 → 1.15 × the better spread. Long grids, queue-shaped figures,
//! seeds 1–8: misses 54 → 46 of 5 760, Σ excess over the goals 6.03 →
//! 5.11, 18 cells ≥ 5% better and one worse; held-out seeds 9–12 31 → 26;
//! busy fractions, seeds 1–6, 8 → 8, none worse (`bench/RESULTS.md`,
//! forty-second session).

mod level;
mod overload;
mod record;
mod survey;

use level::Levels;
use overload::OverloadRun;
use record::Record;
pub use survey::{PoolBusy, StepScatter};

use super::SpeedMeter;

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
/// before its first window is over (see [`CapacityStep::correct_among`]).
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

/// A cut moves a share two octaves at most: it reads a count — what the
/// node was sent less what it still holds — not a ratio of capped
/// figures, and a slow node of a 4:1 pool started at an equal share is two
/// octaves over before its backlog is counted. The N = 8 pools 4:1 at 90%
/// load and T = 100 service times, six seeds, in / out of phase, × the
/// better spread: busy fractions 1.14 / 1.19 at two octaves, 1.38 / 1.26
/// at one and a half, 1.37 / 1.21 at three; queue lengths 1.37 / 1.39,
/// 2.71 / 1.77 and 2.90 / 2.18 (`bench/RESULTS.md`, fifteenth session).
const CUT_MAX_OCTAVES: f64 = 2.0;

/// Where a settled node's queue-shaped figure and the pool's mean both
/// read under this, the node's target leans to its capacity in full:
/// the pool's mean × √(its factor) over the pool's mean √factor
/// ([`CapacityStep::judged_against`]). Mean response time over servers of
/// unequal speed μᵢ is least where each one's marginal cost
/// μᵢ / (μᵢ − λᵢ)² is equal, so its spare rate μᵢ − λᵢ goes as √μᵢ and
/// its queue λᵢ / (μᵢ − λᵢ) as √μᵢ less 1: a fast node should queue
/// more than a slow one, not the same. Equal figures give shares in
/// proportion to capacity (an oracle WRR's), where one quarter-octave
/// step over sends a slow node of a 4:1 pool of 2 at 90% load 15% past
/// its share: it queued up to 43 jobs behind `least-load`'s steering,
/// and the hysteresis held it there. Aiming its queue at half the fast
/// node's, it settles a step under, near the optimum, where a step
/// either way costs little.
/// Long grids, queue-shaped figures, seeds 1–8: misses 82 → 63 of
/// 5 760, excess over the goals 9.05 → 7.85, pools of 2 and 3 24 → 6;
/// busy fractions never read convex and are untouched. An exponent of
/// 0.7 rather than ½ gave 63 and 8.35, worst cell 2.02
/// (`bench/RESULTS.md`, thirty-seventh session).
const ROOT_RULE_FULL_BELOW: f64 = 0.4;

/// ... and from this up not at all: a figure capped at saturation (a
/// queue of 20 reads 1) cannot show a fast node queueing twice as long,
/// so its target ran past the cap, and a fast node of a 4:1 pool of 8
/// at 97% load kept stepping up, to twice its peers' share with 148
/// jobs queued (1.23 → 1.95 × the better spread; faded by the pool's
/// mean alone, not also the node's own figure).
const ROOT_RULE_NONE_FROM: f64 = 0.8;

/// The largest step either way: 32× the median.
const MAX_STEP: i32 = 20;

/// What last moved a node's capacity step, for the log line that reports
/// the change ([`CapacityStep::take_move`]): "capacity 1.0 → 0.42" says
/// little at 3 a.m. without whether a figure, a count or a speed moved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepMove {
    /// The controller's correction towards the pool's utilisation
    /// ([`CapacityStep::correct_on_report`]).
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
    /// Cut while it held connections past chance
    /// ([`CapacityStep::cut_backlogged`]).
    CutBacklogged,
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
            StepMove::CutBacklogged => "cut while it held connections far past the pool's",
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
    /// Whether `record` restarted where the node's figure shifted hotter
    /// past noise, since the step last changed: its speed dropped (another
    /// tenant arrived), which chance does not do, so its next step down is
    /// not held to one ([`CapacityStep::correct_among`]).
    shifted_hotter: bool,
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
    /// The reports covering time measured so far ([`CapacityStep::measure`]).
    covering: Covering,
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
    /// The connections it held at its reports; kept across changes of
    /// step.
    levels: Levels,
}

/// How many reports covering time a node has had: none, its first (with
/// the utilisation it read, which says whether a run of saturated reports
/// beginning at its second counts from the start: [`NEAR_SATURATED`](overload::NEAR_SATURATED)),
/// or more.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
enum Covering {
    #[default]
    None,
    First(f64),
    More,
}

// === impl CapacityStep ===

impl CapacityStep {
    /// Folds in a report: a `utilisation` over the `elapsed` seconds since
    /// the node's previous report (0 for its first), over which it was
    /// `sent` redirects of the `named` its share named it for, with
    /// `connections` open at its end. Measured first
    /// ([`CapacityStep::measure`]), so that a run of saturated reports the
    /// report begins or extends counts what was named over it
    /// ([`CapacityStep::observe`]).
    pub fn report(
        &mut self,
        utilisation: f64,
        elapsed: f64,
        sent: f64,
        named: f64,
        connections: u64,
    ) {
        self.measure(sent, utilisation, connections, elapsed);
        self.observe(utilisation, elapsed, sent, named);
        self.levels.add(connections);
    }

    /// Folds in a utilisation reported `elapsed` seconds after the
    /// previous report. A node's first report (no previous one: `elapsed`
    /// is 0) describes a time before the dispatcher sent it anything, so it
    /// says nothing about its share: seeding the average with it (an idle
    /// 0% at a restart) kept a node that was overloaded from the first
    /// second from looking so for ~40 s. The node was `sent` redirects
    /// over the report, of the `named` its share named it for; `named` is
    /// 0 while the dispatcher has no pace to name by, and then counts as
    /// what was sent (see the `sent` field), and counts towards any run of
    /// saturated reports ([`CapacityStep::report`]).
    fn observe(&mut self, utilisation: f64, elapsed: f64, sent: f64, named: f64) {
        if elapsed <= 0.0 {
            return;
        }
        let sent = sent.max(0.0);
        let named = if named > 0.0 { named } else { sent };
        self.named_rate = named / elapsed;
        if self.overload.reports > 0.0 {
            self.overload.named += named;
        }
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
    fn measure(&mut self, sent: f64, utilisation: f64, connections: u64, elapsed: f64) {
        let grew = self.meter.observe(sent, utilisation, connections, elapsed);
        self.follow_own_speed();
        let first = self.covering == Covering::None;
        let after_busy_first =
            matches!(self.covering, Covering::First(busy) if busy >= overload::NEAR_SATURATED);
        if grew.is_some() {
            self.covering = if first {
                Covering::First(utilisation)
            } else {
                Covering::More
            };
        }
        self.record.grew += grew.unwrap_or(0.0);
        self.segment.grew += grew.unwrap_or(0.0);
        match grew {
            Some(grew) if utilisation >= SATURATED => {
                let run = &mut self.overload;
                if run.reports == 0.0 {
                    run.from_start = first || after_busy_first;
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

    /// Corrects the share ([`CapacityStep::correct_among`]) once after each
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

    /// Corrects the share towards the `pool`'s mean utilisation (leaning
    /// to the node's capacity at a queue-shaped figure:
    /// [`CapacityStep::judged_against`]; an early cut by its saturated
    /// floor; see the module docs), judging the
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
        // What the node is judged against from here on, and its share
        // corrected towards: the pool's mean, leaning to the node's
        // capacity at a queue-shaped figure.
        let aim = self.judged_against(busy, pool);
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
        let over = |b: f64| b >= SATURATED && aim < b - SATURATED_MARGIN;
        // In its first window, what a node whose queue grew completed.
        let growing = if !self.settled && busy >= aim + SATURATED_MARGIN {
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
            && self.significant(busy, aim);
        // A node overloaded from its first reports (a slow node of an
        // unequal pool after a restart) is cut without waiting for its
        // window, and by as much as the pool's survey says: its queue
        // grows with every report it waits.
        let early_cut = overloaded
            && !self.settled
            && self.record.reports >= EARLY_CUT_REPORTS
            && self.record.named >= MIN_NAMED;
        if (mean < MIN_MEAN && !self.hot_in_a_quiet_convex_pool(busy, mean, pool))
            || (!early_cut && self.within_noise(busy, aim, pool, peers))
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
            aim
        } else {
            pool.utilisation
        };
        self.settled = true;
        let before = self.step;
        let gain = if busy.max(aim) < SATURATED {
            1.0
        } else {
            GAIN_NEAR_SATURATION
        } / pool.elasticity;
        let share_sent = self.factor() * sent_over_named;
        let mut ratio = share_sent * (target / busy.max(0.01)).powf(gain);
        // An overloaded node, or one hot far past its noise at a convex
        // figure, steps down one step at least.
        if overloaded || self.hotter_past_noise(aim, pool, peers) {
            ratio = ratio.min(self.factor() * (-1.0 / STEPS_PER_OCTAVE).exp2());
        }
        // An early cut's capacity lies between `floor` and all of what it
        // is sent: the share that brings it to the pool's mean from the
        // geometric middle of the two (one octave down at most, as every
        // correction).
        if early_cut && let Some(floor) = pool.saturated_floor {
            ratio = ratio.min(self.factor() * aim * floor.sqrt());
        }
        if let Some(completed) = growing {
            // What it completed of what it was sent, brought to the mean.
            ratio = ratio.min(self.factor() * completed / self.record.sent * (aim / busy).min(1.0));
        }
        // A saturated node's 100% is a bound, so no more than what it was
        // sent, even where that is within the noise of a count.
        if busy >= SATURATED && self.record.named >= MIN_NAMED {
            ratio = ratio.min(self.factor() * self.record.sent / self.record.named);
        }
        // A node stepping down after its figure shifted hotter lost speed.
        let slowed = self.shifted_hotter && ratio < self.factor();
        let cautious = !pool.response_known
            && pool.saturated_floor.is_none()
            && !overloaded
            && !slowed
            && !self.far_colder_past_noise(aim, pool, peers);
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

    /// What a settled node reading `busy` is corrected towards: the
    /// `pool`'s mean, leaning to the node's capacity where the figure
    /// reads convex (a queue length) — × (√factor ÷ the pool's mean
    /// √factor), in full under [`ROOT_RULE_FULL_BELOW`], fading to none
    /// at [`ROOT_RULE_NONE_FROM`] by the higher of `busy` and the mean.
    /// A node's first correction aims at the pool's utilisation instead
    /// ([`CapacityStep::correct_among`]), and a busy fraction's nodes at
    /// the mean: their speeds are lent once measured
    /// ([`CapacityStep::follow_speed`]).
    fn judged_against(&self, busy: f64, pool: PoolBusy) -> f64 {
        if !self.settled || !pool.reads_convex() {
            return pool.mean;
        }
        let fade = (ROOT_RULE_NONE_FROM - pool.mean.max(busy))
            / (ROOT_RULE_NONE_FROM - ROOT_RULE_FULL_BELOW);
        let lean = self.factor().sqrt() / pool.mean_root_factor;
        pool.mean * lean.powf(fade.clamp(0.0, 1.0))
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
        let shift = segment.average() - before.average();
        if shift.abs() >= SHIFT_SIGNIFICANCE * now.hypot(then) {
            self.record = segment;
            self.shifted_hotter = shift > 0.0;
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
            covering: self.covering,
            before_drop: self.before_drop,
            moved: self.moved,
            read_convex: self.read_convex,
            levels: self.levels,
            ..CapacityStep::default()
        };
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

#[cfg(test)]
mod tests;
