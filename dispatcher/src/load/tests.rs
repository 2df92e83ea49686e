use std::time::Duration;

use tokio::time::Instant;

use super::cost::{CYCLE_WINDOW, FLOOR_SHARE, OPEN_RUN_MARGIN};
use super::*;

/// Feeds `model` reports of (seconds after `t0`, figure, redirects sent
/// in all).
fn feed(model: &mut CostModel, t0: Instant, reports: &[(f64, f64, u64)]) {
    for &(at, figure, sent) in reports {
        model.observe(figure, sent, 0, t0 + Duration::from_secs_f64(at));
    }
}

/// A node of capacity factor `capacity`, its fair rate unknown.
fn at_capacity(capacity: f64) -> Standing {
    Standing {
        capacity,
        ..Standing::UNKNOWN
    }
}

fn pooled(models: &[&CostModel]) -> PooledCost {
    let mut pooled = PooledCost::default();
    for model in models {
        model.add_to(&mut pooled, 1.0, 1.0);
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
    let p = Projection::counting(0.2, 100, 0.01);
    assert_eq!(p.load(100, 0.0, 0.0), 0.2);
    assert!((p.load(130, 0.0, 0.0) - 0.5).abs() < 1e-12);
    // Never clipped: order survives past 100%.
    assert!(p.load(300, 0.0, 0.0) > p.load(250, 0.0, 0.0));
    assert!(p.load(300, 0.0, 0.0) > 1.0);
}

#[test]
fn projection_drains_at_the_pace_sent_and_fades_to_the_mean() {
    let p = Projection {
        at: 10.0,
        drain: 0.05,
        horizon: 0.5,
        age_at_report: 0.0,
        ..Projection::counting(0.1, 100, 0.01)
    };
    // Sent exactly its pace (5 a second) for two seconds: flat, but the
    // report's 0.1 below a mean of 0.6 is forgotten after many horizons.
    let two_s_later = p.load(110, 12.0, 0.6);
    assert!((two_s_later - 0.6).abs() < 0.01, "{two_s_later}");
    // Fresh, the report is followed.
    assert!((p.load(100, 10.0, 0.6) - 0.1).abs() < 1e-12);
    // Sent nothing for a second: lighter than its report.
    assert!(p.load(100, 11.0, 0.1) < 0.1);
}

#[test]
fn a_saturated_report_keeps_half_its_excess_however_old_unless_its_backlog_is_counted() {
    let report = |base, saturated_trust| Projection {
        at: 10.0,
        horizon: 0.5,
        saturated_trust,
        ..Projection::counting(base, 100, 0.01)
    };
    // A minute and many horizons later: a 98% report is the mean again, a
    // saturated one still half-way above it — its backlog has not gone.
    assert!((report(0.98, SATURATED_TRUST).load(100, 70.0, 0.6) - 0.6).abs() < 1e-9);
    assert!((report(1.0, SATURATED_TRUST).load(100, 70.0, 0.6) - 0.8).abs() < 1e-9);
    // Fresh, it is followed in full.
    assert!((report(1.0, SATURATED_TRUST).load(100, 10.0, 0.6) - 1.0).abs() < 1e-9);
    // A counted backlog is repaid as turns owed: the report fades to the
    // mean as any other.
    assert!((report(1.0, 0.0).load(100, 70.0, 0.6) - 0.6).abs() < 1e-9);
}

#[test]
fn a_saturated_projection_keeps_its_excess_only_where_connections_go_uncounted() {
    let t0 = Instant::now();
    let project = |connections: u64| {
        let mut model = CostModel::utilisation();
        for i in 0..=10u64 {
            model.observe(1.0, i * 10, connections, t0 + Duration::from_secs(i));
        }
        model
            .project(1.0, 100, pooled(&[&model]), Standing::UNKNOWN)
            .saturated_trust
    };
    assert_eq!(project(0), SATURATED_TRUST);
    assert_eq!(project(30), 0.0);
}

/// A pool of two nodes sent 10 redirects a second each, reporting `figure`
/// every second for ten seconds.
fn steady_pool(t0: Instant, figure: f64) -> Projector {
    pool_reporting(t0, figure, 2, 2)
}

/// A pool of `nodes` at equal shares of which the first `reported` were
/// sent 10 redirects a second each, reporting `figure` every second for
/// ten seconds; the rest have yet to report.
fn pool_reporting(t0: Instant, figure: f64, nodes: usize, reported: usize) -> Projector {
    let models: Vec<NodeModels> = (0..nodes)
        .map(|node| {
            let mut models = NodeModels::default();
            if node < reported {
                let reports: Vec<_> = (0..=10).map(|i| (i as f64, figure, i * 10)).collect();
                feed(&mut models.cpu, t0, &reports);
            }
            models
        })
        .collect();
    Projector::new(
        Metric::Cpu,
        models.iter().map(|m| (m, 1.0)),
        std::iter::empty(),
        t0,
    )
}

#[test]
fn a_report_fades_over_the_nodes_arrivals_whatever_the_figures_scale() {
    let t0 = Instant::now();
    let figures = Figures {
        cpu: 0.1,
        connections: 0.0,
        sent: 100,
        at: t0 + Duration::from_secs(10),
        share: 1.0,
    };
    let horizon = |figure| {
        let projector = steady_pool(t0, figure);
        projector
            .project(&NodeModels::default(), &figures, None)
            .horizon
    };
    // A busy fraction and a queue length read 20× lower carry the same
    // traffic: their reports age alike, over four gaps of 0.1 s. Taken
    // from the busy time per redirect, the small figure's horizon was 20×
    // shorter and its reports were forgotten before they were used.
    assert!(close(horizon(0.5), 0.4), "{}", horizon(0.5));
    assert!(close(horizon(0.025), 0.4), "{}", horizon(0.025));
}

/// A queue-shaped figure, moved `per_job` by each redirect, reported every
/// `interval` seconds while the node is sent `received` in turn and works
/// off their mean between reports: the projection's cost per redirect.
fn queue_like_cost(interval: f64, received: [u64; 3], per_job: f64) -> f64 {
    let t0 = Instant::now();
    let mut model = CostModel::utilisation();
    let drained = received.iter().sum::<u64>() as f64 / 3.0;
    let (mut figure, mut sent) = (0.3, 0);
    for i in 0..60 {
        sent += received[i % 3];
        figure += per_job * (received[i % 3] as f64 - drained);
        model.observe(
            figure,
            sent,
            0,
            t0 + Duration::from_secs_f64(i as f64 * interval),
        );
    }
    let pooled = pooled(&[&model]);
    model.project(figure, sent, pooled, Standing::UNKNOWN).cost
}

#[test]
fn fresh_reports_cost_what_a_redirect_moves_the_next_one() {
    // A redirect every third report: the busy time per redirect says 0.9
    // (the figure over the redirects of an interval), where a redirect
    // moves the next report by 0.05. With reports this fresh, the move is
    // the cost.
    let fresh = queue_like_cost(0.05, [0, 1, 0], 0.05);
    assert!((fresh - 0.05).abs() < 1e-6, "{fresh}");
    // Ten redirects a report: the node works off most of what it is sent
    // before it reports, so a move says little, and the busy time per
    // redirect (0.3 over 10) is kept.
    let old = queue_like_cost(1.0, [0, 20, 10], 0.005);
    assert!((old - 0.03).abs() < 0.005, "{old}");
}

#[test]
fn node_load_is_never_torn() {
    use std::sync::Arc;
    // Every published projection has base == cost == sent_at_report; a
    // torn read would mix two of them.
    let cell = Arc::new(NodeLoad::new(Projection::counting(0.0, 0, 0.0)));
    let writer = {
        let cell = cell.clone();
        std::thread::spawn(move || {
            for i in 1..=200_000u64 {
                let x = i as f64;
                cell.publish(Projection {
                    at: x,
                    drain: x,
                    ..Projection::counting(x, i, x)
                });
            }
        })
    };
    let mut last = 0;
    while last < 200_000 {
        let p = cell.projection();
        assert_eq!(p.base, p.cost);
        assert_eq!(p.base, p.at);
        assert_eq!(p.base, p.drain);
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
    let p = m.project(0.6, 2000, PooledCost::default(), Standing::UNKNOWN);
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
    assert_eq!(idle.project(0.0, 0, pool, Standing::UNKNOWN).cost, 0.02);

    // A node whose load is flat near zero while traffic flows would
    // learn ~0 and absorb the herd; the floor stops that.
    let mut flat = CostModel::level();
    let reports: Vec<_> = (1..20).map(|i| (i as f64, 0.001, i * 1000)).collect();
    feed(&mut flat, t0, &reports);
    assert_eq!(
        flat.project(0.001, 19_000, pool, Standing::UNKNOWN).cost,
        0.02 * FLOOR_SHARE
    );
}

#[test]
fn pooled_cost_uses_prior_before_traffic() {
    let t0 = Instant::now();
    assert_eq!(PooledCost::default().level_cost(), PRIOR_COST);
    // A utilisation model with no report interval yet: 1% per redirect.
    let fresh = CostModel::utilisation();
    let p = fresh.project(0.2, 0, PooledCost::default(), Standing::UNKNOWN);
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
    let p = model.project(0.5, 100, pool, Standing::UNKNOWN);
    assert!(close(p.cost, 0.05), "{}", p.cost);
    assert_eq!(p.sent_at_report, 100);
    // The same node reporting every 2 s: shares of a 2 s interval.
    let mut slow_reports = CostModel::utilisation();
    let reports: Vec<_> = (0..=5).map(|i| (2.0 * i as f64, 0.5, i * 20)).collect();
    feed(&mut slow_reports, t0, &reports);
    let pool = pooled(&[&slow_reports]);
    let p = slow_reports.project(0.5, 100, pool, Standing::UNKNOWN);
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
    let p = model.project(1.0, 250, pool, Standing::UNKNOWN);
    // Learning from the run would have made the node look cheaper
    // (1/30 s per redirect). Instead the ended cycles' 0.05 s holds,
    // plus the margin of an open run.
    let service = 0.05 * (1.0 + OPEN_RUN_MARGIN);
    assert!(close(p.cost, service), "{}", p.cost);
    // 150 redirects sent, 5 s of them done: 150 - 5 / 0.055 = 59.1
    // still queued, so the node projects far above its 100%. (Its reports
    // count no connections, as from an agent that does not count them:
    // their growth, 0, would have read as no backlog at all.)
    assert_eq!(p.sent_at_report, 250 - 59);
    assert!(close(p.load(250, 0.0, 0.0), 1.0 + 59.0 * service));
    assert!(!model.counts_backlog());
}

#[test]
fn the_backlog_drains_at_full_speed_after_the_report() {
    let t0 = Instant::now();
    let model = overloaded(t0);
    let pool = pooled(&[&model]);
    let p = model.project(1.0, 250, pool, Standing::UNKNOWN);
    // One interval (1 s) of load a second, whatever the fair pace: 2 s
    // after the report the 59 queued redirects are down to 59 - 2 / 0.055.
    assert!(close(p.drain, 1.0));
    let service = 0.05 * (1.0 + OPEN_RUN_MARGIN);
    assert!(close(p.load(250, 2.0, 0.0), 1.0 + 59.0 * service - 2.0));
}

#[test]
fn a_saturated_runs_backlog_is_what_its_connections_grew_by() {
    let t0 = Instant::now();
    // `overloaded`, its agent counting connections: 3 open at the last
    // unsaturated report, 41 at the fifth saturated one.
    let mut model = CostModel::utilisation();
    for i in 0..=10u64 {
        model.observe(0.5, i * 10, 3, t0 + Duration::from_secs(i));
    }
    for i in 1..=5u64 {
        let at = t0 + Duration::from_secs(10 + i);
        model.observe(1.0, 100 + i * 30, 3 + 38 * i / 5, at);
    }
    let pool = pooled(&[&model]);
    let p = model.project(1.0, 250, pool, Standing::UNKNOWN);
    // The run grew its connections by 38: that is its backlog, not the 59
    // its busy time reckons at the learnt 0.05 s a redirect — an estimate
    // whose error grows with every report the run lasts.
    assert_eq!(p.sent_at_report, 250 - 38);
    assert!(model.counts_backlog());
    // Past the run, the count is forgotten: an unsaturated report holds
    // no backlog whatever its connections.
    model.observe(0.5, 260, 20, t0 + Duration::from_secs(16));
    let p = model.project(0.5, 260, pooled(&[&model]), Standing::UNKNOWN);
    assert_eq!(p.sent_at_report, 260);
}

#[test]
fn an_unsaturated_report_ends_the_run_and_the_backlog() {
    let t0 = Instant::now();
    let mut model = overloaded(t0);
    feed(&mut model, t0, &[(16.0, 0.5, 250)]);
    let pool = pooled(&[&model]);
    let p = model.project(0.5, 250, pool, Standing::UNKNOWN);
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
    let p = model.project(1.0, 160, pool, Standing::UNKNOWN);
    let proven = 4.0 / 70.0 * (1.0 + OPEN_RUN_MARGIN);
    assert!(close(p.cost, proven), "{} vs {proven}", p.cost);
    // That cost explains every redirect: nothing queued.
    assert_eq!(p.sent_at_report, 160);
}

#[test]
fn a_first_interval_just_under_saturation_is_not_learnt() {
    let t0 = Instant::now();
    // Sent 100 redirects in its first second, 50 more than it can do, the
    // node idled only before the first reached it: 98.9%, then 100%.
    let mut model = CostModel::utilisation();
    feed(&mut model, t0, &[(0.0, 0.0, 0), (1.0, 0.989, 100)]);
    assert_eq!(model.own_service(1.0), None);
    feed(&mut model, t0, &[(2.0, 1.0, 200)]);
    assert_eq!(model.own_service(1.0), None);
    // A first interval well under saturation is a cycle that ended.
    let mut calm = CostModel::utilisation();
    feed(&mut calm, t0, &[(0.0, 0.0, 0), (1.0, 0.5, 10)]);
    assert!(close(calm.own_service(1.0).unwrap(), 0.05));
}

#[test]
fn a_node_without_cycles_of_its_own_borrows_the_pools_cost_at_its_capacity() {
    let t0 = Instant::now();
    // The pool's only learnt node does 0.05 s a redirect at capacity 2.
    let fast = half_busy(t0);
    let mut pool = PooledCost::default();
    fast.add_to(&mut pool, 2.0, 1.0);
    // A node learnt to have a quarter of that capacity, with no ended
    // cycle: four times the busy seconds a redirect, not the same.
    let slow = CostModel::utilisation();
    let p = slow.project(0.3, 0, pool, at_capacity(0.5));
    assert!(close(p.cost, 0.2), "{}", p.cost);
    // Its own ended cycles, once it has them, come first.
    assert!(close(
        fast.project(0.5, 100, pool, at_capacity(0.5)).cost,
        0.05
    ));
}

#[test]
fn reports_at_one_instant_are_folded_into_the_next() {
    let t0 = Instant::now();
    let mut model = half_busy(t0);
    let at10 = t0 + Duration::from_secs(10);
    model.observe(1.0, 130, 0, at10);
    feed(&mut model, t0, &[(11.0, 0.5, 140)]);
    // One interval of 40 redirects at 50%: 0.0125 s each, not a
    // division by zero.
    let pool = pooled(&[&model]);
    let p = model.project(0.5, 140, pool, Standing::UNKNOWN);
    let before = half_busy_received() * (-40.0 / CYCLE_WINDOW).exp();
    let learnt = (0.05 * before + 0.5) / (before + 40.0);
    assert!(close(p.cost, learnt), "{} vs {learnt}", p.cost);
}

#[test]
fn the_pools_pace_counts_the_nodes_yet_to_report_at_the_pace_of_those_that_have() {
    // Agents' first reports reach the dispatcher a few at a time: of eight
    // nodes at equal shares, `reported` have reported over time, each sent
    // 10 redirects a second. The pool is sent 80 a second, 10 a share —
    // not the 40 that four of them saw.
    let t0 = Instant::now();
    let pace = |reported| pool_reporting(t0, 0.5, 8, reported).with_shares(8.0).pace;
    assert!((pace(4) - 10.0).abs() < 1e-9, "{}", pace(4));
    assert!((pace(8) - 10.0).abs() < 1e-9, "{}", pace(8));
    // Until half the pool has, there is no pace to scale up.
    assert_eq!(pace(3), 0.0);
    assert_eq!(pace(0), 0.0);
}
