//! The client's line editor: the line being typed, kept by the program itself.
//!
//! Not in the report, whose terminal (in canonical mode) keeps the line, where the
//! program cannot see it or redraw it. With the terminal in raw mode
//! ([`crate::term`]), every key comes to the client, which keeps the line here,
//! the way linenoise and smallchat's client do, and redraws the prompt and the
//! line ([`Editor::render`]) after every message it shows. Pure logic: bytes in,
//! actions and screen bytes out; the tests drive it without a terminal.
//!
//! Keys: printable UTF-8 (wide characters take two columns, combining marks
//! none); Backspace and Delete (a whole character); Left and Right (Ctrl+B,
//! Ctrl+F); Home and End (Ctrl+A, Ctrl+E); Ctrl+U (erase before the cursor),
//! Ctrl+K (after it), Ctrl+W (the word before it); Up and Down (Ctrl+P, Ctrl+N)
//! for this session's history; Enter sends, or leaves on an empty line as in the
//! report; Ctrl+D leaves on an empty line (else deletes, as in readline); Ctrl+C
//! leaves as the report's `KeyboardInterrupt`; Ctrl+L redraws; Ctrl+Z suspends.

/// What a key asks the client to do, beyond editing the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Enter on a line: send it (without its `\n`).
    Send(String),
    /// Enter on an empty line, or Ctrl+D on one: leave the room, as the report does.
    Leave,
    /// Ctrl+C: the report's `KeyboardInterrupt`.
    Interrupt,
    /// Ctrl+Z: suspend (the terminal restored first), until `fg`.
    Suspend,
    /// Ctrl+L: clear the screen and redraw.
    Clear,
}

/// The longest line the editor keeps, in characters (the server cuts lines at
/// 4 KiB anyway; this only bounds memory when something pastes without end).
const MAX_CHARS: usize = 16 * 1024;

/// The line being typed, its cursor, and this session's history.
#[derive(Debug, Default)]
pub struct Editor {
    line: Vec<char>,
    /// Position of the cursor in `line`, in characters.
    cursor: usize,
    /// Lines sent in this session, oldest first.
    history: Vec<String>,
    /// While browsing the history: which entry is shown, and the line that was
    /// being typed before (given back past the newest entry).
    browsing: Option<(usize, Vec<char>)>,
    /// The start of a key that has not fully arrived (an escape sequence or a
    /// UTF-8 character cut between two reads).
    pending: Vec<u8>,
}

/// One key, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Char(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    Home,
    End,
    Up,
    Down,
    KillBefore,
    KillAfter,
    KillWord,
    CtrlC,
    CtrlD,
    CtrlL,
    CtrlZ,
    /// Anything else (an unknown escape sequence, a lone control character).
    Ignored,
}

impl Editor {
    /// An empty line and no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing has been typed on the line.
    pub fn is_empty(&self) -> bool {
        self.line.is_empty()
    }

