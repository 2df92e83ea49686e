//! Counting through the kernel's `sock_diag` netlink interface, as `ss`
//! does: one dump filtered in the kernel by state (established) and by
//! local port (a two-instruction `inet_diag` bytecode program), so the cost
//! is one walk of the established hash plus one fixed-size message per
//! matching socket, and no text at all.
//!
//! The walk of the hash is most of the cost on a host with a large table
//! (262 144 buckets on 24 GiB: about a millisecond), so the request is the
//! `TCPDIAG_GETSOCK` form, which the kernel answers for IPv4 and IPv6 in
//! one walk, rather than `SOCK_DIAG_BY_FAMILY`, which takes one per family.
//!
//! The socket itself comes from `netlink-sys`. The request and the reply
//! headers are fixed kernel ABI (`linux/inet_diag.h`, `linux/netlink.h`),
//! written and read here byte by byte: the agent only counts messages, so a
//! full packet model would parse fields nobody reads.

use std::io;

use netlink_sys::{Socket, protocols::NETLINK_SOCK_DIAG};

/// `TCPDIAG_GETSOCK`: the request and reply message type of a TCP dump
/// over both address families (`struct inet_diag_req`).
const TCPDIAG_GETSOCK: u16 = 18;
/// `NLMSG_ERROR` and `NLMSG_DONE`: the control messages of a dump.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
/// `1 << TCP_ESTABLISHED`: the kernel skips every other state.
const TCPF_ESTABLISHED: u32 = 1 << 1;
/// `INET_DIAG_REQ_BYTECODE`: the attribute carrying the filter program.
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// `INET_DIAG_BC_S_GE` and `INET_DIAG_BC_S_LE`: local port comparisons,
/// understood by every kernel with `inet_diag` (the newer `S_EQ` is not).
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;
/// The fixed part of a message: `struct nlmsghdr`.
const HEADER_LEN: usize = 16;
/// `struct inet_diag_req`: family, address lengths and extensions (all
/// zero: any family, nothing extra), a 48-byte `inet_diag_sockid` left zero
/// (no socket named), then the states and a `dbs` field the kernel ignores.
const REQUEST_LEN: usize = 60;
/// Offset of the states in `struct inet_diag_req`.
const REQUEST_STATES: usize = 52;
/// The filter: `sport >= port` and `sport <= port`, 8 bytes each.
const BYTECODE_LEN: usize = 16;
/// The whole request: header, `inet_diag_req_v2`, one attribute.
const MESSAGE_LEN: usize = HEADER_LEN + REQUEST_LEN + 4 + BYTECODE_LEN;
/// Offset of the local port (big-endian) in a reply's `inet_diag_msg`.
/// A socket of either family is one message of this layout.
const REPLY_SPORT: usize = 4;
/// Receive buffer: the kernel fills up to 32 KiB of a dump per call.
const RECV_BUFFER: usize = 32 * 1024;

/// A `NETLINK_SOCK_DIAG` socket and its receive buffer, kept for the life
/// of the agent.
#[derive(Debug)]
pub struct SockDiag {
    socket: Socket,
    buffer: Vec<u8>,
    seq: u32,
}

// === impl SockDiag ===

impl SockDiag {
    /// Opens the socket and checks that the kernel answers a dump, so that a
    /// kernel without `inet_diag` is noticed at start, not mid-run.
    pub fn open() -> io::Result<Self> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        let mut diag = SockDiag {
            socket,
            buffer: Vec::with_capacity(RECV_BUFFER),
            seq: 0,
        };
        diag.established(0)?;
        Ok(diag)
    }

    /// Established TCP sockets, IPv4 and IPv6, whose local port is `port`.
    pub fn established(&mut self, port: u16) -> io::Result<u64> {
        self.seq = self.seq.wrapping_add(1);
        self.socket.send(&request(port, self.seq), 0)?;
        self.count_replies(port)
    }

    /// Reads one dump to its end, counting the sockets in it.
    fn count_replies(&mut self, port: u16) -> io::Result<u64> {
        let mut count = 0;
        loop {
            self.buffer.clear();
            let received = self.socket.recv(&mut self.buffer, 0)?;
            if received == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "sock_diag closed the dump",
                ));
            }
            match count_batch(&self.buffer, self.seq, port)? {
                Batch::More(n) => count += n,
                Batch::Done(n) => return Ok(count + n),
            }
        }
    }
}

