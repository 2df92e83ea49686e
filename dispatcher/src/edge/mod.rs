//! The public listener's guards, between a client and the pool: the
//! per-client rate limit ([`limit`]), overload shedding ([`shed`]) and the
//! access log ([`log`]).
//!
//! Both sit on the request path, so both keep its promises: the limit is a
//! compare-and-swap in a table allocated at start, the log a `try_send` into
//! a bounded channel; neither locks, waits or does I/O. The limiter is
//! swapped whole on a reload that changes its settings (clients then start
//! with a full burst); the log is opened once at start and reopened by its
//! writer on SIGHUP.

pub mod limit;
pub mod log;
pub mod shed;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::time::Instant;

use crate::config::Config;
use crate::metrics::EdgeCounters;
use limit::{RateLimiter, Verdict};
use log::AccessLog;
use shed::Shedder;

/// The request id header, passed through or generated, and returned on
/// the answer so the client (and what it reports) can name the request.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id passed through; a longer one is replaced.
const MAX_REQUEST_ID: usize = 200;

/// Limited clients are logged at most this often: the counters say how
/// many, the log line says that it is happening and to whom.
const WARN_EVERY: Duration = Duration::from_secs(1);

/// A client over the limit: the status and `Retry-After` to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// `--rate-limit-status`.
    pub status: StatusCode,
    /// Whole seconds, rounded up.
    pub retry_after: u64,
}

/// The guards of the public listener.
#[derive(Debug)]
pub struct Edge {
    limiter: ArcSwapOption<RateLimiter>,
    log: OnceLock<AccessLog>,
    shedder: Shedder,
    /// Answers seen by the sampler.
    answers: AtomicU64,
    /// When a limited client was last logged, in microseconds since
    /// `epoch`.
    last_warned: AtomicU64,
    epoch: Instant,
    seed: u64,
    counters: Arc<EdgeCounters>,
}

// === impl Edge ===

impl Edge {
    /// The guards `config` asks for, counting into `counters`; the access
    /// log is opened separately, by [`Edge::open_log`].
    pub fn new(config: &Config, counters: Arc<EdgeCounters>) -> Self {
        let edge = Edge {
            limiter: ArcSwapOption::empty(),
            log: OnceLock::new(),
            shedder: Shedder::default(),
            answers: AtomicU64::new(0),
            last_warned: AtomicU64::new(0),
            epoch: Instant::now(),
            seed: rand::random(),
            counters,
        };
        edge.reconfigure(config);
        edge
    }

    /// Swaps in a new limiter when `config`'s rate limit differs from the
    /// one in force (or removes it).
    pub fn reconfigure(&self, config: &Config) {
        let current = self.limiter.load();
        if current.as_ref().map(|l| l.config()) == config.rate_limit.as_ref() {
            return;
        }
        let limiter = config
            .rate_limit
            .as_ref()
            .map(|limit| Arc::new(RateLimiter::new(limit, Instant::now(), self.seed)));
        if let Some(limiter) = &limiter {
            tracing::info!(
                rate = %limiter.config().rate,
                burst = limiter.config().burst,
                dry_run = limiter.config().dry_run,
                table_bytes = limiter.table_bytes(),
                "rate limit on"
            );
        }
        self.limiter.store(limiter);
    }

    /// Opens the access log `config` asks for, if any, and starts its
    /// writer; an error when the file cannot be opened.
    pub fn open_log(&self, config: &Config) -> std::io::Result<()> {
        if let Some(log) = &config.access_log {
            let _ = self.log.set(AccessLog::open(log, self.counters.clone())?);
        }
        Ok(())
    }

    /// Asks the access log, if on, to reopen its file (SIGHUP).
    pub fn reopen_log(&self) {
        if let Some(log) = self.log.get() {
            log.reopen();
        }
    }

    /// Counts a request of `client` at `now` against its rate limit:
    /// `Some` when it must be refused. Over the limit in a dry run, it is
    /// only counted (and logged now and then).
    #[inline]
    pub fn limit(&self, client: IpAddr, now: Instant) -> Option<Limited> {
        let guard = self.limiter.load();
        let limiter = guard.as_ref()?;
        let wait = match limiter.check(client, now) {
            Verdict::Allowed { evicted } => {
                if evicted {
                    self.counters.evicted();
                }
                return None;
            }
            Verdict::Limited(wait) => wait,
        };
        let config = limiter.config();
        self.counters.limited(config.dry_run);
        self.warn_now_and_then(client, config.dry_run, now);
        (!config.dry_run).then(|| Limited {
            status: StatusCode::from_u16(config.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
            retry_after: limit::retry_after_secs(wait),
        })
    }

    /// Whether to shed a client the pool would send to a backend (`pinned`
    /// when its sticky cookie chose it); counted when so.
    #[inline]
    pub fn shed(&self, pinned: bool) -> bool {
        let shed = self.shedder.shed(pinned);
        if shed {
            self.counters.shed();
        }
        shed
    }

    /// The shedding controller's step: see [`Shedder::update`].
    pub fn update_shedding(&self, on: bool, reading: Option<shed::Reading>) {
        let share = self.shedder.update(on, reading);
        self.counters.set_shed_share(share);
    }

    /// The access log, when on and when this answer is one of the
    /// sampled.
    #[inline]
    pub fn sampled_log(&self) -> Option<&AccessLog> {
        let log = self.log.get()?;
        let sample = u64::from(log.config().sample);
        let sampled = sample == 1
            || self
                .answers
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(sample);
        sampled.then_some(log)
    }

    /// Whether the access log is on (every answer then carries a request
    /// id, sampled or not).
    #[inline]
    pub fn logging(&self) -> bool {
        self.log.get().is_some()
    }

    /// Hands `entry` to `log`'s writer, counting it if dropped.
    pub fn record(&self, log: &AccessLog, entry: log::Entry) {
        if !log.send(entry) {
            self.counters.log_dropped();
        }
    }

    fn warn_now_and_then(&self, client: IpAddr, dry_run: bool, now: Instant) {
        let now = now.saturating_duration_since(self.epoch).as_micros() as u64;
        let last = self.last_warned.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_micros() as u64;
        let won = || {
            let update = Ordering::Relaxed;
            (self
                .last_warned
                .compare_exchange(last, now.max(1), update, update))
            .is_ok()
        };
        if due && won() {
            tracing::warn!(
                %client,
                dry_run,
                "client over the rate limit (logged at most once a second; \
                 signpost_limited_total counts them all)"
            );
        }
    }
}

/// The request's id: its `X-Request-Id` when it has a usable one, else a
/// new random one (32 hex digits).
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = headers.get(X_REQUEST_ID)
        && (1..=MAX_REQUEST_ID).contains(&id.len())
    {
        return id.clone();
    }
    let mut hex = [0u8; 32];
    let id: u128 = rand::random();
    for (i, digit) in hex.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(id >> (124 - 4 * i) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&hex).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_id_is_passed_through_or_made() {
        let mut headers = HeaderMap::new();
        let made = request_id(&headers);
        assert_eq!(made.len(), 32);
        assert!(made.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(request_id(&headers), made);
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("req-7"));
        assert_eq!(request_id(&headers), "req-7");
        let long = "x".repeat(MAX_REQUEST_ID + 1);
        headers.insert(X_REQUEST_ID, HeaderValue::from_str(&long).unwrap());
        assert_eq!(request_id(&headers).len(), 32);
    }
}
