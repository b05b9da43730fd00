//! The room's log: everything the room says, kept once, however many read it.
//!
//! The report's `send_all` sends each message to each socket at once, on a
//! blocking socket. A server that never blocks must keep what a reader's socket
//! does not take yet. Kept in one buffer per reader, a paste of 1 MB to 500
//! readers costs 500 MB, and the server must then decide, reader by reader, when
//! one is too slow. Here every message is appended once to the [`RoomLog`], with
//! who may read it ([`Audience`]), and each member keeps only a cursor: the
//! position in the log of the next byte it is owed. A member is sent what lies
//! between its cursor and the head, as far as its socket takes it; what every
//! cursor has passed is forgotten. The room's memory is then one log, whatever
//! its audience, and how far a reader is behind is one subtraction: the head
//! minus its cursor (Redis keeps its replication backlog this way, Kafka its
//! partitions, with an offset per reader).
//!
//! Positions are byte offsets counted from the room's first message, so a cursor
//! stays valid while older entries are forgotten.

use std::collections::VecDeque;
use std::time::Instant;

/// Who a member is, for the log: its socket's fd number. The kernel gives the
/// number again once the socket is closed, but a newcomer's cursor starts at the
/// head: nothing before it, said to or by the one before, is ever its concern.
pub type Id = std::os::fd::RawFd;

/// Who may read a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone in the room (a leave notice).
    All,
    /// Everyone but its speaker (a chat line, a join notice): the report's
    /// `sock != sendSock` in `send_all`.
    AllBut(Id),
    /// One member (the connect notice of a newcomer).
    Only(Id),
}

impl Audience {
    fn includes(self, reader: Id) -> bool {
        match self {
            Audience::All => true,
            Audience::AllBut(speaker) => reader != speaker,
            Audience::Only(one) => reader == one,
        }
    }
}

/// One message of the log (or the lines of one `recv`, formatted together).
#[derive(Debug)]
struct Entry {
    /// Position of its first byte.
    start: u64,
    bytes: Vec<u8>,
    audience: Audience,
    /// When it was said: how long a reader has been owed it.
    at: Instant,
}

