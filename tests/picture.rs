//! The picture of `select` at work, `docs/select-picture.svg`, drawn from a real
//! run: the walkthrough's session ([`common::traced_session`], the very trace
//! `tests/trace.rs` checks) through the example `examples/select_picture.rs`. The
//! test fails when the file differs from what the run draws; `UPDATE_EXCERPTS=1`
//! rewrites it, like the walkthrough's excerpts.

mod common;

// The example's own code, so the picture is drawn by what a student runs; its
// `main` is not called here.
#[allow(dead_code)]
#[path = "../examples/select_picture.rs"]
mod picture;

use common::*;

/// Where the picture is kept.
const SVG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/select-picture.svg");

#[test]
fn the_picture_is_drawn_from_a_real_session() {
    let trace = traced_session();
    let svg = picture::picture_of(&trace, None).unwrap_or_else(|e| panic!("{e}\n{trace}"));
    // What the picture must show, whatever the file says: ten turns, the two
    // named rows, the three clients, the interrupted select.
    for want in [
        "select 10",
        "fd 3",
        "listener",
        "fd 4",
        "signal pipe (read end)",
        "fd 7",
        "fd 8",
        "fd 9",
        ">EINTR<",
        ">ECONNRESET<",
        ">close (RST)<",
    ] {
        assert!(svg.contains(want), "no {want:?} in the picture of:\n{trace}");
    }
    assert!(!svg.contains("select 11"), "more turns than the story has:\n{trace}");
    let kept = std::fs::read_to_string(SVG).unwrap_or_default();
    if kept == svg {
        return;
    }
    if std::env::var_os("UPDATE_EXCERPTS").is_some() {
        std::fs::write(SVG, &svg).expect("write docs/select-picture.svg");
        return;
    }
    panic!(
        "docs/select-picture.svg differs from the picture of a real run; rerun with \
         UPDATE_EXCERPTS=1 and look at it. The run's trace:\n{trace}"
    );
}
