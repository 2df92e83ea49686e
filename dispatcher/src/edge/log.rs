//! The access log: one JSON line per answer of the public listener, written
//! off the request path.
//!
//! The request path only fills an [`Entry`] (the path and query are its one
//! allocation) and `try_send`s it into a bounded tokio channel, which takes
//! no lock. A dedicated thread wakes every [`TICK`], drains the channel,
//! formats the lines into one reused buffer and writes them; it never asks
//! to be woken, so a request never pays for waking it (a futex call and a
//! context switch each, which made logging cost 1.6× nginx's in
//! `bench/redirect.sh`). When the writer falls behind and the channel is
//! full, the entry is dropped and counted: a request never waits for the
//! disk. SIGHUP asks the writer to reopen the file (after logrotate moved
//! it) at its next tick; the request path is not involved.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;

use crate::config::{AccessLogConfig, AccessLogTarget};
use crate::metrics::EdgeCounters;

/// Entries waiting for the writer at most: about 1.5 MB of entries with
/// short paths, and many ticks of a busy dispatcher's answers.
const CHANNEL: usize = 16 * 1024;

/// How often the writer drains the channel: lines reach the file at most
/// this late.
const TICK: Duration = Duration::from_millis(20);

/// The writer's buffer: one `write` for ~300 lines, whole lines only.
const BUFFER: usize = 64 * 1024;

/// How a request was answered, for the log's `chosen` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// Sent to a backend the strategy picked.
    Picked,
    /// Sent to the backend its sticky cookie names.
    Pinned,
    /// Refused by the rate limit.
    Limited,
    /// Refused by overload shedding.
    Shed,
    /// No backend could take it.
    Unavailable,
}

/// One answer, as the request path saw it.
#[derive(Debug)]
pub struct Entry {
    /// When it was answered.
    pub time: SystemTime,
    /// The client, as `--trust-forwarded` resolves it.
    pub client: IpAddr,
    /// The request method.
    pub method: Method,
    /// Path and query, cut at `--access-log-max-uri` bytes.
    pub target: String,
    /// Whether `target` was cut.
    pub truncated: bool,
    /// The answer's status.
    pub status: u16,
    /// The backend the client was sent to, if any.
    pub backend: Option<Arc<str>>,
    /// How the answer came about.
    pub how: How,
    /// The request id, passed through or generated.
    pub request_id: HeaderValue,
}

/// The request path's end of the log.
#[derive(Debug)]
pub struct AccessLog {
    sender: mpsc::Sender<Box<Entry>>,
    reopen: Arc<AtomicBool>,
    config: AccessLogConfig,
}

// === impl How ===

impl How {
    /// The name written in the log.
    pub fn as_str(self) -> &'static str {
        match self {
            How::Picked => "picked",
            How::Pinned => "pinned",
            How::Limited => "limited",
            How::Shed => "shed",
            How::Unavailable => "unavailable",
        }
    }
}

// === impl Entry ===

impl Entry {
    /// Appends this entry's JSON line, newline included, to `out`; `stamp`
    /// keeps the formatted second from one line to the next.
    pub fn write_json(&self, out: &mut Vec<u8>, stamp: &mut Stamp) {
        out.extend_from_slice(b"{\"time\":\"");
        stamp.write(self.time, out);
        out.extend_from_slice(b"\",\"client\":\"");
        match self.client {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    decimal(out, u32::from(octet));
                }
            }
            // Writing into a Vec cannot fail.
            IpAddr::V6(v6) => drop(write!(out, "{v6}")),
        }
        out.push(b'"');
        out.extend_from_slice(b",\"method\":");
        string(out, self.method.as_str());
        out.extend_from_slice(b",\"uri\":");
        string(out, &self.target);
        if self.truncated {
            out.extend_from_slice(b",\"uri_truncated\":true");
        }
        out.extend_from_slice(b",\"status\":");
        decimal(out, u32::from(self.status));
        out.extend_from_slice(b",\"backend\":");
        match &self.backend {
            Some(id) => string(out, id),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"chosen\":\"");
        out.extend_from_slice(self.how.as_str().as_bytes());
        out.extend_from_slice(b"\",\"request_id\":");
        match self.request_id.to_str() {
            Ok(id) => string(out, id),
            Err(_) => string(out, &String::from_utf8_lossy(self.request_id.as_bytes())),
        }
        out.extend_from_slice(b"}\n");
    }
}

