//! The public listener: every request, whatever its path or method, is
//! answered by a redirect to a backend — the hot path.
//!
//! It is served by hyper directly, without a router: there is nothing to
//! route. Per request it loads the pool snapshot (lock-free), picks with a
//! thread-local RNG, bumps two atomics, and allocates only the `Location`
//! value. Request bodies are never read. The guards of [`crate::edge`] add a
//! compare-and-swap when a rate limit is on, and a `try_send` of one entry
//! (the logged path and query its one allocation) when the access log is.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, LOCATION, RETRY_AFTER, SET_COOKIE};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::deadline::Deadline;
use super::plain::Connections;
use super::target::TargetLimit;
use super::tls::Tls;
use crate::app::App;
use crate::backend::Backend;
use crate::edge::log::{Entry, How};
use crate::edge::{self, Limited};
use crate::pool::{Choice, Policy, Pool};
use crate::{select, sticky};

/// Every redirect and 503 carries this, so a browser never replays a
/// redirect to a backend that has since died.
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// One pick in this many is timed for the latency histogram: timing costs
/// two clock reads, which is noticeable next to a ~100 ns pick.
const PICK_SAMPLE_MASK: u64 = 15;

thread_local! {
    /// Each runtime thread has its own generator: no lock, no contention.
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_rng(&mut rand::rng()));
}

/// Serves redirects on `listener` until `shutdown`, then lets in-flight
/// requests finish. With `tls`, each accepted connection is handed to it
/// for the handshake and HTTP/1.1 or HTTP/2; without, nothing else changes.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) {
    let config = app.config();
    let mut http = http1::Builder::new();
    http
        // `Deadline` below enforces the client timeout, one timer per connection.
        .header_read_timeout(None)
        .max_header_size(config.max_header_bytes)
        .keep_alive(true);
    let max_requests = config.max_requests_per_connection;
    let graceful = GracefulShutdown::new();
    let closing = super::Closing::new(shutdown);
    let plain = Connections::new(closing.finish());
    while let Some((stream, peer)) = closing.accept(&listener, "public").await {
        // Redirect responses are tiny; send them without waiting for Nagle.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let client_ip = peer.ip();
        let served = Cell::new(0);
        let service = service_fn(move |request| {
            let mut response = respond(&app, client_ip, &request);
            served.set(served.get() + 1);
            if served.get() >= max_requests {
                super::last_answer(request.version(), &mut response);
            }
            std::future::ready(Ok::<_, Infallible>(response))
        });
        let stream = Deadline::new(stream, config.client_timeout);
        if let Some(tls) = &tls {
            let connection = tls.connection(stream, service, graceful.watcher());
            super::spawn_connection(connection, peer, "public");
            continue;
        }
        let stream = TargetLimit::new(stream, config.max_header_bytes);
        plain.serve(http.serve_connection(TokioIo::new(stream), service), peer);
    }
    drop(listener);
    closing.settle().await;
    tokio::join!(graceful.shutdown(), plain.closed());
}

/// Answers one request from `peer`: a redirect to the chosen backend
/// (pinning the client with a cookie when stickiness asks for it), a
/// refusal when the client is over its rate limit, or 503 (no backend, or
/// shed for overload). With the access
/// log on, the answer carries the request id and is logged (sampled).
pub fn respond<B>(app: &App, peer: IpAddr, request: &Request<B>) -> Response<Full<Bytes>> {
    let pool = app.pool();
    let client = sticky::client_ip(peer, request.headers(), &pool.policy().trusted);
    let now = Instant::now();
    let (mut response, how, backend) = match app.edge.limit(client, now) {
        Some(limited) => (refuse(limited), How::Limited, None),
        None => answer(app, &pool, client, request, now),
    };
    if app.edge.logging() {
        log(app, client, request, &mut response, how, backend);
    }
    response
}

/// The answer of the pool to a client within its limit, how it came
/// about, and the backend it names.
fn answer<'p, B>(
    app: &App,
    pool: &'p Pool,
    client: IpAddr,
    request: &Request<B>,
    now: Instant,
) -> (Response<Full<Bytes>>, How, Option<&'p Backend>) {
    let policy = pool.policy();
    // What the strategy sees of this request.
    let wanted = select::Request {
        client,
        headers: request.headers(),
    };
    let chosen = RNG.with(|rng| {
        let rng = &mut *rng.borrow_mut();
        if rand::Rng::next_u64(rng) & PICK_SAMPLE_MASK == 0 {
            // Its own clock read: `now` was taken before the rate limit,
            // which is not part of the pick.
            let started = Instant::now();
            let chosen = pool.choose(&wanted, now, rng);
            app.metrics.observe_pick(started.elapsed());
            chosen
        } else {
            pool.choose(&wanted, now, rng)
        }
    });
    let (backend, pin, how) = match chosen {
        Choice::Pinned(backend) => (backend, None, How::Pinned),
        Choice::Picked(backend) => (backend, backend.pin.as_deref(), How::Picked),
        Choice::Unavailable => {
            app.metrics.no_backend_available();
            return (unavailable(policy), How::Unavailable, None);
        }
    };
    if app.edge.shed(how == How::Pinned) {
        return (overloaded(policy), How::Shed, None);
    }
    backend.load.add_redirect();
    app.metrics.redirected();
    let status = if matches!(*request.method(), Method::GET | Method::HEAD) {
        policy.redirect_code
    } else {
        policy.redirect_code_other
    };
    let mut response = redirect(status, &backend.base_url, request.uri());
    if let Some(pin) = pin {
        response
            .headers_mut()
            .insert(SET_COOKIE, pin.set_cookie.clone());
    }
    (response, how, Some(backend))
}

