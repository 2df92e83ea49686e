//! Passive health at the source: a sliding window of the application's
//! request outcomes, summed up as the report's `rps`, `error_rate` and
//! `latency_p90_ms`.
//!
//! The probe of `--backend-health` feeds it one outcome per interval; the
//! dispatcher ejects a node whose figures cross its thresholds. The window
//! is bounded in time and in entries, so a burst costs a fixed amount of
//! memory. Time comes in as `now`.

use std::collections::VecDeque;
use std::time::Duration;

use signpost_shared::LoadReport;
use tokio::time::Instant;

/// How far back the window looks: the dispatcher's outlier window.
pub const SPAN: Duration = Duration::from_secs(10);

/// Latency buckets per octave: bounds 2^(i/4) ms apart, so a p90 is
/// within 19% of the true one.
const PER_OCTAVE: f64 = 4.0;

/// Latency buckets: up to 2^20 ms (17 minutes), the last catching more.
const BUCKETS: usize = 80;

/// The application's figures over a window, as the report carries them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AppFigures {
    /// Requests per second.
    pub rps: f64,
    /// Share of requests that failed, 0–1.
    pub error_rate: f64,
    /// The 90th percentile of response time, in milliseconds; `None`
    /// without requests.
    pub latency_p90_ms: Option<f64>,
}

/// Recent outcomes, summed per slot of `slot` length, oldest first: a
/// fixed cost per slot however many requests it holds, so a log that
/// grows fast costs no more memory than a quiet one.
#[derive(Debug)]
pub struct Window {
    slots: VecDeque<Slot>,
    /// How long one slot gathers outcomes, and the shortest time the rate
    /// is counted over (so the first outcome does not read as a burst).
    slot: Duration,
}

#[derive(Debug, Clone)]
struct Slot {
    start: Instant,
    requests: u64,
    failed: u64,
    /// Requests per latency bucket.
    latencies: [u32; BUCKETS],
}

// === impl Window ===

impl Window {
    /// An empty window gathering outcomes in slots of `slot` (the agent's
    /// interval).
    pub fn new(slot: Duration) -> Self {
        Window {
            slots: VecDeque::new(),
            slot: slot.max(Duration::from_millis(1)),
        }
    }

    /// Records one request that succeeded or not after `latency`, at `now`.
    pub fn record(&mut self, ok: bool, latency: Duration, now: Instant) {
        let fresh =
            (self.slots.back()).is_none_or(|s| now.saturating_duration_since(s.start) >= self.slot);
        if fresh {
            self.slots.push_back(Slot {
                start: now,
                requests: 0,
                failed: 0,
                latencies: [0; BUCKETS],
            });
            self.forget(now);
        }
        let Some(slot) = self.slots.back_mut() else {
            return;
        };
        slot.requests += 1;
        slot.failed += u64::from(!ok);
        let bucket = &mut slot.latencies[bucket(latency)];
        *bucket = bucket.saturating_add(1);
    }

    /// The figures over the last [`SPAN`] at `now`; `None` when nothing
    /// happened in it.
    pub fn figures(&mut self, now: Instant) -> Option<AppFigures> {
        self.forget(now);
        let oldest = self.slots.front()?.start;
        let (mut requests, mut failed) = (0, 0);
        let mut latencies = [0u64; BUCKETS];
        for slot in &self.slots {
            requests += slot.requests;
            failed += slot.failed;
            for (sum, count) in latencies.iter_mut().zip(slot.latencies) {
                *sum += u64::from(count);
            }
        }
        if requests == 0 {
            return None;
        }
        let span = now.saturating_duration_since(oldest).max(self.slot);
        Some(AppFigures {
            rps: requests as f64 / span.as_secs_f64(),
            error_rate: failed as f64 / requests as f64,
            latency_p90_ms: p90(&latencies),
        })
    }

    /// Drops the slots that started more than [`SPAN`] before `now`.
    fn forget(&mut self, now: Instant) {
        while (self.slots.front()).is_some_and(|s| now.saturating_duration_since(s.start) > SPAN) {
            self.slots.pop_front();
        }
    }
}

