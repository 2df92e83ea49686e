//! A single-server FIFO queue with exponential service, simulated exactly.
//!
//! With FIFO order and a work-conserving server, a job's completion time is
//! known the moment it arrives: `max(arrival, previous completion) +
//! service`. So the simulator needs no departure events: response times
//! come from arrivals alone, and what an agent would report at time `t` —
//! the queue length, or the busy time so far — is derived on demand.

use std::collections::VecDeque;

/// One simulated server.
#[derive(Debug, Clone)]
pub struct Server {
    /// Work done per time unit: 1 is the reference speed.
    speed: f64,
    /// Completion times of jobs not yet known to be done, oldest first.
    pending: VecDeque<f64>,
    /// Completion time of the last job assigned.
    last_done: f64,
    /// Service time of every job assigned so far.
    work: f64,
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
        }
    }

    /// The server's speed.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Queues a job of `size` (in reference service times) arriving at `t`
    /// and returns its response time: waiting plus service.
    pub fn assign(&mut self, t: f64, size: f64) -> f64 {
        let service = size / self.speed;
        self.last_done = self.last_done.max(t) + service;
        self.work += service;
        self.pending.push_back(self.last_done);
        self.last_done - t
    }

    /// Jobs in the system (waiting or in service) at `t`; `t` must not go
    /// backwards between calls.
    pub fn queue_len(&mut self, t: f64) -> usize {
        while self.pending.front().is_some_and(|&done| done <= t) {
            self.pending.pop_front();
        }
        self.pending.len()
    }

    /// Total time the server has been busy in `[0, t]`: the work that has
    /// arrived minus the work still unfinished at `t`.
    pub fn busy_time(&self, t: f64) -> f64 {
        self.work - (self.last_done - t).max(0.0)
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
}
