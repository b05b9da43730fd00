//! Line framing: turning the bytes of a TCP stream back into the lines a user typed.
//!
//! The report's `recv_and_send_msg` treats whatever one `recv` returns as one
//! message. TCP promises only an ordered stream of bytes: two lines typed quickly
//! (or pasted) can arrive in one `recv`, and one line can arrive split over two.
//! [`LineFramer`] keeps the bytes of an unfinished line between `recv`s, per client,
//! and hands out each complete line once, in order.
//!
//! Memory stays bounded: a line longer than the cap (the report's `RECV_BUFF`,
//! 4 KiB) is handed out in pieces of at most the cap, cut at a UTF-8 character
//! boundary where one is near. That is what the report's own server ends up doing
//! with such a line (it relays each 4 KiB `recv` separately), but here nothing is
//! lost or garbled, and a piece is never mistaken for an empty "leave" line.

/// One line (or piece of a long line) taken out of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The bytes of the line, without the `\n` (a `\r` before it is still there).
    pub bytes: &'a [u8],
    /// `false` when the line was longer than the cap and this is one of its pieces
    /// (the last piece included). Only a whole line can be an empty "leave" line.
    pub whole: bool,
}

impl Line<'_> {
    /// Whether this is the empty line by which a client leaves the room.
    ///
    /// The report compares the received data with `"\n"`. We also accept `"\r\n"`,
    /// which is what `telnet` (and `nc -C`) send for Enter.
    // ANCHOR: is_leave
    pub fn is_leave(&self) -> bool {
        self.whole && (self.bytes.is_empty() || self.bytes == b"\r")
    }
    // ANCHOR_END: is_leave
}

/// Per-client buffer that reassembles lines from the chunks `recv` returns.
///
/// ```
/// use select_chat::framing::LineFramer;
/// let mut framer = LineFramer::new(4096);
/// let mut lines = Vec::new();
/// // Two recvs: one line split in two, then another line.
/// framer.feed(b"hel", |l| lines.push(l.bytes.to_vec()));
/// framer.feed(b"lo\nworld\n", |l| lines.push(l.bytes.to_vec()));
/// assert_eq!(lines, [b"hello".to_vec(), b"world".to_vec()]);
/// ```
///
/// Lifecycle: created empty when the client is accepted, fed after every `recv`,
/// dropped with the client. Between calls it holds at most `max` bytes: the start
/// of a line whose `\n` has not arrived yet.
#[derive(Debug)]
pub struct LineFramer {
    partial: Vec<u8>,
    max: usize,
    /// The line being assembled has already had pieces handed out.
    cut: bool,
}

impl LineFramer {
    /// A framer that hands out lines of at most `max` bytes (at least 4, so a UTF-8
    /// character always fits).
    pub fn new(max: usize) -> Self {
        LineFramer {
            partial: Vec::new(),
            max: max.max(4),
            cut: false,
        }
    }

    /// Bytes held of an unfinished line.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Feed the bytes of one `recv`; `emit` is called for every complete line (and
    /// every piece of an over-long line), in order.
    pub fn feed(&mut self, mut data: &[u8], mut emit: impl FnMut(Line<'_>)) {
        while !data.is_empty() {
            let (mut segment, complete) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let segment = &data[..i];
                    data = &data[i + 1..];
                    (segment, true)
                }
                None => {
                    let segment = data;
                    data = &[];
                    (segment, false)
                }
            };
            // Fast path: a whole short line inside one chunk is handed out in place.
            if complete && self.partial.is_empty() && !self.cut && segment.len() <= self.max {
                emit(Line {
                    bytes: segment,
                    whole: true,
                });
                continue;
            }
            // Slow path: collect into `partial`, never letting it pass max + 1 bytes.
            loop {
                let room = self.max + 1 - self.partial.len();
                let take = segment.len().min(room);
                self.partial.extend_from_slice(&segment[..take]);
                segment = &segment[take..];
                if self.partial.len() > self.max {
                    // Cut at most `max` bytes. At least one byte stays behind, so the
                    // rest of the line is never empty and never reads as "leave".
                    let cut = utf8_cut(&self.partial, self.max);
                    emit(Line {
                        bytes: &self.partial[..cut],
                        whole: false,
                    });
                    self.partial.drain(..cut);
                    self.cut = true;
                }
                if segment.is_empty() {
                    break;
                }
            }
            if complete {
                emit(Line {
                    bytes: &self.partial,
                    whole: !self.cut,
                });
                self.partial.clear();
                self.cut = false;
            }
        }
    }

    /// At end of stream: hand out an unfinished last line, if there is one.
    ///
    /// `printf 'bye' | nc host port` sends a line with no `\n`; it is still a line.
    pub fn finish(&mut self, mut emit: impl FnMut(Line<'_>)) {
        if !self.partial.is_empty() {
            emit(Line {
                bytes: &self.partial,
                whole: !self.cut,
            });
        }
        self.partial.clear();
        self.cut = false;
    }
}

