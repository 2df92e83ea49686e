//! `signpost-dispatcher --tls-cert --tls-key`: the public listener over
//! HTTPS, HTTP/1.1 and HTTP/2 by ALPN, with a certificate made at test time
//! and reloaded on SIGHUP; a bad certificate stops the start.

use std::time::Duration;

use reqwest::{StatusCode, Version};
use rustls::pki_types::ServerName;
use signpost_e2e::dispatcher::{push, report};
use signpost_e2e::{
    Proc, client, cut_off, cut_off_after_half_a_head, eventually, eventually_some, scaled,
};
use tokio::net::TcpStream;

use crate::certs::{CertFiles, path_str, refused_at_start_and_by_check_config};

const BIN: &str = "signpost-dispatcher";

/// A client trusting the certificate `cert_pem` only, following no
/// redirects; HTTP/1.1 only, or HTTP/2 when ALPN agrees.
fn https_client(cert_pem: &str, http1_only: bool) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("parse the PEM");
    let builder = reqwest::Client::builder()
        .tls_certs_only([cert])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(signpost_e2e::patience());
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().expect("build the HTTPS client")
}

/// Whether a GET of `/` on `disp` over HTTPS with `client` is redirected.
async fn redirected(client: &reqwest::Client, disp: &Proc) -> bool {
    let response = client.get(https(disp, "/")).send().await;
    response.is_ok_and(|r| r.status() == StatusCode::FOUND)
}

/// A dispatcher on ephemeral ports serving TLS with `files`.
async fn tls_dispatcher(files: &CertFiles) -> Proc {
    tls_dispatcher_with(files, &[]).await
}

/// [`tls_dispatcher`] with `extra` flags.
async fn tls_dispatcher_with(files: &CertFiles, extra: &[&str]) -> Proc {
    Proc::command(BIN)
        .args(&["--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"])
        .args(&["--tls-cert", path_str(&files.cert())])
        .args(&["--tls-key", path_str(&files.key())])
        .args(extra)
        .listeners(2)
        .spawn()
        .await
}

/// Pushes a fresh report for `web-1` over the plain control listener.
async fn push_backend(disp: &Proc) {
    let report = report("web-1", "http://127.0.0.1:8001", 1);
    assert_eq!(push(disp, &report).await, StatusCode::OK);
}

/// `https://<public>/<path>`.
fn https(disp: &Proc, path: &str) -> String {
    format!("https://{}{path}", disp.addr("public"))
}

#[tokio::test]
async fn https_redirects_over_http1_and_http2() {
    let files = CertFiles::new();
    let disp = tls_dispatcher(&files).await;
    push_backend(&disp).await;

    for (http1_only, version) in [(true, Version::HTTP_11), (false, Version::HTTP_2)] {
        let client = https_client(&files.cert_pem, http1_only);
        let response = eventually_some("web-1 is in the pool", || async {
            let response = client
                .get(https(&disp, "/a/b?c=1"))
                .send()
                .await
                .expect("GET over HTTPS");
            (response.status() == StatusCode::FOUND).then_some(response)
        })
        .await;
        assert_eq!(response.version(), version);
        assert_eq!(
            response.headers()["location"],
            "http://127.0.0.1:8001/a/b?c=1"
        );
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    // The public listener speaks TLS only: a plain request gets no answer.
    let plain = client().get(disp.url("public") + "/").send().await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
}

#[tokio::test]
async fn stalled_handshakes_and_slow_heads_are_cut_off() {
    let files = CertFiles::new();
    let disp = tls_dispatcher_with(&files, &["--client-timeout", "300ms"]).await;
    let public = disp.addr("public");

    // Connected, but no ClientHello.
    let mut silent = TcpStream::connect(&public).await.unwrap();
    assert!(
        cut_off(&mut silent, scaled(Duration::from_secs(5))).await,
        "a client that never started its handshake was not cut off"
    );

    // A finished handshake, then half a request head.
    let tcp = TcpStream::connect(&public).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut slow = files
        .connector()
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    assert!(
        cut_off_after_half_a_head(&mut slow, "/", scaled(Duration::from_secs(5))).await,
        "a TLS client dribbling a request head was not cut off"
    );
}

#[tokio::test]
async fn sighup_reloads_the_certificate() {
    let mut files = CertFiles::new();
    let disp = tls_dispatcher(&files).await;
    push_backend(&disp).await;
    let old_pem = files.cert_pem.clone();
    let old_client = https_client(&old_pem, false);
    eventually("the first certificate is served", || {
        redirected(&old_client, &disp)
    })
    .await;

    // Renewal: the same files, a new certificate, then `systemctl reload`.
    files.renew();
    disp.signal("HUP");
    let new_client = https_client(&files.cert_pem, false);
    eventually("the renewed certificate is served", || {
        redirected(&new_client, &disp)
    })
    .await;
    // New connections no longer get the old certificate.
    assert!(!redirected(&https_client(&old_pem, false), &disp).await);
    assert!(
        disp.stderr().contains("TLS certificate reloaded"),
        "{}",
        disp.stderr()
    );
}

#[tokio::test]
async fn a_bad_certificate_or_key_stops_the_start_and_check_config_names_the_file() {
    let files = CertFiles::new();
    let other = CertFiles::new();
    let garbage = files.path("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").expect("write garbage.pem");
    let cases = [
        (
            garbage.clone(),
            files.key(),
            "garbage.pem: no PEM certificate",
        ),
        (
            files.cert(),
            garbage.clone(),
            "garbage.pem: no PEM private key",
        ),
        (files.cert(), other.key(), "does not match the certificate"),
    ];
    for (cert, key, want) in cases {
        let files = [("tls-cert", cert.as_path()), ("tls-key", key.as_path())];
        refused_at_start_and_by_check_config(&files, want).await;
    }
}
