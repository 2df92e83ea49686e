use super::*;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn a_url_says_how_its_host_is_resolved() {
    let host = |name: &str, port| Lookup::Host {
        name: name.into(),
        port,
    };
    let cases = [
        ("http://10.0.0.1:9100", Lookup::Fixed(addr("10.0.0.1:9100"))),
        ("http://[::1]:9100/", Lookup::Fixed(addr("[::1]:9100"))),
        ("http://disp.ns.svc:9100", host("disp.ns.svc", 9100)),
        ("https://disp.example", host("disp.example", 443)),
        (
            "http://_signpost._tcp.disp.ns.svc",
            Lookup::Srv("_signpost._tcp.disp.ns.svc".into()),
        ),
    ];
    for (url, want) in cases {
        assert_eq!(Peer::parse(url).unwrap().lookup(), &want, "{url}");
    }
    assert!(Peer::parse("not a url").is_err());
}

#[test]
fn an_srv_endpoint_takes_the_target_name_and_port() {
    let peer = Peer::parse("https://_signpost._tcp.disp.test/base").unwrap();
    let endpoint = peer.endpoint("d2.disp.test", addr("127.0.0.2:7000"));
    assert_eq!(endpoint.url.as_str(), "https://d2.disp.test:7000/base");
    assert_eq!(endpoint.addr, addr("127.0.0.2:7000"));
}

#[tokio::test]
async fn an_ip_literal_is_never_looked_up() {
    // Port 1 on loopback answers no DNS: a lookup would fail.
    let discovery = Discovery::new(
        Some(addr("127.0.0.1:1")),
        Duration::from_millis(200),
        Arc::default(),
    );
    let peer = Peer::parse("http://127.0.0.1:9100").unwrap();
    let found = discovery.resolve(&peer).await.unwrap();
    let endpoints: Vec<_> = found.into_iter().map(|e| e.addr).collect();
    assert_eq!(endpoints, [addr("127.0.0.1:9100")]);
}