impl Entry {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

// ANCHOR: room_log
/// Everything said in the room that some member has not been sent yet.
///
/// Lifecycle: one per server. `send_all` appends ([`RoomLog::append`]); each
/// member's cursor moves as its socket takes bytes ([`RoomLog::gather`],
/// [`RoomLog::advance`]); entries every cursor has passed are dropped
/// ([`RoomLog::forget_before`]).
#[derive(Debug, Default)]
pub struct RoomLog {
    entries: VecDeque<Entry>,
    /// The position after the last byte: where a newcomer's cursor starts.
    head: u64,
}
// ANCHOR_END: room_log

impl RoomLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The position after the last byte said.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Bytes held (what the room's memory for its readers is).
    pub fn held(&self) -> u64 {
        self.entries.front().map_or(0, |e| self.head - e.start)
    }

    /// Append `bytes` for `audience`, said now.
    pub fn append(&mut self, bytes: &[u8], audience: Audience) {
        if bytes.is_empty() {
            return;
        }
        self.entries.push_back(Entry {
            start: self.head,
            bytes: bytes.to_vec(),
            audience,
            at: Instant::now(),
        });
        self.head += bytes.len() as u64;
    }

    /// Index of the entry holding position `at`, if one does.
    fn find(&self, at: u64) -> Option<usize> {
        let i = self.entries.partition_point(|e| e.end() <= at);
        (i < self.entries.len()).then_some(i)
    }

    /// Copy into `out` at most `max` bytes owed to `reader` from position `from`
    /// (not beyond `until`), skipping what it may not read; return the position of
    /// the first byte copied (or, with nothing owed, `until` or the head).
    pub fn gather(&self, reader: Id, from: u64, until: u64, max: usize, out: &mut Vec<u8>) -> u64 {
        let until = until.min(self.head);
        if from >= until {
            return from;
        }
        let mut first = None;
        let mut at = from;
        for e in self.find(from).map_or(self.entries.range(0..0), |i| self.entries.range(i..)) {
            if e.start >= until || out.len() >= max {
                break;
            }
            if e.audience.includes(reader) {
                let skip = at.saturating_sub(e.start) as usize;
                let take = (e.end().min(until) - e.start) as usize;
                let take = take.min(skip + max - out.len());
                out.extend_from_slice(&e.bytes[skip..take]);
                first.get_or_insert(at.max(e.start));
            }
            at = e.end();
        }
        first.unwrap_or(until)
    }

    /// The position after the first `n` bytes that [`RoomLog::gather`] copied
    /// from `first` for `reader`: the cursor once its socket took them.
    pub fn advance(&self, reader: Id, first: u64, mut n: usize) -> u64 {
        let mut at = first;
        for e in self.find(first).map_or(self.entries.range(0..0), |i| self.entries.range(i..)) {
            if !e.audience.includes(reader) {
                continue;
            }
            at = at.max(e.start);
            let here = (e.end() - at) as usize;
            if n < here {
                return at + n as u64;
            }
            n -= here;
            at = e.end();
            if n == 0 {
                break;
            }
        }
        at
    }

    /// When the message at position `cursor` was said, if something is owed
    /// there: how long its reader has been waiting for it.
    pub fn waiting_since(&self, cursor: u64) -> Option<Instant> {
        self.find(cursor).map(|i| self.entries[i].at)
    }

    /// Drop the entries that end at or before `oldest`, the lowest cursor.
    pub fn forget_before(&mut self, oldest: u64) {
        while self.entries.front().is_some_and(|e| e.end() <= oldest) {
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `reader` is owed from `from`, taken `step` bytes at a time;
    /// returns the bytes and the final cursor.
    fn drain(log: &RoomLog, reader: Id, mut from: u64, step: usize) -> (Vec<u8>, u64) {
        let mut got = Vec::new();
        loop {
            let mut out = Vec::new();
            let first = log.gather(reader, from, u64::MAX, 1 << 20, &mut out);
            if out.is_empty() {
                return (got, first);
            }
            let n = out.len().min(step);
            got.extend_from_slice(&out[..n]);
            from = log.advance(reader, first, n);
        }
    }

    #[test]
    fn each_reader_gets_what_is_for_it_in_order_however_its_socket_takes_it() {
        let mut log = RoomLog::new();
        log.append(b"welcome 1|", Audience::Only(1));
        log.append(b"1 joined|", Audience::AllBut(1));
        log.append(b"1 says hi|", Audience::AllBut(1));
        log.append(b"2 says yo|", Audience::AllBut(2));
        log.append(b"3 left|", Audience::All);
        for step in [1, 3, 7, 1000] {
            assert_eq!(
                drain(&log, 1, 0, step),
                (b"welcome 1|2 says yo|3 left|".to_vec(), log.head())
            );
            assert_eq!(drain(&log, 2, 0, step).0, b"1 joined|1 says hi|3 left|");
        }
        // A newcomer starts at the head: nothing said before it joined.
        assert_eq!(drain(&log, 4, log.head(), 5).0, b"");
    }

    #[test]
    fn a_closing_reader_gets_nothing_past_its_end() {
        let mut log = RoomLog::new();
        log.append(b"before|", Audience::All);
        let until = log.head();
        log.append(b"after|", Audience::All);
        let mut out = Vec::new();
        let first = log.gather(1, 0, until, 1 << 20, &mut out);
        assert_eq!((out.as_slice(), first), (&b"before|"[..], 0));
        out.clear();
        assert_eq!(log.gather(1, until, until, 1 << 20, &mut out), until);
        assert!(out.is_empty());
    }

    #[test]
    fn memory_is_what_the_slowest_cursor_still_needs() {
        let mut log = RoomLog::new();
        for _ in 0..100 {
            log.append(&[b'x'; 1000], Audience::All);
        }
        assert_eq!(log.held(), 100_000);
        assert!(log.waiting_since(50_500).is_some());
        log.forget_before(50_500);
        assert_eq!(log.held(), 50_000, "the entry holding the cursor stays");
        let (rest, end) = drain(&log, 9, 50_500, 4096);
        assert_eq!((rest.len(), end), (49_500, 100_000));
        log.forget_before(end);
        assert_eq!(log.held(), 0);
        assert!(log.waiting_since(end).is_none());
    }
}
