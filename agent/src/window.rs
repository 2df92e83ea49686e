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

/// The most outcomes kept, however fast they come.
pub const MAX_OUTCOMES: usize = 4096;

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

/// Recent outcomes, oldest first.
#[derive(Debug)]
pub struct Window {
    outcomes: VecDeque<Outcome>,
    /// The shortest time the rate is counted over, so the first outcome
    /// does not read as a burst.
    min_span: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Outcome {
    at: Instant,
    ok: bool,
    latency: Duration,
}

// === impl Window ===

impl Window {
    /// An empty window whose rate is counted over at least `min_span`
    /// (the probe's interval).
    pub fn new(min_span: Duration) -> Self {
        Window {
            outcomes: VecDeque::new(),
            min_span,
        }
    }

    /// Records one request that succeeded or not after `latency`, at `now`.
    pub fn record(&mut self, ok: bool, latency: Duration, now: Instant) {
        if self.outcomes.len() == MAX_OUTCOMES {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back(Outcome {
            at: now,
            ok,
            latency,
        });
    }

    /// The figures over the last [`SPAN`] at `now`; `None` when nothing
    /// happened in it.
    pub fn figures(&mut self, now: Instant) -> Option<AppFigures> {
        while (self.outcomes.front()).is_some_and(|o| now.saturating_duration_since(o.at) > SPAN) {
            self.outcomes.pop_front();
        }
        let oldest = self.outcomes.front()?.at;
        let count = self.outcomes.len();
        let failed = self.outcomes.iter().filter(|o| !o.ok).count();
        let span = now.saturating_duration_since(oldest).max(self.min_span);
        let mut latencies: Vec<Duration> = self.outcomes.iter().map(|o| o.latency).collect();
        Some(AppFigures {
            rps: count as f64 / span.as_secs_f64(),
            error_rate: failed as f64 / count as f64,
            latency_p90_ms: p90(&mut latencies).map(|d| d.as_secs_f64() * 1000.0),
        })
    }
}

/// The 90th percentile by nearest rank: the smallest value at least 90% of
/// the values do not exceed. Reorders `values`.
pub fn p90(values: &mut [Duration]) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let rank = (values.len() * 9).div_ceil(10) - 1;
    Some(*values.select_nth_unstable(rank).1)
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
    fn p90_is_the_nearest_rank() {
        let cases: [(&[u64], Option<u64>); 5] = [
            (&[], None),
            (&[7], Some(7)),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], Some(9)),
            (&[10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 100], Some(10)),
            (&[5; 20], Some(5)),
        ];
        for (values, want) in cases {
            let mut values: Vec<Duration> = values.iter().map(|&v| MS * v as u32).collect();
            assert_eq!(p90(&mut values), want.map(|v| MS * v as u32), "{values:?}");
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
        // failed; the 900 ms outlier of t0 is gone.
        assert_eq!(figures.rps, 1.1);
        assert!((figures.error_rate - 3.0 / 11.0).abs() < 1e-9);
        assert_eq!(figures.latency_p90_ms, Some(190.0));
        assert_eq!(window.figures(now + SPAN * 2), None);
    }

    #[test]
    fn the_window_is_bounded() {
        let t0 = Instant::now();
        let mut window = Window::new(Duration::from_secs(1));
        for _ in 0..MAX_OUTCOMES * 3 {
            window.record(true, MS, t0);
        }
        assert_eq!(window.outcomes.len(), MAX_OUTCOMES);
    }
}
