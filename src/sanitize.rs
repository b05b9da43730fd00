//! Making a peer's bytes safe to show on somebody else's terminal.
//!
//! The report relays a client's bytes as they came. A terminal obeys the control
//! bytes in what it prints, so a classmate could send `ESC [ 2 J` (clear the
//! screen), a `\r` that overwrites the line, an OSC sequence that sets the window
//! title or the clipboard, or a right-to-left override that makes text read
//! backwards. Two filters stop that:
//!
//! - [`sanitize_line`] (server side): a relayed line keeps no control byte at all.
//!   C0 controls and DEL are shown in caret notation (`ESC` becomes `^[`, as
//!   `cat -v` shows it); C1 controls, line separators, and invisible characters
//!   (Unicode's format characters, category Cf: zero-width spaces and joiners,
//!   bidi overrides, the BOM, the soft hyphen, tag characters; and the Hangul
//!   fillers) become `<U+XXXX>`; bytes that are not UTF-8 become U+FFFD.
//! - [`TerminalFilter`] (client side): what the server sends may colour text and
//!   make it bold (SGR sequences, `ESC [ ... m`, with colour and bold parameters
//!   only: no conceal, blink or reverse) and use `\r`/`\n`, as the report's texts
//!   do; every other control is shown escaped the same way. This protects our
//!   client from a server that does not sanitise, such as the report's `srv.py`.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// How a character that must not reach a terminal is shown, or `None` if it is safe.
///
/// `Some(Escape::Caret(c))` for C0 controls and DEL (`^[`, `^M`, `^?`), and
/// `Some(Escape::Code(u))` for C1 controls and invisible formatting characters.
// ANCHOR: escape_for
fn escape_for(c: char) -> Option<Escape> {
    match c {
        '\t' => None,
        '\0'..='\x1f' => Some(Escape::Caret((c as u8) ^ 0x40)),
        '\x7f' => Some(Escape::Caret(b'?')),
        // C1 controls: U+009B is a one-character CSI on some terminals.
        '\u{80}'..='\u{9f}'
        // Line and paragraph separators: line breaks that the server did not make.
        | '\u{2028}'
        | '\u{2029}'
        // Hangul fillers: letters that draw nothing.
        | '\u{115f}'
        | '\u{1160}'
        | '\u{3164}'
        | '\u{ffa0}' => Some(Escape::Code(c as u32)),
        // Unicode's format characters (category Cf), invisible, some of which
        // change how the text around them is shown: the soft hyphen, zero-width
        // spaces and joiners, bidi overrides (Trojan Source, CVE-2021-42574), the
        // BOM, tag characters (which can hide a whole text after an emoji).
        c if c.general_category() == GeneralCategory::Format => Some(Escape::Code(c as u32)),
        _ => None,
    }
}
// ANCHOR_END: escape_for

enum Escape {
    Caret(u8),
    Code(u32),
}

/// Append `s` to `out`, with every unsafe character shown escaped.
fn push_escaped(out: &mut Vec<u8>, s: &str) {
    // Fast path: printable ASCII (the common case) is copied as it is.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\t') {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let mut utf8 = [0u8; 4];
    for c in s.chars() {
        match escape_for(c) {
            None => out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
            Some(Escape::Caret(b)) => out.extend_from_slice(&[b'^', b]),
            Some(Escape::Code(u)) => out.extend_from_slice(format!("<U+{u:04X}>").as_bytes()),
        }
    }
}

/// Append to `out` the text of a line a client sent, made safe to relay.
///
/// Steps, in order: bytes that are not UTF-8 become U+FFFD (the report's
/// `decode('utf-8')` would raise instead and drop the client); if `ends_line`,
/// trailing white space is stripped (the report's `rstrip()`; a piece in the middle
/// of a long line keeps its spaces); then every control or invisible formatting
/// character is escaped.
///
/// ```
/// let mut out = Vec::new();
/// select_chat::sanitize::sanitize_line(&mut out, b"\x1b[2Jhi \r", true);
/// assert_eq!(out, b"^[[2Jhi");
/// ```
pub fn sanitize_line(out: &mut Vec<u8>, line: &[u8], ends_line: bool) {
    let text = String::from_utf8_lossy(line);
    push_escaped(out, if ends_line { text.trim_end() } else { &text });
}

/// The longest escape sequence the client holds back while waiting for its end.
const ESCAPE_HELD: usize = 32;

