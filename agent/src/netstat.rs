//! Established TCP connections to one local port: the count behind
//! least-connections, read from the kernel's socket tables rather than
//! guessed from redirects. Counting by *local* port catches the clients of
//! the advertised service and not the agent's own outgoing connections.
//!
//! The kernel's `sock_diag` netlink interface ([`diag`]) does the filtering
//! itself and costs a fraction of the text files; `/proc/net/tcp{,6}`
//! ([`procfs`]) is the fallback where netlink is refused (old kernels without
//! `inet_diag`, some sandboxes).
//!
//! Either way the kernel walks its whole established hash per count, which
//! on a host with a lot of memory costs a millisecond or more however few
//! connections there are, and tens of milliseconds with tens of thousands.
//! So a count that costs more than [`BUDGET`] is reused for the next
//! samples, as many as keep the average under the budget and never more
//! than [`MAX_SAMPLES_PER_COUNT`] - 1: each count is at most that many
//! intervals old. On a small host every sample counts. Both sources read
//! the tables in parts, so while sockets open and close between the parts a
//! count can see a row twice or miss one: exact on a quiet port, within a
//! few rows on a churning one, which a load figure tolerates.

pub mod diag;
pub mod procfs;

use std::time::Duration;

use diag::SockDiag;
use tokio::time::Instant;

/// The average time per sample a connection count may take.
pub const BUDGET: Duration = Duration::from_micros(500);
/// The most samples one count serves, so that it is never older than this
/// many intervals, whatever it costs.
pub const MAX_SAMPLES_PER_COUNT: u32 = 10;

/// Counts the established connections to one port, every sample, with
/// whichever source works on this host.
#[derive(Debug)]
pub struct Counter {
    port: u16,
    diag: Option<SockDiag>,
    /// The fallback's read buffer, allocated on its first use.
    buffer: Vec<u8>,
    cadence: Cadence,
    last: u64,
}

/// When to count again: the budget arithmetic, apart from the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// Samples the last count serves, itself included.
    every: u32,
    /// Samples served since it was taken.
    served: u32,
}

// === impl Counter ===

impl Counter {
    /// Opens `sock_diag`, or settles on `/proc/net/tcp` and says why.
    pub fn new(port: u16) -> Self {
        let diag = SockDiag::open()
            .inspect_err(|err| {
                tracing::warn!(error = %err, "sock_diag unavailable; counting connections from /proc/net/tcp");
            })
            .ok();
        Counter {
            port,
            diag,
            buffer: Vec::new(),
            cadence: Cadence::new(),
            last: 0,
        }
    }

    /// Established connections to the port: counted now, or the last
    /// count while it is within its [`Cadence`].
    pub fn established(&mut self) -> u64 {
        if self.cadence.due() {
            let started = Instant::now();
            self.last = self.count();
            self.cadence.counted(started.elapsed());
        }
        self.last
    }

    /// Counts now. A `sock_diag` failure mid-run is logged and the `/proc`
    /// files are used from then on.
    pub fn count(&mut self) -> u64 {
        if let Some(diag) = &mut self.diag {
            match diag.established(self.port) {
                Ok(count) => return count,
                Err(err) => {
                    tracing::warn!(error = %err, "sock_diag failed; counting connections from /proc/net/tcp from now on");
                    self.diag = None;
                }
            }
        }
        procfs::established(self.port, &mut self.buffer)
    }
}

// === impl Cadence ===

impl Cadence {
    /// The first sample counts.
    pub fn new() -> Self {
        Cadence {
            every: 1,
            served: 1,
        }
    }

    /// Whether this sample takes a new count; otherwise it serves the last.
    pub fn due(&mut self) -> bool {
        if self.served >= self.every {
            return true;
        }
        self.served += 1;
        false
    }

    /// Records a count that took `cost`: it serves as many samples as keep
    /// the average under [`BUDGET`], between 1 and [`MAX_SAMPLES_PER_COUNT`].
    pub fn counted(&mut self, cost: Duration) {
        let samples = cost.as_secs_f64() / BUDGET.as_secs_f64();
        self.every = (samples.ceil() as u32).clamp(1, MAX_SAMPLES_PER_COUNT);
        self.served = 1;
    }
}

