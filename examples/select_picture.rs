//! A picture of `select` at work: one column per call to `select(2)`, one row per
//! fd, drawn as an SVG from the lines of `srv --trace`.
//!
//! Not part of the library: it only reads a trace. A student who has watched the
//! lines scroll by sees here the same calls side by side: which fds each turn of
//! the loop asked about (outlined marks), which of them came back ready (filled),
//! and what the loop then did to them (accept, recv, shutdown, close).
//!
//! ```text
//! target/release/srv --trace 127.0.0.1 7777 2> trace.txt   # then chat, and Ctrl+C
//! cargo run --example select_picture < trace.txt > picture.svg
//! cargo run --example select_picture trace.txt > picture.svg   # the same
//! cargo run --example select_picture -- --turns 20-35 trace.txt > picture.svg
//! ```
//!
//! A column is some 70 px wide: a long chat gives a picture too wide to read
//! whole, so `--turns FIRST-LAST` draws only those turns (numbered from 1 as in
//! the full picture; `FIRST-` to the end).
//!
//! Lines that are not trace lines (the server's own `srv: ` log lines, anything
//! not shaped `call(args) = result`) are skipped, and colour escapes are removed
//! first. A line of a call the picture uses (`select`, `accept4`, `recv`...) that
//! cannot be read stops the program with its line number, exit status 1. The same
//! trace always gives the same bytes: `tests/picture.rs` draws
//! `docs/select-picture.svg` with this code from the walkthrough's session.
//!
//! Three steps, each a pure function: [`parse_trace`] (lines to [`Call`]s),
//! [`build`] (calls to a [`Model`]: turns and rows), [`render`] (the SVG).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::io::{Read as _, Write as _};
use std::process::ExitCode;

/// More columns than this do not fit a screen: say so.
const WIDE: usize = 12;

/// How to run it, for `--help` and for a wrong command line.
const USAGE: &str = "usage: select_picture [--turns FIRST-LAST] [TRACE_FILE] > picture.svg\n\
     (reads the trace of `srv --trace` from TRACE_FILE, or from stdin without one;\n\
     --turns 1-12 draws only the selects numbered 1 to 12, --turns 40- from 40 on)";

/// A call of the trace that the picture uses; every other call is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `select(nfds=N, read={..}, write={..}[, timeout=T])`: what was asked, and
    /// what came back.
    Select {
        read: BTreeSet<i32>,
        write: BTreeSet<i32>,
        /// As the trace shows it (`5.0s`); `None`: wait for ever.
        timeout: Option<String>,
        outcome: Outcome,
    },
    /// `listen(fd, backlog) = 0`: `fd` is the listener.
    Listen(i32),
    /// `pipe2(...) = 0  [r, w]`: `r` is the signal pipe's read end.
    Pipe(i32),
    /// `accept4(listener, ...) = fd`: a new client's fd.
    Accept(i32),
    /// `recv(fd, n)` or `read(fd, n)`: the byte count (0: end of stream), or the
    /// name of the error (EAGAIN and EINTR, which only mean "nothing now", are left out).
    Recv { fd: i32, got: Result<usize, String> },
    /// `shutdown(fd, SHUT_WR) = 0`: our side of the connection is done.
    Shutdown(i32),
    /// `setsockopt(fd, SOL_SOCKET, SO_LINGER, {1, 0}) = 0`: its close will reset.
    Linger(i32),
    /// `close(fd) = 0`.
    Close(i32),
}

/// What one `select` returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `= N  ready: read={..} write={..}` (N = 0: the time-out expired).
    Ready { count: usize, read: BTreeSet<i32>, write: BTreeSet<i32> },
    /// `= -1 EINTR (...)`: the error's name.
    Failed(String),
}

/// A line that looks like a call the picture uses but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Counted from 1.
    pub number: usize,
    pub why: String,
    pub line: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {:?}", self.number, self.why, self.line)
    }
}

