use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use http::HeaderMap;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use tokio::time::Instant;

use super::*;
use crate::backend::Members;
use crate::load::{Projection, SATURATED_TRUST};
use crate::pool::{Policy, Pool};

fn backend(id: &str, weight: f64, load: f64) -> Backend {
    costed(id, weight, load, 0.01)
}

fn costed(id: &str, weight: f64, load: f64, cost: f64) -> Backend {
    let projection = Projection::counting(load, 0, cost);
    Backend::new(id, &format!("http://{id}.test"), weight, projection)
}

/// A backend whose report of `load` arrived at second 0 and is trusted for
/// about `horizon` seconds.
fn aging(id: &str, load: f64, horizon: f64) -> Backend {
    let projection = Projection {
        horizon,
        saturated_trust: SATURATED_TRUST,
        ..Projection::counting(load, 0, 0.01)
    };
    Backend::new(id, &format!("http://{id}.test"), 1.0, projection)
}

fn request(headers: &HeaderMap, last_octet: u8) -> Request<'_> {
    Request {
        client: IpAddr::V4(Ipv4Addr::new(10, 0, 0, last_octet)),
        headers,
    }
}

/// Picks `n` times (recording each redirect as the dispatcher does) and
/// returns the ids in order.
fn picks(pool: &Pool, n: usize, rng: &mut SmallRng) -> Vec<String> {
    picks_at(pool, n, Instant::now(), rng)
}

/// [`picks`] with every pick at `at`.
fn picks_at(pool: &Pool, n: usize, at: Instant, rng: &mut SmallRng) -> Vec<String> {
    let headers = HeaderMap::new();
    (0..n)
        .map(|_| {
            let chosen = pool.pick(&request(&headers, 1), at, rng).unwrap();
            chosen.load.add_redirect();
            chosen.id.to_string()
        })
        .collect()
}

fn shares(ids: &[String]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for id in ids {
        *counts.entry(id.clone()).or_default() += 1;
    }
    counts
}

fn pool(strategy: &Strategy, backends: Vec<Backend>) -> Pool {
    let members = Members {
        active: backends,
        ..Members::default()
    };
    Pool::new(members, strategy, Arc::new(policy()))
}

fn policy() -> Policy {
    Policy::new(&crate::config::Config::load(&crate::config::Args::default()).unwrap())
}

#[test]
fn empty_pool_picks_nothing() {
    let headers = HeaderMap::new();
    let mut rng = SmallRng::seed_from_u64(1);
    for kind in [
        StrategyKind::LeastLoad,
        StrategyKind::RoundRobin,
        StrategyKind::WeightedRoundRobin,
        StrategyKind::Random,
        StrategyKind::LeastConnections,
        StrategyKind::IpHash,
        StrategyKind::ConsistentHash,
    ] {
        let strategy = Strategy::new(kind, &HashKey::ClientIp);
        let pool = Pool::empty(&strategy, Arc::new(policy()));
        assert!(
            pool.pick(&request(&headers, 1), Instant::now(), &mut rng)
                .is_none(),
            "{kind:?}"
        );
    }
}

#[test]
fn weighted_round_robin_is_exact_and_interleaved() {
    let strategy = Strategy::new(StrategyKind::WeightedRoundRobin, &HashKey::ClientIp);
    let pool = pool(
        &strategy,
        vec![
            backend("a", 3.0, 0.0),
            backend("b", 2.0, 0.0),
            backend("c", 1.0, 0.0),
        ],
    );
    let mut rng = SmallRng::seed_from_u64(1);
    let order = picks(&pool, 600, &mut rng);
    let counts = shares(&order);
    assert_eq!((counts["a"], counts["b"], counts["c"]), (300, 200, 100));
    for run in order.windows(3) {
        assert!(
            !(run[0] == run[1] && run[1] == run[2]),
            "three in a row: {run:?}"
        );
    }
}

#[test]
fn round_robin_visits_each_in_turn_across_rebuilds() {
    let strategy = Strategy::new(StrategyKind::RoundRobin, &HashKey::ClientIp);
    let ids = || {
        vec![
            backend("a", 1.0, 0.9),
            backend("b", 5.0, 0.0),
            backend("c", 1.0, 0.0),
        ]
    };
    let mut rng = SmallRng::seed_from_u64(1);
    let first = picks(&pool(&strategy, ids()), 2, &mut rng);
    // The counter lives in the strategy, so a rebuilt snapshot continues.
    let next = picks(&pool(&strategy, ids()), 4, &mut rng);
    assert_eq!(first, ["a", "b"]);
    assert_eq!(next, ["c", "a", "b", "c"]);
}

