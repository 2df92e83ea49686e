//! Client pinning: signed cookies, and who the client is.
//!
//! A sticky cookie is `signpost=<node_id>.<mac>`, where `mac` is the first
//! 16 bytes of HMAC-SHA256(secret, node_id) in hex. Any dispatcher replica
//! with the same secret can check it, so replicas share no state. Since the
//! value depends only on the node and the secret, it is computed once per
//! node ([`PinCookie`]) and checking a request's cookie is a lookup plus a
//! constant-time comparison: no HMAC on the request path.
//!
//! The client's address is the socket peer, unless that peer is a trusted
//! proxy (`--trust-forwarded`), in which case the nearest untrusted address
//! in `X-Forwarded-For` (or `Forwarded: for=`) is.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use http::HeaderMap;
use http::HeaderValue;
use ipnet::IpNet;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The cookie's name.
pub const COOKIE_NAME: &str = "signpost";

/// Bytes of the HMAC kept in the cookie: 128 bits, plenty against forgery.
const MAC_BYTES: usize = 16;

/// Signs node ids with the configured secret and knows the cookie's
/// attributes.
#[derive(Clone)]
pub struct CookieSigner {
    /// The keyed HMAC state, cloned for each signature.
    key: Hmac<Sha256>,
    /// `; Path=/; HttpOnly; SameSite=Lax` plus `Secure` and `Max-Age`.
    attributes: String,
}

/// A node's cookie, computed once.
#[derive(Debug, Clone)]
pub struct PinCookie {
    /// `<node_id>.<mac>`: what a client presents.
    value: Box<[u8]>,
    /// The whole `Set-Cookie` value that issues it.
    pub set_cookie: HeaderValue,
}

// === impl CookieSigner ===

impl CookieSigner {
    /// A signer for `secret`; cookies are `Secure` when `secure`, and
    /// persistent for `max_age` when given.
    pub fn new(secret: &[u8], secure: bool, max_age: Option<Duration>) -> Self {
        let key = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        let mut attributes = String::from("; Path=/; HttpOnly; SameSite=Lax");
        if secure {
            attributes.push_str("; Secure");
        }
        if let Some(age) = max_age {
            let _ = write!(attributes, "; Max-Age={}", age.as_secs());
        }
        CookieSigner { key, attributes }
    }

    /// The cookie pinning clients to `node_id`; `None` only if the id
    /// cannot be a header value (validated ids always can).
    pub fn pin(&self, node_id: &str) -> Option<PinCookie> {
        let mut mac = self.key.clone();
        mac.update(node_id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut value = String::with_capacity(node_id.len() + 1 + 2 * MAC_BYTES);
        value.push_str(node_id);
        value.push('.');
        for byte in &digest[..MAC_BYTES] {
            let _ = write!(value, "{byte:02x}");
        }
        let header = format!("{COOKIE_NAME}={value}{}", self.attributes);
        Some(PinCookie {
            set_cookie: HeaderValue::try_from(header).ok()?,
            value: value.into_bytes().into_boxed_slice(),
        })
    }
}

impl std::fmt::Debug for CookieSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("CookieSigner")
            .field("attributes", &self.attributes)
            .finish_non_exhaustive()
    }
}

// === impl PinCookie ===

impl PinCookie {
    /// Whether `presented` is exactly this cookie, compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.value.ct_eq(presented).into()
    }
}

/// The node id a request's sticky cookie claims, with the whole value to
/// verify; `None` without a well-formed cookie.
pub fn claimed(headers: &HeaderMap) -> Option<(&str, &[u8])> {
    let value = cookie(headers, COOKIE_NAME)?;
    let dot = value.iter().rposition(|&b| b == b'.')?;
    let id = std::str::from_utf8(&value[..dot]).ok()?;
    Some((id, value))
}

/// The client's address: `peer`, or, when `peer` is a trusted proxy, the
/// nearest untrusted hop its forwarding headers name.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    // Right to left: the rightmost hop was added by our trusted neighbour.
    hops.into_iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .unwrap_or(peer)
}

/// Every address in `X-Forwarded-For`, or else in `Forwarded: for=`, left
/// to right. Unparseable entries end the list: nothing left of them can be
/// trusted.
fn forwarded_hops(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let xff = values(http::header::HeaderName::from_static("x-forwarded-for"));
    let entries: Vec<&str> = if xff.is_empty() {
        values(http::header::FORWARDED)
            .into_iter()
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (key, value) = pair.trim().split_once('=')?;
                    key.eq_ignore_ascii_case("for").then_some(value)
                })
            })
            .collect()
    } else {
        xff
    };
    let parsed: Vec<Option<IpAddr>> = entries.iter().map(|e| parse_hop(e)).collect();
    // Keep the trailing run of parseable addresses.
    let start = parsed
        .iter()
        .rposition(Option::is_none)
        .map_or(0, |i| i + 1);
    parsed[start..].iter().flatten().copied().collect()
}

