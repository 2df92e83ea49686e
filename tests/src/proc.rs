//! Running the real binaries: build them once, spawn them, read their
//! `listening <name> <addr>` lines, signal them and collect their exit.
//!
//! Every child is killed when its [`Proc`] is dropped, and its stderr is
//! captured and printed if the test panics, so a failing scenario shows
//! what the binary said.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::patience;

/// A running binary, killed on drop.
#[derive(Debug)]
pub struct Proc {
    bin: String,
    child: Child,
    listeners: HashMap<String, SocketAddr>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// The tasks copying stdout and stderr; they end at end of file.
    readers: Vec<JoinHandle<()>>,
}

/// How to start a binary: arguments, environment, and how many
/// `listening` lines to wait for.
#[derive(Debug, Clone)]
pub struct ProcBuilder {
    bin: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    listeners: usize,
}

/// What a binary that ran to completion left behind.
#[derive(Debug)]
pub struct Output {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

// === impl Proc ===

impl Proc {
    /// Starts `bin` with `args` and waits for its first `listening` line.
    pub async fn spawn(bin: &str, args: &[&str]) -> Proc {
        Proc::command(bin).args(args).spawn().await
    }

    /// A builder for anything beyond [`Proc::spawn`]: environment, several
    /// listeners, or running to completion.
    pub fn command(bin: &str) -> ProcBuilder {
        ProcBuilder {
            bin: bin.to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            listeners: 1,
        }
    }

    /// The address announced as `listening <name> <addr>`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        match self.listeners.get(name) {
            Some(addr) => *addr,
            None => panic!(
                "{} announced no `{name}` listener: {:?}",
                self.bin, self.listeners
            ),
        }
    }

    /// `http://<addr>` of the named listener.
    pub fn url(&self, name: &str) -> String {
        format!("http://{}", self.addr(name))
    }

    /// What the process has written to stderr so far.
    pub fn stderr(&self) -> String {
        lock(&self.stderr).clone()
    }

    /// What the process has written to stdout so far, `listening` lines
    /// included.
    pub fn stdout(&self) -> String {
        lock(&self.stdout).clone()
    }

    /// The process id, to read its `/proc` entry (memory, say).
    pub fn pid(&self) -> u32 {
        self.child
            .id()
            .expect("the process has not been reaped yet")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `HUP`, ...) through `kill(1)`: the
    /// workspace forbids `unsafe`.
    pub fn signal(&self, name: &str) {
        let pid = self
            .child
            .id()
            .expect("the process has not been reaped yet");
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed: {status}");
    }

    /// Waits for the process to exit and for its last output to be
    /// captured, panicking (with its stderr) if it is still running after
    /// `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let readers = std::mem::take(&mut self.readers);
        let exit = async {
            let status = self.child.wait().await.expect("wait for the child");
            for reader in readers {
                reader.await.expect("capture the output");
            }
            status
        };
        match tokio::time::timeout(timeout, exit).await {
            Ok(status) => status,
            Err(_) => panic!("{} still running after {timeout:?}", self.bin),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("----- stderr of {} -----\n{}-----", self.bin, self.stderr());
        }
    }
}

// === impl ProcBuilder ===

