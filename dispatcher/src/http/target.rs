//! 414 URI Too Long for an over-long request target on the plain public
//! listener, where hyper would answer 431.
//!
//! hyper refuses any request head longer than `--max-header-bytes` with
//! `431 Request Header Fields Too Large` and offers no hook to tell a long
//! request line from a large header section. Clients and nginx tell them
//! apart: a 64 KiB URL is a `414`. [`TargetLimit`] wraps the socket under
//! hyper and watches line ends as they are read — two scans per read that
//! stop at the first and at the last line feed, so a few bytes each for an
//! ordinary request — to know the length of the first line of the current
//! head. When hyper then writes its 431 and that line is at least the
//! limit, the status line is rewritten to 414; the rest of hyper's answer
//! (`connection: close`, no body) is kept as it is.
//!
//! Line ends are counted in the byte stream, without knowing where request
//! bodies are, so a body read between two heads can make the line count
//! wrong; the only effect is that such a refused head is called 414 rather
//! than 431 or the other way round. Under TLS the socket carries ciphertext:
//! this wrapper is only for the plain listener.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How hyper's refusal of a too-large head starts.
const REFUSAL: &[u8] = b"HTTP/1.1 431 ";

/// The status line written instead, for a request line over the limit.
const URI_TOO_LONG: &[u8] = b"HTTP/1.1 414 URI Too Long\r\n";

/// A plain connection's socket that turns hyper's 431 into 414 when the
/// head it refused has a request line of `limit` bytes or more.
pub(crate) struct TargetLimit<S> {
    stream: S,
    limit: usize,
    /// Bytes of the line still being read (since the last line feed).
    open: usize,
    /// Whether that line is the first of a head: it follows an empty line,
    /// or nothing at all.
    open_starts_head: bool,
    /// The length of the last complete line that was the first of a head.
    last_request_line: usize,
    /// The last two bytes read, for an empty line split across reads.
    tail: [u8; 2],
}

// === impl TargetLimit ===

impl<S> TargetLimit<S> {
    /// Wraps a just-accepted `stream` whose heads hyper limits to `limit`
    /// bytes.
    pub(crate) fn new(stream: S, limit: usize) -> Self {
        Self {
            stream,
            limit,
            open: 0,
            open_starts_head: true,
            last_request_line: 0,
            tail: [0; 2],
        }
    }

    /// Follows the line ends in `read`, the bytes just read.
    fn saw(&mut self, read: &[u8]) {
        let (Some(first), Some(last)) = (
            read.iter().position(|&b| b == b'\n'),
            read.iter().rposition(|&b| b == b'\n'),
        ) else {
            self.open += read.len();
            self.remember_tail(read);
            return;
        };
        // The first line feed closes the line that was open.
        if self.open_starts_head {
            self.last_request_line = self.open + first;
        }
        // The line the last line feed closes, and whether it was empty
        // (nothing, or a lone CR, since the line feed before it).
        let before = |i: usize| -> u8 {
            match i.checked_sub(1) {
                Some(at) => read.get(at).copied().unwrap_or(0),
                None => 0,
            }
        };
        let empty = if first == last {
            let len = self.open + last;
            len == 0 || (len == 1 && self.byte_before(read, last) == b'\r')
        } else {
            before(last) == b'\n' || (before(last) == b'\r' && before(last - 1) == b'\n')
        };
        self.open = read.len() - last - 1;
        self.open_starts_head = empty;
        self.remember_tail(read);
    }

    /// The byte before index `at` of `read`, looking back into earlier
    /// reads when `at` is 0.
    fn byte_before(&self, read: &[u8], at: usize) -> u8 {
        if at == 0 { self.tail[1] } else { read[at - 1] }
    }

    fn remember_tail(&mut self, read: &[u8]) {
        match read {
            [.., a, b] => self.tail = [*a, *b],
            [b] => self.tail = [self.tail[1], *b],
            [] => {}
        }
    }