/// An RFC 3339 UTC timestamp with milliseconds, formatted once per second:
/// consecutive lines mostly share their second, and formatting the date
/// was a visible part of the writer's time.
#[derive(Debug, Default)]
pub struct Stamp {
    /// The second formatted, since the Unix epoch.
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS` of that second; empty before the first line.
    text: String,
}

// === impl Stamp ===

impl Stamp {
    /// Appends `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` to `out`.
    pub fn write(&mut self, time: SystemTime, out: &mut Vec<u8>) {
        let since = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        if self.text.is_empty() || since.as_secs() != self.second {
            self.second = since.as_secs();
            let whole = SystemTime::UNIX_EPOCH + Duration::from_secs(self.second);
            self.text = humantime::format_rfc3339_seconds(whole).to_string();
            self.text.pop(); // its `Z`
        }
        out.extend_from_slice(self.text.as_bytes());
        let millis = since.subsec_millis();
        let digit = |d: u32| b'0' + (d % 10) as u8;
        out.extend_from_slice(&[
            b'.',
            digit(millis / 100),
            digit(millis / 10),
            digit(millis),
            b'Z',
        ]);
    }
}

/// Appends `s` to `out` as a JSON string, escaped.
/// Paths, ids and methods almost never need escaping: those are copied as
/// they are, the rest goes through serde_json (which was a tenth of the
/// writer's time when it took every string).
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Serialising a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends `n` in decimal: `write!` and its formatter cost more than the
/// rest of a line.
fn decimal(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// `target` cut to at most `max` bytes on a character boundary, and
/// whether it was cut.
pub fn truncate(target: &str, max: usize) -> (String, bool) {
    if target.len() <= max {
        return (target.to_owned(), false);
    }
    (target[..target.floor_char_boundary(max)].to_owned(), true)
}

// === impl AccessLog ===

impl AccessLog {
    /// Opens the log `config` names (failing if the file cannot be opened
    /// for appending) and starts its writer thread, which counts into
    /// `counters`.
    pub fn open(config: &AccessLogConfig, counters: Arc<EdgeCounters>) -> std::io::Result<Self> {
        let sink = Sink::open(&config.target)?;
        let (sender, receiver) = mpsc::channel(CHANNEL);
        let reopen = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            sink,
            target: config.target.clone(),
            reopen: reopen.clone(),
            counters,
        };
        std::thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || writer.run(receiver))?;
        Ok(AccessLog {
            sender,
            reopen,
            config: config.clone(),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &AccessLogConfig {
        &self.config
    }

    /// Hands `entry` to the writer without waiting; false when the writer
    /// is behind and the entry was dropped.
    pub fn send(&self, entry: Entry) -> bool {
        self.sender.try_send(Box::new(entry)).is_ok()
    }

    /// Asks the writer to reopen its file, as logrotate expects on SIGHUP.
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Release);
    }
}

/// The writer thread's state.
struct Writer {
    sink: Sink,
    target: AccessLogTarget,
    reopen: Arc<AtomicBool>,
    counters: Arc<EdgeCounters>,
}

impl Writer {
    /// Writes every [`TICK`] until every sender is gone.
    fn run(mut self, mut receiver: mpsc::Receiver<Box<Entry>>) {
        let mut line = Vec::with_capacity(4096);
        let mut stamp = Stamp::default();
        loop {
            let mut wrote = false;
            let closed = loop {
                match receiver.try_recv() {
                    Ok(entry) => {
                        self.write(&entry, &mut line, &mut stamp);
                        wrote = true;
                    }
                    Err(TryRecvError::Empty) => break false,
                    Err(TryRecvError::Disconnected) => break true,
                }
            };
            if wrote && let Err(err) = self.sink.flush() {
                tracing::warn!(error = %err, "access log: flush failed");
            }
            if closed {
                return;
            }
            if self.reopen.swap(false, Ordering::AcqRel) {
                self.reopen();
            }
            std::thread::sleep(TICK);
        }
    }

    fn write(&mut self, entry: &Entry, line: &mut Vec<u8>, stamp: &mut Stamp) {
        line.clear();
        entry.write_json(line, stamp);
        match self.sink.write_all(line) {
            Ok(()) => self.counters.logged(),
            Err(err) => {
                self.counters.log_dropped();
                tracing::warn!(error = %err, "access log: write failed");
            }
        }
    }

    fn reopen(&mut self) {
        match Sink::open(&self.target) {
            Ok(sink) => {
                self.sink = sink;
                tracing::info!("SIGHUP: access log reopened");
            }
            Err(err) => tracing::error!(error = %err, "SIGHUP: access log not reopened"),
        }
    }
}

/// Where lines go, buffered.
enum Sink {
    Stdout(BufWriter<std::io::Stdout>),
    File(BufWriter<File>),
}

impl Sink {
    fn open(target: &AccessLogTarget) -> std::io::Result<Self> {
        Ok(match target {
            AccessLogTarget::Stdout => {
                Sink::Stdout(BufWriter::with_capacity(BUFFER, std::io::stdout()))
            }
            AccessLogTarget::File(path) => {
                Sink::File(BufWriter::with_capacity(BUFFER, append(path)?))
            }
        })
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::File(out) => out.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::File(out) => out.flush(),
        }
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|err| std::io::Error::new(err.kind(), format!("open {}: {err}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::sync::mpsc as std_mpsc;

    use serde_json::json;

    use super::*;

    /// An entry whose line is about 1.2 KB.
    fn long_entry() -> Entry {
        Entry {
            time: SystemTime::UNIX_EPOCH,
            client: "127.0.0.1".parse().unwrap(),
            method: Method::GET,
            target: "/".repeat(1000),
            truncated: false,
            status: 302,
            backend: Some("web-1".into()),
            how: How::Picked,
            request_id: HeaderValue::from_static("abc"),
        }
    }

    /// The writer falls behind for good: the log is a FIFO that this test
    /// holds open (read-write, so opening it for writing does not wait for
    /// a reader) and never reads. Once the pipe (64 KiB by default, at most
    /// 1 MiB: ~870 lines of 1.2 KB) and the writer's buffer are full, the
    /// writer blocks in `write` and takes nothing more, so of 2 × CHANNEL
    /// entries at least CHANNEL − 1000 must be refused. The sender runs on
    /// its own thread under a deadline: a `send` that waited for room would
    /// never return, and the test fails instead of hanging.
    #[test]
    fn a_writer_that_falls_behind_costs_lines_never_a_wait() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("access.fifo");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success(), "mkfifo {}", fifo.display());
        let _unread = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .unwrap();
        let config = AccessLogConfig {
            target: AccessLogTarget::File(fifo),
            sample: 1,
            max_uri: 1024,
        };
        let log = AccessLog::open(&config, Arc::default()).unwrap();
        let (done, finished) = std_mpsc::channel();
        std::thread::spawn(move || {
            let entries: Vec<Entry> = (0..2 * CHANNEL).map(|_| long_entry()).collect();
            let sent = entries.into_iter().map(|entry| log.send(entry));
            let _ = done.send(sent.filter(|&sent| !sent).count());
        });
        let refused = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("a send waited for the writer");
        assert!(
            refused >= CHANNEL - 1000,
            "only {refused} of {} entries refused",
            2 * CHANNEL
        );
    }

    #[test]
    fn targets_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("/abc", 4), ("/abc".to_owned(), false));
        assert_eq!(truncate("/abcdef", 4), ("/abc".to_owned(), true));
        assert_eq!(truncate("/aé", 3), ("/a".to_owned(), true));
    }

    #[test]
    fn stamps_are_rfc3339_with_milliseconds_across_seconds() {
        let mut stamp = Stamp::default();
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        for offset_ms in [0, 7, 999, 1000, 1001, 61_500, 86_400_000, 5] {
            let time = base + Duration::from_millis(offset_ms);
            let mut out = Vec::new();
            stamp.write(time, &mut out);
            let want = humantime::format_rfc3339_millis(time).to_string();
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn fast_paths_write_what_serde_json_would() {
        for text in [
            "/a/b?x=1",
            "",
            "é/ü",
            "a\"b",
            "back\\slash",
            "tab\t",
            "nl\n",
            "\u{7f}",
        ] {
            let mut out = Vec::new();
            string(&mut out, text);
            assert_eq!(out, serde_json::to_vec(text).unwrap(), "{text:?}");
        }
        for n in [0, 7, 10, 302, 65535, u32::MAX] {
            let mut out = Vec::new();
            decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
        let entry = Entry {
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_500),
            client: "10.0.255.1".parse().unwrap(),
            method: Method::GET,
            target: "/".to_owned(),
            truncated: false,
            status: 503,
            backend: None,
            how: How::Unavailable,
            request_id: HeaderValue::from_static("r"),
        };
        let mut out = Vec::new();
        entry.write_json(&mut out, &mut Stamp::default());
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            line,
            json!({
                "time": "1970-01-01T00:00:01.500Z", "client": "10.0.255.1",
                "method": "GET", "uri": "/", "status": 503, "backend": null,
                "chosen": "unavailable", "request_id": "r",
            })
        );
    }

    #[test]
    fn an_entry_is_one_json_object() {
        let entry = Entry {
            time: SystemTime::UNIX_EPOCH,
            client: "2001:db8::1".parse().unwrap(),
            method: Method::POST,
            target: "/a?\"b\"".to_owned(),
            truncated: true,
            status: 307,
            backend: Some("web-1".into()),
            how: How::Pinned,
            request_id: HeaderValue::from_static("abc"),
        };
        let mut out = Vec::new();
        entry.write_json(&mut out, &mut Stamp::default());
        assert!(out.ends_with(b"}\n") && out.iter().filter(|&&b| b == b'\n').count() == 1);
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            line,
            json!({
                "time": "1970-01-01T00:00:00.000Z", "client": "2001:db8::1",
                "method": "POST", "uri": "/a?\"b\"", "uri_truncated": true,
                "status": 307, "backend": "web-1", "chosen": "pinned",
                "request_id": "abc",
            })
        );
    }
}
