//! A backend as one pool snapshot freezes it, and the registry's answer to
//! "who may take clients now". Both sit below `pool` and `select`, which
//! read them, and above nothing but `load` and `sticky`.

use std::sync::Arc;

use tokio::time::Instant;

use crate::load::{NodeLoad, Projection};
use crate::sticky::PinCookie;

/// A backend a client may be sent to, as frozen in one snapshot.
#[derive(Debug, Clone)]
pub struct Backend {
    /// The node id.
    pub id: Arc<str>,
    /// Base URL without a trailing `/`: the `Location` is this plus the
    /// request's path and query.
    pub base_url: Arc<str>,
    /// Static × reported weight, halved under memory pressure, > 0: the
    /// weight hash rings are built on, so a pin never moves while it and
    /// the membership stay the same.
    pub weight: f64,
    /// Share of `weight` a slow-starting node has ramped up to, in (0, 1]:
    /// it shapes how many *new* clients the node gets, nothing else.
    pub ramp: f64,
    /// Learnt capacity relative to the pool (1 until learnt; `least-load`
    /// only).
    pub capacity: f64,
    /// The node's redirect counter and load projection, shared by every
    /// snapshot.
    pub load: Arc<NodeLoad>,
    /// Whether the node's figure reads as a busy fraction, whose 100% says
    /// nothing of a backlog: at 97% load such a node reads saturated by
    /// chance (`least-load` only; see `select`).
    pub reads_busy: bool,
    /// Whether a saturated report's backlog is counted from the node's
    /// connections, not reckoned from its busy time (`least-load` only;
    /// see `select`).
    pub counts_backlog: bool,
    /// The sticky cookie naming this backend, when cookies are on.
    pub pin: Option<Arc<PinCookie>>,
}

/// The registry's answer to "who may take clients now".
#[derive(Debug, Default)]
pub struct Members {
    /// Eligible primaries, or eligible backups while no primary is.
    pub active: Vec<Backend>,
    /// Draining nodes: they keep pinned clients only.
    pub draining: Vec<Backend>,
    /// True when `active` holds backups.
    pub on_backups: bool,
    /// The instant projections count their seconds from (`None` before the
    /// registry has seen a report).
    pub epoch: Option<Instant>,
}

// === impl Backend ===

impl Backend {
    /// A backend of `weight` with no ramp and no learnt capacity, projecting
    /// `projection`: for tests and benches that build pools by hand.
    pub fn new(id: &str, base_url: &str, weight: f64, projection: Projection) -> Self {
        Backend {
            id: id.into(),
            base_url: base_url.into(),
            weight,
            ramp: 1.0,
            capacity: 1.0,
            load: Arc::new(NodeLoad::new(projection)),
            reads_busy: false,
            counts_backlog: false,
            pin: None,
        }
    }

    /// The share of new clients this backend is drawn for: weight × ramp.
    #[inline]
    pub fn draw_weight(&self) -> f64 {
        self.weight * self.ramp
    }

    /// The projected load at `now` (seconds since the epoch) against the
    /// pool's `mean`.
    #[inline]
    pub fn projected(&self, now: f64, mean: f64) -> f64 {
        self.load.load(now, mean)
    }
}
