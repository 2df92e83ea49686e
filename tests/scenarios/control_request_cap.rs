//! `--max-requests-per-connection` on the control listener too: a client
//! that keeps asking on one connection — a slow reader whose answers all
//! fit in the socket buffer, so every write succeeds and the client
//! timeout never fires — is closed after that many answers, the last one
//! saying `connection: close`, whether it asks the router (`/healthz`) or
//! pushes reports (the path that skips it).

use std::time::Duration;

use signpost_e2e::dispatcher::{report, steady_dispatcher};
use signpost_e2e::{Proc, scaled};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Sends `request` five times pipelined on one control connection and
/// reads until the dispatcher closes it: everything it answered.
async fn five_pipelined(disp: &Proc, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(disp.addr("control"))
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

/// Asserts `answers` holds three 200s, the last (only) one closing.
fn three_then_closed(answers: &str) {
    assert_eq!(answers.matches("HTTP/1.1 200").count(), 3, "{answers}");
    let last = answers.rsplit("HTTP/1.1 200").next().unwrap_or_default();
    assert!(last.contains("connection: close"), "{answers}");
    assert_eq!(answers.matches("connection: close").count(), 1, "{answers}");
}

#[tokio::test]
async fn a_control_connection_is_closed_after_its_last_request() {
    let disp = steady_dispatcher(&["--max-requests-per-connection", "3"]).await;
    three_then_closed(&five_pipelined(&disp, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await);

    let body = report("web-1", "http://127.0.0.1:7901", 1).to_string();
    let push = format!(
        "POST /v1/report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answers = five_pipelined(&disp, push.as_bytes()).await;
    three_then_closed(&answers);
    assert_eq!(
        answers.matches(r#""status":"accepted""#).count(),
        1,
        "{answers}"
    );
}
