//! The per-client rate limit: GCRA (the "generic cell rate algorithm" of
//! ATM networks, which governor and redis-cell use) over a fixed-size,
//! lock-free table.
//!
//! GCRA keeps one number per client, its theoretical arrival time (TAT):
//! when its next request would be on schedule. A request at `now` moves it
//! to `max(TAT, now) + interval` and is allowed when that lands at most
//! `burst × interval` ahead of `now`. So a client idle long enough may send
//! `burst` requests at once, then one per `interval`.
//!
//! The table is allocated once, `slots × 8` bytes, and never grows: a spray
//! of a million addresses costs nothing more. It is 4-way set-associative:
//! a client hashes (with a per-process random seed, so an attacker cannot
//! aim at one set) to a set of 4 slots, and each slot is one `AtomicU64`
//! holding a 16-bit tag of the client's hash and its 48-bit TAT in
//! microseconds since the limiter started (8.9 years). One compare-and-swap
//! updates it; no lock, no allocation. A client not in its set takes the
//! slot whose TAT is earliest: an expired one if any (which forgets
//! nothing, as an expired TAT means a full burst anyway), else a live one,
//! which is counted as an eviction: that client then gets a fresh burst.
//! Evictions make the limit more lenient, never stricter, and say the table
//! is too small for the traffic. Two clients whose hashes agree on set and
//! tag (1 in 65536 per set) share a budget.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::RateLimitConfig;

/// Slots per set.
const WAYS: usize = 4;
/// Bits of a slot holding the TAT; the rest hold the tag.
const TAT_BITS: u32 = 48;
const TAT_MASK: u64 = (1 << TAT_BITS) - 1;

/// What the limit says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit; `evicted` when making room forgot a client that
    /// still owed time.
    Allowed {
        /// A live client was forgotten to track this one.
        evicted: bool,
    },
    /// Over the limit: the client may retry after this long.
    Limited(Duration),
}

/// A fixed-size table of clients' TATs.
#[derive(Debug)]
pub struct RateLimiter {
    slots: Box<[AtomicU64]>,
    /// Number of sets minus one (a power of two minus one).
    set_mask: u64,
    seed: u64,
    interval_us: u64,
    tolerance_us: u64,
    epoch: Instant,
    config: RateLimitConfig,
}

// === impl RateLimiter ===

impl RateLimiter {
    /// An empty table for `config`, counting time from `epoch`, hashing
    /// with `seed` (random in production, fixed in tests). The slot count
    /// is rounded down to a power of two (and at least one set).
    pub fn new(config: &RateLimitConfig, epoch: Instant, seed: u64) -> Self {
        let sets = prev_power_of_two((config.table / WAYS).max(1));
        let slots = (0..sets * WAYS).map(|_| AtomicU64::new(0)).collect();
        let interval_us = (config.rate.interval().as_micros() as u64).max(1);
        RateLimiter {
            slots,
            set_mask: sets as u64 - 1,
            seed,
            interval_us,
            tolerance_us: interval_us.saturating_mul(u64::from(config.burst)),
            epoch,
            config: config.clone(),
        }
    }

    /// The settings this table was built for.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Bytes the table holds, allocated at start.
    pub fn table_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }

    /// Counts one request of `client` at `now` against its budget.
    pub fn check(&self, client: IpAddr, now: Instant) -> Verdict {
        let hash = mix(client_key(client) ^ self.seed);
        let set = (hash & self.set_mask) as usize * WAYS;
        let tag = hash >> TAT_BITS;
        let now = self.micros(now);
        let ways = &self.slots[set..set + WAYS];
        let (slot, mut current) = match ways.iter().find_map(|slot| {
            let value = slot.load(Ordering::Acquire);
            (value >> TAT_BITS == tag).then_some((slot, value))
        }) {
            Some(found) => found,
            None => victim(ways),
        };
        let evicted = current >> TAT_BITS != tag && current & TAT_MASK > now;
        loop {
            let tat = match current >> TAT_BITS == tag {
                true => current & TAT_MASK,
                false => 0,
            };
            let next = tat.max(now) + self.interval_us;
            if next - now > self.tolerance_us {
                return Verdict::Limited(Duration::from_micros(next - self.tolerance_us - now));
            }
            let packed = tag << TAT_BITS | next;
            match slot.compare_exchange_weak(current, packed, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Verdict::Allowed { evicted },
                Err(now_there) => current = now_there,
            }
        }
    }

    /// `now` in microseconds since the epoch, kept where a TAT plus a
    /// burst still fits in its bits.
    fn micros(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.epoch).as_micros() as u64;
        since.min(TAT_MASK - self.tolerance_us - self.interval_us)
    }
}

