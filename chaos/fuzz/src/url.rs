//! Base URLs (from reports and the config) and the `Location` built from
//! one and a client's request target.

use http::{HeaderValue, Uri};
use signpost_dispatcher::http::redirect::location as build_location;
use signpost_shared::validate_url;

use crate::split;

/// `data` as a base URL: if accepted, it must be a valid header value and,
/// wherever a browser's (WHATWG) parser reads it at all, an http(s) origin.
pub fn base_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if validate_url(text).is_err() {
        return;
    }
    assert!(
        HeaderValue::from_str(text).is_ok(),
        "{text:?} is no header value"
    );
    let _ = origin_of(text);
}

/// `data` as a base URL (the first field) and a request target (the rest):
/// the `Location` starts with the base, byte for byte, is a valid header
/// value, and a browser resolves it to the base's origin.
pub fn location(data: &[u8]) {
    let (base, target) = split(data);
    let Ok(base) = std::str::from_utf8(base) else {
        return;
    };
    if validate_url(base).is_err() {
        return;
    }
    // As the registry stores it (`Node::refresh_base_url`).
    let base = base.trim_end_matches('/');
    let Ok(target) = Uri::try_from(target) else {
        return;
    };
    let location = build_location(base, &target);
    assert!(location.starts_with(base), "{location:?} dropped {base:?}");
    assert!(
        HeaderValue::from_str(&location).is_ok(),
        "{location:?} is no header value"
    );
    if let Some(origin) = origin_of(base) {
        let resolved = ::url::Url::parse(&location)
            .unwrap_or_else(|e| panic!("{location:?} ({base:?} + {target}) does not parse: {e}"));
        assert_eq!(
            resolved.origin(),
            origin,
            "{location:?} left the origin of {base:?}"
        );
    }
}

/// The origin a browser gives `base`, which must be a scheme, host and
/// port; `None` where it does not parse `base` at all.
fn origin_of(base: &str) -> Option<::url::Origin> {
    let parsed = ::url::Url::parse(base).ok()?;
    let origin = parsed.origin();
    assert!(origin.is_tuple(), "{base:?} has an opaque origin");
    Some(origin)
}
