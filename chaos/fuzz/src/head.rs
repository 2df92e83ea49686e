//! The public listener's request heads: bytes from any client on the
//! internet, read by hyper and answered by the dispatcher's `respond`.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use signpost_dispatcher::app::App;
use signpost_dispatcher::config::{Args, Config};
use signpost_dispatcher::http::redirect::respond;
use signpost_dispatcher::registry::Source;
use signpost_shared::LoadReport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tokio::time::Instant;

/// The only backend the dispatcher knows; every redirect must go there.
const BACKEND: &str = "http://b.example:8000";

/// Statuses hyper answers a head it cannot read with (bad syntax, too long
/// a target or header, unsupported version or encoding), or `respond` a
/// target that cannot make a `Location`.
const REFUSALS: &[u16] = &[400, 413, 414, 431, 501, 505];

/// Sends `data` over one connection to the public listener's HTTP stack
/// and checks every response that comes back.
pub fn check(data: &[u8]) {
    let (app, runtime) = fixture();
    let response = runtime.block_on(exchange(app.clone(), data));
    check_responses(&response);
}

/// Every response in `bytes` (pipelined requests get one each) is a
/// redirect to [`BACKEND`], a 503 with `Retry-After`, or a refusal.
fn check_responses(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for response in text.split("HTTP/1.1 ").skip(1) {
        let status: u16 = response.get(..3).and_then(|s| s.parse().ok()).unwrap_or(0);
        let head = response
            .split("\r\n\r\n")
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match status {
            302 | 307 => assert!(
                head.contains(&format!("\r\nlocation: {BACKEND}/")),
                "redirect elsewhere: {head:?}"
            ),
            503 => assert!(head.contains("\r\nretry-after: "), "{head:?}"),
            s if REFUSALS.contains(&s) => {}
            // A status line inside a body or a header value echoed back
            // would also split here; the dispatcher echoes nothing.
            _ => panic!("unexpected answer {status}: {head:?}"),
        }
    }
}

/// Writes `data`, half-closes, and reads everything the server says.
async fn exchange(app: Arc<App>, data: &[u8]) -> Vec<u8> {
    let (mut client, server) = tokio::io::duplex(data.len() + 64 * 1024);
    let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let service = service_fn(move |request| {
        std::future::ready(Ok::<_, Infallible>(respond(&app, peer, &request)))
    });
    let serve = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(server), service);
    let talk = async {
        let _ = client.write_all(data).await;
        let _ = client.shutdown().await;
        let mut out = Vec::new();
        let _ = client.read_to_end(&mut out).await;
        out
    };
    let (_, out) = tokio::join!(serve, talk);
    out
}

/// One dispatcher with [`BACKEND`] in its pool, and a runtime to serve on.
fn fixture() -> &'static (Arc<App>, Runtime) {
    static FIXTURE: OnceLock<(Arc<App>, Runtime)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let app = Arc::new(App::new(
            Config::load(&Args::default()).expect("the default config loads"),
        ));
        let report = format!(
            r#"{{"node_id":"b","url":"{BACKEND}","cpu_percent":10,"mem_percent":20,"seq":1}}"#
        );
        let report = LoadReport::from_json(report.as_bytes()).expect("a valid report");
        let now = Instant::now();
        app.ingest(Source::Push, report, now).expect("filed");
        app.rebuild(now);
        (app, runtime)
    })
}
