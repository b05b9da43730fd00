//! Fuzz the line framer: bytes cut into arbitrary chunks must come out as the same
//! lines, each once, in order, each piece within the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use select_chat::framing::LineFramer;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // First byte: the cap (4..=67); second: the chunk size (1..=256); then the stream.
    let cap = 4 + (data[0] as usize % 64);
    let chunk = 1 + data[1] as usize;
    let stream = &data[2..];
    let mut framer = LineFramer::new(cap);
    let mut items: Vec<(Vec<u8>, bool)> = Vec::new();
    for part in stream.chunks(chunk) {
        framer.feed(part, |l| items.push((l.bytes.to_vec(), l.whole)));
        assert!(framer.pending() <= cap, "pending {} over cap {cap}", framer.pending());
    }
    // Every complete line, in order: whole if it fits, else capped pieces.
    let complete = match stream.iter().rposition(|&b| b == b'\n') {
        Some(end) => &stream[..end],
        None => &[][..],
    };
    let mut it = items.iter();
    if stream.contains(&b'\n') {
        for line in complete.split(|&b| b == b'\n') {
            if line.len() <= cap {
                let (bytes, whole) = it.next().expect("a line is missing");
                assert!(*whole && bytes.as_slice() == line, "line changed");
            } else {
                let mut joined = Vec::new();
                while joined.len() < line.len() {
                    let (bytes, whole) = it.next().expect("a piece is missing");
                    assert!(!whole && bytes.len() <= cap && !bytes.is_empty());
                    joined.extend_from_slice(bytes);
                }
                assert_eq!(joined, line, "pieces do not add up to the line");
            }
        }
    }
    // What is left over belongs to the unfinished last line: pieces only.
    let rest: Vec<u8> = it.flat_map(|(b, whole)| {
        assert!(!whole);
        b.clone()
    }).collect();
    let tail = &stream[stream.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)..];
    assert!(tail.starts_with(&rest), "unfinished line's pieces out of order");
});
