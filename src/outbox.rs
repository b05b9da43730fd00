//! Bytes waiting for a file descriptor that cannot take them yet: one mechanism
//! for the client's socket, the client's screen, the server's console and stderr.
//!
//! The report writes with a blocking `send` or `sys.stdout.write` and ignores what
//! they return. Two things go wrong there: when the other end stops reading, the
//! call blocks the whole loop; and a `send` may take only part of the bytes, and
//! the rest is lost. Here every such fd is non-blocking, and what it does not
//! take waits in an [`Outbox`]: the loop writes from it what the kernel takes,
//! keeps the rest, and asks `select` to say when the fd can take more.
//!
//! Every outbox is bounded by its user ([`Outbox::push_within`]): the console
//! drops whole lines past its limit and says how many; the client drops typed
//! lines a server does not take, and stops reading a server its screen cannot
//! keep up with. And it gives memory back as it drains: sent
//! bytes are skipped by an offset, the rest moved to the front once more has
//! been sent than waits (a cost of at most one copy per byte), and a buffer a
//! burst made large is shrunk. (The server's members need no outbox: what the
//! room says is kept once, in the room's log, see [`crate::room`].)

use nix::errno::Errno;

/// What [`Outbox::flush`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was written; the outbox is empty.
    All,
    /// The fd took what it could (`EAGAIN`, or a short write): wait for `select`
    /// to report it writable.
    Blocked,
}

/// Capacity an outbox keeps when it drains; a larger buffer is given back.
const KEEP: usize = 8 * 1024;

// ANCHOR: outbox
/// Bytes waiting for one fd.
///
/// Lifecycle: filled by the program ([`Outbox::push`], [`Outbox::push_within`]),
/// emptied by [`Outbox::flush`] when `select` says the fd is writable (or right
/// away, when the last write took everything), dropped with its fd.
#[derive(Debug, Default)]
pub struct Outbox {
    buf: Vec<u8>,
    /// `buf[..start]` has been written.
    start: usize,
    /// The last write stopped short: only `select` can say when to try again.
    blocked: bool,
}
// ANCHOR_END: outbox

