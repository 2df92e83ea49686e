//! Choosing a backend: one [`Strategy`] per `--strategy`, each turned into
//! a [`Picker`] when a pool snapshot is built.
//!
//! The split keeps every per-request decision O(1) (or O(log N) for the
//! hash ring) and lock-free: anything that costs O(N) — weighted tables,
//! the WRR cycle, the ring — is computed once per snapshot, and the only
//! state shared between requests is an atomic counter.
//!
//! `least-load` is a smooth weighted round robin over each node's weight ×
//! learnt capacity, overruled by load: each request's turn goes to the
//! node the cycle names unless a second candidate — drawn by the same
//! weights, always a different node — is projected lighter by more than
//! the one redirect it would add; between two busy fractions, would finish
//! a new client sooner by more than that client's own time there (with
//! reports fresher than a job, a slow node idle is no better than a fast
//! one about to be). The projection ([`crate::load`]) trusts a
//! report less as it ages, so with fresh reports the override follows load
//! like two random choices do (and beats round robin), and with old ones
//! it fades and the cycle's even, capacity-weighted spread is what is
//! left: it never degrades towards greed, and on equal nodes with stale
//! reports it *is* round robin, which is very hard to beat
//! (`bench/RESULTS.md` has the tables). Before any of that, one count
//! settles what the reports' age cannot blur: a node whose agent counted
//! more connections than its share's part of the pool's owes the
//! difference, and gives that many of its turns to the second candidate
//! ([`crate::load::PoolBacklog`]) — a bounded transfer, once per report,
//! where with old reports the cycle alone let a capacity learnt a few
//! percent high queue for minutes. `least-connections` and `fastest`
//! keep two choices between two *distinct* candidates: drawing with
//! replacement would hand a pool of three the worst node twice one pick in
//! nine.

mod alias;
mod ring;
mod wrr;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderMap;
use rand::Rng;

use crate::backend::Backend;
use crate::config::{HashKey, StrategyKind};
use crate::load::{Metric, Projection, SATURATED};
use crate::sticky::cookie;
pub use alias::AliasTable;
use alias::uniform;
pub use ring::{Ring, hash64};

/// Below this trust in the older of two reports (see
/// [`Projection::trust`]) `least-load` keeps the cycle's choice: the
/// report's remaining information is smaller than the noise of the
/// projection's other terms (`bench/RESULTS.md`).
const MIN_TRUST: f64 = 0.05;

/// With reports too old to trust, a saturated node's pick goes to another
/// saturated node only if that one is projected lighter by this much (half
/// a node's full load), not by one redirect's cost. Both projections are
/// then backlog estimates, each off by more than a redirect, and the small
/// margin funnelled the overflow of every saturated node onto whichever
/// looked lightest: a slow node of a 4:1 pool was sent more than its share
/// and queued 674 jobs while its peers drained. Long simulated runs,
/// seeds 1 and 2: busy-fraction misses 72 / 67 → 69 / 51 of 720 checks, equal
/// pools at 97% load with reports 100 service times old 1.46 → 1.03 and
/// 2.14 → 0.95 × round robin; queue-length reports' excess over the goal
/// down by a third; margins of 0.25 and 1 did as well (`bench/RESULTS.md`,
/// ninth session).
const STALE_BACKLOG_MARGIN: f64 = 0.5;

/// ... but only this much (a tenth of a node's full load) where both
/// figures read as busy fractions ([`Backend::reads_busy`]) and both
/// backlogs are counted from the nodes' connections
/// ([`Backend::counts_backlog`]): a count is off by no more than the jobs
/// that came and went between two reports, and half a node's margin kept
/// the slow node of a 4:1 pool a job or two above its share for whole
/// saturated runs. Long simulated runs, busy fractions, seeds 1–6: misses
/// 39 → 34 of 4 320 checks, Σ excess over the goals 7.9 → 6.9, all at
/// T = 25–100 service times; queue-shaped figures, which a 0.1 margin for
/// every pair made worse (seeds 1–2, misses 113 → 118), identical
/// (`bench/RESULTS.md`, twentieth session).
const STALE_COUNTED_MARGIN: f64 = 0.1;

/// With reports too old to trust, a saturated node whose figure reads as a
/// busy fraction ([`Backend::reads_busy`]) gives its pick to an
/// unsaturated one only if that one is projected lighter by this much (a
/// tenth of a node's full load): a backlog it was sent on top of its
/// report, not the report's 100% alone. At 97% load such nodes read
/// saturated by chance one report in two, and each, its projection a hair
/// over the pool's mean, gave its cycle's turns away for a whole report
/// interval, flooding the others in turn: a 4:1 pool of eight read 1.5–1.9
/// × oracle WRR over long runs with its capacity steps exact. A queue
/// length's 100% is a backlog, and keeps one redirect's margin
/// (`bench/RESULTS.md`, sixteenth session).
const STALE_OVERLOAD_MARGIN: f64 = 0.1;

