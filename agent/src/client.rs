//! The one HTTP client for everything the agent sends: pushes to
//! dispatchers and probes of the local application.
//!
//! It is built only when something needs it (TLS set-up costs memory a
//! pull-only agent need not pay), has a timeout below the interval so a
//! hanging peer is abandoned before the next report is due, and follows no
//! redirects: a 3xx from the probed application is an answer, not a hop.

use std::error::Error as _;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::redirect::Policy;

use crate::discovery::Endpoint;

/// Why the client cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// Builds the shared client with `timeout` on every request.
pub fn build(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    Ok(builder(timeout).build()?)
}

/// A client for one discovered peer: requests keep the peer's name in the
/// URL (so the Host header and the TLS server name are the name) while the
/// connection goes to `endpoint.addr`.
pub fn pinned(timeout: Duration, endpoint: &Endpoint) -> Result<reqwest::Client, ClientError> {
    let mut builder = builder(timeout);
    if let Some(host) = endpoint.url.host_str() {
        builder = builder.resolve(host, endpoint.addr);
    }
    Ok(builder.build()?)
}

fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(Policy::none())
        .user_agent(concat!("signpost-agent/", env!("CARGO_PKG_VERSION")))
}

/// Sends `request` and accepts the answer when `acceptable(status)`;
/// otherwise says why not, in words fit for a log line.
pub async fn send(
    request: reqwest::RequestBuilder,
    acceptable: fn(StatusCode) -> bool,
) -> Result<(), String> {
    let response = request.send().await.map_err(|err| describe(&err))?;
    let status = response.status();
    if acceptable(status) {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

/// A reqwest error with its causes, so a log line says "connection
/// refused" rather than just "error sending request".
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::HeaderMap;
    use axum::routing::get;

    use super::*;
    use crate::discovery::Peer;

    #[tokio::test]
    async fn a_pinned_client_keeps_the_name_and_connects_to_the_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let echo_host = |headers: HeaderMap| async move { format!("{:?}", headers["host"]) };
        let app = Router::new().route("/", get(echo_host));
        tokio::spawn(async move { axum::serve(listener, app).await });

        let url = format!("http://disp.invalid:{}/", addr.port());
        let endpoint = Endpoint {
            addr,
            url: Peer::parse(&url).unwrap().url().clone(),
        };
        let client = pinned(Duration::from_secs(5), &endpoint).unwrap();
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, format!("\"disp.invalid:{}\"", addr.port()));
    }
}
