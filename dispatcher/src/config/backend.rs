//! Rules of the `[health]` table and of the backends: `[[backend]]` tables,
//! then one backend per `--agent` URL (or the file's `agents`).
//!
//! A `[backend.health]` table is laid over the global health values key by
//! key, so a rule between an override and an inherited value blames the
//! override.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use signpost_agent::discovery::{Lookup, Peer};
use signpost_shared::{MAX_WEIGHT, ReportError, validate_node_id, validate_url};
use toml::Spanned;

use super::file::{FileBackend, FileHealth};
use super::resolve::{At, Resolver, Val, fmt};
use super::*;

/// Allowed health check periods.
const HEALTH_INTERVALS: RangeInclusive<Duration> = Duration::from_secs(1)..=Duration::from_secs(30);

/// A health table, value by value.
#[derive(Debug, Clone)]
pub(super) struct HealthVals {
    path: Val<Option<String>>,
    interval: Val<Duration>,
    timeout: Val<Duration>,
    rise: Val<u32>,
    fall: Val<u32>,
    max_latency: Val<Duration>,
    status: Val<StatusRange>,
}

/// Backend ids and agent URLs met so far, to find duplicates.
#[derive(Default)]
struct Seen {
    ids: Vec<Val<String>>,
    agents: Vec<Val<String>>,
}

// === impl HealthVals ===

impl HealthVals {
    /// The built-in defaults.
    fn defaults() -> Self {
        Self {
            path: Val::new("health.path", None, At::Default),
            interval: Val::new("health.interval", DEFAULT_HEALTH_INTERVAL, At::Default),
            timeout: Val::new("health.timeout", DEFAULT_HEALTH_TIMEOUT, At::Default),
            rise: Val::new("health.rise", DEFAULT_HEALTH_RISE, At::Default),
            fall: Val::new("health.fall", DEFAULT_HEALTH_FALL, At::Default),
            max_latency: Val::new(
                "health.max_latency",
                DEFAULT_HEALTH_MAX_LATENCY,
                At::Default,
            ),
            status: Val::new("health.status", DEFAULT_HEALTH_STATUS, At::Default),
        }
    }

    /// The values alone.
    pub(super) fn config(&self) -> HealthConfig {
        HealthConfig {
            path: self.path.value.clone(),
            interval: self.interval.value,
            timeout: self.timeout.value,
            rise: self.rise.value,
            fall: self.fall.value,
            max_latency: self.max_latency.value,
            status: self.status.value,
        }
    }
}

// === impl Resolver ===

