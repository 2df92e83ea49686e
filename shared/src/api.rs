//! HTTP paths and response bodies shared by the agent, the dispatcher and
//! their tests, so that a path or a field can only change in one place.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// Agent: the latest [`LoadReport`](crate::LoadReport), polled by dispatchers.
pub const LOAD: &str = "/load";
/// Agent and dispatcher: liveness, 200 while the process can serve.
pub const HEALTHZ: &str = "/healthz";
/// Agent: switch the reported state to `draining`.
pub const DRAIN: &str = "/drain";
/// Agent: switch the reported state back to `ready`.
pub const READY: &str = "/ready";
/// Dispatcher control listener: agents push reports here.
pub const REPORT: &str = "/v1/report";
/// Agent: `POST` the application's own load figures (loopback peers only).
pub const APP_REPORT: &str = "/v1/app-report";
/// Dispatcher control listener: the pool as JSON.
pub const DASHBOARD: &str = "/dashboard";
/// Dispatcher control listener: Prometheus text exposition.
pub const METRICS: &str = "/metrics";

/// Dispatcher control listener: one backend's dashboard entry is at
/// `/v1/backends/{id}` ([`backend_path`]); admin actions on it live under
/// `/v1/backends/{id}/{drain|ready|maintenance}` ([`admin_path`]).
pub const BACKENDS: &str = "/v1/backends";

/// Where backend `id`'s dashboard entry is served.
pub fn backend_path(id: &str) -> String {
    format!("{BACKENDS}/{id}")
}

/// The admin path that applies `action` (`drain`, `ready` or
/// `maintenance`) to backend `id`.
pub fn admin_path(id: &str, action: &str) -> String {
    format!("{BACKENDS}/{id}/{action}")
}

/// Whether an `Authorization` header value is `Bearer <token>`, compared in
/// constant time so the comparison does not leak how much of a guess was
/// right. Pushes, admin calls and the agent's drain/ready all use it.
pub fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    let presented = authorization
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    presented.as_bytes().ct_eq(token.as_bytes()).into()
}

/// The shortest token accepted where it guards a listener beyond loopback
/// (the dispatcher's control listener, the agent's `/drain` and `/ready`).
pub const MIN_TOKEN_LEN: usize = 16;

/// How every refusal of a weak secret tells the operator to make one.
pub const MAKE_TOKEN: &str = "openssl rand -hex 32";

/// Marks every placeholder secret shipped in `deploy/` (such as
/// `demo-token-change-me`).
pub const PLACEHOLDER: &str = "change-me";

/// Whether `secret` still holds a placeholder from `deploy/`: anyone who
/// read the examples knows it, so it is refused wherever it is set.
pub fn is_placeholder(secret: &str) -> bool {
    secret.to_ascii_lowercase().contains(PLACEHOLDER)
}

/// The largest report body accepted (413 beyond), for push and poll alike.
pub const MAX_REPORT_BYTES: usize = 64 * 1024;

/// What the dispatcher does and has done: its strategy, its answers so
/// far, and how many backends it can send clients to. Both bodies of the
/// dashboard open with it ([`DashboardView`], [`DashboardPage`]), inlined,
/// so a client that reads only these fields reads either.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    /// The `--strategy` in force.
    pub strategy: String,
    /// Redirects answered since start.
    pub redirects_total: u64,
    /// Requests answered 503 because no backend was eligible.
    pub no_backend_total: u64,
    /// Requests refused by the public listener's rate limit.
    #[serde(default)]
    pub limited_total: u64,
    /// Clients refused by `--overload shed`.
    #[serde(default)]
    pub shed_total: u64,
    /// The share of clients `--overload shed` refuses now, 0–1.
    #[serde(default)]
    pub shed_share: f64,
    /// Backends that are eligible right now.
    pub eligible: usize,
    /// Every candidate is an outlier (passive health), so the dispatcher
    /// keeps sending clients to the least bad rather than to none.
    #[serde(default, skip_serializing_if = "is_false")]
    pub fail_open: bool,
}

/// The whole pool as an operator sees it, every backend at once: what the
/// metrics and the shedder read. Its default is an empty pool, for
/// building views a field at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DashboardView {
    /// The strategy and the totals (its fields are inlined).
    #[serde(flatten)]
    pub dispatch: Dispatch,
    /// Every known backend, eligible or not, ordered by id.
    pub backends: Vec<BackendView>,
}

