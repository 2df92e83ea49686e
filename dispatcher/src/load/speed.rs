//! A node's speed, measured: the jobs it completes per busy second.
//!
//! gRPC's weighted round robin (gRFC A58) weighs an endpoint by
//! `qps / utilisation`. Read from the dispatcher's side, qps is what it
//! *sent*: over a report that ends with work queued that counts the queued
//! requests as done, and over a saturated report it reads the node's
//! arrivals, not its capacity, so an overloaded node looks exactly as fast
//! as it is sent — the one case a capacity is needed for. What a node did
//! is what it was sent less what it still holds, and it holds its requests
//! in flight as open connections, which every report counts: completions =
//! redirects sent − growth of the node's connections. Completions over busy
//! seconds (the report's busy fraction × the time it covers) is the node's
//! speed whether it idles or queues. Both sums decay over
//! max([`WINDOW`], four reports), so a node that slows down is followed
//! within about that long — and sooner when it is past doubt: reports are
//! gathered into segments of a few dozen completions, each held against
//! the sums before it, and a segment significantly slower than a record
//! that has held steady restarts the sums from itself and is reported
//! ([`SpeedMeter::take_change`]), provisionally: the segment may straddle
//! the drop, or be chance, and the next hundred completions, all after it,
//! set the speed. Steady means the segments scattered as counts of
//! completions do; a queue length read as a busy fraction scatters several
//! times more, is never taken for a change, and reads as scattered — past
//! chance from its first tested segment, when the pool must stop lending
//! speeds off it ([`SpeedMeter::scattered`]).
//!
//! The count is exact while each client holds one connection per request in
//! flight (clients that close, as the testbed and the simulator's
//! agents do); idle keep-alive connections add an offset that cancels in
//! the growth. It divides by busy time, so it means a speed only where the
//! figure is a busy fraction: [`PoolBusy`](super::PoolBusy) lends it to the
//! capacity steps only once the pool's figure has been seen answering the
//! dispatcher's changes of share one for one.

/// How long the sums remember, in seconds (at least four reports): the
/// capacity controller's window. Over 4 s a node's ~100 completions left
/// its speed ~10% off, and the nodes of a 2:1 pool changed step up to 35
/// times a simulated run of ~220 s (189 before steps waited for
/// significance, [`CapacityStep`](super::CapacityStep)); over 10 s, 14,
/// and the long grids missed fewer goals (busy fractions 52 / 49 → 49 / 46
/// of 720 checks, queue lengths 74 / 67 → 70 / 59); over 20 s, 8, but a
/// node halving its speed took a minute to follow, against half that now
/// (`bench/RESULTS.md`, thirteenth session).
const WINDOW: f64 = 10.0;

/// Below this many (decayed) completions the node has no speed yet: over
/// *n* completions of exponential size the estimate is off by about 1/√*n*.
const MIN_DONE: f64 = 20.0;

/// Completions a [`Segment`] gathers before it is held against the sums
/// before it.
const SEGMENT_DONE: f64 = 40.0;

/// How many standard errors a segment's speed must be off the sums before
/// it for the meter to restart from the segment.
const CHANGE_SIGNIFICANCE: f64 = 4.0;

/// A segment of a steady node this far off the sums before it stays open
/// for the next reports: a change shows in one report at 3–4 standard
/// errors, and over two it is past doubt.
const SUSPECT_SIGNIFICANCE: f64 = 2.0;

/// Completions counted after a drop before they set the speed again
/// ([`SpeedMeter::take_change`]).
const AFTER_DROP_DONE: f64 = 100.0;

/// A node's segments are held steady once this many (decayed) have been
/// tested and their squared deviations average at most
/// [`STEADY_DISPERSION`]: a busy fraction's segments scatter as counts of
/// completions do (about 1), a queue length's, read as a busy fraction,
/// several times more.
const STEADY_SEGMENTS: f64 = 8.0;
const STEADY_DISPERSION: f64 = 1.5;

