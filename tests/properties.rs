//! Property tests of the pure parsers, the same invariants as the fuzz targets in
//! `fuzz/` (which run longer, by hand: see `docs/robustness.md`).

use proptest::prelude::*;
use select_chat::framing::LineFramer;
use select_chat::sanitize::{TerminalFilter, sanitize_line};

fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
        )
}

/// Bytes that are often newlines, escapes and UTF-8 fragments, not just noise.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => any::<u8>(),
            2 => Just(b'\n'),
            1 => Just(0x1b),
            1 => Just(b'['),
            1 => Just(b'm'),
            1 => Just(b'\r'),
            1 => Just(0xe2),
            1 => Just(0x80),
            2 => b'a'..=b'z',
        ],
        0..600,
    )
}

proptest! {
    /// Every complete line comes out exactly once, in order: whole if it fits the
    /// cap (without its `\n` or `\r\n`), else as pieces within the cap that add up
    /// to it, the last marked as the end of the line.
    #[test]
    fn framer_keeps_every_line_once_in_order(data in stream(), cap in 4usize..40, chunk in 1usize..50) {
        let chunk = chunk.min(cap);
        let mut framer = LineFramer::new(cap);
        // (bytes, whole, ends) of everything handed out, as the server takes it:
        // all lines out, then one more recv.
        let mut items: Vec<(Vec<u8>, bool, bool)> = Vec::new();
        let mut parts = data.chunks(chunk);
        loop {
            while let Some(l) = framer.next_line() {
                items.push((l.bytes.to_vec(), l.whole, l.ends));
            }
            prop_assert!(framer.wants_input());
            let Some(part) = parts.next() else { break };
            let got = framer.fill(|space| {
                space[..part.len()].copy_from_slice(part);
                Ok(part.len())
            });
            prop_assert_eq!(got, Ok(part.len()));
        }
        let mut it = items.into_iter();
        if let Some(end) = data.iter().rposition(|&b| b == b'\n') {
            for line in data[..end].split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() <= cap {
                    prop_assert_eq!(it.next(), Some((line.to_vec(), true, true)));
                } else {
                    let mut joined = Vec::new();
                    loop {
                        let (bytes, whole, ends) = it.next().expect("piece");
                        prop_assert!(!whole && bytes.len() <= cap);
                        joined.extend(bytes);
                        if ends {
                            break;
                        }
                    }
                    prop_assert_eq!(joined, line.to_vec());
                }
            }
        }
        // Only pieces of the unfinished last line may remain.
        prop_assert!(it.all(|(_, whole, ends)| !whole && !ends));
    }

    /// The server's sanitiser leaves no control or invisible formatting character,
    /// always yields UTF-8, and strips trailing white space.
    #[test]
    fn sanitised_lines_are_inert(data in stream()) {
        let mut out = Vec::new();
        sanitize_line(&mut out, &data, true);
        let text = std::str::from_utf8(&out).expect("UTF-8");
        prop_assert!(!text.chars().any(unsafe_char), "{:?}", text);
        prop_assert_eq!(text.trim_end(), text);
    }

    /// Printable ASCII without trailing spaces passes through unchanged.
    #[test]
    fn plain_text_is_untouched(text in "[ -~]{0,80}[!-~]") {
        let mut out = Vec::new();
        sanitize_line(&mut out, text.as_bytes(), true);
        prop_assert_eq!(out, text.into_bytes());
    }

    /// The client's filter gives the same output however the stream is chunked,
    /// passes only \r, \n and \t as controls, and only SGR sequences as escapes.
    #[test]
    fn client_filter_is_chunking_independent_and_inert(data in stream(), chunk in 1usize..40, colour in any::<bool>()) {
        let run = |parts: Vec<&[u8]>| {
            let mut f = TerminalFilter::new();
            let mut out = Vec::new();
            for p in parts {
                f.filter(p, colour, &mut out);
            }
            out
        };
        let whole = run(vec![&data]);
        prop_assert_eq!(&whole, &run(data.chunks(chunk).collect()));
        let text = std::str::from_utf8(&whole).expect("UTF-8");
        let mut rest = text;
        let mut shown = String::new();
        while let Some(i) = rest.find('\x1b') {
            prop_assert!(colour, "an escape with colour off");
            shown.push_str(&rest[..i]);
            let seq = &rest[i..];
            let end = seq.find('m').expect("SGR ends with m");
            prop_assert!(seq[1..].starts_with('[') && seq[2..end].chars().all(|c| c.is_ascii_digit() || c == ';'));
            rest = &seq[end + 1..];
        }
        shown.push_str(rest);
        prop_assert!(!shown.chars().any(|c| unsafe_char(c) && c != '\r' && c != '\n'), "{:?}", shown);
    }
}
