//! The fallback reader: `/proc/net/tcp` and `/proc/net/tcp6`, for kernels
//! (or sandboxes) without `sock_diag`.
//!
//! Every `read()` of these files makes the kernel walk its established hash
//! from where the last one stopped, and a read that finds nothing walks all
//! of it: on a host with a large table that is milliseconds per call. So
//! each file is read with few, large reads into one buffer kept for the
//! agent's life, and counted line by line as it streams through; the
//! buffer's size, not the table's, bounds the memory used.

use std::io::{self, Read};

/// The kernel's IPv4 and IPv6 TCP socket tables.
pub const TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// The read size: about 870 rows of 150 bytes per call.
pub const BUFFER: usize = 128 * 1024;

/// `st` column value of an ESTABLISHED socket.
const ESTABLISHED: &str = "01";

/// Counts established sockets whose local port is `port` across the socket
/// tables, reading through `buffer`; a table that cannot be read (no IPv6,
/// not Linux) counts zero.
pub fn established(port: u16, buffer: &mut Vec<u8>) -> u64 {
    TABLES
        .iter()
        .filter_map(|path| std::fs::File::open(path).ok())
        .map(|file| count_stream(file, port, buffer).unwrap_or(0))
        .sum()
}

/// Counts established sockets on `port` in a socket table read from
/// `table` in [`BUFFER`]-sized reads; a row split between two reads is
/// carried over to the next.
pub fn count_stream(mut table: impl Read, port: u16, buffer: &mut Vec<u8>) -> io::Result<u64> {
    buffer.resize(BUFFER, 0);
    let (mut count, mut carried, mut header) = (0, 0, true);
    loop {
        let read = table.read(&mut buffer[carried..])?;
        let filled = carried + read;
        let complete = match buffer[..filled].iter().rposition(|&b| b == b'\n') {
            _ if read == 0 => filled,
            Some(last) => last + 1,
            None => 0,
        };
        let text = String::from_utf8_lossy(&buffer[..complete]);
        let mut lines = text.lines();
        if header && complete > 0 {
            header = false;
            lines.next();
        }
        count += lines.filter(|line| row_matches(line, port)).count() as u64;
        if read == 0 {
            return Ok(count);
        }
        buffer.copy_within(complete..filled, 0);
        carried = filled - complete;
        if carried == buffer.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "socket table row longer than the read buffer",
            ));
        }
    }
}

/// Whether one row is an established socket on local `port`. Rows look
/// like `0: 0100007F:1F90 0100007F:C350 01 ...` (local, remote, state),
/// with hexadecimal ports; IPv6 rows have 32 hex digits of address.
fn row_matches(line: &str, port: u16) -> bool {
    let mut fields = line.split_whitespace().skip(1);
    let (Some(local), Some(_remote), Some(state)) = (fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let local_port = local
        .rsplit_once(':')
        .map(|(_, hex)| u16::from_str_radix(hex, 16));
    state == ESTABLISHED && local_port == Some(Ok(port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
   2: 0B00000A:1F90 0C00000A:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1
   3: 0100007F:D2F0 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0 20 4 30 10 -1
   4: 0100007F:1F90 0100007F:D2F2 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0
   5: 0100007F:1F91 0100007F:D2F4 01 00000000:00000000 00:00000000 00000000     0        0 5 1 0 20 4 30 10 -1
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:E1A4 01 00000000:00000000 00:00000000 00000000     0        0 8 1 0 20 4 30 10 -1
   2: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:E1A6 01 00000000:00000000 00:00000000 00000000     0        0 9 1 0 20 4 30 10 -1
   3: 00000000000000000000000001000000:E1A4 00000000000000000000000001000000:1F90 01 00000000:00000000 00:00000000 00000000     0        0 10 1 0 20 4 30 10 -1
   4: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:E1A8 08 00000000:00000000 00:00000000 00000000     0        0 11 1 0 20 4 30 10 -1
";

    /// Port 8080 is 0x1F90. Listening (0A), TIME_WAIT (06), CLOSE_WAIT (08),
    /// outgoing connections to the port and other ports must not count.
    #[test]
    fn counts_established_sockets_on_the_local_port() {
        let cases = [
            (TCP, 8080, 2),
            (TCP, 8081, 1),
            (TCP, 54_000, 1),
            (TCP, 80, 0),
            (TCP6, 8080, 2),
            (TCP6, 57_764, 1),
            ("", 8080, 0),
            ("header only\n", 8080, 0),
            (
                "header\n   0: garbage\n   1: 0100007F:ZZZZ 0:0 01\n",
                8080,
                0,
            ),
        ];
        let mut buffer = Vec::new();
        for (table, port, want) in cases {
            for chunk in [BUFFER, 7, 1] {
                let reader = Trickle(table.as_bytes(), chunk);
                assert_eq!(
                    count_stream(reader, port, &mut buffer).unwrap(),
                    want,
                    "port {port} in {table:.40?}, read {chunk} bytes at a time"
                );
            }
        }
    }

    /// A reader that hands out at most `.1` bytes per call, like a file
    /// whose rows arrive split between reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(self.1).min(out.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
}
