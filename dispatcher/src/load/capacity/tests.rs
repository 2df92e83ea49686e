//! Unit tests of the capacity controller, its overload cuts and the pool
//! survey.

use super::*;
use crate::load::Speed;

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
        typical_level: None,
        mean,
        unsaturated_mean: mean,
        mean_root_factor: 1.0,
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

#[test]
fn no_speed_is_lent_before_most_meters_are_tested_and_found_unscattered() {
    // A linear figure, each node's speed counted from one report of 30
    // completions: a speed, but no segment of it yet held against the
    // completions before it.
    let early = |mut node: CapacityStep| {
        node.measure(0.0, 0.0, 3, 0.0);
        node.measure(30.0, 0.5, 3, 10.0);
        node
    };
    let untested = PoolBusy::survey(&[early(answered(1.0)), early(answered(1.0))]).unwrap();
    assert!(
        untested.response_known && untested.elasticity < CONVEX,
        "{untested:?}"
    );
    assert_eq!(untested.speed_reference, None);
    // One tested of three is not most; two are.
    let tested = || timed(answered(1.0), 40.0, 0.5);
    let one = PoolBusy::survey(&[tested(), early(answered(1.0)), early(answered(1.0))]);
    assert_eq!(one.unwrap().speed_reference, None);
    let two = PoolBusy::survey(&[tested(), tested(), early(answered(1.0))]);
    assert!(two.unwrap().speed_reference.is_some());
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
fn a_queue_shaped_figure_aims_a_node_at_the_root_of_its_capacity() {
    // The slow node of a 4:1 pair, settled at a quarter of the fast
    // node's share, its queue reading 0.25 and 0.35 in turn over 40
    // reports of 2.5 s; the figure convex, neighbouring reports unlike.
    let slow = |mean: f64, mean_root_factor: f64| {
        let mut node = CapacityStep::default();
        node.shift(-8);
        node.restart(mean);
        for i in 0..40 {
            let u = mean + if i % 2 == 0 { -0.05 } else { 0.05 };
            node.observe(u, 2.5, 25.0, 25.0);
        }
        let pool = PoolBusy {
            likeness: Some(0.0),
            mean_root_factor,
            ..surveyed(mean, None, CONVEX)
        };
        node.correct(pool)
    };
    // Beside a node four times as fast (mean √factor (1 + ½) ÷ 2) it
    // should queue half as long: at the pool's mean it is over its
    // share, and steps down.
    assert!(slow(0.3, 0.75) < 0.25, "{}", slow(0.3, 0.75));
    // Among nodes at its own step, the mean is its aim: it holds.
    assert_eq!(slow(0.3, 0.5), 0.25);
    // A figure near its cap cannot show the difference: it holds.
    assert_eq!(slow(0.85, 0.75), 0.25);
}

#[test]
fn the_survey_takes_the_mean_root_factor_over_the_nodes_in_its_mean() {
    let at = |step: i32, reported: bool| {
        let mut node = CapacityStep::default();
        node.shift(step);
        if reported {
            node.observe(0.3, 2.5, 25.0, 25.0);
        }
        node
    };
    // A fast node and one four times slower; a node with no window yet
    // is in neither the mean nor its root factor.
    let pool = PoolBusy::survey(&[at(0, true), at(-8, true), at(4, false)]).unwrap();
    assert!((pool.mean_root_factor - 0.75).abs() < 1e-12, "{pool:?}");
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
    // shift, the node steps down — and by the whole correction, not the
    // one step a pool whose slope is unknown otherwise moves: a speed
    // that dropped is no chance.
    assert_eq!(run(56).step(), -3);
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

/// Four nodes that have reported once (their first report covers no
/// time), for [`report_overloaded`].
fn started_pool() -> Vec<CapacityStep> {
    let mut nodes = vec![CapacityStep::default(); 4];
    for node in &mut nodes {
        node.measure(0.0, 0.6, 0, 0.0);
    }
    nodes
}

/// A report of 100 redirects over 2.5 s from every node of `nodes`: the
/// first reads `busy` with `connections` open, the others 0.6 with none;
/// then the survey and whether the first was cut for overload.
fn report_overloaded(nodes: &mut [CapacityStep], busy: f64, connections: u64) -> bool {
    nodes[0].measure(100.0, busy, connections, 2.5);
    nodes[0].observe(busy, 2.5, 100.0, 100.0);
    for node in &mut nodes[1..] {
        node.measure(100.0, 0.6, 0, 2.5);
        node.observe(0.6, 2.5, 100.0, 100.0);
    }
    let pool = PoolBusy::survey(nodes.iter()).unwrap();
    nodes[0].cut_overload(pool)
}

#[test]
fn a_run_that_did_not_begin_with_the_first_report_counts_from_its_second() {
    // 10 of 100 done: significant within one report. A first report
    // counts alone; after an unsaturated one, a run takes two.
    let mut nodes = started_pool();
    assert!(!report_overloaded(&mut nodes, 0.6, 0));
    assert!(!report_overloaded(&mut nodes, 1.0, 90));
    assert!(report_overloaded(&mut nodes, 1.0, 180));
    assert!(report_overloaded(&mut started_pool(), 1.0, 90));
    // A run that begins at the second report counts alone too when the
    // first read near saturation (a short first interval, agents out of
    // phase): the node did not idle before it.
    let mut nodes = started_pool();
    assert!(!report_overloaded(&mut nodes, 0.96, 5));
    assert!(report_overloaded(&mut nodes, 1.0, 95));
    // Only at the second: later in a run, near saturation is no start.
    let mut nodes = started_pool();
    assert!(!report_overloaded(&mut nodes, 0.6, 0));
    assert!(!report_overloaded(&mut nodes, 0.96, 5));
    assert!(!report_overloaded(&mut nodes, 1.0, 95));
    assert!(report_overloaded(&mut nodes, 1.0, 185));
}

#[test]
fn beside_a_cut_a_node_saturated_from_its_first_report_is_cut_at_the_first_windows_bar() {
    // Five nodes sent 100 redirects a 2.5 s report; the last two 60%
    // busy, the first three saturated from their first report, their
    // connections grown 50 (past 4 standard errors: 4 × √150 = 49), 30
    // (past 2: 2 × √170 = 26, but not 4) and 20 (not past 2: 27).
    let busy = [1.0, 1.0, 1.0, 0.6, 0.6];
    let grew = [50, 30, 20, 0, 0];
    let mut nodes = vec![CapacityStep::default(); busy.len()];
    for (k, node) in nodes.iter_mut().enumerate() {
        node.measure(0.0, busy[k], 0, 0.0);
        node.measure(100.0, busy[k], grew[k], 2.5);
        node.observe(busy[k], 2.5, 100.0, 100.0);
    }
    let pool = PoolBusy::survey(&nodes).unwrap();
    let cut: Vec<bool> = nodes.iter_mut().map(|n| n.cut_overload(pool)).collect();
    assert_eq!(cut, [true, false, false, false, false]);
    let beside: Vec<bool> = (nodes.iter_mut())
        .map(|n| n.cut_overload_beside(pool))
        .collect();
    assert_eq!(beside, [false, true, false, false, false]);
    // Cut as the overload cut cuts: to what it completes, the rest
    // taking the difference.
    assert!(nodes[1].step() < 0 && nodes[1].moved() == Some(StepMove::CutOverloaded));
    // Not a node whose run of saturated reports began after a first that
    // idled (read 0.6 for a moment, then saturated twice, grown 50 of 200:
    // past 2 standard errors, not 4): it waits for the overload cut's
    // own bar.
    let mut late = CapacityStep::default();
    late.measure(0.0, 0.6, 0, 0.0);
    late.measure(4.0, 0.6, 0, 0.1);
    late.observe(0.6, 0.1, 4.0, 4.0);
    for connections in [25, 50] {
        late.measure(100.0, 1.0, connections, 2.5);
        late.observe(1.0, 2.5, 100.0, 100.0);
    }
    assert!(late.busy().is_some_and(|busy| busy >= SATURATED));
    assert!(!late.cut_overload_beside(pool));
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

/// Four nodes whose shares name each 100 redirects a 2.5 s report: the
/// first saturated throughout with 40 connections open, sent `sent` a
/// report (all of which it completes), the others 60% busy and sent
/// 100; after each of `reports`, the survey and a cut. The first
/// node's factor after each.
fn held_backlog(sent: f64, reports: usize) -> Vec<f64> {
    let mut nodes = vec![CapacityStep::default(); 4];
    nodes[0].measure(0.0, 1.0, 40, 0.0);
    for node in &mut nodes[1..] {
        node.measure(0.0, 0.6, 0, 0.0);
    }
    (0..reports)
        .map(|_| {
            nodes[0].report(1.0, 2.5, sent, 100.0, 40);
            for node in &mut nodes[1..] {
                node.report(0.6, 2.5, 100.0, 100.0, 0);
            }
            survey_and_cut_first(&mut nodes, CapacityStep::cut_overload)
        })
        .collect()
}

/// A pass over `nodes` that reported: the survey, and `cut` of the
/// first node against it; its factor after.
fn survey_and_cut_first(
    nodes: &mut [CapacityStep],
    cut: impl FnOnce(&mut CapacityStep, PoolBusy) -> bool,
) -> f64 {
    let pool = PoolBusy::survey(&*nodes).unwrap();
    cut(&mut nodes[0], pool);
    nodes[0].factor()
}

#[test]
fn a_saturated_node_completing_short_of_its_share_is_cut_though_its_backlog_holds() {
    // Sent 40 of the 100 named, its backlog never grows: no growth to
    // count. Short by 60 a report: within 6 standard errors at one
    // report (6 × √140 = 71), past them at two (120 against
    // 6 × √280 = 100). It completes 16 a second; the three others,
    // sent 120 a second, take 144, 1.2 times as much, so its share is
    // 16 / 1.2 of the 40 it names, 2^(-1.58): the step below, 2^(-7/4).
    let run = held_backlog(40.0, 3);
    assert_eq!(run[..2], [1.0, (-1.75f64).exp2()]);
    // Sent what its share names and completing it, it is not overloaded,
    // however long it reads saturated.
    let run = held_backlog(100.0, 12);
    assert!(run.iter().all(|&f| f == 1.0), "{run:?}");
}

/// Node 0's factor after each report of a pool of four, each report of
/// `per_report` redirects over 2.5 s, the pass cutting it for its
/// backlog alone ([`CapacityStep::cut_backlogged`]): it reads `busy` with
/// `own` connections open at each report, the three others read 0.6 with
/// `others` open in turn. Every node's first report (no time covered)
/// counts no connections: a baseline.
fn backlogged(own: &[u64], busy: f64, others: &[u64], per_report: f64) -> Vec<f64> {
    let mut nodes = vec![CapacityStep::default(); 4];
    for node in &mut nodes {
        node.report(busy, 0.0, 0.0, 0.0, 0);
    }
    own.iter()
        .enumerate()
        .map(|(k, &open)| {
            nodes[0].report(busy, 2.5, per_report, per_report, open);
            for (j, node) in nodes[1..].iter_mut().enumerate() {
                let open = others[(k + j) % others.len()];
                node.report(0.6, 2.5, per_report, per_report, open);
            }
            survey_and_cut_first(&mut nodes, CapacityStep::cut_backlogged)
        })
        .collect()
}

#[test]
fn a_node_holding_connections_past_chance_is_cut_whatever_its_growth() {
    // Its peers hold 0–3 (typically 2: the bar is 17 connections); it
    // holds 40, then 44 — 4 more a report against a random walk of ~14
    // a report, far inside the overload cut's noise. Held past the bar
    // at two reports running, it is cut at the second: over its run of
    // saturated reports it completed 156 of 200 in 5 s, 31.2 a second,
    // less half the 44 it queued, 26.8, of the 40 a second its share
    // names: 2^(-0.58), to the step below, 2^(-3/4).
    let peers = [0, 2, 3, 1];
    assert_eq!(
        backlogged(&[40, 44, 48], 1.0, &peers, 100.0),
        [1.0, (-0.75f64).exp2(), (-0.75f64).exp2()],
    );
    // Its new record needs two reports of its own before another cut:
    // at the fourth, a step at least (its share still named 40).
    let run = backlogged(&[40, 44, 48, 52], 1.0, &peers, 100.0);
    assert_eq!(run[3], (-1.0f64).exp2(), "{run:?}");
    // A figure under its cap counts no run: a step.
    assert_eq!(
        backlogged(&[40, 44], 0.5, &peers, 100.0)[1],
        (-0.25f64).exp2()
    );
    // Not where a queue at the pool's level reaches it by chance, nor
    // from reports fresh enough for `least-load` to steer off it.
    let busy_peers = [25, 35, 30, 28];
    assert!(
        backlogged(&[40, 44, 48], 1.0, &busy_peers, 100.0)
            .iter()
            .all(|&f| f == 1.0)
    );
    assert!(
        backlogged(&[40, 44, 48], 1.0, &peers, 5.0)
            .iter()
            .all(|&f| f == 1.0)
    );
    // Nor at one report past the bar.
    assert!(
        backlogged(&[40, 10, 44], 1.0, &peers, 100.0)
            .iter()
            .all(|&f| f == 1.0)
    );
}
