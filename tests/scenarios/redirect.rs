//! The redirect itself, byte for byte: `Location` never leaves the
//! backend, 302 or 307 by method, and oversized or slow clients are
//! refused or cut off.

use std::time::Duration;

use signpost_e2e::dispatcher::{raw, serving_web_1, steady_dispatcher};
use signpost_e2e::{client, cut_off_after_half_a_head, scaled};
use tokio::net::TcpStream;

#[tokio::test]
async fn location_is_byte_exact_and_never_leaves_the_backend() {
    let disp = serving_web_1("http://127.0.0.1:7301/app/").await;
    let cases = [
        ("/", "http://127.0.0.1:7301/app/"),
        (
            "//evil.example/x",
            "http://127.0.0.1:7301/app//evil.example/x",
        ),
        (
            "/%0d%0aSet-Cookie:%20a=b",
            "http://127.0.0.1:7301/app/%0d%0aSet-Cookie:%20a=b",
        ),
        (
            "/../../etc/passwd",
            "http://127.0.0.1:7301/app/../../etc/passwd",
        ),
        ("/@evil.example", "http://127.0.0.1:7301/app/@evil.example"),
        (
            "/%2F%2Fevil.example?next=//x",
            "http://127.0.0.1:7301/app/%2F%2Fevil.example?next=//x",
        ),
        (
            "/\\evil.example",
            "http://127.0.0.1:7301/app/\\evil.example",
        ),
        (
            "http://evil.example/p?q=1",
            "http://127.0.0.1:7301/app/p?q=1",
        ),
        ("/a%20b?x=%41&y", "http://127.0.0.1:7301/app/a%20b?x=%41&y"),
    ];
    for (target, want) in cases {
        let response = raw(
            &disp,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 302"), "{target}: {response}");
        let location = response
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .unwrap_or_else(|| panic!("{target}: no location in {response}"));
        assert_eq!(location, want, "{target}");
        assert!(response.contains("cache-control: no-store"), "{target}");
    }
    // Methods that must survive get 307.
    let response = client()
        .post(disp.url("public") + "/form")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
    let response = client()
        .head(disp.url("public") + "/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
}

#[tokio::test]
async fn oversized_heads_get_431_and_slow_clients_are_cut_off() {
    let disp =
        steady_dispatcher(&["--max-header-bytes", "8192", "--client-timeout", "300ms"]).await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 * 1024)
    );
    let response = raw(&disp, big.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");

    // Half a request head, then silence: both listeners hang up, so slow
    // or idle connections cannot pile up on either.
    for listener in ["public", "control"] {
        let mut stream = TcpStream::connect(disp.addr(listener)).await.unwrap();
        assert!(
            cut_off_after_half_a_head(&mut stream, "/", scaled(Duration::from_secs(5))).await,
            "slow client of the {listener} listener was not cut off"
        );
    }
}
