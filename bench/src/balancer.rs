//! The strategies the simulator compares.
//!
//! `random`, `round-robin`, `weighted-round-robin` and `least-load` are the
//! dispatcher's own [`Strategy`] values, picked through the real
//! [`Pool::pick`]. The references signpost does not ship are written here,
//! over the same stale view the dispatcher has (each node's last report
//! and what was sent to it since): greedy arg-min of the report, two
//! random choices on the report, and the oracle projection — two choices
//! on the report plus the redirects sent since times the *true* per-job
//! cost, which no dispatcher can know. One more oracle bounds what any
//! report-driven strategy can do on a cold start: smooth WRR with the true
//! speeds, but each learnt only from the report that covers it (a node's
//! first report, which covers no time, says nothing). Another is told
//! more than any dispatcher can be, but only from the same moment: round
//! robin until every node has reported over time, then the shortest
//! expected delay on each node's exact queue and true speed — what the
//! backlog built before the first reports costs even a dispatcher that
//! then knows everything. And one reference
//! measures instead of being told: smooth WRR on each node's speed as the
//! dispatcher measures it from busy-fraction reports
//! ([`SpeedMeter`](signpost_dispatcher::load::SpeedMeter)), without the
//! rest of `least-load`.

use std::net::{IpAddr, Ipv4Addr};

use http::HeaderMap;
use rand::{Rng, RngExt};
use signpost_dispatcher::config::StrategyKind;
use signpost_dispatcher::pool::Pool;
use signpost_dispatcher::select::{Request, Strategy};
use tokio::time::Instant;

use crate::harness;

/// One row of the results table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Balancer {
    /// signpost `random` (uniform: every weight is 1).
    Random,
    /// signpost `round-robin`.
    RoundRobin,
    /// signpost `weighted-round-robin` with every agent reporting its true
    /// speed as its weight: the oracle of a smooth capacity-weighted spread.
    OracleWrr,
    /// signpost `weighted-round-robin` with every agent reporting as its
    /// weight the speed it had over the interval its report covers (the
    /// pool's mean speed in its first report, which covers nothing): the
    /// true capacities, learnt as soon as reports can tell them and no
    /// sooner.
    LearntWrr,
    /// signpost `weighted-round-robin` with every agent reporting as its
    /// weight the speed the dispatcher's
    /// [`SpeedMeter`](signpost_dispatcher::load::SpeedMeter) measures from
    /// what it sees: capacity measured directly, with no load-following.
    /// Busy-fraction reports only: a queue-shaped figure has no busy time
    /// to divide by.
    MeasuredWrr,
    /// Arg-min of the reported figure, ties broken uniformly (bench-side).
    Greedy,
    /// Two distinct uniform candidates, the lower reported figure wins
    /// (bench-side).
    TwoChoices,
    /// Two distinct uniform candidates, the lower report + redirects since
    /// × true per-job cost wins (bench-side oracle).
    OracleTwoChoices,
    /// signpost `round-robin` until every node has reported over time (at
    /// T for agents in phase), then the node whose exact queue, over its
    /// true speed, finishes a new job soonest (bench-side oracle): no
    /// dispatcher knows that much, but none knows anything sooner either,
    /// so where even this row misses a goal, the backlog of the first
    /// interval is what misses it (shortest expected delay is near the
    /// best drain, not proven the best: a strong hint, not a bound).
    InformedSed,
    /// signpost `least-load`.
    LeastLoad,
}

/// What a simulated agent reports as its weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Nothing: every weight is 1, as for any agent nobody configured.
    Unknown,
    /// Its speed at the report, from the first report on.
    TrueSpeed,
    /// Its speed over the interval the report covers: the pool's mean
    /// speed in the first report, and a change of speed shows one report
    /// late. The mean, not 1: 1 is a slow node's speed, and out of phase
    /// the fast nodes reporting first told the row the slow ones' speeds
    /// before any report covered them.
    CoveredSpeed,
    /// Its speed as the dispatcher's
    /// [`SpeedMeter`](signpost_dispatcher::load::SpeedMeter) measures it.
    Measured,
}