/// `line` without its terminal escapes (`\x1b[2m`, `\x1b[0m\x1b[31m`...): the
/// colours `--trace` adds when stderr is a terminal.
pub fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        // ESC [ parameters... final byte (a letter, @ to ~).
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// Read one line of the trace: `Ok(None)` for a line that is not a trace line or
/// is a call the picture does not use; `Err(why)` for a used call that cannot be read.
pub fn parse_line(raw: &str) -> Result<Option<Call>, String> {
    let clean = strip_escapes(raw);
    let line = clean.trim_end();
    if line.starts_with("srv: ") {
        return Ok(None);
    }
    let Some((call, result)) = line.split_once(") = ") else { return Ok(None) };
    let Some((name, args)) = call.split_once('(') else { return Ok(None) };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Ok(None);
    }
    let failed = errno(result)?;
    let call = match name {
        // `pselect` and `poll` too: exercises 3 and 6 replace the call, not the picture.
        "select" | "pselect" | "poll" => {
            let outcome = match failed {
                Some(e) => Outcome::Failed(e),
                None => Outcome::Ready {
                    count: first_number(result, "a count of ready fds")?,
                    read: fd_set(result, "read")?,
                    write: fd_set(result, "write")?,
                },
            };
            Call::Select {
                read: fd_set(args, "read")?,
                write: fd_set(args, "write")?,
                timeout: timeout(args)?,
                outcome,
            }
        }
        _ if failed.is_some() && name != "recv" && name != "read" => return Ok(None),
        "listen" => Call::Listen(first_fd(args)?),
        "pipe2" => {
            let ends = result.split_once('[').map_or("", |(_, ends)| ends);
            Call::Pipe(first_number(ends, "the pipe's read end after '['")?)
        }
        "accept4" => Call::Accept(first_number(result, "the new fd")?),
        "recv" | "read" => {
            let got = match failed {
                Some(e) if matches!(e.as_str(), "EAGAIN" | "EWOULDBLOCK" | "EINTR") => {
                    return Ok(None);
                }
                Some(e) => Err(e),
                None => Ok(first_number(result, "a byte count")?),
            };
            Call::Recv { fd: first_fd(args)?, got }
        }
        "shutdown" => Call::Shutdown(first_fd(args)?),
        "setsockopt" if args.contains("SO_LINGER") && args.ends_with("{1, 0}") => {
            Call::Linger(first_fd(args)?)
        }
        "close" => Call::Close(first_fd(args)?),
        _ => return Ok(None),
    };
    Ok(Some(call))
}

/// The error's name if `result` reads `-1 ENAME (text)`.
fn errno(result: &str) -> Result<Option<String>, String> {
    let Some(rest) = result.strip_prefix("-1 ") else { return Ok(None) };
    let name = rest.split_whitespace().next().unwrap_or("");
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(format!("no error name after '-1': {rest:?}"));
    }
    Ok(Some(name.to_string()))
}

/// The number `text` starts with (after blanks), as a `T`; `what` names it in the error.
fn first_number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    let text = text.trim_start();
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    text[..end].parse().map_err(|_| format!("expected {what}, found {text:?}"))
}

/// The first argument of a call, an fd.
fn first_fd(args: &str) -> Result<i32, String> {
    let first = args.split(',').next().unwrap_or("").trim();
    first.parse().map_err(|_| format!("expected an fd as first argument, found {first:?}"))
}

/// The set `KEY={3,4,7}` in `text`.
fn fd_set(text: &str, key: &str) -> Result<BTreeSet<i32>, String> {
    let open = format!("{key}={{");
    let start = text.find(&open).ok_or_else(|| format!("no {key} set"))? + open.len();
    let len = text[start..].find('}').ok_or_else(|| format!("the {key} set has no '}}'"))?;
    let inner = &text[start..start + len];
    if inner.is_empty() {
        return Ok(BTreeSet::new());
    }
    inner
        .split(',')
        .map(|fd| fd.trim().parse().map_err(|_| format!("{fd:?} in the {key} set is no fd")))
        .collect()
}

/// `timeout=5.0s` in select's arguments, if any.
fn timeout(args: &str) -> Result<Option<String>, String> {
    let Some((_, rest)) = args.split_once("timeout=") else { return Ok(None) };
    let t = rest.split(',').next().unwrap_or("").trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
        return Err(format!("unreadable time-out {t:?}"));
    }
    Ok(Some(t.to_string()))
}

/// Every call the picture uses, in order; the first line that cannot be read is
/// the error.
pub fn parse_trace(text: &str) -> Result<Vec<Call>, BadLine> {
    let mut calls = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(call)) => calls.push(call),
            Ok(None) => {}
            Err(why) => {
                return Err(BadLine { number: i + 1, why, line: strip_escapes(line) });
            }
        }
    }
    Ok(calls)
}

/// What a row's fd is, as far as the trace tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Listener,
    SignalPipe,
    Client,
    /// fds 0, 1 and 2, when the trace says nothing else of them.
    Stdin,
    Stdout,
    Stderr,
}

/// What the loop did to an fd after a `select` returned, before the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Accepted,
    /// `recv` (or `read`) returned bytes.
    Data,
    /// `recv` returned 0: the peer closed its side.
    Eof,
    /// `recv` failed: the error's name.
    RecvFailed(String),
    Shutdown,
    /// `close`; `reset`: after `SO_LINGER {1, 0}`, so the peer gets a reset.
    Closed {
        reset: bool,
    },
}

/// One turn of the loop: one `select` and what followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// Counted from 1, in the whole trace.
    pub number: usize,
    pub read: BTreeSet<i32>,
    pub write: BTreeSet<i32>,
    pub timeout: Option<String>,
    pub outcome: Outcome,
    /// In trace order.
    pub events: Vec<(i32, Event)>,
}

