//! New TLS connections, one request each, for `bench/tls.sh`: every
//! connection is a TCP connect, a TLS 1.3 handshake (full, or resumed from
//! a ticket of an earlier connection with `--resume`, as a returning
//! browser does), one GET over HTTP/1.1 or HTTP/2 and a close. It counts
//! full and resumed handshakes from rustls's own record of each one, so
//! the benchmark can show that resumption really happened. Loopback only.
//!
//! Each of the `--concurrency` tasks is one client with a session cache of
//! its own, so a task resumes with the ticket its previous connection got.
//!
//! The client offers X25519 alone: rustls would otherwise lead with the
//! X25519MLKEM768 hybrid, which only one of the compared servers speaks,
//! and the figure would compare key exchanges rather than servers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, HandshakeKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// TLS new-connection load generator (issue #22 part 2).
#[derive(Parser, Debug)]
struct Args {
    /// The server's address.
    #[arg(long)]
    connect: SocketAddr,
    /// PEM certificate to trust (the server's self-signed one).
    #[arg(long)]
    ca: PathBuf,
    /// TLS server name; sessions are cached under it.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    /// HTTP version, offered alone by ALPN.
    #[arg(long, value_parser = ["h1", "h2"])]
    http: String,
    /// Resume sessions from tickets of earlier connections.
    #[arg(long)]
    resume: bool,
    /// Connections in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds to run for.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Path and query of the GET.
    #[arg(long, default_value = "/app/page?id=42")]
    path: String,
}

/// What one task saw.
#[derive(Default)]
struct Counts {
    full: u64,
    resumed: u64,
    errors: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Arc::new(Args::parse());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let counts = runtime.block_on(async {
        let deadline = started + Duration::from_secs(args.seconds);
        let mut tasks = Vec::with_capacity(args.concurrency);
        for _ in 0..args.concurrency {
            // One client each, with a session cache of its own: a browser
            // resumes with the tickets it was given, not another's.
            let connector = TlsConnector::from(Arc::new(client_config(&args)?));
            tasks.push(tokio::spawn(run(args.clone(), connector, deadline)));
        }
        let mut total = Counts::default();
        for task in tasks {
            let counts = task.await?;
            total.full += counts.full;
            total.resumed += counts.resumed;
            total.errors += counts.errors;
        }
        anyhow::Ok(total)
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let connections = counts.full + counts.resumed;
    println!(
        "connections {connections} full {} resumed {} errors {} seconds {seconds:.2} per_s {:.0}",
        counts.full,
        counts.resumed,
        counts.errors,
        connections as f64 / seconds
    );
    Ok(())
}

/// TLS 1.3 only, X25519 only, trusting `--ca`, ALPN as `--http` says,
/// with a session cache when `--resume`.
fn client_config(args: &Args) -> anyhow::Result<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(&args.ca).context("read --ca")?;
    roots.add(ca).context("trust --ca")?;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn(&args.http).to_vec()];
    config.resumption = match args.resume {
        true => Resumption::in_memory_sessions(4),
        false => Resumption::disabled(),
    };
    Ok(config)
}

fn alpn(http: &str) -> &'static [u8] {
    match http {
        "h2" => b"h2",
        _ => b"http/1.1",
    }
}

/// Makes connections one after the other until `deadline`, as one client.
async fn run(args: Arc<Args>, connector: TlsConnector, deadline: Instant) -> Counts {
    let mut counts = Counts::default();
    while Instant::now() < deadline {
        match connection(&args, &connector).await {
            Ok(HandshakeKind::Resumed) => counts.resumed += 1,
            Ok(_) => counts.full += 1,
            Err(err) => {
                if counts.errors == 0 {
                    eprintln!("tls-load: {err:#}");
                }
                counts.errors += 1;
            }
        }
    }
    counts
}

/// One connection, one GET answered 302, the close: how the handshake went.
async fn connection(args: &Args, connector: &TlsConnector) -> anyhow::Result<HandshakeKind> {
    let tcp = TcpStream::connect(args.connect).await.context("connect")?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(args.server_name.clone())?;
    let tls = connector.connect(name, tcp).await.context("handshake")?;
    let (_, session) = tls.get_ref();
    let kind = session.handshake_kind().context("handshake kind")?;
    if session.alpn_protocol() != Some(alpn(&args.http)) {
        bail!("ALPN: the server chose {:?}", session.alpn_protocol());
    }
    match args.http.as_str() {
        "h2" => get_h2(args, tls).await?,
        _ => get_h1(args, tls).await?,
    }
    Ok(kind)
}

/// GET with `Connection: close`, read to the end.
async fn get_h1(args: &Args, mut tls: TlsStream<TcpStream>) -> anyhow::Result<()> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        args.path, args.server_name
    );
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::with_capacity(1024);
    // Servers may close without close_notify once the answer is out.
    let read = tls.read_to_end(&mut response).await;
    if !response.starts_with(b"HTTP/1.1 302 ") {
        bail!(
            "answer {:?} ({read:?})",
            String::from_utf8_lossy(&response[..response.len().min(80)])
        );
    }
    Ok(())
}

/// One HTTP/2 GET on its own connection, then the connection's end.
async fn get_h2(args: &Args, tls: TlsStream<TcpStream>) -> anyhow::Result<()> {
    let (mut send, conn) = h2::client::handshake(tls).await?;
    let conn = tokio::spawn(conn);
    let uri = format!("https://{}{}", args.server_name, args.path);
    let request = http::Request::get(uri).body(())?;
    let (response, _) = send.send_request(request, true)?;
    let response = response.await?;
    if response.status() != http::StatusCode::FOUND {
        bail!("status {}", response.status());
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    // The connection ends (GOAWAY, close) once nothing refers to it.
    drop((body, send));
    conn.await??;
    Ok(())
}
