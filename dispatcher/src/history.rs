//! The last few minutes of each backend, for the dashboard's sparklines,
//! its redirects/s and its share of redirects over the last minute.
//!
//! A sampler task ([`sample`]) reads the dashboard view every
//! [`SAMPLE_EVERY`] and appends each node's projected load and redirect
//! count to a ring of [`SAMPLES`] entries; nodes the registry forgot are
//! dropped at the next sample. Memory is bounded: 12 bytes per sample, so
//! 36 samples of a 10 000-node fleet take about 4.3 MB. The request path
//! never sees any of it; [`History::record`] and the readers take `now` as
//! an argument.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use signpost_shared::BackendView;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::app::App;

/// How often the history is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// How many samples are kept: three minutes.
pub const SAMPLES: usize = 36;

/// The window of the share of redirects, in samples: one minute.
const SHARE_WINDOW: usize = 12;

/// A redirect rate over a window shorter than this is too noisy to show.
const MIN_RATE_WINDOW: Duration = Duration::from_secs(2);

/// The sampled past of every known node and of the whole dispatcher.
#[derive(Debug)]
pub struct History(Mutex<Inner>);

#[derive(Debug)]
struct Inner {
    /// When each sample was taken, oldest first, with the dispatcher's
    /// redirect count then. The first entry is the history's creation.
    ticks: VecDeque<(Instant, u64)>,
    nodes: HashMap<String, Ring>,
}

/// One node's samples, aligned with the newest entries of `ticks`: a node
/// first seen later simply has fewer.
#[derive(Debug, Default)]
struct Ring {
    /// Projected load at each sample.
    load: VecDeque<f32>,
    /// Redirects sent to the node since it became known, at each sample.
    sent: VecDeque<u64>,
}

/// What the dashboard shows of one node's past.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodePast {
    /// Projected load at each sample, oldest first.
    pub load: Vec<f32>,
    /// Redirects per second between samples, oldest first.
    pub rate: Vec<f32>,
    /// Redirects per second since the newest sample at least a couple of
    /// seconds old.
    pub rate_now: f64,
    /// This node's share of all redirects over about the last minute;
    /// `None` while there were none.
    pub share: Option<f64>,
}

// === impl History ===

impl History {
    /// An empty history starting at `now`, when the dispatcher had sent
    /// `redirects` redirects.
    pub fn new(now: Instant, redirects: u64) -> Self {
        History(Mutex::new(Inner {
            ticks: VecDeque::from([(now, redirects)]),
            nodes: HashMap::new(),
        }))
    }

    /// Appends one sample taken at `now`: every node in `backends`, and the
    /// dispatcher's `redirects` so far. Nodes not in `backends` are gone.
    pub fn record(&self, now: Instant, backends: &[BackendView], redirects: u64) {
        let mut inner = self.inner();
        push_bounded(&mut inner.ticks, (now, redirects));
        let mut nodes = std::mem::take(&mut inner.nodes);
        let mut kept = HashMap::with_capacity(backends.len());
        for b in backends {
            let mut ring = nodes.remove(b.id.as_str()).unwrap_or_default();
            push_bounded(&mut ring.load, b.projected_load as f32);
            push_bounded(&mut ring.sent, b.redirects_total);
            kept.insert(b.id.clone(), ring);
        }
        inner.nodes = kept;
    }

    /// Redirects per second over the last few seconds, from the dispatcher's
    /// count `redirects` at `now`.
    pub fn rate(&self, now: Instant, redirects: u64) -> f64 {
        let inner = self.inner();
        let (at, then) = inner.rate_base(now, inner.ticks.len());
        per_second(
            redirects.saturating_sub(then),
            now.saturating_duration_since(at),
        )
    }