/// The picture's content: a column per turn, a row per fd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub turns: Vec<Turn>,
    /// What the trace says each fd is (`listen`, `pipe2`, `accept4`).
    pub roles: BTreeMap<i32, Role>,
    /// The fds of [`rows_of`] for these turns.
    pub rows: Vec<(i32, Option<Role>)>,
}

/// Group the calls into turns; the calls before the first `select` (start-up)
/// only tell the roles. `Err` if there is no `select` at all.
pub fn build(calls: &[Call]) -> Result<Model, String> {
    let mut turns: Vec<Turn> = Vec::new();
    let mut roles = BTreeMap::new();
    let mut lingering = BTreeSet::new();
    for call in calls {
        let event = match call {
            Call::Select { read, write, timeout, outcome } => {
                turns.push(Turn {
                    number: turns.len() + 1,
                    read: read.clone(),
                    write: write.clone(),
                    timeout: timeout.clone(),
                    outcome: outcome.clone(),
                    events: Vec::new(),
                });
                continue;
            }
            Call::Listen(fd) => {
                roles.insert(*fd, Role::Listener);
                continue;
            }
            Call::Pipe(fd) => {
                roles.insert(*fd, Role::SignalPipe);
                continue;
            }
            Call::Linger(fd) => {
                lingering.insert(*fd);
                continue;
            }
            Call::Accept(fd) => {
                roles.entry(*fd).or_insert(Role::Client);
                (*fd, Event::Accepted)
            }
            Call::Recv { fd, got: Ok(0) } => (*fd, Event::Eof),
            Call::Recv { fd, got: Ok(_) } => (*fd, Event::Data),
            Call::Recv { fd, got: Err(e) } => (*fd, Event::RecvFailed(e.clone())),
            Call::Shutdown(fd) => (*fd, Event::Shutdown),
            Call::Close(fd) => (*fd, Event::Closed { reset: lingering.remove(fd) }),
        };
        if let Some(turn) = turns.last_mut() {
            turn.events.push(event);
        }
    }
    if turns.is_empty() {
        return Err("no select call in the trace (was it made with --trace?)".into());
    }
    let rows = rows_of(&turns, &roles);
    Ok(Model { turns, roles, rows })
}

/// The rows: every fd that `turns` asked about, reported, or accepted, lowest
/// first, with its role.
pub fn rows_of(turns: &[Turn], roles: &BTreeMap<i32, Role>) -> Vec<(i32, Option<Role>)> {
    let mut fds = BTreeSet::new();
    for turn in turns {
        fds.extend(&turn.read);
        fds.extend(&turn.write);
        if let Outcome::Ready { read, write, .. } = &turn.outcome {
            fds.extend(read);
            fds.extend(write);
        }
        fds.extend(turn.events.iter().filter(|(_, e)| *e == Event::Accepted).map(|(fd, _)| *fd));
    }
    let standard = |fd| match fd {
        0 => Some(Role::Stdin),
        1 => Some(Role::Stdout),
        2 => Some(Role::Stderr),
        _ => None,
    };
    fds.into_iter().map(|fd| (fd, roles.get(&fd).copied().or(standard(fd)))).collect()
}

/// Only the turns numbered `first..=last`, and the rows they use: a long trace
/// gives a picture too wide to read. `Err` if no turn is left.
pub fn window(model: Model, first: usize, last: usize) -> Result<Model, String> {
    let count = model.turns.len();
    let turns: Vec<Turn> =
        model.turns.into_iter().filter(|t| (first..=last).contains(&t.number)).collect();
    if turns.is_empty() {
        let to = if last == usize::MAX { String::new() } else { last.to_string() };
        return Err(format!("no turn in {first}-{to}: the trace has {count} selects"));
    }
    let rows = rows_of(&turns, &model.roles);
    Ok(Model { turns, roles: model.roles, rows })
}

/// `--turns FIRST-LAST` (or `--turns FIRST-` to the end) as the range of turns.
pub fn parse_turns(arg: &str) -> Result<(usize, usize), String> {
    let bad = || format!("--turns wants FIRST-LAST, e.g. 1-12, not {arg:?}");
    let (first, last) = arg.split_once('-').ok_or_else(bad)?;
    let first: usize = first.parse().map_err(|_| bad())?;
    let last: usize = if last.is_empty() { usize::MAX } else { last.parse().map_err(|_| bad())? };
    if first == 0 || last < first {
        return Err(bad());
    }
    Ok((first, last))
}

