//! Weighted random draws in O(1): Vose's alias method.
//!
//! Building the table is O(N) and happens when the pool is rebuilt; each
//! draw then costs one random number, a multiply and one comparison, so
//! drawing "in proportion to weight × headroom" stays flat in N.

use rand::Rng;

/// A table that draws index `i` with probability `weight[i] / Σ weight`.
#[derive(Debug, Clone, Default)]
pub struct AliasTable {
    slots: Vec<Slot>,
}

/// One slot, both halves side by side: a draw from a large pool touches
/// one cache line, not one in each of two arrays.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Chance, scaled to `u32::MAX`, of keeping the slot's own index.
    keep: u32,
    /// The index drawn instead when the slot is not kept.
    alias: u32,
}

// === impl AliasTable ===

impl AliasTable {
    /// Builds the table. Non-finite or non-positive weights count as zero;
    /// if every weight is zero, draws are uniform.
    pub fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        let clean = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        let total: f64 = weights.iter().map(|&w| clean(w)).sum();
        let mut scaled: Vec<f64> = if total > 0.0 {
            weights
                .iter()
                .map(|&w| clean(w) * n as f64 / total)
                .collect()
        } else {
            vec![1.0; n]
        };
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        let mut slots: Vec<Slot> = (0..n as u32)
            .map(|index| Slot {
                keep: u32::MAX,
                alias: index,
            })
            .collect();
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            slots[s] = Slot {
                keep: (scaled[s] * f64::from(u32::MAX)) as u32,
                alias: l as u32,
            };
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left (rounding) keeps itself: keep = MAX already.
        AliasTable { slots }
    }

    /// Draws an index; the table must not be empty.
    #[inline]
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let r = rng.next_u64();
        let index = uniform(r >> 32, self.slots.len());
        let slot = self.slots[index];
        if (r as u32) < slot.keep {
            index
        } else {
            slot.alias as usize
        }
    }
}

/// Maps 32 random bits onto `0..n` without a division (Lemire).
#[inline]
pub fn uniform(bits32: u64, n: usize) -> usize {
    ((bits32 * n as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn frequencies(weights: &[f64], draws: usize) -> Vec<f64> {
        let table = AliasTable::new(weights);
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = vec![0usize; weights.len()];
        for _ in 0..draws {
            counts[table.draw(&mut rng)] += 1;
        }
        counts.iter().map(|&c| c as f64 / draws as f64).collect()
    }

    #[test]
    fn draws_follow_weights() {
        let check = |weights: &[f64], expected: &[f64]| {
            let got = frequencies(weights, 200_000);
            for (g, e) in got.iter().zip(expected) {
                assert!(
                    (g - e).abs() < 0.01,
                    "{weights:?}: got {got:?}, want {expected:?}"
                );
            }
        };
        check(&[1.0], &[1.0]);
        check(&[1.0, 1.0], &[0.5, 0.5]);
        check(&[3.0, 2.0, 1.0], &[0.5, 1.0 / 3.0, 1.0 / 6.0]);
        check(&[0.0, 1.0, 0.0, 1.0], &[0.0, 0.5, 0.0, 0.5]);
        check(&[0.0, 0.0], &[0.5, 0.5]);
        check(&[f64::NAN, 1.0], &[0.0, 1.0]);
    }
}
