//! Base URLs: the prefix of every `Location` the dispatcher sends.
//!
//! The dispatcher writes a backend's URL into redirects byte for byte (plus
//! the client's path and query), so a URL is accepted only if it is already
//! what a client reads back unchanged: an absolute `http` or `https` URI
//! (RFC 3986) with a host, an optional port and an optional path, nothing
//! else. A general URL parser such as the `url` crate's (WHATWG) is the
//! wrong judge here: it repairs what it reads — drops tabs and newlines,
//! turns `\` into `/`, trims spaces, maps Unicode hosts to punycode — so a
//! URL it accepts could still break every redirect when sent as written.
//! (It was also 60 % of the CPU that reading a pushed report took.)

use std::net::{Ipv4Addr, Ipv6Addr};

/// Checks `url` as a base URL; the error says what is wrong with it.
pub(crate) fn check(url: &str) -> Result<(), &'static str> {
    if url.is_empty() {
        return Err("must not be empty");
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("is not a valid URL: expected http(s)://host[:port][/path]")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("must use http or https");
    }
    if !url.bytes().all(is_uri_byte) {
        return Err(
            "may contain only URI characters: no spaces, control characters, '\\' \
             or non-ASCII (percent-encode them, use punycode for hosts)",
        );
    }
    if rest.contains(['?', '#']) {
        return Err("must not have a query or fragment");
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("must not carry credentials");
    }
    let (host, port) = split_port(authority)?;
    check_host(host)?;
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err("has an invalid port");
    }
    check_path(path)
}

/// Splits `host[:port]`, where an IPv6 host is in brackets.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    let end_of_host = if authority.starts_with('[') {
        authority
            .find(']')
            .ok_or("has an unclosed '[' in its host")?
            + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, after) = authority.split_at(end_of_host);
    match after.strip_prefix(':') {
        Some(port) => Ok((host, Some(port))),
        None if after.is_empty() => Ok((host, None)),
        None => Err("has something other than a port after its host"),
    }
}

fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("must name a host");
    }
    if let Some(ip) = host.strip_prefix('[') {
        let ip = ip.strip_suffix(']').unwrap_or(ip);
        return ip
            .parse::<Ipv6Addr>()
            .map(drop)
            .map_err(|_| "has an invalid IPv6 address");
    }
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if !host.bytes().all(name_byte) {
        return Err("has an invalid host name");
    }
    // All digits and dots reads as an IPv4 address, so it must be one.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') && host.parse::<Ipv4Addr>().is_err() {
        return Err("has an invalid IPv4 address");
    }
    Ok(())
}

/// A path is `/`-separated segments of RFC 3986 `pchar`s; the caller has
/// ruled out everything but URI characters, `?` and `#`.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.contains(['[', ']']) {
        return Err("has '[' or ']' in its path");
    }
    let bytes = path.as_bytes();
    for (at, _) in path.match_indices('%') {
        let escaped = bytes.get(at + 1..at + 3);
        if !escaped.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
            return Err("has a '%' that is not followed by two hex digits");
        }
    }
    Ok(())
}

/// RFC 3986's unreserved and reserved characters, and `%`.
fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_a_client_reads_back_unchanged() {
        for url in [
            "http://10.0.0.11:8000",
            "https://web-1.example.com",
            "HTTP://Web-1.Example.com:80/",
            "http://web_1.internal./app/v2/",
            "https://[::1]:8443/app",
            "https://[2001:db8::a]/",
            "http://h/~user/a;b=c/x:y@z/%41%2f/!$&'()*+,",
            "http://127.0.0.1:65535",
        ] {
            assert_eq!(check(url), Ok(()), "{url:?}");
        }
    }

    #[test]
    fn refuses_what_would_break_or_change_a_location() {
        let cases = [
            ("", "must not be empty"),
            ("not a url", "is not a valid URL"),
            ("web-1:8000", "is not a valid URL"),
            ("ftp://x", "must use http or https"),
            ("http://a\tb:80/x", "only URI characters"),
            ("http://a\nb:80/x", "only URI characters"),
            ("http://h:80\r\nSet-Cookie: x=1", "only URI characters"),
            (" http://c:80", "must use http or https"),
            ("http://c:80 ", "only URI characters"),
            ("http://e:80/a b", "only URI characters"),
            ("http:\\\\d:80\\p", "is not a valid URL"),
            ("http://d:80\\p", "only URI characters"),
            ("http://f:80/\u{e9}", "only URI characters"),
            ("http://b\u{fc}cher.example", "only URI characters"),
            (
                "http://g:80/%zz",
                "'%' that is not followed by two hex digits",
            ),
            (
                "http://g:80/%4",
                "'%' that is not followed by two hex digits",
            ),
            ("http://host/?q=1", "must not have a query"),
            ("http://host/#top", "must not have a query or fragment"),
            ("http://u:p@host", "must not carry credentials"),
            ("http://u@host/", "must not carry credentials"),
            ("http://", "must name a host"),
            ("http://:80/", "must name a host"),
            ("http:///path", "must name a host"),
            ("http://h:/", "has an invalid port"),
            ("http://h:65536", "has an invalid port"),
            ("http://h:+80", "has an invalid port"),
            ("http://h:80:81", "has an invalid port"),
            ("http://[::1", "unclosed '['"),
            ("http://[::g]:80", "invalid IPv6 address"),
            ("http://[::1]x", "something other than a port"),
            ("http://::1/", "must name a host"),
            ("http://999.1.1.1/", "invalid IPv4 address"),
            ("http://a!b/", "invalid host name"),
            ("http://a%20b/", "invalid host name"),
            ("http://h/[x]", "'[' or ']' in its path"),
        ];
        for (url, want) in cases {
            match check(url) {
                Err(reason) => assert!(
                    reason.contains(want),
                    "{url:?}: {reason:?}, wanted {want:?}"
                ),
                Ok(()) => panic!("{url:?} accepted, wanted {want:?}"),
            }
        }
    }
}
