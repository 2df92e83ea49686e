//! When each node's agent refreshes its report.
//!
//! Two regimes bracket real deployments: every agent sampling at the same
//! instants (Mitzenmacher's periodically updated bulletin board, the worst
//! case for herding: every report ages together), and agents at independent
//! phases, as agents started at different times are (node k refreshes at
//! phase k·T/N, plus a small jitter per refresh).

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// How the nodes' refreshes line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phases {
    /// All nodes refresh together, every T.
    Together,
    /// Node k refreshes at (j + k/N)·T plus a jitter below T/(10 N).
    Independent,
}

/// The refresh instants of N nodes, in seconds since the start.
#[derive(Debug, Clone)]
pub struct Schedule {
    phases: Phases,
    period: f64,
    nodes: usize,
    /// Per node: the index j of its next refresh, and its instant.
    next: Vec<(u64, f64)>,
    rng: SmallRng,
}

// === impl Schedule ===

impl Schedule {
    /// Refreshes every `period` seconds for `nodes` nodes; the first one of
    /// each node comes after its phase plus one period (every node starts
    /// with a report sampled at 0).
    pub fn new(phases: Phases, period: f64, nodes: usize, seed: u64) -> Self {
        let mut schedule = Schedule {
            phases,
            period,
            nodes,
            next: Vec::with_capacity(nodes),
            rng: SmallRng::seed_from_u64(seed),
        };
        for k in 0..nodes {
            let first = schedule.instant(k, 1);
            schedule.next.push((1, first));
        }
        schedule
    }

    /// The earliest pending refresh instant.
    pub fn next_due(&self) -> f64 {
        self.next
            .iter()
            .map(|&(_, t)| t)
            .fold(f64::INFINITY, f64::min)
    }

    /// The nodes whose refresh is due at `t`, in node order; each is moved
    /// on to its following refresh.
    pub fn take_due(&mut self, t: f64) -> Vec<usize> {
        let due: Vec<usize> = (0..self.next.len())
            .filter(|&k| self.next[k].1 <= t)
            .collect();
        for &k in &due {
            let j = self.next[k].0 + 1;
            self.next[k] = (j, self.instant(k, j));
        }
        due
    }

    fn instant(&mut self, k: usize, j: u64) -> f64 {
        let n = self.nodes.max(1) as f64;
        match self.phases {
            Phases::Together => j as f64 * self.period,
            Phases::Independent => {
                let jitter = self.rng.random_range(0.0..0.1) * self.period / n;
                (j as f64 + k as f64 / n) * self.period + jitter
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn together_refreshes_every_node_at_each_multiple_of_the_period() {
        let mut s = Schedule::new(Phases::Together, 1.0, 3, 7);
        assert_eq!(s.next_due(), 1.0);
        assert!(s.take_due(0.99).is_empty());
        assert_eq!(s.take_due(1.0), vec![0, 1, 2]);
        assert_eq!(s.next_due(), 2.0);
    }

    #[test]
    fn independent_phases_spread_refreshes_over_the_period() {
        let mut s = Schedule::new(Phases::Independent, 1.0, 4, 7);
        let mut order = Vec::new();
        let mut instants = Vec::new();
        for _ in 0..8 {
            let t = s.next_due();
            instants.push(t);
            order.extend(s.take_due(t));
        }
        assert_eq!(order, vec![0, 1, 2, 3, 0, 1, 2, 3]);
        for (i, t) in instants.iter().enumerate() {
            let nominal = 1.0 + i as f64 / 4.0;
            assert!((nominal..nominal + 0.025).contains(t), "{i}: {t}");
        }
    }
}