/// What the simulator knows of one node: its last report and what it was
/// sent since — the dispatcher's own view — plus the truth the oracles use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NodeView {
    /// The last reported figure, 0–1.
    pub reported: f64,
    /// Jobs sent to the node since that report.
    pub sent_since: u64,
    /// The true increase of the figure per job sent (oracle only).
    pub cost: f64,
    /// The node's exact queue and true speed now, once [`Balancer::InformedSed`]
    /// is told them (oracle only).
    pub exact: Option<(u64, f64)>,
}

// === impl Balancer ===

impl Balancer {
    /// Every balancer, in table order.
    pub const ALL: [Balancer; 10] = [
        Balancer::Random,
        Balancer::RoundRobin,
        Balancer::OracleWrr,
        Balancer::LearntWrr,
        Balancer::MeasuredWrr,
        Balancer::Greedy,
        Balancer::TwoChoices,
        Balancer::OracleTwoChoices,
        Balancer::InformedSed,
        Balancer::LeastLoad,
    ];

    /// The row label.
    pub fn name(self) -> &'static str {
        match self {
            Balancer::Random => "random",
            Balancer::RoundRobin => "round-robin",
            Balancer::OracleWrr => "oracle: smooth WRR, true speeds",
            Balancer::LearntWrr => "oracle: smooth WRR, true speeds from the first report",
            Balancer::MeasuredWrr => "smooth WRR, speeds measured (completions per busy second)",
            Balancer::Greedy => "greedy arg-min (report)",
            Balancer::TwoChoices => "P2C (report)",
            Balancer::OracleTwoChoices => "oracle: P2C, report + sent × true cost",
            Balancer::InformedSed => {
                "oracle: round robin until the first reports, then exact queues ÷ true speeds"
            }
            Balancer::LeastLoad => "**least-load**",
        }
    }

    /// The name `simulate --only` takes.
    pub fn flag(self) -> &'static str {
        match self {
            Balancer::Random => "random",
            Balancer::RoundRobin => "round-robin",
            Balancer::OracleWrr => "oracle-wrr",
            Balancer::LearntWrr => "learnt-wrr",
            Balancer::MeasuredWrr => "measured-wrr",
            Balancer::Greedy => "greedy",
            Balancer::TwoChoices => "p2c",
            Balancer::OracleTwoChoices => "oracle-p2c",
            Balancer::InformedSed => "oracle-sed",
            Balancer::LeastLoad => "least-load",
        }
    }

    /// True if the balancer never looks at reports, so one run serves every
    /// refresh interval.
    pub fn load_blind(self) -> bool {
        matches!(
            self,
            Balancer::Random | Balancer::RoundRobin | Balancer::OracleWrr
        )
    }

    /// Whether the row divides by busy time, so needs reports that are a
    /// busy fraction (not a queue-shaped figure): `least-load` asks the
    /// same of a pool before it measures speeds.
    pub fn needs_busy_fraction(self) -> bool {
        self == Balancer::MeasuredWrr
    }

    /// What agents report as their weight for this row.
    pub fn weights(self) -> Weights {
        match self {
            Balancer::OracleWrr => Weights::TrueSpeed,
            Balancer::LearntWrr => Weights::CoveredSpeed,
            Balancer::MeasuredWrr => Weights::Measured,
            _ => Weights::Unknown,
        }
    }

    /// The dispatcher strategy whose tables the pool is built with. The
    /// bench-side rows ignore the tables, so they take the cheapest.
    pub fn strategy(self) -> Strategy {
        let kind = match self {
            Balancer::RoundRobin | Balancer::InformedSed => StrategyKind::RoundRobin,
            Balancer::OracleWrr | Balancer::LearntWrr | Balancer::MeasuredWrr => {
                StrategyKind::WeightedRoundRobin
            }
            Balancer::LeastLoad => StrategyKind::LeastLoad,
            _ => StrategyKind::Random,
        };
        harness::strategy(kind)
    }

    /// Chooses a node (its index) at `now`; the caller records the job.
    pub fn pick<R: Rng>(self, pool: &Pool, view: &[NodeView], now: Instant, rng: &mut R) -> usize {
        match self {
            Balancer::Random
            | Balancer::RoundRobin
            | Balancer::OracleWrr
            | Balancer::LearntWrr
            | Balancer::MeasuredWrr
            | Balancer::LeastLoad => {
                let headers = HeaderMap::new();
                let request = Request {
                    client: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    headers: &headers,
                };
                let backend = pool
                    .pick(&request, now, rng)
                    .expect("every simulated server is always eligible");
                backend.load.add_redirect();
                backend.id.parse().expect("node ids are indexes")
            }
            Balancer::InformedSed => match shortest_expected_delay(view) {
                Some(node) => node,
                None => Balancer::RoundRobin.pick(pool, view, now, rng),
            },
            Balancer::Greedy => greedy(view, rng),
            Balancer::TwoChoices => two_choices(view, rng, |v| v.reported),
            Balancer::OracleTwoChoices => {
                two_choices(view, rng, |v| v.reported + v.sent_since as f64 * v.cost)
            }
        }
    }
}

