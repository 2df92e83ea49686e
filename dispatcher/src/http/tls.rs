//! TLS on the public listener (`--tls-cert`, `--tls-key`): rustls with the
//! aws-lc-rs provider reqwest already links, so the binary carries one
//! crypto stack and no OpenSSL.
//!
//! [`redirect::serve`](super::redirect::serve) accepts as usual, wraps the
//! socket in the same [`Deadline`] as plain connections, and runs
//! [`Tls::connection`]: the handshake, then HTTP/1.1 or HTTP/2, as ALPN
//! agreed, with the same redirect service. With the deadline under the TLS
//! layer, a client that stalls the handshake, dribbles a request head or
//! idles is cut off once nothing was written to it for the client timeout.
//! Plain HTTP never enters this module.
//!
//! The certificate is a [`ResolvesServerCert`] over an [`ArcSwap`]: every
//! handshake loads the current one, and SIGHUP (the one reload path, in
//! the lib's `reload_on_hangup`, calls [`Tls::reload`]) reads the files
//! again and swaps the new pair in. A reload that fails is logged and the
//! old certificate stays.
//!
//! Sessions resume by ticket: with `--tls-ticket-key-file`, a
//! [`Ticketer`] over keys shared by every replica (SIGHUP rereads them
//! too; see `ticket.rs`), so a client returning through another replica
//! skips the full handshake. Without it, rustls's default: a per-process
//! cache of 256 sessions.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::BoxError;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::deadline::Deadline;
use super::fresh::Fresh;
use super::ticket::{TicketKeyError, Ticketer};
use crate::config::{Config, TlsConfig};

/// ALPN protocols offered, most preferred first.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A TLS-terminating public listener's shared parts: the acceptor over a
/// reloadable certificate, and the HTTP/1.1 + HTTP/2 connection builder.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    cert: Arc<ReloadableCert>,
    tickets: Option<Arc<Ticketer>>,
    http: Arc<auto::Builder<TokioExecutor>>,
}

/// Why the certificate or key could not be used. Every variant names the
/// file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read, or is not valid PEM.
    #[error("cannot read {}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("{}: no PEM certificate found", path.display())]
    NoCertificate {
        /// The `--tls-cert` file.
        path: PathBuf,
    },
    /// The key file holds no private key block.
    #[error("{}: no PEM private key found (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey {
        /// The `--tls-key` file.
        path: PathBuf,
    },
    /// The key is of a kind or algorithm rustls cannot sign with.
    #[error("{}: unusable private key: {source}", path.display())]
    Key {
        /// The `--tls-key` file.
        path: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// The key is not the certificate's, or the certificate is malformed.
    #[error("{} does not match the certificate in {}: {source}", key.display(), cert.display())]
    Mismatch {
        /// The `--tls-key` file.
        key: PathBuf,
        /// The `--tls-cert` file.
        cert: PathBuf,
        /// What rustls said.
        source: rustls::Error,
    },
    /// The `--tls-ticket-key-file` cannot be used.
    #[error(transparent)]
    TicketKeys(#[from] TicketKeyError),
    /// rustls refused the protocol settings (a build problem, not a file).
    #[error("TLS settings: {0}")]
    Settings(rustls::Error),
}

// === impl Tls ===

impl Tls {
    /// The TLS listener parts for `config`, or `None` when `config.tls` is
    /// unset (plain HTTP). Fails, naming the file, when the certificate or
    /// key cannot be read, parsed or paired.
    pub fn from_config(config: &Config) -> Result<Option<Self>, TlsError> {
        let Some(files) = &config.tls else {
            return Ok(None);
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let cert = Arc::new(ReloadableCert {
            current: ArcSwap::from_pointee(load(files, &provider)?),
            files: files.clone(),
            provider: provider.clone(),
        });
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Settings)?
            .with_no_client_auth()
            .with_cert_resolver(cert.clone());
        server.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        let tickets = match &files.ticket_keys {
            Some(path) => Some(Arc::new(Ticketer::from_file(path)?)),
            None => None,
        };
        if let Some(tickets) = &tickets {
            server.ticketer = tickets.clone();
        }

        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            // `Deadline` under the TLS layer enforces the client timeout.
            .header_read_timeout(None)
            // The HTTP/1 head must fit the read buffer, as --max-header-bytes
            // bounds it on the plain listener (config keeps it >= 8192).
            .max_buf_size(config.max_header_bytes)
            .keep_alive(true);
        http.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
            .keep_alive_interval(config.client_timeout);
        Ok(Some(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            cert,
            tickets,
            http: Arc::new(http),
        }))
    }

    /// The TLS connection on `stream`: the handshake, then `service` over
    /// HTTP/1.1 or HTTP/2, watched by `graceful`. `stream` carries the
    /// listener's client timeout under the TLS layer, so a stalled
    /// handshake is cut off like a stalled request; it counts as fresh
    /// until its first decrypted bytes, not its `ClientHello`.
    pub(crate) fn connection<S>(
        &self,
        mut stream: Deadline<Fresh<TcpStream>>,
        service: S,
        graceful: Watcher,
    ) -> impl Future<Output = Result<(), BoxError>> + Send + 'static
    where
        S: Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let (acceptor, http) = (self.acceptor.clone(), self.http.clone());
        async move {
            let unread = stream.get_mut().take_unread();
            let stream = acceptor
                .accept(stream)
                .await
                .map_err(|err| format!("TLS handshake failed: {err}"))?;
            let stream = TokioIo::new(Fresh::new(stream, unread));
            graceful.watch(http.serve_connection(stream, service)).await
        }
    }

    /// Reads the certificate and key, and the ticket keys, from their
    /// files again and swaps them in for new handshakes; the SIGHUP path
    /// calls it. A reload that fails is logged and what was in use stays.
    pub fn reload(&self) {
        self.cert.reload();
        if let Some(tickets) = &self.tickets {
            match tickets.reload() {
                Ok(()) => {
                    tracing::info!(file = %tickets.path().display(), "SIGHUP: TLS ticket keys reloaded");
                }
                Err(err) => {
                    tracing::error!(error = %err, "SIGHUP: TLS ticket key reload failed; keeping the old keys");
                }
            }
        }
    }
}

