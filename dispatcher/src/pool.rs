//! The pool snapshot: an immutable picture of the backends a client may be
//! sent to, rebuilt from the registry whenever something changes and
//! swapped in atomically.
//!
//! The request path loads one `Arc<Pool>` and never takes a lock: everything
//! it reads is frozen here, except the per-backend redirect counters in
//! [`Live`], which are atomics shared by every snapshot of the same node so
//! counts survive rebuilds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;

use crate::load::Projection;
use crate::select::{Picker, Request, Strategy};

/// A backend a client may be sent to, as frozen in one snapshot.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The node id.
    pub id: Arc<str>,
    /// Base URL without a trailing `/`: the `Location` is this plus the
    /// request's path and query.
    pub base_url: Arc<str>,
    /// Effective weight (static × reported × memory pressure), > 0.
    pub weight: f64,
    /// The load the strategy compares, projected from the last report.
    pub load: Projection,
    /// Counters the request path writes.
    pub live: Arc<Live>,
}

/// Per-node counters shared by the registry and every snapshot.
#[derive(Debug, Default)]
pub struct Live {
    redirects: AtomicU64,
}

/// The immutable snapshot the request path reads.
#[derive(Debug)]
pub struct Pool {
    /// Eligible primaries, or eligible backups while no primary is.
    active: Vec<Backend>,
    /// True when `active` holds backups.
    on_backups: bool,
    /// Precomputed tables of the strategy in force.
    picker: Picker,
}

// === impl Backend ===

impl Backend {
    /// The projected load now, from the report and what was sent since.
    #[inline]
    pub fn projected(&self) -> f64 {
        self.load.at(self.live.sent()).0
    }
}

// === impl Live ===

impl Live {
    /// Redirects sent to this node since the dispatcher started.
    #[inline]
    pub fn sent(&self) -> u64 {
        self.redirects.load(Ordering::Relaxed)
    }

    /// Counts one redirect to this node.
    #[inline]
    pub fn record(&self) {
        self.redirects.fetch_add(1, Ordering::Relaxed);
    }
}

// === impl Pool ===

impl Pool {
    /// Freezes `active` with the tables `strategy` needs.
    pub fn new(active: Vec<Backend>, on_backups: bool, strategy: &Strategy) -> Self {
        let picker = strategy.prepare(&active);
        Pool {
            active,
            on_backups,
            picker,
        }
    }

    /// A pool with no backends: every request gets a 503.
    pub fn empty(strategy: &Strategy) -> Self {
        Pool::new(Vec::new(), false, strategy)
    }

    /// The backends clients may be sent to.
    pub fn backends(&self) -> &[Backend] {
        &self.active
    }

    /// True while primaries are all ineligible and backups serve.
    pub fn on_backups(&self) -> bool {
        self.on_backups
    }

    /// Chooses a backend for `request`, or `None` when the pool is empty.
    #[inline]
    pub fn pick<R: Rng + ?Sized>(&self, request: &Request<'_>, rng: &mut R) -> Option<&Backend> {
        self.picker.pick(&self.active, request, rng)
    }
}