#[test]
fn two_choices_never_returns_the_worse_candidate() {
    let backends: Vec<Backend> = (0..8)
        .map(|i| {
            backend(
                &format!("n{i}"),
                1.0 + f64::from(i % 3),
                f64::from(i) / 10.0,
            )
        })
        .collect();
    let table = AliasTable::new(&vec![1.0; backends.len()]);
    let mut rng = SmallRng::seed_from_u64(42);
    let score = |i: usize| backends[i].projected(0.0, 0.0) / backends[i].weight;
    for _ in 0..10_000 {
        // Replay the same two draws the picker will make.
        let mut replay = rng.clone();
        let a = table.draw(&mut replay);
        let b = distinct(&table, a, backends.len(), &mut replay);
        let chosen = two_choices(&backends, &table, 0.0, &mut rng);
        assert!(chosen == a || chosen == b);
        assert_ne!(a, b, "two candidates are two nodes");
        assert!(
            score(chosen) <= score(a).min(score(b)),
            "picked the worse of {a} and {b}"
        );
        backends[chosen].load.add_redirect();
    }
}

#[test]
fn small_pools_never_compare_a_node_with_itself() {
    // Drawn with replacement, three nodes give (worst, worst) one pick in
    // nine and two nodes one in four; the worst node must get nothing.
    for connections in [&[5.0, 60.0, 600.0][..], &[5.0, 600.0]] {
        let strategy = Strategy::new(StrategyKind::LeastConnections, &HashKey::ClientIp);
        let backends = connections
            .iter()
            .map(|&c| costed(&format!("c{c}"), 1.0, c, 0.0))
            .collect();
        let pool = pool(&strategy, backends);
        let mut rng = SmallRng::seed_from_u64(8);
        let counts = shares(&picks(&pool, 300, &mut rng));
        assert_eq!(counts.get("c600"), None, "{counts:?}");
    }
}

#[test]
fn weighted_round_robin_keeps_its_ratios_at_any_scale() {
    // Slow start scales every weight down together; 3:2:1 must stay 3:2:1.
    let strategy = Strategy::new(StrategyKind::WeightedRoundRobin, &HashKey::ClientIp);
    for scale in [1.0, 0.05, 0.01, 1e-4] {
        let backends = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
            .map(|(id, w)| Backend {
                ramp: scale,
                ..backend(id, w, 0.0)
            })
            .to_vec();
        let pool = pool(&strategy, backends);
        let mut rng = SmallRng::seed_from_u64(1);
        let counts = shares(&picks(&pool, 600, &mut rng));
        assert_eq!(
            (counts["a"], counts["b"], counts["c"]),
            (300, 200, 100),
            "scale {scale}"
        );
    }
}

#[test]
fn hash_rings_ignore_slow_start_ramps() {
    // A pin moves only when the membership or the steady weights change,
    // never while nodes ramp.
    let strategy = Strategy::new(StrategyKind::IpHash, &HashKey::ClientIp);
    let nodes = |ramps: [f64; 3]| {
        ["a", "b", "c"]
            .iter()
            .zip(ramps)
            .map(|(id, ramp)| Backend {
                ramp,
                ..backend(id, 1.0, 0.0)
            })
            .collect::<Vec<_>>()
    };
    let steady = pool(&strategy, nodes([1.0; 3]));
    let ramping = pool(&strategy, nodes([0.05, 0.5, 1.0]));
    let headers = HeaderMap::new();
    let mut rng = SmallRng::seed_from_u64(1);
    for octet in 0..=255 {
        let req = request(&headers, octet);
        assert_eq!(
            steady.pick(&req, Instant::now(), &mut rng).unwrap().id,
            ramping.pick(&req, Instant::now(), &mut rng).unwrap().id
        );
    }
}

#[test]
fn least_load_is_round_robin_once_reports_are_old() {
    // One node reported idle long ago: an old report says "average", not
    // "idle", so the cycle's even spread is left, in exact turn.
    let strategy = Strategy::new(StrategyKind::LeastLoad, &HashKey::ClientIp);
    let t0 = Instant::now();
    let members = Members {
        active: vec![
            aging("looked-idle", 0.0, 0.2),
            aging("b", 0.9, 0.2),
            aging("c", 0.9, 0.2),
        ],
        epoch: Some(t0),
        ..Members::default()
    };
    let pool = Pool::new(members, &strategy, Arc::new(policy()));
    let mut rng = SmallRng::seed_from_u64(4);
    let later = t0 + std::time::Duration::from_secs(30);
    let order = picks_at(&pool, 9, later, &mut rng);
    let turn = ["looked-idle", "b", "c"];
    let expected: Vec<&str> = (0..9).map(|i| turn[i % 3]).collect();
    assert_eq!(order, expected);
}

