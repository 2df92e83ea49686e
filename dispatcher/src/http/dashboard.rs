//! `GET /dashboard`: the fleet as JSON, one page at a time.
//!
//! A fleet of thousands is mostly noise around the few nodes an operator
//! is looking for, so backends come eligible first, then by state (the
//! actionable ones first), then by id; `?state=` and `?id=` filter,
//! `?limit=` and `?after=` page. Every answer carries a summary of the
//! whole fleet (counts per state, pool utilisation, redirects/s), and each
//! row its recent past from [`History`]. Without parameters every backend
//! is listed, as before paging existed.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::{Extension, Json};
use http::StatusCode;
use serde_json::{Value, json};
use signpost_shared::api::{
    BackendRow, DashboardPage, DashboardQuery, PoolLoad, StateCount, Summary,
};
use signpost_shared::{BackendState, BackendView, DashboardView, Health};
use tokio::time::Instant;

use crate::app::App;
use crate::history::{History, SAMPLE_EVERY};
use crate::registry::{MEMORY_PRESSURE_FACTOR, penalty};

/// Order of states after the eligible backends: what needs a look first.
const STATE_ORDER: [BackendState; 6] = [
    BackendState::Ready,
    BackendState::Draining,
    BackendState::Ejected,
    BackendState::Down,
    BackendState::Maintenance,
    BackendState::Stale,
];

/// A ramp this close to the full weight is not worth a word.
const RAMPED: f64 = 0.995;

/// Why a query was refused: 400 with `{"error": ...}`.
type Refusal = (StatusCode, Json<Value>);

/// `GET /dashboard`.
pub async fn dashboard(
    State(app): State<Arc<App>>,
    Extension(history): Extension<Arc<History>>,
    Query(query): Query<DashboardQuery>,
) -> Result<Json<DashboardPage>, Refusal> {
    let now = Instant::now();
    let view = app.dashboard(now);
    let mem_high_water = app.config().mem_high_water;
    page(view, &query, &history, now, mem_high_water)
        .map(Json)
        .map_err(|error| (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))))
}

/// The page of `view` that `query` asks for, at `now`.
fn page(
    view: DashboardView,
    query: &DashboardQuery,
    history: &History,
    now: Instant,
    mem_high_water: f64,
) -> Result<DashboardPage, String> {
    let states = parse_states(query.state.as_deref())?;
    let after = query.after.as_deref().map(parse_cursor).transpose()?;
    let summary = summary(&view, history, now);
    let needle = query.id.as_deref().map(str::to_lowercase);
    let mut matching: Vec<BackendView> = view
        .backends
        .into_iter()
        .filter(|b| states.as_ref().is_none_or(|s| s.matches(b)))
        .filter(|b| {
            needle
                .as_deref()
                .is_none_or(|n| b.id.to_lowercase().contains(n))
        })
        .collect();
    matching.sort_by(order);
    let matched = matching.len();
    let start = after.map_or(0, |(rank, id)| {
        matching.partition_point(|b| (group(b), b.id.as_str()) <= (rank, id.as_str()))
    });
    let limit = query.limit.unwrap_or(usize::MAX);
    let end = start.saturating_add(limit).min(matched);
    let next = (end < matched && end > start).then(|| cursor(&matching[end - 1]));
    let redirects_total = view.dispatch.redirects_total;
    let backends = matching
        .drain(start..end)
        .map(|b| row(b, history, now, redirects_total, mem_high_water))
        .collect();
    Ok(DashboardPage {
        dispatch: view.dispatch,
        backends,
        matched,
        next,
        summary,
    })
}

/// The `?state=` filter: named states, and `eligible`.
#[derive(Debug, Default)]
struct States {
    eligible: bool,
    states: Vec<BackendState>,
}

impl States {
    fn matches(&self, b: &BackendView) -> bool {
        (self.eligible && b.eligible) || self.states.contains(&b.state)
    }
}

fn parse_states(list: Option<&str>) -> Result<Option<States>, String> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let mut states = States::default();
    for name in list.split(',').map(str::trim) {
        if name == "eligible" {
            states.eligible = true;
            continue;
        }
        let state = BackendState::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown state {name:?} in ?state=: expected eligible, ready, draining, \
                     maintenance, stale, down or ejected"
                )
            })?;
        states.states.push(state);
    }
    Ok(Some(states))
}

/// A backend's place in the order: 0 when eligible, else 1 + its state's
/// place in [`STATE_ORDER`].
fn group(b: &BackendView) -> usize {
    if b.eligible {
        return 0;
    }
    1 + STATE_ORDER
        .iter()
        .position(|s| *s == b.state)
        .unwrap_or(STATE_ORDER.len())
}

fn order(a: &BackendView, b: &BackendView) -> Ordering {
    (group(a), &a.id).cmp(&(group(b), &b.id))
}

/// The cursor after `b`: its group and id, as `group.id`.
fn cursor(b: &BackendView) -> String {
    format!("{}.{}", group(b), b.id)
}

fn parse_cursor(cursor: &str) -> Result<(usize, String), String> {
    cursor
        .split_once('.')
        .and_then(|(rank, id)| Some((rank.parse().ok()?, id.to_owned())))
        .ok_or_else(|| format!("bad ?after= cursor {cursor:?}: pass a page's `next` as it is"))
}

fn summary(view: &DashboardView, history: &History, now: Instant) -> Summary {
    let states = BackendState::ALL
        .into_iter()
        .map(|state| StateCount {
            state,
            count: view.backends.iter().filter(|b| b.state == state).count(),
        })
        .collect();
    Summary {
        backends: view.backends.len(),
        states,
        pool: PoolLoad::of(&view.backends),
        redirects_per_second: history.rate(now, view.dispatch.redirects_total),
    }
}

