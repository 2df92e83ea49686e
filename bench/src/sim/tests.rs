//! The simulator's event loop against hand-checked small cases.

use super::*;

fn cell(balancer: Balancer, refresh: f64, load: f64) -> Cell {
    Cell {
        scenario: Scenario {
            servers: 8,
            speeds: Speeds::Equal,
            load,
            jobs: 40_000,
            warmup: 4_000,
            seed: 7,
            spread: 0.0,
            trace: None,
        },
        refresh,
        signal: Signal::Busy,
        phases: Phases::Apart,
        balancer,
    }
}

#[test]
fn runs_are_deterministic() {
    let a = run(&cell(Balancer::LeastLoad, 1.0, 0.5));
    assert_eq!(a, run(&cell(Balancer::LeastLoad, 1.0, 0.5)));
    assert_eq!(a.counted, 36_000);
}

#[test]
fn random_matches_mm1_theory() {
    // M/M/1 at 50% load: mean response 1 / (1 - 0.5) = 2.
    let got = run(&cell(Balancer::Random, 1.0, 0.5)).mean;
    assert!((got - 2.0).abs() < 0.2, "{got}");
}

#[test]
fn fresh_reports_beat_blind_choice() {
    let fresh = run(&cell(Balancer::OracleTwoChoices, 0.1, 0.9)).mean;
    let blind = run(&cell(Balancer::Random, 0.1, 0.9)).mean;
    assert!(fresh < 0.7 * blind, "oracle p2c {fresh} vs random {blind}");
}

#[test]
fn tracing_a_cell_leaves_its_outcome_alone() {
    let plain = cell(Balancer::LeastLoad, 1.0, 0.5);
    let traced = Cell {
        scenario: Scenario {
            trace: Some(10_000),
            ..plain.scenario
        },
        ..plain
    };
    assert_eq!(run(&plain), run(&traced));
}

#[test]
fn the_learnt_reference_is_told_no_speed_before_a_report_covers_it() {
    // A 4:1 pool out of phase, reports 100 service times apart. Told 1
    // for an uncovered node, the row knew the slow nodes' speed (1) from
    // the start and read 1.24 × the oracle; told the pool's mean, the
    // slow nodes queue until their own first covering report, as any
    // strategy's would.
    let cell = |balancer| {
        let base = cell(balancer, 100.0, 0.5);
        Cell {
            scenario: Scenario {
                speeds: Speeds::FourToOne,
                jobs: 4_000,
                warmup: 0,
                ..base.scenario
            },
            ..base
        }
    };
    let learnt = run(&cell(Balancer::LearntWrr)).mean;
    let oracle = run(&cell(Balancer::OracleWrr)).mean;
    assert!(learnt > 1.5 * oracle, "learnt {learnt} vs oracle {oracle}");
}

#[test]
fn in_phase_reports_reach_the_dispatcher_over_the_spread_each_at_its_own_instant() {
    let base = cell(Balancer::LeastLoad, 100.0, 0.9);
    let together = |spread| Cell {
        scenario: Scenario {
            spread,
            ..base.scenario
        },
        phases: Phases::Together,
        ..base
    };
    assert!(
        World::new(&together(0.0))
            .next_report
            .iter()
            .all(|&at| at == 100.0)
    );
    let mut due = World::new(&together(2.5)).next_report;
    assert!(
        due.iter().all(|&at| (100.0..102.5).contains(&at)),
        "{due:?}"
    );
    due.sort_by(f64::total_cmp);
    assert!(
        due.windows(2).all(|pair| pair[1] - pair[0] > 0.1),
        "{due:?}"
    );
}

#[test]
fn out_of_phase_agents_report_in_an_order_the_seed_deals_not_their_speed() {
    let base = cell(Balancer::LeastLoad, 100.0, 0.9);
    let first_reporters: Vec<usize> = (1..=8)
        .map(|seed| {
            let cell = Cell {
                scenario: Scenario {
                    seed,
                    speeds: Speeds::FourToOne,
                    ..base.scenario
                },
                ..base
            };
            let due = World::new(&cell).next_report;
            let mut instants = due.clone();
            instants.sort_by(f64::total_cmp);
            // One agent per slot, each (slot + ½) / N into the interval.
            for (slot, at) in instants.iter().enumerate() {
                let expected = (slot as f64 + 0.5) / 8.0 * 100.0;
                assert!((at - expected).abs() < 1e-9, "{due:?}");
            }
            (0..8).min_by(|&a, &b| due[a].total_cmp(&due[b])).unwrap()
        })
        .collect();
    // The fast half is nodes 0–3: some seeds let a slow node report first.
    assert!(
        first_reporters.iter().any(|&node| node >= 4),
        "{first_reporters:?}"
    );
    assert!(
        first_reporters.iter().any(|&node| node < 4),
        "{first_reporters:?}"
    );
}

#[test]
fn the_informed_oracle_is_round_robin_until_every_node_has_reported() {
    // Reports further apart than the whole run: no node ever reports over
    // time, and the row is round robin throughout.
    let blind = |balancer| run(&cell(balancer, 1.0e6, 0.9));
    assert_eq!(blind(Balancer::InformedSed), blind(Balancer::RoundRobin));
    // Told each node's exact queue from the first reports on, it joins
    // the shortest: at 90% load on 8 equal nodes it pools their queues,
    // where round robin leaves each node a queue of its own, and it sees
    // what least-load's reports a service time old cannot.
    let told = run(&cell(Balancer::InformedSed, 1.0, 0.9)).mean;
    let round_robin = run(&cell(Balancer::RoundRobin, 1.0, 0.9)).mean;
    let least_load = run(&cell(Balancer::LeastLoad, 1.0, 0.9)).mean;
    assert!(
        told < 0.5 * round_robin,
        "{told} vs round robin {round_robin}"
    );
    assert!(told < least_load, "{told} vs least-load {least_load}");
}
