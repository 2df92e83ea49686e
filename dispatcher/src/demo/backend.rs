//! One demo backend: answers `hello from <name>` on any path, logs every
//! answer in nginx `combined` + `$request_time` (which its agent tails as
//! `--app-log`), and has a knob to make it fail or slow down at run time,
//! so the demo can show passive health eject a node and bring it back:
//!
//! `curl -X POST 'http://<backend>/demo/knob?error_rate=0.2&latency_ms=800'`

use std::fs::File;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The knob's path on every demo backend.
pub const KNOB: &str = "/demo/knob";

/// What a backend shares between requests.
#[derive(Debug)]
struct Backend {
    greeting: String,
    /// Share of answers that are 500s, in millionths.
    error_ppm: AtomicU64,
    /// Added before every answer, in milliseconds.
    latency_ms: AtomicU64,
    /// Answers so far, to spread the errors evenly.
    answered: AtomicU64,
    log: Mutex<File>,
}

/// `POST /demo/knob` parameters; an absent one is left as it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Knob {
    /// Share of answers that fail, 0–1.
    error_rate: Option<f64>,
    /// Delay before each answer, in milliseconds.
    latency_ms: Option<u64>,
}

/// Starts backend `name` on an ephemeral loopback port, logging to `log`.
pub async fn start(
    name: &str,
    log: &Path,
    shutdown: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .with_context(|| format!("bind demo {name}"))?;
    let addr = listener.local_addr()?;
    let file = File::create(log).with_context(|| format!("create {}", log.display()))?;
    let state = Arc::new(Backend {
        greeting: format!("hello from {name}\n"),
        error_ppm: AtomicU64::new(0),
        latency_ms: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        log: Mutex::new(file),
    });
    let app = Router::new()
        .route(KNOB, post(turn))
        .fallback(answer)
        .with_state(state);
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
    tokio::spawn(async move {
        if let Err(err) = server.await {
            tracing::error!(error = %err, "demo backend failed");
        }
    });
    Ok(addr)
}

async fn turn(
    State(backend): State<Arc<Backend>>,
    Query(knob): Query<Knob>,
) -> (StatusCode, String) {
    if let Some(rate) = knob.error_rate {
        if !(0.0..=1.0).contains(&rate) {
            return (
                StatusCode::BAD_REQUEST,
                "error_rate must be between 0 and 1\n".into(),
            );
        }
        backend
            .error_ppm
            .store((rate * 1e6) as u64, Ordering::Relaxed);
    }
    if let Some(ms) = knob.latency_ms {
        backend.latency_ms.store(ms.min(60_000), Ordering::Relaxed);
    }
    let now = format!(
        "error_rate={} latency_ms={}\n",
        backend.error_ppm.load(Ordering::Relaxed) as f64 / 1e6,
        backend.latency_ms.load(Ordering::Relaxed)
    );
    (StatusCode::OK, now)
}

async fn answer(
    State(backend): State<Arc<Backend>>,
    request: axum::extract::Request,
) -> (StatusCode, String) {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(
        backend.latency_ms.load(Ordering::Relaxed),
    ))
    .await;
    // Answer n fails when the running count of failures steps up: the
    // errors are spread evenly at exactly the rate set.
    let n = backend.answered.fetch_add(1, Ordering::Relaxed);
    let ppm = backend.error_ppm.load(Ordering::Relaxed);
    let fails = (n + 1) * ppm / 1_000_000 > n * ppm / 1_000_000;
    let (status, body) = match fails {
        true => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "demo failure (see /demo/knob)\n".into(),
        ),
        false => (StatusCode::OK, backend.greeting.clone()),
    };
    let line = format!(
        "127.0.0.1 - - [-] \"{} {} HTTP/1.1\" {} {} \"-\" \"-\" {:.3}\n",
        request.method(),
        request.uri().path(),
        status.as_u16(),
        body.len(),
        started.elapsed().as_secs_f64()
    );
    if let Ok(mut log) = backend.log.lock() {
        // A demo's log that cannot be written only dims the demo.
        let _ = log.write_all(line.as_bytes());
    }
    (status, body)
}
