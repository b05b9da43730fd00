//! What the client's editor shows of the server: whole messages, wrapped by the
//! client itself, each row that does not start a message indented.
//!
//! Not in the report, whose client writes each `recv` as it came and a prompt
//! after it: a long message is cut by `[You]: ` wherever `recv` cut it, and the
//! terminal wraps long rows itself, so a classmate can pad a message with spaces to
//! the width and start the next row with `[alice]: ...`, which then looks exactly
//! like a message from alice. Here ([`Messages`]):
//!
//! - bytes are held until their line (`\n`) is complete: the prompt is drawn after
//!   each complete message, never inside one (a line longer than 64 KiB is shown
//!   in parts, with the prompt kept away until its end);
//! - the client breaks each message into rows of the terminal's width itself and
//!   starts every row but the first with two spaces: no row can start with text a
//!   peer placed there, so a row that starts with `[addr]: ` is a real message;
//! - the report's ` (error) ` mark, which its server sends *after* the leave
//!   notice's newline (and the report's client then erases with the next `\r`), is
//!   put back at the end of the notice it belongs to.

use crate::editor::char_width;

/// Bytes of one message held while its end has not arrived.
const MESSAGE_HELD: usize = 64 * 1024;

/// How every row of a message but the first begins.
const INDENT: &str = "  ";

/// The report's error mark, as its server sends it: after the colour reset that
/// ends the leave notice, or alone without colours.
const ERROR_MARK: [&[u8]; 2] = [b"\x1b[0m (error) ", b" (error) "];

/// The lines of what the server sends, cut back into whole messages.
///
/// Lifecycle: one per editor session; [`Messages::take`] is given what the
/// [`TerminalFilter`](crate::sanitize::TerminalFilter) let through after each
/// `recv`, and returns the messages that are complete.
#[derive(Debug, Default)]
pub struct Messages {
    /// The start of a message whose `\n` has not arrived.
    held: Vec<u8>,
    /// Part of the last message was shown already (it passed `MESSAGE_HELD`): the
    /// prompt waits for its end, and its next part continues its rows.
    continuing: bool,
}

/// A message to show, or part of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its bytes, with the server's colour codes, without its `\n`.
    pub text: Vec<u8>,
    /// It continues a message whose first part was shown already.
    pub continued: bool,
}

impl Messages {
    /// A message holder with nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a message is being shown in parts: no prompt until it ends.
    pub fn is_mid_message(&self) -> bool {
        self.continuing
    }

    /// Add the bytes of one `recv` (filtered); return the messages now complete.
    /// An error mark that arrives right after a message goes to its end; one that
    /// comes later (after the message was shown) is a message of its own.
    pub fn take(&mut self, bytes: &[u8]) -> Vec<Message> {
        self.held.extend_from_slice(bytes);
        let mut done: Vec<Message> = Vec::new();
        loop {
            // The report's " (error) " after a leave notice's newline.
            if let Some(mark) = ERROR_MARK.iter().find(|m| self.held.starts_with(m)) {
                let len = mark.len();
                match done.last_mut() {
                    Some(last) => last.text.extend_from_slice(b" (error)"),
                    None => done.push(Message { text: b" (error)".to_vec(), continued: true }),
                }
                self.held.drain(..len);
                continue;
            }
            let Some(end) = self.held.iter().position(|&b| b == b'\n') else {
                break;
            };
            let text: Vec<u8> = self.held.drain(..=end).take(end).collect();
            done.push(Message { text, continued: std::mem::take(&mut self.continuing) });
        }
        if self.held.len() > MESSAGE_HELD {
            done.push(Message {
                text: std::mem::take(&mut self.held),
                continued: std::mem::replace(&mut self.continuing, true),
            });
        }
        done
    }
}

/// The columns a character of a message may take on the reader's terminal, for
/// wrapping: the Unicode tables' width ([`char_width`]), but at least one column,
/// and two in the CJK blocks. Terminals disagree with the tables about spacing
/// vowel signs, prepended letters and a few CJK symbols (glibc's `wcwidth`, which
/// many terminals follow, gives them one or two columns where the tables give
/// zero or one). Counting wider than drawn only ends a row early; counting
/// narrower lets the terminal wrap a row the client did not, and a peer start a
/// row with text of its choosing.
pub fn wrap_width(c: char) -> usize {
    let cjk = matches!(u32::from(c), 0x2E80..=0x33FF | 0xFE30..=0xFE4F | 0x16FE0..=0x16FFF);
    char_width(c).max(if cjk { 2 } else { 1 })
}

