//! A single-server FIFO queue, simulated exactly.
//!
//! With FIFO order and a work-conserving server, a job's completion time is
//! known the moment it arrives: `max(arrival, previous completion) +
//! service` (Lindley's recursion). So the simulator needs no departure
//! events: response times come from arrivals alone, and what an agent
//! would report at time `t` — the queue length, its time average, or the
//! busy time so far — is derived on demand.

use std::collections::VecDeque;

/// One simulated server.
#[derive(Debug, Clone)]
pub struct Server {
    /// Work done per time unit: 1 is the reference speed.
    speed: f64,
    /// (arrival, completion) of jobs not yet known to be done, oldest first.
    pending: VecDeque<(f64, f64)>,
    /// Completion time of the last job assigned.
    last_done: f64,
    /// Service time of every job assigned so far.
    work: f64,
    /// Time-in-system of the jobs popped from `pending`.
    area_done: f64,
    /// Sum of the arrival times in `pending`.
    pending_arrivals: f64,
    /// Length of the union of every assigned job's wait (arrival to start
    /// of service), future parts included: time with a job waiting, what
    /// Linux's CPU pressure (`some`) counts.
    waits: f64,
    /// When the last job assigned starts its service.
    last_start: f64,
}

// === impl Server ===

impl Server {
    /// An idle server of `speed` (jobs of mean size 1 take 1 / speed).
    pub fn new(speed: f64) -> Self {
        Server {
            speed,
            pending: VecDeque::new(),
            last_done: 0.0,
            work: 0.0,
            area_done: 0.0,
            pending_arrivals: 0.0,
            waits: 0.0,
            last_start: 0.0,
        }
    }

    /// The server's speed now.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Changes the speed for jobs assigned from now on (another tenant
    /// arrived on the host).
    pub fn set_speed(&mut self, speed: f64) {
        self.speed = speed;
    }

    /// Queues a job of `size` (in reference service times) arriving at `t`
    /// and returns its response time: waiting plus service.
    pub fn assign(&mut self, t: f64, size: f64) -> f64 {
        self.settle(t);
        let service = size / self.speed;
        let start = self.last_done.max(t);
        // Waits of a FIFO queue chain: this one adds what reaches past the
        // previous job's start.
        self.waits += (start - t.max(self.last_start)).max(0.0);
        self.last_start = start;
        self.last_done = start + service;
        self.work += service;
        self.pending.push_back((t, self.last_done));
        self.pending_arrivals += t;
        self.last_done - t
    }

    /// Jobs in the system (waiting or in service) at `t`; `t` must not go
    /// backwards between calls.
    pub fn queue_len(&mut self, t: f64) -> usize {
        self.settle(t);
        self.pending.len()
    }

    /// The integral of the queue length over `[0, t]`: its difference over
    /// an interval, divided by the interval, is the mean queue length.
    pub fn queue_area(&mut self, t: f64) -> f64 {
        self.settle(t);
        self.area_done + self.pending.len() as f64 * t - self.pending_arrivals
    }

    /// Total time the server has been busy in `[0, t]`: the work that has
    /// arrived minus the work still unfinished at `t`.
    pub fn busy_time(&self, t: f64) -> f64 {
        self.work - (self.last_done - t).max(0.0)
    }

    /// Total time in `[0, t]` during which at least one job waited for
    /// the server (CPU pressure's `some`): the waits assigned, minus the
    /// part still ahead of `t`, which is one stretch up to the last start.
    pub fn waiting_time(&self, t: f64) -> f64 {
        self.waits - (self.last_start - t).max(0.0)
    }

    /// Forgets the jobs done by `t`, keeping their share of the area.
    fn settle(&mut self, t: f64) {
        while let Some(&(arrival, done)) = self.pending.front() {
            if done > t {
                break;
            }
            self.pending.pop_front();
            self.pending_arrivals -= arrival;
            self.area_done += done - arrival;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_response_times_queue_lengths_and_busy_time() {
        let mut s = Server::new(2.0);
        // Sizes are halved by speed 2: 1 → 0.5, 2 → 1.0.
        assert_eq!(s.assign(0.0, 1.0), 0.5);
        assert_eq!(s.assign(0.25, 2.0), 1.25); // waits until 0.5, done 1.5
        assert_eq!(s.queue_len(0.4), 2);
        assert_eq!(s.queue_len(1.0), 1);
        assert_eq!(s.busy_time(1.0), 1.0);
        assert_eq!(s.queue_len(2.0), 0);
        assert_eq!(s.busy_time(3.0), 1.5);
        // Idle gap: a new job starts at its arrival.
        assert_eq!(s.assign(4.0, 1.0), 0.5);
        assert_eq!(s.busy_time(4.25), 1.75);
    }

    #[test]
    fn queue_area_integrates_the_queue_length() {
        let mut s = Server::new(1.0);
        s.assign(0.0, 1.0); // in system [0, 1]
        s.assign(0.5, 1.0); // in system [0.5, 2]
        // Queue 1 on [0, 0.5], 2 on [0.5, 1], 1 on [1, 2].
        assert!((s.queue_area(0.5) - 0.5).abs() < 1e-12);
        assert!((s.queue_area(1.0) - 1.5).abs() < 1e-12);
        assert!((s.queue_area(3.0) - 2.5).abs() < 1e-12);
    }

    #[test]
    fn waiting_time_is_the_union_of_the_waits() {
        let mut s = Server::new(1.0);
        s.assign(0.0, 1.0); // served at once
        s.assign(0.5, 1.0); // waits 0.5–1
        s.assign(0.7, 1.0); // waits 0.7–2: one stretch 0.5–2 with the above
        assert_eq!(s.waiting_time(0.5), 0.0);
        assert!((s.waiting_time(1.5) - 1.0).abs() < 1e-12);
        assert!((s.waiting_time(3.0) - 1.5).abs() < 1e-12);
        s.assign(4.0, 1.0); // an idle server: no wait
        assert!((s.waiting_time(5.0) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn a_new_speed_applies_to_new_jobs() {
        let mut s = Server::new(1.0);
        assert_eq!(s.assign(0.0, 1.0), 1.0);
        s.set_speed(0.5);
        assert_eq!(s.assign(2.0, 1.0), 2.0);
    }
}