/// The short words under a column: the error or time-out, then what the loop
/// did, each kind once (`accept ×2`), at most `CAPTION_LINES` (4) lines.
pub fn caption(turn: &Turn, rows: &[(i32, Option<Role>)]) -> Vec<String> {
    let mut words: Vec<(String, usize)> = Vec::new();
    let mut add = |word: String| match words.iter_mut().find(|(w, _)| *w == word) {
        Some((_, n)) => *n += 1,
        None => words.push((word, 1)),
    };
    match &turn.outcome {
        Outcome::Failed(e) => add(e.clone()),
        Outcome::Ready { count: 0, .. } => add("time-out".into()),
        Outcome::Ready { .. } => {}
    }
    for (fd, event) in &turn.events {
        let Some((_, role)) = rows.iter().find(|(r, _)| r == fd) else { continue };
        add(match event {
            Event::Accepted => "accept".into(),
            Event::Data if *role == Some(Role::SignalPipe) => "signal byte".into(),
            Event::Data => "recv".into(),
            Event::Eof => "EOF".into(),
            Event::RecvFailed(e) => e.clone(),
            Event::Shutdown => "shutdown".into(),
            Event::Closed { reset: false } => "close".into(),
            Event::Closed { reset: true } => "close (RST)".into(),
        });
    }
    let mut lines: Vec<String> =
        words.into_iter().map(|(w, n)| if n > 1 { format!("{w} \u{d7}{n}") } else { w }).collect();
    if lines.len() > CAPTION_LINES {
        lines.truncate(CAPTION_LINES - 1);
        lines.push("...".into());
    }
    lines
}

const MARGIN: i32 = 16;
const LABEL_W: i32 = 128;
const COL_W: i32 = 68;
const ROW_H: i32 = 44;
const GRID_TOP: i32 = 112;
const CAPTION_LINES: usize = 4;
const LINE_H: i32 = 13;
const LEGEND_ITEM_W: i32 = 215;
const LEGEND_ROW_H: i32 = 22;
/// The narrowest picture: the legend's four items a row.
const MIN_WIDTH: i32 = 2 * MARGIN + 4 * LEGEND_ITEM_W;

const READ: &str = "#1f5fbf";
const WRITE: &str = "#d9730d";
const GREEN: &str = "#1a7f37";
const RED: &str = "#c62828";
const INK: &str = "#333";
const PURPLE: &str = "#7b3fa0";

/// The marks a cell or the legend can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    AskedRead,
    ReadyRead,
    AskedWrite,
    ReadyWrite,
    Accepted,
    Data,
    Eof,
    RecvFailed,
    Shutdown,
    Closed,
    ClosedReset,
}

/// The legend, a row of the picture's bottom per line.
const LEGEND: [&[(Mark, &str)]; 3] = [
    &[
        (Mark::AskedRead, "in the read set"),
        (Mark::ReadyRead, "readable: in the answer"),
        (Mark::AskedWrite, "in the write set"),
        (Mark::ReadyWrite, "writable: in the answer"),
    ],
    &[
        (Mark::Accepted, "accepted (accept4)"),
        (Mark::Data, "data received (recv > 0)"),
        (Mark::Eof, "end of stream (recv = 0)"),
        (Mark::RecvFailed, "recv failed (e.g. a reset)"),
    ],
    &[
        (Mark::Shutdown, "shutdown(SHUT_WR)"),
        (Mark::Closed, "closed (close)"),
        (Mark::ClosedReset, "closed with a reset (SO_LINGER 0)"),
    ],
];

/// The SVG of `mark` centred on `(x, y)`.
fn mark(out: &mut String, mark: Mark, x: i32, y: i32) {
    let _ = match mark {
        Mark::AskedRead | Mark::ReadyRead => {
            let fill = if mark == Mark::ReadyRead { READ } else { "white" };
            writeln!(
                out,
                r#"<rect x="{}" y="{}" width="14" height="14" fill="{fill}" stroke="{READ}" stroke-width="1.5"/>"#,
                x - 7,
                y - 7
            )
        }
        Mark::AskedWrite | Mark::ReadyWrite => {
            let fill = if mark == Mark::ReadyWrite { WRITE } else { "white" };
            writeln!(
                out,
                r#"<circle cx="{x}" cy="{y}" r="7" fill="{fill}" stroke="{WRITE}" stroke-width="1.5"/>"#
            )
        }
        Mark::Accepted => writeln!(
            out,
            r#"<path d="M{} {y}H{}M{x} {}V{}" stroke="{GREEN}" stroke-width="2.5"/>"#,
            x - 5,
            x + 5,
            y - 5,
            y + 5
        ),
        Mark::Data | Mark::Eof | Mark::RecvFailed => {
            let (fill, stroke) = match mark {
                Mark::Data => (INK, INK),
                Mark::Eof => ("white", INK),
                _ => (RED, RED),
            };
            writeln!(
                out,
                r#"<path d="M{} {}H{}L{x} {}Z" fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>"#,
                x - 5,
                y - 4,
                x + 5,
                y + 5
            )
        }
        Mark::Shutdown => writeln!(
            out,
            r#"<rect x="{}" y="{}" width="4" height="11" fill="{PURPLE}"/>"#,
            x - 2,
            y - 5
        ),
        Mark::Closed | Mark::ClosedReset => {
            let stroke = if mark == Mark::ClosedReset {
                let _ = writeln!(
                    out,
                    r#"<rect x="{}" y="{}" width="13" height="13" fill="{RED}"/>"#,
                    x - 6,
                    y - 6
                );
                "white"
            } else {
                RED
            };
            writeln!(
                out,
                r#"<path d="M{} {}L{} {}M{} {}L{} {}" stroke="{stroke}" stroke-width="2.2"/>"#,
                x - 4,
                y - 4,
                x + 4,
                y + 4,
                x - 4,
                y + 4,
                x + 4,
                y - 4
            )
        }
    };
}