/// One backend's row on the dashboard. Its default is a node nothing has
/// been heard from: stale, health unknown, every figure zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendView {
    /// The node id.
    pub id: String,
    /// Where clients are sent; empty while no URL is known yet.
    pub url: String,
    /// What the dispatcher makes of the node now.
    pub state: BackendState,
    /// Whether a new client can be sent here now.
    pub eligible: bool,
    /// A backup takes clients only while no primary is eligible.
    pub backup: bool,
    /// CPU utilisation from the last report, 0–100.
    pub cpu_percent: f64,
    /// Memory in use from the last report, 0–100.
    pub mem_percent: f64,
    /// Established connections from the last report.
    pub connections: u64,
    /// CPU pressure (PSI `some avg10`, 0–100) from the last report; absent
    /// when the agent sends none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_pressure: Option<f64>,
    /// Runnable tasks from the last report; absent when the agent sends none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runnable: Option<u32>,
    /// Share of the application's requests that failed, 0–1, over the
    /// dispatcher's outlier window; absent when the agent measures none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// The application's p90 response time from the last report, in
    /// milliseconds; absent when the agent measures none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p90_ms: Option<f64>,
    /// Why the node is `ejected` (or, at the ejection cap, would be):
    /// absent while its application looks well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier: Option<String>,
    /// Times passive health has ejected this node since it became known.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ejections_total: u64,
    /// Static weight (configured × reported).
    pub weight: f64,
    /// The weight in force after memory pressure and ramp-up.
    pub effective_weight: f64,
    /// The capacity learnt for this node from its CPU reports against what
    /// it was sent, relative to the pool's median node, in quarter-octave
    /// steps (1 until learnt, and for machines alike; 0.5 for one half as
    /// fast). `least-load` sends it effective weight × this of the new
    /// clients, so this is why a slow machine gets fewer; other strategies
    /// ignore it. Views of older dispatchers lack it: read as 1.
    #[serde(default = "unlearnt")]
    pub learnt_capacity: f64,
    /// Turns of `least-load`'s cycle this node still gives to other nodes:
    /// the connections its agent last counted past its share's part of the
    /// pool's, less those already given. Why a node took fewer clients
    /// than its share for a moment; absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub turns_owed: u64,
    /// Utilisation the strategy is using now: the report plus what was sent
    /// since, 0–1 and beyond.
    pub projected_load: f64,
    /// Milliseconds since the last accepted report, by the dispatcher's
    /// clock; absent when no report has arrived yet.
    pub report_age_ms: Option<u64>,
    /// Redirects sent to this backend since start.
    pub redirects_total: u64,
    /// Result of health checking: the agent's probe, and active checks where
    /// configured.
    pub health: Health,
    /// Version of the reporting agent, empty when unknown.
    pub agent_version: String,
}

/// A capacity nothing has been learnt about: the pool's median.
fn unlearnt() -> f64 {
    1.0
}

/// Absent from the JSON while false: dashboards of old never had it.
fn is_false(value: &bool) -> bool {
    !value
}

/// Absent from the JSON while zero: dashboards of old never had it.
fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// What the dispatcher makes of a backend, worst reason first: a node that
/// is both stale and in maintenance shows `stale`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendState {
    /// Eligible for new clients.
    Ready,
    /// Keeps pinned clients, takes no new ones.
    Draining,
    /// Takes no clients.
    Maintenance,
    /// No fresh report: never sent anyone.
    #[default]
    Stale,
    /// Health checks fail: never sent anyone.
    Down,
    /// Passive health: the application's error rate or latency made it an
    /// outlier; it takes no clients until its ejection time is over.
    Ejected,
}

/// The health verdict shown on the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Every configured check passes.
    Passing,
    /// The agent's probe or an active check fails.
    Failing,
    /// Nothing has been heard yet.
    #[default]
    Unknown,
}

impl BackendState {
    /// Every state, for exporting a gauge per state even when it is zero.
    pub const ALL: [BackendState; 6] = [
        BackendState::Ready,
        BackendState::Draining,
        BackendState::Maintenance,
        BackendState::Stale,
        BackendState::Down,
        BackendState::Ejected,
    ];

    /// The lower-case name used on the wire and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Ready => "ready",
            BackendState::Draining => "draining",
            BackendState::Maintenance => "maintenance",
            BackendState::Stale => "stale",
            BackendState::Down => "down",
            BackendState::Ejected => "ejected",
        }
    }
}

