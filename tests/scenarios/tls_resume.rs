//! `--tls-ticket-key-file`: replicas sharing a key file resume each
//! other's TLS sessions (TLS 1.3 and 1.2), a replica with another key makes
//! a full handshake, rotation by SIGHUP keeps old tickets resuming, and a
//! bad key file stops the start or, on SIGHUP, leaves the old keys in use.
//! Without the flag, a session resumes on the process that made it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{HandshakeKind, SupportedProtocolVersion};
use signpost_e2e::{Proc, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::certs::{CertFiles, path_str, refused_at_start_and_by_check_config};

const BIN: &str = "signpost-dispatcher";

const KEY_1: &str = "6b6579206f6e652c20666f722074686520746573742c2033322062797465732e";
const KEY_2: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// A certificate, its key, and ticket key files beside them.
struct Files(CertFiles);

impl Files {
    fn new() -> Self {
        Files(CertFiles::new())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path(name)
    }

    /// Writes the ticket key file `name`, one key per line.
    fn keys(&self, name: &str, keys: &[&str]) -> PathBuf {
        let path = self.path(name);
        let text: String = keys.iter().map(|k| format!("{k}\n")).collect();
        std::fs::write(&path, format!("# test keys\n{text}")).expect("write the key file");
        path
    }

    /// A replica serving TLS, with the ticket key file `keys` if any.
    async fn replica(&self, keys: Option<&Path>) -> Proc {
        let mut command = Proc::command(BIN)
            .args(&["--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"])
            .args(&["--tls-cert", path_str(&self.path("cert.pem"))])
            .args(&["--tls-key", path_str(&self.path("key.pem"))]);
        if let Some(keys) = keys {
            command = command.args(&["--tls-ticket-key-file", path_str(keys)]);
        }
        command.listeners(2).spawn().await
    }

    /// A client trusting the certificate only, speaking `version`, with a
    /// session cache of its own shared by every connection it makes.
    fn client(&self, version: &'static SupportedProtocolVersion) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let cert = CertificateDer::from_pem_slice(self.0.cert_pem.as_bytes()).expect("parse PEM");
        roots.add(cert).expect("trust the certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .expect("TLS version")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = Resumption::in_memory_sessions(16);
        TlsConnector::from(Arc::new(config))
    }
}

/// One request to `replica` over a new TLS connection (read to the end, so
/// the tickets it sends are stored): how the handshake went.
async fn visit(client: &TlsConnector, replica: &Proc) -> HandshakeKind {
    let tcp = TcpStream::connect(replica.addr("public"))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("a DNS name");
    let mut tls = client.connect(name, tcp).await.expect("TLS handshake");
    let kind = tls.get_ref().1.handshake_kind().expect("handshake done");
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send a request");
    let mut response = Vec::new();
    // The server may close without close_notify after the response.
    let _ = tls.read_to_end(&mut response).await;
    assert!(
        response.starts_with(b"HTTP/1.1 "),
        "no HTTP answer: {:?}",
        String::from_utf8_lossy(&response)
    );
    kind
}

#[tokio::test]
async fn replicas_sharing_a_key_file_resume_each_others_sessions() {
    let files = Files::new();
    let shared = files.keys("shared.keys", &[KEY_1]);
    let other = files.keys("other.keys", &[KEY_2]);
    let (a, b) = (
        files.replica(Some(&shared)).await,
        files.replica(Some(&shared)).await,
    );
    let stranger = files.replica(Some(&other)).await;

    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let client = files.client(version);
        let v = version.version;
        assert_eq!(
            visit(&client, &a).await,
            HandshakeKind::Full,
            "{v:?} first visit"
        );
        assert_eq!(
            visit(&client, &b).await,
            HandshakeKind::Resumed,
            "{v:?} A's ticket on B"
        );
        assert_eq!(
            visit(&client, &a).await,
            HandshakeKind::Resumed,
            "{v:?} B's ticket on A"
        );
        assert_eq!(
            visit(&client, &stranger).await,
            HandshakeKind::Full,
            "{v:?} a replica with another key"
        );
    }
}

#[tokio::test]
async fn without_the_flag_sessions_resume_on_the_same_process_only() {
    let files = Files::new();
    let (a, b) = (files.replica(None).await, files.replica(None).await);
    let client = files.client(&rustls::version::TLS13);
    assert_eq!(visit(&client, &a).await, HandshakeKind::Full);
    assert_eq!(visit(&client, &a).await, HandshakeKind::Resumed);
    assert_eq!(visit(&client, &b).await, HandshakeKind::Full);
}

#[tokio::test]
async fn a_rotation_on_sighup_keeps_old_tickets_and_a_bad_file_keeps_the_old_keys() {
    let files = Files::new();
    let keys = files.keys("rotating.keys", &[KEY_1]);
    let a = files.replica(Some(&keys)).await;
    let client = files.client(&rustls::version::TLS13);
    assert_eq!(visit(&client, &a).await, HandshakeKind::Full);

    // The documented rotation: the new key first, the old one kept after.
    files.keys("rotating.keys", &[KEY_2, KEY_1]);
    a.signal("HUP");
    eventually("the ticket keys are reloaded", || async {
        a.stderr().contains("TLS ticket keys reloaded")
    })
    .await;
    assert_eq!(
        visit(&client, &a).await,
        HandshakeKind::Resumed,
        "key 1 ticket"
    );
    // The ticket A just issued is sealed with the new key.
    let new_only = files.keys("new.keys", &[KEY_2]);
    let b = files.replica(Some(&new_only)).await;
    assert_eq!(
        visit(&client, &b).await,
        HandshakeKind::Resumed,
        "key 2 ticket"
    );

    std::fs::write(&keys, "not a key\n").expect("break the key file");
    a.signal("HUP");
    eventually("the bad key file is refused", || async {
        a.stderr().contains("TLS ticket key reload failed")
    })
    .await;
    assert!(a.stderr().contains("rotating.keys:1: "), "{}", a.stderr());
    assert_eq!(
        visit(&client, &a).await,
        HandshakeKind::Resumed,
        "old keys kept"
    );
}

#[tokio::test]
async fn a_bad_key_file_stops_the_start_and_check_config_names_its_line() {
    let files = Files::new();
    let short = files.keys("short.keys", &[&KEY_1[..40]]);
    let empty = files.keys("empty.keys", &[]);
    let cases = [
        (short, "short.keys:2: a key is 64 hex digits"),
        (empty, "empty.keys: no key"),
        (files.path("missing.keys"), "missing.keys: "),
    ];
    for (keys, want) in cases {
        let (cert, key) = (files.path("cert.pem"), files.path("key.pem"));
        let settings = [
            ("tls-cert", cert.as_path()),
            ("tls-key", key.as_path()),
            ("tls-ticket-key-file", keys.as_path()),
        ];
        refused_at_start_and_by_check_config(&settings, want).await;
    }
}
