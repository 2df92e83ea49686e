//! Overload shedding (`--overload shed`): when every eligible backend is
//! projected full, redirecting more clients only moves the queue, so a
//! share of them is answered 503 instead — a share that grows with how far
//! the pool is over capacity, not a cliff (Envoy's admission control).
//!
//! A controller ([`crate::shedding`]) looks at the pool ten times a second: with the
//! least-loaded eligible backend projected at `u` (1.0 = fully busy), it
//! aims to shed `1 − 1/u` of all answers, which brings what is admitted
//! back to capacity, capped at 95% so the pool's figures keep flowing.
//!
//! That share alone cannot see far past capacity: a node's CPU saturates
//! at 100%, and what a redirect costs is learnt from what the node got
//! through, so a pool full from the start projects ≈ 1.0 whether it is
//! offered 1.1 or 1.5 times its capacity (`bench/shed-e2e.sh` measured a
//! 3% share at ρ = 1.5, queues growing without bound). So a second,
//! integral, share rises by [`RISE`] each tick while every eligible
//! backend reports itself full ([`FULL`]) and falls by [`FALL`] each tick
//! otherwise: it climbs until the pool gets an idle moment, which it only
//! gets once less than its capacity is admitted and the backlog is worked
//! off. The larger of the two shares is shed. Once the pool has idled,
//! the nodes' costs are learnt from ended busy cycles again, and the
//! projection's share, now seeing past 1.0, takes over.
//!
//! That share falls on new clients first: with `f` the share of answers
//! that went to new clients over the last tick, new clients are shed with
//! probability `min(1, share / f)`, and clients whose sticky cookie pins
//! them only with what is left over. The request path reads two atomics
//! and, while shedding, draws one random number.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// How often the controller looks at the pool.
pub const EVERY: Duration = Duration::from_millis(100);

/// The most ever shed: some clients always go through.
const MAX_SHARE: f64 = 0.95;

/// A reported figure at or above this (of 1.0) says the node had no idle
/// moment since its previous report: it may hide a queue.
pub const FULL: f64 = 0.99;

/// How much the integral share rises per tick while the whole pool is
/// full: 0.2 a second, so ρ = 1.5's third is reached in under 2 s. It
/// overshoots about as far whatever the pace (the backlog built while it
/// climbs holds the pool full while it drains), so a quicker climb only
/// builds a smaller backlog.
const RISE: f64 = 0.02;

/// How much it falls per tick otherwise: slower than it rises, so that
/// the backlog built while it climbed is worked off before it gives way.
const FALL: f64 = 0.01;

/// What the controller reads of the pool's eligible backends each tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The least projected load (1.0 = fully busy).
    pub least: f64,
    /// Whether every one reports a figure of at least [`FULL`].
    pub full: bool,
}

/// The request path's view of shedding.
#[derive(Debug, Default)]
pub struct Shedder {
    on: AtomicBool,
    /// Probability of shedding a new client, as `f64` bits.
    new: AtomicU64,
    /// Probability of shedding a client pinned by its cookie.
    pinned: AtomicU64,
    /// Answers to each kind since the last update, counted while on.
    seen_new: AtomicU64,
    seen_pinned: AtomicU64,
    /// The integral share, as `f64` bits; only the controller writes it.
    held: AtomicU64,
}

// === impl Shedder ===

impl Shedder {
    /// Whether to shed a client on its way to a backend; `pinned` when its
    /// sticky cookie chose the backend.
    #[inline]
    pub fn shed(&self, pinned: bool) -> bool {
        if !self.on.load(Ordering::Relaxed) {
            return false;
        }
        let (seen, probability) = match pinned {
            true => (&self.seen_pinned, &self.pinned),
            false => (&self.seen_new, &self.new),
        };
        seen.fetch_add(1, Ordering::Relaxed);
        let probability = f64::from_bits(probability.load(Ordering::Relaxed));
        probability > 0.0 && rand::random::<f64>() < probability
    }

    /// Sets the probabilities for the next tick: off unless `on`, else for
    /// the pool's `reading` (`None`: no eligible backend), split by the mix
    /// of clients since the last update. Returns the share of all answers
    /// now shed.
    pub fn update(&self, on: bool, reading: Option<Reading>) -> f64 {
        let new = self.seen_new.swap(0, Ordering::Relaxed);
        let pinned = self.seen_pinned.swap(0, Ordering::Relaxed);
        let held = f64::from_bits(self.held.load(Ordering::Relaxed));
        let held = if on { hold(held, reading) } else { 0.0 };
        self.held.store(held.to_bits(), Ordering::Relaxed);
        let least = reading.map(|r| r.least);
        let share = if on { share(least).max(held) } else { 0.0 };
        let (p_new, p_pinned) = split(share, new, pinned);
        self.new.store(p_new.to_bits(), Ordering::Relaxed);
        self.pinned.store(p_pinned.to_bits(), Ordering::Relaxed);
        self.on.store(on, Ordering::Relaxed);
        share
    }
}

