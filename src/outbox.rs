//! The bytes waiting to be sent on one socket, and how a reader is judged.
//!
//! The report's `send_all` calls `sock.send(message)` on a blocking socket and
//! ignores the count it returns. Two things go wrong there: when a client stops
//! reading, its socket's send buffer fills and `send` blocks the whole server; and
//! `send` may take only part of the message, and the rest is lost.
//!
//! Here every socket is non-blocking and every message is appended to the
//! recipient's [`Outbox`]. The loop sends from it what the kernel takes, keeps the
//! rest, and asks `select` to say when the socket can take more.
//!
//! A reader is judged only by what it does, never by what others send
//! ([`Outbox::judge`], the server's policy table is in `docs/robustness.md`):
//! - a reader that is behind (more than [`Constants::SENDQ_SOFT`] waiting) but
//!   reading (the kernel took bytes from it in the last
//!   [`Constants::HOLD_MS`]), and at its pace would catch up within
//!   [`Constants::CATCH_UP_SECONDS`], makes the room wait for it: the server stops
//!   reading new lines until it has caught up, and TCP slows the senders down.
//!   The room waits at most `CATCH_UP_SECONDS` from the moment the reader fell
//!   behind, however its pace changes: one that slows down step by step would
//!   otherwise always look about to catch up;
//! - a reader with output waiting in its outbox (its kernel buffers are full
//!   already) that has taken nothing for [`Constants::STALL_SECONDS`], or that has
//!   more than [`Constants::SENDQ_HARD`] waiting, is cut (the report's `(error)`
//!   leave); so is one that, while all the outboxes together hold more than
//!   [`Constants::ROOM_QUEUE_LIMIT`], has taken nothing for [`Constants::HOLD_MS`]
//!   or is behind and not catching up: it is one of those holding the memory.
//!
//! (Redis's `client-output-buffer-limit` has the same two limits, a hard one and a
//! soft one that must last; IRC servers call the hard one "Max SendQ exceeded".)

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::net;
use crate::texts::Constants;

/// What [`Outbox::flush`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was sent; the outbox is empty.
    All,
    /// The kernel's send buffer is full (`EAGAIN`, or a partial send); wait for
    /// `select` to report the socket writable.
    Blocked,
}

/// What [`Outbox::judge`] decided about a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to say: little waits for it, or it is not reading and the room no
    /// longer waits for it (it will be cut if that lasts).
    Fine,
    /// Behind but reading: the room waits for it to catch up.
    Behind,
    /// Cut it, for this reason.
    Cut(&'static str),
}

// ANCHOR: outbox
/// Bytes waiting for one socket.
///
/// Lifecycle: filled by `send_all` (server) or `send_msg` (client), emptied by
/// [`Outbox::flush`] when the socket is writable, judged after each flush
/// ([`Outbox::judge`]), dropped with its connection. Sent bytes are skipped by an
/// offset and only compacted now and then, so a partial send costs no copy.
#[derive(Debug)]
pub struct Outbox {
    buf: Vec<u8>,
    /// `buf[..start]` has been sent.
    start: usize,
    /// The last `send` stopped short: only `select` can say when to try again.
    blocked: bool,
    /// When the kernel last took bytes from it (or when it last became non-empty).
    progress: Instant,
    /// The reader's pace: bytes taken since `measured_since`, output waiting all
    /// along, and the bytes a second of the last such stretch of at least
    /// `HOLD_MS` (`None` until there was one).
    measured_since: Instant,
    measured: usize,
    pace: Option<usize>,
    /// When more than `SENDQ_SOFT` started waiting (`None` while no more does):
    /// the room waits for it at most `CATCH_UP_SECONDS` from then.
    behind_since: Option<Instant>,
}
// ANCHOR_END: outbox

