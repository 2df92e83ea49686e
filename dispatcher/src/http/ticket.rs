//! TLS session tickets sealed with keys from `--tls-ticket-key-file`, so
//! that a ticket one dispatcher replica issues resumes on every replica
//! given the same file, as the cookie secret lets any replica honour a
//! sticky cookie.
//!
//! The file holds one key per line, 64 hex digits each (`openssl rand
//! -hex 32`); blank lines and `#` comments are skipped. The **first** key
//! seals new tickets; **every** key opens them, so the lines after the
//! first are the previous keys that tickets in clients' hands may still
//! carry. Rotation: put the new key first, keep the old one after it for
//! at least [`TICKET_LIFETIME`], copy the file to every replica, SIGHUP
//! them. Besides what the file holds, a reload keeps the key that sealed
//! until then as an opening-only key until the next reload, so a rotation
//! that replaced the whole file still resumes this replica's own tickets.
//!
//! Each secret is stretched by HKDF-SHA256 into an AES-256-GCM key and a
//! 16-byte key name; a ticket is `name ‖ nonce (12) ‖ sealed state ‖ tag
//! (16)` with the name as associated data. Nonces are random: with far
//! fewer than 2³² tickets per key (a busy replica seals a few thousand a
//! second, and keys rotate), a repeat is out of reach.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use rustls::server::ProducesTickets;

/// The lifetime clients are told a ticket has: an old key should stay in
/// the file at least this long after it stopped being first.
pub const TICKET_LIFETIME: u32 = 12 * 60 * 60;

/// Most keys a file may hold: a ticket is tried against its key by name,
/// but a file of hundreds of keys is a mistake, not a rotation.
const MAX_KEYS: usize = 16;

/// Length of a secret, in bytes (64 hex digits).
const SECRET_LEN: usize = 32;

/// Length of the key name that starts every ticket.
const NAME_LEN: usize = 16;

/// HKDF salt: binds the derived keys to this use and format version.
const SALT: &[u8] = b"signpost tls session ticket v1";

/// Why a ticket key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TicketKeyError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A line is not a 64-hex-digit key.
    #[error("{}:{line}: {reason}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file holds no key, or too many.
    #[error("{}: {reason}", path.display())]
    Count {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The session ticketer rustls calls: seals with the current key, opens
/// with any key it holds, and swaps its keys whole on reload.
pub struct Ticketer {
    keys: ArcSwap<KeySet>,
    path: PathBuf,
}

// === impl Ticketer ===

impl Ticketer {
    /// A ticketer with the keys of `path`, or why they cannot be used.
    pub fn from_file(path: &Path) -> Result<Self, TicketKeyError> {
        Ok(Ticketer {
            keys: ArcSwap::from_pointee(read(path)?),
            path: path.to_owned(),
        })
    }

    /// Reads the file again and swaps its keys in, keeping the key that
    /// sealed until now as an opening-only key (until the next reload).
    /// On error the keys in use stay, and the error says why.
    pub fn reload(&self) -> Result<(), TicketKeyError> {
        let mut fresh = read(&self.path)?;
        let old = self.keys.load();
        let sealing = &old.keys[0];
        if !fresh.keys.iter().any(|k| k.name == sealing.name) {
            fresh.keys.push(sealing.clone());
        }
        self.keys.store(Arc::new(fresh));
        Ok(())
    }

    /// The key file, for log lines.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ProducesTickets for Ticketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        TICKET_LIFETIME
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.keys.load().keys[0].seal(plain)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let name = ticket.get(..NAME_LEN)?;
        let keys = self.keys.load();
        keys.keys.iter().find(|k| k.name == name)?.open(ticket)
    }
}

impl fmt::Debug for Ticketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys.
        f.debug_struct("Ticketer")
            .field("path", &self.path)
            .field("keys", &self.keys.load().keys.len())
            .finish()
    }
}

