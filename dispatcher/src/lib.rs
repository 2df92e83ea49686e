//! # signpost-dispatcher
//!
//! Answers every client request with a redirect to the backend with the
//! most headroom. Data flows one way:
//!
//! ```text
//! ingest (poll | push) ─> intake ─> registry ─> pool snapshot (ArcSwap) ─> strategy ─> 302/307
//! ```
//!
//! [`registry`], [`load`], [`pool`] and [`select`] are pure: no clock, no
//! socket, no environment. [`app`] joins them to the listeners in [`http`]
//! and the background loops ([`poll`], [`App::maintain`](app::App::maintain));
//! every report, pushed or polled, is filed and counted by [`intake`].
//! [`cli`] is what `main` parses and runs before the runtime starts.
//!
//! These docs are for the people who work on signpost and are built with
//! `cargo doc --document-private-items`: module docs name the private
//! items that carry their reasoning (a constant's measured value, a
//! helper's rule), so links to private items are intended.
#![allow(rustdoc::private_intra_doc_links)]

pub mod app;
pub mod backend;
pub mod cli;
pub mod config;
mod demo;
pub mod edge;
pub mod health;
pub mod history;
pub mod http;
pub mod intake;
pub mod load;
pub mod metrics;
pub mod poll;
pub mod pool;
pub mod registry;
pub mod select;
pub mod shedding;
pub mod signal;
pub mod sticky;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::config::{Args, Config, LogFormat};
use crate::registry::Source;
use signpost_agent::discovery::{Discovery, Endpoint};

/// How long in-flight requests and background tasks get after a shutdown
/// signal before the process exits anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Timeout of every outgoing request's connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The dispatcher's two bound listeners.
#[derive(Debug)]
pub struct Listeners {
    /// Where clients are redirected from.
    pub public: TcpListener,
    /// Dashboard, metrics and ingest.
    pub control: TcpListener,
}

impl Listeners {
    /// Binds both listeners of `config` and prints one `listening <name>
    /// <addr>` line for each on stdout, so `--listen 127.0.0.1:0` is usable
    /// (with `--log-format json`, the same as a JSON object: see
    /// [`announce`]).
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let public = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("bind public listener {}", config.listen))?;
        let control = TcpListener::bind(config.control_listen)
            .await
            .with_context(|| format!("bind control listener {}", config.control_listen))?;
        let mut stdout = std::io::stdout().lock();
        announce(
            &mut stdout,
            config.log_format,
            "public",
            public.local_addr()?,
        )?;
        announce(
            &mut stdout,
            config.log_format,
            "control",
            control.local_addr()?,
        )?;
        stdout.flush()?;
        Ok(Listeners { public, control })
    }
}

/// Writes the `listening <name> <addr>` line scripts wait for. With JSON
/// logs every line a log shipper sees must be JSON, so it is an object
/// shaped like the log lines, whose `message` is that same text.
pub fn announce(
    out: &mut impl Write,
    format: LogFormat,
    name: &str,
    addr: std::net::SocketAddr,
) -> std::io::Result<()> {
    let text = format!("listening {name} {addr}");
    match format {
        LogFormat::Text => writeln!(out, "{text}"),
        LogFormat::Json => {
            let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
            let line = serde_json::json!({
                "timestamp": now.to_string(),
                "level": "INFO",
                "fields": { "message": text, "listener": name, "addr": addr.to_string() },
                "target": "signpost_dispatcher",
            });
            writeln!(out, "{line}")
        }
    }
}

/// Reports an error that stops the start (a bad config, a port in use) on
/// stderr: as it is, or with JSON logs as one JSON log line.
pub fn startup_error(format: LogFormat, message: &str) {
    match format {
        LogFormat::Text => eprintln!("{message}"),
        LogFormat::Json => {
            init_logging(format);
            tracing::error!("{message}");
        }
    }
}

pub use demo::demo;

/// Sends logs to stderr (stdout carries the `listening` lines) in `format`,
/// filtered by `RUST_LOG` (default `info`); the agent's, so both binaries
/// log alike. A second call is a no-op.
pub use signpost_agent::init_logging;

/// Runs the dispatcher with `config` (loaded from `args`, which SIGHUP
/// reloads) until SIGINT or SIGTERM.
pub async fn run(config: Config, args: Args) -> anyhow::Result<()> {
    init_logging(config.log_format);
    let signals = signal::Signals::install()?;
    let listeners = Listeners::bind(&config).await?;
    let shutdown = CancellationToken::new();
    let hangups = signals.cancel_on_shutdown(shutdown.clone(), config.shutdown_delay);
    serve(config, args, listeners, shutdown, hangups).await
}