/// `text` with `&`, `<`, `>` and `"` escaped for XML.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// A `<text>` element; `attrs` (size, anchor, colour...) as SVG attributes.
fn text(out: &mut String, x: i32, y: i32, attrs: &str, content: &str) {
    let _ = writeln!(out, r#"<text x="{x}" y="{y}" {attrs}>{}</text>"#, xml(content));
}

/// The marks of the events of one cell, in order, a repeat of the one before left out.
fn event_marks(turn: &Turn, fd: i32) -> Vec<Mark> {
    let mut marks: Vec<Mark> = Vec::new();
    for (_, event) in turn.events.iter().filter(|(f, _)| *f == fd) {
        let m = match event {
            Event::Accepted => Mark::Accepted,
            Event::Data => Mark::Data,
            Event::Eof => Mark::Eof,
            Event::RecvFailed(_) => Mark::RecvFailed,
            Event::Shutdown => Mark::Shutdown,
            Event::Closed { reset: false } => Mark::Closed,
            Event::Closed { reset: true } => Mark::ClosedReset,
        };
        if marks.last() != Some(&m) {
            marks.push(m);
        }
    }
    marks.truncate(5);
    marks
}

/// Draw the model: a title, the rows' labels, a column per turn ([`column`]),
/// and the legend. Every coordinate is an integer: same model, same bytes.
pub fn render(model: &Model) -> String {
    let cols = model.turns.len() as i32;
    let width = MIN_WIDTH.max(2 * MARGIN + LABEL_W + cols * COL_W);
    let grid_bottom = GRID_TOP + model.rows.len() as i32 * ROW_H;
    let captions: Vec<Vec<String>> = model.turns.iter().map(|t| caption(t, &model.rows)).collect();
    let caption_lines = captions.iter().map(Vec::len).max().unwrap_or(0) as i32;
    let legend_top = grid_bottom + 14 + caption_lines * LINE_H + 16;
    let height = legend_top + LEGEND.len() as i32 * LEGEND_ROW_H + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">"#
    );
    out.push_str("<title>select at work: one column per call to select, one row per fd</title>\n");
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    text(&mut out, MARGIN, 28, r#"font-size="16" font-weight="bold""#, "select at work");
    text(
        &mut out,
        MARGIN,
        48,
        r##"font-size="11" fill="#444""##,
        "Each column is one call to select, left to right; each row an fd. Outlined: asked; \
         filled: ready. Under the marks: what the loop then did, before the next select.",
    );
    row_labels(&mut out, &model.rows, LABEL_W + cols * COL_W);
    for (j, (turn, caption)) in model.turns.iter().zip(&captions).enumerate() {
        column(&mut out, turn, caption, &model.rows, MARGIN + LABEL_W + j as i32 * COL_W);
    }
    let right = MARGIN + LABEL_W + cols * COL_W;
    let _ =
        writeln!(out, r##"<path d="M{right} {}V{grid_bottom}" stroke="#d8d8d8"/>"##, GRID_TOP - 44);
    let _ = writeln!(out, r##"<path d="M{MARGIN} {grid_bottom}H{right}" stroke="#d8d8d8"/>"##);
    legend(&mut out, legend_top);
    out.push_str("</svg>\n");
    out
}

/// Each row's label (`fd 7`, and its role below) and, every other row, a grey
/// band `width` wide.
fn row_labels(out: &mut String, rows: &[(i32, Option<Role>)], width: i32) {
    for (i, (fd, role)) in rows.iter().enumerate() {
        let top = GRID_TOP + i as i32 * ROW_H;
        if i % 2 == 0 {
            let _ = writeln!(
                out,
                r##"<rect x="{MARGIN}" y="{top}" width="{width}" height="{ROW_H}" fill="#f4f4f4"/>"##
            );
        }
        text(
            out,
            MARGIN + 6,
            top + 19,
            r#"font-size="13" font-weight="bold""#,
            &format!("fd {fd}"),
        );
        let role = match role {
            Some(Role::Listener) => "listener",
            Some(Role::SignalPipe) => "signal pipe (read end)",
            Some(Role::Client) => "client",
            Some(Role::Stdin) => "stdin",
            Some(Role::Stdout) => "stdout (console)",
            Some(Role::Stderr) => "stderr",
            None => "",
        };
        text(out, MARGIN + 6, top + 34, r##"font-size="10" fill="#555""##, role);
    }
}

/// One turn's column, `left` its left edge: the header (the call's number, its
/// result, `= -1` for an error named in the caption, and its time-out), a cell
/// per row (the sets' marks above, the events' below), and the caption.
fn column(
    out: &mut String,
    turn: &Turn,
    caption: &[String],
    rows: &[(i32, Option<Role>)],
    left: i32,
) {
    let cx = left + COL_W / 2;
    let grid_bottom = GRID_TOP + rows.len() as i32 * ROW_H;
    let failed = matches!(turn.outcome, Outcome::Failed(_));
    if failed {
        let _ = writeln!(
            out,
            r##"<rect x="{left}" y="{GRID_TOP}" width="{COL_W}" height="{}" fill="#fbe3e3" fill-opacity="0.7"/>"##,
            grid_bottom - GRID_TOP
        );
    }
    let _ =
        writeln!(out, r##"<path d="M{left} {}V{grid_bottom}" stroke="#d8d8d8"/>"##, GRID_TOP - 44);
    let n = turn.number;
    let name = if n < 1000 { format!("select {n}") } else { format!("#{n}") };
    text(out, cx, 80, r#"font-size="11" font-weight="bold" text-anchor="middle""#, &name);
    let nothing = BTreeSet::new();
    let (result, colour, ready_read, ready_write) = match &turn.outcome {
        Outcome::Ready { count, read, write } => (format!("= {count}"), INK, read, write),
        Outcome::Failed(_) => ("= -1".to_string(), RED, &nothing, &nothing),
    };
    text(out, cx, 94, &format!(r#"font-size="11" text-anchor="middle" fill="{colour}""#), &result);
    if let Some(t) = &turn.timeout {
        let attrs = r##"font-size="10" text-anchor="middle" fill="#666""##;
        text(out, cx, 106, attrs, &format!("\u{2264} {t}"));
    }
    for (i, (fd, _)) in rows.iter().enumerate() {
        let top = GRID_TOP + i as i32 * ROW_H;
        if ready_read.contains(fd) {
            mark(out, Mark::ReadyRead, cx - 11, top + 14);
        } else if turn.read.contains(fd) {
            mark(out, Mark::AskedRead, cx - 11, top + 14);
        }
        if ready_write.contains(fd) {
            mark(out, Mark::ReadyWrite, cx + 11, top + 14);
        } else if turn.write.contains(fd) {
            mark(out, Mark::AskedWrite, cx + 11, top + 14);
        }
        let events = event_marks(turn, *fd);
        let n = events.len() as i32;
        for (k, m) in events.into_iter().enumerate() {
            mark(out, m, cx - (n - 1) * 7 + k as i32 * 14, top + 34);
        }
    }
    for (k, line) in caption.iter().enumerate() {
        let colour = if k == 0 && failed { RED } else { INK };
        let attrs = format!(r#"font-size="10" text-anchor="middle" fill="{colour}""#);
        text(out, cx, grid_bottom + 14 + k as i32 * LINE_H, &attrs, line);
    }
}

/// The legend, its first row at `top`.
fn legend(out: &mut String, top: i32) {
    for (r, items) in LEGEND.iter().enumerate() {
        let y = top + r as i32 * LEGEND_ROW_H;
        for (k, (m, label)) in items.iter().enumerate() {
            let x = MARGIN + k as i32 * LEGEND_ITEM_W;
            mark(out, *m, x + 8, y);
            text(out, x + 22, y + 4, r#"font-size="11""#, label);
        }
    }
}

/// The model of a trace's text, of the turns `turns` (`FIRST, LAST`, counted
/// from 1) or of all.
pub fn model_of(trace: &str, turns: Option<(usize, usize)>) -> Result<Model, String> {
    let model = build(&parse_trace(trace).map_err(|e| e.to_string())?)?;
    match turns {
        Some((first, last)) => window(model, first, last),
        None => Ok(model),
    }
}

/// The whole way from a trace's text to its picture: [`model_of`], then [`render`].
pub fn picture_of(trace: &str, turns: Option<(usize, usize)>) -> Result<String, String> {
    Ok(render(&model_of(trace, turns)?))
}

/// Read the trace (the file named, or stdin), write the picture on stdout.
fn run() -> Result<(), String> {
    let mut path = None;
    let mut turns = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return Ok(());
            }
            Some("--turns") => {
                let range = args.next().ok_or(USAGE)?;
                turns = Some(parse_turns(&range.to_string_lossy())?);
            }
            Some(a) if a.starts_with('-') => return Err(USAGE.into()),
            _ if path.is_none() => path = Some(arg),
            _ => return Err(USAGE.into()),
        }
    }
    let bytes = match path {
        None => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("stdin: {e}"))?;
            bytes
        }
        Some(path) => std::fs::read(&path)
            .map_err(|e| format!("{}: {e}", std::path::Path::new(&path).display()))?,
    };
    let model = model_of(&String::from_utf8_lossy(&bytes), turns)?;
    if turns.is_none() && model.turns.len() > WIDE {
        let n = model.turns.len();
        eprintln!("select_picture: {n} selects make a wide picture; --turns 1-{WIDE} draws fewer");
    }
    let svg = render(&model);
    std::io::stdout().lock().write_all(svg.as_bytes()).map_err(|e| format!("stdout: {e}"))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("select_picture: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(fds: &[i32]) -> BTreeSet<i32> {
        fds.iter().copied().collect()
    }

    #[test]
    fn a_select_line_reads_as_asked_and_ready() {
        let line = "select(nfds=10, read={3,4,7,8,9}, write={8}, timeout=5.0s) = 2  \
                    ready: read={7} write={8}";
        let want = Call::Select {
            read: set(&[3, 4, 7, 8, 9]),
            write: set(&[8]),
            timeout: Some("5.0s".into()),
            outcome: Outcome::Ready { count: 2, read: set(&[7]), write: set(&[8]) },
        };
        assert_eq!(parse_line(line), Ok(Some(want.clone())));
        // The same wait made by poll (exercise 3) draws the same column.
        let polled =
            "poll(read={3,4,7,8,9}, write={8}, timeout=5.0s) = 2  ready: read={7} write={8}";
        assert_eq!(parse_line(polled), Ok(Some(want)));
    }

    #[test]
    fn colours_are_removed_and_errors_kept() {
        let line = "\x1b[2mselect(nfds=5, read={3,4}, write={})\x1b[0m\x1b[31m = -1 EINTR \
                    (Interrupted system call)\x1b[0m";
        let want = Call::Select {
            read: set(&[3, 4]),
            write: set(&[]),
            timeout: None,
            outcome: Outcome::Failed("EINTR".into()),
        };
        assert_eq!(parse_line(line), Ok(Some(want)));
    }

    #[test]
    fn the_other_calls_the_picture_uses() {
        let cases = [
            ("listen(3, 511) = 0", Some(Call::Listen(3))),
            ("pipe2(O_NONBLOCK|O_CLOEXEC) = 0  [4, 5]", Some(Call::Pipe(4))),
            ("accept4(3, SOCK_NONBLOCK|SOCK_CLOEXEC) = 7", Some(Call::Accept(7))),
            ("recv(7, 4096) = 7  \"hi all\\n\"", Some(Call::Recv { fd: 7, got: Ok(7) })),
            ("read(4, 64) = 1  \"\\x02\"", Some(Call::Recv { fd: 4, got: Ok(1) })),
            (
                "recv(8, 4096) = -1 ECONNRESET (Connection reset by peer)",
                Some(Call::Recv { fd: 8, got: Err("ECONNRESET".into()) }),
            ),
            ("shutdown(9, SHUT_WR) = 0", Some(Call::Shutdown(9))),
            ("setsockopt(8, SOL_SOCKET, SO_LINGER, {1, 0}) = 0", Some(Call::Linger(8))),
            ("close(9) = 0", Some(Call::Close(9))),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line), Ok(want), "{line}");
        }
    }

    #[test]
    fn what_the_picture_does_not_use_is_skipped() {
        for line in [
            "srv: accept4: too many open files (EMFILE)",
            "",
            "hello there",
            "accept4(3, SOCK_NONBLOCK|SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)",
            "recv(9, 4096) = -1 EAGAIN (Resource temporarily unavailable)",
            "send(8, 40 bytes, MSG_NOSIGNAL) = 40  \"...\"",
            "setsockopt(7, SOL_SOCKET, SO_SNDBUF, 65536) = 0",
            "close(3) = -1 EBADF (Bad file descriptor)",
        ] {
            assert_eq!(parse_line(line), Ok(None), "{line}");
        }
    }

    #[test]
    fn a_broken_line_is_an_error_with_its_number() {
        let trace = "listen(3, 511) = 0\nselect(nfds=5, read={3,x}, write={}) = 1  ready: read={3} write={}\n";
        let err = parse_trace(trace).expect_err("a bad set");
        assert_eq!(err.number, 2);
        assert!(err.to_string().starts_with("line 2: \"x\" in the read set is no fd"), "{err}");
        assert!(parse_line("select(nfds=5, read={3}) = 1  ready: read={3} write={}").is_err());
        assert!(parse_line("recv(7, 4096) = lots").is_err());
        assert!(parse_line("select(nfds=5, read={3}, write={}) = -1 ").is_err());
    }

    /// A short session: start-up, a join, a message, a leave with a reset, Ctrl+C.
    const SESSION: &str = "\
close(3) = 0
socket(AF_INET, SOCK_STREAM) = 3
listen(3, 511) = 0
pipe2(O_NONBLOCK|O_CLOEXEC) = 0  [4, 5]
srv: a log line
select(nfds=5, read={3,4}, write={}) = 1  ready: read={3} write={}
accept4(3, SOCK_NONBLOCK|SOCK_CLOEXEC) = 7
select(nfds=8, read={3,4,7}, write={7}, timeout=5.0s) = 2  ready: read={7} write={7}
recv(7, 4096) = 3  \"hi\\n\"
recv(7, 4096) = -1 ECONNRESET (Connection reset by peer)
setsockopt(7, SOL_SOCKET, SO_LINGER, {1, 0}) = 0
close(7) = 0
select(nfds=5, read={3,4}, write={}) = -1 EINTR (Interrupted system call)
select(nfds=5, read={3,4}, write={}) = 1  ready: read={4} write={}
read(4, 64) = 1  \"\\x02\"
close(3) = 0
close(6) = 0
";

    #[test]
    fn calls_become_turns_and_rows() {
        let model = build(&parse_trace(SESSION).expect("parse")).expect("build");
        assert_eq!(model.turns.len(), 4);
        assert_eq!(
            model.rows,
            [(3, Some(Role::Listener)), (4, Some(Role::SignalPipe)), (7, Some(Role::Client))]
        );
        // The start-up close(3) belongs to no turn; each event to the select before it.
        assert_eq!(model.turns[0].events, [(7, Event::Accepted)]);
        assert_eq!(
            model.turns[1].events,
            [
                (7, Event::Data),
                (7, Event::RecvFailed("ECONNRESET".into())),
                (7, Event::Closed { reset: true })
            ]
        );
        assert!(model.turns[2].events.is_empty());
        assert_eq!(caption(&model.turns[2], &model.rows), ["EINTR"]);
        // fd 6 is in no row: its close is not told.
        assert_eq!(caption(&model.turns[3], &model.rows), ["signal byte", "close"]);
        assert_eq!(caption(&model.turns[1], &model.rows), ["recv", "ECONNRESET", "close (RST)"]);
    }

    #[test]
    fn repeated_words_are_counted_and_long_captions_cut() {
        let turn = Turn {
            number: 1,
            read: set(&[3]),
            write: set(&[]),
            timeout: None,
            outcome: Outcome::Ready { count: 0, read: set(&[]), write: set(&[]) },
            events: vec![
                (7, Event::Accepted),
                (8, Event::Accepted),
                (7, Event::Data),
                (7, Event::Eof),
                (7, Event::Shutdown),
            ],
        };
        let rows = [(7, None), (8, None)];
        assert_eq!(caption(&turn, &rows), ["time-out", "accept \u{d7}2", "recv", "..."]);
    }

    #[test]
    fn a_window_keeps_its_turns_numbers_and_only_their_rows() {
        let model = build(&parse_trace(SESSION).expect("parse")).expect("build");
        let part = window(model.clone(), 3, 4).expect("window");
        assert_eq!(part.turns.iter().map(|t| t.number).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(part.rows, [(3, Some(Role::Listener)), (4, Some(Role::SignalPipe))]);
        assert!(render(&part).contains(">select 3<"));
        assert!(window(model, 5, 9).is_err());
        assert_eq!(parse_turns("2-7"), Ok((2, 7)));
        assert_eq!(parse_turns("40-"), Ok((40, usize::MAX)));
        for bad in ["", "7", "0-3", "5-2", "a-b", "-3"] {
            assert!(parse_turns(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_standard_fds_are_named() {
        let trace = "select(nfds=4, read={0,3}, write={1}) = 1  ready: read={0} write={}\n";
        let model = build(&parse_trace(trace).expect("parse")).expect("build");
        assert_eq!(model.rows, [(0, Some(Role::Stdin)), (1, Some(Role::Stdout)), (3, None)]);
    }

    #[test]
    fn no_select_is_an_error() {
        assert!(picture_of("", None).is_err());
        assert!(picture_of("srv: hello\nlisten(3, 511) = 0\n", None).is_err());
    }

    #[test]
    fn the_picture_is_plain_deterministic_svg() {
        let svg = picture_of(SESSION, None).expect("picture");
        assert_eq!(svg, picture_of(SESSION, None).expect("picture"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        for word in
            ["fd 3", "listener", "signal pipe (read end)", "select 4", "EINTR", "\u{2264} 5.0s"]
        {
            assert!(svg.contains(word), "{word}");
        }
        assert!(!svg.contains("<script") && !svg.contains("@import") && !svg.contains("href"));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(xml("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
        assert_eq!(strip_escapes("\x1b[2mclose(3) = 0\x1b[0m"), "close(3) = 0");
    }
}