impl Default for Cadence {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// Reads `count` until `done(previous read, this read)`, for at most
    /// five seconds, and returns the last read. Both sources read the
    /// kernel's tables in parts, and while other sockets open and close
    /// between the parts a row can be seen twice or missed (with loopback
    /// connections churning beside it, 3 runs of this test in 200 read 6
    /// or 7 for 5): one read proves nothing.
    fn read_until(mut count: impl FnMut() -> u64, done: impl Fn(Option<u64>, u64) -> bool) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut previous = None;
        loop {
            let now = count();
            if done(previous, now) || Instant::now() > deadline {
                return now;
            }
            previous = Some(now);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A count two reads in a row agree on: a baseline.
    fn steady(count: impl FnMut() -> u64) -> u64 {
        read_until(count, |previous, now| previous == Some(now))
    }

    /// Reads `count` until it gives `want`; returns the last read.
    fn reaches(want: u64, count: impl FnMut() -> u64) -> u64 {
        read_until(count, |_, now| now == want)
    }

    /// Both sources count exactly the connections accepted on a loopback
    /// listener, IPv4 and IPv6, and none of the clients' own ends — over
    /// what the port already held: the listener's port is an ephemeral
    /// one, and another process's outgoing connection may hold the same
    /// number as its local end.
    #[test]
    fn both_sources_count_the_listeners_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut buffer = Vec::new();
        let before = steady(|| procfs::established(port, &mut buffer));
        let mut counter = Counter::new(port);
        let counted_before = steady(|| counter.count());
        let diag_before = SockDiag::open()
            .ok()
            .map(|mut diag| steady(|| diag.established(port).unwrap()));
        let mut clients: Vec<_> = (0..4)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let mut accepted: Vec<_> = (0..4).map(|_| listener.accept().unwrap()).collect();
        // The same port on ::1, where the host has IPv6; else one more IPv4.
        match TcpListener::bind(("::1", port)) {
            Ok(v6) => {
                clients.push(TcpStream::connect(("::1", port)).unwrap());
                accepted.push(v6.accept().unwrap());
            }
            Err(_) => {
                clients.push(TcpStream::connect(("127.0.0.1", port)).unwrap());
                accepted.push(listener.accept().unwrap());
            }
        }

        let want = before + 5;
        assert_eq!(
            reaches(want, || procfs::established(port, &mut buffer)),
            want
        );
        let want = counted_before + 5;
        assert_eq!(reaches(want, || counter.count()), want);
        // Where the kernel answers sock_diag (it does on any stock Linux),
        // check that path on its own too.
        let idle = TcpListener::bind("127.0.0.1:0").unwrap();
        let idle_port = idle.local_addr().unwrap().port();
        if let Ok(mut diag) = SockDiag::open() {
            assert!(
                counter.diag.is_some(),
                "the counter uses sock_diag where it works"
            );
            let want = diag_before.unwrap_or(0) + 5;
            let got = reaches(want, || diag.established(port).unwrap());
            assert_eq!(got, want);
            assert_eq!(reaches(0, || diag.established(idle_port).unwrap()), 0);
        }
        drop((clients, accepted, idle));
    }

    /// Which of 12 samples count, after a first count that cost `cost`.
    fn counting_samples(cost: Duration) -> Vec<bool> {
        let mut cadence = Cadence::new();
        assert!(cadence.due(), "the first sample always counts");
        cadence.counted(cost);
        (0..12)
            .map(|_| {
                let due = cadence.due();
                if due {
                    cadence.counted(cost);
                }
                due
            })
            .collect()
    }

    #[test]
    fn counts_are_reused_only_while_they_cost_more_than_the_budget() {
        let every = |n: usize| (1..=12).map(|i| i % n == 0).collect::<Vec<_>>();
        let cases = [
            (Duration::ZERO, every(1)),
            (Duration::from_micros(80), every(1)),
            (BUDGET, every(1)),
            (Duration::from_micros(501), every(2)),
            (Duration::from_micros(1900), every(4)),
            (Duration::from_millis(24), every(10)),
            (Duration::from_secs(5), every(10)),
        ];
        for (cost, want) in cases {
            assert_eq!(counting_samples(cost), want, "{cost:?}");
        }
    }

    /// A cheap count after a dear one goes back to counting every sample.
    #[test]
    fn the_cadence_follows_the_latest_cost() {
        let mut cadence = Cadence::new();
        assert!(cadence.due());
        cadence.counted(Duration::from_millis(1));
        assert!(!cadence.due());
        assert!(cadence.due());
        cadence.counted(Duration::from_micros(100));
        assert!(cadence.due());
    }
}