#[test]
fn a_node_owing_turns_gives_exactly_those_away_whatever_the_reports_age() {
    // "a" reported two connections past its part of the pool's: its
    // first two turns of the cycle go to the others, with fresh reports
    // as with old ones; with old ones the rest is the cycle's, so of its
    // three turns in nine picks it keeps one (fresh ones may send it more,
    // as the lighter candidate it then is).
    for age in [0, 30] {
        let strategy = Strategy::new(StrategyKind::LeastLoad, &HashKey::ClientIp);
        let t0 = Instant::now();
        let owing_node = aging("a", 0.5, 0.2);
        owing_node.load.owe_turns(2);
        let owing = owing_node.load.clone();
        let members = Members {
            active: vec![owing_node, aging("b", 0.5, 0.2), aging("c", 0.5, 0.2)],
            epoch: Some(t0),
            ..Members::default()
        };
        let pool = Pool::new(members, &strategy, Arc::new(policy()));
        let mut rng = SmallRng::seed_from_u64(4);
        let at = t0 + std::time::Duration::from_secs(age);
        let order = picks_at(&pool, 9, at, &mut rng);
        assert!(order[0] != "a" && order[3] != "a", "age {age}: {order:?}");
        assert!(!owing.owes_turns());
        if age > 0 {
            assert_eq!(shares(&order).get("a"), Some(&1), "{order:?}");
        }
    }
}

/// How a node's figure reads: (`reads_busy`, `counts_backlog`).
type Reading = (bool, bool);

/// A figure not known to be a busy fraction, its backlog reckoned.
const UNKNOWN: Reading = (false, false);

/// A busy fraction whose backlog is counted from connections.
const COUNTED: Reading = (true, true);

/// Whom `overrule` gives the pick of saturated node "a" to, between it and
/// saturated node "b", reading as `readings`, with reports trusted for
/// `horizon` seconds and read 30 s later, "a" sent `ahead` redirects more
/// since (0.01 of load each).
fn between_saturated(horizon: f64, ahead: usize, readings: [Reading; 2]) -> usize {
    let node = |id: &str, (reads_busy, counts_backlog): Reading| {
        let projection = Projection {
            horizon,
            ..Projection::counting(1.0, 0, 0.01)
        };
        Backend {
            reads_busy,
            counts_backlog,
            ..Backend::new(id, &format!("http://{id}.test"), 1.0, projection)
        }
    };
    let backends = [node("a", readings[0]), node("b", readings[1])];
    for _ in 0..ahead {
        backends[0].load.add_redirect();
    }
    let table = AliasTable::new(&[1.0, 1.0]);
    let mut rng = SmallRng::seed_from_u64(1);
    overrule(&backends, 0, &table, 30.0, 0.9, &mut rng)
}

#[test]
fn stale_saturated_nodes_trade_picks_only_on_a_clear_backlog() {
    // Fresh reports: a few redirects' worth of backlog moves the pick.
    assert_eq!(between_saturated(f64::INFINITY, 30, [UNKNOWN; 2]), 1);
    // Old ones: both backlogs are estimates, and 0.3 of a node is within
    // their error; 0.8 is not.
    assert_eq!(between_saturated(0.2, 30, [UNKNOWN; 2]), 0);
    assert_eq!(between_saturated(0.2, 80, [UNKNOWN; 2]), 1);
}

#[test]
fn stale_saturated_busy_fractions_with_counted_backlogs_trade_on_a_tenth() {
    // Both backlogs are counts of connections: 0.3 of a node apart is
    // past their error, 0.05 is not.
    assert_eq!(between_saturated(0.2, 30, [COUNTED; 2]), 1);
    assert_eq!(between_saturated(0.2, 5, [COUNTED; 2]), 0);
    // One backlog reckoned, or one figure not a busy fraction: the
    // half-node margin holds.
    assert_eq!(between_saturated(0.2, 30, [(true, false), COUNTED]), 0);
    assert_eq!(between_saturated(0.2, 30, [COUNTED, (false, true)]), 0);
}

#[test]
fn a_stale_saturated_node_gives_its_pick_to_an_unsaturated_one() {
    // Both reports are 30 s old, trusted for 0.2 s: the busy one at 90%
    // says no more than the mean, but the saturated one still carries a
    // backlog.
    let backends = [aging("saturated", 1.0, 0.2), aging("busy", 0.9, 0.2)];
    let table = AliasTable::new(&[1.0, 1.0]);
    let mut rng = SmallRng::seed_from_u64(1);
    assert_eq!(overrule(&backends, 0, &table, 30.0, 0.9, &mut rng), 1);
}