/// Before [`STEADY_SEGMENTS`] are tested, a meter reads as scattered once
/// its tested segments' mean squared deviation is past what counts of
/// completions reach one time in a thousand: this many standard normal
/// deviates up χ²'s cube root (Wilson and Hilferty), about 11 for one
/// segment, 5.5 for three. A queue length read at the report, as a busy
/// fraction, scatters by 10 standard errors and more from the first
/// segment; waiting for eight, ~800 service times with reports 100 old,
/// the pool lent speeds read off it that moved the steps of a 4:1 pool of 8
/// by ±2–4 at a snapshot though its first cut had set them exactly (1.77 →
/// 1.12 × the better spread; long grids, queue-shaped figures: excess over
/// the goals 13.4 → 11.7 on seeds 1–4, 20.2 → 16.1 on 5–8; busy fractions
/// unchanged: `bench/RESULTS.md`, twenty-eighth session).
const EARLY_SCATTER_DEVIATES: f64 = 3.09;

/// How much of the segments' record each new one keeps.
const DISPERSION_DECAY: f64 = 15.0 / 16.0;

/// A measured speed and how far to trust it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed {
    /// Jobs completed per busy second.
    pub per_busy_second: f64,
    /// Its relative standard error, about 1/√(completions counted): the
    /// mean of *n* exponential job sizes is off by that much.
    pub relative_error: f64,
}

/// A drop of a node's own speed, as its [`SpeedMeter`] finds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedChange {
    /// Its speed now over its speed before the drop.
    pub ratio: f64,
    /// Whether the speed counted after the drop is still to come.
    pub provisional: bool,
}

/// Completions per busy second, from what the dispatcher sees of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpeedMeter {
    /// Connections at the last report; `None` before the first, whose
    /// connections may be anybody's.
    connections: Option<u64>,
    /// Decayed completions and busy seconds.
    done: f64,
    busy: f64,
    /// The reports since the last test for a change of speed.
    segment: Segment,
    /// Decayed Σ of the tested segments' squared deviations, in standard
    /// errors, and how many they are.
    dispersion: (f64, f64),
    /// A drop of speed found, or its speed counted after, not yet taken.
    change: Option<SpeedChange>,
    /// After a drop, until [`AFTER_DROP_DONE`] more completions: the speed
    /// before it.
    after_drop: Option<f64>,
}

/// The completions and busy seconds of the reports since the meter last
/// asked whether the node changed speed, and the decayed sums as they
/// stood before the first of them, that the segment is held against.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Segment {
    done: f64,
    busy: f64,
    before: Option<(f64, f64)>,
}

// === impl SpeedMeter ===

impl SpeedMeter {
    /// Folds in a report: `connections` open at its end, `utilisation`
    /// (0–1) over the `elapsed` seconds it covers, during which the node
    /// was sent `sent` redirects. Returns how much its connections grew
    /// over the report — the backlog it added, which an overloaded node's
    /// cut reads too ([`CapacityStep`](super::CapacityStep)) — or `None`
    /// for the first report, whose connections are only a baseline.
    pub fn observe(
        &mut self,
        sent: f64,
        utilisation: f64,
        connections: u64,
        elapsed: f64,
    ) -> Option<f64> {
        let before = self.connections.replace(connections);
        let before = before.filter(|_| elapsed > 0.0)?;
        let grew = connections as f64 - before as f64;
        let done = (sent - grew).max(0.0);
        let busy = utilisation.clamp(0.0, 1.0) * elapsed;
        let segment = &mut self.segment;
        segment.before.get_or_insert((self.done, self.busy));
        segment.done += done;
        segment.busy += busy;
        let decay = (-elapsed / WINDOW.max(4.0 * elapsed)).exp();
        self.done = self.done * decay + done;
        self.busy = self.busy * decay + busy;
        self.follow_change();
        Some(grew)
    }