/// Gives `response` the request's id and, if this answer is sampled, hands
/// its access log entry to the writer.
fn log<B>(
    app: &App,
    client: IpAddr,
    request: &Request<B>,
    response: &mut Response<Full<Bytes>>,
    how: How,
    backend: Option<&Backend>,
) {
    let request_id = edge::request_id(request.headers());
    (response.headers_mut()).insert(edge::X_REQUEST_ID, request_id.clone());
    let Some(log) = app.edge.sampled_log() else {
        return;
    };
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let (target, truncated) = edge::log::truncate(target, log.config().max_uri);
    let entry = Entry {
        time: SystemTime::now(),
        client,
        method: request.method().clone(),
        target,
        truncated,
        status: response.status().as_u16(),
        backend: backend.map(|b| b.id.clone()),
        how,
        request_id,
    };
    app.edge.record(log, entry);
}

/// A client over its rate limit: told when to come back, and never to
/// cache the refusal.
fn refuse(limited: Limited) -> Response<Full<Bytes>> {
    let body = Bytes::from_static(b"too many requests\n");
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = limited.status;
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, HeaderValue::from(limited.retry_after));
    headers.insert(CACHE_CONTROL, NO_STORE);
    response
}

/// The `Location` for `base` (no trailing `/`) and the request target:
/// base + path + query, byte for byte. The result always stays on the
/// backend's origin, because what follows the base always starts with `/`
/// — so `//evil`, `@evil` or `\evil` can only ever be path segments.
pub fn location(base: &str, target: &Uri) -> String {
    let path_and_query = target.path_and_query().map_or("/", |pq| pq.as_str());
    let mut out = String::with_capacity(base.len() + path_and_query.len() + 1);
    out.push_str(base);
    if !path_and_query.starts_with('/') {
        out.push('/');
    }
    out.push_str(path_and_query);
    out
}

fn redirect(status: StatusCode, base: &str, target: &Uri) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    // A parsed request target is always a valid header value, but a bad
    // one must be a 400, never a panic.
    let (status, value) = match HeaderValue::try_from(location(base, target)) {
        Ok(value) => (status, Some(value)),
        Err(_) => (StatusCode::BAD_REQUEST, None),
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(value) = value {
        headers.insert(LOCATION, value);
    }
    headers.insert(CACHE_CONTROL, NO_STORE);
    response
}

fn unavailable(policy: &Policy) -> Response<Full<Bytes>> {
    busy(policy, b"no backend available\n")
}

/// A client shed by `--overload shed`: the same 503 as with no backend.
fn overloaded(policy: &Policy) -> Response<Full<Bytes>> {
    busy(policy, b"overloaded, retry later\n")
}

fn busy(policy: &Policy, body: &'static [u8]) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body)));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, policy.retry_after.clone());
    headers.insert(CACHE_CONTROL, NO_STORE);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (backend base, request target, expected Location).
    #[test]
    fn location_stays_on_the_backends_origin() {
        let cases = [
            ("http://b:8000", "/", "http://b:8000/"),
            (
                "http://b:8000",
                "/a/b?x=1&y=%2F",
                "http://b:8000/a/b?x=1&y=%2F",
            ),
            ("http://b", "//evil.example/x", "http://b//evil.example/x"),
            (
                "http://b",
                "/%0d%0aSet-Cookie:%20x=1",
                "http://b/%0d%0aSet-Cookie:%20x=1",
            ),
            ("http://b", "/../../etc/passwd", "http://b/../../etc/passwd"),
            ("http://b", "/@evil.example", "http://b/@evil.example"),
            (
                "http://b",
                "/%2F%2Fevil.example",
                "http://b/%2F%2Fevil.example",
            ),
            // Byte-exact; browsers read `\` as `/`, which is still a path.
            ("http://b", "/\\evil.example", "http://b/\\evil.example"),
            ("http://b/app", "/x", "http://b/app/x"),
            ("http://b/app", "/", "http://b/app/"),
            (
                "http://b:8000",
                "http://evil.example/p?q",
                "http://b:8000/p?q",
            ),
            ("http://b:8000", "*", "http://b:8000/*"),
            ("http://[::1]:8000", "/?", "http://[::1]:8000/?"),
        ];
        for (base, target, want) in cases {
            let uri: Uri = target.parse().unwrap();
            let got = location(base, &uri);
            assert_eq!(got, want, "{base} + {target}");
            let parsed = url::Url::parse(&got).unwrap();
            let origin = url::Url::parse(base).unwrap();
            assert_eq!(parsed.origin(), origin.origin(), "{got} left the origin");
        }
    }
}
