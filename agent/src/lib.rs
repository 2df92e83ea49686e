//! # signpost-agent: a node's live load, served and pushed
//!
//! The agent runs on every backend node. It samples the node once per
//! interval (CPU and memory, cgroup-aware; load average; established
//! connections to the advertised port; CPU pressure and runnable tasks),
//! serves the latest
//! [`LoadReport`] at `GET /load`, and, in push
//! mode, POSTs it to every configured dispatcher (every address a
//! dispatcher's name resolves to, see [`discovery`]). `POST /drain` and
//! `POST /ready` switch the reported state; `--backend-health` turns a
//! failing local application into `healthy: false`. Passive health: the
//! probe's outcomes, or the application's access log (`--app-log`), become
//! the report's `rps`, `error_rate` and `latency_p90_ms`.
//!
//! The agent binds only after its first sample (which needs two CPU readings
//! an interval apart), so `/load` never answers without a real report.
//!
//! | flag | env | default |
//! |---|---|---|
//! | `--config FILE` | `SIGNPOST_AGENT_CONFIG` | none |
//! | `--listen ADDR` | `SIGNPOST_AGENT_LISTEN` | `127.0.0.1:9101` |
//! | `--advertise URL` | `SIGNPOST_AGENT_ADVERTISE` | none |
//! | `--node-id ID` | `SIGNPOST_AGENT_NODE_ID` | the hostname |
//! | `--weight N` | `SIGNPOST_AGENT_WEIGHT` | `1` |
//! | `--interval DUR` | `SIGNPOST_AGENT_INTERVAL` | `1s` (at least `200ms`) |
//! | `--dispatcher URL` (repeatable) | `SIGNPOST_AGENT_DISPATCHER` (comma-separated) | none |
//! | `--dispatcher-refresh DUR` | `SIGNPOST_AGENT_DISPATCHER_REFRESH` | `30s` |
//! | `--resolver HOST:PORT` | `SIGNPOST_AGENT_RESOLVER` | the system's (`/etc/resolv.conf`) |
//! | `--token SECRET` | `SIGNPOST_AGENT_TOKEN` | none |
//! | `--backend-health URL` | `SIGNPOST_AGENT_BACKEND_HEALTH` | none |
//! | `--cpu-limit N` | `SIGNPOST_AGENT_CPU_LIMIT` | the cgroup quota, else the host's CPUs |
//! | `--app-log PATH` | `SIGNPOST_AGENT_APP_LOG` | none |
//! | `--app-log-format nginx\|json` | `SIGNPOST_AGENT_APP_LOG_FORMAT` | `nginx` |
//! | `--log-format text\|json` | `SIGNPOST_AGENT_LOG_FORMAT` | `text` |
//!
//! Precedence: flag > env > config file > default. Logs go to stderr,
//! filtered by `RUST_LOG` (default `info`).

pub mod app_report;
pub mod applog;
pub mod cgroup;
pub mod client;
pub mod config;
pub mod discovery;
pub mod metrics;
pub mod netstat;
pub mod pressure;
pub mod probe;
pub mod push;
pub mod sample;
pub mod serve;
pub mod window;

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use signpost_shared::LoadReport;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::discovery::{Discovery, Peer};
use crate::sample::Sampler;

/// How long background tasks get to stop after the server has drained.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs the agent until `shutdown` is cancelled: first sample, bind, print
/// `listening agent <addr>`, then serve, sample, push and probe.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let client = outgoing_client(&config)?;
    let resolving = Arc::<discovery::Stats>::default();
    let (sampler, report) = first_sample(&config, client.as_ref()).await?;
    // The log's end is taken before the agent says it listens: what is
    // written after that counts.
    let tail = (config.app_log.as_ref()).map(|(path, format)| (applog::Tail::new(path), *format));
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("bind {}", config.listen))?;
    announce("agent", &listener)?;

    let (reports, _) = watch::channel(report);
    let mut tasks = JoinSet::new();
    let apps = Arc::new(app_report::AppReports::new(config.interval));
    let sampling = sample::run(sampler, reports.clone(), apps.clone(), config.interval);
    spawn_until(&mut tasks, &shutdown, sampling);
    if let (Some(client), Some(url)) = (&client, &config.backend_health) {
        let probe = probe::run(
            client.clone(),
            url.clone(),
            reports.clone(),
            apps.clone(),
            config.interval,
            config.app_log.is_none(),
        );
        spawn_until(&mut tasks, &shutdown, probe);
    }
    if !config.dispatchers.is_empty() {
        let refresh = config.dispatcher_refresh;
        let discovery = Discovery::new(config.resolver, refresh, resolving.clone());
        spawn_pushes(&mut tasks, &shutdown, &config, &discovery, &reports)?;
    }
    if let Some((tail, format)) = tail {
        let tailing = applog::run(tail, format, reports.clone(), apps.clone(), config.interval);
        spawn_until(&mut tasks, &shutdown, tailing);
    }

    let app = serve::router(reports, apps, resolving, config.token.clone());
    serve::serve(listener, app, shutdown.clone()).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(STOP_GRACE, tasks.join_all()).await;
    Ok(())
}