/// The rows of `message` on a terminal `cols` wide: the report's leading `\r`
/// dropped, colour codes kept (they take no room), tabs made spaces, any other
/// `\r` shown as `^M`, and every row but the first (of the whole message)
/// indented. Each row ends with `\r\n`.
// ANCHOR: wrap
pub fn wrap(message: &Message, cols: usize, out: &mut Vec<u8>) {
    let cols = cols.max(INDENT.len() + 2);
    let text = String::from_utf8_lossy(&message.text);
    let mut column = 0;
    let mut started = false;
    if message.continued {
        out.extend_from_slice(INDENT.as_bytes());
        column = INDENT.len();
    }
    let mut rest: &str = &text;
    while let Some(c) = rest.chars().next() {
        // A colour code: copied, no room taken.
        if let Some(code) = rest.strip_prefix("\x1b[")
            && let Some(m) = code.find('m')
        {
            out.extend_from_slice(&rest.as_bytes()[..m + 3]);
            rest = &rest[m + 3..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        let mut utf8 = [0u8; 4];
        let shown: &str = match c {
            '\r' if !started => continue, // the report's "go to the row's start"
            '\r' => "^M",
            '\t' => "    ",
            _ => c.encode_utf8(&mut utf8),
        };
        started = true;
        for g in shown.chars() {
            let width = wrap_width(g);
            if column + width > cols {
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(INDENT.as_bytes());
                column = INDENT.len();
            }
            out.extend_from_slice(g.encode_utf8(&mut [0u8; 4]).as_bytes());
            column += width;
        }
    }
    out.extend_from_slice(b"\r\n");
}
// ANCHOR_END: wrap

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_widths_are_never_narrower_than_a_terminal_may_draw() {
        // Spacing vowel signs and a prepended letter the tables count zero, CJK
        // symbols they count narrow (glibc: 1, 1, 1, 2, 2, 2).
        for (c, at_least) in [
            ('\u{0bbe}', 1),
            ('\u{09be}', 1),
            ('\u{0d4e}', 1),
            ('\u{302e}', 2),
            ('\u{3248}', 2),
            ('\u{16ff0}', 2),
        ] {
            assert!(wrap_width(c) >= at_least, "{c:?}: {}", wrap_width(c));
        }
        assert_eq!(wrap_width('a'), 1);
        assert_eq!(wrap_width('\u{1f680}'), 2);
    }

    #[test]
    fn wrap_widths_are_at_least_glibcs() {
        // glibc's wcwidth in a UTF-8 locale, for every character it draws: what
        // many terminals follow. Skipped where no such locale is installed.
        unsafe extern "C" {
            fn wcwidth(c: libc::wchar_t) -> libc::c_int;
        }
        let ok = unsafe { !libc::setlocale(libc::LC_CTYPE, c"C.UTF-8".as_ptr()).is_null() };
        if !ok {
            eprintln!("skipped: no C.UTF-8 locale");
            return;
        }
        let narrower: Vec<char> = (0x20..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| {
                let theirs = unsafe { wcwidth(c as libc::wchar_t) };
                theirs > 0 && wrap_width(c) < theirs as usize
            })
            .collect();
        assert!(narrower.is_empty(), "narrower than glibc: {narrower:?}");
    }

    fn texts(messages: &[Message]) -> Vec<String> {
        messages.iter().map(|m| String::from_utf8_lossy(&m.text).into_owned()).collect()
    }

    #[test]
    fn messages_are_whole_however_recv_cut_them() {
        let mut m = Messages::new();
        assert!(m.take(b"\x1b[35m\r[a:1]: hel").is_empty());
        let got = m.take(b"lo\n\x1b[0m\x1b[35m\r[a:1]: two\n\x1b[0m");
        assert_eq!(texts(&got), ["\x1b[35m\r[a:1]: hello", "\x1b[0m\x1b[35m\r[a:1]: two"]);
    }

    #[test]
    fn the_error_mark_goes_back_to_its_leave_notice() {
        let mut m = Messages::new();
        let got = m.take(
            b"\x1b[31m\r< The user a:1 left (1 user online)\n\x1b[0m (error) \x1b[34m\r> New",
        );
        assert_eq!(texts(&got), ["\x1b[31m\r< The user a:1 left (1 user online) (error)"]);
        // Without colours, and arriving in a recv of its own: a row of its own.
        let mut m = Messages::new();
        m.take(b"\r< The user a:1 left (1 user online)\n");
        let got = m.take(b" (error) \r> New user b:2 entered (2 users online)\n");
        assert_eq!(texts(&got), [" (error)", "\r> New user b:2 entered (2 users online)"]);
        assert!(got[0].continued);
    }

    #[test]
    fn a_message_without_end_is_shown_in_parts() {
        let mut m = Messages::new();
        let got = m.take(&vec![b'x'; MESSAGE_HELD + 1]);
        assert_eq!(got.len(), 1);
        assert!(!got[0].continued && m.is_mid_message());
        let got = m.take(b"end\n");
        assert_eq!(texts(&got), ["end"]);
        assert!(got[0].continued && !m.is_mid_message());
    }

    #[test]
    fn rows_after_the_first_are_indented_so_padding_cannot_forge_a_message() {
        let forged = format!("\r[mallory:1]: {}[alice:2]: pay me", " ".repeat(30));
        let mut out = Vec::new();
        wrap(&Message { text: forged.into_bytes(), continued: false }, 40, &mut out);
        let out = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(rows[0], format!("[mallory:1]: {}", " ".repeat(27)));
        assert_eq!(rows[1], format!("  {}[alice:2]: pay me", " ".repeat(3)));
        assert!(rows.iter().skip(1).all(|r| r.is_empty() || r.starts_with("  ")));
    }

    #[test]
    fn colour_takes_no_room_and_wide_characters_two_columns() {
        let mut out = Vec::new();
        let text = "\x1b[35m\r[a]: 日本語\x1b[0m".as_bytes().to_vec();
        wrap(&Message { text, continued: false }, 8, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "\x1b[35m[a]: 日\r\n  本語\x1b[0m\r\n");
    }
}
