//! The access log of the public listener: JSON lines with the resolved
//! client, the request, the answer and how it was chosen; request ids
//! passed through or made and returned; sampling; cutting long URIs;
//! stdout; and reopening on SIGHUP after logrotate moved the file.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::Value;
use signpost_e2e::dispatcher::{lasting_web_1, metrics};
use signpost_e2e::{Proc, client, eventually, eventually_some, metric};

/// The JSON lines of the file at `path` (none if it does not exist).
fn lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let parse = |line: &str| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    text.lines().map(parse).collect()
}

/// Waits until the file at `path` holds `n` lines, and returns them.
async fn wait_for_lines(path: &Path, n: usize) -> Vec<Value> {
    eventually_some(&format!("{n} lines in {}", path.display()), || async {
        let lines = lines(path);
        (lines.len() >= n).then_some(lines)
    })
    .await
}

/// GET `path` on the public listener with `X-Request-Id: id` if given:
/// the status and the `X-Request-Id` answered.
async fn get(disp: &Proc, path: &str, id: Option<&str>) -> (StatusCode, String) {
    let mut request = client().get(disp.url("public") + path);
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    let response = request.send().await.expect("GET public");
    let answered = response.headers().get("x-request-id").map(|v| v.to_str());
    let answered = answered.expect("an X-Request-Id on every answer");
    (response.status(), answered.expect("ASCII id").to_owned())
}

#[tokio::test]
async fn every_answer_is_a_json_line_with_its_request_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("access.log");
    let log = path.to_str().expect("UTF-8 path");
    let args = ["--access-log", log, "--access-log-max-uri", "16"];
    let limit = ["--rate-limit", "1/m", "--rate-burst", "2"];
    let disp = lasting_web_1(&[&args[..], &limit].concat()).await;

    let (status, id) = get(&disp, "/a?b=1", Some("req-42")).await;
    assert_eq!((status, id.as_str()), (StatusCode::FOUND, "req-42"));
    let (_, made) = get(&disp, "/0123456789abcdefghij", None).await;
    assert!(made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        get(&disp, "/x", None).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    let lines = wait_for_lines(&path, 3).await;
    let first = &lines[0];
    assert_eq!(first["client"], "127.0.0.1");
    assert_eq!(
        (&first["method"], &first["uri"]),
        (&"GET".into(), &"/a?b=1".into())
    );
    assert_eq!(
        (&first["status"], &first["backend"]),
        (&302.into(), &"web-1".into())
    );
    assert_eq!(
        (&first["chosen"], &first["request_id"]),
        (&"picked".into(), &"req-42".into())
    );
    assert!(
        first["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{first}"
    );
    assert_eq!(first.get("uri_truncated"), None);
    let second = &lines[1];
    assert_eq!(second["uri"], "/0123456789abcde");
    assert_eq!(second["uri_truncated"], true);
    assert_eq!(second["request_id"], made.as_str());
    let limited = &lines[2];
    assert_eq!(
        (&limited["status"], &limited["chosen"]),
        (&429.into(), &"limited".into())
    );
    assert_eq!(limited["backend"], Value::Null);
    let body = metrics(&disp).await;
    metric("signpost_access_log_lines_total")
        .value(3)
        .assert_in(&body);
    metric("signpost_access_log_dropped_total")
        .value(0)
        .assert_in(&body);
}

#[tokio::test]
async fn one_answer_in_n_is_logged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("access.log");
    let log = path.to_str().expect("UTF-8 path");
    let disp = lasting_web_1(&["--access-log", log, "--access-log-sample", "3"]).await;
    for _ in 0..9 {
        get(&disp, "/", None).await;
    }
    eventually("three lines written", || async {
        metric("signpost_access_log_lines_total")
            .value(3)
            .is_in(&metrics(&disp).await)
    })
    .await;
    assert_eq!(lines(&path).len(), 3);
}

#[tokio::test]
async fn sighup_reopens_the_file_logrotate_moved() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("access.log");
    let rotated = dir.path().join("access.log.1");
    let disp = lasting_web_1(&["--access-log", path.to_str().expect("UTF-8 path")]).await;
    get(&disp, "/before", None).await;
    wait_for_lines(&path, 1).await;
    std::fs::rename(&path, &rotated).expect("rotate the log");
    disp.signal("HUP");
    // Until the writer has reopened, lines still go to the moved file.
    eventually("a line in the new file", || async {
        get(&disp, "/after", None).await;
        !lines(&path).is_empty()
    })
    .await;
    assert_eq!(lines(&rotated)[0]["uri"], "/before");
    assert!(lines(&path).iter().all(|line| line["uri"] == "/after"));
    assert!(disp.stderr().contains("access log reopened"));
}

#[tokio::test]
async fn a_dash_logs_to_stdout() {
    let disp = lasting_web_1(&["--access-log", "-"]).await;
    get(&disp, "/to-stdout", Some("out-1")).await;
    eventually("the line on stdout", || async {
        disp.stdout().lines().any(|line| {
            serde_json::from_str::<Value>(line)
                .is_ok_and(|v| v["uri"] == "/to-stdout" && v["request_id"] == "out-1")
        })
    })
    .await;
}

#[tokio::test]
async fn an_unwritable_log_stops_the_start() {
    let output = Proc::command(signpost_e2e::dispatcher::BIN)
        .args(&["--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0"])
        .args(&["--access-log", "/nonexistent-dir/access.log"])
        .output()
        .await;
    assert!(!output.status.success());
    let stderr = output.stderr;
    assert!(stderr.contains("open the access log"), "{stderr}");
    assert!(stderr.contains("/nonexistent-dir/access.log"), "{stderr}");
}