    /// Once the segment holds [`SEGMENT_DONE`] completions and the node's
    /// record is steady ([`STEADY_DISPERSION`]), restarts the sums from it
    /// if its speed is significantly off theirs before it
    /// ([`CHANGE_SIGNIFICANCE`]) — a drop is also reported — keeps it open
    /// for the next report while it is in doubt
    /// ([`SUSPECT_SIGNIFICANCE`]), and opens the next one otherwise; after
    /// a drop, the segment grows to [`AFTER_DROP_DONE`] and sets the speed
    /// whatever it reads. The decayed sums alone follow a node that halves
    /// its speed over several windows: at 97% load, reports 100 service
    /// times old, a pair's slowed node went on queueing for ~10 reports
    /// until its capacity step followed (`bench/RESULTS.md`, sixteenth
    /// session).
    fn follow_change(&mut self) {
        let Segment { done, busy, before } = self.segment;
        if let Some(speed_before) = self.after_drop {
            // The segment that found a drop may straddle it: the ones all
            // after it, once they count enough, set the speed.
            if done < AFTER_DROP_DONE || busy <= 0.0 {
                return;
            }
            self.after_drop = None;
            self.done = done;
            self.busy = busy;
            self.change = Some(SpeedChange {
                ratio: done / busy / speed_before,
                provisional: false,
            });
            self.segment = Segment::default();
            return;
        }
        if done < SEGMENT_DONE {
            return;
        }
        let Some((done_before, busy_before)) = before else {
            return;
        };
        if done_before < MIN_DONE || busy <= 0.0 || busy_before <= 0.0 {
            self.segment = Segment::default();
            return;
        }
        let moved = (done / busy / (done_before / busy_before)).ln();
        let deviation = moved / (done.recip() + done_before.recip()).sqrt();
        let (squares, segments) = self.dispersion;
        let steady = self.steady();
        if steady && deviation.abs() > CHANGE_SIGNIFICANCE {
            self.done = done;
            self.busy = busy;
            // A rise is not reported: a queue length read as a busy
            // fraction holds steady at 100% while its backlog lasts, and
            // reads several times faster once it drains.
            if moved < 0.0 {
                self.change = Some(SpeedChange {
                    ratio: moved.exp(),
                    provisional: true,
                });
                self.after_drop = Some(done_before / busy_before);
            }
        } else if steady && deviation.abs() > SUSPECT_SIGNIFICANCE {
            return;
        }
        self.dispersion = (
            squares * DISPERSION_DECAY + deviation * deviation,
            segments * DISPERSION_DECAY + 1.0,
        );
        self.segment = Segment::default();
    }

    /// Whether the node's record has held steady: its segments scattered
    /// as counts of completions do ([`STEADY_DISPERSION`]), as a busy
    /// fraction's figure does and a queue length's does not.
    pub fn steady(&self) -> bool {
        self.tested().is_some_and(|(dispersion, segments)| {
            segments >= STEADY_SEGMENTS && dispersion <= STEADY_DISPERSION
        })
    }

    /// Whether the node's record has been tested and found scattering past
    /// counts of completions ([`STEADY_DISPERSION`]; before
    /// [`STEADY_SEGMENTS`], past chance: [`EARLY_SCATTER_DEVIATES`]): what
    /// the dispatcher divides busy time by is no busy fraction — a queue
    /// length, whose completions per unit scatter many times over. Not
    /// merely unsteady: a node yet to be tested is neither.
    pub fn scattered(&self) -> bool {
        self.tested().is_some_and(|(dispersion, segments)| {
            let bound = if segments >= STEADY_SEGMENTS {
                STEADY_DISPERSION
            } else {
                chance_dispersion(segments)
            };
            dispersion > bound
        })
    }

    /// Whether the node's record has been tested against counts of
    /// completions at least once and not found scattering
    /// ([`SpeedMeter::scattered`]): the least a figure must show before
    /// its completions per unit are taken for a speed.
    pub fn tested_unscattered(&self) -> bool {
        self.tested().is_some() && !self.scattered()
    }

    /// The tested segments' mean squared deviation, in standard errors,
    /// and how many (decayed) were tested; `None` before the first.
    fn tested(&self) -> Option<(f64, f64)> {
        let (squares, segments) = self.dispersion;
        (segments >= 1.0).then(|| (squares / segments, segments))
    }

    /// The change of speed found since the last call: a segment
    /// significantly slower than a steady record before it
    /// ([`STEADY_DISPERSION`]), provisional — that segment may straddle the
    /// drop (a node halving among eight at 97% load read 0.71, was cut to
    /// that, and queued) or be chance — then the speed of the next
    /// [`AFTER_DROP_DONE`] completions, all after it.
    pub fn take_change(&mut self) -> Option<SpeedChange> {
        self.change.take()
    }

    /// Whether the node held connections at its last report: an agent
    /// that counts none never shows a backlog, held or not.
    pub fn holds_connections(&self) -> bool {
        self.connections.is_some_and(|open| open > 0)
    }

    /// The jobs the node completes per busy second, once enough are counted.
    pub fn speed(&self) -> Option<Speed> {
        (self.done >= MIN_DONE && self.busy > 0.0).then(|| Speed {
            per_busy_second: self.done / self.busy,
            relative_error: self.done.sqrt().recip(),
        })
    }
}