/// The configured strategy, with the state that must outlive snapshots.
#[derive(Debug, Clone)]
pub enum Strategy {
    /// Smooth WRR by weight × learnt capacity, overruled by projected CPU
    /// load; the counter outlives snapshots.
    LeastLoad(Arc<AtomicUsize>),
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

/// A strategy's tables for one snapshot.
#[derive(Debug)]
pub enum Picker {
    /// `least-load`: the cycle's node unless a distinct candidate drawn
    /// from `table` is projected lighter (sooner done, between busy
    /// fractions) by more than one redirect.
    LeastLoad {
        /// Shared turn counter.
        next: Arc<AtomicUsize>,
        /// Backend indexes interleaved by weight × ramp × capacity.
        cycle: Vec<u32>,
        /// The same weights, for the second candidate.
        table: AliasTable,
        /// The pool's mean reported figure, which old reports fade to.
        mean: f64,
    },
    /// The lighter of two distinct candidates drawn from `table`, by
    /// projected figure per unit of weight.
    TwoChoices {
        /// Draw weights.
        table: AliasTable,
    },
    /// One draw from `table`.
    Random {
        /// Draw weights.
        table: AliasTable,
    },
    /// `next % n`.
    RoundRobin {
        /// Shared turn counter.
        next: Arc<AtomicUsize>,
    },
    /// `cycle[next % len]`.
    Cycle {
        /// Shared turn counter.
        next: Arc<AtomicUsize>,
        /// Backend indexes interleaved by weight.
        cycle: Vec<u32>,
    },
    /// Ring lookup of the request's key.
    Hash {
        /// Built on steady weights: ramps never move a key.
        ring: Ring,
        /// What is hashed.
        key: HashKey,
    },
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
            StrategyKind::LeastLoad => Strategy::LeastLoad(Arc::default()),
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
            Strategy::LeastLoad(_) => "least-load",
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
        let weights = || {
            backends
                .iter()
                .map(Backend::draw_weight)
                .collect::<Vec<_>>()
        };
        let ring = || Ring::new(backends.iter().map(|b| (&*b.id, b.weight)));
        match self {
            Strategy::LeastLoad(next) => {
                let shares: Vec<f64> = backends
                    .iter()
                    .map(|b| b.draw_weight() * b.capacity)
                    .collect();
                let bases = backends.iter().map(|b| b.load.projection().base);
                Picker::LeastLoad {
                    next: next.clone(),
                    cycle: wrr::cycle(&shares),
                    table: AliasTable::new(&shares),
                    mean: bases.sum::<f64>() / backends.len().max(1) as f64,
                }
            }
            Strategy::LeastConnections | Strategy::Fastest => Picker::TwoChoices {
                table: AliasTable::new(&weights()),
            },
            Strategy::Random => Picker::Random {
                table: AliasTable::new(&weights()),
            },
            Strategy::RoundRobin(next) => Picker::RoundRobin { next: next.clone() },
            Strategy::WeightedRoundRobin(next) => Picker::Cycle {
                next: next.clone(),
                cycle: wrr::cycle(&weights()),
            },
            Strategy::IpHash => Picker::Hash {
                ring: ring(),
                key: HashKey::ClientIp,
            },
            Strategy::ConsistentHash(key) => Picker::Hash {
                ring: ring(),
                key: key.clone(),
            },
        }
    }
}

// === impl Picker ===

impl Picker {
    /// Chooses one of `backends` for `request` at `now` (seconds since the
    /// pool's epoch).
    #[inline]
    pub fn pick<'p, R: Rng + ?Sized>(
        &self,
        backends: &'p [Backend],
        request: &Request<'_>,
        now: f64,
        rng: &mut R,
    ) -> Option<&'p Backend> {
        if backends.is_empty() {
            return None;
        }
        let turn = |next: &AtomicUsize, len: usize| next.fetch_add(1, Ordering::Relaxed) % len;
        let index = match self {
            Picker::LeastLoad {
                next,
                cycle,
                table,
                mean,
            } => {
                let first = cycle[turn(next, cycle.len())] as usize;
                overrule(backends, first, table, now, *mean, rng)
            }
            Picker::TwoChoices { table } => two_choices(backends, table, now, rng),
            Picker::Random { table } => table.draw(rng),
            Picker::RoundRobin { next } => turn(next, backends.len()),
            Picker::Cycle { next, cycle } => cycle[turn(next, cycle.len())] as usize,
            Picker::Hash { ring, key } => ring.lookup(key_hash(key, request))?,
        };
        backends.get(index)
    }
}

