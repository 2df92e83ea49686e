//! Forwarding headers: a trusted proxy's `X-Forwarded-For` or `Forwarded`
//! names the client; anyone else's names nobody.

use std::net::{IpAddr, Ipv4Addr};

use http::header::{FORWARDED, HeaderName};
use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use signpost_dispatcher::sticky::client_ip;

/// Fields: the peer's last address byte (10.0.0.x, trusted when below 128,
/// as `10.0.0.0/25` is), then header lines, `X-Forwarded-For` or
/// `Forwarded` by their first byte. An untrusted peer is the client,
/// whatever it sends; a trusted one is replaced only by an untrusted hop.
pub fn check(data: &[u8]) {
    let Some((&last, lines)) = data.split_first() else {
        return;
    };
    let trusted: [IpNet; 2] = [
        "10.0.0.0/25".parse().expect("a CIDR"),
        "::1/128".parse().expect("a CIDR"),
    ];
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, last));
    let mut headers = HeaderMap::new();
    for line in lines.split(|&b| b == b'\n') {
        let Some((&kind, value)) = line.split_first() else {
            continue;
        };
        let Ok(value) = HeaderValue::from_bytes(value) else {
            continue;
        };
        let name = match kind % 2 {
            0 => HeaderName::from_static("x-forwarded-for"),
            _ => FORWARDED,
        };
        headers.append(name, value);
    }
    let client = client_ip(peer, &headers, &trusted);
    if is_trusted(&peer) {
        assert!(
            client == peer || !is_trusted(&client),
            "{client} from {headers:?}"
        );
    } else {
        assert_eq!(client, peer, "an untrusted peer was overridden");
    }
}
