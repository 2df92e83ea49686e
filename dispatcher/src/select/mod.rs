//! Choosing a backend: one [`Strategy`] per `--strategy`, each turned into
//! a [`Picker`] when a pool snapshot is built.
//!
//! The split keeps every per-request decision O(1) (or O(log N) for the
//! hash ring) and lock-free: anything that costs O(N) — weighted tables,
//! the WRR cycle, the ring — is computed once per snapshot, and the only
//! state shared between requests is an atomic counter.
//!
//! `least-load` draws two candidates in proportion to weight × headroom and
//! keeps the one with the lower projected load per unit of weight (power of
//! two choices). Pure arg-min over reports that are up to a second old
//! sends every client to the same node; two random choices plus projection
//! (see [`crate::load`]) does not herd and still follows load. When even
//! the better candidate is projected at full load, the pair told nothing
//! apart (CPU saturates at 100% however long the queue), so one more pair
//! is drawn. `bench/` simulates the choice; `bench/RESULTS.md` has numbers.

mod alias;
mod ring;
mod wrr;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderMap;
use rand::Rng;

use crate::config::{HashKey, StrategyKind};
use crate::pool::Backend;
pub use alias::AliasTable;
pub use ring::{Ring, hash64};

/// Headroom never counts as less than this when drawing candidates, so a
/// node reported at 100% still gets probed and can show it recovered. Small,
/// so that fresh reports find the few idle nodes of a busy pool: 0.05 left
/// one pick in ten on a saturated node at 90% load (`bench/RESULTS.md`).
const HEADROOM_FLOOR: f64 = 0.02;

/// A projected CPU load at which a candidate is full: a pair of such
/// candidates gets a second chance in [`two_choices`].
const FULL_LOAD: f64 = 1.0;

/// The configured strategy, with the state that must outlive snapshots.
#[derive(Debug, Clone)]
pub enum Strategy {
    /// Power of two choices on projected CPU load, drawn by weight × headroom.
    LeastLoad,
    /// Each backend in turn.
    RoundRobin(Arc<AtomicUsize>),
    /// Smooth weighted rotation (nginx-style interleaving).
    WeightedRoundRobin(Arc<AtomicUsize>),
    /// Weighted random.
    Random,
    /// Power of two choices on projected agent-reported connections.
    LeastConnections,
    /// Power of two choices on health-check latency.
    Fastest,
    /// Consistent hash of the client address.
    IpHash,
    /// Consistent hash of a configured key.
    ConsistentHash(HashKey),
}

/// Which report figure a strategy compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// CPU utilisation, 0–1.
    Cpu,
    /// Established connections.
    Connections,
    /// Health-check latency, in seconds.
    Latency,
}

/// A strategy's tables for one snapshot.
#[derive(Debug)]
pub enum Picker {
    /// Two choices among candidates drawn from the table; a second pair
    /// when the better one is projected at or above the given load.
    TwoChoices(AliasTable, f64),
    /// One draw from the table.
    Random(AliasTable),
    /// `counter % n`.
    RoundRobin(Arc<AtomicUsize>),
    /// `cycle[counter % len]`.
    Cycle(Arc<AtomicUsize>, Vec<u32>),
    /// Ring lookup of the request's key.
    Hash(Ring, HashKey),
}

/// What a strategy may look at in a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The client's address.
    pub client: IpAddr,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

// === impl Strategy ===

impl Strategy {
    /// The strategy for a configured kind.
    pub fn new(kind: StrategyKind, hash_key: &HashKey) -> Self {
        match kind {
            StrategyKind::LeastLoad => Strategy::LeastLoad,
            StrategyKind::RoundRobin => Strategy::RoundRobin(Arc::default()),
            StrategyKind::WeightedRoundRobin => Strategy::WeightedRoundRobin(Arc::default()),
            StrategyKind::Random => Strategy::Random,
            StrategyKind::LeastConnections => Strategy::LeastConnections,
            StrategyKind::IpHash => Strategy::IpHash,
            StrategyKind::ConsistentHash => Strategy::ConsistentHash(hash_key.clone()),
            StrategyKind::Fastest => Strategy::Fastest,
        }
    }

