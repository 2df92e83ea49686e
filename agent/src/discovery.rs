//! DNS discovery: a peer URL whose host is a name stands for every address
//! the name resolves to, re-resolved every refresh.
//!
//! The agent uses it for `--dispatcher` (push to every dispatcher replica
//! behind a headless Service or a round-robin name), the dispatcher for
//! `--agent` (poll every agent behind one name). Three kinds of host:
//!
//! - an IP literal is one fixed address and is never looked up;
//! - a name whose first label starts with `_` (`_signpost._tcp.disp.ns.svc`)
//!   is an SRV name: each SRV record's target is resolved, and its port
//!   replaces the URL's;
//! - any other name is looked up for A and AAAA records.
//!
//! Each address becomes an [`Endpoint`] that keeps the *name* as the URL's
//! host (so the Host header and the TLS server name stay what the operator
//! wrote) while connections go to the address ([`Endpoint::addr`]).
//!
//! [`follow()`] runs one task per endpoint and reconciles the set on every
//! refresh: new addresses get a task at once, vanished ones have theirs
//! stopped. A failed or empty answer keeps the last good set (it is logged
//! and counted in [`Stats`]): a DNS hiccup must never empty the pool.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use reqwest::Url;

/// Default `--dispatcher-refresh` (and the dispatcher's `--agent-refresh`):
/// Prometheus' DNS service discovery re-resolves as often.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);

/// Why a name gave no usable addresses.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The URL cannot name a peer.
    #[error("{url:?} has no host to resolve")]
    NoHost {
        /// The URL as given.
        url: String,
    },
    /// The resolver cannot be set up (unreadable `/etc/resolv.conf`).
    #[error("cannot set up the DNS resolver: {0}")]
    Setup(String),
    /// The lookup failed (timeout, SERVFAIL, NXDOMAIN...).
    #[error("resolve {name}: {reason}")]
    Lookup {
        /// The name looked up.
        name: String,
        /// The resolver's reason.
        reason: String,
    },
    /// The answer held no address.
    #[error("{name} resolves to no address")]
    Empty {
        /// The name looked up.
        name: String,
    },
}

/// One peer behind a name: the URL to speak to (the name as host) and the
/// address to connect to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// The address connections go to.
    pub addr: SocketAddr,
    /// The peer's base URL: the configured one, with an SRV target's name
    /// and port in place of the SRV name.
    pub url: Url,
}

/// What a peer URL asks of DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// An IP literal: one address, never looked up.
    Fixed(SocketAddr),
    /// A host name: its A and AAAA records, at this port.
    Host {
        /// The name.
        name: String,
        /// The URL's port, or its scheme's default.
        port: u16,
    },
    /// An SRV name (`_service._proto.domain`): targets and ports from DNS.
    Srv(String),
}

/// A resolver and how often to ask it: what [`follow()`] needs.
#[derive(Clone)]
pub struct Discovery {
    resolver: Result<TokioResolver, Arc<str>>,
    refresh: Duration,
    stats: Arc<Stats>,
}

/// Counters for `/metrics`: shared by every name one process follows.
#[derive(Debug, Default)]
pub struct Stats {
    failures: AtomicU64,
    endpoints: AtomicI64,
}

/// A peer URL parsed for discovery.
#[derive(Debug, Clone)]
pub struct Peer {
    url: Url,
    lookup: Lookup,
}

// === impl Peer ===

impl Peer {
    /// Parses a base URL such as `http://disp.ns.svc:9100` and tells how to
    /// resolve its host.
    pub fn parse(url: &str) -> Result<Self, DiscoveryError> {
        let no_host = || DiscoveryError::NoHost { url: url.into() };
        let parsed = Url::parse(url).map_err(|_| no_host())?;
        let port = parsed.port_or_known_default().ok_or_else(no_host)?;
        let lookup = match parsed.host().ok_or_else(no_host)? {
            url::Host::Ipv4(ip) => Lookup::Fixed(SocketAddr::new(IpAddr::V4(ip), port)),
            url::Host::Ipv6(ip) => Lookup::Fixed(SocketAddr::new(IpAddr::V6(ip), port)),
            url::Host::Domain(name) if name.starts_with('_') => Lookup::Srv(name.to_owned()),
            url::Host::Domain(name) => Lookup::Host {
                name: name.to_owned(),
                port,
            },
        };
        Ok(Peer {
            url: parsed,
            lookup,
        })
    }

    /// How this peer's host is resolved.
    pub fn lookup(&self) -> &Lookup {
        &self.lookup
    }

    /// The URL as configured.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The endpoint for `host` at `addr`: this URL with `host` and the
    /// address's port.
    fn endpoint(&self, host: &str, addr: SocketAddr) -> Endpoint {
        let mut url = self.url.clone();
        // Both succeed on an http(s) URL that already has a host.
        let _ = url.set_host(Some(host));
        let _ = url.set_port(Some(addr.port()));
        Endpoint { addr, url }
    }
}

// === impl Discovery ===