/// `b` with its past, as the page shows it. A node with no fresh report
/// is never shown as passing its checks: nothing vouches for it now.
fn row(
    mut b: BackendView,
    history: &History,
    now: Instant,
    redirects: u64,
    mem_high_water: f64,
) -> BackendRow {
    let past = history.past(&b, now, redirects);
    if b.state == BackendState::Stale && b.health == Health::Passing {
        b.health = Health::Unknown;
    }
    let ramp = ramp(&b, mem_high_water);
    BackendRow {
        view: b,
        ramp,
        redirects_per_second: past.rate_now,
        share_last_minute: past.share,
        load_history: past.load,
        rate_history: past.rate,
        history_step_seconds: SAMPLE_EVERY.as_secs_f64(),
    }
}

/// The share of its weight an eligible node has ramped up to, while slow
/// start still holds it back: the effective weight without the memory
/// pressure factor and the error penalty, over the weight.
fn ramp(b: &BackendView, mem_high_water: f64) -> Option<f64> {
    if !b.eligible || b.weight <= 0.0 {
        return None;
    }
    let pressure = if b.mem_percent > mem_high_water {
        MEMORY_PRESSURE_FACTOR
    } else {
        1.0
    };
    let errors = b
        .error_rate
        .map_or(1.0, |rate| penalty(b.cpu_percent / 100.0, rate));
    let ramp = b.effective_weight / (b.weight * pressure * errors);
    (ramp < RAMPED).then_some(ramp.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use signpost_shared::Dispatch;

    use super::*;

    fn node(id: &str, state: BackendState, eligible: bool) -> BackendView {
        BackendView {
            id: id.into(),
            state,
            eligible,
            cpu_percent: 10.0,
            mem_percent: 20.0,
            weight: 2.0,
            effective_weight: if eligible { 2.0 } else { 0.0 },
            projected_load: 0.1,
            report_age_ms: Some(5),
            health: Health::Passing,
            ..Default::default()
        }
    }

    fn fleet() -> DashboardView {
        use BackendState::*;
        DashboardView {
            dispatch: Dispatch {
                strategy: "least-load".into(),
                eligible: 2,
                ..Default::default()
            },
            backends: vec![
                node("a-stale", Stale, false),
                node("b-ready", Ready, true),
                node("c-down", Down, false),
                node("d-ready", Ready, true),
                node("e-draining", Draining, false),
                node("f-maint", Maintenance, false),
            ],
        }
    }

    fn ids(page: &DashboardPage) -> Vec<&str> {
        page.backends.iter().map(|r| r.view.id.as_str()).collect()
    }

    fn query(state: Option<&str>, limit: Option<usize>, after: Option<String>) -> DashboardQuery {
        DashboardQuery {
            state: state.map(str::to_owned),
            id: None,
            limit,
            after,
        }
    }

    #[test]
    fn eligible_first_then_by_state_and_pages_follow_the_cursor() {
        let now = Instant::now();
        let history = History::new(now, 0);
        let all = page(fleet(), &DashboardQuery::default(), &history, now, 85.0).unwrap();
        assert_eq!(
            ids(&all),
            [
                "b-ready",
                "d-ready",
                "e-draining",
                "c-down",
                "f-maint",
                "a-stale"
            ]
        );
        assert_eq!((all.matched, all.next.as_deref()), (6, None));
        assert_eq!(all.summary.backends, 6);
        assert_eq!(all.summary.pool.primaries, 2);

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = page(fleet(), &query(None, Some(4), after), &history, now, 85.0).unwrap();
            seen.extend(ids(&page).into_iter().map(str::to_owned));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ids(&all));

        let some = page(
            fleet(),
            &query(Some("eligible,down"), None, None),
            &history,
            now,
            85.0,
        );
        assert_eq!(ids(&some.unwrap()), ["b-ready", "d-ready", "c-down"]);
        let by_id = DashboardQuery {
            id: Some("READY".into()),
            ..DashboardQuery::default()
        };
        let by_id = page(fleet(), &by_id, &history, now, 85.0).unwrap();
        assert_eq!(
            (ids(&by_id), by_id.summary.backends),
            (vec!["b-ready", "d-ready"], 6)
        );
        assert!(page(fleet(), &query(Some("up"), None, None), &history, now, 85.0).is_err());
        let bad_cursor = query(None, None, Some("web-1".into()));
        assert!(page(fleet(), &bad_cursor, &history, now, 85.0).is_err());
    }

    #[test]
    fn stale_never_passes_and_slow_start_is_a_share_of_the_weight() {
        let now = Instant::now();
        let history = History::new(now, 0);
        let all = page(fleet(), &DashboardQuery::default(), &history, now, 85.0).unwrap();
        let stale = all
            .backends
            .iter()
            .find(|r| r.view.id == "a-stale")
            .unwrap();
        assert_eq!(stale.view.health, Health::Unknown);

        let ramping = BackendView {
            effective_weight: 0.8,
            ..node("r", BackendState::Ready, true)
        };
        assert_eq!(ramp(&ramping, 85.0), Some(0.4));
        // Memory pressure halves the weight; that is not a ramp.
        let pressed = BackendView {
            effective_weight: 1.0,
            mem_percent: 90.0,
            ..node("m", BackendState::Ready, true)
        };
        assert_eq!(ramp(&pressed, 85.0), None);
        assert_eq!(ramp(&node("f", BackendState::Ready, true), 85.0), None);
    }
}
