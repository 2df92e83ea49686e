//! [`follow`]: one task per endpoint of a peer, reconciled on every
//! refresh; a failed resolution keeps the tasks it has.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::task::{AbortHandle, JoinSet};

use super::{Discovery, Endpoint, Lookup, Peer, Stats};

/// Runs `start(endpoint)` as a task for every endpoint `peer` stands for,
/// re-resolving every refresh: a new endpoint gets its task at once, a
/// vanished one has its task aborted. A failed resolution keeps the
/// current tasks. An IP literal is resolved once. Never returns; cancel it
/// by dropping it, which aborts every task.
pub async fn follow<F, T>(discovery: Discovery, peer: Peer, mut start: F)
where
    F: FnMut(Endpoint) -> T,
    T: Future<Output = ()> + Send + 'static,
{
    let mut tasks = Tasks::new(discovery.stats.clone());
    let mut failing = false;
    loop {
        match discovery.resolve(&peer).await {
            Ok(now) => {
                if failing {
                    tracing::info!(peer = %peer.url, addresses = now.len(), "name resolves again");
                    failing = false;
                }
                tasks.reconcile(&peer, now, &mut start);
            }
            Err(err) => {
                discovery.stats.failed();
                if !failing {
                    tracing::warn!(
                        peer = %peer.url, error = %err, kept = tasks.running.len(),
                        "resolution failed; keeping the last addresses"
                    );
                    failing = true;
                }
            }
        }
        if matches!(peer.lookup, Lookup::Fixed(_)) && !failing {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(discovery.refresh).await;
    }
}

/// The tasks [`follow`] runs, one per endpoint; dropping it aborts them and
/// takes them off the [`Stats::endpoints`] gauge.
struct Tasks {
    running: BTreeMap<Endpoint, AbortHandle>,
    set: JoinSet<()>,
    stats: Arc<Stats>,
}

// === impl Tasks ===

impl Tasks {
    fn new(stats: Arc<Stats>) -> Self {
        Tasks {
            running: BTreeMap::new(),
            set: JoinSet::new(),
            stats,
        }
    }

    /// Stops the tasks of endpoints not in `now` and starts one for each
    /// endpoint of `now` that has none.
    fn reconcile<F, T>(&mut self, peer: &Peer, now: BTreeSet<Endpoint>, start: &mut F)
    where
        F: FnMut(Endpoint) -> T,
        T: Future<Output = ()> + Send + 'static,
    {
        let stats = &self.stats;
        self.running.retain(|endpoint, task| {
            let keep = now.contains(endpoint);
            if !keep {
                tracing::info!(peer = %peer.url, addr = %endpoint.addr, "address gone");
                task.abort();
                stats.endpoints.fetch_sub(1, Ordering::Relaxed);
            }
            keep
        });
        for endpoint in now {
            if !self.running.contains_key(&endpoint) {
                tracing::info!(peer = %peer.url, addr = %endpoint.addr, "address found");
                let task = self.set.spawn(start(endpoint.clone()));
                stats.endpoints.fetch_add(1, Ordering::Relaxed);
                self.running.insert(endpoint, task);
            }
        }
        while self.set.try_join_next().is_some() {}
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        let count = i64::try_from(self.running.len()).unwrap_or(i64::MAX);
        self.stats.endpoints.fetch_sub(count, Ordering::Relaxed);
    }
}
