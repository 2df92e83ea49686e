//! Smooth weighted round robin, precomputed.
//!
//! nginx interleaves weights 3:2:1 as `a b a c b a` rather than `a a a b b
//! c`. The same interleaving comes from serving each backend's k-th slot at
//! virtual time (k + ½) / weight, earliest first, ties to the lower index.
//! The whole cycle is computed once per pool rebuild, so a pick is one
//! atomic increment and an array read — no lock shared between requests.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// The lightest weight is worth this many slots before reduction, so ratios
/// hold to about a tenth of the lightest weight, at any scale.
const RESOLUTION: f64 = 10.0;

/// The longest cycle kept; heavier weight sets are scaled down to fit.
const MAX_CYCLE: u64 = 1 << 16;

/// One backend's next slot, ordered by its virtual time (2k + 1) / weight.
#[derive(Debug, PartialEq, Eq)]
struct Slot {
    twice_k_plus_1: u64,
    weight: u64,
    index: u32,
}

impl Ord for Slot {
    fn cmp(&self, other: &Self) -> Ordering {
        // Compare (2k+1)/w exactly by cross-multiplying.
        let lhs = u128::from(self.twice_k_plus_1) * u128::from(other.weight);
        let rhs = u128::from(other.twice_k_plus_1) * u128::from(self.weight);
        lhs.cmp(&rhs).then(self.index.cmp(&other.index))
    }
}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The interleaved cycle of backend indexes for `weights`.
pub fn cycle(weights: &[f64]) -> Vec<u32> {
    let integral = quantise(weights);
    let total: u64 = integral.iter().sum();
    let mut heap: BinaryHeap<Reverse<Slot>> = integral
        .iter()
        .enumerate()
        .map(|(index, &weight)| {
            Reverse(Slot {
                twice_k_plus_1: 1,
                weight,
                index: index as u32,
            })
        })
        .collect();
    let mut order = Vec::with_capacity(total as usize);
    while order.len() < total as usize {
        let Some(Reverse(mut slot)) = heap.pop() else {
            break;
        };
        order.push(slot.index);
        slot.twice_k_plus_1 += 2;
        heap.push(Reverse(slot));
    }
    order
}

/// Integer weights with the same ratios (to a tenth of the lightest),
/// reduced by their common divisor and scaled down to fit [`MAX_CYCLE`].
/// Relative, not absolute: slow start scales every weight down together,
/// and 0.3 : 0.2 : 0.1 must stay 3 : 2 : 1, not become 1 : 1 : 1.
fn quantise(weights: &[f64]) -> Vec<u64> {
    let positive = |w: f64| w.is_finite() && w > 0.0;
    let lightest = weights
        .iter()
        .copied()
        .filter(|&w| positive(w))
        .fold(f64::INFINITY, f64::min);
    let unit = if lightest.is_finite() { lightest } else { 1.0 };
    let mut integral: Vec<u64> = weights
        .iter()
        .map(|&w| {
            let w = if positive(w) { w } else { 0.0 };
            ((w / unit * RESOLUTION).round().min(MAX_CYCLE as f64) as u64).max(1)
        })
        .collect();
    let divisor = integral.iter().copied().fold(0, gcd).max(1);
    integral.iter_mut().for_each(|w| *w /= divisor);
    let total: u64 = integral.iter().sum();
    if total > MAX_CYCLE {
        integral
            .iter_mut()
            .for_each(|w| *w = (*w * MAX_CYCLE / total).max(1));
    }
    integral
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(weights: &[f64]) -> String {
        cycle(weights)
            .iter()
            .map(|&i| (b'a' + i as u8) as char)
            .collect()
    }

    #[test]
    fn interleaves_smoothly() {
        // 3:2:1 is exactly what nginx produces.
        assert_eq!(names(&[3.0, 2.0, 1.0]), "abacba");
        assert_eq!(names(&[1.0, 1.0, 1.0]), "abc");
        assert_eq!(names(&[5.0, 1.0, 1.0]), "aaabcaa");
        assert_eq!(names(&[2.0]), "a");
        assert_eq!(names(&[1.5, 1.0]), "ababa");
    }

    #[test]
    fn exact_ratio_and_never_three_in_a_row() {
        let order = cycle(&[3.0, 2.0, 1.0]);
        for (i, want) in [3, 2, 1].into_iter().enumerate() {
            assert_eq!(order.iter().filter(|&&x| x == i as u32).count(), want);
        }
        // Cyclically: the sequence repeats forever.
        let n = order.len();
        for start in 0..n {
            let run = (0..3).map(|k| order[(start + k) % n]).collect::<Vec<_>>();
            assert!(!(run[0] == run[1] && run[1] == run[2]), "{order:?}");
        }
    }

    #[test]
    fn huge_weight_sets_stay_bounded() {
        let weights: Vec<f64> = (1..=5000).map(f64::from).collect();
        let order = cycle(&weights);
        assert!(order.len() as u64 <= MAX_CYCLE + 5000);
        assert!(order.contains(&0), "every backend keeps a slot");
    }
}