/// Query parameters of `GET /dashboard`, all optional: without them the
/// answer lists every backend. Backends are ordered eligible first, then by
/// state, then by id; `after` continues from a page's `next`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardQuery {
    /// Only these states, comma-separated (`ready,down`); `eligible` means
    /// the backends that take new clients now.
    pub state: Option<String>,
    /// Only ids containing this, ignoring case.
    pub id: Option<String>,
    /// At most this many backends.
    pub limit: Option<usize>,
    /// Start after this cursor (a previous page's `next`).
    pub after: Option<String>,
}

/// The body of `GET /dashboard`: the [`Dispatch`] figures, one page of
/// backends with their recent past, and a summary of the whole fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardPage {
    /// The strategy and the totals (its fields are inlined).
    #[serde(flatten)]
    pub dispatch: Dispatch,
    /// This page: eligible first, then by state, then by id.
    pub backends: Vec<BackendRow>,
    /// Backends matching the query's filters, on every page together.
    pub matched: usize,
    /// The `after` cursor of the next page; absent on the last one.
    pub next: Option<String>,
    /// The whole fleet at a glance, whatever the filters.
    pub summary: Summary,
}

/// One backend on the dashboard: its [`BackendView`] and its recent past.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendRow {
    /// What the dispatcher makes of the node now (its fields are inlined).
    #[serde(flatten)]
    pub view: BackendView,
    /// While slow start ramps the node up: the share of its weight it has
    /// reached, 0–1.
    pub ramp: Option<f64>,
    /// Redirects per second to this node over the last few seconds.
    pub redirects_per_second: f64,
    /// Its share of all redirects over about the last minute, 0–1; absent
    /// while there were none.
    pub share_last_minute: Option<f64>,
    /// Projected load at each history sample, oldest first.
    pub load_history: Vec<f32>,
    /// Redirects per second between history samples, oldest first.
    pub rate_history: Vec<f32>,
    /// Seconds between history samples.
    pub history_step_seconds: f64,
}

/// The whole fleet at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Every known backend.
    pub backends: usize,
    /// How many are in each state, every state listed.
    pub states: Vec<StateCount>,
    /// Utilisation of the eligible primaries.
    pub pool: PoolLoad,
    /// Redirects per second over the last few seconds.
    pub redirects_per_second: f64,
}

/// How many backends are in one state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateCount {
    /// The state.
    pub state: BackendState,
    /// Backends in it.
    pub count: usize,
}

/// Load over the eligible primaries: what an autoscaler acts on (add
/// nodes above ~85% mean utilisation, remove them below ~20%) and what the
/// dashboard's summary bar shows. Utilisation is each node's projected load
/// (the report plus what was sent since), 1.0 = fully busy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolLoad {
    /// Eligible primaries counted.
    pub primaries: usize,
    /// Their mean utilisation; 0 when there are none.
    pub mean: f64,
    /// The busiest one's utilisation; 0 when there are none.
    pub max: f64,
    /// Spare capacity in node-equivalents: Σ max(0, 1 − utilisation).
    pub headroom: f64,
}

impl PoolLoad {
    /// The load over the eligible primaries among `backends`.
    pub fn of<'a>(backends: impl IntoIterator<Item = &'a BackendView>) -> PoolLoad {
        let mut pool = PoolLoad::default();
        let mut sum = 0.0;
        for b in backends.into_iter().filter(|b| b.eligible && !b.backup) {
            pool.primaries += 1;
            sum += b.projected_load;
            pool.max = pool.max.max(b.projected_load);
            pool.headroom += (1.0 - b.projected_load).max(0.0);
        }
        if pool.primaries > 0 {
            pool.mean = sum / pool.primaries as f64;
        }
        pool
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_matches;

    #[test]
    fn bearer_tokens_match_exactly() {
        let cases = [
            (Some("Bearer s3cret"), true),
            (Some("Bearer s3cret "), false),
            (Some("Bearer s3cre"), false),
            (Some("bearer s3cret"), false),
            (Some("s3cret"), false),
            (Some("Bearer "), false),
            (None, false),
        ];
        for (header, want) in cases {
            assert_eq!(bearer_matches(header, "s3cret"), want, "{header:?}");
        }
    }
}
