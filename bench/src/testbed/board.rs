//! A bulletin board: N simulated nodes, what each last reported, and what a
//! poller would see of those reports at a given instant.
//!
//! Every system in a testbed run — the one the real dispatcher drives, and
//! one per reference strategy — is a [`Board`]. All of them refresh their
//! reports at the same instants with the same rule ([`Signal`]), so a
//! reference strategy faces the same staleness as the dispatcher: a report
//! is published at a refresh instant, and becomes visible only at the next
//! poll of that node (every `poll` seconds, at a phase of its own), as the
//! dispatcher's poller would fetch it.

use std::collections::VecDeque;

use super::node::Node;

/// What a node's agent reports as `cpu_percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Signal {
    /// `min(100, 100·q/Qmax)` for the queue length q at the refresh instant.
    Queue,
    /// `min(100, 100·q̄/Qmax)` for q̄ the mean queue length since the
    /// node's previous refresh.
    QueueMean,
    /// The fraction of time the server was busy since its previous refresh,
    /// × 100: what a CPU-sampling agent reports.
    Busy,
}

/// One report as published by a node's agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Published {
    /// When it was sampled, in seconds since the start.
    pub at: f64,
    /// The reported `cpu_percent`.
    pub figure: f64,
    /// The queue length at the sample (the interval's mean for
    /// [`Signal::QueueMean`]), reported as `connections`: what an agent
    /// counts, which `least-connections` follows and `least-load`'s
    /// capacity model reads growth from.
    pub connections: f64,
    /// Jobs sent to the node up to the sample, for projections.
    pub sent: u64,
    /// The report's sequence number (1 for the initial report).
    pub seq: u64,
}

/// What a strategy sees of one node at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// The visible report's `cpu_percent`.
    pub figure: f64,
    /// Jobs sent to the node since that report was sampled.
    pub sent_since: u64,
}

/// N nodes and their published reports.
#[derive(Debug, Clone)]
pub struct Board {
    nodes: Vec<Node>,
    sent: Vec<u64>,
    /// Per node: (instant, busy time, queue area) at its previous refresh.
    previous: Vec<(f64, f64, f64)>,
    /// Per node, the last few reports, oldest first.
    published: Vec<VecDeque<Published>>,
    /// Per node, the phase of its poll in `[0, poll)`.
    poll_phase: Vec<f64>,
    poll: f64,
    signal: Signal,
    qmax: f64,
}

/// How many past reports a node keeps: enough for a poll interval that
/// spans a few refreshes.
const KEPT: usize = 8;

// === impl Board ===

