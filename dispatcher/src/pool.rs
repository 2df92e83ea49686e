//! The pool snapshot: an immutable picture of the backends a client may be
//! sent to, rebuilt from the registry whenever something changes and
//! swapped in atomically.
//!
//! The request path loads one `Arc<Pool>` and never takes a lock: everything
//! it reads is frozen here — backends, the strategy's tables, pins and the
//! answering [`Policy`] — except what is in each backend's
//! [`NodeLoad`](crate::load::NodeLoad), shared by every snapshot of the same
//! node: the redirect counter (so counts survive rebuilds) and the load
//! projection (so a report that changes only a node's load needs no
//! rebuild to count).

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode};
use ipnet::IpNet;
use rand::Rng;
use tokio::time::Instant;

use crate::backend::{Backend, Members};
use crate::config::{Config, Sticky};
use crate::select::{Picker, Request, Ring, Strategy, ip_hash};
use crate::sticky::claimed;

/// How requests are answered, frozen with the pool so a reload swaps both
/// at once.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Status for GET and HEAD.
    pub redirect_code: StatusCode,
    /// Status for other methods.
    pub redirect_code_other: StatusCode,
    /// `Retry-After` of a 503.
    pub retry_after: HeaderValue,
    /// Client pinning.
    pub sticky: Sticky,
    /// Proxies whose forwarding headers name the client.
    pub trusted: Vec<IpNet>,
}

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub enum Choice<'p> {
    /// Its valid sticky cookie names this backend: no new cookie needed.
    Pinned(&'p Backend),
    /// Chosen afresh; with cookies on, the answer pins the client here.
    Picked(&'p Backend),
    /// No backend can take it.
    Unavailable,
}

/// The immutable snapshot the request path reads.
#[derive(Debug)]
pub struct Pool {
    /// Eligible primaries, or eligible backups while no primary is.
    active: Vec<Backend>,
    /// Precomputed tables of the strategy in force.
    picker: Picker,
    /// Nodes a sticky cookie may name (active and draining), by id.
    pinnable: HashMap<Arc<str>, Backend>,
    /// Ring of the active backends, for `--sticky ip`.
    ip_ring: Option<Ring>,
    policy: Arc<Policy>,
    /// The instant projections count their seconds from.
    epoch: Option<Instant>,
}

// === impl Pool ===

impl Pool {
    /// Freezes `members` with the tables `strategy` and `policy` need.
    pub fn new(members: Members, strategy: &Strategy, policy: Arc<Policy>) -> Self {
        let Members {
            active,
            draining,
            epoch,
            ..
        } = members;
        let picker = strategy.prepare(&active);
        let pinnable = match policy.sticky {
            Sticky::Cookie => active
                .iter()
                .chain(&draining)
                .map(|b| (b.id.clone(), b.clone()))
                .collect(),
            Sticky::None | Sticky::Ip => HashMap::new(),
        };
        let ip_ring = (policy.sticky == Sticky::Ip)
            .then(|| Ring::new(active.iter().map(|b| (&*b.id, b.weight))));
        Pool {
            active,
            picker,
            pinnable,
            ip_ring,
            policy,
            epoch,
        }
    }

    /// A pool with no backends: every request gets a 503.
    pub fn empty(strategy: &Strategy, policy: Arc<Policy>) -> Self {
        Pool::new(Members::default(), strategy, policy)
    }

    /// How requests are answered.
    #[inline]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Decides where `request` goes: to the node its valid sticky cookie
    /// names if that node is active or draining, else to the node its
    /// address hashes to with `--sticky ip`, else where the strategy says
    /// — never to a node whose last report expired after this snapshot was
    /// built (see [`NodeLoad::is_stale`](crate::load::NodeLoad::is_stale)).
    #[inline]
    pub fn choose<R: Rng + ?Sized>(
        &self,
        request: &Request<'_>,
        now: Instant,
        rng: &mut R,
    ) -> Choice<'_> {
        let now = self.seconds(now);
        let fresh = |b: &&Backend| !b.load.is_stale(now);
        if let Some(pinned) = self.pinned(request.headers).filter(fresh) {
            return Choice::Pinned(pinned);
        }
        let picked = match &self.ip_ring {
            Some(ring) => ring
                .lookup(ip_hash(request.client))
                .and_then(|i| self.active.get(i)),
            None => self.picker.pick(&self.active, request, now, rng),
        };
        match picked {
            Some(backend) if fresh(&backend) => Choice::Picked(backend),
            Some(_) => self
                .first_fresh(now, rng)
                .map_or(Choice::Unavailable, Choice::Picked),
            None => Choice::Unavailable,
        }
    }

    /// A member whose last report has not expired at `now`, from a random
    /// start: the strategy named one that expired after this snapshot was
    /// built and before the maintenance loop replaced it. Rare, so O(N).
    #[cold]
    fn first_fresh<R: Rng + ?Sized>(&self, now: f64, rng: &mut R) -> Option<&Backend> {
        let n = self.active.len();
        let start = (rng.next_u64() % n.max(1) as u64) as usize;
        (0..n)
            .map(|k| &self.active[(start + k) % n])
            .find(|b| !b.load.is_stale(now))
    }

    /// Seconds from the registry's epoch to `now`, as projections count.
    #[inline]
    fn seconds(&self, now: Instant) -> f64 {
        self.epoch.map_or(0.0, |epoch| {
            now.saturating_duration_since(epoch).as_secs_f64()
        })
    }

    /// The backend a valid sticky cookie in `headers` names, if it may
    /// still take its pinned clients.
    fn pinned(&self, headers: &HeaderMap) -> Option<&Backend> {
        if self.pinnable.is_empty() {
            return None;
        }
        let (id, presented) = claimed(headers)?;
        let backend = self.pinnable.get(id)?;
        backend.pin.as_ref()?.matches(presented).then_some(backend)
    }

    /// The backends clients may be sent to.
    pub fn backends(&self) -> &[Backend] {
        &self.active
    }

    /// Chooses a backend for `request` at `now` by the strategy alone, or
    /// `None` when the pool is empty.
    #[inline]
    pub fn pick<R: Rng + ?Sized>(
        &self,
        request: &Request<'_>,
        now: Instant,
        rng: &mut R,
    ) -> Option<&Backend> {
        self.picker
            .pick(&self.active, request, self.seconds(now), rng)
    }
}

