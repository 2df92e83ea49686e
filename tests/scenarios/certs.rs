//! A self-signed certificate made at test time, as PEM files in a temp
//! folder of its own (deleted on drop): what the TLS scenarios serve.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use signpost_e2e::Proc;
use tokio_rustls::TlsConnector;

/// `cert.pem` and `key.pem` for 127.0.0.1 and localhost, and room for
/// other files beside them.
pub struct CertFiles {
    dir: tempfile::TempDir,
    /// The certificate, for clients to trust.
    pub cert_pem: String,
}

impl CertFiles {
    /// A fresh certificate and key in a new temp folder.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("signpost-e2e-tls-")
            .tempdir()
            .expect("create a temp folder");
        let mut files = CertFiles {
            dir,
            cert_pem: String::new(),
        };
        files.renew();
        files
    }

    /// Overwrites the files with a fresh certificate and key.
    pub fn renew(&mut self) {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let made = rcgen::generate_simple_self_signed(names).expect("generate a certificate");
        self.cert_pem = made.cert.pem();
        std::fs::write(self.cert(), &self.cert_pem).expect("write cert.pem");
        std::fs::write(self.key(), made.signing_key.serialize_pem()).expect("write key.pem");
    }

    /// The certificate file, for `--tls-cert`.
    pub fn cert(&self) -> PathBuf {
        self.path("cert.pem")
    }

    /// The key file, for `--tls-key`.
    pub fn key(&self) -> PathBuf {
        self.path("key.pem")
    }

    /// A file `name` in the same folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A raw TLS client trusting this certificate only.
    pub fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let cert = CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).expect("parse the PEM");
        roots.add(cert).expect("trust the certificate");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// `path` as a command-line argument.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Asserts that the dispatcher refuses to start with `files` (flag names
/// without `--`, each with its path) and that `check-config` refuses the
/// same settings from a file with exit code 64, both saying `want`.
pub async fn refused_at_start_and_by_check_config(files: &[(&str, &Path)], want: &str) {
    let mut start = Proc::command("signpost-dispatcher").args(&[
        "--listen",
        "127.0.0.1:0",
        "--control-listen",
        "127.0.0.1:0",
    ]);
    let mut toml = String::new();
    for (flag, path) in files {
        start = start.args(&[&format!("--{flag}"), path_str(path)]);
        toml += &format!("{} = {:?}\n", flag.replace('-', "_"), path_str(path));
    }
    let out = start.output().await;
    assert!(!out.status.success(), "started with {files:?}");
    assert!(out.stderr.contains(want), "want {want:?} in {}", out.stderr);
    // check-config (systemd's ExecStartPre) refuses it as well.
    let config = signpost_e2e::config_file(&toml);
    let out = Proc::command("signpost-dispatcher")
        .args(&["check-config", path_str(config.path())])
        .output()
        .await;
    assert_eq!(out.status.code(), Some(64), "{}", out.stderr);
    assert!(out.stderr.contains(want), "want {want:?} in {}", out.stderr);
}
