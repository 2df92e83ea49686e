//! # signpost-fuzz: every parser that meets untrusted bytes, as a fuzz target
//!
//! Each target takes arbitrary bytes, feeds them to one parser the way the
//! dispatcher does, and panics if an invariant breaks; a panic is what both
//! drivers count as a finding:
//!
//! - `cargo test -p signpost-fuzz` runs every target under proptest, on
//!   arbitrary bytes and on near-valid inputs (`tests/properties.rs`);
//! - `chaos/fuzz.sh` runs them under AFL++, coverage-guided, through the
//!   `afl-target` binary (feature `afl`).
//!
//! The invariants, one module each:
//!
//! | target | parser | invariant beyond "no panic" |
//! |---|---|---|
//! | `report` | `LoadReport::from_json` (full and seed form) | an accepted report is in range and survives a round trip; a refused one changes nothing in the dispatcher |
//! | `base-url` | `validate_url` | an accepted URL is a valid header value and, where a browser parses it, has an http(s) origin |
//! | `location` | the `Location` builder | a `Location` never leaves the backend's origin |
//! | `cookie` | the sticky cookie's reader and signer | a cookie never validates for another node or secret |
//! | `forwarded` | `X-Forwarded-For` / `Forwarded` | an untrusted peer is never overridden; a trusted one only by an untrusted hop |
//! | `config` | the TOML config file | an accepted file only yields valid backend URLs |
//! | `head` | the public listener's request head (hyper + `respond`) | every answer is a redirect to a known backend, a 503 with `Retry-After`, or a 4xx/5xx refusal |

pub mod config;
pub mod cookie;
pub mod forwarded;
pub mod head;
pub mod report;
pub mod url;

/// A fuzz target: takes any bytes, panics when an invariant breaks.
pub type Target = fn(&[u8]);

/// The targets by name, as `afl-target NAME` and the proptests call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("report", report::check),
    ("base-url", url::base_url),
    ("location", url::location),
    ("cookie", cookie::check),
    ("forwarded", forwarded::check),
    ("config", config::check),
    ("head", head::check),
];

/// The target called `name`, if there is one.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Splits fuzz input into fields: the first byte says how long the first
/// field is (modulo what is there), the rest is the remainder. Lets one
/// byte string carry a secret, a node id and a header at once, so that
/// mutations of any of them stay meaningful to a coverage-guided fuzzer.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        Some((&len, rest)) => rest.split_at((len as usize).min(rest.len())),
        None => (&[], &[]),
    }
}