impl Board {
    /// Idle nodes of `speeds`, each having published a zero report at 0,
    /// polled every `poll` seconds (0: reports are visible at once) at
    /// `poll_phase[k]`.
    pub fn new(speeds: &[f64], poll: f64, poll_phase: Vec<f64>, signal: Signal, qmax: f64) -> Self {
        let first = Published {
            at: 0.0,
            figure: 0.0,
            connections: 0.0,
            sent: 0,
            seq: 1,
        };
        Board {
            nodes: speeds.iter().map(|&s| Node::new(s)).collect(),
            sent: vec![0; speeds.len()],
            previous: vec![(0.0, 0.0, 0.0); speeds.len()],
            published: vec![VecDeque::from([first]); speeds.len()],
            poll_phase,
            poll,
            signal,
            qmax,
        }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the board has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Assigns a job of `reference_service` seconds (at speed 1) arriving
    /// at `t` to node `k`; returns its response time.
    pub fn assign(&mut self, k: usize, t: f64, reference_service: f64) -> f64 {
        self.sent[k] += 1;
        self.nodes[k].assign(t, reference_service)
    }

    /// Node `k`'s agent samples at `t` and publishes a new report.
    pub fn refresh(&mut self, k: usize, t: f64) {
        let node = &mut self.nodes[k];
        let (busy, area) = (node.busy_time(t), node.queue_area(t));
        let q = node.queue_len(t) as f64;
        let (since, busy_before, area_before) = self.previous[k];
        let window = (t - since).max(f64::MIN_POSITIVE);
        let mean_q = (area - area_before) / window;
        let figure = match self.signal {
            Signal::Queue => 100.0 * q / self.qmax,
            Signal::QueueMean => 100.0 * mean_q / self.qmax,
            Signal::Busy => 100.0 * (busy - busy_before) / window,
        };
        self.previous[k] = (t, busy, area);
        let published = &mut self.published[k];
        let seq = published.back().map_or(1, |p| p.seq + 1);
        if published.len() == KEPT {
            published.pop_front();
        }
        published.push_back(Published {
            at: t,
            figure: figure.clamp(0.0, 100.0),
            // What an agent counts: the connections open at the sample.
            // Only the mean-queue figure reports its mean.
            connections: if self.signal == Signal::QueueMean {
                mean_q
            } else {
                q
            },
            sent: self.sent[k],
            seq,
        });
    }

    /// Node `k`'s latest report: what its `/load` serves.
    pub fn latest(&self, k: usize) -> Published {
        *self.published[k]
            .back()
            .expect("a board always holds a report")
    }

    /// What a poller sees of node `k` at `t`: the newest report sampled no
    /// later than the node's last poll.
    pub fn seen(&self, k: usize, t: f64) -> Seen {
        let last_poll = if self.poll > 0.0 {
            let phase = self.poll_phase[k];
            phase + ((t - phase) / self.poll).floor() * self.poll
        } else {
            t
        };
        let published = &self.published[k];
        let report = published
            .iter()
            .rev()
            .find(|p| p.at <= last_poll)
            .or(published.front())
            .expect("a board always holds a report");
        Seen {
            figure: report.figure,
            sent_since: self.sent[k] - report.sent,
        }
    }

    /// The true speed of node `k`.
    pub fn speed(&self, k: usize) -> f64 {
        self.nodes[k].speed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(signal: Signal, poll: f64) -> Board {
        Board::new(&[1.0, 1.0], poll, vec![0.0, 0.05], signal, 20.0)
    }

    #[test]
    fn queue_signal_is_the_queue_at_the_instant_saturating_at_qmax() {
        let mut b = board(Signal::Queue, 0.0);
        for _ in 0..5 {
            b.assign(0, 0.0, 1.0);
        }
        b.refresh(0, 0.5);
        assert_eq!(b.latest(0).figure, 25.0);
        assert_eq!(b.latest(0).seq, 2);
        for _ in 0..30 {
            b.assign(0, 0.6, 1.0);
        }
        b.refresh(0, 0.7);
        assert_eq!(b.latest(0).figure, 100.0);
    }

    #[test]
    fn busy_and_mean_queue_cover_the_window_since_the_previous_refresh() {
        let mut busy = board(Signal::Busy, 0.0);
        let mut mean = board(Signal::QueueMean, 0.0);
        for b in [&mut busy, &mut mean] {
            b.assign(0, 0.0, 0.25); // busy on [0, 0.25)
            b.refresh(0, 1.0);
            b.assign(0, 1.5, 1.0); // busy on [1.5, 2.5)
            b.refresh(0, 2.0);
        }
        assert_eq!(busy.latest(0).figure, 50.0);
        // Mean queue 0.5 over [1, 2]: 100 · 0.5 / 20.
        assert!((mean.latest(0).figure - 2.5).abs() < 1e-9);
        assert!((mean.latest(0).connections - 0.5).abs() < 1e-9);
        // A busy fraction's agent counts the connections open at the
        // sample: the job of [1.5, 2.5), not the interval's mean of 0.5.
        assert_eq!(busy.latest(0).connections, 1.0);
    }

    #[test]
    fn a_report_is_seen_from_the_first_poll_after_it_was_sampled() {
        let mut b = board(Signal::Queue, 0.1);
        b.assign(1, 0.0, 10.0);
        b.assign(1, 0.0, 10.0);
        b.refresh(1, 0.12);
        b.assign(1, 0.13, 10.0);
        // Node 1 is polled at 0.05, 0.15, 0.25...
        assert_eq!(
            b.seen(1, 0.14),
            Seen {
                figure: 0.0,
                sent_since: 3
            }
        );
        assert_eq!(
            b.seen(1, 0.151),
            Seen {
                figure: 10.0,
                sent_since: 1
            }
        );
        // Node 0, polled at 0, 0.1..., never refreshed: its initial report.
        assert_eq!(
            b.seen(0, 0.3),
            Seen {
                figure: 0.0,
                sent_since: 0
            }
        );
    }
}
