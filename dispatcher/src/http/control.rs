//! The control listener: dashboard, metrics, liveness and report ingest.
//! Loopback by default: it is for operators and agents, not clients.
//!
//! Served by hyper with the same client timeout as the public listener
//! (`--client-timeout`, see [`Deadline`]): when it listens beyond loopback
//! for agents to push to, connections that never send a whole request — or
//! sit idle longer than that — are closed instead of piling up; and, as
//! on the public listener, an HTTP/1 connection is closed after
//! `--max-requests-per-connection` answers, so a client that keeps asking
//! but reads slowly (its answers fit in the socket buffer, so every write
//! succeeds) cannot hold one for ever.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::BoxError;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use signpost_shared::exposition::Format;
use signpost_shared::{BackendView, LoadReport, MAX_REPORT_BYTES, NodeState, api, bearer_matches};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;
use tracing::Level;

use super::deadline::Deadline;
use super::error::ApiError;
use super::refused::refused;
use crate::app::App;
use crate::history::{self, History};
use crate::intake::{self, Refusal};
use crate::registry::{Observed, Source};

/// Serves the control API on `listener` until `shutdown`, then lets
/// in-flight requests finish.
///
/// Pushed reports — thousands a second from a large fleet, on the same
/// core as the redirects — skip the router: a `POST` to
/// [`api::REPORT`] goes straight to [`report`], everything else through
/// [`router`] (which routes that path to the same handler too, so other
/// methods still get 405).
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: CancellationToken) {
    let (client_timeout, max_requests) = {
        let config = app.config();
        (config.client_timeout, config.max_requests_per_connection)
    };
    let mut builder = http1::Builder::new();
    builder
        // `Deadline` below enforces the client timeout, one timer per connection.
        .header_read_timeout(None)
        .keep_alive(true);
    let history = Arc::new(History::new(Instant::now(), app.metrics.redirects()));
    tokio::spawn(history::sample(
        app.clone(),
        history.clone(),
        shutdown.clone(),
    ));
    let routes = router(app.clone(), history);
    let graceful = GracefulShutdown::new();
    let closing = super::Closing::new(shutdown);
    while let Some((stream, peer)) = closing.accept(&listener, "control").await {
        let (app, routes) = (app.clone(), routes.clone());
        let served = Cell::new(0);
        let service = service_fn(move |request: Request<Incoming>| {
            let (app, routes) = (app.clone(), routes.clone());
            served.set(served.get() + 1);
            let last = served.get() >= max_requests;
            async move {
                let version = request.version();
                let mut response =
                    if request.method() == Method::POST && request.uri().path() == api::REPORT {
                        report(&app, peer, request).await
                    } else {
                        let mut request = request;
                        request.extensions_mut().insert(ConnectInfo(peer));
                        routes.oneshot(request).await?
                    };
                if last {
                    super::last_answer(version, &mut response);
                }
                Ok::<_, Infallible>(response)
            }
        });
        let stream = Deadline::new(stream, client_timeout);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        super::spawn_connection(connection, peer, "control");
    }
    drop(listener);
    closing.settle().await;
    graceful.shutdown().await;
}

/// The control API's routes; the dashboard reads `history`.
fn router(app: Arc<App>, history: Arc<History>) -> Router {
    Router::new()
        .route("/", get(super::page::page))
        .route(api::DASHBOARD, get(super::dashboard::dashboard))
        .route(api::METRICS, get(metrics))
        .route(api::HEALTHZ, get(healthz))
        .route(
            api::REPORT,
            post(
                |State(app): State<Arc<App>>,
                 ConnectInfo(peer): ConnectInfo<SocketAddr>,
                 request: Request| async move { report(&app, peer, request).await },
            ),
        )
        .route(&format!("{}/{{id}}", api::BACKENDS), get(backend))
        .route(&format!("{}/{{id}}/{{action}}", api::BACKENDS), post(admin))
        .layer(Extension(history))
        .with_state(app)
}