/// `first`, unless a distinct candidate drawn from `table` is projected
/// lighter by more than the one redirect it would be sent (or `first`
/// owes turns and the candidate does not) — where both
/// figures read as busy fractions ([`Backend::reads_busy`]), unless it
/// would finish a new client sooner, in time at each node's own speed
/// ([`Projection::time_per_load`]), by more than the client's own time
/// there ([`Projection::job`]); once reports are old, only if `first`
/// reported saturated, and projected lighter by more than
/// [`STALE_BACKLOG_MARGIN`] ([`STALE_COUNTED_MARGIN`] between busy
/// fractions with counted backlogs) towards another saturated node, or
/// [`STALE_OVERLOAD_MARGIN`] from one whose figure reads as a busy
/// fraction.
#[inline]
fn overrule<R: Rng + ?Sized>(
    backends: &[Backend],
    first: usize,
    table: &AliasTable,
    now: f64,
    mean: f64,
    rng: &mut R,
) -> usize {
    if backends.len() < 2 {
        return first;
    }
    let other = distinct(table, first, backends.len(), rng);
    // A backlog past the node's share of the pool's is repaid first, one
    // turn at a time, whatever the reports' age.
    if backends[first].load.owes_turns()
        && !backends[other].load.owes_turns()
        && backends[first].load.repay_turn()
    {
        return other;
    }
    let (ours, theirs) = (
        backends[first].load.projection(),
        backends[other].load.projection(),
    );
    // Reports this old say nothing the cycle does not already know —
    // unless the cycle's node reported itself saturated: an overload
    // persists, and its backlog is projected from what was sent, not from
    // the report's age. Towards another saturated node, only on a clear
    // difference of backlogs.
    // Each trust is an `exp`, computed once for both uses.
    let trusts = (ours.trust(now), theirs.trust(now));
    let stale = trusts.0.min(trusts.1) < MIN_TRUST;
    let load =
        |b: &Backend, p: Projection, trust| p.load_trusting(b.load.redirects(), now, mean, trust);
    let margin = match (ours.base >= SATURATED, theirs.base >= SATURATED) {
        (false, _) if stale => return first,
        (true, true) if stale => {
            let counted = |b: &Backend| b.reads_busy && b.counts_backlog;
            if counted(&backends[first]) && counted(&backends[other]) {
                STALE_COUNTED_MARGIN
            } else {
                STALE_BACKLOG_MARGIN
            }
        }
        (true, false) if stale && backends[first].reads_busy => STALE_OVERLOAD_MARGIN,
        // Two busy fractions compare by when each would finish a new
        // client: with reports fresher than a job, one redirect moves a
        // slow node's report as far as a fast one's, and a slow node idle
        // is no better than a fast one about to be.
        _ if backends[first].reads_busy && backends[other].reads_busy => {
            let sooner = load(&backends[first], ours, trusts.0) * ours.time_per_load()
                - load(&backends[other], theirs, trusts.1) * theirs.time_per_load();
            return if sooner > theirs.job { other } else { first };
        }
        _ => theirs.cost,
    };
    if load(&backends[first], ours, trusts.0) - load(&backends[other], theirs, trusts.1) > margin {
        other
    } else {
        first
    }
}

/// Power of two choices between two distinct candidates drawn from `table`:
/// the one with less projected load per unit of weight; ties keep the
/// first.
#[inline]
fn two_choices<R: Rng + ?Sized>(
    backends: &[Backend],
    table: &AliasTable,
    now: f64,
    rng: &mut R,
) -> usize {
    let a = table.draw(rng);
    if backends.len() < 2 {
        return a;
    }
    let b = distinct(table, a, backends.len(), rng);
    let score = |i: usize| {
        let backend = &backends[i];
        backend.projected(now, 0.0) / backend.draw_weight()
    };
    if score(b) < score(a) { b } else { a }
}

/// A draw from `table` other than `first` (of `n` ≥ 2): a second draw by
/// weight, else a uniform pick among the others, so two candidates are
/// always two nodes.
#[inline]
fn distinct<R: Rng + ?Sized>(table: &AliasTable, first: usize, n: usize, rng: &mut R) -> usize {
    let drawn = table.draw(rng);
    if drawn != first {
        return drawn;
    }
    (first + 1 + uniform(rng.next_u64() >> 32, n - 1)) % n
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

#[cfg(test)]
mod tests;