    /// Apply the bytes of one `read` of the terminal; return what they ask beyond
    /// editing, in order. A key cut between two reads waits for its end.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        self.pending.extend_from_slice(bytes);
        let mut actions = Vec::new();
        let mut at = 0;
        while at < self.pending.len() {
            let Some((key, len)) = decode(&self.pending[at..]) else {
                break; // the rest of this key comes with the next read
            };
            at += len;
            if let Some(action) = self.apply(key) {
                actions.push(action);
            }
        }
        self.pending.drain(..at);
        actions
    }

    fn apply(&mut self, key: Key) -> Option<Action> {
        match key {
            Key::Char(c) if self.line.len() < MAX_CHARS => {
                self.line.insert(self.cursor, c);
                self.cursor += 1;
            }
            Key::Char(_) | Key::Ignored => {}
            Key::Enter if self.line.is_empty() => return Some(Action::Leave),
            Key::Enter => {
                let sent: String = self.line.drain(..).collect();
                self.cursor = 0;
                self.browsing = None;
                if self.history.last() != Some(&sent) {
                    self.history.push(sent.clone());
                }
                return Some(Action::Send(sent));
            }
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                self.line.remove(self.cursor);
            }
            Key::Delete if self.cursor < self.line.len() => {
                self.line.remove(self.cursor);
            }
            Key::Backspace | Key::Delete => {}
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right => self.cursor = (self.cursor + 1).min(self.line.len()),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = self.line.len(),
            Key::KillBefore => {
                self.line.drain(..self.cursor);
                self.cursor = 0;
            }
            Key::KillAfter => self.line.truncate(self.cursor),
            Key::KillWord => {
                let mut start = self.cursor;
                while start > 0 && self.line[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.line[start - 1] != ' ' {
                    start -= 1;
                }
                self.line.drain(start..self.cursor);
                self.cursor = start;
            }
            Key::Up => self.browse(true),
            Key::Down => self.browse(false),
            Key::CtrlC => return Some(Action::Interrupt),
            Key::CtrlD if self.line.is_empty() => return Some(Action::Leave),
            Key::CtrlD => return self.apply(Key::Delete),
            Key::CtrlL => return Some(Action::Clear),
            Key::CtrlZ => return Some(Action::Suspend),
        }
        None
    }

    /// Up (`older`) or Down through this session's history.
    fn browse(&mut self, older: bool) {
        let newest = self.history.len();
        let at = self.browsing.as_ref().map_or(newest, |(i, _)| *i);
        let to = if older { at.checked_sub(1) } else { (at < newest).then_some(at + 1) };
        let Some(to) = to else { return };
        if self.browsing.is_none() {
            self.browsing = Some((to, std::mem::take(&mut self.line)));
        }
        if let Some((i, typed)) = &mut self.browsing {
            *i = to;
            self.line = match self.history.get(to) {
                Some(entry) => entry.chars().collect(),
                None => typed.clone(),
            };
        }
        if to == newest {
            self.browsing = None;
        }
        self.cursor = self.line.len();
    }

    /// The bytes that draw `prompt` (which takes `prompt_width` columns) and the
    /// line on the current row of a terminal `cols` wide, and put the cursor where
    /// it is in the line. A line too long for the row scrolls sideways, so the
    /// cursor is always visible; nothing ever wraps to another row.
    // ANCHOR: render
    pub fn render(&self, prompt: &[u8], prompt_width: usize, cols: usize, out: &mut Vec<u8>) {
        // Room for the line: the row, less the prompt and a column for the cursor.
        let room = cols.saturating_sub(prompt_width + 1).max(1);
        let widths: Vec<usize> = self.line.iter().map(|&c| char_width(c)).collect();
        // The first character shown: as far left as possible, with the cursor in view.
        let mut first = 0;
        while widths[first..self.cursor].iter().sum::<usize>() > room {
            first += 1;
        }
        let mut shown = 0;
        let mut end = first;
        while end < self.line.len() && shown + widths[end] <= room {
            shown += widths[end];
            end += 1;
        }
        // Back to the start of the row, the prompt, the text, erase what is left of
        // an older, longer line, then back and right to the cursor.
        out.extend_from_slice(b"\r");
        out.extend_from_slice(prompt);
        out.extend(self.line[first..end].iter().collect::<String>().bytes());
        out.extend_from_slice(b"\x1b[K\r");
        let column = prompt_width + widths[first..self.cursor].iter().sum::<usize>();
        if column > 0 {
            out.extend_from_slice(format!("\x1b[{column}C").as_bytes());
        }
    }
    // ANCHOR_END: render
}

