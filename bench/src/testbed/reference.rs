//! The reference strategies the testbed runs beside the real dispatcher,
//! each on its own [`Board`] facing the same arrivals, job sizes, refresh
//! instants and poll delay.
//!
//! Two are load-blind anchors (round robin, random), two read the stale
//! reports (power of two choices on the bare figure, and the same plus a
//! projection of the jobs sent since the report at their *true* cost), and
//! one knows the true speeds (smooth weighted round robin). The two oracles
//! bound what a dispatcher could reach if it learnt costs and capacities
//! perfectly.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::board::Board;

/// A reference strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// Plain rotation.
    RoundRobin,
    /// Uniform random.
    Random,
    /// Two distinct uniform candidates; the lower reported figure wins.
    P2c,
    /// Two distinct candidates; the lower of report + jobs sent since ×
    /// the true per-job cost wins (oracle projection).
    P2cProjected,
    /// Smooth weighted round robin (nginx) with the true speeds as weights.
    OracleWrr,
}

/// A reference strategy with its state: rotation position, WRR credits,
/// random stream.
#[derive(Debug, Clone)]
pub struct Picker {
    kind: Reference,
    /// Per node: the true figure one more job adds to its report.
    costs: Vec<f64>,
    /// Per node: its true speed (the oracle WRR's weight).
    speeds: Vec<f64>,
    /// Per node: smooth WRR's running credit.
    credit: Vec<f64>,
    turn: usize,
    rng: SmallRng,
}

// === impl Reference ===

impl Reference {
    /// Every reference strategy, in table order.
    pub const ALL: [Reference; 5] = [
        Reference::RoundRobin,
        Reference::Random,
        Reference::P2c,
        Reference::P2cProjected,
        Reference::OracleWrr,
    ];

    /// The row label in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Reference::RoundRobin => "round robin (testbed)",
            Reference::Random => "random (testbed)",
            Reference::P2c => "P2C on the report (testbed)",
            Reference::P2cProjected => "P2C + true-cost projection (oracle)",
            Reference::OracleWrr => "smooth WRR, true speeds (oracle)",
        }
    }
}

// === impl Picker ===

impl Picker {
    /// A `kind` picker over nodes of true `speeds`, where one job adds
    /// `costs[k]` to node k's reported figure.
    pub fn new(kind: Reference, speeds: Vec<f64>, costs: Vec<f64>, seed: u64) -> Self {
        Picker {
            kind,
            credit: vec![0.0; speeds.len()],
            costs,
            speeds,
            turn: 0,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// The strategy this picker runs.
    pub fn kind(&self) -> Reference {
        self.kind
    }

    /// Chooses a node of `board` for a job arriving at `t`.
    pub fn pick(&mut self, board: &Board, t: f64) -> usize {
        let n = board.len();
        match self.kind {
            Reference::RoundRobin => {
                self.turn = (self.turn + 1) % n;
                self.turn
            }
            Reference::Random => self.rng.random_range(0..n),
            Reference::P2c => better_of_two(&mut self.rng, n, |k| board.seen(k, t).figure),
            Reference::P2cProjected => {
                let costs = &self.costs;
                let projected = |k: usize| {
                    let seen = board.seen(k, t);
                    seen.figure + seen.sent_since as f64 * costs[k]
                };
                better_of_two(&mut self.rng, n, projected)
            }
            Reference::OracleWrr => self.smooth_wrr(),
        }
    }

    /// nginx's smooth weighted round robin: every node earns its weight,
    /// the richest is picked and pays the total.
    fn smooth_wrr(&mut self) -> usize {
        let total: f64 = self.speeds.iter().sum();
        for (credit, speed) in self.credit.iter_mut().zip(&self.speeds) {
            *credit += speed;
        }
        let best = (0..self.credit.len())
            .max_by(|&a, &b| self.credit[a].total_cmp(&self.credit[b]).then(b.cmp(&a)))
            .expect("a picker has nodes");
        self.credit[best] -= total;
        best
    }
}

/// Two distinct uniform candidates (one if there is only one node); the
/// lower `load` wins, the first drawn on a tie.
fn better_of_two(rng: &mut SmallRng, n: usize, load: impl Fn(usize) -> f64) -> usize {
    let a = rng.random_range(0..n);
    if n < 2 {
        return a;
    }
    let mut b = rng.random_range(0..n - 1);
    if b >= a {
        b += 1;
    }
    if load(b) < load(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::super::board::Signal;
    use super::*;

    fn picks(kind: Reference, board: &Board, speeds: &[f64], count: usize) -> Vec<usize> {
        let mut picker = Picker::new(kind, speeds.to_vec(), vec![5.0; speeds.len()], 3);
        let mut counts = vec![0; speeds.len()];
        for _ in 0..count {
            counts[picker.pick(board, 1.0)] += 1;
        }
        counts
    }

    fn idle(speeds: &[f64]) -> Board {
        Board::new(speeds, 0.0, vec![0.0; speeds.len()], Signal::Queue, 20.0)
    }

    #[test]
    fn round_robin_and_oracle_wrr_keep_exact_ratios() {
        assert_eq!(
            picks(Reference::RoundRobin, &idle(&[1.0; 3]), &[1.0; 3], 9),
            [3, 3, 3]
        );
        let speeds = [2.0, 2.0, 1.0, 1.0];
        assert_eq!(
            picks(Reference::OracleWrr, &idle(&speeds), &speeds, 12),
            [4, 4, 2, 2]
        );
        let mut wrr = Picker::new(Reference::OracleWrr, vec![3.0, 1.0], vec![0.0; 2], 0);
        let order: Vec<usize> = (0..4).map(|_| wrr.pick(&idle(&[3.0, 1.0]), 0.0)).collect();
        assert_eq!(
            order,
            [0, 0, 1, 0],
            "smooth: the slow node is not last in a burst"
        );
    }

    #[test]
    fn p2c_draws_two_distinct_nodes_so_the_worst_of_three_never_wins() {
        let mut board = idle(&[1.0; 3]);
        for _ in 0..10 {
            board.assign(2, 0.0, 100.0);
        }
        board.refresh(2, 0.5);
        for kind in [Reference::P2c, Reference::P2cProjected] {
            let counts = picks(kind, &board, &[1.0; 3], 3000);
            assert_eq!(counts[2], 0, "{kind:?}: {counts:?}");
            assert!(counts[0] > 1300 && counts[1] > 1300, "{kind:?}: {counts:?}");
        }
        assert!(picks(Reference::Random, &board, &[1.0; 3], 3000)[2] > 900);
    }

    #[test]
    fn projection_counts_jobs_sent_since_the_report_at_their_true_cost() {
        let mut board = idle(&[1.0, 1.0]);
        for _ in 0..3 {
            board.assign(0, 0.0, 100.0);
        }
        board.refresh(0, 0.5); // node 0 reports 15
        board.refresh(1, 0.5); // node 1 reports 0...
        for _ in 0..4 {
            board.assign(1, 0.6, 100.0); // ...but has been sent 4 since: 0 + 4 · 5 = 20
        }
        let mut projected = Picker::new(Reference::P2cProjected, vec![1.0; 2], vec![5.0; 2], 1);
        let mut bare = Picker::new(Reference::P2c, vec![1.0; 2], vec![5.0; 2], 1);
        for _ in 0..20 {
            assert_eq!(projected.pick(&board, 1.0), 0);
            assert_eq!(bare.pick(&board, 1.0), 1);
        }
    }
}
