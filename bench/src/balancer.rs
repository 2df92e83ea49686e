//! The strategies the simulator compares.
//!
//! `random`, `round-robin` and `least-load` are the dispatcher's own
//! [`Strategy`] values, picked through the real [`Pool::pick`]. The two
//! baselines that signpost does not ship are written here, reading the
//! same pool snapshot: greedy arg-min of the bare report (what a naive
//! "least loaded" does) and plain power of two choices on the bare report
//! (uniform candidates, no projection, no headroom weighting).

use std::net::{IpAddr, Ipv4Addr};

use http::HeaderMap;
use rand::{Rng, RngExt};
use signpost_dispatcher::config::StrategyKind;
use signpost_dispatcher::pool::{Backend, Pool};
use signpost_dispatcher::select::{Request, Strategy};

use crate::harness;

/// One row of the results table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Balancer {
    /// signpost `random` (uniform here: every weight is 1).
    Random,
    /// signpost `round-robin`.
    RoundRobin,
    /// Arg-min of the reported figure, ties broken uniformly (bench-side).
    Greedy,
    /// Two uniform candidates, the lower reported figure wins (bench-side).
    TwoChoices,
    /// signpost `least-load`: projection, headroom-weighted two choices.
    LeastLoad,
}

// === impl Balancer ===

impl Balancer {
    /// Every balancer, in table order.
    pub const ALL: [Balancer; 5] = [
        Balancer::Random,
        Balancer::RoundRobin,
        Balancer::Greedy,
        Balancer::TwoChoices,
        Balancer::LeastLoad,
    ];

    /// The row label.
    pub fn name(self) -> &'static str {
        match self {
            Balancer::Random => "random",
            Balancer::RoundRobin => "round-robin",
            Balancer::Greedy => "greedy arg-min (report)",
            Balancer::TwoChoices => "P2C (report)",
            Balancer::LeastLoad => "least-load",
        }
    }

    /// The name `simulate --only` takes.
    pub fn flag(self) -> &'static str {
        match self {
            Balancer::Random => "random",
            Balancer::RoundRobin => "round-robin",
            Balancer::Greedy => "greedy",
            Balancer::TwoChoices => "p2c",
            Balancer::LeastLoad => "least-load",
        }
    }

    /// True if the balancer never looks at reports, so one run serves every
    /// refresh interval.
    pub fn load_blind(self) -> bool {
        matches!(self, Balancer::Random | Balancer::RoundRobin)
    }

    /// The dispatcher strategy whose tables the pool is built with. The
    /// bench-side baselines ignore the tables, so they take the cheapest.
    pub fn strategy(self) -> Strategy {
        let kind = match self {
            Balancer::RoundRobin => StrategyKind::RoundRobin,
            Balancer::LeastLoad => StrategyKind::LeastLoad,
            Balancer::Random | Balancer::Greedy | Balancer::TwoChoices => StrategyKind::Random,
        };
        harness::strategy(kind)
    }

    /// Chooses a backend of `pool`; the caller records the redirect.
    pub fn pick<'p, R: Rng>(self, pool: &'p Pool, rng: &mut R) -> Option<&'p Backend> {
        match self {
            Balancer::Random | Balancer::RoundRobin | Balancer::LeastLoad => {
                let headers = HeaderMap::new();
                let request = Request {
                    client: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    headers: &headers,
                };
                pool.pick(&request, rng)
            }
            Balancer::Greedy => greedy(pool.backends(), rng),
            Balancer::TwoChoices => two_choices(pool.backends(), rng),
        }
    }
}

/// The reported figure per unit of weight, without projection.
fn reported(backend: &Backend) -> f64 {
    backend.projection().base / backend.weight
}

/// Arg-min of the report; ties are broken uniformly (reservoir sampling),
/// otherwise every tie would go to the first backend.
fn greedy<'p, R: Rng>(backends: &'p [Backend], rng: &mut R) -> Option<&'p Backend> {
    let mut best: Option<(&Backend, f64)> = None;
    let mut ties = 0u32;
    for backend in backends {
        let score = reported(backend);
        match best {
            Some((_, low)) if score > low => {}
            Some((_, low)) if score == low => {
                ties += 1;
                if rng.random_range(0..ties) == 0 {
                    best = Some((backend, score));
                }
            }
            _ => {
                best = Some((backend, score));
                ties = 1;
            }
        }
    }
    best.map(|(backend, _)| backend)
}

/// Power of two uniform choices on the report; ties keep the first.
fn two_choices<'p, R: Rng>(backends: &'p [Backend], rng: &mut R) -> Option<&'p Backend> {
    if backends.is_empty() {
        return None;
    }
    let a = &backends[rng.random_range(0..backends.len())];
    let b = &backends[rng.random_range(0..backends.len())];
    Some(if reported(b) < reported(a) { b } else { a })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use signpost_dispatcher::load::Projection;
    use signpost_dispatcher::pool::{Live, Members};

    use super::*;

    fn pool(loads: &[f64]) -> Pool {
        let backends = loads
            .iter()
            .enumerate()
            .map(|(i, &base)| Backend {
                id: i.to_string().into(),
                base_url: format!("http://{i}.test").into(),
                weight: 1.0,
                live: Arc::new(Live::new(Projection {
                    base,
                    sent_at_report: 0,
                    cost: 0.01,
                })),
                pin: None,
            })
            .collect();
        let members = Members {
            active: backends,
            ..Members::default()
        };
        Pool::new(members, &Balancer::Greedy.strategy(), harness::policy())
    }

    #[test]
    fn greedy_takes_the_minimum_and_spreads_ties() {
        let mut rng = SmallRng::seed_from_u64(1);
        let p = pool(&[0.5, 0.1, 0.1, 0.9]);
        let mut seen = [0usize; 4];
        for _ in 0..1000 {
            let b = Balancer::Greedy.pick(&p, &mut rng).expect("non-empty");
            seen[b.id.parse::<usize>().expect("numeric id")] += 1;
        }
        assert_eq!((seen[0], seen[3]), (0, 0));
        assert!(seen[1] > 400 && seen[2] > 400, "{seen:?}");
    }

    #[test]
    fn plain_two_choices_never_takes_the_worst_of_two() {
        let mut rng = SmallRng::seed_from_u64(2);
        let p = pool(&[0.2, 0.9]);
        let worst = (0..1000)
            .filter(|_| {
                Balancer::TwoChoices
                    .pick(&p, &mut rng)
                    .is_some_and(|b| &*b.id == "1")
            })
            .count();
        // Only when both draws hit the worst: about a quarter of the time.
        assert!((150..350).contains(&worst), "{worst}");
    }
}