/// Decode the key at the start of `bytes`: `Some((key, bytes used))`, or `None` if
/// the key is not complete yet.
fn decode(bytes: &[u8]) -> Option<(Key, usize)> {
    let key = match bytes[0] {
        b'\r' | b'\n' => Key::Enter,
        0x7f | 0x08 => Key::Backspace,
        0x01 => Key::Home,
        0x02 => Key::Left,
        0x03 => Key::CtrlC,
        0x04 => Key::CtrlD,
        0x05 => Key::End,
        0x06 => Key::Right,
        0x0b => Key::KillAfter,
        0x0c => Key::CtrlL,
        0x0e => Key::Down,
        0x10 => Key::Up,
        0x15 => Key::KillBefore,
        0x17 => Key::KillWord,
        0x1a => Key::CtrlZ,
        0x1b => return escape(bytes),
        0x00..=0x1f => Key::Ignored,
        0x20..=0x7e => Key::Char(bytes[0] as char),
        _ => {
            // UTF-8: as many bytes as the first says; if they are not valid, one
            // byte is skipped.
            let len = match bytes[0] {
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => return Some((Key::Ignored, 1)),
            };
            if bytes.len() < len {
                return None;
            }
            return Some(match std::str::from_utf8(&bytes[..len]) {
                Ok(s) => (Key::Char(s.chars().next().unwrap_or(' ')), len),
                Err(_) => (Key::Ignored, 1),
            });
        }
    };
    Some((key, 1))
}

/// Decode an escape sequence: `ESC [ A` (Up) and its kin, `ESC [ 3 ~` (Delete),
/// `ESC O H` (Home)... Unknown ones are read to their end and ignored.
fn escape(bytes: &[u8]) -> Option<(Key, usize)> {
    match bytes.get(1) {
        None => return None,
        Some(b'[' | b'O') => {}
        // ESC and another key (Alt+key): ignore both.
        Some(_) => return Some((Key::Ignored, 2)),
    }
    // The final byte of a CSI sequence is in 0x40..=0x7e; parameters come before.
    let end = bytes[2..].iter().position(|b| (0x40..=0x7e).contains(b))? + 2;
    if end > 16 {
        return Some((Key::Ignored, end + 1));
    }
    let key = match &bytes[2..=end] {
        b"A" => Key::Up,
        b"B" => Key::Down,
        b"C" => Key::Right,
        b"D" => Key::Left,
        b"H" | b"1~" | b"7~" => Key::Home,
        b"F" | b"4~" | b"8~" => Key::End,
        b"3~" => Key::Delete,
        _ => Key::Ignored,
    };
    Some((key, end + 1))
}

