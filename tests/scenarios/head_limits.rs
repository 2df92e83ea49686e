//! What an over-long request head is told, as nginx tells it: a request
//! target over `--max-header-bytes` is `414 URI Too Long`; a header section
//! over it, or with more than 100 fields, is `431`. Each is refused before
//! any backend is chosen, and the connection is closed.

use std::time::Duration;

use signpost_e2e::dispatcher::serving_web_1;
use signpost_e2e::{Proc, scaled};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The public listener's whole answer to `request`, sent in pieces of
/// `piece` bytes. The dispatcher may close before reading all of a head it
/// refuses, so a failed write is not an error: its answer is what counts.
async fn answer(disp: &Proc, request: &[u8], piece: usize) -> String {
    let mut stream = TcpStream::connect(disp.addr("public"))
        .await
        .expect("connect public");
    for chunk in request.chunks(piece) {
        if stream.write_all(chunk).await.is_err() {
            break;
        }
    }
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    let _ = tokio::time::timeout(scaled(Duration::from_secs(5)), read).await;
    String::from_utf8_lossy(&response).into_owned()
}

fn status(response: &str) -> &str {
    response.get(..12).unwrap_or(response)
}

#[tokio::test]
async fn a_long_target_is_414_and_a_large_header_section_431() {
    let disp = serving_web_1("http://127.0.0.1:7301").await;
    let target = |len: usize| format!("/{}", "a".repeat(len));
    let get = |target: &str, headers: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
    };
    // The default limit is 16 KiB: a 64 KiB URL (the report), a target
    // just over the limit that arrives whole, and one sent in small pieces.
    let cases = [
        (
            "64 KiB target",
            get(&target(64 * 1024), ""),
            64 * 1024,
            "414",
        ),
        (
            "17 KiB target",
            get(&target(17 * 1024), ""),
            64 * 1024,
            "414",
        ),
        ("dribbled target", get(&target(20 * 1024), ""), 1000, "414"),
        (
            "16 KiB header",
            get("/", &format!("X-Big: {}\r\n", "a".repeat(16 * 1024))),
            64 * 1024,
            "431",
        ),
        (
            "101 header fields",
            get("/", &"X-Many: y\r\n".repeat(101)),
            64 * 1024,
            "431",
        ),
        (
            "90 header fields, 18 KiB",
            get("/", &format!("X-Many: {}\r\n", "y".repeat(200)).repeat(90)),
            64 * 1024,
            "431",
        ),
    ];
    for (what, request, piece, want) in cases {
        let response = answer(&disp, &request, piece).await;
        assert_eq!(
            status(&response),
            format!("HTTP/1.1 {want}"),
            "{what}: {response}"
        );
        assert!(response.contains("connection: close"), "{what}: {response}");
    }

    // A target just under the limit is redirected, and an ordinary request
    // after an answered one on the same connection is not affected.
    let near = get(&target(16 * 1024 - 100), "");
    let two = [&get("/x", "")[..], &near].concat();
    let response = answer(
        &disp,
        &[
            &two[..],
            b"GET /y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        64 * 1024,
    )
    .await;
    assert_eq!(response.matches("HTTP/1.1 302").count(), 3, "{response}");
}