impl Outbox {
    /// An empty outbox.
    pub const fn new() -> Self {
        Outbox { buf: Vec::new(), start: 0, blocked: false }
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory it holds.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The last write stopped short: write again only when `select` says writable.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Queue `bytes` after what is waiting. The caller bounds what it pushes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Queue `bytes` whole if what waits stays within `limit`; else queue
    /// nothing and return `false`.
    pub fn push_within(&mut self, bytes: &[u8], limit: usize) -> bool {
        let fits = self.len() + bytes.len() <= limit;
        if fits {
            self.push(bytes);
        }
        fits
    }

    /// Write what the fd takes through `write` (a `send` or a `write`), with as
    /// few calls as possible: one, unless a signal interrupts it.
    ///
    /// # Errors
    /// The errno of `write`: `EPIPE` or `ECONNRESET` when the reader is gone (the
    /// outbox is then emptied). `EAGAIN` is not an error but [`Flushed::Blocked`].
    // ANCHOR: outbox_flush
    pub fn flush(
        &mut self,
        mut write: impl FnMut(&[u8]) -> nix::Result<usize>,
    ) -> nix::Result<Flushed> {
        while !self.is_empty() {
            match write(&self.buf[self.start..]) {
                // All taken: the loop ends. Less: the fd is full for now.
                Ok(n) => {
                    self.start += n;
                    if !self.is_empty() {
                        return Ok(self.stop_short());
                    }
                }
                // A signal arrived before anything was written: try again.
                Err(Errno::EINTR) => {}
                // Full: wait for select.
                Err(Errno::EAGAIN) => return Ok(self.stop_short()),
                // EPIPE, ECONNRESET, EIO...: nobody will read the rest.
                Err(e) => {
                    self.clear();
                    return Err(e);
                }
            }
        }
        self.clear();
        Ok(Flushed::All)
    }
    // ANCHOR_END: outbox_flush

    /// The fd took less than all: remember it, and give memory back.
    fn stop_short(&mut self) -> Flushed {
        self.blocked = true;
        self.compact();
        Flushed::Blocked
    }

    /// Once more has been written than waits, move the rest to the front (one
    /// copy, at most, per byte), and shrink a buffer much larger than the rest.
    fn compact(&mut self) {
        if self.start >= self.len() {
            self.buf.drain(..self.start);
            self.start = 0;
            if self.buf.capacity() > 4 * self.buf.len() + KEEP {
                self.buf.shrink_to(2 * self.buf.len() + KEEP);
            }
        }
    }

    /// Forget what waits after the first `end` byte still to be written (the end
    /// of the row the fd is in the middle of), and say how many such ends went.
    pub fn keep_through(&mut self, end: u8) -> usize {
        let waiting = &self.buf[self.start..];
        let keep = waiting.iter().position(|&b| b == end).map_or(waiting.len(), |i| i + 1);
        let gone = waiting[keep..].iter().filter(|&&b| b == end).count();
        self.buf.truncate(self.start + keep);
        gone
    }

    /// How many `end` bytes wait to be written (lines, for `b'\n'`).
    pub fn count_waiting(&self, end: u8) -> usize {
        self.buf[self.start..].iter().filter(|&&b| b == end).count()
    }

    /// Forget everything waiting, and give back a large buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.blocked = false;
        if self.buf.capacity() > KEEP {
            self.buf = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_through_ends_the_row_being_written_and_drops_the_rest() {
        let mut o = Outbox::new();
        o.push(b"row 1\r\nrow 2\r\nrow 3\r\n");
        o.start = 2; // "ro" written
        assert_eq!(o.keep_through(b'\n'), 2);
        assert_eq!(&o.buf[o.start..], b"w 1\r\n");
        assert_eq!(o.keep_through(b'\n'), 0);
        assert_eq!(o.count_waiting(b'\n'), 1);
    }

    #[test]
    fn a_full_outbox_takes_whole_pieces_or_nothing() {
        let mut o = Outbox::new();
        assert!(o.push_within(b"12345\n", 10));
        assert!(!o.push_within(b"abcde\n", 10));
        assert!(o.push_within(b"xyz\n", 10));
        assert_eq!(o.buf, b"12345\nxyz\n");
    }

    #[test]
    fn flush_takes_what_the_fd_takes_and_keeps_the_order() {
        let mut o = Outbox::new();
        o.push(b"hello world");
        let mut got = Vec::new();
        let mut take = |b: &[u8]| {
            let n = b.len().min(4);
            got.extend_from_slice(&b[..n]);
            Ok(n)
        };
        assert_eq!(o.flush(&mut take), Ok(Flushed::Blocked));
        assert!(o.is_blocked());
        while o.flush(&mut take) == Ok(Flushed::Blocked) {}
        assert_eq!(got, b"hello world");
        assert!(o.is_empty() && !o.is_blocked());
        // A reader that is gone: the error, and nothing kept.
        o.push(b"more");
        assert_eq!(o.flush(|_| Err(Errno::EPIPE)), Err(Errno::EPIPE));
        assert!(o.is_empty());
    }

    /// A reader that always stays a little behind (it takes half of what waits)
    /// while more keeps coming: the memory held stays near what waits, however
    /// much went through. (An earlier build kept every byte until a write took
    /// all: a terminal a little behind made a client grow by 300 MB in 20 s.)
    #[test]
    fn memory_follows_what_waits_not_what_went_through() {
        let mut o = Outbox::new();
        let chunk = vec![b'x'; 4096];
        for _ in 0..10_000 {
            o.push(&chunk);
            let _ = o.flush(|b| Ok(b.len().div_ceil(2)));
        }
        assert!(o.len() <= 2 * chunk.len(), "waits: {}", o.len());
        assert!(o.capacity() <= 4 * o.len() + 2 * KEEP, "holds {} for {}", o.capacity(), o.len());
        // A burst, then the reader catches up: the memory comes back.
        o.push(&vec![b'y'; 8 << 20]);
        while o.flush(|b| Ok(b.len().min(1 << 16))) == Ok(Flushed::Blocked) {}
        assert_eq!(o.capacity(), 0);
    }
}
