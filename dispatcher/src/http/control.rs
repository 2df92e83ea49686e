//! The control listener: dashboard, metrics, liveness and report ingest.
//! Loopback by default: it is for operators and agents, not clients.
//!
//! Served by hyper with the same request-head timeout as the public
//! listener (`--client-timeout`): when it listens beyond loopback for
//! agents to push to, connections that never send a whole head — or sit
//! idle longer than that — are closed instead of piling up.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use signpost_shared::{
    DashboardView, LoadReport, MAX_REPORT_BYTES, NodeState, api, bearer_matches,
};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use crate::app::App;
use crate::registry::{Observed, Source};

/// Serves the control API on `listener` until `shutdown`, then lets
/// in-flight requests finish.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: CancellationToken) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(app.config().client_timeout)
        .keep_alive(true);
    let routes = router(app);
    let graceful = GracefulShutdown::new();
    while let Some((stream, peer)) = super::accept(&listener, "control", &shutdown).await {
        let service = TowerToHyperService::new(routes.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        super::spawn_connection(connection, peer, "control");
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The control API's routes.
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(super::page::page))
        .route(api::DASHBOARD, get(dashboard))
        .route(api::METRICS, get(metrics))
        .route(api::HEALTHZ, get(healthz))
        .route(api::REPORT, post(report))
        .route(&format!("{}/{{id}}/{{action}}", api::BACKENDS), post(admin))
        .layer(DefaultBodyLimit::max(MAX_REPORT_BYTES))
        .with_state(app)
}

async fn dashboard(State(app): State<Arc<App>>) -> Json<DashboardView> {
    Json(app.dashboard(Instant::now()))
}

async fn metrics(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    let body = app
        .metrics
        .render(app.dashboard(Instant::now()))
        .map_err(|err| ApiError::Internal(format!("encode metrics: {err}")))?;
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    Ok(([(CONTENT_TYPE, content_type)], body))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Answers to a push, fixed so that acknowledging thousands of reports a
/// second allocates nothing.
const ACCEPTED: &str = r#"{"status":"accepted"}"#;
const IGNORED_REPLAY: &str = r#"{"status":"ignored","reason":"replay"}"#;

/// `POST /v1/report`: an agent pushes its report.
async fn report(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if !authorized(&headers, app.config().token.as_deref()) {
        return Err(ApiError::Unauthorized);
    }
    let refuse = |err: ApiError, reason: &'static str| {
        app.metrics.reject(reason);
        tracing::warn!(error = %err, "pushed report refused");
        err
    };
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => refuse(ApiError::TooLarge(MAX_REPORT_BYTES), "too_large"),
        _ => refuse(ApiError::Body(rejection.body_text()), "body"),
    })?;
    let report = LoadReport::from_json(&body).map_err(|err| {
        let reason = err.reason();
        refuse(err.into(), reason)
    })?;
    let node = report.node_id.clone();
    let body = match app.ingest(Source::Push, report, Instant::now()) {
        Ok(Observed::Accepted(_)) => ACCEPTED,
        Ok(Observed::Replay { seq, latest }) => {
            tracing::debug!(%node, seq, latest, "pushed report ignored: not newer than the last");
            IGNORED_REPLAY
        }
        Err(err) => {
            tracing::warn!(%node, error = %err, "pushed report refused");
            return Err(err.into());
        }
    };
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

/// `POST /v1/backends/{id}/{action}`: an operator drains a backend, puts
/// it in maintenance, or clears the override with `ready`. The override
/// wins over the agent's own state until cleared.
async fn admin(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !authorized(&headers, app.config().admin_token.as_deref()) {
        return Err(ApiError::Unauthorized);
    }
    let state = match action.as_str() {
        "drain" => Some(NodeState::Draining),
        "maintenance" => Some(NodeState::Maintenance),
        "ready" => None,
        _ => return Err(ApiError::UnknownAction(action)),
    };
    app.set_admin(&id, state)?;
    Ok(Json(json!({ "id": id, "action": action })))
}

/// True when no token is configured, or the request carries it as a
/// bearer token. The comparison takes the same time wherever it differs.
pub fn authorized(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let presented = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    bearer_matches(presented, token)
}
