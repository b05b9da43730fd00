//! Fuzz the line framer: bytes cut into arbitrary chunks must come out as the same
//! lines, each once, in order, each piece within the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use select_chat::framing::LineFramer;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // First byte: the cap (4..=67); second: the chunk size (1..=cap); then the stream.
    let cap = 4 + (data[0] as usize % 64);
    let chunk = 1 + data[1] as usize % cap;
    let stream = &data[2..];
    let mut framer = LineFramer::new(cap);
    // (bytes, whole, ends), taken as the server takes them: all lines, then a recv.
    let mut items: Vec<(Vec<u8>, bool, bool)> = Vec::new();
    let mut parts = stream.chunks(chunk);
    loop {
        while let Some(l) = framer.next_line() {
            assert!(l.bytes.len() <= cap, "piece over the cap");
            items.push((l.bytes.to_vec(), l.whole, l.ends));
        }
        assert!(framer.wants_input(), "holds a line it will not hand out");
        let Some(part) = parts.next() else { break };
        let got = framer.fill(|space| {
            space[..part.len()].copy_from_slice(part);
            Ok(part.len())
        });
        assert_eq!(got, Ok(part.len()));
    }
    // Every complete line, in order: whole if it fits, else pieces ending in one
    // marked as the end of the line.
    let mut it = items.into_iter();
    if let Some(end) = stream.iter().rposition(|&b| b == b'\n') {
        for line in stream[..end].split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut joined = Vec::new();
            loop {
                let (bytes, whole, ends) = it.next().expect("a line is missing");
                assert_eq!(whole, line.len() <= cap, "whole means it fit");
                joined.extend_from_slice(&bytes);
                if ends {
                    break;
                }
            }
            assert_eq!(joined, line, "pieces do not add up to the line");
        }
    }
    // What is left belongs to the unfinished last line: pieces only.
    assert!(it.all(|(_, whole, ends)| !whole && !ends));
});