/// Samples once (two CPU readings an interval apart, plus one probe if
/// configured) and returns the report `signpost-agent once` prints.
pub async fn once(config: &Config) -> anyhow::Result<LoadReport> {
    let client = outgoing_client(config)?;
    let (_, report) = first_sample(config, client.as_ref()).await?;
    Ok(report)
}

/// Cancels `shutdown` when the process receives SIGTERM or SIGINT. If the
/// handlers cannot be installed it logs why and leaves the agent running.
pub async fn cancel_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = signal(SignalKind::terminate())
        .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)));
    let (mut term, mut int) = match signals {
        Ok(signals) => signals,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGTERM/SIGINT");
            return;
        }
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!("{name} received, shutting down");
    shutdown.cancel();
}

/// Sends logs to stderr in the configured format, filtered by `RUST_LOG`
/// (default `info`). A second call is a no-op, so a process that reports
/// a startup error before its logging is set up can still call it.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The client for probes, built only when one is configured (each pushed
/// address has a client of its own, see [`push::fan_out`]).
fn outgoing_client(config: &Config) -> anyhow::Result<Option<reqwest::Client>> {
    if config.backend_health.is_none() {
        return Ok(None);
    }
    let client = client::build(config.request_timeout()).context("set up probes")?;
    Ok(Some(client))
}

/// Takes the first real sample, and probes the application meanwhile, so
/// the first report published is complete.
async fn first_sample(
    config: &Config,
    client: Option<&reqwest::Client>,
) -> anyhow::Result<(Sampler, LoadReport)> {
    let mut sampler = Sampler::new(config.advertise_port, config.cpu_limit, Instant::now())
        .context("start sampling")?;
    let probe = async {
        match (client, &config.backend_health) {
            (Some(client), Some(url)) => probe::check(client, url).await.is_ok(),
            _ => true,
        }
    };
    let (healthy, ()) = tokio::join!(probe, tokio::time::sleep(config.interval));
    let report = sample::first_report(config, sampler.sample(Instant::now()), healthy);
    Ok((sampler, report))
}

/// Pushes to every configured dispatcher, each followed through DNS.
fn spawn_pushes(
    tasks: &mut JoinSet<Option<()>>,
    shutdown: &CancellationToken,
    config: &Config,
    discovery: &Discovery,
    reports: &watch::Sender<LoadReport>,
) -> anyhow::Result<()> {
    for dispatcher in &config.dispatchers {
        let peer = Peer::parse(dispatcher).context("--dispatcher")?;
        let push = push::fan_out(
            discovery.clone(),
            peer,
            config.token.clone(),
            reports.subscribe(),
            config.interval,
            config.request_timeout(),
        );
        spawn_until(tasks, shutdown, push);
    }
    Ok(())
}

/// Runs a background loop until `shutdown`.
fn spawn_until(
    tasks: &mut JoinSet<Option<()>>,
    shutdown: &CancellationToken,
    task: impl Future<Output = ()> + Send + 'static,
) {
    tasks.spawn(shutdown.clone().run_until_cancelled_owned(task));
}

/// Prints the `listening <name> <addr>` line that scripts and tests wait
/// for, and flushes it: stdout is a pipe for them, not a terminal.
fn announce(name: &str, listener: &TcpListener) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("read the bound address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {name} {addr}").context("write to stdout")?;
    stdout.flush().context("flush stdout")?;
    tracing::info!(%addr, "serving /load");
    Ok(())
}