#[test]
fn a_stale_saturated_busy_fraction_gives_its_pick_only_for_a_backlog() {
    // As above, but the saturated node's figure reads as a busy fraction:
    // its 100% alone (half its difference from the mean kept: 0.05) is no
    // reason to move its turn — at 97% load such nodes read saturated by
    // chance — a backlog sent on top of it (20 redirects, 0.2) is.
    let backends = [
        Backend {
            reads_busy: true,
            ..aging("saturated", 1.0, 0.2)
        },
        aging("busy", 0.9, 0.2),
    ];
    let table = AliasTable::new(&[1.0, 1.0]);
    let mut rng = SmallRng::seed_from_u64(1);
    assert_eq!(overrule(&backends, 0, &table, 30.0, 0.9, &mut rng), 0);
    for _ in 0..20 {
        backends[0].load.add_redirect();
    }
    assert_eq!(overrule(&backends, 0, &table, 30.0, 0.9, &mut rng), 1);
}

/// A node reporting a fresh busy fraction of `load` whose redirects move
/// its report by `cost` (the pool's step, the same for every node) while
/// one takes it `job` of a report interval.
fn timed(id: &str, load: f64, cost: f64, job: f64) -> Backend {
    let projection = Projection {
        job,
        ..Projection::counting(load, 0, cost)
    };
    Backend {
        reads_busy: true,
        ..Backend::new(id, &format!("http://{id}.test"), 1.0, projection)
    }
}

#[test]
fn a_fresh_pick_goes_where_a_new_client_finishes_first() {
    // Reports every tenth of a job: both nodes' reports move 0.4 a
    // redirect, but a job takes the fast node 2.5 intervals and the slow
    // one 10. The fast node reads busy (one job in hand), the slow idle:
    // the fast one finishes a new client first, and keeps its turn — by
    // the reports alone, the slow idle one took it (a 4:1 pair at 70%
    // load, T = 0.1 service times: 1.14–1.26 × oracle WRR in every seed).
    let backends = [timed("fast", 1.0, 0.4, 2.5), timed("slow", 0.0, 0.4, 10.0)];
    let table = AliasTable::new(&[1.0, 1.0]);
    let mut rng = SmallRng::seed_from_u64(1);
    assert_eq!(overrule(&backends, 0, &table, 0.0, 0.5, &mut rng), 0);
    // A figure not known to be a busy fraction (a queue length's busy
    // time per redirect says little of a speed) compares by the reports.
    let unknown = backends.clone().map(|b| Backend {
        reads_busy: false,
        ..b
    });
    assert_eq!(overrule(&unknown, 0, &table, 0.0, 0.5, &mut rng), 1);
    // Three more jobs queued at the fast node (1.2 of report): now the
    // slow one is sooner.
    for _ in 0..3 {
        backends[0].load.add_redirect();
    }
    assert_eq!(overrule(&backends, 0, &table, 0.0, 0.5, &mut rng), 1);
    // Where a job is no longer than a report's move, the two agree: a
    // difference of more than one redirect moves the pick.
    let equal = [timed("a", 0.5, 0.1, 0.1), timed("b", 0.3, 0.1, 0.1)];
    assert_eq!(overrule(&equal, 0, &table, 0.0, 0.5, &mut rng), 1);
    let close = [timed("a", 0.35, 0.1, 0.1), timed("b", 0.3, 0.1, 0.1)];
    assert_eq!(overrule(&close, 0, &table, 0.0, 0.5, &mut rng), 0);
}

#[test]
fn least_load_prefers_headroom() {
    let strategy = Strategy::new(StrategyKind::LeastLoad, &HashKey::ClientIp);
    let pool = pool(
        &strategy,
        vec![backend("busy", 1.0, 0.9), backend("idle", 1.0, 0.1)],
    );
    let mut rng = SmallRng::seed_from_u64(3);
    let counts = shares(&picks(&pool, 100, &mut rng));
    assert!(counts["idle"] > 80, "{counts:?}");
}

#[test]
fn projection_spreads_a_burst_instead_of_herding() {
    // One node looked idle at the last report. Without projection every
    // client of a burst would land on it; with it, the burst spreads once
    // its projected load catches up with the others.
    let strategy = Strategy::new(StrategyKind::LeastLoad, &HashKey::ClientIp);
    let pool = pool(
        &strategy,
        vec![
            backend("looked-idle", 1.0, 0.0),
            backend("b", 1.0, 0.3),
            backend("c", 1.0, 0.3),
        ],
    );
    let mut rng = SmallRng::seed_from_u64(9);
    let burst = picks(&pool, 300, &mut rng);
    let counts = shares(&burst);
    assert!(counts["looked-idle"] < 200, "herded: {counts:?}");
    assert!(counts["b"] > 50 && counts["c"] > 50, "{counts:?}");
    // Early in the burst the idle node wins whenever it is one of the two
    // candidates drawn (about two draws in three).
    let early = burst[..30].iter().filter(|id| *id == "looked-idle").count();
    assert!(early >= 15, "{early} of the first 30");
}

