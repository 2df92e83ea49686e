//! A real DNS server on loopback for the discovery scenarios: `dnsmasq` on
//! an ephemeral port, with its own configuration only (no system config
//! file, no `/etc/hosts`, no upstream servers), killed when dropped.
//!
//! It serves the host records of a hosts file ([`Dns::set_hosts`] rewrites
//! it and sends SIGHUP, on which dnsmasq re-reads it) and the SRV records
//! given at start. Without dnsmasq the scenario fails and says how to
//! install it: CI installs it (`.ci/run`), so a silent pass would hide a
//! broken set-up.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::eventually;

/// One SRV record: (service name, target host, port).
pub type Srv<'a> = (&'a str, &'a str, u16);

/// A running dnsmasq, killed on drop.
#[derive(Debug)]
pub struct Dns {
    child: Child,
    addr: SocketAddr,
    hosts: PathBuf,
    /// Holds the hosts file and pid file; removed on drop.
    _dir: tempfile::TempDir,
}

// === impl Dns ===

impl Dns {
    /// Starts dnsmasq on `127.0.0.1` serving `hosts` (name, address) and
    /// `srv` records, and waits until it accepts TCP queries.
    pub async fn start(hosts: &[(&str, &str)], srv: &[Srv<'_>]) -> Dns {
        let bin = dnsmasq();
        let dir = tempfile::tempdir().expect("make a temp dir for dnsmasq");
        // dnsmasq drops to `nobody` and re-reads the hosts file as that user.
        set_mode(dir.path(), 0o755);
        let hosts_file = dir.path().join("hosts");
        write_hosts(&hosts_file, hosts);
        let addr = free_port();
        let mut args = vec![
            "--keep-in-foreground".to_owned(),
            "--conf-file=/dev/null".to_owned(),
            "--no-resolv".to_owned(),
            "--no-hosts".to_owned(),
            "--no-poll".to_owned(),
            "--bind-interfaces".to_owned(),
            format!("--listen-address={}", addr.ip()),
            format!("--port={}", addr.port()),
            format!("--addn-hosts={}", hosts_file.display()),
            format!("--pid-file={}", dir.path().join("pid").display()),
            // Its log goes to stderr, which is discarded, not to syslog.
            "--log-facility=-".to_owned(),
        ];
        args.extend(
            srv.iter()
                .map(|(name, target, port)| format!("--srv-host={name},{target},{port}")),
        );
        let child = Command::new(&bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("spawn {}: {err}", bin.display()));
        let dns = Dns {
            child,
            addr,
            hosts: hosts_file,
            _dir: dir,
        };
        eventually("dnsmasq accepts queries", || async {
            TcpStream::connect(addr).await.is_ok()
        })
        .await;
        dns
    }

    /// Where to send queries: the `--resolver` value.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the host records with `hosts` and tells dnsmasq to re-read
    /// them (SIGHUP, which also clears its cache).
    pub fn set_hosts(&self, hosts: &[(&str, &str)]) {
        write_hosts(&self.hosts, hosts);
        let pid = self.child.id().expect("dnsmasq is still running");
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP {pid} failed: {status}");
    }

    /// Stops the server, so every lookup fails from now on.
    pub async fn stop(&mut self) {
        self.child.kill().await.expect("kill dnsmasq");
    }
}

/// The dnsmasq binary, or a panic that says how to get it.
fn dnsmasq() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir: PathBuf| dir.join("dnsmasq"))
        .find(|bin| bin.is_file())
        .unwrap_or_else(|| {
            panic!(
                "dnsmasq is not installed, and the DNS discovery scenarios need a real DNS \
                 server on loopback: `apt-get install dnsmasq` (.ci/run installs it)"
            )
        })
}

/// A loopback address with a port free for both UDP and TCP right now.
fn free_port() -> SocketAddr {
    for _ in 0..100 {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral UDP port");
        let addr = socket.local_addr().expect("read the ephemeral port");
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no loopback port free for both UDP and TCP in 100 tries")
}

/// Writes `hosts` in `/etc/hosts` form, readable by dnsmasq's `nobody`.
fn write_hosts(path: &Path, hosts: &[(&str, &str)]) {
    let text: String = hosts
        .iter()
        .map(|(name, addr)| format!("{addr} {name}\n"))
        .collect();
    std::fs::write(path, text).expect("write the hosts file");
    set_mode(path, 0o644);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("chmod {}: {err}", path.display()));
}
