//! `--max-requests-per-connection`, on either listener: a client that keeps
//! asking on one connection (a slow reader's answers all fit in the socket
//! buffer, so every write succeeds and the client timeout never fires) is
//! closed after that many answers, the last one saying `connection:
//! close`, as nginx's `keepalive_requests` does. On the control listener
//! this holds whether the client asks the router (`/healthz`) or pushes
//! reports (the path that skips it).

use std::time::Duration;

use signpost_e2e::dispatcher::{add_web_1, report, steady_dispatcher};
use signpost_e2e::{Proc, scaled};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Sends `request` five times pipelined on one connection to `listener`
/// and reads until the dispatcher closes it: everything it answered.
async fn five_pipelined(disp: &Proc, listener: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(disp.addr(listener))
        .await
        .expect("connect");
    stream
        .write_all(&request.repeat(5))
        .await
        .expect("send the requests");
    let mut answers = Vec::new();
    let read = stream.read_to_end(&mut answers);
    tokio::time::timeout(scaled(Duration::from_secs(5)), read)
        .await
        .expect("the connection was not closed after 3 answers")
        .ok();
    String::from_utf8_lossy(&answers).into_owned()
}

/// Asserts `answers` holds three answers of `status`, the last (only) one
/// closing.
fn three_then_closed(answers: &str, status: &str) {
    let line = format!("HTTP/1.1 {status}");
    assert_eq!(answers.matches(&line).count(), 3, "{answers}");
    let last = answers.rsplit(&line).next().unwrap_or_default();
    assert!(last.contains("connection: close"), "{answers}");
    assert_eq!(answers.matches("connection: close").count(), 1, "{answers}");
}

#[tokio::test]
async fn a_connection_is_closed_after_its_last_request() {
    let disp = steady_dispatcher(&["--max-requests-per-connection", "3"]).await;
    add_web_1(&disp).await;
    let request = b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n";
    three_then_closed(&five_pipelined(&disp, "public", request).await, "302");
}

#[tokio::test]
async fn a_control_connection_is_closed_after_its_last_request() {
    let disp = steady_dispatcher(&["--max-requests-per-connection", "3"]).await;
    let health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    three_then_closed(&five_pipelined(&disp, "control", health).await, "200");

    let body = report("web-1", "http://127.0.0.1:7901", 1).to_string();
    let push = format!(
        "POST /v1/report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answers = five_pipelined(&disp, "control", push.as_bytes()).await;
    three_then_closed(&answers, "200");
    assert_eq!(
        answers.matches(r#""status":"accepted""#).count(),
        1,
        "{answers}"
    );
}