/// The latency bucket of `latency`: the first whose bound holds it.
fn bucket(latency: Duration) -> usize {
    let ms = latency.as_secs_f64() * 1000.0;
    if ms <= 1.0 {
        return 0;
    }
    ((ms.log2() * PER_OCTAVE).ceil() as usize).min(BUCKETS - 1)
}

/// The upper bound of bucket `index`, in milliseconds.
fn bound_ms(index: usize) -> f64 {
    (index as f64 / PER_OCTAVE).exp2()
}

/// The 90th percentile by nearest rank over bucket counts: the bound of
/// the bucket that holds the request at rank ⌈0.9 n⌉.
fn p90(counts: &[u64; BUCKETS]) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    let rank = (total * 9).div_ceil(10).max(1);
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank && total > 0 {
            return Some(bound_ms(index));
        }
    }
    None
}

/// Writes `figures` into `report` (or clears the fields when `None`);
/// true if anything changed.
pub fn apply(report: &mut LoadReport, figures: Option<AppFigures>) -> bool {
    let before = (report.rps, report.error_rate, report.latency_p90_ms);
    report.rps = figures.map(|f| f.rps);
    report.error_rate = figures.map(|f| f.error_rate);
    report.latency_p90_ms = figures.and_then(|f| f.latency_p90_ms);
    before != (report.rps, report.error_rate, report.latency_p90_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn p90_is_the_bound_of_the_nearest_ranks_bucket() {
        let cases: [(&[u64], Option<f64>); 5] = [
            (&[], None),
            (&[7], Some(8.0)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], Some(2f64.powf(3.25))),
            (&[10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 100], Some(2f64.powf(3.5))),
            (&[500; 20], Some(2f64.powf(9.0))),
        ];
        for (values, want) in cases {
            let mut window = Window::new(Duration::from_secs(1));
            let t0 = Instant::now();
            for &v in values {
                window.record(true, MS * v as u32, t0);
            }
            let got = window.figures(t0).and_then(|f| f.latency_p90_ms);
            assert_eq!(got, want, "{values:?}");
            // Never below the exact nearest rank, at most a bucket above.
            if let Some(p90) = got {
                let mut sorted = values.to_vec();
                sorted.sort_unstable();
                let exact = sorted[(values.len() * 9).div_ceil(10) - 1] as f64;
                assert!((exact..exact * 1.19 + 1.0).contains(&p90), "{values:?}");
            }
        }
    }

    #[test]
    fn figures_cover_the_last_ten_seconds() {
        let t0 = Instant::now();
        let mut window = Window::new(Duration::from_secs(1));
        assert_eq!(window.figures(t0), None);
        window.record(false, MS * 900, t0);
        // One outcome counts over the probe's interval, not over nothing.
        assert_eq!(window.figures(t0).unwrap().rps, 1.0);
        for s in 1..=20u32 {
            window.record(
                s % 5 != 0,
                MS * (10 * s),
                t0 + Duration::from_secs(s.into()),
            );
        }
        let now = t0 + Duration::from_secs(20);
        let figures = window.figures(now).unwrap();
        // Seconds 10..=20: eleven outcomes over ten seconds, 10, 15 and 20
        // failed; the 900 ms outlier of t0 is gone; the true p90 is 190 ms.
        assert_eq!(figures.rps, 1.1);
        assert!((figures.error_rate - 3.0 / 11.0).abs() < 1e-9);
        let p90 = figures.latency_p90_ms.unwrap();
        assert!((190.0..190.0 * 1.19).contains(&p90), "{p90}");
        assert_eq!(window.figures(now + SPAN * 2), None);
    }

    #[test]
    fn a_flood_costs_one_slot_per_interval() {
        let t0 = Instant::now();
        let mut window = Window::new(Duration::from_millis(200));
        for i in 0..100_000u32 {
            let at = t0 + Duration::from_micros(u64::from(i) * 200);
            window.record(i % 10 != 0, MS * (i % 50), at);
        }
        // 20 s of requests at 5000/s: the last 10 s in 51 slots.
        assert!(window.slots.len() <= 51, "{}", window.slots.len());
        let figures = window.figures(t0 + Duration::from_secs(20)).unwrap();
        assert!((figures.rps - 5000.0).abs() < 200.0, "{figures:?}");
        assert!((figures.error_rate - 0.1).abs() < 0.01, "{figures:?}");
    }
}
