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

/// The key space is cut into at most 2^this slices, each remembering where
/// its points start (see [`Ring::starts`]).
const MAX_SLICE_BITS: u32 = 20;

/// A sorted ring of (point, backend index).
#[derive(Debug, Clone, Default)]
pub struct Ring {
    points: Vec<(u64, u32)>,
    /// For each slice of the key space (its top `64 - shift` bits), the
    /// index of its first point; one more entry closes the last. A lookup
    /// searches only its slice's points, about one: a binary search over
    /// the whole ring (up to 2²⁰ points, 16 MB at 10 000 backends) took ~20
    /// cache misses a request, 1.4× the time (`bench/RESULTS.md`, decision
    /// cost).
    starts: Vec<u32>,
    shift: u32,
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
        // About one point a slice, and at least two slices.
        let bits = points.len().next_power_of_two().trailing_zeros();
        let shift = 64 - bits.clamp(1, MAX_SLICE_BITS);
        let slices = 1u64 << (64 - shift);
        let mut starts = Vec::with_capacity(slices as usize + 1);
        let mut at = 0;
        for slice in 0..slices {
            // The first point at or above the slice's start.
            while at < points.len() && points[at].0 < slice << shift {
                at += 1;
            }
            starts.push(at as u32);
        }
        starts.push(points.len() as u32);
        Ring {
            points,
            starts,
            shift,
        }
    }

    /// The backend index owning `key`: the first point at or after it,
    /// round the ring; `None` for an empty ring.
    #[inline]
    pub fn lookup(&self, key: u64) -> Option<usize> {
        if self.points.is_empty() {
            return None;
        }
        // Points before the slice's start are below `key`; the slice's own
        // end is the next slice's start, whose first point is the answer
        // when none of the slice's is at or above `key`.
        let slice = (key >> self.shift) as usize;
        let (from, to) = (self.starts[slice] as usize, self.starts[slice + 1] as usize);
        let at = from + self.points[from..to].partition_point(|&(point, _)| point < key);
        let (_, index) = self.points.get(at).unwrap_or(&self.points[0]);
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

    /// The owner by a search of the whole ring, as the slices must find.
    fn owner_by_search(ring: &Ring, key: u64) -> usize {
        let at = ring.points.partition_point(|&(point, _)| point < key);
        ring.points.get(at).unwrap_or(&ring.points[0]).1 as usize
    }

    #[test]
    fn slices_find_the_owner_a_search_of_the_whole_ring_finds() {
        for ids in [
            &["a"][..],
            &["a", "b"],
            &["a", "b", "c", "d", "e", "f", "g"],
        ] {
            let ring = ring(ids);
            let points: Vec<u64> = ring.points.iter().map(|&(p, _)| p).collect();
            // Every point, its neighbours, the ring's two ends, slice
            // boundaries, and keys spread over the whole space.
            let mut keys = vec![0, 1, u64::MAX, u64::MAX - 1];
            for &p in &points {
                keys.extend([p, p.wrapping_sub(1), p.wrapping_add(1)]);
            }
            for slice in 0..1u64 << (64 - ring.shift) {
                let start = slice << ring.shift;
                keys.extend([start, start.wrapping_sub(1)]);
            }
            keys.extend((0..10_000u32).map(|k| hash64(&k.to_be_bytes(), 7)));
            for key in keys {
                assert_eq!(
                    ring.lookup(key),
                    Some(owner_by_search(&ring, key)),
                    "{key:#x}"
                );
            }
        }
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