    /// The `--strategy` name, for the dashboard.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::LeastLoad => "least-load",
            Strategy::RoundRobin(_) => "round-robin",
            Strategy::WeightedRoundRobin(_) => "weighted-round-robin",
            Strategy::Random => "random",
            Strategy::LeastConnections => "least-connections",
            Strategy::Fastest => "fastest",
            Strategy::IpHash => "ip-hash",
            Strategy::ConsistentHash(_) => "consistent-hash",
        }
    }

    /// The report figure this strategy projects and compares.
    pub fn metric(&self) -> Metric {
        match self {
            Strategy::LeastConnections => Metric::Connections,
            Strategy::Fastest => Metric::Latency,
            _ => Metric::Cpu,
        }
    }

    /// Builds the tables for one snapshot of `backends`.
    pub fn prepare(&self, backends: &[Backend]) -> Picker {
        let weights = || backends.iter().map(|b| b.weight).collect::<Vec<_>>();
        let ring = || Ring::new(backends.iter().map(|b| (&*b.id, b.weight)));
        match self {
            Strategy::LeastLoad => {
                let draw: Vec<f64> = backends
                    .iter()
                    .map(|b| b.weight * (1.0 - b.projection().base).max(HEADROOM_FLOOR))
                    .collect();
                Picker::TwoChoices(AliasTable::new(&draw), FULL_LOAD)
            }
            Strategy::LeastConnections | Strategy::Fastest => {
                Picker::TwoChoices(AliasTable::new(&weights()), f64::INFINITY)
            }
            Strategy::Random => Picker::Random(AliasTable::new(&weights())),
            Strategy::RoundRobin(next) => Picker::RoundRobin(next.clone()),
            Strategy::WeightedRoundRobin(next) => {
                Picker::Cycle(next.clone(), wrr::cycle(&weights()))
            }
            Strategy::IpHash => Picker::Hash(ring(), HashKey::ClientIp),
            Strategy::ConsistentHash(key) => Picker::Hash(ring(), key.clone()),
        }
    }
}

// === impl Picker ===

impl Picker {
    /// Chooses one of `backends` for `request`.
    #[inline]
    pub fn pick<'p, R: Rng + ?Sized>(
        &self,
        backends: &'p [Backend],
        request: &Request<'_>,
        rng: &mut R,
    ) -> Option<&'p Backend> {
        if backends.is_empty() {
            return None;
        }
        let index = match self {
            Picker::TwoChoices(table, full) => two_choices(backends, table, *full, rng),
            Picker::Random(table) => table.draw(rng),
            Picker::RoundRobin(next) => next.fetch_add(1, Ordering::Relaxed) % backends.len(),
            Picker::Cycle(next, cycle) => {
                cycle[next.fetch_add(1, Ordering::Relaxed) % cycle.len()] as usize
            }
            Picker::Hash(ring, key) => ring.lookup(key_hash(key, request))?,
        };
        backends.get(index)
    }
}

/// Power of two choices with one second chance: the better of two drawn
/// candidates, unless even that one is projected at or above `full` — then
/// the better of it and the winner of a second pair. At most four draws.
#[inline]
fn two_choices<R: Rng + ?Sized>(
    backends: &[Backend],
    table: &AliasTable,
    full: f64,
    rng: &mut R,
) -> usize {
    let first = better_of_two(backends, table, rng);
    if backends[first].projected() < full {
        return first;
    }
    let second = better_of_two(backends, table, rng);
    if score(backends, second) < score(backends, first) {
        second
    } else {
        first
    }
}

/// Draws two candidates and keeps the one with less projected load per
/// unit of weight; ties keep the first.
#[inline]
fn better_of_two<R: Rng + ?Sized>(backends: &[Backend], table: &AliasTable, rng: &mut R) -> usize {
    let a = table.draw(rng);
    let b = table.draw(rng);
    if a == b {
        return a;
    }
    if score(backends, b) < score(backends, a) {
        b
    } else {
        a
    }
}

/// Projected load per unit of weight: lower is better.
#[inline]
fn score(backends: &[Backend], i: usize) -> f64 {
    backends[i].projected() / backends[i].weight
}

/// The ring key of a request. A missing header or cookie falls back to the
/// client address, so such clients still stick somewhere stable.
fn key_hash(key: &HashKey, request: &Request<'_>) -> u64 {
    let found = match key {
        HashKey::ClientIp => None,
        HashKey::Header(name) => request.headers.get(name.as_str()).map(|v| v.as_bytes()),
        HashKey::Cookie(name) => cookie(request.headers, name),
    };
    match found {
        Some(value) => hash64(value, 0),
        None => ip_hash(request.client),
    }
}

/// The ring key of a client address.
pub fn ip_hash(client: IpAddr) -> u64 {
    match client {
        IpAddr::V4(v4) => hash64(&v4.octets(), 0),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => hash64(&v4.octets(), 0),
            None => hash64(&v6.octets(), 0),
        },
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let (key, value) = pair.split_at(pair.iter().position(|&b| b == b'=')?);
            (key == name.as_bytes()).then_some(&value[1..])
        })
}

#[cfg(test)]
mod tests;
