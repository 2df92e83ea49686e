//! Every fuzz target under proptest: on arbitrary bytes, and on inputs
//! built to be nearly valid, where the interesting branches are. The
//! default case count keeps `cargo test` fast; `PROPTEST_CASES=N` (as
//! `chaos/fuzz.sh` sets) runs more.

use proptest::prelude::*;
use proptest::string::string_regex;
use signpost_fuzz::{config, cookie, forwarded, head, report, url};

/// `field` prefixed with its length, as `signpost_fuzz::split` reads it.
fn field(bytes: &[u8]) -> Vec<u8> {
    let len = u8::try_from(bytes.len()).expect("fields are short");
    let mut out = vec![len];
    out.extend_from_slice(bytes);
    out
}

fn regex(pattern: &str) -> impl Strategy<Value = String> {
    string_regex(pattern).expect("a valid regex")
}

/// A JSON value of the kinds report fields take, and of kinds they do not.
fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| format!("{f:?}")),
        (-5.0f64..110.0).prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<u64>().prop_map(|i| i.to_string()),
        Just("1e400".to_owned()),
        Just("-0".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        regex(r#""[a-zA-Z0-9.:_/ \\-]{0,20}""#),
        regex(r#""https?://[a-z0-9.\[\]:@%-]{1,16}(:[0-9]{1,6})?(/[!-~]{0,10})?""#),
        prop_oneof![
            Just("ready"),
            Just("draining"),
            Just("maintenance"),
            Just("x")
        ]
        .prop_map(|s| format!("\"{s}\"")),
    ]
}

/// A report object: known keys (full and seed form) and strangers, with
/// values of every kind, duplicates possible.
fn report_json() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("node_id"),
        Just("url"),
        Just("cpu_percent"),
        Just("mem_percent"),
        Just("load1"),
        Just("cores"),
        Just("connections"),
        Just("cpu_pressure"),
        Just("runnable"),
        Just("weight"),
        Just("state"),
        Just("healthy"),
        Just("seq"),
        Just("sampled_at_ms"),
        Just("agent_version"),
        Just("cpu"),
        Just("memory"),
        Just("timestamp"),
        Just("extra"),
    ];
    prop::collection::vec((key, json_value()), 0..12).prop_map(|pairs| {
        let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    })
}

/// A URL-shaped string: a scheme, an authority of hostile characters and
/// a path.
fn url_like() -> impl Strategy<Value = String> {
    regex(
        r"(https?|HTTP|ftp|)(://|:/|:\\\\)[a-zA-Z0-9.\[\]:@%_~-]{0,20}(:[0-9+]{0,6})?(/[!-~]{0,16})?/?",
    )
}

/// A request target: origin form mostly, absolute and asterisk forms too.
fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        regex(r"/[!-~]{0,40}"),
        regex(r"(//|/\\|/@|/%2[fF])[!-~]{0,20}"),
        regex(r"https?://[a-z.]{1,10}(:[0-9]{1,5})?/[!-~]{0,16}"),
        Just("*".to_owned()),
        regex(r"[!-~]{0,20}"),
    ]
}