/// The share of answers to shed when the least-loaded eligible backend is
/// projected at `least`: what brings the admitted load back to capacity.
pub fn share(least: Option<f64>) -> f64 {
    match least {
        Some(load) if load > 1.0 => (1.0 - 1.0 / load).min(MAX_SHARE),
        _ => 0.0,
    }
}

/// The integral share after one tick at `reading`, from `held`: up by
/// [`RISE`] while every eligible backend is full, else down by [`FALL`].
pub fn hold(held: f64, reading: Option<Reading>) -> f64 {
    match reading {
        Some(Reading { full: true, .. }) => (held + RISE).min(MAX_SHARE),
        _ => (held - FALL).max(0.0),
    }
}

/// Splits `share` between new and pinned clients, new ones first, given
/// how many of each came lately: (probability for new, for pinned).
pub fn split(share: f64, new: u64, pinned: u64) -> (f64, f64) {
    let total = new + pinned;
    if total == 0 || pinned == 0 {
        return (share, 0.0);
    }
    let f_new = new as f64 / total as f64;
    if share <= f_new {
        (share / f_new, 0.0)
    } else {
        (1.0, (share - f_new) / (1.0 - f_new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_grows_with_the_overload_and_is_capped() {
        for (least, want) in [
            (None, 0.0),
            (Some(0.5), 0.0),
            (Some(1.0), 0.0),
            (Some(1.25), 0.2),
            (Some(2.0), 0.5),
            (Some(4.0), 0.75),
            (Some(100.0), MAX_SHARE),
        ] {
            assert!((share(least) - want).abs() < 1e-9, "{least:?}");
        }
    }

    /// (share, new, pinned) -> (probability for new, for pinned).
    #[test]
    fn new_clients_are_shed_first() {
        for (share, new, pinned, want) in [
            (0.3, 0, 0, (0.3, 0.0)),
            (0.3, 10, 0, (0.3, 0.0)),
            (0.3, 60, 40, (0.5, 0.0)),
            (0.6, 60, 40, (1.0, 0.0)),
            (0.8, 60, 40, (1.0, 0.5)),
            (0.5, 0, 10, (1.0, 0.5)),
        ] {
            let (a, b) = split(share, new, pinned);
            let close = (a - want.0).abs() < 1e-9 && (b - want.1).abs() < 1e-9;
            assert!(close, "split({share}, {new}, {pinned}) = {:?}", (a, b));
        }
    }

    fn projected(least: f64) -> Option<Reading> {
        Some(Reading { least, full: false })
    }

    /// A pool full from the start projects about 1.0 however far over
    /// capacity it is: the share held while it stays full climbs by RISE a
    /// tick, past 1 − 1/1.5 within 2 s, and gives way by FALL a tick once
    /// a backend gets an idle moment; off forgets it.
    #[test]
    fn a_pool_that_stays_full_is_shed_more_and_more() {
        let shedder = Shedder::default();
        let full = Some(Reading {
            least: 0.97,
            full: true,
        });
        let shares: Vec<f64> = (0..20).map(|_| shedder.update(true, full)).collect();
        assert!((shares[0] - RISE).abs() < 1e-9, "{shares:?}");
        assert!(shares.windows(2).all(|w| w[1] > w[0]), "{shares:?}");
        assert!(shares[19] > 1.0 - 1.0 / 1.5, "{shares:?}");
        let after = shedder.update(true, projected(0.9));
        assert!((shares[19] - FALL - after).abs() < 1e-9);
        // The projection's share still counts when it is the larger.
        assert!((shedder.update(true, projected(4.0)) - 0.75).abs() < 1e-9);
        assert_eq!(shedder.update(false, full), 0.0);
        assert!((shedder.update(true, full) - RISE).abs() < 1e-9);
        assert_eq!(hold(MAX_SHARE, full), MAX_SHARE);
        assert_eq!(hold(0.0, None), 0.0);
    }

    #[test]
    fn off_sheds_nothing_and_on_sheds_about_the_share() {
        let shedder = Shedder::default();
        assert!(!shedder.shed(false));
        assert_eq!(shedder.update(true, projected(2.0)), 0.5);
        let shed = (0..10_000).filter(|_| shedder.shed(false)).count();
        assert!((4_000..6_000).contains(&shed), "{shed} of 10000 shed");
        // Half new, half pinned at a share of one half: every new client.
        let pinned = (0..10_000).filter(|_| shedder.shed(true)).count();
        assert_eq!(pinned, 0, "pinned clients shed before the mix was known");
        shedder.update(true, projected(2.0));
        assert!((0..1000).all(|_| shedder.shed(false)));
        assert!(!(0..1000).any(|_| shedder.shed(true)));
        assert_eq!(shedder.update(false, projected(2.0)), 0.0);
        assert!(!shedder.shed(false));
    }
}