/// An address as forwarding headers write it: `1.2.3.4`, `"[2001:db8::1]:80"`,
/// `1.2.3.4:5678`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim_matches('"');
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    entry.rsplit_once(':')?.0.parse().ok()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let (key, value) = pair.split_at(pair.iter().position(|&b| b == b'=')?);
            (key == name.as_bytes()).then_some(&value[1..])
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn cookies_verify_only_with_the_same_secret_and_node() {
        let signer = CookieSigner::new(b"0123456789abcdef-shared", false, None);
        let replica = CookieSigner::new(b"0123456789abcdef-shared", false, None);
        let other = CookieSigner::new(b"another-secret-entirely", false, None);
        let pin = signer.pin("web-1").unwrap();
        let header = pin.set_cookie.to_str().unwrap();
        assert!(header.starts_with("signpost=web-1."), "{header}");
        assert!(
            header.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
            "{header}"
        );

        let presented = headers(&[("cookie", &header[..header.find(';').unwrap()])]);
        let (id, value) = claimed(&presented).unwrap();
        assert_eq!(id, "web-1");
        assert!(
            replica.pin(id).unwrap().matches(value),
            "replicas share cookies"
        );
        assert!(
            !other.pin(id).unwrap().matches(value),
            "another secret refuses it"
        );
        assert!(
            !signer.pin("web-2").unwrap().matches(value),
            "the mac is per node"
        );
    }

    #[test]
    fn forged_and_malformed_cookies_claim_nothing_valid() {
        let signer = CookieSigner::new(b"0123456789abcdef", false, None);
        let forged = headers(&[("cookie", "signpost=web-1.00000000000000000000000000000000")]);
        let (id, value) = claimed(&forged).unwrap();
        assert!(!signer.pin(id).unwrap().matches(value));
        for bad in ["signpost=web-1", "other=web-1.abc", "signpost="] {
            assert!(claimed(&headers(&[("cookie", bad)])).is_none(), "{bad}");
        }
    }

    #[test]
    fn attributes_follow_the_settings() {
        let signer = CookieSigner::new(b"0123456789abcdef", true, Some(Duration::from_secs(3600)));
        let pin = signer.pin("n").unwrap();
        let header = pin.set_cookie.to_str().unwrap();
        assert!(header.ends_with("; Secure; Max-Age=3600"), "{header}");
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let check = |peer: IpAddr, pairs: &[(&str, &str)], trust: &[IpNet], want: &str| {
            let got = client_ip(peer, &headers(pairs), trust);
            assert_eq!(got, want.parse::<IpAddr>().unwrap(), "{pairs:?}");
        };
        let xff = [("x-forwarded-for", "198.51.100.7, 10.0.0.9")];
        check(stranger, &xff, &trusted, "203.0.113.9");
        check(proxy, &xff, &[], "10.0.0.5");
        check(proxy, &xff, &trusted, "198.51.100.7");
        check(
            proxy,
            &[("x-forwarded-for", "1.1.1.1, 198.51.100.7")],
            &trusted,
            "198.51.100.7",
        );
        check(
            proxy,
            &[("forwarded", "for=198.51.100.7;proto=https")],
            &trusted,
            "198.51.100.7",
        );
        check(
            proxy,
            &[("forwarded", "for=\"[2001:db8::1]:4711\"")],
            &trusted,
            "2001:db8::1",
        );
        check(
            proxy,
            &[("x-forwarded-for", "garbage")],
            &trusted,
            "10.0.0.5",
        );
        check(proxy, &[], &trusted, "10.0.0.5");
    }

    #[test]
    fn cookie_parsing() {
        let check = |header: &str, name: &str, want: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::COOKIE, header.parse().unwrap());
            assert_eq!(
                cookie(&headers, name),
                want.map(str::as_bytes),
                "{header} / {name}"
            );
        };
        check("sid=abc", "sid", Some("abc"));
        check("a=1;sid=abc", "sid", Some("abc"));
        check("a=1; sid=", "sid", Some(""));
        check("xsid=abc", "sid", None);
        check("sid", "sid", None);
        check("a=b=c", "a", Some("b=c"));
    }
}