/// Serves on already-bound `listeners` until `shutdown` is cancelled, then
/// drains for at most [`SHUTDOWN_GRACE`]. Each of `hangups` (SIGHUP)
/// reloads the configuration from `args` and the TLS certificate from its
/// files.
pub async fn serve(
    config: Config,
    args: Args,
    listeners: Listeners,
    shutdown: CancellationToken,
    hangups: Option<tokio::signal::unix::Signal>,
) -> anyhow::Result<()> {
    for warning in config.security_warnings() {
        tracing::warn!("{warning}");
    }
    let app = Arc::new(App::new(config));
    app.edge
        .open_log(&app.config())
        .context("open the access log")?;
    let tls = http::tls::Tls::from_config(&app.config()).context("TLS on the public listener")?;
    let client = polling_client(None).context("build the agent polling client")?;
    let tasks = TaskTracker::new();
    spawn_background(&tasks, &app, args, client, tls.clone(), &shutdown, hangups);
    spawn_listeners(&tasks, &app, listeners, tls, &shutdown);
    tracing::info!(
        strategy = app.strategy_name(),
        // Agents that push are not known until they report: these are
        // the --agent URLs this dispatcher polls.
        polled_agents = app.agents().len(),
        "dispatcher running"
    );

    shutdown.cancelled().await;
    tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("in-flight work did not finish within {SHUTDOWN_GRACE:?}; exiting anyway");
    }
    Ok(())
}

/// The loops that keep the pool current: snapshot maintenance, agent
/// polling (restarted on reload), health checks, and the SIGHUP reload of
/// the configuration and of `tls`'s certificate.
fn spawn_background(
    tasks: &TaskTracker,
    app: &Arc<App>,
    args: Args,
    client: reqwest::Client,
    tls: Option<http::tls::Tls>,
    shutdown: &CancellationToken,
    hangups: Option<tokio::signal::unix::Signal>,
) {
    tasks.spawn({
        let (app, shutdown) = (app.clone(), shutdown.clone());
        async move { app.maintain(shutdown).await }
    });
    tasks.spawn(shedding::run(app.clone(), shutdown.clone()));
    tasks.spawn(health::supervise(
        app.clone(),
        client.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(reload_on_hangup(
        app.clone(),
        args,
        tls,
        client,
        tasks.clone(),
        shutdown.clone(),
        hangups,
    ));
}

/// The public (redirect) and control listeners, each serving until
/// `shutdown`.
fn spawn_listeners(
    tasks: &TaskTracker,
    app: &Arc<App>,
    listeners: Listeners,
    tls: Option<http::tls::Tls>,
    shutdown: &CancellationToken,
) {
    let public = http::redirect::serve(listeners.public, app.clone(), tls, shutdown.clone());
    tasks.spawn(public);
    let control = http::control::serve(listeners.control, app.clone(), shutdown.clone());
    tasks.spawn(control);
}

/// The client agents are polled with; for an address found through a
/// name, one that connects there and keeps the name as Host.
fn polling_client(endpoint: Option<&Endpoint>) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("signpost-dispatcher/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(endpoint) = endpoint
        && let Some(host) = endpoint.url.host_str()
    {
        builder = builder.resolve(host, endpoint.addr);
    }
    builder.build()
}

/// Polls every configured agent, one task each, and every address of each
/// agent name, until `stop`.
fn spawn_pollers(
    app: &Arc<App>,
    client: &reqwest::Client,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) {
    for (slot, agent) in app.agents() {
        let source = Source::Poll(slot);
        let poller = poll::run(app.clone(), source, agent, client.clone(), stop.clone());
        tasks.spawn(poller);
    }
    let config = app.config();
    if config.agent_names.is_empty() {
        return;
    }
    let stats = app.metrics.discovery.clone();
    let discovery = Discovery::new(config.resolver, config.agent_refresh, stats);
    for agent in &config.agent_names {
        let follow = poll::follow(app.clone(), discovery.clone(), agent.clone(), stop.clone());
        tasks.spawn(stop.clone().run_until_cancelled_owned(follow));
    }
}

/// Runs the pollers and, on every SIGHUP — the one place the process
/// listens for it — reloads `tls`'s certificate and the configuration from
/// `args` through the same checks as `check-config`: a bad file is logged
/// and the running configuration stays; a good one is swapped in and the
/// pollers restarted, without dropping a connection. The certificate is
/// reloaded whatever the configuration file says.
async fn reload_on_hangup(
    app: Arc<App>,
    args: Args,
    tls: Option<http::tls::Tls>,
    client: reqwest::Client,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    hangups: Option<tokio::signal::unix::Signal>,
) {
    let mut pollers = shutdown.child_token();
    spawn_pollers(&app, &client, &tasks, &pollers);
    let Some(mut hangups) = hangups else {
        return;
    };
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = hangups.recv() => {}
        }
        if let Some(tls) = &tls {
            tls.reload();
        }
        app.edge.reopen_log();
        if !reload_config(&app, &args) {
            continue;
        }
        pollers.cancel();
        pollers = shutdown.child_token();
        spawn_pollers(&app, &client, &tasks, &pollers);
        app.metrics.reloaded();
        tracing::info!(
            strategy = app.strategy_name(),
            "SIGHUP: configuration reloaded"
        );
    }
}

/// Loads the configuration from `args` and swaps it into `app`, warning
/// about settings only a restart applies; false (logged and counted) when
/// the new configuration is refused.
fn reload_config(app: &App, args: &Args) -> bool {
    let config = match Config::load(args) {
        Ok(config) => config,
        Err(errors) => {
            app.metrics.reload_failed();
            tracing::error!("SIGHUP: new configuration refused, the running one stays:\n{errors}");
            return false;
        }
    };
    let restart_only = app.config().restart_only_changes(&config);
    if !restart_only.is_empty() {
        tracing::warn!(
            settings = %restart_only.join(", "),
            "SIGHUP: these settings change only with a restart; their running values stay"
        );
    }
    app.reload(config);
    true
}
