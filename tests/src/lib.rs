//! # signpost-e2e: the harness for end-to-end scenarios
//!
//! Scenarios run the real `signpost-agent` and `signpost-dispatcher`
//! binaries on ephemeral loopback ports and talk HTTP to them, so they test
//! what an operator runs, flags and signals included. The pieces:
//!
//! - [`Proc`]: spawn a binary, learn its addresses from its
//!   `listening <name> <addr>` lines, signal it, wait for its exit; its
//!   stderr is printed if the test fails;
//! - [`eventually`] / [`eventually_some`]: poll until a condition holds or a
//!   deadline passes (scaled by `E2E_PATIENCE_MS`), never sleep-then-assert;
//! - [`Stub`]: a tiny HTTP server that records requests and answers with a
//!   settable status and body (a push target, a probed app, a fake agent);
//! - [`metric`]: match one sample in a Prometheus text body;
//! - [`client`]: reqwest without redirect following, to see the 302 itself;
//! - [`dns`]: a real DNS server (dnsmasq) on a loopback port, for the
//!   discovery scenarios;
//! - [`dispatcher`]: drive a real dispatcher — start it, push reports,
//!   follow its redirects, read its dashboard and metrics.
//!
//! Binaries are found beside the test executable and built once per test
//! process (`cargo build -p <bin> --bin <bin>`), so `cargo test --workspace`
//! alone always tests fresh binaries.

pub mod agent;
pub mod dispatcher;
pub mod dns;
mod metrics;
mod proc;
mod stub;

use std::future::Future;
use std::time::Duration;

pub use metrics::{MetricMatch, metric};
pub use proc::{Output, Proc, ProcBuilder, binary};
pub use stub::{Recorded, Stub};

/// How long [`eventually`] waits by default, unless `E2E_PATIENCE_MS` says
/// otherwise (raise it on a slow or busy machine).
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(10);

/// How often [`eventually`] re-checks.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// The default deadline: `E2E_PATIENCE_MS` milliseconds, or
/// [`DEFAULT_PATIENCE`].
pub fn patience() -> Duration {
    std::env::var("E2E_PATIENCE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(DEFAULT_PATIENCE, Duration::from_millis)
}

/// Scales a timing bound a scenario asserts (such as "five reports within
/// two seconds") by the same factor `E2E_PATIENCE_MS` scales [`patience`].
pub fn scaled(bound: Duration) -> Duration {
    bound.mul_f64(patience().as_secs_f64() / DEFAULT_PATIENCE.as_secs_f64())
}

/// Polls `check` until it returns true, panicking with `what` once
/// [`patience`] has passed.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_some(what, || {
        let done = check();
        async move { done.await.then_some(()) }
    })
    .await
}

/// Polls `check` until it returns `Some`, and returns that value; panics
/// with `what` once [`patience`] has passed.
pub async fn eventually_some<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(what, patience(), check).await
}

/// [`eventually_some`] with an explicit deadline, for scenarios whose point
/// is a timing bound (pass it through [`scaled`]).
pub async fn eventually_within<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= give_up {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Whether the server ends `stream` within `bound` (pass it through
/// [`scaled`]): reads until it does, discarding what arrives. For
/// scenarios that check a server hangs up on a slow or silent client.
pub async fn cut_off(stream: &mut (impl tokio::io::AsyncRead + Unpin), bound: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut sink = Vec::new();
    tokio::time::timeout(bound, stream.read_to_end(&mut sink))
        .await
        .is_ok()
}

/// Sends half a request head on `stream`, then nothing: whether the
/// server hangs up within `bound` (pass it through [`scaled`]), as it must
/// on a client that never finishes its request.
pub async fn cut_off_after_half_a_head(
    stream: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin),
    path: &str,
    bound: Duration,
) -> bool {
    use tokio::io::AsyncWriteExt as _;
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send half a request head");
    cut_off(stream, bound).await
}

/// An HTTP client for scenarios: follows no redirects (a scenario wants to
/// see the 302 itself) and gives up after [`patience`].
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(patience())
        .build()
        .expect("build the test HTTP client")
}

/// A TOML config file holding `contents`, deleted when dropped.
pub fn config_file(contents: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("signpost-e2e-")
        .suffix(".toml")
        .tempfile()
        .expect("create a temp config file");
    std::io::Write::write_all(&mut file, contents.as_bytes()).expect("write the temp config file");
    file
}

/// A loopback port bound but not listened on: connections to it are
/// refused, and no other socket takes it while the returned one is held. A
/// port bound and released at once is free for another test's ephemeral
/// listener to take (a dispatcher-outage test once lost its port so).
pub fn reserved_port() -> tokio::net::TcpSocket {
    let socket = tokio::net::TcpSocket::new_v4().expect("open a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("a loopback address"))
        .expect("bind an ephemeral port");
    socket
}

/// A loopback URL on which nothing listens, so connections are refused: a
/// [`reserved_port`] held for the rest of the test process.
pub fn refused_url() -> String {
    let socket = reserved_port();
    let addr = socket.local_addr().expect("read the ephemeral port");
    Box::leak(Box::new(socket));
    format!("http://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_refuses_connections_and_no_listener_takes_it() {
        let reserved = reserved_port();
        let addr = reserved.local_addr().expect("a bound port");
        let taken = std::net::TcpListener::bind(addr);
        assert!(taken.is_err(), "{addr} was bound twice");
        let refused = std::net::TcpStream::connect(addr).map_err(|err| err.kind());
        assert_eq!(
            refused.err(),
            Some(std::io::ErrorKind::ConnectionRefused),
            "{addr}"
        );
    }
}
