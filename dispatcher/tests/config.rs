//! `signpost-dispatcher check-config` run as a process, the way systemd's
//! `ExecStartPre` runs it: exit 0 on a good config, 64 (`EX_USAGE`) with
//! every error on stderr on a bad one. Each bad case is one file in
//! `tests/fixtures/bad_*.toml`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The exit status of a bad command line or config.
const EX_USAGE: i32 = 64;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Runs the dispatcher with `args` and, of the `SIGNPOST_*` variables, only
/// those in `env`.
fn dispatcher(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_signpost-dispatcher"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SIGNPOST_") {
            command.env_remove(name);
        }
    }
    command.args(args).envs(env.iter().copied());
    command.output().expect("run signpost-dispatcher")
}

fn check_config(path: &Path, env: &[(&str, &str)]) -> Output {
    dispatcher(
        &[
            "check-config",
            path.to_str().expect("fixture paths are UTF-8"),
        ],
        env,
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts exit status 0 and `config ok: <backends> backends` on stdout.
fn assert_ok(output: &Output, backends: usize) {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    assert_eq!(stdout(output), format!("config ok: {backends} backends\n"));
}

/// Asserts exit status 64 and `expected` on stderr.
fn assert_usage_error(output: &Output, expected: &str) {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(EX_USAGE), "stderr: {stderr}");
    assert!(
        stderr.contains(expected),
        "wanted {expected:?} in stderr:\n{stderr}"
    );
}

/// One test per bad fixture, `name => stderr substring`, and a test that
/// every `bad_*.toml` has one.
macro_rules! bad_fixtures {
    ($($name:ident => $expected:literal,)*) => {
        $(
            #[test]
            fn $name() {
                let file = concat!(stringify!($name), ".toml");
                let output = check_config(&fixture(file), &[]);
                assert_usage_error(&output, &format!("{file}{}", $expected));
            }
        )*

        #[test]
        fn every_bad_fixture_has_a_test() {
            let listed = [$(concat!(stringify!($name), ".toml")),*];
            let dir = std::fs::read_dir(fixture("")).unwrap();
            for entry in dir {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if name.starts_with("bad_") {
                    assert!(listed.contains(&name.as_str()), "{name} has no test");
                }
            }
        }
    };
}

bad_fixtures! {
    bad_unknown_key => ":3: unknown field `poll_intervall`, expected one of",
    bad_unknown_health_key => ":3: unknown field `period`",
    bad_unknown_backend_key => ":3: unknown field `address`",
    bad_syntax => ":2: ",
    bad_wrong_type => ":2: invalid type: integer `5`, expected a string",
    bad_duration => ":1: stale_after: invalid duration \"3 fortnights\"",
    bad_stale_after => ":3: stale_after: stale_after (1s) must be at least twice poll_interval (1s)",
    bad_zero_poll_interval => ":1: poll_interval: must be greater than 0",
    bad_health_interval => ":3: health.interval: must be between 1s and 30s, got 1m",
    bad_health_timeout => ":3: health.timeout: health.timeout (3s) must be shorter than health.interval (2s)",
    bad_health_rise => ":2: health.rise: must be at least 1",
    bad_backend_health => ":5: backend[0].health.interval: must be between 1s and 30s, got 500ms",
    bad_weight => ":3: backend[0].weight: must be greater than 0 and at most 1000, got 0",
    bad_backend_url => ":3: backend[0].url: \"10.0.0.11:8000\"",
    bad_agent_url => ":1: agents[1]: \"ftp://10.0.0.12:9101\" must use http or https",
    bad_backend_id => ":2: backend[0].id: \"web 1\" may contain only letters, digits",
    bad_duplicate_id => ":6: backend[1].id: duplicate backend id \"web-1\", first given as backend[0].id",
    bad_duplicate_agent => ":1: agents[0]: duplicate agent \"http://10.0.0.11:9101/\", first given as backend[0].agent",
    bad_backend_without_source => ":1: backend[0]: needs a url or an agent",
    bad_backend_without_id => ":1: backend[0]: needs an id when it has no agent",
    bad_tls_cert_without_key => ":1: tls_cert: is set but tls_key is not",
    bad_tls_missing_files => ":1: tls_cert: cannot read ",
    bad_redirect_code => ":1: redirect_code: must be one of 301, 302, 303, 307, 308, got 200",
    bad_redirect_code_other => ":2: redirect_code_other: must be one of 307, 308, got 302",
    bad_hash_key => ":2: hash_key: invalid hash key \"query:user\"",
    bad_strategy => ":1: strategy: unknown value \"least_load\", expected one of least-load,",
    bad_sticky => ":1: sticky: unknown value \"session\", expected one of none, cookie, ip",
    bad_mem_high_water => ":1: mem_high_water: must be greater than 0 and at most 100, got 120",
    bad_listen_clash => ":1: listen: listen and control_listen must differ, both are 127.0.0.1:9100",
    bad_cookie_secret => ":2: cookie_secret: must be at least 16 bytes long, got 6",
    bad_many => ":2: poll_interval: must be greater than 0",
}

#[test]
fn every_error_of_a_file_is_reported() {
    let output = check_config(&fixture("bad_many.toml"), &[]);
    let expected = [
        ":2: poll_interval: must be greater than 0",
        ":3: redirect_code: must be one of",
        ":5: backend[0]: needs a url or an agent",
        ":6: backend[0].weight: must be greater than 0 and at most 1000, got 5000",
    ];
    let stderr = stderr(&output);
    assert_eq!(stderr.lines().count(), expected.len(), "{stderr}");
    for want in expected {
        assert_usage_error(&output, want);
    }
}

#[test]
fn the_good_fixture_passes() {
    assert_ok(&check_config(&fixture("good.toml"), &[]), 3);
}

#[test]
fn the_sample_config_passes() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/dispatcher.toml");
    assert_ok(&check_config(&sample, &[]), 3);
}