/// What one received batch of a dump held.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch {
    /// This many sockets, and the dump goes on.
    More(u64),
    /// This many sockets, and the dump is complete.
    Done(u64),
}

/// The request for established TCP sockets on local `port`.
pub fn request(port: u16, seq: u32) -> [u8; MESSAGE_LEN] {
    let mut message = [0u8; MESSAGE_LEN];
    message[0..4].copy_from_slice(&(MESSAGE_LEN as u32).to_ne_bytes());
    message[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    message[6..8].copy_from_slice(&DUMP_REQUEST.to_ne_bytes());
    message[8..12].copy_from_slice(&seq.to_ne_bytes());
    let body = &mut message[HEADER_LEN..];
    body[REQUEST_STATES..REQUEST_STATES + 4].copy_from_slice(&TCPF_ESTABLISHED.to_ne_bytes());
    let attribute = &mut body[REQUEST_LEN..];
    attribute[0..2].copy_from_slice(&((4 + BYTECODE_LEN) as u16).to_ne_bytes());
    attribute[2..4].copy_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
    attribute[4..].copy_from_slice(&bytecode(port));
    message
}

/// `sport >= port && sport <= port` as `inet_diag_bc_op`s (`code`, `yes`,
/// `no`: the jumps taken when the test holds or fails). Each comparison is
/// followed by an op whose `no` holds the port. Landing exactly on the end
/// accepts the socket; jumping 4 bytes past it rejects it.
fn bytecode(port: u16) -> [u8; BYTECODE_LEN] {
    let op = |code: u8, yes: u8, no: u16| {
        let no = no.to_ne_bytes();
        [code, yes, no[0], no[1]]
    };
    let mut program = [0u8; BYTECODE_LEN];
    program[0..4].copy_from_slice(&op(BC_S_GE, 8, 20));
    program[4..8].copy_from_slice(&op(0, 0, port));
    program[8..12].copy_from_slice(&op(BC_S_LE, 8, 12));
    program[12..16].copy_from_slice(&op(0, 0, port));
    program
}

/// Counts the sockets in one batch of replies to request `seq`. Messages of
/// another request (left over from one abandoned by an error) are skipped;
/// a socket on another port is not counted, whatever the kernel's filter
/// did. A netlink error or a truncated message is an error.
pub fn count_batch(batch: &[u8], seq: u32, port: u16) -> io::Result<Batch> {
    let mut count = 0;
    let mut rest = batch;
    while rest.len() >= HEADER_LEN {
        let len = u32_at(rest, 0) as usize;
        if len < HEADER_LEN || len > rest.len() {
            return Err(invalid(format!("sock_diag message of {len} bytes")));
        }
        let (message, body) = (&rest[..len], &rest[HEADER_LEN..len]);
        let kind = u16::from_ne_bytes([message[4], message[5]]);
        if u32_at(message, 8) == seq {
            match kind {
                // DONE carries the dump's own status: 0, or a negated errno.
                NLMSG_DONE => match status(body) {
                    Some(errno) if errno < 0 => return Err(os_error(errno)),
                    _ => return Ok(Batch::Done(count)),
                },
                NLMSG_ERROR => match status(body) {
                    Some(errno) => return Err(os_error(errno)),
                    None => return Err(invalid("truncated sock_diag error".into())),
                },
                TCPDIAG_GETSOCK => {
                    let sport = body.get(REPLY_SPORT..REPLY_SPORT + 2);
                    count += u64::from(sport == Some(&port.to_be_bytes()[..]));
                }
                _ => {}
            }
        }
        // Messages are padded to 4 bytes (NLMSG_ALIGN).
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    Ok(Batch::More(count))
}

/// The status at the start of a `NLMSG_DONE` or `NLMSG_ERROR` body: zero,
/// or an errno negated.
fn status(body: &[u8]) -> Option<i32> {
    let code = body.get(..4)?;
    Some(i32::from_ne_bytes([code[0], code[1], code[2], code[3]]))
}

fn os_error(negated_errno: i32) -> io::Error {
    io::Error::from_raw_os_error(negated_errno.saturating_neg())
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests;
