//! Unit tests of the config layer: defaults, precedence, every rule, error
//! locations. The process environment is never touched: flags are set by
//! building [`Args`] directly, or parsed with clap from a given list.

use std::path::Path;
use std::time::Duration;

use clap::{CommandFactory, Parser};

use super::error::{env_of, flag_of};
use super::*;

const FILE: &str = "test.toml";

/// Loads `text` as the config file, with `args` on top.
fn load(args: &Args, text: &str) -> Result<Config, ConfigErrors> {
    let file = FileConfig::parse(Path::new(FILE), text)?;
    Config::try_from((args, &file))
}

fn ok(text: &str) -> Config {
    load(&Args::default(), text).unwrap_or_else(|e| panic!("{text}\nwas refused:\n{e}"))
}

fn errors(args: &Args, text: &str) -> String {
    match load(args, text) {
        Ok(config) => panic!("{text}\nwas accepted: {config:?}"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that `text` is refused with a message containing `expected`.
fn check(text: &str, expected: &str) {
    let message = errors(&Args::default(), text);
    assert!(
        message.contains(expected),
        "{text}\nwanted: {expected}\ngot:    {message}"
    );
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

fn parse_flags(flags: &[&str]) -> Result<Args, clap::Error> {
    let argv = std::iter::once("signpost-dispatcher").chain(flags.iter().copied());
    Cli::try_parse_from(argv).map(|cli| cli.args)
}

#[test]
fn defaults_without_a_file() {
    let config = Config::load(&Args::default()).unwrap();
    assert_eq!(config, ok(""));
    assert_eq!(config.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(config.control_listen, "127.0.0.1:9100".parse().unwrap());
    assert_eq!(
        (
            config.poll_interval,
            config.stale_after,
            config.forget_after
        ),
        (secs(1), secs(3), secs(300))
    );
    assert_eq!(config.strategy, StrategyKind::LeastLoad);
    assert_eq!(config.hash_key, HashKey::ClientIp);
    assert_eq!(config.sticky, Sticky::None);
    assert_eq!(
        (config.cookie_secret, config.token, config.admin_token),
        (None, None, None)
    );
    assert_eq!(
        (config.redirect_code, config.redirect_code_other),
        (302, 307)
    );
    assert_eq!(config.slow_start, secs(10));
    assert_eq!(config.mem_high_water, 85.0);
    assert_eq!(config.health, default_health());
    assert_eq!(config.tls, None);
    assert!(config.backends.is_empty());
    assert_eq!(config.workers, default_workers());
    assert_eq!(config.max_header_bytes, 16384);
    assert_eq!(config.max_requests_per_connection, 1000);
    assert_eq!(config.client_timeout, secs(10));
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.config_file, None);
    assert_eq!(config.max_nodes, 10_000);
    assert!(config.allow_backend.is_empty() && !config.insecure_open_control);
}

fn default_health() -> HealthConfig {
    HealthConfig {
        path: None,
        interval: secs(5),
        timeout: secs(1),
        rise: 2,
        fall: 3,
        max_latency: ms(500),
        status: DEFAULT_HEALTH_STATUS,
    }
}

const EVERY_KEY: &str = r#"
listen = "127.0.0.1:8000"
control_listen = "127.0.0.1:8001"
agents = ["http://10.0.0.9:9101"]
poll_interval = "250ms"
stale_after = "1s"
forget_after = "1m"
strategy = "consistent-hash"
hash_key = "header:X-User"
sticky = "cookie"
cookie_secret = "0123456789abcdef"
token = "push-token"
admin_token = "admin-token"
redirect_code = 303
redirect_code_other = 308
slow_start = "0s"
mem_high_water = 90
workers = 3
max_header_bytes = 8192
max_requests_per_connection = 10
client_timeout = "2s"
log_format = "json"

[health]
path = "/healthz"
interval = "2s"
timeout = "500ms"
rise = 1
fall = 4
max_latency = "200ms"

[[backend]]
id = "web-1"
url = "http://10.0.0.11:8000"
agent = "http://10.0.0.11:9101"
weight = 2.5
backup = true

[backend.health]
path = "/ready"
fall = 1
"#;

#[test]
fn file_values_are_used_when_no_flag_is_set() {
    let config = ok(EVERY_KEY);
    assert_eq!(config.listen, "127.0.0.1:8000".parse().unwrap());
    assert_eq!(config.control_listen, "127.0.0.1:8001".parse().unwrap());
    assert_eq!(
        (
            config.poll_interval,
            config.stale_after,
            config.forget_after
        ),
        (ms(250), secs(1), secs(60))
    );
    assert_eq!(config.strategy, StrategyKind::ConsistentHash);
    assert_eq!(config.hash_key, HashKey::Header("x-user".into()));
    assert_eq!(config.sticky, Sticky::Cookie);
    assert_eq!(config.cookie_secret.as_deref(), Some("0123456789abcdef"));
    assert_eq!(config.token.as_deref(), Some("push-token"));
    assert_eq!(config.admin_token.as_deref(), Some("admin-token"));
    assert_eq!(
        (config.redirect_code, config.redirect_code_other),
        (303, 308)
    );
    assert_eq!(config.slow_start, Duration::ZERO);
    assert_eq!(config.mem_high_water, 90.0);
    assert_eq!((config.workers, config.max_header_bytes), (3, 8192));
    assert_eq!(config.max_requests_per_connection, 10);
    assert_eq!(config.client_timeout, secs(2));
    assert_eq!(config.log_format, LogFormat::Json);
    let health = HealthConfig {
        path: Some("/healthz".into()),
        interval: secs(2),
        timeout: ms(500),
        rise: 1,
        fall: 4,
        max_latency: ms(200),
        status: DEFAULT_HEALTH_STATUS,
    };
    assert_eq!(config.health, health);
    let web1 = BackendConfig {
        id: Some("web-1".into()),
        url: Some("http://10.0.0.11:8000".into()),
        agent: Some("http://10.0.0.11:9101".into()),
        weight: 2.5,
        backup: true,
        health: HealthConfig {
            path: Some("/ready".into()),
            fall: 1,
            ..health.clone()
        },
    };
    assert_eq!(
        config.backends,
        [web1, agent_backend("http://10.0.0.9:9101", &health)]
    );
}

fn agent_backend(url: &str, health: &HealthConfig) -> BackendConfig {
    BackendConfig {
        id: None,
        url: None,
        agent: Some(url.into()),
        weight: 1.0,
        backup: false,
        health: health.clone(),
    }
}

#[test]
fn flags_beat_the_file() {
    let args = Args {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        poll_interval: Some(ms(100)),
        strategy: Some(StrategyKind::Random),
        redirect_code: Some(307),
        health_interval: Some(secs(3)),
        health_path: Some("/ping".into()),
        log_format: Some(LogFormat::Text),
        ..Args::default()
    };
    let config = load(&args, EVERY_KEY).unwrap();
    assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
    assert_eq!(config.poll_interval, ms(100));
    assert_eq!(
        config.stale_after,
        secs(1),
        "unset flags keep the file's value"
    );
    assert_eq!(config.strategy, StrategyKind::Random);
    assert_eq!(config.redirect_code, 307);
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(config.health.interval, secs(3));
    assert_eq!(config.health.path.as_deref(), Some("/ping"));
    assert_eq!(config.health.fall, 4);
    let web1 = &config.backends[0].health;
    assert_eq!(web1.interval, secs(3), "a backend inherits the flag");
    assert_eq!(
        web1.path.as_deref(),
        Some("/ready"),
        "[backend.health] is more specific"
    );
}

#[test]
fn agent_flags_replace_the_files_agents_and_follow_its_backends() {
    let args = Args {
        agents: vec!["http://a:9101".into(), "http://b:9101".into()],
        ..Args::default()
    };
    let config = load(&args, EVERY_KEY).unwrap();
    let agents: Vec<_> = config.backends.iter().map(|b| b.agent.as_deref()).collect();
    assert_eq!(agents, [Some("http://10.0.0.11:9101")]);
    // Names are followed through DNS rather than being one backend each.
    assert_eq!(config.agent_names, ["http://a:9101", "http://b:9101"]);
}

#[test]
fn agent_names_are_followed_and_ip_agents_are_backends() {
    let args = Args {
        agents: vec![
            "http://10.0.0.1:9101".into(),
            "http://[::1]:9101".into(),
            "http://_signpost._tcp.agents.test".into(),
        ],
        agent_refresh: Some(ms(500)),
        resolver: Some("127.0.0.1:5353".parse().unwrap()),
        ..Args::default()
    };
    let config = load(&args, "").unwrap();
    assert_eq!(config.backends.len(), 2);
    assert_eq!(config.agent_names, ["http://_signpost._tcp.agents.test"]);
    assert_eq!(config.agent_refresh, ms(500));
    assert_eq!(config.resolver, Some("127.0.0.1:5353".parse().unwrap()));
    let defaults = load(&Args::default(), "").unwrap();
    assert_eq!(defaults.agent_refresh, Duration::from_secs(30));
    assert_eq!(defaults.resolver, None);
}

#[test]
fn backend_defaults() {
    let config = ok("[[backend]]\nagent = \"http://a:9101\"\n");
    assert_eq!(
        config.backends,
        [agent_backend("http://a:9101", &default_health())]
    );
}

#[test]
fn a_backend_with_url_and_id_needs_no_agent() {
    let config = ok("[[backend]]\nid = \"web-1\"\nurl = \"http://10.0.0.11:8000\"\n");
    assert_eq!(config.backends[0].agent, None);
}

#[test]
fn sticky_cookie_needs_no_secret_and_zero_slow_start_is_allowed() {
    let config = ok("sticky = \"cookie\"\nslow_start = \"0s\"\n");
    assert_eq!(
        (config.sticky, config.cookie_secret),
        (Sticky::Cookie, None)
    );
}

#[test]
fn ephemeral_ports_may_be_shared() {
    let config = ok("listen = \"127.0.0.1:0\"\ncontrol_listen = \"127.0.0.1:0\"\n");
    assert_eq!(config.listen, config.control_listen);
}

#[test]
fn every_rule() {
    let cases = [
        // Strategy.
        (
            "strategy = \"fastest\"",
            "test.toml:1: strategy: fastest ranks backends by health-check latency",
        ),
        (
            "trust_forwarded = [\"10.0.0.0/8\", \"nonsense\"]",
            "test.toml:1: trust_forwarded[1]: invalid CIDR \"nonsense\"",
        ),
        (
            "[health]\nstatus = \"600-700\"",
            "test.toml:2: health.status: invalid status range \"600-700\"",
        ),
        // Durations and timing.
        (
            "poll_interval = \"0s\"",
            "test.toml:1: poll_interval: must be greater than 0",
        ),
        (
            "poll_interval = \"soon\"",
            "test.toml:1: poll_interval: invalid duration \"soon\"",
        ),
        (
            "stale_after = \"0s\"",
            "test.toml:1: stale_after: must be greater than 0",
        ),
        (
            "stale_after = \"1s\"",
            "test.toml:1: stale_after: stale_after (1s) must be at least twice poll_interval (1s)",
        ),
        (
            "poll_interval = \"2s\"",
            "test.toml:1: poll_interval: stale_after (3s) must be at least twice poll_interval (2s)",
        ),
        (
            "forget_after = \"0s\"",
            "test.toml:1: forget_after: must be greater than 0",
        ),
        (
            "forget_after = \"2s\"",
            "test.toml:1: forget_after: forget_after (2s) must not be shorter than stale_after (3s)",
        ),
        (
            "client_timeout = \"0s\"",
            "test.toml:1: client_timeout: must be greater than 0",
        ),
        // Listeners.
        (
            "listen = \"localhost\"",
            "test.toml:1: listen: invalid address \"localhost\", expected IP:PORT",
        ),
        (
            "control_listen = \"0.0.0.0:8080\"",
            "test.toml:1: control_listen: listen and control_listen must differ, both are 0.0.0.0:8080",
        ),
        // Names.
        (
            "strategy = \"best\"",
            "test.toml:1: strategy: unknown value \"best\", expected one of least-load, round-robin, weighted-round-robin, random, least-connections, fastest, ip-hash, consistent-hash",
        ),
        (
            "sticky = \"always\"",
            "test.toml:1: sticky: unknown value \"always\", expected one of none, cookie, ip",
        ),
        (
            "log_format = \"xml\"",
            "test.toml:1: log_format: unknown value \"xml\", expected one of text, json",
        ),
        (
            "hash_key = \"header:\"",
            "test.toml:1: hash_key: invalid hash key \"header:\", expected ip, header:NAME or cookie:NAME",
        ),
        (
            "hash_key = \"query:q\"",
            "test.toml:1: hash_key: invalid hash key",
        ),
        // Numbers.
        (
            "redirect_code = 200",
            "test.toml:1: redirect_code: must be one of 301, 302, 303, 307, 308, got 200",
        ),
        (
            "redirect_code_other = 302",
            "test.toml:1: redirect_code_other: must be one of 307, 308, got 302",
        ),
        (
            "mem_high_water = 0",
            "test.toml:1: mem_high_water: must be greater than 0 and at most 100, got 0",
        ),
        (
            "mem_high_water = 100.5",
            "test.toml:1: mem_high_water: must be greater than 0 and at most 100, got 100.5",
        ),
        (
            "mem_high_water = nan",
            "test.toml:1: mem_high_water: must be greater than 0 and at most 100, got NaN",
        ),
        (
            "workers = 0",
            "test.toml:1: workers: must be between 1 and 1024, got 0",
        ),
        (
            "max_header_bytes = 1024",
            "test.toml:1: max_header_bytes: must be between 8192 and 1048576, got 1024",
        ),
        // Secrets.
        (
            "cookie_secret = \"hunter2\"",
            "test.toml:1: cookie_secret: must be at least 16 bytes long, got 7",
        ),
        ("token = \"\"", "test.toml:1: token: must not be empty"),
        (
            "admin_token = \"\"",
            "test.toml:1: admin_token: must not be empty",
        ),
        // Health.
        (
            "[health]\ninterval = \"500ms\"",
            "test.toml:2: health.interval: must be between 1s and 30s, got 500ms",
        ),
        (
            "[health]\ninterval = \"31s\"",
            "test.toml:2: health.interval: must be between 1s and 30s, got 31s",
        ),
        (
            "[health]\ntimeout = \"0s\"",
            "test.toml:2: health.timeout: must be greater than 0",
        ),
        (
            "[health]\ntimeout = \"5s\"",
            "test.toml:2: health.timeout: health.timeout (5s) must be shorter than health.interval (5s)",
        ),
        (
            "[health]\ninterval = \"1s\"",
            "test.toml:2: health.interval: health.timeout (1s) must be shorter than health.interval (1s)",
        ),
        (
            "[health]\nrise = 0",
            "test.toml:2: health.rise: must be at least 1",
        ),
        (
            "[health]\nfall = 0",
            "test.toml:2: health.fall: must be at least 1",
        ),
        (
            "[health]\nmax_latency = \"0s\"",
            "test.toml:2: health.max_latency: must be greater than 0",
        ),
        (
            "[health]\npath = \"healthz\"",
            "test.toml:2: health.path: must start with '/' and hold no spaces, got \"healthz\"",
        ),
        (
            "[health]\npath = \"/a b\"",
            "test.toml:2: health.path: must start with '/'",
        ),
        // Backends.
        (
            "[[backend]]\nid = \"web 1\"\nagent = \"http://a:1\"",
            "test.toml:2: backend[0].id: \"web 1\" may contain only letters, digits",
        ),
        (
            "[[backend]]\nid = \"\"\nagent = \"http://a:1\"",
            "test.toml:2: backend[0].id: \"\" must not be empty",
        ),
        (
            "[[backend]]\nagent = \"ftp://a:1\"",
            "test.toml:2: backend[0].agent: \"ftp://a:1\" must use http or https",
        ),
        (
            "[[backend]]\nid = \"a\"\nurl = \"http://a:1/?x=1\"",
            "test.toml:3: backend[0].url: \"http://a:1/?x=1\" must not have a query or fragment",
        ),
        (
            "[[backend]]\nid = \"a\"\nurl = \"http://u:p@a:1\"",
            "test.toml:3: backend[0].url: \"http://u:p@a:1\" must not carry credentials",
        ),
        (
            "[[backend]]\nagent = \"http://a:1\"\nweight = 0",
            "test.toml:3: backend[0].weight: must be greater than 0 and at most 1000, got 0",
        ),
        (
            "[[backend]]\nagent = \"http://a:1\"\nweight = 1000.5",
            "test.toml:3: backend[0].weight: must be greater than 0 and at most 1000, got 1000.5",
        ),
        (
            "[[backend]]\nagent = \"http://a:1\"\nweight = -1",
            "backend[0].weight: must be greater than 0",
        ),
        (
            "[[backend]]\nid = \"web-1\"",
            "backend[0]: needs a url or an agent",
        ),
        (
            "[[backend]]\nurl = \"http://a:1\"",
            "backend[0]: needs an id when it has no agent",
        ),
        (
            "[[backend]]\nid = \"a\"\nagent = \"http://a:1\"\n[[backend]]\nid = \"a\"\nagent = \"http://b:1\"",
            "test.toml:5: backend[1].id: duplicate backend id \"a\", first given as backend[0].id",
        ),
        (
            "[[backend]]\nagent = \"http://a:1\"\n[[backend]]\nagent = \"http://a:1/\"",
            "test.toml:4: backend[1].agent: duplicate agent \"http://a:1/\", first given as backend[0].agent",
        ),
        (
            "agents = [\"http://a:1\"]\n[[backend]]\nagent = \"http://a:1\"",
            "test.toml:1: agents[0]: duplicate agent \"http://a:1\", first given as backend[0].agent",
        ),
        (
            "agents = [\"http://a:1\", \"a:1\"]",
            "test.toml:1: agents[1]: \"a:1\"",
        ),
        (
            "[[backend]]\nagent = \"http://a:1\"\n[backend.health]\ninterval = \"40s\"",
            "test.toml:4: backend[0].health.interval: must be between 1s and 30s, got 40s",
        ),
        (
            "[[backend]]\nagent = \"http://a:1\"\n[backend.health]\ninterval = \"1s\"",
            "test.toml:4: backend[0].health.interval: health.timeout (1s) must be shorter than backend[0].health.interval (1s)",
        ),
        // TLS.
        (
            "tls_cert = \"cert.pem\"",
            "test.toml:1: tls_cert: is set but tls_key is not",
        ),
        (
            "tls_key = \"key.pem\"",
            "test.toml:1: tls_key: is set but tls_cert is not",
        ),
        (
            "tls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"",
            "test.toml:1: tls_cert: cannot read /nonexistent/cert.pem: ",
        ),
        (
            "tls_cert = \"/nonexistent/cert.pem\"\ntls_key = \"/nonexistent/key.pem\"",
            "test.toml:2: tls_key: cannot read /nonexistent/key.pem: ",
        ),
        (
            "tls_ticket_key_file = \"ticket.keys\"",
            "test.toml:1: tls_ticket_key_file: is set but tls_cert is not",
        ),
        (
            "tls_cert = \"/nonexistent/c\"\ntls_key = \"/nonexistent/k\"\ntls_ticket_key_file = \"/nonexistent/t\"",
            "test.toml:3: tls_ticket_key_file: cannot read /nonexistent/t: ",
        ),
    ];
    for (text, expected) in cases {
        check(text, expected);
    }
}

#[test]
fn the_file_is_refused_with_the_line_of_an_unknown_key_or_bad_type() {
    let cases = [
        (
            "listen = \"0.0.0.0:1\"\nlisten_addr = 1",
            "test.toml:2: unknown field `listen_addr`, expected one of",
        ),
        (
            "[health]\npath = \"/\"\nperiod = \"1s\"",
            "test.toml:3: unknown field `period`",
        ),
        (
            "[[backend]]\nagent = \"http://a:1\"\nhost = \"a\"",
            "test.toml:3: unknown field `host`",
        ),
        (
            "[[backend]]\nagent = \"http://a:1\"\n[backend.health]\nretries = 3",
            "test.toml:4: unknown field `retries`",
        ),
        ("[tls]\ncert = \"a\"", "test.toml:1: unknown field `tls`"),
        (
            "\npoll_interval = 5",
            "test.toml:2: invalid type: integer `5`, expected a string",
        ),
        (
            "redirect_code = 70000",
            "test.toml:1: invalid value: integer `70000`, expected u16",
        ),
        (
            "[health]\nrise = -1",
            "test.toml:2: invalid value: integer `-1`, expected u32",
        ),
        (
            "[[backend]]\nbackup = \"yes\"",
            "test.toml:2: invalid type: string \"yes\", expected a boolean",
        ),
        ("listen = \"a\"\n\nstrategy = ", "test.toml:3: "),
    ];
    for (text, expected) in cases {
        check(text, expected);
    }
}

#[test]
fn every_error_is_reported_at_once_flags_first_then_by_line() {
    let text = "poll_interval = \"0s\"\nredirect_code = 200\nworkers = 0\n\
                [health]\nrise = 0\n[[backend]]\nweight = 2\n";
    let args = Args {
        admin_token: Some(String::new()),
        ..Args::default()
    };
    let message = errors(&args, text);
    let expected = [
        "--admin-token (SIGNPOST_ADMIN_TOKEN): must not be empty",
        "test.toml:1: poll_interval: must be greater than 0",
        "test.toml:2: redirect_code: must be one of 301, 302, 303, 307, 308, got 200",
        "test.toml:3: workers: must be between 1 and 1024, got 0",
        "test.toml:5: health.rise: must be at least 1",
        "test.toml:6: backend[0]: needs a url or an agent",
    ];
    assert_eq!(message.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn an_inherited_error_is_reported_once() {
    let text =
        "[health]\nrise = 0\n[[backend]]\nagent = \"http://a:1\"\n[backend.health]\nfall = 2\n";
    let message = errors(&Args::default(), text);
    assert_eq!(message, "test.toml:2: health.rise: must be at least 1");
}

#[test]
fn flag_errors_name_the_flag_and_its_variable() {
    let args = Args {
        stale_after: Some(secs(1)),
        health_rise: Some(0),
        agents: vec!["http://a:1".into(), "http://a:1".into()],
        ..Args::default()
    };
    let message = errors(&args, "poll_interval = \"1s\"");
    let expected = [
        "--stale-after (SIGNPOST_STALE_AFTER): stale_after (1s) must be at least twice poll_interval (1s)",
        "--health-rise (SIGNPOST_HEALTH_RISE): must be at least 1",
        "--agent (SIGNPOST_AGENTS): duplicate agent \"http://a:1\", first given as agents",
    ];
    assert_eq!(message.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn a_default_is_blamed_only_when_nothing_else_is_set() {
    let args = Args {
        poll_interval: Some(secs(2)),
        ..Args::default()
    };
    let message = errors(&args, "");
    let expected = "--poll-interval (SIGNPOST_POLL_INTERVAL): stale_after (3s) must be at least twice poll_interval (2s)";
    assert_eq!(message, expected);
    let args = Args {
        health_timeout: Some(secs(5)),
        ..Args::default()
    };
    assert!(errors(&args, "").starts_with("--health-timeout (SIGNPOST_HEALTH_TIMEOUT): "));
}

#[test]
fn tls_files_must_both_be_given_and_readable() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let args = Args {
        tls_cert: Some(manifest.clone()),
        tls_key: Some(manifest.clone()),
        ..Args::default()
    };
    let tls = load(&args, "").unwrap().tls.unwrap();
    assert_eq!((tls.cert, tls.key), (manifest.clone(), manifest));
}

#[test]
fn relative_tls_paths_in_the_file_are_relative_to_the_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = "tls_cert = \"Cargo.toml\"\ntls_key = \"src/lib.rs\"\ntls_ticket_key_file = \"src/main.rs\"\n";
    let file = FileConfig::parse(&dir.join("signpost.toml"), text).unwrap();
    let tls = Config::try_from((&Args::default(), &file))
        .unwrap()
        .tls
        .unwrap();
    assert_eq!(
        (tls.cert, tls.key, tls.ticket_keys),
        (
            dir.join("Cargo.toml"),
            dir.join("src/lib.rs"),
            Some(dir.join("src/main.rs"))
        )
    );
}

#[test]
fn a_missing_file_is_named() {
    let args = Args {
        config: Some("/nonexistent/signpost.toml".into()),
        ..Args::default()
    };
    let message = Config::load(&args).unwrap_err().to_string();
    assert!(
        message.starts_with("cannot read config file /nonexistent/signpost.toml: "),
        "{message}"
    );
}

#[test]
fn check_file_applies_flags_over_the_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/good.toml");
    let config = Config::check_file(&path, &Args::default()).unwrap();
    assert_eq!(config.config_file.as_deref(), Some(path.as_path()));
    let args = Args {
        strategy: Some(StrategyKind::Fastest),
        ..Args::default()
    };
    assert_eq!(
        Config::check_file(&path, &args).unwrap().strategy,
        StrategyKind::Fastest
    );
}

#[test]
fn hash_keys() {
    let cases = [
        ("ip", Ok(HashKey::ClientIp)),
        ("header:X-Session", Ok(HashKey::Header("x-session".into()))),
        ("cookie:SID", Ok(HashKey::Cookie("SID".into()))),
        ("header:", Err(())),
        ("header:a b", Err(())),
        ("cookie:a;b", Err(())),
        ("IP", Err(())),
        ("url", Err(())),
    ];
    for (text, expected) in cases {
        assert_eq!(text.parse::<HashKey>().map_err(drop), expected, "{text}");
    }
}

#[test]
fn flags_parse() {
    let args = parse_flags(&[
        "--listen=127.0.0.1:0",
        "--agent=http://a:1",
        "--agent=http://b:1,http://c:1",
        "--poll-interval=250ms",
        "--strategy=weighted-round-robin",
        "--hash-key=cookie:sid",
        "--sticky=ip",
        "--redirect-code=308",
        "--health-max-latency=1s",
        "--log-format=json",
    ])
    .unwrap();
    assert_eq!(args.listen, Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(args.agents, ["http://a:1", "http://b:1", "http://c:1"]);
    assert_eq!(args.poll_interval, Some(ms(250)));
    assert_eq!(args.strategy, Some(StrategyKind::WeightedRoundRobin));
    assert_eq!(args.hash_key, Some(HashKey::Cookie("sid".into())));
    assert_eq!(args.sticky, Some(Sticky::Ip));
    assert_eq!(args.redirect_code, Some(308));
    assert_eq!(args.health_max_latency, Some(secs(1)));
    assert_eq!(args.log_format, Some(LogFormat::Json));
    assert_eq!(args.stale_after, None, "no clap defaults");
}

#[test]
fn bad_flags_are_refused_by_clap() {
    for flags in [
        ["--poll-interval", "fast"],
        ["--strategy", "best"],
        ["--hash-key", "query:q"],
        ["--listen", "localhost:80"],
        ["--health-rise", "-1"],
    ] {
        assert!(parse_flags(&flags).is_err(), "{flags:?}");
    }
}

/// Every flag states its default, and its variable follows the naming rule
/// that error messages use.
#[test]
fn every_flag_documents_its_default_and_variable() {
    let command = Cli::command();
    for arg in command.get_arguments().filter(|a| a.get_long().is_some()) {
        let long = arg.get_long().unwrap();
        if long == "help" {
            continue;
        }
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        assert!(help.contains("[default: "), "--{long}: {help}");
        let key = match long {
            "agent" => "agents".to_owned(),
            _ => long.replacen("health-", "health.", 1).replace('-', "_"),
        };
        assert_eq!(flag_of(&key), format!("--{long}"));
        let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
        assert_eq!(env, Some(env_of(&key)), "--{long}");
    }
}

#[test]
fn locations_display() {
    let cases = [
        (
            Location::Arg {
                key: "health.max_latency".into(),
            },
            "--health-max-latency (SIGNPOST_HEALTH_MAX_LATENCY)",
        ),
        (
            Location::Arg {
                key: "agents".into(),
            },
            "--agent (SIGNPOST_AGENTS)",
        ),
        (
            Location::File {
                path: "/etc/signpost.toml".into(),
                line: 7,
                key: "backend[1].weight".into(),
            },
            "/etc/signpost.toml:7: backend[1].weight",
        ),
        (
            Location::Default {
                key: "stale_after".into(),
            },
            "stale_after (default)",
        ),
    ];
    for (location, expected) in cases {
        assert_eq!(location.to_string(), expected);
    }
}

#[test]
fn a_reload_names_the_changed_settings_that_need_a_restart() {
    let running = ok("");
    assert!(running.restart_only_changes(&ok("")).is_empty());
    // Reloadable settings are not named.
    let reloadable = ok("strategy = \"random\"\nstale_after = \"9s\"\nredirect_code = 307\n");
    assert!(running.restart_only_changes(&reloadable).is_empty());
    let other_addr = "127.0.0.1:9".parse().unwrap();
    let tls = TlsConfig {
        cert: "c.pem".into(),
        key: "k.pem".into(),
        ticket_keys: None,
    };
    let base = || running.clone();
    let cases = [
        (
            Config {
                listen: other_addr,
                ..base()
            },
            "listen",
        ),
        (
            Config {
                control_listen: other_addr,
                ..base()
            },
            "control-listen",
        ),
        (
            Config {
                tls: Some(tls),
                ..base()
            },
            "tls-cert/tls-key/tls-ticket-key-file",
        ),
        (
            Config {
                workers: running.workers + 1,
                ..base()
            },
            "workers",
        ),
        (
            Config {
                max_header_bytes: 9000,
                ..base()
            },
            "max-header-bytes",
        ),
        (
            Config {
                max_requests_per_connection: 7,
                ..base()
            },
            "max-requests-per-connection",
        ),
        (
            Config {
                client_timeout: secs(3),
                ..base()
            },
            "client-timeout",
        ),
        (
            Config {
                log_format: LogFormat::Json,
                ..base()
            },
            "log-format",
        ),
    ];
    for (new, name) in cases {
        assert_eq!(running.restart_only_changes(&new), [name]);
    }
}
