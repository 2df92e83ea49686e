//! The sticky cookie: the value a client presents is untrusted bytes that
//! must validate only for the node and secret that signed it.

use http::{HeaderMap, HeaderValue, header::COOKIE};
use signpost_dispatcher::sticky::{COOKIE_NAME, CookieSigner, claimed};
use signpost_shared::validate_node_id;

use crate::split;

/// Fields: a secret, a node id, and a `Cookie` header. The node's genuine
/// cookie, embedded in the header, is claimed for that node and validates
/// there only: not for a node whose id differs, not under another secret.
/// Whatever else the header holds, a claim validates only if it is exactly
/// the claimed node's genuine cookie.
pub fn check(data: &[u8]) {
    let (secret, rest) = split(data);
    let (node, header) = split(rest);
    let signer = CookieSigner::new(secret, false, None);
    let node = std::str::from_utf8(node)
        .ok()
        .filter(|n| validate_node_id(n).is_ok());

    // Arbitrary bytes as the whole header.
    if let Ok(value) = HeaderValue::from_bytes(header) {
        let headers = one(value);
        if let Some((id, presented)) = claimed(&headers) {
            let genuine = signer.pin(id).map(|pin| pin.matches(presented));
            if genuine == Some(true) {
                assert!(presented.starts_with(id.as_bytes()));
                let other = CookieSigner::new(&other_secret(secret), false, None);
                assert_ne!(other.pin(id).map(|p| p.matches(presented)), Some(true));
            }
        }
    }

    // The genuine cookie of `node`, after whatever junk the header holds.
    let Some(node) = node else { return };
    let pin = signer.pin(node).expect("a valid node id makes a cookie");
    let set = pin.set_cookie.to_str().expect("Set-Cookie is ASCII");
    let cookie = &set[..set.find(';').expect("attributes follow")];
    let mut value = Vec::from(b"x=1; ".as_slice());
    value.extend_from_slice(cookie.as_bytes());
    let headers = one(HeaderValue::from_bytes(&value).expect("a cookie is a header value"));
    let (id, presented) = claimed(&headers).expect("the genuine cookie is claimed");
    assert_eq!(id, node);
    assert!(pin.matches(presented), "the genuine cookie must validate");
    let other = CookieSigner::new(&other_secret(secret), false, None);
    assert!(
        !other.pin(node).expect("same id").matches(presented),
        "validated under another secret"
    );
    let mut sibling = node.to_owned();
    sibling.push(if node.ends_with('0') { '1' } else { '0' });
    if validate_node_id(&sibling).is_ok() {
        assert!(
            !signer.pin(&sibling).expect("valid").matches(presented),
            "validated for another node"
        );
    }
    assert!(cookie.starts_with(COOKIE_NAME));
}

/// A secret that differs from `secret` as an HMAC key: by a bit of its
/// last byte, or, for the empty secret, by a non-zero byte (HMAC pads keys
/// with zeros, so `""` and `"\0"` are the same key).
fn other_secret(secret: &[u8]) -> Vec<u8> {
    let mut other = secret.to_vec();
    match other.last_mut() {
        Some(last) => *last ^= 1,
        None => other.push(1),
    }
    other
}

fn one(value: HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, value);
    headers
}