#[test]
fn least_connections_follows_projected_connections() {
    let strategy = Strategy::new(StrategyKind::LeastConnections, &HashKey::ClientIp);
    let few = costed("few", 1.0, 2.0, 1.0);
    let many = costed("many", 1.0, 50.0, 1.0);
    let pool = pool(&strategy, vec![few, many]);
    let mut rng = SmallRng::seed_from_u64(5);
    let counts = shares(&picks(&pool, 100, &mut rng));
    // "few" takes clients until its projection (2 + sent) nears 50.
    assert!(counts["few"] >= 45, "{counts:?}");
}

#[test]
fn random_follows_weights() {
    let strategy = Strategy::new(StrategyKind::Random, &HashKey::ClientIp);
    let pool = pool(
        &strategy,
        vec![backend("a", 3.0, 0.0), backend("b", 1.0, 0.0)],
    );
    let mut rng = SmallRng::seed_from_u64(11);
    let counts = shares(&picks(&pool, 10_000, &mut rng));
    assert!((7_200..7_800).contains(&counts["a"]), "{counts:?}");
}

#[test]
fn ip_hash_is_stable_and_moves_only_the_leavers_clients() {
    let strategy = Strategy::new(StrategyKind::IpHash, &HashKey::ClientIp);
    let all: Vec<Backend> = ["a", "b", "c"]
        .iter()
        .map(|id| backend(id, 1.0, 0.0))
        .collect();
    let before = pool(&strategy, all.clone());
    let after = pool(&strategy, vec![all[0].clone(), all[2].clone()]);
    let headers = HeaderMap::new();
    let mut rng = SmallRng::seed_from_u64(1);
    for octet in 0..=255 {
        let req = request(&headers, octet);
        let first = before
            .pick(&req, Instant::now(), &mut rng)
            .unwrap()
            .id
            .clone();
        assert_eq!(
            before.pick(&req, Instant::now(), &mut rng).unwrap().id,
            first,
            "not stable"
        );
        let later = after
            .pick(&req, Instant::now(), &mut rng)
            .unwrap()
            .id
            .clone();
        if &*first != "b" {
            assert_eq!(first, later, "client of a staying node moved");
        }
    }
}

#[test]
fn consistent_hash_uses_header_then_cookie_then_falls_back_to_ip() {
    let backends: Vec<Backend> = (0..5)
        .map(|i| backend(&format!("n{i}"), 1.0, 0.0))
        .collect();
    let mut rng = SmallRng::seed_from_u64(1);
    let header_pool = pool(
        &Strategy::new(
            StrategyKind::ConsistentHash,
            &HashKey::Header("x-user".into()),
        ),
        backends.clone(),
    );
    let mut headers = HeaderMap::new();
    headers.insert("x-user", "alice".parse().unwrap());
    // Same header, different client addresses: same backend.
    let one = header_pool
        .pick(&request(&headers, 1), Instant::now(), &mut rng)
        .unwrap()
        .id
        .clone();
    for octet in 2..50 {
        assert_eq!(
            header_pool
                .pick(&request(&headers, octet), Instant::now(), &mut rng)
                .unwrap()
                .id,
            one
        );
    }

    let cookie_pool = pool(
        &Strategy::new(StrategyKind::ConsistentHash, &HashKey::Cookie("sid".into())),
        backends,
    );
    let mut with_cookie = HeaderMap::new();
    with_cookie.insert(http::header::COOKIE, "a=1; sid=alice; b=2".parse().unwrap());
    let by_cookie = cookie_pool
        .pick(&request(&with_cookie, 9), Instant::now(), &mut rng)
        .unwrap()
        .id
        .clone();
    assert_eq!(by_cookie, one, "same key, same ring, same node");

    // No cookie: the client address decides, stably.
    let empty = HeaderMap::new();
    let by_ip = cookie_pool
        .pick(&request(&empty, 7), Instant::now(), &mut rng)
        .unwrap()
        .id
        .clone();
    assert_eq!(
        cookie_pool
            .pick(&request(&empty, 7), Instant::now(), &mut rng)
            .unwrap()
            .id,
        by_ip
    );
}