    /// The past of `backend` at `now`, given the dispatcher's count
    /// `redirects` then.
    pub fn past(&self, backend: &BackendView, now: Instant, redirects: u64) -> NodePast {
        let inner = self.inner();
        let empty = Ring::default();
        let ring = inner.nodes.get(backend.id.as_str()).unwrap_or(&empty);
        let ticks = &inner.ticks;
        let offset = ticks.len() - ring.sent.len();
        let rate = ring
            .sent
            .iter()
            .zip(ring.sent.iter().skip(1))
            .enumerate()
            .map(|(i, (before, after))| {
                let dt = ticks[offset + i + 1]
                    .0
                    .saturating_duration_since(ticks[offset + i].0);
                per_second(after.saturating_sub(*before), dt) as f32
            })
            .collect();
        // The node's count at tick `i`: 0 before it was first seen.
        let sent_at = |i: usize| i.checked_sub(offset).map_or(0, |k| ring.sent[k]);
        let (at, _) = inner.rate_base(now, ticks.len());
        let base = ticks.iter().position(|(t, _)| *t == at).unwrap_or(0);
        let rate_now = per_second(
            backend.redirects_total.saturating_sub(sent_at(base)),
            now.saturating_duration_since(at),
        );
        let window = ticks.len().saturating_sub(SHARE_WINDOW + 1);
        let all = redirects.saturating_sub(ticks[window].1);
        let mine = backend.redirects_total.saturating_sub(sent_at(window));
        NodePast {
            load: ring.load.iter().copied().collect(),
            rate,
            rate_now,
            share: (all > 0).then(|| (mine as f64 / all as f64).min(1.0)),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every write is a push or a swap: a panic leaves it usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// The newest of the first `len` ticks at least [`MIN_RATE_WINDOW`]
    /// before `now`, else the oldest.
    fn rate_base(&self, now: Instant, len: usize) -> (Instant, u64) {
        self.ticks
            .iter()
            .take(len)
            .rev()
            .find(|(at, _)| now.saturating_duration_since(*at) >= MIN_RATE_WINDOW)
            .or(self.ticks.front())
            .copied()
            .unwrap_or((now, 0))
    }
}

fn push_bounded<T>(ring: &mut VecDeque<T>, value: T) {
    if ring.len() == SAMPLES {
        ring.pop_front();
    }
    ring.push_back(value);
}

fn per_second(count: u64, over: Duration) -> f64 {
    if over.is_zero() {
        0.0
    } else {
        count as f64 / over.as_secs_f64()
    }
}

/// Samples `app` into `history` every [`SAMPLE_EVERY`] until `shutdown`.
pub async fn sample(app: Arc<App>, history: Arc<History>, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval_at(Instant::now() + SAMPLE_EVERY, SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let now = Instant::now();
        let view = app.dashboard(now);
        history.record(now, &view.backends, view.dispatch.redirects_total);
    }
}

#[cfg(test)]
mod tests {
    use signpost_shared::{BackendState, Health};

    use super::*;

    fn node(id: &str, load: f64, sent: u64) -> BackendView {
        BackendView {
            id: id.into(),
            state: BackendState::Ready,
            eligible: true,
            weight: 1.0,
            effective_weight: 1.0,
            projected_load: load,
            report_age_ms: Some(0),
            redirects_total: sent,
            health: Health::Passing,
            ..Default::default()
        }
    }

    #[test]
    fn rates_shares_and_loads_come_from_the_samples() {
        let start = Instant::now();
        let history = History::new(start, 0);
        let at = |s: u64| start + Duration::from_secs(s);
        history.record(at(5), &[node("a", 0.5, 50)], 50);
        history.record(at(10), &[node("a", 0.25, 100), node("b", 0.1, 0)], 100);

        let a = history.past(&node("a", 0.3, 120), at(11), 140);
        assert_eq!(a.load, vec![0.5, 0.25]);
        assert_eq!(a.rate, vec![10.0]);
        // Since the tick at 5 s (the one at 10 s is under 2 s old).
        assert_eq!(a.rate_now, 70.0 / 6.0);
        // All 140 redirects so far are within the minute; a took 120.
        assert_eq!(a.share, Some(120.0 / 140.0));
        let b = history.past(&node("b", 0.1, 20), at(11), 140);
        assert_eq!(b.load, vec![0.1_f32]);
        assert!(b.rate.is_empty());
        assert_eq!(b.share, Some(20.0 / 140.0));
        assert_eq!(history.rate(at(11), 140), 90.0 / 6.0);

        // Forgotten nodes go at the next sample; nothing was ever sent to
        // an unknown one.
        history.record(at(15), &[node("b", 0.1, 20)], 140);
        assert!(
            history
                .past(&node("a", 0.0, 0), at(15), 140)
                .load
                .is_empty()
        );
        let idle = History::new(start, 0);
        assert_eq!(idle.past(&node("c", 0.0, 0), at(1), 0).share, None);
        assert_eq!(idle.rate(at(1), 0), 0.0);
    }

    #[test]
    fn the_rings_are_bounded_and_the_share_is_over_the_last_minute() {
        let start = Instant::now();
        let history = History::new(start, 0);
        // 10 redirects a tick to a for 40 ticks, then a stops and b takes
        // 10 a tick for 12 ticks (one minute).
        let mut total = 0;
        let mut a_sent = 0;
        let mut b_sent = 0;
        for tick in 1..=52u64 {
            if tick <= 40 {
                a_sent += 10;
            } else {
                b_sent += 10;
            }
            total += 10;
            let now = start + SAMPLE_EVERY * tick as u32;
            history.record(
                now,
                &[node("a", 0.0, a_sent), node("b", 0.0, b_sent)],
                total,
            );
        }
        let now = start + SAMPLE_EVERY * 52;
        let a = history.past(&node("a", 0.0, a_sent), now, total);
        assert_eq!(a.load.len(), SAMPLES);
        assert_eq!(a.rate.len(), SAMPLES - 1);
        assert_eq!(a.share, Some(0.0));
        let b = history.past(&node("b", 0.0, b_sent), now, total);
        assert_eq!(b.share, Some(1.0));
        assert_eq!(b.rate.last(), Some(&2.0));
    }
}
