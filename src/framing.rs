//! Line framing: turning the bytes of a TCP stream back into the lines a user typed.
//!
//! The report's `recv_and_send_msg` treats whatever one `recv` returns as one
//! message. TCP promises only an ordered stream of bytes: two lines typed quickly
//! (or pasted) can arrive in one `recv`, and one line can arrive split over two.
//! [`LineFramer`] keeps the received bytes of one client and hands back one
//! complete line at a time ([`LineFramer::next_line`]), in order, each once.
//!
//! It holds at most one `recv` (the report's `RECV_BUFF`, 4 KiB) beyond an
//! unfinished line: the server receives again only when every complete line has
//! been handed out, so a fast sender's bytes wait in the kernel, where TCP's flow
//! control slows the sender down.
//!
//! A line longer than the cap (4 KiB) is handed out in pieces of at most the cap.
//! That is what the report's own server ends up doing with such a line (it relays
//! each 4 KiB `recv` separately), but here nothing is lost or garbled: a piece is
//! never mistaken for an empty "leave" line, keeps its spaces (only the end of a
//! line loses its trailing white space, as with the report's `rstrip`), and is
//! never cut inside a UTF-8 character or just before a combining mark
//! ([`cut_point`]). `\r\n` ends a line like `\n` (telnet sends it for Enter).

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// One line (or piece of a long line) taken out of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The bytes of the line, without its `\n` or `\r\n`.
    pub bytes: &'a [u8],
    /// `false` when the line was longer than the cap and this is one of its pieces
    /// (the last one included). Only a whole line can be an empty "leave" line.
    pub whole: bool,
    /// This is the end of its line: a whole line, or the last piece of a long one.
    /// Trailing white space is stripped there, and only there.
    pub ends: bool,
}

impl Line<'_> {
    /// Whether this is the empty line by which a client leaves the room.
    ///
    /// The report compares the received data with `"\n"`. The framer has already
    /// taken off the `\n`, and the `\r` of telnet's `\r\n`, so both are empty here.
    // ANCHOR: is_leave
    pub fn is_leave(&self) -> bool {
        self.whole && self.bytes.is_empty()
    }
    // ANCHOR_END: is_leave

    /// The last piece of a long line, and nothing but the white space that the
    /// report's `rstrip` removes: not worth a message of its own.
    pub fn is_blank_tail(&self) -> bool {
        !self.whole && self.ends && String::from_utf8_lossy(self.bytes).trim_end().is_empty()
    }
}

/// Per-client buffer that reassembles lines from the chunks `recv` returns.
///
/// ```
/// use select_chat::framing::LineFramer;
/// let mut framer = LineFramer::new(4096);
/// let mut lines = Vec::new();
/// // Two recvs: one line split in two, then another line.
/// for chunk in [&b"hel"[..], b"lo\r\nworld\n"] {
///     // Here `recv` is played by a copy.
///     framer.fill(|space| Ok(chunk.len()).inspect(|&n| space[..n].copy_from_slice(chunk)))
///         .unwrap();
///     while let Some(line) = framer.next_line() {
///         lines.push(line.bytes.to_vec());
///     }
/// }
/// assert_eq!(lines, [b"hello".to_vec(), b"world".to_vec()]);
/// ```
///
/// Lifecycle: created empty when the client is accepted; filled by `recv`
/// ([`LineFramer::fill`]) only when it [wants input](LineFramer::wants_input); emptied line by line; told about the
/// end of the stream ([`LineFramer::end`]); dropped with the client.
#[derive(Debug)]
pub struct LineFramer {
    /// `buf[start..]`: received and not handed out yet.
    buf: Vec<u8>,
    start: usize,
    max: usize,
    /// The line being assembled has already had pieces handed out.
    cut: bool,
    /// The peer closed its side: what is held is all there will be.
    ended: bool,
}

