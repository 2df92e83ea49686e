use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use http::HeaderMap;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;
use crate::load::Projection;
use crate::pool::{Live, Members, Policy, Pool};

fn backend(id: &str, weight: f64, load: f64) -> Backend {
    costed(id, weight, load, 0.01)
}

fn costed(id: &str, weight: f64, load: f64, cost: f64) -> Backend {
    Backend {
        id: id.into(),
        base_url: format!("http://{id}.test").into(),
        weight,
        live: Arc::new(Live::new(Projection {
            base: load,
            sent_at_report: 0,
            cost,
        })),
        pin: None,
    }
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
    let headers = HeaderMap::new();
    (0..n)
        .map(|_| {
            let chosen = pool.pick(&request(&headers, 1), rng).unwrap();
            chosen.live.record();
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
            pool.pick(&request(&headers, 1), &mut rng).is_none(),
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
    for _ in 0..10_000 {
        // Replay the same two draws the picker will make.
        let mut replay = rng.clone();
        let (a, b) = (table.draw(&mut replay), table.draw(&mut replay));
        let chosen = two_choices(&backends, &table, f64::INFINITY, &mut rng);
        let score = |i: usize| backends[i].projected() / backends[i].weight;
        assert!(chosen == a || chosen == b);
        assert!(
            score(chosen) <= score(a).min(score(b)),
            "picked the worse of {a} and {b}"
        );
        backends[chosen].live.record();
    }
}

#[test]
fn a_pair_of_full_candidates_gets_a_second_chance() {
    // One node with headroom among nodes projected beyond full load.
    let backends: Vec<Backend> = (0..6)
        .map(|i| {
            let load = if i == 0 {
                0.3
            } else {
                1.0 + f64::from(i) / 10.0
            };
            backend(&format!("n{i}"), 1.0, load)
        })
        .collect();
    let table = AliasTable::new(&vec![1.0; backends.len()]);
    let load = |i: usize| backends[i].projected();
    let mut rng = SmallRng::seed_from_u64(5);
    let mut second_chances = 0;
    for _ in 0..2_000 {
        let mut replay = rng.clone();
        let draws: Vec<usize> = (0..4).map(|_| table.draw(&mut replay)).collect();
        let chosen = two_choices(&backends, &table, FULL_LOAD, &mut rng);
        let first = if load(draws[1]) < load(draws[0]) {
            draws[1]
        } else {
            draws[0]
        };
        if load(first) < FULL_LOAD {
            assert_eq!(chosen, first, "a pair with headroom decides alone");
            continue;
        }
        second_chances += 1;
        let best = draws.iter().map(|&i| load(i)).fold(f64::INFINITY, f64::min);
        assert_eq!(load(chosen), best, "the best of all four draws wins");
    }
    // Both of the first pair are full with probability (5/6)² ≈ 0.69.
    assert!((1_200..1_600).contains(&second_chances), "{second_chances}");
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
        let first = before.pick(&req, &mut rng).unwrap().id.clone();
        assert_eq!(before.pick(&req, &mut rng).unwrap().id, first, "not stable");
        let later = after.pick(&req, &mut rng).unwrap().id.clone();
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
        .pick(&request(&headers, 1), &mut rng)
        .unwrap()
        .id
        .clone();
    for octet in 2..50 {
        assert_eq!(
            header_pool
                .pick(&request(&headers, octet), &mut rng)
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
        .pick(&request(&with_cookie, 9), &mut rng)
        .unwrap()
        .id
        .clone();
    assert_eq!(by_cookie, one, "same key, same ring, same node");

    // No cookie: the client address decides, stably.
    let empty = HeaderMap::new();
    let by_ip = cookie_pool
        .pick(&request(&empty, 7), &mut rng)
        .unwrap()
        .id
        .clone();
    assert_eq!(
        cookie_pool.pick(&request(&empty, 7), &mut rng).unwrap().id,
        by_ip
    );
}

#[test]
fn cookie_parsing() {
    let check = |header: &str, name: &str, want: Option<&str>| {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, header.parse().unwrap());
        assert_eq!(
            cookie(&headers, name),
            want.map(str::as_bytes),
            "{header} / {name}"
        );
    };
    check("sid=abc", "sid", Some("abc"));
    check("a=1;sid=abc", "sid", Some("abc"));
    check("a=1; sid=", "sid", Some(""));
    check("xsid=abc", "sid", None);
    check("sid", "sid", None);
    check("a=b=c", "a", Some("b=c"));
}
