//! `--max-requests-per-connection`: a client that keeps asking on one
//! connection (a slow reader's answers all fit in the socket buffer, so the
//! client timeout never fires) is closed after that many answers, the last
//! one saying `connection: close`, as nginx's `keepalive_requests` does.

use std::time::Duration;

use signpost_e2e::dispatcher::{add_web_1, steady_dispatcher};
use signpost_e2e::scaled;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_connection_is_closed_after_its_last_request() {
    let disp = steady_dispatcher(&["--max-requests-per-connection", "3"]).await;
    add_web_1(&disp).await;
    // Five pipelined requests: three answers, then the server's close.
    let mut stream = TcpStream::connect(disp.addr("public")).await.unwrap();
    let request = b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n";
    stream.write_all(&request.repeat(5)).await.unwrap();
    let mut answers = Vec::new();
    let read = stream.read_to_end(&mut answers);
    tokio::time::timeout(scaled(Duration::from_secs(5)), read)
        .await
        .expect("the connection was not closed after 3 answers")
        .ok();
    let answers = String::from_utf8_lossy(&answers);
    assert_eq!(answers.matches("HTTP/1.1 302").count(), 3, "{answers}");
    let last = answers.rsplit("HTTP/1.1 302").next().unwrap();
    assert!(last.contains("connection: close"), "{answers}");
    assert_eq!(answers.matches("connection: close").count(), 1, "{answers}");
}
