//! The access log's drop path with the real binary: the log is a FIFO
//! nobody reads, so once the pipe is full the writer blocks in `write` for
//! good. Redirects must keep being answered, and `/metrics` must count the
//! lines dropped.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use signpost_e2e::dispatcher::{lasting_web_1, metrics};
use signpost_e2e::{eventually, metric};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// Entries the writer's channel holds (`edge::log::CHANNEL`).
const CHANNEL: usize = 16 * 1024;

/// Connections, each sending its requests pipelined in batches: a cheap
/// client, so that the channel's worth of requests takes seconds.
const CONNECTIONS: usize = 4;
const BATCH: usize = 256;

/// Requests sent: the channel's worth, what the pipe and the writer's
/// buffer absorb (lines of ~1.2 KB: ~60 in a 64 KiB pipe, at most ~870 in
/// a 1 MiB one), and a few thousand more.
const REQUESTS: usize = CHANNEL + 4_096;

/// The longest a batch may take to be answered: generous for a loaded
/// debug build, and far below forever, which is what an answer that waited
/// for the writer takes.
const PROMPT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_log_nobody_reads_costs_lines_and_never_an_answer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("access.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo {}", fifo.display());
    // Held read-write, so the dispatcher's open for writing does not wait
    // for a reader; never read.
    let _unread = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open the FIFO");
    // Thousands of requests a connection: above the default cap of 1000.
    let disp = lasting_web_1(&[
        "--access-log",
        fifo.to_str().expect("UTF-8 path"),
        "--max-requests-per-connection",
        "100000",
    ])
    .await;

    let public = disp.addr("public");
    let mut connections = JoinSet::new();
    for _ in 0..CONNECTIONS {
        connections.spawn(redirect_batches(public, REQUESTS / CONNECTIONS / BATCH));
    }
    while let Some(done) = connections.join_next().await {
        done.expect("a connection task");
    }

    let least_dropped = (REQUESTS - CHANNEL - 1_000) as f64;
    eventually("the dropped lines counted", || async {
        let body = metrics(&disp).await;
        let dropped = metric("signpost_access_log_dropped_total").find(&body);
        dropped.is_some_and(|d| d >= least_dropped)
    })
    .await;
    let body = metrics(&disp).await;
    let written = metric("signpost_access_log_lines_total").find(&body);
    assert!(written.is_some_and(|w| w < 1_000.0), "{written:?} written");
}

/// Sends `batches` batches of [`BATCH`] pipelined GETs with a 1 000-byte
/// path on one connection to `public`, and asserts that each batch is
/// answered, every answer a 302, within [`PROMPT`].
async fn redirect_batches(public: SocketAddr, batches: usize) {
    let mut stream = TcpStream::connect(public).await.expect("connect");
    let request = format!(
        "GET /{} HTTP/1.1\r\nHost: signpost.test\r\n\r\n",
        "x".repeat(1000)
    );
    let batch = request.repeat(BATCH);
    let mut answers = Vec::new();
    for _ in 0..batches {
        stream.write_all(batch.as_bytes()).await.expect("send");
        let read = timeout(PROMPT, read_answers(&mut stream, &mut answers)).await;
        read.expect("a batch of answers waited for the log writer");
    }
}

/// Reads from `stream` until `BATCH` whole answers (heads without a body)
/// have come, each a 302.
async fn read_answers(stream: &mut TcpStream, buffer: &mut Vec<u8>) {
    let mut answered = 0;
    let mut chunk = [0u8; 64 * 1024];
    while answered < BATCH {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the dispatcher closed the connection");
        buffer.extend_from_slice(&chunk[..n]);
        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            assert!(head.starts_with("HTTP/1.1 302 "), "{head}");
            assert!(
                head.to_ascii_lowercase().contains("content-length: 0"),
                "{head}"
            );
            buffer.drain(..end + 4);
            answered += 1;
        }
    }
}