/// Where to cut `buf` to get at most `max` bytes without splitting a UTF-8
/// character: back off over up to three continuation bytes; if the bytes are not
/// UTF-8 at all, cut at `max`.
fn utf8_cut(buf: &[u8], max: usize) -> usize {
    debug_assert!(buf.len() > max);
    (max.saturating_sub(3)..=max)
        .rev()
        .find(|&i| i > 0 && buf[i] & 0b1100_0000 != 0b1000_0000)
        .unwrap_or(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(framer: &mut LineFramer, chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut out = Vec::new();
        for chunk in chunks {
            framer.feed(chunk, |l| out.push((l.bytes.to_vec(), l.whole)));
        }
        out
    }

    #[test]
    fn two_lines_in_one_chunk_are_two_lines() {
        let mut f = LineFramer::new(4096);
        let got = lines(&mut f, &[b"hi\nthere\n"]);
        assert_eq!(got, vec![(b"hi".to_vec(), true), (b"there".to_vec(), true)]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn one_line_over_three_chunks_is_one_line() {
        let mut f = LineFramer::new(4096);
        let got = lines(&mut f, &[b"he", b"ll", b"o\nwor"]);
        assert_eq!(got, vec![(b"hello".to_vec(), true)]);
        assert_eq!(f.pending(), 3);
    }

    #[test]
    fn empty_and_crlf_lines_are_leave_lines() {
        let mut f = LineFramer::new(16);
        let mut leaves = Vec::new();
        f.feed(b"\n\r\n \n", |l| leaves.push(l.is_leave()));
        assert_eq!(leaves, vec![true, true, false]);
    }

    #[test]
    fn long_line_is_cut_into_capped_pieces_and_nothing_is_lost() {
        let mut f = LineFramer::new(8);
        let got = lines(&mut f, &[b"0123456789abcdefghij\n"]);
        let joined: Vec<u8> = got.iter().flat_map(|(b, _)| b.clone()).collect();
        assert_eq!(joined, b"0123456789abcdefghij");
        assert!(got.iter().all(|(b, whole)| b.len() <= 8 && !whole));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn line_of_exactly_the_cap_is_whole_even_when_newline_comes_later() {
        let mut f = LineFramer::new(8);
        let got = lines(&mut f, &[b"01234567", b"\n"]);
        assert_eq!(got, vec![(b"01234567".to_vec(), true)]);
    }

    #[test]
    fn tail_of_a_cut_line_is_never_a_leave() {
        // 8 bytes + "\r\n": the piece is 8 bytes, the tail is "\r", not a leave.
        let mut f = LineFramer::new(8);
        let mut seen = Vec::new();
        f.feed(b"01234567\r", |l| seen.push(l.is_leave()));
        f.feed(b"\n", |l| seen.push(l.is_leave()));
        assert_eq!(seen, vec![false, false]);
    }

    #[test]
    fn cut_does_not_split_a_utf8_character() {
        let mut f = LineFramer::new(8);
        // "abcdefg" + "é" (2 bytes) + "z": the cap falls inside "é".
        let got = lines(&mut f, &["abcdefgéz\n".as_bytes()]);
        assert_eq!(got[0].0, b"abcdefg");
        assert_eq!(got[1].0, "éz".as_bytes());
    }

    #[test]
    fn memory_stays_bounded_for_a_stream_without_newlines() {
        let mut f = LineFramer::new(4096);
        let chunk = vec![b'x'; 65536];
        let mut total = 0;
        for _ in 0..32 {
            f.feed(&chunk, |l| total += l.bytes.len());
            assert!(f.pending() <= 4096);
        }
        f.finish(|l| total += l.bytes.len());
        assert_eq!(total, 32 * 65536);
    }

    #[test]
    fn finish_hands_out_an_unterminated_last_line() {
        let mut f = LineFramer::new(4096);
        let mut got = Vec::new();
        f.feed(b"a\nbye", |l| got.push(l.bytes.to_vec()));
        f.finish(|l| got.push(l.bytes.to_vec()));
        assert_eq!(got, vec![b"a".to_vec(), b"bye".to_vec()]);
    }
}