/// A TOML config of known keys with plausible and implausible values.
fn config_toml() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        regex(r#"(listen|control_listen) = "(127\.0\.0\.1|0\.0\.0\.0|\[::1\]|x):[0-9]{1,6}""#),
        regex(
            r#"(poll_interval|stale_after|forget_after|slow_start|client_timeout|shutdown_delay) = "[0-9]{0,4}(ms|s|m|h|x|)""#
        ),
        regex(r#"(strategy|sticky|hash_key|log_format) = "[a-z-]{0,16}""#),
        regex(
            r#"(max_nodes|redirect_code|redirect_code_other|workers|max_header_bytes) = -?[0-9]{1,6}"#
        ),
        regex(r#"mem_high_water = -?[0-9]{1,3}(\.[0-9])?"#),
        regex(r#"(token|admin_token|cookie_secret) = "[a-z0-9]{0,40}""#),
        regex(r#"(trust_forwarded|allow_backend|agents) = \["[!-~&&[^"\\]]{0,20}"\]"#),
        url_like().prop_map(|u| format!("[[backend]]\nid = \"n1\"\nurl = {u:?}")),
        regex(r#"\[health\]\n(path = "/[a-z]{0,5}"|rise = [0-9]{1,3}|status = "[0-9-]{0,9}")"#),
        regex(r"[!-~ ]{0,30}"),
    ];
    prop::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
}

/// A request head: a method, a target, a version, headers, the blank line.
fn request_head() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        prop_oneof![
            Just("GET"),
            Just("HEAD"),
            Just("POST"),
            Just("CONNECT"),
            Just("G\0T")
        ]
        .prop_map(String::from),
        regex("[A-Z]{0,8}"),
    ];
    let version = prop_oneof![
        Just("HTTP/1.1"),
        Just("HTTP/1.0"),
        Just("HTTP/2.0"),
        Just("HTTP/9"),
        Just("")
    ];
    let header = prop_oneof![
        regex(
            r"(Host|Cookie|X-Forwarded-For|Forwarded|Content-Length|Transfer-Encoding|Connection): [ -~]{0,30}"
        ),
        regex(r"[!-~]{0,12}:[\x00-\x7f]{0,20}"),
    ];
    let sep = prop_oneof![Just("\r\n"), Just("\n"), Just("\r")];
    (
        method,
        target(),
        version,
        prop::collection::vec(header, 0..6),
        sep,
        1usize..3,
    )
        .prop_map(|(method, target, version, headers, sep, repeat)| {
            let mut head = format!("{method} {target} {version}{sep}");
            for h in headers {
                head.push_str(&h);
                head.push_str(sep);
            }
            head.push_str(sep);
            head.repeat(repeat).into_bytes()
        })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..512)
}

proptest! {
    #[test]
    fn report_on_bytes(data in bytes()) { report::check(&data); }

    #[test]
    fn report_on_near_valid_json(json in report_json()) { report::check(json.as_bytes()); }

    #[test]
    fn base_url_on_bytes(data in bytes()) { url::base_url(&data); }

    #[test]
    fn base_url_on_url_like(text in url_like()) { url::base_url(text.as_bytes()); }

    #[test]
    fn location_on_bytes(data in bytes()) { url::location(&data); }

    #[test]
    fn location_on_url_and_target(base in url_like(), target in target()) {
        let mut data = field(base.as_bytes());
        data.extend_from_slice(target.as_bytes());
        url::location(&data);
    }

    #[test]
    fn cookie_on_bytes(data in bytes()) { cookie::check(&data); }

    #[test]
    fn cookie_with_junk_around_a_real_node(
        secret in prop::collection::vec(any::<u8>(), 0..40),
        node in regex(r"[a-zA-Z0-9._:-]{1,24}"),
        junk in regex(r"(signpost=[!-~&&[^;]]{0,40}; ?){0,3}[ -~]{0,20}"),
    ) {
        let mut data = field(&secret);
        data.extend(field(node.as_bytes()));
        data.extend_from_slice(junk.as_bytes());
        cookie::check(&data);
    }

    #[test]
    fn forwarded_on_bytes(data in bytes()) { forwarded::check(&data); }

    #[test]
    fn forwarded_on_address_lists(
        peer in any::<u8>(),
        lines in prop::collection::vec(
            (any::<u8>(), regex(r#"((for=)?"?\[?(10\.0\.0\.[0-9]{1,3}|[0-9.]{1,15}|::1|[0-9a-f:]{2,20})\]?(:[0-9]{1,5})?"?[,;] ?){1,5}"#)),
            0..4,
        ),
    ) {
        let mut data = vec![peer];
        for (kind, line) in lines {
            data.push(kind);
            data.extend_from_slice(line.as_bytes());
            data.push(b'\n');
        }
        forwarded::check(&data);
    }

    #[test]
    fn config_on_bytes(data in bytes()) { config::check(&data); }

    #[test]
    fn config_on_near_valid_toml(text in config_toml()) { config::check(text.as_bytes()); }

    #[test]
    fn head_on_bytes(data in bytes()) { head::check(&data); }

    #[test]
    fn head_on_near_valid_requests(data in request_head()) { head::check(&data); }
}

/// Found by AFL++ (report target): `load1` with 24 significant digits read
/// back an ulp away from itself after a round trip.
#[test]
fn a_long_float_reads_back_within_an_ulp() {
    report::check(include_bytes!("../seeds/report/found-float-ulp.json"));
}
