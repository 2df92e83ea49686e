//! A stub HTTP server on an ephemeral loopback port: it records every
//! request and answers each with a status and body the test can change
//! while it runs. It stands in for a dispatcher receiving pushes, an
//! application being probed, or an agent serving `/load`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::task::JoinHandle;

/// A running stub server; stops when dropped.
#[derive(Debug)]
pub struct Stub {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

/// One request the stub received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request method.
    pub method: Method,
    /// The path and query as sent.
    pub uri: String,
    /// Every request header.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

#[derive(Debug)]
struct Shared {
    status: StatusCode,
    body: String,
    requests: Vec<Recorded>,
}

// === impl Stub ===

impl Stub {
    /// Binds `127.0.0.1:0` and serves `200` with an empty body until told
    /// otherwise.
    pub async fn start() -> Stub {
        let shared = Arc::new(Mutex::new(Shared {
            status: StatusCode::OK,
            body: String::new(),
            requests: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stub");
        let addr = listener.local_addr().expect("read the stub's address");
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve the stub");
        });
        Stub { addr, shared, task }
    }

    /// The stub's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`, with no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers every later request with `status` and `body` (sent as JSON
    /// when it is not empty).
    pub fn respond(&self, status: u16, body: &str) {
        let mut shared = self.lock();
        shared.status = StatusCode::from_u16(status).expect("a valid status code");
        shared.body = body.to_owned();
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// How many requests have arrived for `path` (query ignored).
    pub fn count(&self, path: &str) -> usize {
        let on_path = |r: &&Recorded| r.uri.split('?').next() == Some(path);
        self.lock().requests.iter().filter(on_path).count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("stub state lock")
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Arc<Mutex<Shared>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut shared = shared.lock().expect("stub state lock");
    shared.requests.push(Recorded {
        method: parts.method,
        uri: parts.uri.to_string(),
        headers: parts.headers,
        body,
    });
    if shared.body.is_empty() {
        return shared.status.into_response();
    }
    let json = [(header::CONTENT_TYPE, "application/json")];
    (shared.status, json, shared.body.clone()).into_response()
}
