//! A self-signed certificate made at test time, as PEM files in a temp
//! folder of its own (deleted on drop): what the TLS scenarios serve.

use std::path::{Path, PathBuf};

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
}

/// `path` as a command-line argument.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}
