//! `--allow-backend`: where a report may send clients.
//!
//! Whoever can push a report chooses where clients go, so one stolen token
//! would turn the dispatcher into an open redirect. An allow-list bounds
//! that: a pushed or polled report may only advertise a URL that one of
//! its patterns admits. A pattern is `[SCHEME://]HOST[:PORT]`, where HOST
//! is a CIDR (`10.0.0.0/8`), an address, a name (`web-1.example`) or a
//! name with a `*.` prefix that admits every name below it
//! (`*.pods.example`). CIDRs match only URLs whose host is an address:
//! names are never resolved here, since DNS would then decide.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use url::{Host, Url};

/// One `--allow-backend` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendPattern {
    /// `http` or `https`; any when `None`.
    scheme: Option<String>,
    host: HostPattern,
    /// Any port when `None`.
    port: Option<u16>,
    /// As written, for messages.
    text: String,
}

/// What a pattern's host admits.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Address literals inside a network (a single address is a /32 or /128).
    Net(IpNet),
    /// Exactly this name (lower-case).
    Name(String),
    /// Every name ending in `.suffix` (lower-case, without the dot).
    Below(String),
}

/// The allow-list: empty admits every URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(pub Vec<BackendPattern>);

// === impl AllowList ===

impl AllowList {
    /// Whether no pattern is set, which admits every URL.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether clients may be sent to `url`: the list is empty, or one
    /// pattern admits it. A URL that does not parse is not admitted.
    pub fn permits(&self, url: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        let Ok(url) = Url::parse(url) else {
            return false;
        };
        self.0.iter().any(|pattern| pattern.admits(&url))
    }
}

// === impl BackendPattern ===

impl BackendPattern {
    fn admits(&self, url: &Url) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == url.scheme());
        let port_ok = self
            .port
            .is_none_or(|p| Some(p) == url.port_or_known_default());
        scheme_ok && port_ok && self.host.admits(url.host())
    }
}

impl HostPattern {
    fn admits(&self, host: Option<Host<&str>>) -> bool {
        match (self, host) {
            (Self::Net(net), Some(Host::Ipv4(ip))) => net.contains(&IpAddr::V4(ip)),
            (Self::Net(net), Some(Host::Ipv6(ip))) => net.contains(&ip.to_canonical()),
            (Self::Name(name), Some(Host::Domain(d))) => d.eq_ignore_ascii_case(name),
            (Self::Below(suffix), Some(Host::Domain(d))) => {
                let d = d.to_ascii_lowercase();
                d.len() > suffix.len() + 1
                    && d.ends_with(suffix.as_str())
                    && d.as_bytes()[d.len() - suffix.len() - 1] == b'.'
            }
            _ => false,
        }
    }
}

impl FromStr for BackendPattern {
    type Err = String;

    /// Parses `[SCHEME://]HOST[:PORT]`; an IPv6 host with a port is written
    /// in brackets, `[fd00::/8]:8080`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "invalid backend pattern {s:?}: {why}; expected [SCHEME://]HOST[:PORT] with \
                 HOST a CIDR, an address, a name or *.name"
            )
        };
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => (Some(scheme.to_owned()), rest),
            Some(_) => return Err(bad("the scheme must be http or https")),
            None => (None, s),
        };
        let (host, port) = split_port(rest).ok_or_else(|| bad("bad port or brackets"))?;
        let host = HostPattern::parse(host).ok_or_else(|| bad("bad host"))?;
        Ok(BackendPattern {
            scheme,
            host,
            port,
            text: s.to_owned(),
        })
    }
}

impl fmt::Display for BackendPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl HostPattern {
    fn parse(host: &str) -> Option<Self> {
        if let Ok(net) = host.parse::<IpNet>() {
            return Some(Self::Net(net.trunc()));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(Self::Net(IpNet::from(ip)));
        }
        let (below, name) = match host.strip_prefix("*.") {
            Some(name) => (true, name),
            None => (false, host),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return None;
        }
        let name = name.to_ascii_lowercase();
        Some(if below {
            Self::Below(name)
        } else {
            Self::Name(name)
        })
    }
}

/// Splits `HOST[:PORT]` (`[V6]:PORT` for IPv6, or a bare IPv6 address or
/// network without a port).
fn split_port(s: &str) -> Option<(&str, Option<u16>)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0);
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(port(p)?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.matches(':').count() {
        0 => Some((s, None)),
        1 => {
            let (host, p) = s.split_once(':')?;
            Some((host, Some(port(p)?)))
        }
        _ => Some((s, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> AllowList {
        AllowList(patterns.iter().map(|p| p.parse().unwrap()).collect())
    }

    #[test]
    fn patterns_admit_what_they_name_and_nothing_else() {
        let cases: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "http://10.1.2.3:8000", true),
            ("10.0.0.0/8", "https://10.1.2.3", true),
            ("10.0.0.0/8", "http://11.0.0.1", false),
            ("10.0.0.0/8", "http://ten.example", false),
            ("10.1.2.3", "http://10.1.2.3:1", true),
            ("10.1.2.3", "http://10.1.2.4", false),
            ("fd00::/8", "http://[fd00::1]:80", true),
            ("[fd00::/8]:8080", "http://[fd00::1]:8080", true),
            ("[fd00::/8]:8080", "http://[fd00::1]:80", false),
            ("web.example", "http://WEB.example:9", true),
            ("web.example", "http://evil.web.example", false),
            ("*.pods.example", "http://a.pods.example", true),
            ("*.pods.example", "http://a.b.pods.example", true),
            ("*.pods.example", "http://pods.example", false),
            ("*.pods.example", "http://evilpods.example", false),
            ("https://*.pods.example", "http://a.pods.example", false),
            (
                "https://*.pods.example:8443",
                "https://a.pods.example:8443",
                true,
            ),
            (
                "https://*.pods.example:8443",
                "https://a.pods.example",
                false,
            ),
            ("web.example:443", "https://web.example/app", true),
            ("10.0.0.0/8", "not a url", false),
        ];
        for &(pattern, url, want) in cases {
            assert_eq!(list(&[pattern]).permits(url), want, "{pattern} vs {url}");
        }
        assert!(AllowList::default().permits("https://evil.example"));
        assert!(list(&["10.0.0.0/8", "*.example"]).permits("http://a.example"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "",
            "ftp://web",
            "web:0",
            "web:http",
            "*.",
            "a..b",
            "[::1",
            "[::1]x",
            "web/path",
            "we b",
        ] {
            assert!(bad.parse::<BackendPattern>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "https://*.Pods.example:8443"
                .parse::<BackendPattern>()
                .unwrap()
                .to_string(),
            "https://*.Pods.example:8443"
        );
    }
}
