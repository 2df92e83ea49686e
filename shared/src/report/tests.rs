//! The report's parse and validation, field by field.

use serde_json::Map;

use super::*;

fn full(overrides: &str) -> String {
    let mut base: Map<String, Value> = serde_json::from_str(
        r#"{"node_id":"web-1","url":"http://10.0.0.11:8000","cpu_percent":37.5,
            "mem_percent":61.2,"load1":0.82,"cores":4,"connections":118,"weight":1.0,
            "state":"ready","healthy":true,"seq":4411,"sampled_at_ms":1763700000000,
            "agent_version":"0.1.0"}"#,
    )
    .unwrap();
    let extra: Map<String, Value> = serde_json::from_str(overrides).unwrap();
    base.extend(extra);
    Value::Object(base).to_string()
}

/// Each case: field overrides on a valid report, and the error expected
/// (`None`: accepted).
#[test]
fn validation_table() {
    let nan = ReportError::NotFinite {
        field: "cpu_percent",
    };
    let cases: &[(&str, Option<&str>)] = &[
        ("{}", None),
        (r#"{"cpu_percent":100.4}"#, None),
        (
            r#"{"cpu_percent":100.6}"#,
            Some("cpu_percent must be between 0 and 100, got 100.6"),
        ),
        (
            r#"{"cpu_percent":-1}"#,
            Some("cpu_percent must be between 0 and 100, got -1"),
        ),
        (
            r#"{"mem_percent":250}"#,
            Some("mem_percent must be between 0 and 100, got 250"),
        ),
        (
            r#"{"load1":-0.5}"#,
            Some("load1 must not be negative, got -0.5"),
        ),
        (
            r#"{"weight":0}"#,
            Some("weight must be greater than 0 and at most 1000, got 0"),
        ),
        (
            r#"{"weight":1e9}"#,
            Some("weight must be greater than 0 and at most 1000"),
        ),
        (r#"{"node_id":""}"#, None),
        (r#"{"node_id":"a b"}"#, Some("node_id may contain only")),
        (r#"{"node_id":"web;1"}"#, Some("node_id may contain only")),
        (r#"{"url":""}"#, Some(r#"url "" must not be empty"#)),
        (r#"{"url":"ftp://x"}"#, Some("must use http or https")),
        (r#"{"url":"not a url"}"#, Some("is not a valid URL")),
        (
            r#"{"url":"http://u:p@host"}"#,
            Some("must not carry credentials"),
        ),
        (
            r#"{"url":"http://host/?q=1"}"#,
            Some("must not have a query"),
        ),
        (r#"{"url":"https://[::1]:8443/app"}"#, None),
        (r#"{"state":"draining"}"#, None),
        (
            r#"{"state":"sleeping"}"#,
            Some("unknown variant `sleeping`"),
        ),
        (
            r#"{"cpu_percent":"high"}"#,
            Some("malformed report: invalid type"),
        ),
        (r#"{"cores":-2}"#, Some("malformed report")),
        (&format!(r#"{{"node_id":"{}"}}"#, "n".repeat(128)), None),
        (
            &format!(r#"{{"node_id":"{}"}}"#, "n".repeat(129)),
            Some("node_id must be at most 128 bytes long, got 129"),
        ),
        (
            &format!(r#"{{"agent_version":"{}"}}"#, "v".repeat(64)),
            None,
        ),
        (
            &format!(r#"{{"agent_version":"{}"}}"#, "v".repeat(60_000)),
            Some("agent_version must be at most 64 bytes long, got 60000"),
        ),
        (
            &format!(r#"{{"url":"http://h/{}"}}"#, "p".repeat(2048)),
            Some("url must be at most 2048 bytes long, got 2057"),
        ),
        (
            &format!(r#"{{"state":"{}"}}"#, "x".repeat(10_000)),
            Some("malformed report: unknown variant"),
        ),
        (r#"{"cpu_pressure":0,"runnable":0}"#, None),
        (r#"{"cpu_pressure":97.3,"runnable":130}"#, None),
        (r#"{"cpu_pressure":null,"runnable":null}"#, None),
        (
            r#"{"cpu_pressure":-0.1}"#,
            Some("cpu_pressure must be between 0 and 100, got -0.1"),
        ),
        (
            r#"{"cpu_pressure":101}"#,
            Some("cpu_pressure must be between 0 and 100, got 101"),
        ),
        (
            r#"{"cpu_pressure":"high"}"#,
            Some("malformed report: invalid type"),
        ),
        (r#"{"runnable":-1}"#, Some("malformed report")),
        (r#"{"runnable":1.5}"#, Some("malformed report")),
        (r#"{"rps":0,"error_rate":0,"latency_p90_ms":0}"#, None),
        (
            r#"{"rps":1250.5,"error_rate":1,"latency_p90_ms":812.5}"#,
            None,
        ),
        (
            r#"{"rps":null,"error_rate":null,"latency_p90_ms":null}"#,
            None,
        ),
        (r#"{"rps":-1}"#, Some("rps must not be negative, got -1")),
        (
            r#"{"error_rate":1.01}"#,
            Some("error_rate must be between 0 and 1, got 1.01"),
        ),
        (
            r#"{"error_rate":-0.2}"#,
            Some("error_rate must be between 0 and 1, got -0.2"),
        ),
        (
            r#"{"latency_p90_ms":-5}"#,
            Some("latency_p90_ms must not be negative, got -5"),
        ),
        (
            r#"{"error_rate":"5%"}"#,
            Some("malformed report: invalid type"),
        ),
    ];
    for (overrides, expected) in cases {
        let overrides: &str = overrides;
        let got = LoadReport::from_json(full(overrides).as_bytes());
        match (expected, got) {
            (None, Ok(_)) => {}
            (Some(want), Err(err)) => assert!(
                err.to_string().contains(want),
                "{overrides}: error {err:?} does not contain {want:?}"
            ),
            (want, got) => panic!("{overrides}: expected {want:?}, got {got:?}"),
        }
    }
    // NaN cannot be written in JSON, so check the typed path directly.
    let mut report = LoadReport::from_json(full("{}").as_bytes()).unwrap();
    report.cpu_percent = f64::NAN;
    assert_eq!(report.validate(), Err(nan));
    let mut report = LoadReport::from_json(full("{}").as_bytes()).unwrap();
    report.cpu_pressure = Some(f64::NAN);
    assert_eq!(
        report.validate(),
        Err(ReportError::NotFinite {
            field: "cpu_pressure"
        })
    );
}

#[test]
fn duplicate_and_surplus_keys_are_refused() {
    let refused = |body: &str| LoadReport::from_json(body.as_bytes()).unwrap_err();
    let dup = |key: &str| ReportError::DuplicateKey(key.to_owned());
    // A known field twice: the typed parse stops, the generic one would
    // keep the last value.
    let twice =
        r#"{"node_id":"a","url":"http://h","url":"http://evil","cpu_percent":1,"mem_percent":2}"#;
    assert_eq!(refused(twice), dup("url"));
    // Written once plainly and once escaped, it is still one key.
    let escaped = r#"{"node_id":"a","cpu_percent":1,"mem_percent":2,"node\u005fid":"b"}"#;
    assert_eq!(refused(escaped), dup("node_id"));
    // An unknown key twice, which the typed parse would ignore.
    let unknown = r#"{"node_id":"a","cpu_percent":1,"mem_percent":2,"x":1,"x":[{}]}"#;
    assert_eq!(refused(unknown), dup("x"));
    assert_eq!(refused(r#"{"cpu":1,"cpu":2,"memory":3}"#), dup("cpu"));
    let many: String = (0..MAX_REPORT_KEYS)
        .map(|i| format!(r#","k{i}":0"#))
        .collect();
    let many = format!(r#"{{"node_id":"a","cpu_percent":1,"mem_percent":2{many}}}"#);
    assert_eq!(refused(&many), ReportError::TooManyKeys);
    assert_eq!(refused(&many).reason(), "too_many_keys");
}

#[test]
fn a_malformed_reports_message_is_bounded() {
    let body = format!(
        r#"{{"node_id":"a","cpu_percent":1,"mem_percent":2,"state":"{}"}}"#,
        "é".repeat(5000)
    );
    let err = LoadReport::from_json(body.as_bytes()).unwrap_err();
    assert!(err.to_string().len() < 2 * MAX_MESSAGE_LEN, "{err}");
}

#[test]
fn rounding_slack_is_clamped_away() {
    let report = LoadReport::from_json(full(r#"{"cpu_percent":100.3}"#).as_bytes()).unwrap();
    assert_eq!(report.cpu_percent, 100.0);
}

#[test]
fn missing_optional_fields_take_defaults() {
    let report =
        LoadReport::from_json(br#"{"node_id":"n","cpu_percent":1,"mem_percent":2}"#).unwrap();
    assert!(report.healthy);
    assert_eq!(report.state, NodeState::Ready);
    assert_eq!(report.weight, 1.0);
    assert_eq!(report.url, None);
    assert_eq!((report.cpu_pressure, report.runnable), (None, None));
    assert_eq!(
        (report.rps, report.error_rate, report.latency_p90_ms),
        (None, None, None)
    );
}

#[test]
fn seed_style_report_is_accepted() {
    let report =
        LoadReport::from_json(br#"{"cpu": 12.0, "memory": 40.0, "timestamp": 1763700000.1}"#)
            .unwrap();
    assert_eq!(report.cpu_percent, 12.0);
    assert_eq!(report.mem_percent, 40.0);
    assert_eq!(report.sampled_at_ms, 1_763_700_000_100);
    assert_eq!(report.node_id, "");
    assert_eq!(report.seq, 0);
}

#[test]
fn seed_style_report_is_validated() {
    let err = LoadReport::from_json(br#"{"cpu": 120, "memory": 40}"#).unwrap_err();
    assert_eq!(err.reason(), "percent_out_of_range");
    let err = LoadReport::from_json(br#"{"cpu": 12}"#).unwrap_err();
    assert!(err.to_string().contains("missing field `memory`"), "{err}");
}

#[test]
fn non_objects_are_malformed() {
    for body in [&b"[]"[..], b"42", b"", b"{", b"null"] {
        let err = LoadReport::from_json(body).unwrap_err();
        assert_eq!(err.reason(), "malformed", "{body:?}");
    }
}
