//! Established TCP connections to one local port, from `/proc/net/tcp` and
//! `/proc/net/tcp6`.
//!
//! The least-connections strategy is only as good as this count, so it is
//! read from the kernel's socket tables rather than guessed from redirects.
//! Counting by *local* port catches the clients of the advertised service
//! and not the agent's own outgoing connections.

/// The kernel's IPv4 and IPv6 TCP socket tables.
pub const TABLES: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// `st` column value of an ESTABLISHED socket.
const ESTABLISHED: &str = "01";

/// Counts established sockets whose local port is `port` across the socket
/// tables; a table that cannot be read (no IPv6, not Linux) counts zero.
pub fn established(port: u16) -> u64 {
    TABLES
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|table| count_established(&table, port))
        .sum()
}

/// Counts established sockets whose local port is `port` in the text of one
/// socket table. Rows look like
/// `0: 0100007F:1F90 0100007F:C350 01 ...` (local, remote, state), with
/// hexadecimal ports; IPv6 rows have 32 hex digits of address.
pub fn count_established(table: &str, port: u16) -> u64 {
    let matches = |line: &str| {
        let mut fields = line.split_whitespace().skip(1);
        let (Some(local), Some(_remote), Some(state)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return false;
        };
        let local_port = local
            .rsplit_once(':')
            .map(|(_, hex)| u16::from_str_radix(hex, 16));
        state == ESTABLISHED && local_port == Some(Ok(port))
    };
    table.lines().skip(1).filter(|line| matches(line)).count() as u64
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
        for (table, port, want) in cases {
            assert_eq!(
                count_established(table, port),
                want,
                "port {port} in {table:.40?}"
            );
        }
    }
}