#[test]
fn a_missing_file_is_named() {
    let missing = fixture("no_such_file.toml");
    let output = check_config(&missing, &[]);
    let expected = format!("cannot read config file {}: ", missing.display());
    assert_usage_error(&output, &expected);
}

#[test]
fn the_environment_beats_the_file_and_flags_beat_the_environment() {
    let good = fixture("good.toml");
    let short = [("SIGNPOST_STALE_AFTER", "800ms")];
    let expected = "--stale-after (SIGNPOST_STALE_AFTER): stale_after (800ms) must be at least twice poll_interval (500ms)";
    assert_usage_error(&check_config(&good, &short), expected);
    let flag = [
        "--stale-after",
        "5s",
        "check-config",
        good.to_str().unwrap(),
    ];
    assert_ok(&dispatcher(&flag, &short), 3);
}

#[test]
fn agents_in_the_environment_are_comma_separated() {
    let agents = [(
        "SIGNPOST_AGENTS",
        "http://10.0.0.21:9101,http://10.0.0.22:9101",
    )];
    assert_ok(&check_config(&fixture("good.toml"), &agents), 5);
}

#[test]
fn a_bad_flag_is_a_usage_error() {
    let output = dispatcher(&["--strategy", "best", "check-config", "x.toml"], &[]);
    assert_usage_error(&output, "invalid value 'best' for '--strategy <NAME>'");
}

#[test]
fn a_bad_config_stops_the_start_with_every_error() {
    let output = dispatcher(&["--poll-interval", "0s", "--workers", "0"], &[]);
    assert_usage_error(
        &output,
        "--poll-interval (SIGNPOST_POLL_INTERVAL): must be greater than 0",
    );
    assert_usage_error(
        &output,
        "--workers (SIGNPOST_WORKERS): must be between 1 and 1024, got 0",
    );
}

#[test]
fn help_documents_every_flag_its_default_and_variable() {
    let output = dispatcher(&["--help"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let help = stdout(&output);
    for want in [
        "check-config",
        "demo",
        "--stale-after <DURATION>",
        "[default: 3s]",
        "[env: SIGNPOST_STALE_AFTER=]",
        "--agent <URL>",
        "[env: SIGNPOST_AGENTS=]",
        "- least-load:",
        "- consistent-hash:",
    ] {
        assert!(help.contains(want), "{want:?} missing from --help:\n{help}");
    }
}
