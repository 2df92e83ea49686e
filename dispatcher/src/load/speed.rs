//! A node's speed, measured: the jobs it completes per busy second.
//!
//! gRPC's weighted round robin (gRFC A58) weighs an endpoint by
//! `qps / utilisation`. Read from the dispatcher's side, qps is what it
//! *sent*: over a report that ends with work queued that counts the queued
//! requests as done, and over a saturated report it reads the node's
//! arrivals, not its capacity, so an overloaded node looks exactly as fast
//! as it is sent — the one case a capacity is needed for. What a node did
//! is what it was sent less what it still holds, and it holds its requests
//! in flight as open connections, which every report counts: completions =
//! redirects sent − growth of the node's connections. Completions over busy
//! seconds (the report's busy fraction × the time it covers) is the node's
//! speed whether it idles or queues. Both sums decay over
//! max([`WINDOW`], four reports), so a node that slows down is followed
//! within about that long.
//!
//! The count is exact while each client holds one connection per request in
//! flight (clients that close, as the testbed and the simulator's
//! agents do); idle keep-alive connections add an offset that cancels in
//! the growth. It divides by busy time, so it means a speed only where the
//! figure is a busy fraction: [`PoolBusy`](super::PoolBusy) lends it to the
//! capacity steps only once the pool's figure has been seen answering the
//! dispatcher's changes of share one for one.

/// How long the sums remember, in seconds (at least four reports): the
/// capacity controller's window. Over 4 s a node's ~100 completions left
/// its speed ~10% off, and the nodes of a 2:1 pool changed step up to 35
/// times a simulated run of ~220 s (189 before steps waited for
/// significance, [`CapacityStep`](super::CapacityStep)); over 10 s, 14,
/// and the long grids missed fewer goals (busy fractions 52 / 49 → 49 / 46
/// of 720 checks, queue lengths 74 / 67 → 70 / 59); over 20 s, 8, but a
/// node halving its speed took a minute to follow, against half that now
/// (`bench/RESULTS.md`, thirteenth session).
const WINDOW: f64 = 10.0;

/// Below this many (decayed) completions the node has no speed yet: over
/// *n* completions of exponential size the estimate is off by about 1/√*n*.
const MIN_DONE: f64 = 20.0;

/// A measured speed and how far to trust it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed {
    /// Jobs completed per busy second.
    pub per_busy_second: f64,
    /// Its relative standard error, about 1/√(completions counted): the
    /// mean of *n* exponential job sizes is off by that much.
    pub relative_error: f64,
}

/// Completions per busy second, from what the dispatcher sees of a node.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpeedMeter {
    /// Connections at the last report; `None` before the first, whose
    /// connections may be anybody's.
    connections: Option<u64>,
    /// Decayed completions and busy seconds.
    done: f64,
    busy: f64,
}

// === impl SpeedMeter ===

impl SpeedMeter {
    /// Folds in a report: `connections` open at its end, `utilisation`
    /// (0–1) over the `elapsed` seconds it covers, during which the node
    /// was sent `sent` redirects. Returns how much its connections grew
    /// over the report — the backlog it added, which an overloaded node's
    /// cut reads too ([`CapacityStep`](super::CapacityStep)) — or `None`
    /// for the first report, whose connections are only a baseline.
    pub fn observe(
        &mut self,
        sent: f64,
        utilisation: f64,
        connections: u64,
        elapsed: f64,
    ) -> Option<f64> {
        let before = self.connections.replace(connections);
        let before = before.filter(|_| elapsed > 0.0)?;
        let grew = connections as f64 - before as f64;
        let decay = (-elapsed / WINDOW.max(4.0 * elapsed)).exp();
        self.done = self.done * decay + (sent - grew).max(0.0);
        self.busy = self.busy * decay + utilisation.clamp(0.0, 1.0) * elapsed;
        Some(grew)
    }

    /// The jobs the node completes per busy second, once enough are counted.
    pub fn speed(&self) -> Option<Speed> {
        (self.done >= MIN_DONE && self.busy > 0.0).then(|| Speed {
            per_busy_second: self.done / self.busy,
            relative_error: self.done.sqrt().recip(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A meter past its first report (which sets the connections' baseline).
    fn started() -> SpeedMeter {
        let mut meter = SpeedMeter::default();
        meter.observe(0.0, 0.0, 0, 0.0);
        meter
    }

    #[test]
    fn a_saturated_node_is_measured_by_what_it_completed_not_what_it_was_sent() {
        // Half the speed it is sent for: 90 redirects a 4 s report, busy
        // throughout, 50 done, its backlog 40 more each report.
        let mut meter = started();
        let mut queue = 0;
        for _ in 0..3 {
            queue += 40;
            meter.observe(90.0, 1.0, queue, 4.0);
        }
        let speed = meter.speed().unwrap().per_busy_second;
        assert!((speed - 12.5).abs() < 1e-9, "{speed} jobs a busy second");
        // Counting what was sent as done (A58's reading from the sender's
        // side) takes the arrivals for the capacity: 22.5, nearly twice.
        let mut blind = started();
        for _ in 0..3 {
            blind.observe(90.0, 1.0, 0, 4.0);
        }
        assert!(blind.speed().unwrap().per_busy_second > 22.0, "{blind:?}");
    }

    #[test]
    fn a_node_that_slows_down_is_followed_within_its_window() {
        let mut meter = started();
        for _ in 0..20 {
            meter.observe(80.0, 0.8, 0, 4.0);
        }
        assert!(
            (meter.speed().unwrap().per_busy_second - 25.0).abs() < 1e-9,
            "{meter:?}"
        );
        // Half as fast from now on (12.5 a second): half-way there within
        // the window, four reports.
        let (mut queue, mut reports) = (0, 0);
        while meter.speed().unwrap().per_busy_second > 18.75 {
            queue += 30;
            meter.observe(80.0, 1.0, queue, 4.0);
            reports += 1;
        }
        assert!(reports <= 4, "{reports} reports to see the slowdown");
    }

    #[test]
    fn the_first_reports_connections_are_a_baseline_not_a_backlog() {
        let mut meter = SpeedMeter::default();
        meter.observe(0.0, 0.5, 500, 0.0);
        meter.observe(40.0, 0.5, 500, 2.0);
        assert_eq!(meter.speed().map(|s| s.per_busy_second), Some(40.0));
    }

    #[test]
    fn too_few_completions_give_no_speed() {
        let mut meter = started();
        meter.observe(3.0, 0.5, 0, 1.0);
        assert_eq!(meter.speed(), None);
    }
}