/// Arg-min of the report; ties are broken uniformly (reservoir sampling),
/// otherwise every tie would go to the first node.
fn greedy<R: Rng>(view: &[NodeView], rng: &mut R) -> usize {
    let mut best = (0, f64::INFINITY);
    let mut ties = 0u32;
    for (i, node) in view.iter().enumerate() {
        if node.reported < best.1 {
            best = (i, node.reported);
            ties = 1;
        } else if node.reported == best.1 {
            ties += 1;
            if rng.random_range(0..ties) == 0 {
                best.0 = i;
            }
        }
    }
    best.0
}

/// The node that would finish a new job soonest, (exact queue + 1) ÷ true
/// speed, ties to the first; `None` until every node's exact queue is told.
fn shortest_expected_delay(view: &[NodeView]) -> Option<usize> {
    let mut best = None;
    for (i, node) in view.iter().enumerate() {
        let (queue, speed) = node.exact?;
        let delay = (queue as f64 + 1.0) / speed;
        if best.is_none_or(|(_, least)| delay < least) {
            best = Some((i, delay));
        }
    }
    best.map(|(i, _)| i)
}

/// Two distinct uniform candidates; the lower `score` wins, ties keep the
/// first.
fn two_choices<R: Rng>(view: &[NodeView], rng: &mut R, score: impl Fn(&NodeView) -> f64) -> usize {
    let n = view.len();
    let a = rng.random_range(0..n);
    if n == 1 {
        return a;
    }
    let b = (a + 1 + rng.random_range(0..n - 1)) % n;
    if score(&view[b]) < score(&view[a]) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    fn view(loads: &[f64]) -> Vec<NodeView> {
        loads
            .iter()
            .map(|&reported| NodeView {
                reported,
                cost: 0.1,
                sent_since: 0,
                exact: None,
            })
            .collect()
    }

    #[test]
    fn shortest_expected_delay_weighs_each_queue_by_its_speed() {
        let mut v = view(&[0.0, 0.0, 0.0]);
        assert_eq!(shortest_expected_delay(&v), None, "not told yet");
        // 3 queued at speed 4 finish a new job in 1; 1 at speed 1 in 2.
        v[0].exact = Some((3, 4.0));
        v[1].exact = Some((1, 1.0));
        assert_eq!(shortest_expected_delay(&v), None, "one node untold");
        v[2].exact = Some((2, 1.0));
        assert_eq!(shortest_expected_delay(&v), Some(0));
        v[0].exact = Some((8, 4.0));
        assert_eq!(shortest_expected_delay(&v), Some(1));
    }

    #[test]
    fn greedy_takes_the_minimum_and_spreads_ties() {
        let mut rng = SmallRng::seed_from_u64(1);
        let v = view(&[0.5, 0.1, 0.1, 0.9]);
        let mut seen = [0usize; 4];
        for _ in 0..1000 {
            seen[greedy(&v, &mut rng)] += 1;
        }
        assert_eq!((seen[0], seen[3]), (0, 0));
        assert!(seen[1] > 400 && seen[2] > 400, "{seen:?}");
    }

    #[test]
    fn two_choices_are_distinct_so_the_worst_of_two_never_wins() {
        let mut rng = SmallRng::seed_from_u64(2);
        let v = view(&[0.2, 0.9]);
        assert!((0..1000).all(|_| two_choices(&v, &mut rng, |n| n.reported) == 0));
    }

    #[test]
    fn the_oracle_counts_what_was_sent_since_the_report() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut v = view(&[0.2, 0.5]);
        v[0].sent_since = 4; // 0.2 + 4 × 0.1 = 0.6 > 0.5
        let score = |n: &NodeView| n.reported + n.sent_since as f64 * n.cost;
        assert!((0..100).all(|_| two_choices(&v, &mut rng, score) == 1));
    }
}