impl LineFramer {
    /// A framer that hands out lines of at most `max` bytes (at least 4, so a UTF-8
    /// character always fits).
    pub fn new(max: usize) -> Self {
        LineFramer { buf: Vec::new(), start: 0, max: max.max(4), cut: false, ended: false }
    }

    /// Nothing complete is held: time to `recv` again (unless the stream ended).
    pub fn wants_input(&self) -> bool {
        !self.ended && !self.has_line()
    }

    /// The stream ended and every line has been handed out.
    pub fn is_done(&self) -> bool {
        self.ended && self.start == self.buf.len()
    }

    /// Receive more: lend `recv` room for one chunk (the cap, the report's
    /// `RECV_BUFF`) after what is held, and keep what it wrote. Returns what
    /// `recv` returned; on `Ok(0)` the caller says [`LineFramer::end`].
    pub fn fill(
        &mut self,
        recv: impl FnOnce(&mut [u8]) -> nix::Result<usize>,
    ) -> nix::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let held = self.buf.len();
        self.buf.resize(held + self.max, 0);
        let got = recv(&mut self.buf[held..]);
        self.buf.truncate(held + *got.as_ref().unwrap_or(&0));
        got
    }

    /// The peer closed its side (`recv` returned 0): an unfinished last line will
    /// be handed out as it is.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Whether [`LineFramer::next_line`] has something to hand out now.
    fn has_line(&self) -> bool {
        let rest = &self.buf[self.start..];
        rest.contains(&b'\n') || must_cut(rest, self.max) || (self.ended && !rest.is_empty())
    }

    /// The next complete line, or piece of a long line, if there is one.
    pub fn next_line(&mut self) -> Option<Line<'_>> {
        let rest = &self.buf[self.start..];
        // Where the line ends: at its `\n`, or where the stream ended; `None`: it
        // has no end yet but is already too long for one piece.
        let end = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => Some(i),
            None if self.ended && !rest.is_empty() => Some(rest.len()),
            None if must_cut(rest, self.max) => None,
            None => return None,
        };
        if let Some(end) = end {
            let len = if rest[..end].ends_with(b"\r") { end - 1 } else { end };
            if len <= self.max {
                // The end of a line: whole, or the last piece of a long one.
                let (from, whole) = (self.start, !self.cut);
                self.start += (end + 1).min(rest.len());
                self.cut = false;
                return Some(Line { bytes: &self.buf[from..from + len], whole, ends: true });
            }
        }
        // Longer than the cap: hand out a piece, and keep the rest.
        let from = self.start;
        let cut = cut_point(&self.buf[from..], self.max);
        self.start += cut;
        self.cut = true;
        Some(Line { bytes: &self.buf[from..from + cut], whole: false, ends: false })
    }
}

/// Held bytes with no newline that can no longer become a line of at most `max`
/// bytes: more than `max`, unless the one extra byte is a `\r` that may be
/// followed by `\n`.
fn must_cut(rest: &[u8], max: usize) -> bool {
    rest.len() > max + 1 || (rest.len() == max + 1 && rest[max] != b'\r')
}

/// Where to cut `buf` (longer than `max`) to get a piece of at most `max` bytes:
/// never inside a UTF-8 character, and not just before a combining mark, which
/// belongs with the character before it (`e` + U+0301 is one `é` on screen).
///
/// The rule, tested below: back off from `max` over UTF-8 continuation bytes, then
/// over marks (Unicode's category M: combining accents, vowel signs, variation
/// selectors) and emoji skin tones (U+1F3FB-1F3FF), at most 32 bytes; bytes that
/// are not UTF-8, or a run of marks longer than that, are cut at `max`.
pub fn cut_point(buf: &[u8], max: usize) -> usize {
    debug_assert!(buf.len() > max);
    let is_boundary = |i: usize| buf[i] & 0b1100_0000 != 0b1000_0000;
    let Some(mut cut) = (max.saturating_sub(3)..=max).rev().find(|&i| i > 0 && is_boundary(i))
    else {
        return max;
    };
    let floor = cut.saturating_sub(32);
    let mut at = cut;
    while at > floor && starts_with_mark(&buf[at..]) {
        // Back to the start of the previous character.
        match (at.saturating_sub(4)..at).rev().find(|&i| is_boundary(i)) {
            Some(prev) if prev > 0 => at = prev,
            _ => return cut,
        }
    }
    if at > floor || !starts_with_mark(&buf[at..]) {
        cut = at;
    }
    cut
}