/// The certificate in use, swapped whole on reload.
#[derive(Debug)]
struct ReloadableCert {
    current: ArcSwap<CertifiedKey>,
    files: TlsConfig,
    provider: Arc<CryptoProvider>,
}

// === impl ReloadableCert ===

impl ReloadableCert {
    /// Reads the files again and swaps the pair in, or logs why not. The
    /// files are a few KiB, read once per signal: blocking is harmless.
    fn reload(&self) {
        match load(&self.files, &self.provider) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                tracing::info!(cert = %self.files.cert.display(), "SIGHUP: TLS certificate reloaded");
            }
            Err(err) => {
                tracing::error!(error = %err, "SIGHUP: TLS certificate reload failed; keeping the old one");
            }
        }
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Reads the PEM chain and key named by `files` and checks they pair up.
fn load(files: &TlsConfig, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let pem_error = |path: &PathBuf| {
        let path = path.clone();
        move |source| TlsError::Pem { path, source }
    };
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(pem_error(&files.cert))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key = match PrivateKeyDer::from_pem_file(&files.key) {
        Ok(key) => key,
        Err(pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: files.key.clone(),
            });
        }
        Err(source) => return Err(pem_error(&files.key)(source)),
    };
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsError::Key {
            path: files.key.clone(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        // A key type whose public half rustls cannot derive: let it be.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(certified),
        Err(source) => Err(TlsError::Mismatch {
            key: files.key.clone(),
            cert: files.cert.clone(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh self-signed certificate and its key, as PEM.
    fn self_signed() -> (String, String) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (cert.cert.pem(), cert.signing_key.serialize_pem())
    }

    fn write(dir: &tempfile::TempDir, name: &str, contents: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// (cert PEM, key PEM, substrings the error must hold; empty: loads).
    #[test]
    fn bad_files_are_refused_with_their_name() {
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        let cases: [(&str, &str, &[&str]); 6] = [
            (&cert, &key, &[]),
            ("", &key, &["cert.pem", "no PEM certificate"]),
            (
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                &key,
                &["cert.pem", "base64"],
            ),
            (&cert, &cert, &["key.pem", "no PEM private key"]),
            (&cert, &other_key, &["key.pem does not match", "cert.pem"]),
            (&key, &key, &["cert.pem", "no PEM certificate"]),
        ];
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        for (i, (cert, key, want)) in cases.into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let files = TlsConfig {
                cert: write(&dir, "cert.pem", cert),
                key: write(&dir, "key.pem", key),
                ticket_keys: None,
            };
            crate::http::assert_loads_or_refuses(i, load(&files, &provider), want);
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let files = TlsConfig {
            cert: PathBuf::from("/nonexistent/cert.pem"),
            key: PathBuf::from("/nonexistent/key.pem"),
            ticket_keys: None,
        };
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let err = load(&files, &provider).err().unwrap().to_string();
        assert!(
            err.starts_with("cannot read /nonexistent/cert.pem: "),
            "{err}"
        );
    }
}