/// `GET /v1/backends/{id}`: one backend as the dashboard shows it — for
/// scripts and probes watching one node of a fleet too large to fetch
/// whole every time.
async fn backend(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<BackendView>, ApiError> {
    Ok(Json(app.backend_view(&id, Instant::now())?))
}

/// `GET /metrics`, in the text format the scraper's `Accept` prefers.
async fn metrics(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let body = app
        .metrics
        .render(app.dashboard(Instant::now()), format)
        .map_err(|err| ApiError::Internal(format!("encode metrics: {err}")))?;
    Ok(([(CONTENT_TYPE, format.content_type())], body))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Answers to a push, fixed so that acknowledging thousands of reports a
/// second allocates nothing.
const ACCEPTED: &str = r#"{"status":"accepted"}"#;
const IGNORED_REPLAY: &str = r#"{"status":"ignored","reason":"replay"}"#;

/// `POST /v1/report`: an agent at `peer` pushes its report. A refusal
/// is counted and logged with the peer (see [`refused`]).
async fn report<B>(app: &App, peer: SocketAddr, request: Request<B>) -> Response
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match file_report(app, request).await {
        Ok(answer) => ([(CONTENT_TYPE, "application/json")], answer).into_response(),
        Err(err) => {
            refused(app, "report", peer, &err);
            err.into_response()
        }
    }
}

/// Reads, checks and files one pushed report; the answer's body, or why
/// it was refused (counted by [`intake::receive`], and logged).
async fn file_report<B>(app: &App, request: Request<B>) -> Result<&'static str, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    if !authorized(&parts.headers, app.config().token.as_deref()) {
        return Err(ApiError::Unauthorized);
    }
    let report = match Limited::new(body, MAX_REPORT_BYTES).collect().await {
        Ok(body) => LoadReport::from_json(&body.to_bytes()).map_err(Refusal::from),
        Err(err) if err.is::<LengthLimitError>() => Err(Refusal::TooLarge),
        Err(err) => Err(Refusal::Body(err.to_string())),
    };
    // Only a debug line needs the id once the report is filed; a refusal's
    // error names the node itself.
    let node = report
        .as_ref()
        .ok()
        .filter(|_| tracing::enabled!(Level::DEBUG))
        .map(|report| report.node_id.clone());
    match intake::receive(app, Source::Push, report, Instant::now()) {
        Ok(Observed::Accepted(_) | Observed::Ejected(..)) => Ok(ACCEPTED),
        Ok(Observed::Replay { seq, latest }) => {
            tracing::debug!(
                node = node.as_deref(),
                seq,
                latest,
                "pushed report ignored: not newer than the last"
            );
            Ok(IGNORED_REPLAY)
        }
        Err(refusal) => Err(ApiError::from(refusal)),
    }
}

/// `POST /v1/backends/{id}/{action}`: an operator at `peer` drains a
/// backend, puts it in maintenance, or clears the override with `ready`.
/// The override wins over the agent's own state until cleared. Each
/// override is logged with its action word and the peer; a refusal is
/// counted and logged (see [`refused`]).
async fn admin(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let result = set_admin(&app, &id, &action, &headers);
    match &result {
        Ok(()) => tracing::info!(%peer, backend = %id, %action, "admin override"),
        Err(err) => refused(&app, "admin", peer, err),
    }
    result.map(|()| Json(json!({ "id": id, "action": action })))
}

/// Checks the admin token and applies `action` to backend `id`.
fn set_admin(app: &App, id: &str, action: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    if !authorized(headers, app.config().admin_token.as_deref()) {
        return Err(ApiError::Unauthorized);
    }
    let state = match action {
        "drain" => Some(NodeState::Draining),
        "maintenance" => Some(NodeState::Maintenance),
        "ready" => None,
        _ => return Err(ApiError::UnknownAction(action.to_owned())),
    };
    Ok(app.set_admin(id, state)?)
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
