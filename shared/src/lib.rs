//! # signpost-shared: the protocol on one page
//!
//! signpost balances clients over backends by HTTP redirect. An **agent** on
//! each backend samples its node and publishes a [`LoadReport`]:
//!
//! ```json
//! { "node_id": "web-1", "url": "http://10.0.0.11:8000",
//!   "cpu_percent": 37.5, "mem_percent": 61.2, "load1": 0.82, "cores": 4,
//!   "connections": 118, "weight": 1.0, "state": "ready", "healthy": true,
//!   "seq": 4411, "sampled_at_ms": 1763700000000, "agent_version": "0.1.0" }
//! ```
//!
//! The **dispatcher** learns reports two ways: it polls `GET` [`api::LOAD`] on
//! the agent (pull), or the agent `POST`s to [`api::REPORT`] on the
//! dispatcher's control listener with `Authorization: Bearer <token>` (push).
//!
//! Rules both sides rely on:
//! - percentages are 0–100 (a little rounding slack is clamped away); NaN,
//!   negatives, a `url` that is not a plain http(s) base URL written as it must
//!   appear in a `Location`, and an unknown `state` are
//!   refused with a [`ReportError`] that names the field;
//! - `healthy` defaults to true, `weight` to 1, `state` to `ready`;
//! - `seq` grows with every sample so replays and reordered pushes are
//!   dropped; 0 means unsequenced;
//! - staleness is judged by the dispatcher's clock at receipt, never by
//!   `sampled_at_ms`;
//! - the seed-style `{"cpu": 12.0, "memory": 40.0, "timestamp": 1763700000.1}`
//!   is accepted from polled endpoints, so a five-line psutil agent works.
//!
//! This crate does no I/O: it is the vocabulary, not the conversation.

pub mod api;
mod base_url;
pub mod exposition;
mod report;

pub use api::{
    BackendState, BackendView, DashboardView, Dispatch, Health, MAKE_TOKEN, MAX_REPORT_BYTES,
    MIN_TOKEN_LEN, PLACEHOLDER, bearer_matches, is_placeholder,
};
pub use report::{
    LoadReport, MAX_AGENT_VERSION_LEN, MAX_NODE_ID_LEN, MAX_REPORT_KEYS, MAX_URL_LEN, MAX_WEIGHT,
    NodeState, PERCENT_SLACK, ReportError, validate_node_id, validate_url,
};

/// The version every signpost binary reports, taken from the workspace.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
