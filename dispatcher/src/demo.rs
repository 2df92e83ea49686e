//! `signpost-dispatcher demo`: the zero-config way to see signpost work.
//!
//! Starts three tiny backends that answer "hello from backend-N", three
//! in-process agents (the real `signpost-agent` library) that push their
//! reports to this dispatcher, and the dispatcher itself, all on loopback.
//! Pushing means the agents need no known port: they find the dispatcher's
//! control listener, which is bound first.
//!
//! Each backend logs its answers, which its agent tails (`--app-log`), and
//! has a knob (`POST /demo/knob?error_rate=0.2&latency_ms=800`) to make it
//! fail or slow down, so passive health can be watched at work.

mod backend;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::{Args, Config};
use crate::{Listeners, init_logging, serve, signal};

/// How many backends (each with its agent) the demo runs.
const BACKENDS: usize = 3;

/// Where demo clients connect unless `--listen` says otherwise: loopback,
/// because the demo's backends are only reachable from this machine.
const DEMO_LISTEN: &str = "127.0.0.1:8080";

/// Runs the demo until SIGINT or SIGTERM.
pub async fn demo(mut args: Args) -> anyhow::Result<()> {
    if args.listen.is_none() {
        args.listen = Some(DEMO_LISTEN.parse()?);
    }
    let config = Config::load(&args).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    init_logging(config.log_format);
    let signals = signal::Signals::install()?;
    let listeners = Listeners::bind(&config).await?;
    let public = listeners.public.local_addr()?;
    let control = listeners.control.local_addr()?;
    let shutdown = CancellationToken::new();
    let hangups = signals.cancel_on_shutdown(shutdown.clone(), config.shutdown_delay);

    let logs = std::env::temp_dir().join(format!("signpost-demo-{}", std::process::id()));
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    let mut backends = Vec::new();
    for n in 1..=BACKENDS {
        let name = format!("backend-{n}");
        let log = logs.join(format!("{name}.log"));
        let addr = backend::start(&name, &log, shutdown.clone()).await?;
        start_agent(&name, addr, &log, control, shutdown.clone())?;
        backends.push((name, addr));
    }
    println!(
        "\nsignpost demo: a dispatcher, {BACKENDS} agents and {BACKENDS} backends on loopback"
    );
    println!("  clients go to   http://{public}/");
    println!("  dashboard       http://{control}/   (JSON: http://{control}/dashboard)");
    println!("  metrics         http://{control}/metrics");
    for (name, addr) in &backends {
        println!("  {name}       http://{addr}/");
    }
    println!("\nThe agents report within about two seconds; then try:");
    println!("  curl -L http://{public}/hello");
    println!("Make a backend fail 20% of its answers, or answer slowly, and watch it ejected:");
    println!(
        "  curl -X POST 'http://{}{}?error_rate=0.2&latency_ms=800'",
        backends[0].1,
        backend::KNOB
    );
    println!("  for i in $(seq 300); do curl -sL http://{public}/ >/dev/null; done");
    println!("Ctrl-C stops everything.\n");
    tracing::info!(
        agents = BACKENDS,
        backends = BACKENDS,
        "demo: in-process agents pushing to this dispatcher"
    );
    serve(config, args, listeners, shutdown, hangups).await
}

/// The real agent, advertising `backend`, tailing its `log` and pushing
/// to `control`.
fn start_agent(
    name: &str,
    backend: SocketAddr,
    log: &Path,
    control: SocketAddr,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let args = signpost_agent::config::Args {
        listen: Some("127.0.0.1:0".parse()?),
        advertise: Some(format!("http://{backend}")),
        node_id: Some(name.to_owned()),
        dispatcher: vec![format!("http://{control}")],
        app_log: Some(PathBuf::from(log)),
        ..Default::default()
    };
    let config = signpost_agent::config::Config::load(args)
        .with_context(|| format!("configure the agent of {name}"))?;
    let name = name.to_owned();
    tokio::spawn(async move {
        if let Err(err) = signpost_agent::run(config, shutdown).await {
            tracing::error!(agent = %name, error = %err, "demo agent failed");
        }
    });
    Ok(())
}