/// Client-side filter for what the server sends, carried across `recv`s.
///
/// Lets through `\r`, `\n`, `\t`, printable text and SGR colour sequences
/// (`ESC [ digits ; ... m`), the last only when `colour` is on; escapes everything
/// else. An escape sequence or UTF-8 character split between two `recv`s is held
/// back (at most 32 bytes) until the rest arrives.
#[derive(Debug, Default)]
pub struct TerminalFilter {
    held: Vec<u8>,
}

impl TerminalFilter {
    /// A filter with nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Filter one chunk from the server, appending what may be shown to `out`.
    pub fn filter(&mut self, input: &[u8], colour: bool, out: &mut Vec<u8>) {
        let mut work = std::mem::take(&mut self.held);
        work.extend_from_slice(input);
        let mut rest: &[u8] = &work;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.filter_text(text, true, colour, out);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    let valid = std::str::from_utf8(valid).unwrap_or_default();
                    match e.error_len() {
                        Some(bad) => {
                            self.filter_text(valid, false, colour, out);
                            out.extend_from_slice("\u{fffd}".as_bytes());
                            rest = &after[bad..];
                        }
                        None => {
                            // A UTF-8 character cut short by the end of the chunk.
                            self.filter_text(valid, false, colour, out);
                            self.held.extend_from_slice(after);
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Filter valid text; `at_end` says nothing follows it in this chunk, so an
    /// unfinished escape sequence at its end may be held for the next chunk.
    fn filter_text(&mut self, text: &str, at_end: bool, colour: bool, out: &mut Vec<u8>) {
        let mut rest = text;
        while let Some(esc) = rest.find('\x1b') {
            push_client_text(out, &rest[..esc]);
            let seq = &rest[esc..];
            match sgr_len(seq.as_bytes()) {
                Sgr::Complete(n) => {
                    if colour {
                        out.extend_from_slice(&seq.as_bytes()[..n]);
                    }
                    rest = &seq[n..];
                }
                Sgr::Unfinished if at_end && seq.len() <= ESCAPE_HELD => {
                    self.held.extend_from_slice(seq.as_bytes());
                    return;
                }
                Sgr::Unfinished | Sgr::Not => {
                    out.extend_from_slice(b"^[");
                    rest = &seq[1..];
                }
            }
        }
        push_client_text(out, rest);
    }
}

/// Text between escape sequences, on the client: line breaks the server made are
/// kept, the rest goes through the same escaping as on the server.
fn push_client_text(out: &mut Vec<u8>, text: &str) {
    let mut rest = text;
    while let Some(i) = rest.find(['\r', '\n']) {
        push_escaped(out, &rest[..i]);
        out.push(rest.as_bytes()[i]);
        rest = &rest[i + 1..];
    }
    push_escaped(out, rest);
}

enum Sgr {
    /// An SGR sequence of this many bytes.
    Complete(usize),
    /// Could still become one if more bytes came.
    Unfinished,
    /// Some other escape sequence.
    Not,
}

/// Whether the parameters of an SGR sequence only set colours and bold: reset
/// (0 or none), bold (1, and 22 to undo it), foreground and background colours
/// (30-37, 39, 40-47, 49, 90-97, 100-107). Not conceal (8), which could hide the
/// client's own prompt, nor blink, reverse, underline, or 256-colour codes.
fn colour_only(params: &[u8]) -> bool {
    params.split(|&b| b == b';').all(|p| {
        let n = std::str::from_utf8(p)
            .ok()
            .and_then(|p| if p.is_empty() { Some(0) } else { p.parse::<u32>().ok() });
        matches!(n, Some(0 | 1 | 22 | 30..=37 | 39 | 40..=47 | 49 | 90..=97 | 100..=107))
    })
}

/// Recognise `ESC [ [0-9;]* m` at the start of `seq` (which starts with ESC), with
/// parameters that only set colours and bold.
fn sgr_len(seq: &[u8]) -> Sgr {
    match seq.get(1) {
        None => return Sgr::Unfinished,
        Some(b'[') => {}
        Some(_) => return Sgr::Not,
    }
    // Decide from the first ESCAPE_HELD bytes only, so that the answer is the same
    // whether the sequence arrives in one chunk or in several (found by fuzzing).
    for (i, &b) in seq.iter().enumerate().take(ESCAPE_HELD).skip(2) {
        match b {
            b'0'..=b'9' | b';' => {}
            b'm' if colour_only(&seq[2..i]) => return Sgr::Complete(i + 1),
            _ => return Sgr::Not,
        }
    }
    if seq.len() < ESCAPE_HELD { Sgr::Unfinished } else { Sgr::Not }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(line: &[u8]) -> String {
        let mut out = Vec::new();
        sanitize_line(&mut out, line, true);
        String::from_utf8(out).expect("sanitised output is UTF-8")
    }

    fn client(chunks: &[&[u8]], colour: bool) -> Vec<u8> {
        let mut f = TerminalFilter::new();
        let mut out = Vec::new();
        for c in chunks {
            f.filter(c, colour, &mut out);
        }
        out
    }

    #[test]
    fn plain_text_is_unchanged_but_trailing_space_is_stripped() {
        assert_eq!(clean(b"hello world  \t\r"), "hello world");
        assert_eq!(clean("héllo wörld".as_bytes()), "héllo wörld");
    }

    #[test]
    fn escape_sequences_are_shown_inert() {
        assert_eq!(clean(b"\x1b[2J\x1b]0;pwned\x07"), "^[[2J^[]0;pwned^G");
        assert_eq!(clean(b"a\rb\x08c\x7f"), "a^Mb^Hc^?");
        assert_eq!(clean(b"\0"), "^@");
    }

    #[test]
    fn c1_controls_and_bidi_overrides_are_shown_as_code_points() {
        assert_eq!(clean("x\u{9b}2J".as_bytes()), "x<U+009B>2J");
        assert_eq!(clean("abc\u{202e}fed".as_bytes()), "abc<U+202E>fed");
        assert_eq!(clean("a\u{2028}b".as_bytes()), "a<U+2028>b");
    }

    #[test]
    fn invisible_and_format_characters_are_shown_as_code_points() {
        // Zero-width space, non-joiner, joiner, word joiner, BOM, soft hyphen, the
        // Hangul fillers, Arabic letter mark, invisible times, a tag character.
        for c in [
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{00ad}',
            '\u{115f}',
            '\u{1160}',
            '\u{3164}',
            '\u{ffa0}',
            '\u{061c}',
            '\u{2062}',
            '\u{e0041}',
        ] {
            let got = clean(format!("a{c}b").as_bytes());
            assert_eq!(got, format!("a<U+{:04X}>b", c as u32), "{:04X}", c as u32);
        }
    }

    #[test]
    fn only_colour_and_bold_pass_the_client() {
        let got = client(&[b"\x1b[31;1mred\x1b[8mconceal\x1b[5;7mblink\x1b[38;5;9mx\x1b[0m"], true);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "\x1b[31;1mred^[[8mconceal^[[5;7mblink^[[38;5;9mx\x1b[0m"
        );
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        // A raw C1 byte, an overlong '/', and a UTF-8-encoded lone surrogate.
        let got = clean(b"a\x9bb\xc0\xafc\xed\xa0\x80d");
        assert!(got.starts_with("a\u{fffd}b\u{fffd}"), "{got:?}");
        assert!(got.ends_with("c\u{fffd}\u{fffd}\u{fffd}d"), "{got:?}");
        assert!(!got.chars().any(|c| c.is_control()));
    }

    #[test]
    fn client_keeps_the_server_colours_and_line_breaks() {
        let msg = b"\x1b[34m\x1b[1m\r> New user 1.2.3.4:5 entered\n\x1b[0m";
        assert_eq!(client(&[msg], true), msg.to_vec());
        assert_eq!(client(&[msg], false), b"\r> New user 1.2.3.4:5 entered\n".to_vec());
    }

    #[test]
    fn client_escapes_what_is_not_colour() {
        let got = client(&[b"a\x1b[2Jb\x1b]52;c;eA==\x07c"], true);
        assert_eq!(got, b"a^[[2Jb^[]52;c;eA==^Gc".to_vec());
    }

    #[test]
    fn chunking_never_changes_what_the_client_shows() {
        // Regression input from the fuzzer: an SGR sequence whose `m` falls just
        // past the hold limit was accepted whole but refused in pieces.
        let long = [b"\x1b[".as_slice(), &[b'6'; 31], b"mx"].concat();
        let whole = client(&[&long], false);
        let pieces: Vec<&[u8]> = long.chunks(3).collect();
        assert_eq!(client(&pieces, false), whole);
        assert_eq!(whole, [b"^[[".as_slice(), &[b'6'; 31], b"mx"].concat());
    }

    #[test]
    fn client_holds_a_split_sequence_until_its_end_arrives() {
        let got = client(&[b"x\x1b[3", b"1mred\x1b", b"[0m"], true);
        assert_eq!(got, b"x\x1b[31mred\x1b[0m".to_vec());
        let e_acute = "é".as_bytes();
        let got = client(&[&e_acute[..1], &e_acute[1..]], true);
        assert_eq!(got, e_acute.to_vec());
    }
}
