//! Established TCP connections to one local port: the count behind
//! least-connections, read from the kernel's socket tables rather than
//! guessed from redirects. Counting by *local* port catches the clients of
//! the advertised service and not the agent's own outgoing connections.
//!
//! The kernel's `sock_diag` netlink interface ([`diag`]) does the filtering
//! itself and costs a fraction of the text files; `/proc/net/tcp{,6}`
//! ([`procfs`]) is the fallback where netlink is refused (old kernels without
//! `inet_diag`, some sandboxes).

pub mod diag;
pub mod procfs;

use diag::SockDiag;

/// Counts the established connections to one port, every sample, with
/// whichever source works on this host.
#[derive(Debug)]
pub struct Counter {
    port: u16,
    diag: Option<SockDiag>,
    /// The fallback's read buffer, allocated on its first use.
    buffer: Vec<u8>,
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
        }
    }

    /// Established connections to the port now. A `sock_diag` failure
    /// mid-run is logged and the `/proc` files are used from then on.
    pub fn established(&mut self) -> u64 {
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

    /// Whether the count comes from `sock_diag` (false: from `/proc`).
    pub fn uses_sock_diag(&self) -> bool {
        self.diag.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// Both sources count exactly the connections accepted on a loopback
    /// listener, IPv4 and IPv6, and none of the clients' own ends.
    #[test]
    fn both_sources_count_the_listeners_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
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

        let mut buffer = Vec::new();
        assert_eq!(procfs::established(port, &mut buffer), 5);
        let mut counter = Counter::new(port);
        assert_eq!(counter.established(), 5);
        // Where the kernel answers sock_diag (it does on any stock Linux),
        // check that path on its own too.
        let idle = TcpListener::bind("127.0.0.1:0").unwrap();
        let idle_port = idle.local_addr().unwrap().port();
        if let Ok(mut diag) = SockDiag::open() {
            assert!(counter.uses_sock_diag());
            assert_eq!(diag.established(port).unwrap(), 5);
            assert_eq!(diag.established(idle_port).unwrap(), 0);
        }
        drop((clients, accepted, idle));
    }
}