/// Whole seconds to wait, rounded up (a `Retry-After` of 0 would invite
/// an immediate retry that is refused again).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_micros().div_ceil(1_000_000).max(1) as u64
}

/// Who a client is, for the limit: an IPv4 address (IPv4-mapped IPv6
/// included), or an IPv6 /64, since one host commonly holds a whole /64.
pub fn client_key(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => 1 << 32 | u64::from(u32::from(v4)),
        IpAddr::V6(v6) => (u128::from(v6) >> 64) as u64,
    }
}

/// The slot with the earliest TAT, and its value.
fn victim(ways: &[AtomicU64]) -> (&AtomicU64, u64) {
    let loaded = ways.iter().map(|slot| (slot, slot.load(Ordering::Acquire)));
    loaded
        .min_by_key(|(_, value)| value & TAT_MASK)
        .expect("a set has slots")
}

/// splitmix64's finaliser: every input bit moves every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn prev_power_of_two(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: &str, burst: u32, table: usize, t0: Instant) -> RateLimiter {
        let config = RateLimitConfig {
            rate: rate.parse().unwrap(),
            burst,
            status: 429,
            dry_run: false,
            table,
        };
        RateLimiter::new(&config, t0, 42)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const OK: Verdict = Verdict::Allowed { evicted: false };

    #[test]
    fn a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let limit = limiter("10/s", 3, 1024, t0);
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(limit.check(a, t0), OK);
        }
        assert_eq!(
            limit.check(a, t0),
            Verdict::Limited(Duration::from_millis(100))
        );
        let t1 = t0 + Duration::from_millis(40);
        assert_eq!(
            limit.check(a, t1),
            Verdict::Limited(Duration::from_millis(60))
        );
        // 100 ms on, one more request is due; a refused one cost nothing.
        let t2 = t0 + Duration::from_millis(100);
        assert_eq!(limit.check(a, t2), OK);
        assert!(matches!(limit.check(a, t2), Verdict::Limited(_)));
        // Idle for a full burst's worth: the whole burst again.
        let t3 = t2 + Duration::from_millis(300);
        for _ in 0..3 {
            assert_eq!(limit.check(a, t3), OK);
        }
    }

    #[test]
    fn clients_are_independent_and_ipv6_counts_by_64() {
        let t0 = Instant::now();
        let limit = limiter("1/m", 1, 1024, t0);
        assert_eq!(limit.check(ip("192.0.2.1"), t0), OK);
        assert_eq!(limit.check(ip("192.0.2.2"), t0), OK);
        assert_eq!(limit.check(ip("::ffff:192.0.2.3"), t0), OK);
        assert!(matches!(
            limit.check(ip("192.0.2.3"), t0),
            Verdict::Limited(_)
        ));
        assert_eq!(limit.check(ip("2001:db8:0:1::1"), t0), OK);
        let same_64 = limit.check(ip("2001:db8:0:1:ffff::2"), t0);
        assert_eq!(same_64, Verdict::Limited(Duration::from_secs(60)));
        assert_eq!(limit.check(ip("2001:db8:0:2::1"), t0), OK);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        for (wait_ms, secs) in [(1, 1), (999, 1), (1000, 1), (1001, 2), (59_500, 60)] {
            assert_eq!(retry_after_secs(Duration::from_millis(wait_ms)), secs);
        }
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    /// A spray of distinct clients never grows the table; it evicts, and
    /// a client that keeps coming back within its set's churn is still
    /// limited.
    #[test]
    fn a_spray_stays_within_the_table_and_evicts() {
        let t0 = Instant::now();
        let limit = limiter("1/h", 1, 1024, t0);
        assert_eq!(limit.table_bytes(), 1024 * 8);
        let mut evictions = 0;
        for i in 0..100_000u32 {
            let client = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            match limit.check(client, t0) {
                Verdict::Allowed { evicted } => evictions += usize::from(evicted),
                Verdict::Limited(_) => {}
            }
        }
        assert_eq!(limit.table_bytes(), 1024 * 8);
        assert!(evictions >= 100_000 - 1024 - 100, "{evictions} evictions");
    }

    #[test]
    fn expired_slots_are_reused_without_counting_an_eviction() {
        let t0 = Instant::now();
        let limit = limiter("10/s", 1, 1024, t0);
        for i in 0..5000u32 {
            let client = IpAddr::V4(std::net::Ipv4Addr::from(i));
            let now = t0 + Duration::from_millis(u64::from(i) * 100);
            assert_eq!(limit.check(client, now), OK);
        }
    }

    #[test]
    fn the_table_rounds_down_to_whole_sets() {
        let t0 = Instant::now();
        assert_eq!(limiter("1/s", 1, 1024, t0).table_bytes(), 8192);
        assert_eq!(limiter("1/s", 1, 100_000, t0).table_bytes(), 65536 * 8);
    }
}
