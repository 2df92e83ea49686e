//! A node's connections as a level: how many it holds at its reports,
//! against how many the pool's nodes typically hold. Kept apart as plain
//! statistics; the cut that reads them is
//! [`CapacityStep::cut_backlogged`](super::CapacityStep::cut_backlogged).
//!
//! A queue that grows slowly hides in the noise of its growth: a node sent
//! 3–9% more than it completes, its reports 100 service times apart, grows
//! a few jobs a report against a random walk of ~15, and the growth test of
//! the overload cut would take hundreds of reports to see it. Its level
//! does not hide: a queue below saturation holds `k` jobs or more with a
//! chance of about `ρᵏ`, so one holding 60 jobs while its peers hold 2 is
//! over its capacity, whatever its growth says.

/// A node's level at two reports running is past chance once a queue at
/// the pool's typical level would hold as many with at most this chance
/// ([`chance_bar`]).
const LEVEL_CHANCE: f64 = 1e-3;

/// The typical level is read as at least this many connections: a pool
/// that holds none says nothing of the chance of one.
const MIN_TYPICAL_LEVEL: f64 = 0.5;

/// How much of a node's smoothed level each report replaces: about the
/// last eight reports count.
const LEVEL_SMOOTHING: f64 = 0.125;

/// A node's connection counts at its reports, each past the fewest it has
/// held: idle keep-alive connections add an offset that a count that once
/// dropped to it shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Levels {
    /// Connections at the report before the last, and at the last.
    previous: Option<u64>,
    last: Option<u64>,
    /// The fewest it held at any report.
    fewest: Option<u64>,
    /// Its level smoothed over reports ([`LEVEL_SMOOTHING`]).
    smoothed: Option<f64>,
}

// === impl Levels ===

impl Levels {
    /// Folds in the `connections` a report counted.
    pub(super) fn add(&mut self, connections: u64) {
        self.previous = self.last.replace(connections);
        let fewest = self.fewest.map_or(connections, |f| f.min(connections));
        self.fewest = Some(fewest);
        let level = (connections - fewest) as f64;
        self.smoothed = Some(
            self.smoothed
                .map_or(level, |s| s + LEVEL_SMOOTHING * (level - s)),
        );
    }

    /// The level at the last report; `None` before one.
    pub(super) fn now(&self) -> Option<f64> {
        self.past_fewest(self.last)
    }

    /// The level smoothed over reports; `None` before one.
    pub(super) fn smoothed(&self) -> Option<f64> {
        self.smoothed
    }

    /// Whether the levels at the last two reports are both at least `bar`.
    pub(super) fn held_past(&self, bar: f64) -> bool {
        [self.previous, self.last]
            .into_iter()
            .all(|count| self.past_fewest(count).is_some_and(|level| level >= bar))
    }

    fn past_fewest(&self, count: Option<u64>) -> Option<f64> {
        Some(count?.saturating_sub(self.fewest?) as f64)
    }
}

/// The level a queue at the pool's `typical` level holds or passes with
/// chance [`LEVEL_CHANCE`]: a stationary queue of mean `m` holds `k` or
/// more with chance `ρᵏ`, `ρ = m / (1 + m)`. About 17 connections where
/// the pool typically holds 2, 225 where it holds 32 (97% load).
pub(super) fn chance_bar(typical: f64) -> f64 {
    let m = typical.max(MIN_TYPICAL_LEVEL);
    LEVEL_CHANCE.ln() / (m / (1.0 + m)).ln()
}

/// The pool's typical level: the greater of the median node's smoothed
/// level and the median node's level now, `None` where no node has
/// reported. The median, so that the few nodes that are backlogged do not
/// raise the bar they are held to; the greater of the two, because after a
/// start every smoothed level is young and low while the pool fills, and a
/// bar from them alone cut a fast node of a 2:1 pool that was taking its
/// slow peers' overflow with all the others (long grids, queue-shaped
/// figures, seed 4: 1.23 → 1.66 × the better spread).
pub(super) fn typical<'a>(levels: impl IntoIterator<Item = &'a Levels>) -> Option<f64> {
    let (mut smoothed, mut now): (Vec<f64>, Vec<f64>) = levels
        .into_iter()
        .filter_map(|l| Some((l.smoothed()?, l.now()?)))
        .unzip();
    let median = |values: &mut Vec<f64>| {
        let middle = values.len() / 2;
        *values.select_nth_unstable_by(middle, f64::total_cmp).1
    };
    (!smoothed.is_empty()).then(|| median(&mut smoothed).max(median(&mut now)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(counts: &[u64]) -> Levels {
        let mut levels = Levels::default();
        for &count in counts {
            levels.add(count);
        }
        levels
    }

    #[test]
    fn a_level_counts_past_the_fewest_connections_ever_held() {
        // Three idle keep-alives at the first report; 43 and 63 later.
        let node = levels(&[3, 43, 63]);
        assert_eq!(node.now(), Some(60.0));
        assert!(node.held_past(40.0));
        assert!(!node.held_past(41.0), "the report before the last");
        // Smoothed from the first level on: 0, then 40, then 60.
        let smoothed = 0.0 + LEVEL_SMOOTHING * 40.0;
        let smoothed = smoothed + LEVEL_SMOOTHING * (60.0 - smoothed);
        assert!((node.smoothed().unwrap() - smoothed).abs() < 1e-12);
        // One report is not two.
        assert!(!levels(&[50]).held_past(0.0));
        assert_eq!(Levels::default().now(), None);
    }

    #[test]
    fn the_chance_bar_is_where_a_queue_at_the_typical_level_rarely_reaches() {
        // ρ = 2/3: (2/3)^k = 1e-3 at k ≈ 17.0.
        assert!((chance_bar(2.0) - 17.04).abs() < 0.01);
        // 97% load, m = 32: ρ^225 ≈ 1e-3.
        assert!((chance_bar(32.0) - 224.5).abs() < 0.5);
        // A pool holding nothing is read as holding half a connection.
        assert_eq!(chance_bar(0.0), chance_bar(MIN_TYPICAL_LEVEL));
    }

    #[test]
    fn the_typical_level_is_the_greater_median_of_smoothed_and_current_levels() {
        // Eight nodes, each past a first report of none: seven hold 2
        // and one 60 now, after smoothed levels far lower.
        let mut pool: Vec<Levels> = (0..7).map(|_| levels(&[0, 2])).collect();
        pool.push(levels(&[0, 60]));
        // Smoothed: 0.25 for the seven; now: 2 — the greater.
        assert_eq!(typical(&pool), Some(2.0));
        // After a start, most nodes filling at once: the levels now set it.
        let filling: Vec<Levels> = [18, 62, 48, 51, 23, 23, 1, 1]
            .iter()
            .map(|&now| levels(&[0, now]))
            .collect();
        assert_eq!(typical(&filling), Some(23.0));
        assert_eq!(typical(&[Levels::default()]), None);
    }
}
