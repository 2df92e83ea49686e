//! Precedence and validation of the merged configuration. The environment
//! level is clap's own (flag beats env) and is covered end to end, since
//! setting process variables in a unit test is unsafe.

use clap::Parser;

use super::*;

fn args(argv: &[&str]) -> Args {
    let mut full = vec!["signpost-agent"];
    full.extend_from_slice(argv);
    Cli::try_parse_from(full).unwrap().into_parts().1
}

fn file(text: &str) -> FileConfig {
    toml::from_str(text).unwrap()
}

fn merge(argv: &[&str], toml: &str) -> Result<Config, ConfigError> {
    Config::merge(args(argv), file(toml), || Some("host-1".into()))
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let config = merge(&[], "").unwrap();
    assert_eq!(config.listen, DEFAULT_LISTEN.parse().unwrap());
    assert_eq!(config.node_id, "host-1");
    assert_eq!(config.weight, DEFAULT_WEIGHT);
    assert_eq!(config.interval, DEFAULT_INTERVAL);
    assert_eq!(config.advertise, None);
    assert_eq!(config.advertise_port, None);
    assert!(config.dispatchers.is_empty());
    assert_eq!(config.log_format, LogFormat::Text);
}

#[test]
fn file_beats_default_and_flag_beats_file() {
    let toml = r#"
        listen = "127.0.0.1:7000"
        node_id = "from-file"
        weight = 3
        interval = "2s"
        dispatcher = ["http://d1:9100"]
        log_format = "json"
    "#;
    let from_file = merge(&[], toml).unwrap();
    assert_eq!(from_file.listen, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(from_file.node_id, "from-file");
    assert_eq!(from_file.weight, 3.0);
    assert_eq!(from_file.interval, Duration::from_secs(2));
    assert_eq!(from_file.dispatchers, ["http://d1:9100"]);
    assert_eq!(from_file.log_format, LogFormat::Json);

    let argv = [
        "--listen=127.0.0.1:0",
        "--node-id=from-flag",
        "--weight=2",
        "--interval=250ms",
        "--dispatcher=http://a:1",
        "--dispatcher=http://b:2",
        "--log-format=text",
    ];
    let from_flags = merge(&argv, toml).unwrap();
    assert_eq!(from_flags.listen, "127.0.0.1:0".parse().unwrap());
    assert_eq!(from_flags.node_id, "from-flag");
    assert_eq!(from_flags.weight, 2.0);
    assert_eq!(from_flags.interval, Duration::from_millis(250));
    assert_eq!(from_flags.dispatchers, ["http://a:1", "http://b:2"]);
    assert_eq!(from_flags.log_format, LogFormat::Text);
}

#[test]
fn advertised_port_is_explicit_or_the_scheme_default() {
    let cases = [
        ("http://10.0.0.1:8000", 8000),
        ("http://web-1", 80),
        ("https://web-1/app", 443),
        ("https://[::1]:8443", 8443),
    ];
    for (url, port) in cases {
        let config = merge(&["--advertise", url], "").unwrap();
        assert_eq!(config.advertise_port, Some(port), "{url}");
    }
}

#[test]
fn request_timeout_stays_below_the_interval() {
    for (interval, timeout) in [("200ms", 160), ("1s", 800), ("1m", 5000)] {
        let config = merge(&["--interval", interval], "").unwrap();
        assert_eq!(
            config.request_timeout(),
            Duration::from_millis(timeout),
            "{interval}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let argv = [
        "--advertise=ftp://x",
        "--node-id=a b",
        "--weight=0",
        "--interval=100ms",
        "--dispatcher=nope",
        "--token=",
        "--backend-health=gopher://x",
        "--cpu-limit=0",
    ];
    let err = merge(&argv, "").unwrap_err().to_string();
    for needle in [
        "advertise: url \"ftp://x\" must use http or https",
        "node-id: node_id may contain only",
        "weight: must be greater than 0",
        "interval: must be at least 200ms, got 100ms",
        "dispatcher: url \"nope\" is not a valid URL",
        "token: must not be empty",
        "backend-health: \"gopher://x\" must use http or https",
        "cpu-limit: must be greater than 0 and at most 8192, got 0",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
}

#[test]
fn cpu_limit_comes_from_flag_or_file_and_is_checked() {
    assert_eq!(merge(&[], "").unwrap().cpu_limit, None);
    assert_eq!(merge(&[], "cpu_limit = 4").unwrap().cpu_limit, Some(4.0));
    let config = merge(&["--cpu-limit=1.5"], "cpu_limit = 4").unwrap();
    assert_eq!(config.cpu_limit, Some(1.5));
    for bad in ["-2", "NaN", "inf", "10000"] {
        let err = merge(&[&format!("--cpu-limit={bad}")], "").unwrap_err();
        assert!(
            err.to_string()
                .contains("cpu-limit: must be greater than 0"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn discovery_settings_come_from_flag_or_file_and_are_checked() {
    let config = merge(&[], "").unwrap();
    assert_eq!(config.dispatcher_refresh, Duration::from_secs(30));
    assert_eq!(config.resolver, None);
    let file = "dispatcher_refresh = \"5s\"\nresolver = \"10.0.0.53:53\"";
    let config = merge(&["--dispatcher-refresh=1s"], file).unwrap();
    assert_eq!(config.dispatcher_refresh, Duration::from_secs(1));
    assert_eq!(config.resolver, Some("10.0.0.53:53".parse().unwrap()));
    for bad in ["10ms", "2h"] {
        let err = merge(&[&format!("--dispatcher-refresh={bad}")], "").unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("dispatcher-refresh: must be between"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn missing_hostname_asks_for_a_node_id() {
    let err = Config::merge(args(&[]), file(""), || None).unwrap_err();
    assert!(err.to_string().contains("node-id: no hostname"), "{err}");
}

#[test]
fn unknown_file_keys_are_named_with_their_line() {
    let cases = [
        (
            "listen = \"127.0.0.1:1\"\nlisten_addr = \"x\"\n",
            "listen_addr",
            "line 2",
        ),
        ("[push]\nurl = \"x\"\n", "push", "line 1"),
        ("interval = \"soon\"\n", "interval", "line 1"),
    ];
    for (text, key, line) in cases {
        let err = toml::from_str::<FileConfig>(text).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(line), "{text:?}: {err}");
    }
}

#[test]
fn once_takes_the_same_flags() {
    let cli = Cli::try_parse_from(["signpost-agent", "once", "--node-id", "n1"]).unwrap();
    let (mode, args) = cli.into_parts();
    assert_eq!(mode, Mode::Once);
    assert_eq!(args.node_id.as_deref(), Some("n1"));
}

#[test]
fn the_token_rule_depends_on_who_can_reach_the_agent() {
    let loopback: SocketAddr = "127.0.0.1:9101".parse().unwrap();
    let exposed: SocketAddr = "0.0.0.0:9101".parse().unwrap();
    let long = "0123456789abcdef0123";
    // Short tokens are fine while only this host can call /drain.
    assert_eq!(check_token("short", loopback), Ok(()));
    let err = check_token("short", exposed).unwrap_err();
    assert!(
        err.contains("at least 16 bytes") && err.contains("0.0.0.0:9101"),
        "{err}"
    );
    assert_eq!(check_token(long, exposed), Ok(()));
    // Never empty, never the examples' placeholder, wherever it listens.
    for listen in [loopback, exposed] {
        assert!(check_token("", listen).unwrap_err().contains("empty"));
        let err = check_token("change-me-0123456789", listen).unwrap_err();
        assert!(
            err.contains("placeholder") && err.contains("openssl rand"),
            "{err}"
        );
    }
}