impl Discovery {
    /// Asks `server` (`--resolver`) if given, with no search domains and no
    /// hosts file; otherwise the system's resolver configuration. Failures
    /// and endpoints are counted in `stats`. A resolver that cannot be set
    /// up (no `/etc/resolv.conf` in a bare container) fails each lookup,
    /// logged and counted, rather than the start: IP literals need none.
    pub fn new(server: Option<SocketAddr>, refresh: Duration, stats: Arc<Stats>) -> Self {
        let resolver = resolver(server, refresh).map_err(|err| {
            tracing::warn!(error = %err, "no DNS resolver: only IP addresses will be reached");
            Arc::from(err.to_string())
        });
        Discovery {
            resolver,
            refresh,
            stats,
        }
    }

    /// Every endpoint `peer` stands for now; never an empty set.
    pub async fn resolve(&self, peer: &Peer) -> Result<BTreeSet<Endpoint>, DiscoveryError> {
        let endpoints: BTreeSet<Endpoint> = match &peer.lookup {
            Lookup::Fixed(addr) => [Endpoint {
                addr: *addr,
                url: peer.url.clone(),
            }]
            .into(),
            Lookup::Host { name, port } => self
                .addresses(name)
                .await?
                .map(|ip| peer.endpoint(name, SocketAddr::new(ip, *port)))
                .collect(),
            Lookup::Srv(name) => self.srv(peer, name).await?,
        };
        if endpoints.is_empty() {
            let name = peer.url.host_str().unwrap_or_default().to_owned();
            return Err(DiscoveryError::Empty { name });
        }
        Ok(endpoints)
    }

    fn resolver(&self) -> Result<&TokioResolver, DiscoveryError> {
        (self.resolver.as_ref()).map_err(|err| DiscoveryError::Setup(err.to_string()))
    }

    /// The A and AAAA records of `name`.
    async fn addresses(&self, name: &str) -> Result<impl Iterator<Item = IpAddr>, DiscoveryError> {
        let found = self
            .resolver()?
            .lookup_ip(name)
            .await
            .map_err(|err| lookup_error(name, err))?;
        Ok(found.into_iter())
    }

    /// The endpoints of SRV `name`: each target's addresses at its port. A
    /// target that does not resolve is skipped (and counted); the others
    /// still stand.
    async fn srv(&self, peer: &Peer, name: &str) -> Result<BTreeSet<Endpoint>, DiscoveryError> {
        let found = self
            .resolver()?
            .srv_lookup(name)
            .await
            .map_err(|err| lookup_error(name, err))?;
        let mut endpoints = BTreeSet::new();
        for record in found.answers() {
            let RData::SRV(srv) = &record.data else {
                continue;
            };
            let target = srv.target.to_utf8();
            let target = target.trim_end_matches('.');
            match self.addresses(target).await {
                Ok(ips) => endpoints
                    .extend(ips.map(|ip| peer.endpoint(target, SocketAddr::new(ip, srv.port)))),
                Err(err) => {
                    self.stats.failed();
                    tracing::warn!(srv = name, error = %err, "SRV target does not resolve");
                }
            }
        }
        Ok(endpoints)
    }
}

/// The resolver [`Discovery::new`] describes.
fn resolver(server: Option<SocketAddr>, refresh: Duration) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match server {
        Some(server) => {
            let mut ns = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut ns.connections {
                connection.port = server.port();
            }
            let config = ResolverConfig::from_parts(None, vec![], vec![ns]);
            TokioResolver::builder_with_config(config, provider)
        }
        None => TokioResolver::builder(provider).map_err(|err| err.to_string())?,
    };
    let options = builder.options_mut();
    if server.is_some() {
        options.use_hosts_file = ResolveHosts::Never;
    }
    // A lookup must not outlast a refresh (the default is 5 s a try), nor
    // a record outlive one in the cache, whatever its TTL.
    options.timeout = options.timeout.min(refresh);
    options.positive_max_ttl = Some(refresh);
    options.negative_max_ttl = Some(refresh);
    builder.build().map_err(|err| err.to_string())
}

// === impl Stats ===

impl Stats {
    /// Resolutions that failed or came back empty since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Endpoints currently being served a task, over every name.
    pub fn endpoints(&self) -> i64 {
        self.endpoints.load(Ordering::Relaxed)
    }

    fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// [`Stats`] as two metrics: a gauge of the endpoints served and a counter
/// of failed resolutions, under the names and help texts given.
#[derive(Debug)]
pub struct StatsCollector {
    /// The counters.
    pub stats: Arc<Stats>,
    /// Name and help of the endpoint gauge.
    pub addresses: (&'static str, &'static str),
    /// Name (without `_total`) and help of the failure counter.
    pub failures: (&'static str, &'static str),
}

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let (name, help) = self.addresses;
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(self.stats.endpoints()).encode(metric)?;
        let (name, help) = self.failures;
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        ConstCounter::new(self.stats.failures()).encode(metric)
    }
}

fn lookup_error(name: &str, err: impl std::fmt::Display) -> DiscoveryError {
    DiscoveryError::Lookup {
        name: name.to_owned(),
        reason: err.to_string(),
    }
}

mod follow;
#[cfg(test)]
mod tests;

pub use follow::follow;