/// How many columns a terminal gives `c`: 0 for combining marks and invisible
/// format characters, 2 for East Asian wide and fullwidth characters and emoji,
/// else 1, from the Unicode tables that terminals follow (`wcwidth(3)`, through
/// the `unicode-width` crate: a hand-made table of blocks missed thousands of
/// wide characters, and a character the client counts narrower than the terminal
/// draws it lets the terminal wrap a row where the client did not).
///
/// One exception, on the safe side: the emoji presentation selector (U+FE0F)
/// counts 1, because many terminals draw the symbol before it two columns wide
/// (`❤` + U+FE0F). Counting wider than drawn only wraps a row early.
pub fn char_width(c: char) -> usize {
    use unicode_width::UnicodeWidthChar;
    match c {
        '\u{fe0f}' => 1,
        c => c.width().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &[u8]) -> (Editor, Vec<Action>) {
        let mut e = Editor::new();
        let actions = e.feed(keys);
        (e, actions)
    }

    fn line(e: &Editor) -> String {
        e.line.iter().collect()
    }

    #[test]
    fn typing_editing_and_sending() {
        let (mut e, actions) = typed(b"helo\x1b[Dl\x1b[F!");
        assert!(actions.is_empty());
        assert_eq!(line(&e), "hello!");
        assert_eq!(e.feed(b"\r"), [Action::Send("hello!".into())]);
        assert!(e.is_empty());
        // An empty line leaves, as in the report; so does Ctrl+D on one.
        assert_eq!(e.feed(b"\r"), [Action::Leave]);
        assert_eq!(e.feed(b"\x04"), [Action::Leave]);
    }

    #[test]
    fn backspace_removes_a_whole_character() {
        let (mut e, _) = typed("añ日\u{1f600}".as_bytes());
        e.feed(b"\x7f");
        assert_eq!(line(&e), "añ日");
        e.feed(b"\x7f\x7f");
        assert_eq!(line(&e), "a");
    }

    #[test]
    fn a_key_cut_between_two_reads_waits_for_its_end() {
        let mut e = Editor::new();
        let bytes = "é".as_bytes();
        e.feed(&bytes[..1]);
        assert_eq!(line(&e), "");
        e.feed(&bytes[1..]);
        e.feed(b"x\x1b[");
        e.feed(b"D!");
        assert_eq!(line(&e), "é!x");
    }

    #[test]
    fn kill_keys_and_home_end() {
        let (mut e, _) = typed(b"one two three");
        e.feed(b"\x17");
        assert_eq!(line(&e), "one two ");
        e.feed(b"\x01\x06\x06\x06\x0b");
        assert_eq!(line(&e), "one");
        e.feed(b"\x05 four\x02\x02\x15");
        assert_eq!(line(&e), "ur");
        assert_eq!(e.cursor, 0);
    }

    #[test]
    fn history_goes_back_and_forth_and_keeps_the_typed_line() {
        let mut e = Editor::new();
        e.feed(b"first\rsecond\rdraft");
        e.feed(b"\x1b[A");
        assert_eq!(line(&e), "second");
        e.feed(b"\x1b[A\x1b[A");
        assert_eq!(line(&e), "first");
        e.feed(b"\x1b[B\x1b[B");
        assert_eq!(line(&e), "draft");
    }

    #[test]
    fn control_keys_are_actions() {
        assert_eq!(typed(b"ab\x03").1, [Action::Interrupt]);
        assert_eq!(typed(b"\x0c").1, [Action::Clear]);
        assert_eq!(typed(b"x\x1a").1, [Action::Suspend]);
        // Ctrl+D on a line deletes under the cursor, as in readline.
        let (e, actions) = typed(b"ab\x02\x04");
        assert!(actions.is_empty());
        assert_eq!(line(&e), "a");
    }

    #[test]
    fn render_puts_the_cursor_after_wide_characters() {
        let (mut e, _) = typed("日本x".as_bytes());
        e.feed(b"\x1b[D");
        let mut out = Vec::new();
        e.render(b"> ", 2, 80, &mut out);
        // "> " + 日本 (4 columns): the cursor at column 6, before the x.
        assert_eq!(out, "\r> 日本x\x1b[K\r\x1b[6C".as_bytes());
    }

    #[test]
    fn widths_follow_the_unicode_tables_and_err_wide() {
        // Symbols and emoji beyond the blocks a hand-made table would list.
        for c in ['日', '\u{1f680}', '\u{2615}', '\u{1fa70}', '\u{a960}', '\u{ff21}'] {
            assert_eq!(char_width(c), 2, "{c:?}");
        }
        for c in ['a', 'é', '\u{2764}'] {
            assert_eq!(char_width(c), 1, "{c:?}");
        }
        for c in ['\u{301}', '\u{200b}'] {
            assert_eq!(char_width(c), 0, "{c:?}");
        }
        // ❤ + the emoji selector: two columns, as many terminals draw it.
        assert_eq!("\u{2764}\u{fe0f}".chars().map(char_width).sum::<usize>(), 2);
    }

    #[test]
    fn a_long_line_scrolls_sideways_with_the_cursor_in_view() {
        let (e, _) = typed("0123456789abcdefghij".as_bytes());
        let mut out = Vec::new();
        e.render(b"> ", 2, 12, &mut out);
        // Room for 9 columns: the end of the line, and the cursor after it.
        assert_eq!(out, b"\r> bcdefghij\x1b[K\r\x1b[11C");
    }
}