// === impl Policy ===

impl Policy {
    /// The policy `config` asks for.
    pub fn new(config: &Config) -> Self {
        let status = |code| StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
        Policy {
            redirect_code: status(config.redirect_code),
            redirect_code_other: status(config.redirect_code_other),
            retry_after: HeaderValue::from(config.stale_after.as_secs().max(1)),
            sticky: config.sticky,
            trusted: config.trust_forwarded.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::config::{Args, HashKey, StrategyKind};
    use crate::load::Projection;
    use crate::sticky::CookieSigner;

    fn backend(id: &str, signer: &CookieSigner) -> Backend {
        Backend {
            pin: signer.pin(id).map(Arc::new),
            ..Backend::new(
                id,
                &format!("http://{id}.test"),
                1.0,
                Projection::counting(0.0, 0, 0.01),
            )
        }
    }

    fn cookie_pool(signer: &CookieSigner) -> Pool {
        let mut config = Config::load(&Args::default()).unwrap();
        config.sticky = Sticky::Cookie;
        let members = Members {
            active: vec![backend("a", signer), backend("b", signer)],
            draining: vec![backend("leaving", signer)],
            ..Members::default()
        };
        let strategy = Strategy::new(StrategyKind::RoundRobin, &HashKey::ClientIp);
        Pool::new(members, &strategy, Arc::new(Policy::new(&config)))
    }

    fn choose_with(pool: &Pool, cookie: Option<&str>) -> (String, bool) {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = cookie {
            headers.insert(http::header::COOKIE, cookie.parse().unwrap());
        }
        let request = Request {
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            headers: &headers,
        };
        match pool.choose(&request, Instant::now(), &mut rand::rng()) {
            Choice::Pinned(b) => (b.id.to_string(), true),
            Choice::Picked(b) => (b.id.to_string(), false),
            Choice::Unavailable => panic!("pool is not empty"),
        }
    }

    fn cookie_of(signer: &CookieSigner, id: &str) -> String {
        let pin = signer.pin(id).unwrap();
        let header = pin.set_cookie.to_str().unwrap().to_owned();
        header[..header.find(';').unwrap()].to_owned()
    }

    #[test]
    fn valid_cookies_pin_to_active_and_draining_nodes_only() {
        let signer = CookieSigner::new(b"0123456789abcdef", false, None);
        let pool = cookie_pool(&signer);
        // Pinned to b whatever round robin would say.
        for _ in 0..5 {
            assert_eq!(
                choose_with(&pool, Some(&cookie_of(&signer, "b"))),
                ("b".into(), true)
            );
        }
        // A draining node keeps its pinned clients...
        let leaving = cookie_of(&signer, "leaving");
        assert_eq!(choose_with(&pool, Some(&leaving)), ("leaving".into(), true));
        // ...but gets no new ones.
        for _ in 0..10 {
            assert_ne!(choose_with(&pool, None).0, "leaving");
        }
        // Unknown nodes and forgeries are picked afresh.
        let gone = cookie_of(&signer, "gone");
        let (_, pinned) = choose_with(&pool, Some(&gone));
        assert!(!pinned);
        let other = CookieSigner::new(b"another-secret-0000", false, None);
        let (_, pinned) = choose_with(&pool, Some(&cookie_of(&other, "b")));
        assert!(!pinned, "a cookie signed with another secret is ignored");
    }

    #[test]
    fn a_node_whose_report_expired_since_the_snapshot_is_never_chosen() {
        // The maintenance loop rebuilds at the expiry, but its timer can
        // fire late under CPU starvation: the request path checks too.
        let signer = CookieSigner::new(b"0123456789abcdef", false, None);
        let mut config = Config::load(&Args::default()).unwrap();
        config.sticky = Sticky::Cookie;
        let now = Instant::now();
        let members = Members {
            active: vec![backend("a", &signer), backend("b", &signer)],
            epoch: Some(now - std::time::Duration::from_secs(10)),
            ..Members::default()
        };
        members.active[0].load.set_stale_at(9.9);
        members.active[1].load.set_stale_at(30.0);
        let strategy = Strategy::new(StrategyKind::RoundRobin, &HashKey::ClientIp);
        let pool = Pool::new(members, &strategy, Arc::new(Policy::new(&config)));
        // Round robin names "a" every other turn, and a cookie pins to it.
        for _ in 0..10 {
            assert_eq!(choose_with(&pool, None), ("b".into(), false));
        }
        let pinned_to_a = cookie_of(&signer, "a");
        assert_eq!(choose_with(&pool, Some(&pinned_to_a)), ("b".into(), false));
        // Once every report has expired, nobody is sent anywhere.
        pool.backends()[1].load.set_stale_at(9.95);
        let request = Request {
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
            headers: &HeaderMap::new(),
        };
        assert!(matches!(
            pool.choose(&request, Instant::now(), &mut rand::rng()),
            Choice::Unavailable
        ));
    }
}
