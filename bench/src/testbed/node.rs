//! One simulated backend: a single-server FIFO queue, Lindley-exact.
//!
//! With FIFO order and a work-conserving server, a job's completion time is
//! known the moment it is assigned: `max(arrival, previous completion) +
//! service`. Nothing is slept: the testbed computes response times at
//! assignment and derives what an agent would report at any instant — the
//! queue length, the busy time so far, the time-integral of the queue — from
//! the completion times alone.
//!
//! This is kept apart from `crate::queue`, the in-process simulator's queue,
//! because the testbed also needs the queue's time-integral (for reports
//! averaged over the refresh period) and its own time unit (seconds).

use std::collections::VecDeque;

/// One simulated server; times are seconds since the experiment started.
#[derive(Debug, Clone)]
pub struct Node {
    /// Work done per second relative to the reference speed 1.
    speed: f64,
    /// Completion times of jobs not yet known to be done, oldest first.
    pending: VecDeque<f64>,
    /// Completion time of the last job assigned.
    last_done: f64,
    /// Service time of every job assigned so far.
    work: f64,
    /// Time in system (response time) of every job assigned so far.
    sojourn: f64,
}

// === impl Node ===

impl Node {
    /// An idle server of `speed` (a job of reference service time `s`
    /// takes `s / speed`).
    pub fn new(speed: f64) -> Self {
        Node {
            speed,
            pending: VecDeque::new(),
            last_done: 0.0,
            work: 0.0,
            sojourn: 0.0,
        }
    }

    /// The server's speed.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Queues a job needing `reference_service` seconds at speed 1, arriving
    /// at `t`, and returns its response time (waiting plus service).
    pub fn assign(&mut self, t: f64, reference_service: f64) -> f64 {
        let service = reference_service / self.speed;
        self.last_done = self.last_done.max(t) + service;
        self.work += service;
        let response = self.last_done - t;
        self.sojourn += response;
        self.pending.push_back(self.last_done);
        response
    }

    /// Jobs in the system (waiting or in service) at `t`; `t` must not go
    /// backwards between calls.
    pub fn queue_len(&mut self, t: f64) -> usize {
        while self.pending.front().is_some_and(|&done| done <= t) {
            self.pending.pop_front();
        }
        self.pending.len()
    }

    /// Time the server has been busy in `[0, t]`: the work assigned minus
    /// the work still unfinished at `t`. Valid for `t` at or after the
    /// arrival of every job assigned so far.
    pub fn busy_time(&self, t: f64) -> f64 {
        self.work - (self.last_done - t).max(0.0)
    }

    /// `∫₀ᵗ q(s) ds`, the queue length integrated over `[0, t]`: every job's
    /// time in system, minus the part of it still to come after `t`. Same
    /// validity as [`Node::busy_time`]; `t` must not go backwards.
    pub fn queue_area(&mut self, t: f64) -> f64 {
        self.queue_len(t);
        let to_come: f64 = self.pending.iter().map(|&done| done - t).sum();
        self.sojourn - to_come
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lindley_response_times_queue_lengths_busy_time_and_area() {
        let mut n = Node::new(2.0);
        // Speed 2 halves service: 0.2 → 0.1, 0.4 → 0.2.
        assert_eq!(n.assign(0.0, 0.2), 0.1);
        // Arrives at 0.05, waits until 0.1, done at 0.3.
        assert!((n.assign(0.05, 0.4) - 0.25).abs() < 1e-12);
        assert_eq!(n.queue_len(0.08), 2);
        assert_eq!(n.queue_len(0.2), 1);
        assert!((n.busy_time(0.2) - 0.2).abs() < 1e-12);
        // q = 1 on [0, 0.05), 2 on [0.05, 0.1), 1 on [0.1, 0.2]: 0.05 + 0.1 + 0.1.
        assert!((n.queue_area(0.2) - 0.25).abs() < 1e-12);
        assert_eq!(n.queue_len(1.0), 0);
        assert!((n.busy_time(1.0) - 0.3).abs() < 1e-12);
        assert!((n.queue_area(1.0) - 0.35).abs() < 1e-12);
        // After an idle gap a job starts at its arrival.
        assert!((n.assign(2.0, 0.2) - 0.1).abs() < 1e-12);
        assert!((n.busy_time(2.05) - 0.35).abs() < 1e-12);
    }
}
