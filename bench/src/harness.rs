//! Building pools the way the running dispatcher does, without its
//! listeners: `Registry::members` at an explicit instant, then
//! `Pool::new` with a plain 302 answering policy and no stickiness.
//!
//! The simulator and the criterion benches share these lines, so they
//! measure exactly what the maintenance loop swaps in.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, StatusCode};
use signpost_dispatcher::config::{HashKey, HealthConfig, Sticky, StrategyKind};
use signpost_dispatcher::pool::{Policy, Pool};
use signpost_dispatcher::registry::{Registry, Settings};
use signpost_dispatcher::select::Strategy;
use tokio::time::Instant;

/// Registry rules with reports fresh for `stale_after`, no slow start and
/// no health checks: the simulator's nodes are always eligible.
pub fn settings(stale_after: Duration) -> Settings {
    Settings {
        stale_after,
        forget_after: stale_after * 2,
        mem_high_water: 85.0,
        slow_start: Duration::ZERO,
        health: HealthConfig::default(),
        max_nodes: usize::MAX,
        outlier: Default::default(),
    }
}

/// An empty registry of pushed nodes.
pub fn registry(stale_after: Duration) -> Registry {
    Registry::new(&[], settings(stale_after), None)
}

/// The strategy `kind`; consistent hashing keys on a header.
pub fn strategy(kind: StrategyKind) -> Strategy {
    let key = match kind {
        StrategyKind::ConsistentHash => HashKey::Header("x-user".into()),
        _ => HashKey::ClientIp,
    };
    Strategy::new(kind, &key)
}

/// Plain 302s, no stickiness, no trusted proxies.
pub fn policy() -> Arc<Policy> {
    Arc::new(Policy {
        redirect_code: StatusCode::FOUND,
        redirect_code_other: StatusCode::TEMPORARY_REDIRECT,
        retry_after: HeaderValue::from(1u64),
        sticky: Sticky::None,
        trusted: Vec::new(),
    })
}

/// The pool the maintenance loop would swap in at `now`.
pub fn snapshot(
    registry: &mut Registry,
    now: Instant,
    strategy: &Strategy,
    policy: &Arc<Policy>,
) -> Pool {
    let members = registry.members(now, strategy.metric());
    Pool::new(members, strategy, policy.clone())
}
