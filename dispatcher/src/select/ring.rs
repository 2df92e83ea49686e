//! Consistent hashing: a ring of virtual nodes.
//!
//! Each backend owns points derived from its id alone, so when one joins or
//! leaves only the keys on its own arcs move; everybody else stays put. The
//! hash is our own fixed FNV-1a plus a 64-bit finaliser, never a randomly
//! keyed hasher, so every dispatcher replica maps a key to the same backend
//! without sharing state.

/// Points on the ring per unit of weight.
const POINTS_PER_WEIGHT: f64 = 160.0;

/// The ring never holds more points than this; larger pools get fewer points
/// per backend (spread gets coarser, lookups stay fast).
const MAX_POINTS: usize = 1 << 20;

/// A sorted ring of (point, backend index).
#[derive(Debug, Clone, Default)]
pub struct Ring {
    points: Vec<(u64, u32)>,
}

// === impl Ring ===

impl Ring {
    /// Builds the ring for backends given as (id, weight).
    pub fn new<'a>(backends: impl ExactSizeIterator<Item = (&'a str, f64)> + Clone) -> Self {
        let total_weight: f64 = backends.clone().map(|(_, w)| w.max(0.0)).sum();
        let scale = if total_weight * POINTS_PER_WEIGHT > MAX_POINTS as f64 {
            MAX_POINTS as f64 / (total_weight * POINTS_PER_WEIGHT)
        } else {
            1.0
        };
        let mut points = Vec::new();
        for (index, (id, weight)) in backends.enumerate() {
            let count = ((weight * POINTS_PER_WEIGHT * scale).round() as u64).max(1);
            let seed = hash64(id.as_bytes(), 0);
            points.extend((0..count).map(|k| (mix(seed ^ mix(k + 1)), index as u32)));
        }
        points.sort_unstable();
        Ring { points }
    }

    /// The backend index owning `key`, or `None` for an empty ring.
    #[inline]
    pub fn lookup(&self, key: u64) -> Option<usize> {
        let at = self.points.partition_point(|&(point, _)| point < key);
        let (_, index) = self.points.get(at).or_else(|| self.points.first())?;
        Some(*index as usize)
    }
}

/// A stable 64-bit hash of `bytes`: FNV-1a, then [`mix`]ed so that keys
/// differing in one byte land far apart on the ring.
#[inline]
pub fn hash64(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(h)
}

/// The splitmix64 finaliser: a bijection that spreads every input bit.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[&str]) -> Ring {
        Ring::new(ids.iter().map(|id| (*id, 1.0)))
    }

    fn owners(ring: &Ring, ids: &[&str]) -> Vec<String> {
        (0..10_000u32)
            .map(|k| ids[ring.lookup(hash64(&k.to_be_bytes(), 0)).unwrap()].to_string())
            .collect()
    }

    #[test]
    fn a_leaving_node_moves_only_its_own_keys() {
        let all = ["a", "b", "c", "d", "e"];
        let without_c = ["a", "b", "d", "e"];
        let before = owners(&ring(&all), &all);
        let after = owners(&ring(&without_c), &without_c);
        for (b, a) in before.iter().zip(&after) {
            if b != "c" {
                assert_eq!(b, a, "a key not owned by the leaver moved");
            }
        }
        // And the spread is fair enough: each node within ±30% of 1/5.
        for id in all {
            let share = before.iter().filter(|o| *o == id).count() as f64 / 10_000.0;
            assert!((share - 0.2).abs() < 0.06, "{id}: {share}");
        }
    }

    #[test]
    fn weights_scale_shares() {
        let ring = Ring::new([("a", 3.0), ("b", 1.0)].into_iter());
        let a = (0..20_000u32)
            .filter(|k| ring.lookup(hash64(&k.to_be_bytes(), 0)) == Some(0))
            .count();
        let share = a as f64 / 20_000.0;
        assert!((share - 0.75).abs() < 0.05, "{share}");
    }

    #[test]
    fn empty_ring_has_no_owner() {
        assert_eq!(Ring::default().lookup(42), None);
    }

    #[test]
    fn hash_is_stable_across_builds() {
        // Replicas must agree: this value may never change.
        assert_eq!(hash64(b"10.0.0.1", 0), hash64(b"10.0.0.1", 0));
        assert_ne!(hash64(b"10.0.0.1", 0), hash64(b"10.0.0.2", 0));
    }
}