/// Capacity kept by an empty outbox; larger buffers are given back after a burst.
const KEEP_CAPACITY: usize = 8 * 1024;

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new()
    }
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Outbox {
            buf: Vec::new(),
            start: 0,
            blocked: false,
            progress: Instant::now(),
            measured_since: Instant::now(),
            measured: 0,
            pace: None,
            behind_since: None,
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

    /// Memory it holds (what the server's total is counted in).
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// The last send stopped short: try again only when `select` says writable.
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Queue `bytes` after what is waiting. Nothing is refused here: the limits
    /// are judged after the next flush, by what the reader did with its chance.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.is_empty() {
            // The clock of a reader starts when output starts waiting for it.
            self.progress = Instant::now();
            self.measured_since = self.progress;
            self.measured = 0;
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
        if self.len() > Constants::SENDQ_SOFT && self.behind_since.is_none() {
            self.behind_since = Some(Instant::now());
        }
    }

    /// When more has been sent than waits, move the rest to the front (cheap
    /// then), and give back most of a buffer that a backlog left much too large:
    /// the room's budget counts the memory held, not the bytes waiting.
    fn compact(&mut self) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
            if self.buf.capacity() > 4 * self.buf.len() + KEEP_CAPACITY {
                self.buf.shrink_to(2 * self.buf.len() + KEEP_CAPACITY);
            }
        }
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
                    self.progress = Instant::now();
                    self.measure(n);
                    if self.len() <= Constants::SENDQ_SOFT {
                        self.behind_since = None;
                    }
                    self.compact();
                    if !self.is_empty() {
                        self.blocked = true;
                        return Ok(Flushed::Blocked);
                    }
                }
                // A signal arrived before anything was sent: try again.
                Err(Errno::EINTR) => continue,
                // The send buffer is full: wait for select.
                Err(Errno::EAGAIN) => {
                    self.blocked = true;
                    return Ok(Flushed::Blocked);
                }
                // EPIPE, ECONNRESET...: the connection is gone.
                Err(e) => return Err(e),
            }
        }
        self.clear();
        Ok(Flushed::All)
    }
    // ANCHOR_END: outbox_flush

    /// Judge the reader after a flush: see the module docs. `over_budget`: all the
    /// outboxes together hold more than [`Constants::ROOM_QUEUE_LIMIT`].
    // ANCHOR: judge
    pub fn judge(&self, now: Instant, over_budget: bool) -> Verdict {
        let idle = now.saturating_duration_since(self.progress);
        let hold = Duration::from_millis(Constants::HOLD_MS);
        if self.len() > Constants::SENDQ_HARD {
            Verdict::Cut("more than 4 MiB waiting for it")
        } else if self.is_empty() {
            Verdict::Fine
        } else if idle >= Duration::from_secs(Constants::STALL_SECONDS) {
            Verdict::Cut("it read nothing for 10 s")
        } else if over_budget && idle >= hold {
            Verdict::Cut("it reads nothing while the room's memory is spent")
        } else if self.len() <= Constants::SENDQ_SOFT {
            Verdict::Fine
        } else if idle < hold && self.catching_up(now) {
            Verdict::Behind
        } else if over_budget {
            Verdict::Cut("it is far behind while the room's memory is spent")
        } else {
            Verdict::Fine
        }
    }
    // ANCHOR_END: judge

    /// Whether the reader, behind, is worth the room's waiting: it fell behind
    /// less than `CATCH_UP_SECONDS` ago, and at its pace it would take what waits
    /// for it within `CATCH_UP_SECONDS` (yes while its pace is not known yet). A
    /// reader that fell far behind (it stopped, then resumed slowly), or one that
    /// slows down step by step, must not hold everyone for long.
    fn catching_up(&self, now: Instant) -> bool {
        let window = Duration::from_secs(Constants::CATCH_UP_SECONDS);
        let recent = self.behind_since.is_none_or(|t| now < t + window);
        let fast_enough = self
            .pace
            .is_none_or(|pace| self.len() as u64 <= pace as u64 * Constants::CATCH_UP_SECONDS);
        recent && fast_enough
    }

    /// Count `taken` bytes towards the reader's pace; every `HOLD_MS` or more (of
    /// output waiting, idle time included), the pace is the bytes a second of
    /// that stretch.
    fn measure(&mut self, taken: usize) {
        self.measured += taken;
        let stretch = self.progress.saturating_duration_since(self.measured_since);
        if stretch >= Duration::from_millis(Constants::HOLD_MS) {
            self.pace = Some((self.measured as f64 / stretch.as_secs_f64()) as usize);
            self.measured_since = self.progress;
            self.measured = 0;
        }
    }

    /// When [`Outbox::judge`] may change its mind with nothing happening (the
    /// room stops waiting, or the reader is cut), for `select`'s time-out.
    pub fn next_verdict(&self) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        let now = Instant::now();
        let hold = self.progress + Duration::from_millis(Constants::HOLD_MS);
        let stall = self.progress + Duration::from_secs(Constants::STALL_SECONDS);
        let window = Duration::from_secs(Constants::CATCH_UP_SECONDS);
        let caught_up = self.behind_since.map(|t| t + window);
        [Some(hold), Some(stall), caught_up]
            .into_iter()
            .flatten()
            .filter(|&t| t > now)
            .min()
            .or(Some(stall))
    }

    /// Forget everything waiting, and give back a large buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.blocked = false;
        self.behind_since = None;
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
    fn flush_sends_everything_in_order_and_reports_a_full_socket() {
        let (a, mut b) = UnixStream::pair().expect("socketpair");
        a.set_nonblocking(true).expect("nonblocking");
        let fd: OwnedFd = a.into();
        let mut o = Outbox::new();
        let data: Vec<u8> = (0..8 << 20).map(|i| (i % 251) as u8).collect();
        o.push(&data);
        // 8 MiB does not fit in a socket buffer: the first flush must stop short.
        assert_eq!(o.flush(&fd), Ok(Flushed::Blocked));
        assert!(!o.is_empty() && o.is_blocked());
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

    #[test]
    fn a_reader_is_judged_by_what_it_does() {
        let mut o = Outbox::new();
        o.push(&vec![b'x'; Constants::SENDQ_SOFT]);
        // The clock starts when output starts waiting.
        let t0 = o.progress;
        // Up to the soft limit, the room does not wait for it...
        assert_eq!(o.judge(t0, false), Verdict::Fine, "at the soft limit");
        // ...but output waits for it, so it must take some within STALL_SECONDS.
        let stalled = Duration::from_secs(Constants::STALL_SECONDS);
        assert!(matches!(o.judge(t0 + stalled, false), Verdict::Cut(_)));
        o.push(b"x");
        // Over the soft limit: the room waits while the reader takes bytes...
        assert_eq!(o.judge(t0, false), Verdict::Behind);
        // ...then stops waiting for one that took nothing...
        let quiet = Duration::from_millis(Constants::HOLD_MS);
        assert_eq!(o.judge(t0 + quiet, false), Verdict::Fine);
        // ...and cuts it if that lasts.
        assert!(matches!(o.judge(t0 + stalled, false), Verdict::Cut(_)));
        // When the room's memory is spent, a reader that took nothing for a second
        // is cut without waiting for the rest of STALL_SECONDS.
        assert_eq!(o.judge(t0, true), Verdict::Behind);
        assert!(matches!(o.judge(t0 + quiet, true), Verdict::Cut(_)));
        // Over the hard limit: cut at once.
        o.push(&vec![b'x'; Constants::SENDQ_HARD]);
        assert!(matches!(o.judge(t0, false), Verdict::Cut(_)));
    }

    #[test]
    fn the_room_waits_only_for_a_reader_that_can_catch_up() {
        let mut o = Outbox::new();
        o.push(&vec![b'x'; 1 << 20]);
        let t0 = o.progress;
        // Its pace unknown yet: behind and reading, the room waits.
        assert_eq!(o.judge(t0, false), Verdict::Behind);
        // It read 100 KB in the last second: 1 MiB would take 10 s. The room goes
        // on; the reader is on its own (and cut if it falls further behind).
        o.measured_since = t0;
        o.progress = t0 + Duration::from_secs(1);
        o.measure(100_000);
        assert_eq!(o.pace, Some(100_000));
        assert_eq!(o.judge(o.progress, false), Verdict::Fine);
        // At 1 MB a second it catches up in about a second: the room waits.
        o.progress += Duration::from_secs(1);
        o.measure(1_000_000);
        assert_eq!(o.judge(o.progress, false), Verdict::Behind);
        // But not for longer than CATCH_UP_SECONDS since it fell behind, however
        // fast it looks now (one that slows down step by step always looks close).
        let fell_behind = o.behind_since.expect("behind since the push");
        let late = fell_behind + Duration::from_secs(Constants::CATCH_UP_SECONDS);
        o.progress = late;
        assert_eq!(o.judge(late, false), Verdict::Fine);
        // When the room's memory is spent, such a reader is one of those holding
        // it: cut.
        assert!(matches!(o.judge(late, true), Verdict::Cut(_)));
    }
}