    /// Whether the head being refused has a request line over the limit.
    fn target_too_long(&self) -> bool {
        (self.open_starts_head && self.open >= self.limit) || self.last_request_line >= self.limit
    }

    /// `buf` with its status line replaced by 414's, if it is hyper's 431
    /// for an over-long request line.
    fn rewritten(&self, buf: &[u8]) -> Option<Vec<u8>> {
        if !buf.starts_with(REFUSAL) || !self.target_too_long() {
            return None;
        }
        let rest = buf.windows(2).position(|w| w == b"\r\n")? + 2;
        Some([URI_TOO_LONG, &buf[rest..]].concat())
    }
}

impl<S: AsyncWrite + Unpin> TargetLimit<S> {
    /// Writes `rewritten` whole in place of `original` (hyper's 431 head).
    fn write_instead(
        &mut self,
        cx: &mut Context<'_>,
        rewritten: &[u8],
        original: usize,
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.stream).poll_write(cx, rewritten))?;
        if written < rewritten.len() {
            // A refusal of ~100 bytes into an empty socket buffer: not
            // worth resuming; the connection is being closed anyway.
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "the 414 answer was cut short",
            )));
        }
        Poll::Ready(Ok(original))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TargetLimit<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        this.saw(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TargetLimit<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.rewritten(buf) {
            Some(rewritten) => this.write_instead(cx, &rewritten, buf.len()),
            None => Pin::new(&mut this.stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs.iter().find(|b| !b.is_empty());
        match first.and_then(|b| this.rewritten(b)) {
            Some(rewritten) => {
                let original = first.map_or(0, |b| b.len());
                this.write_instead(cx, &rewritten, original)
            }
            None => Pin::new(&mut this.stream).poll_write_vectored(cx, bufs),
        }
    }

    forward_write_tail!();
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 64;

    /// The guard after reading `reads`, one read each.
    fn after(reads: &[&[u8]]) -> TargetLimit<()> {
        let mut guard = TargetLimit::new((), LIMIT);
        for read in reads {
            guard.saw(read);
        }
        guard
    }

    #[test]
    fn a_long_open_request_line_is_too_long() {
        let long = format!("GET /{}", "a".repeat(LIMIT));
        assert!(after(&[long.as_bytes()]).target_too_long());
        // Split over reads, after an answered request.
        let first = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /";
        assert!(after(&[first, &[b'a'; LIMIT]]).target_too_long());
    }

    #[test]
    fn a_long_complete_request_line_is_too_long() {
        let head = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(LIMIT));
        let (a, b) = head.as_bytes().split_at(10);
        assert!(after(&[a, b]).target_too_long());
        assert!(after(&[head.as_bytes()]).target_too_long());
    }

    #[test]
    fn large_header_sections_are_not() {
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}", "a".repeat(LIMIT));
        assert!(!after(&[head.as_bytes()]).target_too_long());
        let many = format!("GET / HTTP/1.1\r\n{}", "X: y\r\n".repeat(LIMIT));
        assert!(!after(&[many.as_bytes()]).target_too_long());
        // An empty line split across reads still ends a head: the next
        // line is a request line, short here.
        assert!(!after(&[b"GET / HTTP/1.1\r\n\r", b"\nGET / HTTP/1.1\r\nX: y"]).target_too_long());
        assert!(after(&[b"GET / HTTP/1.1\r\n\r", b"\n", &[b'a'; LIMIT]]).target_too_long());
    }

    #[test]
    fn only_hypers_431_is_rewritten() {
        let guard = after(&[&[b'a'; LIMIT]]);
        let refusal = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n\r\n";
        assert_eq!(
            guard.rewritten(refusal).unwrap(),
            b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\n\r\n"
        );
        assert!(guard.rewritten(b"HTTP/1.1 302 Found\r\n\r\n").is_none());
        let short = after(&[b"GET / HTTP/1.1\r\nX: "]);
        assert!(short.rewritten(refusal).is_none());
    }
}
