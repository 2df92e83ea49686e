//! SIGTERM and the connections whose clients have connected but not yet
//! written (RELIABILITY.md, finding 6): those the dispatcher has accepted
//! and those still in its listeners' accept queues both get their answer
//! when the request follows the signal, and a connection that never
//! speaks does not hold the exit up for long.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use signpost_e2e::dispatcher::{add_web_1, steady_dispatcher};
use signpost_e2e::{Proc, cut_off, eventually, scaled};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::certs::{CertFiles, path_str};

/// Connections per listener in each of the two groups (accepted, queued).
const EACH: usize = 4;

/// `count` connections to `addr`, connected and silent.
async fn connect(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        streams.push(TcpStream::connect(addr).await.expect("connect"));
    }
    streams
}

/// Connections to both listeners: (public, control).
async fn connect_both(disp: &Proc, count: usize) -> (Vec<TcpStream>, Vec<TcpStream>) {
    (
        connect(disp.addr("public"), count).await,
        connect(disp.addr("control"), count).await,
    )
}

/// Proves both listeners have accepted every connection made before: an
/// accept queue is first in, first out, so a connection made now and
/// answered was accepted after them.
async fn both_accepted_so_far(disp: &Proc) {
    signpost_e2e::dispatcher::public(disp, "/").await;
    let healthz = signpost_e2e::dispatcher::control(disp, "/healthz").await;
    assert_eq!(healthz.status(), 200);
}

/// Writes `request` on every one of `streams`, then reads each until the
/// server closes it: the whole answers (empty where one was closed
/// unanswered). All are written first: the dispatcher closes an answered
/// connection only once every fresh one has spoken or the grace is over.
async fn ask_all(streams: Vec<TcpStream>, request: &str) -> Vec<String> {
    let mut written = Vec::with_capacity(streams.len());
    for mut stream in streams {
        let sent = stream.write_all(request.as_bytes()).await.is_ok();
        written.push((stream, sent));
    }
    let mut answers = Vec::with_capacity(written.len());
    for (mut stream, sent) in written {
        let mut answer = Vec::new();
        if sent {
            let read = stream.read_to_end(&mut answer);
            let read = tokio::time::timeout(scaled(Duration::from_secs(5)), read).await;
            assert!(
                read.is_ok(),
                "the connection was not closed after its answer"
            );
        }
        answers.push(String::from_utf8_lossy(&answer).into_owned());
    }
    answers
}

#[tokio::test]
async fn connections_opened_before_sigterm_and_written_after_are_answered() {
    let mut disp = steady_dispatcher(&[]).await;
    add_web_1(&disp).await;
    let (mut public, mut control) = connect_both(&disp, EACH).await;
    both_accepted_so_far(&disp).await;
    // Stopped, the dispatcher accepts nothing: these wait in the queues,
    // and the signal is handled only once it runs again.
    disp.signal("STOP");
    let (queued_public, queued_control) = connect_both(&disp, EACH).await;
    public.extend(queued_public);
    control.extend(queued_control);
    disp.terminate();
    disp.signal("CONT");
    eventually("the shutdown to begin", || async {
        disp.stderr().contains("SIGTERM: shutting down")
    })
    .await;

    let public = ask_all(public, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let control = ask_all(control, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    for (i, answer) in public.iter().enumerate() {
        assert!(
            answer.starts_with("HTTP/1.1 302")
                && answer.contains("location: http://web-1.test/late"),
            "public connection {i} (of which {EACH} were queued last): {answer:?}"
        );
    }
    for (i, answer) in control.iter().enumerate() {
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n"),
            "control connection {i} (of which {EACH} were queued last): {answer:?}"
        );
    }
    let status = disp.wait_exit(scaled(Duration::from_secs(10))).await;
    assert!(status.success(), "{status}\n{}", disp.stderr());
}

#[tokio::test]
async fn a_tls_connection_whose_handshake_is_done_is_answered_after_sigterm() {
    // What counts is the first decrypted byte, not the ClientHello: a
    // client past its handshake is still to send its request.
    let files = CertFiles::new();
    let mut disp = steady_dispatcher(&[
        "--tls-cert",
        path_str(&files.cert()),
        "--tls-key",
        path_str(&files.key()),
    ])
    .await;
    add_web_1(&disp).await;
    let mut streams = Vec::with_capacity(EACH);
    for _ in 0..EACH {
        let tcp = TcpStream::connect(disp.addr("public"))
            .await
            .expect("connect");
        let name = ServerName::try_from("localhost").expect("a server name");
        let tls = files.connector().connect(name, tcp).await;
        streams.push(tls.expect("TLS handshake"));
    }
    disp.terminate();
    eventually("the shutdown to begin", || async {
        disp.stderr().contains("SIGTERM: shutting down")
    })
    .await;
    let request = b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n";
    for stream in &mut streams {
        stream.write_all(request).await.expect("send the request");
    }
    for (i, mut stream) in streams.into_iter().enumerate() {
        let mut answer = Vec::new();
        // A peer closing without close_notify is an error to rustls; the
        // answer read before it is what counts.
        let read = stream.read_to_end(&mut answer);
        let _ = tokio::time::timeout(scaled(Duration::from_secs(5)), read).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 302"),
            "TLS connection {i}: {answer:?}"
        );
    }
    let status = disp.wait_exit(scaled(Duration::from_secs(10))).await;
    assert!(status.success(), "{status}\n{}", disp.stderr());
}

#[tokio::test]
async fn a_connection_that_never_speaks_holds_the_exit_up_briefly() {
    let mut disp = steady_dispatcher(&[]).await;
    let (mut public, mut control) = connect_both(&disp, 1).await;
    both_accepted_so_far(&disp).await;
    disp.terminate();
    // Closed by the dispatcher after the grace for a first request (1 s),
    // well before its whole drain (5 s) runs out.
    assert!(cut_off(&mut public[0], scaled(Duration::from_secs(4))).await);
    assert!(cut_off(&mut control[0], scaled(Duration::from_secs(4))).await);
    let status = disp.wait_exit(scaled(Duration::from_secs(10))).await;
    assert!(status.success(), "{status}\n{}", disp.stderr());
    let stderr = disp.stderr();
    assert!(!stderr.contains("did not finish"), "{stderr}");
}
