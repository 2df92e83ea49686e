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

/// Why the client cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(#[from] reqwest::Error);

/// Builds the shared client with `timeout` on every request.
pub fn build(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(Policy::none())
        .user_agent(concat!("signpost-agent/", env!("CARGO_PKG_VERSION")))
        .build()?;
    Ok(client)
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
