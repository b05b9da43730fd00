//! Fuzz both sanitisers: no control character survives the server's, nothing but
//! colour survives the client's, whatever the bytes and however they are chunked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use select_chat::sanitize::{TerminalFilter, sanitize_line};

fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

fuzz_target!(|data: &[u8]| {
    // Server side: valid UTF-8, nothing unsafe, nothing trailing, bounded growth.
    let mut out = Vec::new();
    sanitize_line(&mut out, data, true);
    let text = std::str::from_utf8(&out).expect("sanitised output is UTF-8");
    assert!(!text.chars().any(unsafe_char), "unsafe character in {text:?}");
    assert!(text.trim_end() == text);
    assert!(out.len() <= data.len() * 8 + 8, "output too long");

    // Client side, colour off: no escape at all, only \r \n \t as controls; and
    // the same result whatever the chunking.
    let whole = {
        let mut f = TerminalFilter::new();
        let mut o = Vec::new();
        f.filter(data, false, &mut o);
        o
    };
    let text = std::str::from_utf8(&whole).expect("client output is UTF-8");
    assert!(!text.chars().any(|c| unsafe_char(c) && c != '\r' && c != '\n'), "unsafe in {text:?}");
    let chunked = {
        let mut f = TerminalFilter::new();
        let mut o = Vec::new();
        for part in data.chunks(3) {
            f.filter(part, false, &mut o);
        }
        o
    };
    assert_eq!(whole, chunked, "chunking changed the output");

    // Colour on: every ESC starts an SGR sequence.
    let mut f = TerminalFilter::new();
    let mut o = Vec::new();
    f.filter(data, true, &mut o);
    let mut rest = &o[..];
    while let Some(i) = rest.iter().position(|&b| b == 0x1b) {
        let seq = &rest[i..];
        let end = seq.iter().position(|&b| b == b'm').expect("ESC without m");
        assert!(seq[1] == b'[' && seq[2..end].iter().all(|b| b.is_ascii_digit() || *b == b';'), "non-SGR escape");
        rest = &seq[end + 1..];
    }
});
