//! The agent's HTTP endpoints: `GET /load`, `GET /healthz`, `GET /metrics`
//! ([`crate::metrics`]), the
//! operator's `POST /drain` and `POST /ready`, and the application's
//! `POST /v1/app-report` ([`crate::app_report`]).
//!
//! `/load` answers from the `watch` channel the sampler writes, so it never
//! waits for a sample. `/drain` and `/ready` change the state in that same
//! channel, so the next `/load` and the next push carry it at once. They are
//! allowed from loopback (the node's own operator) or with the bearer token.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::{Value, json};
use signpost_shared::{LoadReport, NodeState, api, bearer_matches};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::app_report::{AppReport, AppReports, MAX_BODY};
use crate::discovery::Stats;

/// Time a client has to send each request head, and the keep-alive idle
/// limit (the dispatcher's default `--client-timeout`): a client that never
/// finishes a head is cut off instead of holding its connection forever.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to pause after a failed accept (typically EMFILE).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What every handler shares: the report channel, the discovery counters
/// and the operator token.
#[derive(Debug, Clone)]
struct AppState {
    reports: watch::Sender<LoadReport>,
    apps: Arc<AppReports>,
    resolving: Arc<Stats>,
    token: Option<Arc<str>>,
}

/// Builds the router. Handlers need the peer address as
/// `ConnectInfo<SocketAddr>` in the request's extensions ([`serve`] puts
/// it there).
/// `apps` keeps the application's posts; `resolving` counts the
/// dispatcher discovery for `/metrics`.
pub fn router(
    reports: watch::Sender<LoadReport>,
    apps: Arc<AppReports>,
    resolving: Arc<Stats>,
    token: Option<String>,
) -> Router {
    let state = AppState {
        reports,
        apps,
        resolving,
        token: token.map(Arc::from),
    };
    Router::new()
        .route(api::LOAD, get(load))
        .route(api::HEALTHZ, get(|| async { StatusCode::OK }))
        .route(
            api::METRICS,
            get(crate::metrics::handler)
                .with_state((state.reports.clone(), state.resolving.clone())),
        )
        .route(
            api::DRAIN,
            post(|s, p, h| set_state(s, p, h, NodeState::Draining)),
        )
        .route(
            api::READY,
            post(|s, p, h| set_state(s, p, h, NodeState::Ready)),
        )
        .route(
            api::APP_REPORT,
            post(app_report).layer(DefaultBodyLimit::max(MAX_BODY)),
        )
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown`, then lets in-flight requests
/// finish. Each client gets [`CLIENT_TIMEOUT`] to send each request head.
pub async fn serve(listener: TcpListener, app: Router, shutdown: CancellationToken) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed; retrying");
                    sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let service = service_fn(move |mut request: Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Whether a state change may proceed: always from a loopback peer,
/// otherwise only with `Authorization: Bearer <token>` matching the
/// configured token (compared in constant time). Without a token, remote
/// peers are refused.
pub fn authorize(peer: IpAddr, auth_header: Option<&str>, token: Option<&str>) -> bool {
    if peer.to_canonical().is_loopback() {
        return true;
    }
    token.is_some_and(|token| bearer_matches(auth_header, token))
}

async fn load(State(state): State<AppState>) -> Json<LoadReport> {
    Json(state.reports.borrow().clone())
}

/// Switches the reported state and answers with the report now published.
/// `seq` advances so a dispatcher that drops repeated sequence numbers still
/// takes the change before the next sample.
async fn set_state(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    to: NodeState,
) -> Result<Json<LoadReport>, (StatusCode, Json<Value>)> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let action = match to {
        NodeState::Draining => "drain",
        _ => "ready",
    };
    if !authorize(peer.ip(), auth, state.token.as_deref()) {
        tracing::warn!(%peer, action, "state change refused: not loopback and no valid token");
        let error = json!({ "error": "state changes need a loopback peer or the bearer token" });
        return Err((StatusCode::FORBIDDEN, Json(error)));
    }
    state.reports.send_modify(|report| {
        if report.state != to {
            report.state = to;
            report.seq += 1;
        }
    });
    tracing::info!(%peer, action, "state changed by operator");
    Ok(Json(state.reports.borrow().clone()))
}

/// Takes the application's own figures (see [`crate::app_report`]) from a
/// loopback peer, and answers with the report they are now part of.
async fn app_report(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Json<LoadReport>, (StatusCode, Json<Value>)> {
    if !peer.ip().to_canonical().is_loopback() {
        tracing::warn!(%peer, "app report refused: not from this host");
        let error = json!({ "error": "app reports are taken from loopback peers only" });
        return Err((StatusCode::FORBIDDEN, Json(error)));
    }
    let post = AppReport::from_json(&body).map_err(|message| {
        tracing::debug!(%peer, %message, "app report refused");
        (StatusCode::BAD_REQUEST, Json(json!({ "error": message })))
    })?;
    let now = Instant::now();
    state.apps.post(post, now);
    // Like the agent's own passive figures, they ride with the next sample.
    state.reports.send_if_modified(|report| {
        state.apps.overlay(report, now);
        false
    });
    Ok(Json(state.reports.borrow().clone()))
}

#[cfg(test)]
mod tests;