impl ProcBuilder {
    /// Appends arguments.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|arg| (*arg).to_owned()));
        self
    }

    /// Sets an environment variable for the child (the rest is inherited).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_owned(), value.to_owned()));
        self
    }

    /// How many `listening` lines [`ProcBuilder::spawn`] waits for
    /// (default 1; the dispatcher announces two).
    pub fn listeners(mut self, count: usize) -> Self {
        self.listeners = count;
        self
    }

    /// Starts the binary and waits, up to [`patience`], for its `listening`
    /// lines; panics with its stderr if it exits or stays silent.
    pub async fn spawn(self) -> Proc {
        let mut child = self.command().spawn().expect("spawn the binary");
        let (stderr, stderr_reader) = capture(child.stderr.take().expect("stderr is piped"), None);
        let (found, mut announced) = mpsc::unbounded_channel();
        let (stdout, stdout_reader) =
            capture(child.stdout.take().expect("stdout is piped"), Some(found));
        let mut proc = Proc {
            bin: self.bin,
            child,
            listeners: HashMap::new(),
            stdout,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
        };
        let wait = async {
            while proc.listeners.len() < self.listeners {
                let Some((name, addr)) = announced.recv().await else {
                    break;
                };
                proc.listeners.insert(name, addr);
            }
        };
        let waited = tokio::time::timeout(patience(), wait).await;
        if waited.is_err() || proc.listeners.len() < self.listeners {
            panic!(
                "{} announced {:?}, expected {} listeners; stderr:\n{}",
                proc.bin,
                proc.listeners,
                self.listeners,
                proc.stderr()
            );
        }
        proc
    }

    /// Runs the binary to completion (up to [`patience`]) and returns its
    /// exit status and output: for one-shot subcommands and bad configs.
    pub async fn output(self) -> Output {
        let child = self.command().spawn().expect("spawn the binary");
        let output = tokio::time::timeout(patience(), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{} did not exit within {:?}", self.bin, patience()))
            .expect("collect the output");
        Output {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(binary(&self.bin));
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

/// The path of a workspace binary, built (once per test process and
/// binary) so it is never stale. Binaries live in `target/<profile>/`, the
/// parent of the test executable's `deps/` directory.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let profile_dir = profile_dir();
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !built.iter().any(|done| done == name) {
        build(name, &profile_dir);
        built.push(name.to_owned());
    }
    profile_dir.join(name)
}

/// `target/<profile>/` of this test executable.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("locate the test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable sits in target/<profile>/deps")
        .to_owned()
}

/// Runs `cargo build -p <bin> --bin <bin>` (packages are named after their
/// binaries) in this executable's profile. Building only the binary a
/// scenario needs keeps one crate's scenarios running while another crate
/// is mid-edit; cargo makes it a no-op when nothing changed.
fn build(bin: &str, profile_dir: &Path) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = std::process::Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "-p", bin, "--bin", bin]);
    if profile_dir.ends_with("release") {
        command.arg("--release");
    }
    let output = command.output().expect("run cargo build");
    assert!(
        output.status.success(),
        "cargo build of {bin} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Copies a child's output into a shared buffer line by line, until end of
/// file; with `announce`, also sends each `listening <name> <addr>` line's
/// parts.
fn capture(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    announce: Option<mpsc::UnboundedSender<(String, SocketAddr)>>,
) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&buffer);
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let (Some(announce), Some(listener)) = (&announce, parse_listening(&line)) {
                let _ = announce.send(listener);
            }
            let mut text = lock(&sink);
            text.push_str(&line);
            text.push('\n');
        }
    });
    (buffer, reader)
}

/// Reads `listening <name> <addr>`, also as the `message` of a JSON log
/// line (what `--log-format json` prints).
fn parse_listening(line: &str) -> Option<(String, SocketAddr)> {
    let json: Option<serde_json::Value> = line
        .starts_with('{')
        .then(|| serde_json::from_str(line).ok())
        .flatten();
    let line = match &json {
        Some(json) => json["fields"]["message"].as_str()?,
        None => line,
    };
    let mut words = line.split_whitespace();
    let (Some("listening"), Some(name), Some(addr), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return None;
    };
    Some((name.to_owned(), addr.parse().ok()?))
}

/// Locks a capture buffer; a panic while holding it cannot leave the
/// text half-written in a way that matters to a test, so poisoning is
/// ignored.
fn lock(buffer: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_are_recognised() {
        let cases = [
            (
                "listening agent 127.0.0.1:43121",
                Some(("agent", "127.0.0.1:43121")),
            ),
            (
                "listening control [::1]:9100",
                Some(("control", "[::1]:9100")),
            ),
            ("listening agent nowhere", None),
            ("listening agent 127.0.0.1:1 extra", None),
            ("started", None),
            (
                r#"{"level":"INFO","fields":{"message":"listening public 127.0.0.1:8080"}}"#,
                Some(("public", "127.0.0.1:8080")),
            ),
            (r#"{"fields":{"message":"started"}}"#, None),
        ];
        for (line, want) in cases {
            let want = want.map(|(name, addr)| (name.to_owned(), addr.parse().unwrap()));
            assert_eq!(parse_listening(line), want, "{line}");
        }
    }
}