/// The keys in use: the first seals, all open.
struct KeySet {
    keys: Vec<Arc<TicketKey>>,
}

/// One secret, stretched into its sealing key and its public name.
struct TicketKey {
    name: [u8; NAME_LEN],
    aead: RandomizedNonceKey,
}

// === impl TicketKey ===

impl TicketKey {
    /// Derives the AEAD key and the name from `secret` by HKDF.
    fn derive(secret: &[u8; SECRET_LEN]) -> Self {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret);
        let mut name = [0; NAME_LEN];
        let mut key = [0; SECRET_LEN];
        // Both lengths are far below HKDF-SHA256's limit of 8160 bytes.
        let expanded = prk
            .expand(&[b"name"], Len(NAME_LEN))
            .and_then(|okm| okm.fill(&mut name))
            .and_then(|()| prk.expand(&[b"aes-256-gcm"], Len(SECRET_LEN)))
            .and_then(|okm| okm.fill(&mut key))
            .and_then(|()| RandomizedNonceKey::new(&AES_256_GCM, &key));
        let aead = expanded.expect("HKDF output of a valid length and a 32-byte AES key");
        TicketKey { name, aead }
    }

    /// `name ‖ nonce ‖ ciphertext ‖ tag`, or `None` if sealing failed.
    fn seal(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut sealed = plain.to_vec();
        let nonce = self
            .aead
            .seal_in_place_append_tag(Aad::from(&self.name), &mut sealed)
            .ok()?;
        let mut ticket = Vec::with_capacity(NAME_LEN + NONCE_LEN + sealed.len());
        ticket.extend_from_slice(&self.name);
        ticket.extend_from_slice(nonce.as_ref());
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    /// The state sealed in `ticket` (which starts with this key's name),
    /// or `None` if it was not sealed by this key or was altered.
    fn open(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let rest = ticket.get(NAME_LEN..)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut state = sealed.to_vec();
        let plain_len = self
            .aead
            .open_in_place(nonce, Aad::from(&self.name), &mut state)
            .ok()?
            .len();
        state.truncate(plain_len);
        Some(state)
    }
}

/// An HKDF output length.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// Reads and parses the key file at `path`.
fn read(path: &Path) -> Result<KeySet, TicketKeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| TicketKeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// The keys of `text`, read from `path`: one per line, the first seals.
fn parse(path: &Path, text: &str) -> Result<KeySet, TicketKeyError> {
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let secret = secret(line).map_err(|reason| TicketKeyError::Line {
            path: path.to_owned(),
            line: i + 1,
            reason,
        })?;
        keys.push(Arc::new(TicketKey::derive(&secret)));
    }
    let count = |reason: String| TicketKeyError::Count {
        path: path.to_owned(),
        reason,
    };
    match keys.len() {
        0 => Err(count(
            "no key: one 64-hex-digit key per line expected (openssl rand -hex 32)".to_owned(),
        )),
        n if n > MAX_KEYS => Err(count(format!("{n} keys, at most {MAX_KEYS} allowed"))),
        _ => Ok(KeySet { keys }),
    }
}

/// The 32 bytes that `line`'s 64 hex digits spell.
fn secret(line: &str) -> Result<[u8; SECRET_LEN], String> {
    if line.len() != 2 * SECRET_LEN {
        return Err(format!(
            "a key is {} hex digits (32 random bytes, openssl rand -hex 32), this line has {} characters",
            2 * SECRET_LEN,
            line.chars().count()
        ));
    }
    if !line.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("not a hex key: only 0-9 and a-f allowed".to_owned());
    }
    let mut secret = [0; SECRET_LEN];
    for (byte, pair) in secret.iter_mut().zip(line.as_bytes().chunks_exact(2)) {
        let digit = |d: u8| char::from(d).to_digit(16).unwrap_or_default() as u8;
        *byte = digit(pair[0]) << 4 | digit(pair[1]);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests;