/// The mean square of `segments` standard normal deviates that chance
/// exceeds one time in a thousand ([`EARLY_SCATTER_DEVIATES`]): χ²'s upper
/// point over its degrees of freedom, by Wilson and Hilferty's cube root.
fn chance_dispersion(segments: f64) -> f64 {
    let spread = 2.0 / (9.0 * segments);
    (1.0 - spread + EARLY_SCATTER_DEVIATES * spread.sqrt()).powi(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A meter past its first report (which sets the connections' baseline).
    fn started() -> SpeedMeter {
        let mut meter = SpeedMeter::default();
        meter.observe(0.0, 0.0, 0, 0.0);
        meter
    }

    #[test]
    fn a_saturated_node_is_measured_by_what_it_completed_not_what_it_was_sent() {
        // Half the speed it is sent for: 90 redirects a 4 s report, busy
        // throughout, 50 done, its backlog 40 more each report.
        let mut meter = started();
        let mut queue = 0;
        for _ in 0..3 {
            queue += 40;
            meter.observe(90.0, 1.0, queue, 4.0);
        }
        let speed = meter.speed().unwrap().per_busy_second;
        assert!((speed - 12.5).abs() < 1e-9, "{speed} jobs a busy second");
        // Counting what was sent as done (A58's reading from the sender's
        // side) takes the arrivals for the capacity: 22.5, nearly twice.
        let mut blind = started();
        for _ in 0..3 {
            blind.observe(90.0, 1.0, 0, 4.0);
        }
        assert!(blind.speed().unwrap().per_busy_second > 22.0, "{blind:?}");
    }

    #[test]
    fn a_node_that_slows_down_is_followed_within_its_window() {
        let mut meter = started();
        for _ in 0..20 {
            meter.observe(80.0, 0.8, 0, 4.0);
        }
        assert!(
            (meter.speed().unwrap().per_busy_second - 25.0).abs() < 1e-9,
            "{meter:?}"
        );
        // Half as fast from now on (12.5 a second): half-way there within
        // the window, four reports.
        let (mut queue, mut reports) = (0, 0);
        while meter.speed().unwrap().per_busy_second > 18.75 {
            queue += 30;
            meter.observe(80.0, 1.0, queue, 4.0);
            reports += 1;
        }
        assert!(reports <= 4, "{reports} reports to see the slowdown");
    }

    /// A meter past a steady record: `reports` 4 s reports at 80%, each
    /// counting 80 completions give or take 4 (25 a busy second).
    fn steady(reports: usize) -> SpeedMeter {
        let mut meter = started();
        for k in 0..reports {
            let done = if k % 2 == 0 { 76.0 } else { 84.0 };
            meter.observe(done, 0.8, 0, 4.0);
            assert_eq!(meter.take_change(), None, "report {k}: {meter:?}");
        }
        meter
    }

    #[test]
    fn a_node_that_halves_its_speed_is_found_at_its_next_report() {
        // The decayed sums alone take four reports to go half-way.
        let mut meter = steady(20);
        assert!(meter.steady());
        meter.observe(40.0, 0.8, 0, 4.0);
        let change = meter
            .take_change()
            .map(|c| c.ratio)
            .expect("a change of speed");
        assert!((change - 0.5).abs() < 0.05, "{change}");
        let speed = meter.speed().unwrap().per_busy_second;
        assert!((speed - 12.5).abs() < 1e-9, "{speed}");
        // Found once: the next report at the new speed is no change.
        meter.observe(40.0, 0.8, 0, 4.0);
        assert_eq!(meter.take_change(), None);
    }

    #[test]
    fn a_drop_found_straddling_is_set_by_the_completions_after_it() {
        // Half as fast from the middle of a report: it reads 60 (2
        // standard errors, kept open), the next 40, and the two found
        // together a drop to 0.625, provisional; the 120 completions after
        // it set 0.5.
        let mut meter = steady(20);
        meter.observe(60.0, 0.8, 0, 4.0);
        assert_eq!(meter.take_change(), None);
        meter.observe(40.0, 0.8, 0, 4.0);
        let found = meter.take_change().expect("a drop");
        assert!(
            found.provisional && (found.ratio - 0.625).abs() < 0.03,
            "{found:?}"
        );
        for _ in 0..3 {
            meter.observe(40.0, 0.8, 0, 4.0);
        }
        let set = meter.take_change().expect("the speed after the drop");
        assert!(
            !set.provisional && (set.ratio - 0.5).abs() < 0.03,
            "{set:?}"
        );
    }

    #[test]
    fn a_report_in_doubt_waits_for_the_next() {
        // 50 completions where 80 are due: 3 standard errors, not enough
        // alone; the next report like it is.
        let mut meter = steady(20);
        meter.observe(50.0, 0.8, 0, 4.0);
        assert_eq!(meter.take_change(), None);
        meter.observe(50.0, 0.8, 0, 4.0);
        let change = meter
            .take_change()
            .map(|c| c.ratio)
            .expect("a change over two reports");
        assert!((change - 0.625).abs() < 0.05, "{change}");
        // Followed by reports as before, it is forgotten.
        let mut meter = steady(20);
        meter.observe(50.0, 0.8, 0, 4.0);
        for _ in 0..5 {
            meter.observe(80.0, 0.8, 0, 4.0);
            assert_eq!(meter.take_change(), None, "{meter:?}");
        }
    }

    #[test]
    fn a_rise_of_speed_restarts_the_sums_and_is_not_reported() {
        // A queue length read as a busy fraction, at 100% while a backlog
        // lasts, reads three times faster once it drains: no slowdown.
        let mut meter = steady(20);
        meter.observe(80.0, 0.27, 0, 4.0);
        assert_eq!(meter.take_change(), None);
        let speed = meter.speed().unwrap().per_busy_second;
        assert!(speed > 70.0, "{speed}");
    }

    #[test]
    fn a_figure_that_scatters_beyond_its_counts_shows_no_change() {
        // A queue length read as a busy fraction: the same completions
        // over a figure of 10% one report and 60% the next. Its segments
        // never hold steady, and halving its completions is no change.
        let mut meter = started();
        for k in 0..40 {
            let figure = if k % 2 == 0 { 0.1 } else { 0.6 };
            let done = if k < 30 { 80.0 } else { 40.0 };
            meter.observe(done, figure, 0, 4.0);
            assert_eq!(meter.take_change(), None, "report {k}: {meter:?}");
            assert!(!meter.steady(), "report {k}: {meter:?}");
        }
        // Tested over enough segments, it reads as scattered.
        assert!(meter.scattered(), "{meter:?}");
    }

    #[test]
    fn a_figure_scattering_far_past_its_counts_reads_scattered_from_its_first_test() {
        // The same 80 completions over 10% one report and 60% the next:
        // eleven standard errors at the first segment tested (the second
        // report; the first has no record to be held against).
        let mut meter = started();
        meter.observe(80.0, 0.1, 0, 4.0);
        assert!(!meter.scattered(), "{meter:?}");
        meter.observe(80.0, 0.6, 0, 4.0);
        assert!(meter.scattered(), "{meter:?}");
        // A busy fraction's chance segment 2.7 standard errors off its
        // record (one in ~140: 118 completions where 80 are due), then its
        // counts' usual scatter, is not.
        let mut meter = started();
        meter.observe(80.0, 0.8, 0, 4.0);
        let sigma = 80f64.sqrt();
        let counts = [118.0, 80.0 - sigma, 80.0 + sigma, 80.0, 80.0 - sigma];
        for (k, done) in counts.into_iter().enumerate() {
            meter.observe(done, 0.8, 0, 4.0);
            assert!(!meter.scattered(), "report {k}: {meter:?}");
        }
    }

    #[test]
    fn a_busy_fraction_is_steady_not_scattered_and_an_untested_meter_neither() {
        let mut meter = started();
        assert!(!meter.scattered() && !meter.steady());
        for k in 0..40 {
            meter.observe(80.0, 0.8, 0, 4.0);
            assert!(!meter.scattered(), "report {k}: {meter:?}");
        }
        assert!(meter.steady(), "{meter:?}");
    }

    #[test]
    fn the_first_reports_connections_are_a_baseline_not_a_backlog() {
        let mut meter = SpeedMeter::default();
        meter.observe(0.0, 0.5, 500, 0.0);
        meter.observe(40.0, 0.5, 500, 2.0);
        assert_eq!(meter.speed().map(|s| s.per_busy_second), Some(40.0));
    }

    #[test]
    fn too_few_completions_give_no_speed() {
        let mut meter = started();
        meter.observe(3.0, 0.5, 0, 1.0);
        assert_eq!(meter.speed(), None);
    }
}