/// Whether `bytes` starts with a mark (Unicode's category M: combining accents,
/// vowel signs, variation selectors) or an emoji skin tone.
fn starts_with_mark(bytes: &[u8]) -> bool {
    let len = match bytes.first() {
        Some(b) if *b < 0x80 => return false,
        Some(b) if *b >= 0xf0 => 4,
        Some(b) if *b >= 0xe0 => 3,
        Some(_) => 2,
        None => return false,
    };
    let Some(c) =
        bytes.get(..len).and_then(|b| std::str::from_utf8(b).ok()).and_then(|s| s.chars().next())
    else {
        return false;
    };
    c.general_category_group() == GeneralCategoryGroup::Mark
        || ('\u{1f3fb}'..='\u{1f3ff}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `chunks` as successive recvs, then (if `end`) end the stream; collect
    /// every line handed out as (bytes, whole).
    fn lines(max: usize, chunks: &[&[u8]], end: bool) -> Vec<(Vec<u8>, bool)> {
        let mut f = LineFramer::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            assert!(f.wants_input(), "asked for input while holding a line");
            feed(&mut f, chunk);
            while let Some(l) = f.next_line() {
                out.push((l.bytes.to_vec(), l.whole));
            }
        }
        if end {
            f.end();
            while let Some(l) = f.next_line() {
                out.push((l.bytes.to_vec(), l.whole));
            }
            assert!(f.is_done());
        }
        out
    }

    /// One `recv` that returns `chunk` (which may be larger than a real one).
    fn feed(f: &mut LineFramer, chunk: &[u8]) {
        if chunk.len() <= f.max {
            let n = f.fill(|space| {
                space[..chunk.len()].copy_from_slice(chunk);
                Ok(chunk.len())
            });
            assert_eq!(n, Ok(chunk.len()));
        } else {
            f.buf.extend_from_slice(chunk);
        }
    }

    fn texts(got: &[(Vec<u8>, bool)]) -> Vec<String> {
        got.iter().map(|(b, _)| String::from_utf8_lossy(b).into_owned()).collect()
    }

    #[test]
    fn two_lines_in_one_chunk_are_two_lines() {
        let got = lines(4096, &[b"hi\nthere\n"], false);
        assert_eq!(got, vec![(b"hi".to_vec(), true), (b"there".to_vec(), true)]);
    }

    #[test]
    fn one_line_over_three_chunks_is_one_line() {
        let got = lines(4096, &[b"he", b"ll", b"o\nwor"], false);
        assert_eq!(got, vec![(b"hello".to_vec(), true)]);
    }

    #[test]
    fn empty_and_crlf_lines_are_leave_lines() {
        let mut f = LineFramer::new(16);
        feed(&mut f, b"\n\r\n \n");
        let mut leaves = Vec::new();
        while let Some(l) = f.next_line() {
            leaves.push(l.is_leave());
        }
        assert_eq!(leaves, vec![true, true, false]);
    }

    #[test]
    fn long_line_is_cut_into_capped_pieces_and_nothing_is_lost() {
        let got = lines(8, &[b"0123456789abcdefghij\n"], false);
        let joined: Vec<u8> = got.iter().flat_map(|(b, _)| b.clone()).collect();
        assert_eq!(joined, b"0123456789abcdefghij");
        assert!(got.iter().all(|(b, whole)| b.len() <= 8 && !whole));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn spaces_at_a_cut_are_kept() {
        let got = lines(8, &[b"abc     defgh\n"], false);
        assert_eq!(texts(&got), ["abc     ", "defgh"]);
    }

    #[test]
    fn a_line_of_exactly_the_cap_is_whole_with_lf_or_crlf() {
        assert_eq!(lines(8, &[b"01234567", b"\n"], false), vec![(b"01234567".to_vec(), true)]);
        assert_eq!(lines(8, &[b"01234567\r", b"\n"], false), vec![(b"01234567".to_vec(), true)]);
        assert_eq!(lines(8, &[b"01234567\r\n"], false), vec![(b"01234567".to_vec(), true)]);
    }

    #[test]
    fn the_blank_end_of_a_cut_line_is_marked() {
        // 8 bytes, then two spaces: rstrip would leave nothing of the last piece.
        let mut f = LineFramer::new(8);
        feed(&mut f, b"01234567  \r\n");
        assert!(!f.next_line().expect("piece").is_blank_tail());
        assert!(f.next_line().expect("tail").is_blank_tail());
        // A cut line ending in \r\n: no extra piece, and never a leave.
        let got = lines(8, &[b"0123456789\r\n"], false);
        assert_eq!(texts(&got), ["01234567", "89"]);
    }

    #[test]
    fn cut_does_not_split_a_utf8_character() {
        // "abcdefg" + "é" (2 bytes) + "z": the cap falls inside "é".
        let got = lines(8, &["abcdefgéz\n".as_bytes()], false);
        assert_eq!(texts(&got), ["abcdefg", "éz"]);
    }

    #[test]
    fn cut_does_not_separate_a_combining_mark_from_its_letter() {
        // "abcdef" + "e" + U+0301 (2 bytes): the cap (8) falls right before the mark.
        let got = lines(8, &["abcdefe\u{301}xyz\n".as_bytes()], false);
        assert_eq!(texts(&got), ["abcdef", "e\u{301}xyz"]);
        // A thumbs-up and its skin tone (4 bytes each) stay together too.
        let got = lines(8, &["abcd\u{1f44d}\u{1f3fd}!\n".as_bytes()], false);
        assert_eq!(texts(&got), ["abcd", "\u{1f44d}\u{1f3fd}", "!"]);
        // A run of marks longer than the look-back is cut anyway.
        let marks = "\u{301}".repeat(40);
        let line = format!("a{marks}\n");
        let got = lines(16, &[line.as_bytes()], false);
        assert!(got.iter().all(|(b, _)| b.len() <= 16 && std::str::from_utf8(b).is_ok()));
        assert_eq!(texts(&got).concat(), format!("a{marks}"));
    }

    #[test]
    fn memory_stays_bounded_for_a_stream_without_newlines() {
        let mut f = LineFramer::new(4096);
        let mut total = 0;
        for _ in 0..64 {
            assert!(f.wants_input());
            feed(&mut f, &[b'x'; 4096]);
            while let Some(l) = f.next_line() {
                total += l.bytes.len();
            }
            assert!(f.buf.len() - f.start <= 4097);
        }
        f.end();
        while let Some(l) = f.next_line() {
            total += l.bytes.len();
        }
        assert_eq!(total, 64 * 4096);
    }

    #[test]
    fn the_end_of_the_stream_hands_out_an_unterminated_last_line() {
        let got = lines(4096, &[b"a\nbye"], true);
        assert_eq!(texts(&got), ["a", "bye"]);
        assert!(got.iter().all(|(_, whole)| *whole));
    }

    #[test]
    fn a_short_recv_keeps_only_what_came() {
        let mut f = LineFramer::new(4096);
        feed(&mut f, b"ok\n");
        assert_eq!(f.fill(|_| Err(nix::errno::Errno::EAGAIN)), Err(nix::errno::Errno::EAGAIN));
        assert_eq!(f.next_line().map(|l| l.bytes.to_vec()), Some(b"ok".to_vec()));
        assert_eq!(f.next_line(), None);
        assert!(f.wants_input());
    }
}
