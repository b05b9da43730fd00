//! A bounded queue of bytes waiting to be sent on one socket.
//!
//! The report's `send_all` calls `sock.send(message)` on a blocking socket and
//! ignores the count it returns. Two things go wrong there: when a client stops
//! reading, its socket's send buffer fills and `send` blocks the whole server; and
//! `send` may take only part of the message, and the rest is lost.
//!
//! Here every socket is non-blocking and every message is appended to the
//! recipient's [`Outbox`]. The loop sends from it what the kernel takes, keeps the
//! rest, and asks `select` to say when the socket can take more. The outbox has a
//! limit: a client that lets [`Constants::OUTBOX_LIMIT`](crate::texts::Constants)
//! bytes pile up is a slow reader and is disconnected, so memory stays bounded.

use std::os::fd::OwnedFd;

use nix::errno::Errno;

use crate::net;

/// Returned by [`Outbox::push`] when the bytes would pass the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// What [`Outbox::flush`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was sent; the outbox is empty.
    All,
    /// The kernel's send buffer is full (`EAGAIN`, or a partial send); wait for
    /// `select` to report the socket writable.
    Blocked,
}

/// Bytes waiting for one socket.
///
/// Lifecycle: filled by `send_all` (server) or `send_msg` (client), emptied by
/// [`Outbox::flush`] when the socket is writable, dropped with its connection.
/// Sent bytes are skipped by an offset and only compacted now and then, so a
/// partial send costs no copy.
#[derive(Debug)]
pub struct Outbox {
    buf: Vec<u8>,
    /// `buf[..start]` has been sent.
    start: usize,
    limit: usize,
}

/// Capacity kept by an empty outbox; larger buffers are given back after a burst.
const KEEP_CAPACITY: usize = 8 * 1024;

impl Outbox {
    /// An empty outbox that holds at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Outbox {
            buf: Vec::new(),
            start: 0,
            limit,
        }
    }

    /// Bytes waiting to be sent.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queue `bytes` after what is waiting, or refuse them all if that would pass
    /// the limit (a message is never queued in part).
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Overflow> {
        if self.len() + bytes.len() > self.limit {
            return Err(Overflow);
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            // More sent than waiting: move the rest to the front (cheap now).
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Send what the kernel will take, with as few `send` calls as possible: one,
    /// unless it is interrupted by a signal.
    ///
    /// # Errors
    /// The errno of `send`: `EPIPE` or `ECONNRESET` when the peer is gone. `EAGAIN`
    /// is not an error here but [`Flushed::Blocked`].
    // ANCHOR: outbox_flush
    pub fn flush(&mut self, fd: &OwnedFd) -> nix::Result<Flushed> {
        while !self.is_empty() {
            match net::send(fd, &self.buf[self.start..]) {
                // Some or all taken. Less than asked means the send buffer is full:
                // another call now would only return EAGAIN.
                Ok(n) => {
                    self.start += n;
                    if !self.is_empty() {
                        return Ok(Flushed::Blocked);
                    }
                }
                // A signal arrived before anything was sent: try again.
                Err(Errno::EINTR) => continue,
                // The send buffer is full: wait for select.
                Err(Errno::EAGAIN) => return Ok(Flushed::Blocked),
                // EPIPE, ECONNRESET...: the connection is gone.
                Err(e) => return Err(e),
            }
        }
        self.clear();
        Ok(Flushed::All)
    }
    // ANCHOR_END: outbox_flush

    /// Forget everything waiting, and give back a large buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn push_refuses_what_would_pass_the_limit() {
        let mut o = Outbox::new(10);
        assert_eq!(o.push(b"12345"), Ok(()));
        assert_eq!(o.push(b"123456"), Err(Overflow));
        assert_eq!(o.len(), 5);
        assert_eq!(o.push(b"12345"), Ok(()));
        assert_eq!(o.len(), 10);
    }

    #[test]
    fn flush_sends_everything_in_order_and_reports_a_full_socket() {
        let (a, mut b) = UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("nonblocking");
        let fd: OwnedFd = a.into();
        let mut o = Outbox::new(64 << 20);
        let data: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        o.push(&data).expect("fits");
        // 8 MiB does not fit in a socket buffer: the first flush must stop short.
        assert_eq!(o.flush(&fd), Ok(Flushed::Blocked));
        assert!(!o.is_empty());
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut b, &mut got).expect("read");
            got
        });
        while o.flush(&fd).expect("flush") == Flushed::Blocked {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(fd);
        assert_eq!(reader.join().expect("reader"), data);
    }
}