impl Resolver<'_> {
    /// The `--health-*` flags over the `[health]` table over the defaults.
    pub(super) fn global_health(&self) -> HealthVals {
        let (args, file) = (self.args, self.file.health.as_ref());
        self.health("health", args, file, HealthVals::defaults())
    }

    /// Lays the `--health-*` flags of `args` and then the table `file` (keys
    /// `prefix.*`) over `base`, and checks the result.
    fn health(
        &self,
        prefix: &str,
        args: &Args,
        file: Option<&FileHealth>,
        base: HealthVals,
    ) -> HealthVals {
        let empty = FileHealth::default();
        let f = file.unwrap_or(&empty);
        let key = |k: &str| format!("{prefix}.{k}");
        let health = HealthVals {
            path: self.layer(
                &key("path"),
                args.health_path.clone().map(Some),
                &f.path,
                base.path,
            ),
            interval: self.layer(
                &key("interval"),
                args.health_interval,
                &f.interval,
                base.interval,
            ),
            timeout: self.layer(
                &key("timeout"),
                args.health_timeout,
                &f.timeout,
                base.timeout,
            ),
            rise: self.layer(&key("rise"), args.health_rise, &f.rise, base.rise),
            fall: self.layer(&key("fall"), args.health_fall, &f.fall, base.fall),
            max_latency: self.layer(
                &key("max_latency"),
                args.health_max_latency,
                &f.max_latency,
                base.max_latency,
            ),
            status: self.layer(&key("status"), args.health_status, &f.status, base.status),
        };
        self.check_health(&health);
        health
    }

    fn check_health(&self, h: &HealthVals) {
        if let Some(path) = &h.path.value {
            let ok =
                path.starts_with('/') && !path.chars().any(|c| c.is_whitespace() || c.is_control());
            self.require(&h.path, ok, || {
                format!("must start with '/' and hold no spaces, got {path:?}")
            });
        }
        let (interval, timeout) = (h.interval.value, h.timeout.value);
        let in_range = HEALTH_INTERVALS.contains(&interval);
        self.require(&h.interval, in_range, || {
            format!("must be between 1s and 30s, got {}", fmt(interval))
        });
        if !self.nonzero(h.timeout.clone()).value.is_zero() {
            self.relate((&h.timeout, &h.interval), timeout < interval, || {
                let (t, i) = (&h.timeout.key, &h.interval.key);
                format!(
                    "{t} ({}) must be shorter than {i} ({})",
                    fmt(timeout),
                    fmt(interval)
                )
            });
        }
        for count in [&h.rise, &h.fall] {
            self.require(count, count.value >= 1, || "must be at least 1".to_owned());
        }
        self.nonzero(h.max_latency.clone());
    }

    /// The file's backends, then one per agent URL whose host is an IP;
    /// and the agent URLs whose host is a name, which discovery follows.
    pub(super) fn backends(&self, health: &HealthVals) -> (Vec<BackendConfig>, Vec<String>) {
        let mut seen = Seen::default();
        let tables = self.file.backends.iter().enumerate();
        let mut backends: Vec<_> = tables
            .map(|(i, b)| self.backend(i, b, health, &mut seen))
            .collect();
        let mut names = Vec::new();
        for agent in self.agent_list() {
            self.check_with(&agent, validate_url);
            if let Ok(peer) = Peer::parse(&agent.value)
                && !matches!(peer.lookup(), Lookup::Fixed(_))
            {
                names.push(agent.value.clone());
                seen.agents.push(agent);
                continue;
            }
            backends.push(BackendConfig {
                id: None,
                url: None,
                agent: Some(agent.value.clone()),
                weight: 1.0,
                backup: false,
                health: health.config(),
            });
            seen.agents.push(agent);
        }
        self.unique(&seen.ids, "backend id");
        self.unique(&seen.agents, "agent");
        (backends, names)
    }

    fn backend(
        &self,
        i: usize,
        spanned: &Spanned<FileBackend>,
        global: &HealthVals,
        seen: &mut Seen,
    ) -> BackendConfig {
        let b = spanned.get_ref();
        let key = |k: &str| format!("backend[{i}].{k}");
        let fields = [("id", &b.id), ("url", &b.url), ("agent", &b.agent)];
        let [id, url, agent] = fields.map(|(k, field)| self.file_only(key(k), field));
        let table = Val::new(format!("backend[{i}]"), (), self.at(spanned));
        self.check_sources(&table, [&id, &url, &agent]);
        let weight = self.pick(&key("weight"), None, &b.weight, 1.0);
        let ok = weight.value > 0.0 && weight.value <= MAX_WEIGHT;
        self.require(&weight, ok, || {
            format!(
                "must be greater than 0 and at most {MAX_WEIGHT}, got {}",
                weight.value
            )
        });
        let health = match &b.health {
            Some(h) => self.health(&key("health"), &Args::default(), Some(h), global.clone()),
            None => global.clone(),
        };
        let backend = BackendConfig {
            id: id.as_ref().map(|v| v.value.clone()),
            url: url.map(|v| v.value),
            agent: agent.as_ref().map(|v| v.value.clone()),
            weight: weight.value,
            backup: b.backup.as_ref().is_some_and(|b| *b.get_ref()),
            health: health.config(),
        };
        seen.ids.extend(id);
        seen.agents.extend(agent);
        backend
    }

    /// A string only the file sets, such as a backend's `url`.
    fn file_only(&self, key: String, file: &Option<Spanned<String>>) -> Option<Val<String>> {
        file.as_ref()
            .map(|s| Val::new(key, s.get_ref().clone(), self.at(s)))
    }

    /// Checks a backend's id and URLs, and that it has a way to get reports.
    fn check_sources(&self, table: &Val<()>, [id, url, agent]: [&Option<Val<String>>; 3]) {
        if let Some(id) = id {
            self.check_with(id, validate_node_id);
        }
        for u in [url, agent].into_iter().flatten() {
            self.check_with(u, validate_url);
        }
        if url.is_none() && agent.is_none() {
            self.fail(table, "needs a url or an agent");
        } else if agent.is_none() && id.is_none() {
            self.fail(
                table,
                "needs an id when it has no agent: its reports are pushed by the node with that id",
            );
        }
    }

    /// Runs a check of the wire crate on `val`.
    fn check_with(&self, val: &Val<String>, check: fn(&str) -> Result<(), ReportError>) {
        let reason = match check(&val.value) {
            Ok(()) => return,
            Err(ReportError::NodeId(reason) | ReportError::Url { reason, .. }) => reason.to_owned(),
            Err(other) => other.to_string(),
        };
        self.fail(val, format!("{:?} {reason}", val.value));
    }

    /// Reports every value equal to an earlier one, ignoring a trailing `/`.
    fn unique(&self, vals: &[Val<String>], what: &str) {
        let mut first: HashMap<&str, &Val<String>> = HashMap::new();
        for val in vals {
            let norm = val.value.trim_end_matches('/');
            match first.get(norm) {
                Some(earlier) => {
                    let reason = format!(
                        "duplicate {what} {:?}, first given as {}",
                        val.value, earlier.key
                    );
                    self.fail(val, reason);
                }
                None => {
                    first.insert(norm, val);
                }
            }
        }
    }

    /// The `--agent` URLs, or else the file's `agents`.
    fn agent_list(&self) -> Vec<Val<String>> {
        if !self.args.agents.is_empty() {
            let flags = self.args.agents.iter();
            return flags
                .map(|a| Val::new("agents", a.clone(), At::Arg))
                .collect();
        }
        let listed = self.file.agents.iter().flatten().enumerate();
        listed
            .map(|(i, a)| Val::new(format!("agents[{i}]"), a.get_ref().clone(), self.at(a)))
            .collect()
    }
}
