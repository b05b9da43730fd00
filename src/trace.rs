//! `--trace`: one line on stderr for each system call, as it is made.
//!
//! Not in the report. Students learn `select` by watching it: which fds go in,
//! which come back ready, what `recv` returns. With `srv --trace` or `cli --trace`
//! (or `SELECT_CHAT_TRACE=1` in the environment) they can, in a form close to
//! `strace(1)` but in the program's own terms:
//!
//! ```text
//! bind(3, 127.0.0.1:7777) = 0
//! select(nfds=5, read={3,4}, write={}) = 1  ready: read={3}
//! recv(7, 4096) = 6  "hello\n"
//! ```
//!
//! Each wrapper in [`crate::net`], [`crate::fd`], [`crate::select`] and
//! [`crate::signals`] makes its call and then says, in one line, what the call
//! was: `.traced(|| format!("close({fd})"))`. The result is shown by its type
//! ([`Shown`]: a new fd as its number, `()` as `0`, bytes as a preview). When
//! tracing is off that is one relaxed atomic load and a branch: the closure never
//! runs. When it is on, the line is handed whole to the writer given to
//! [`enable`] (the program's stderr, which never blocks), so the lines of `srv`
//! and `cli` sharing a terminal do not cut into each other.
//!
//! This module calls nothing: it is given its writer, so it sits below every
//! module that makes system calls. The writer's own `write` is not traced (a line
//! about writing a trace line would ask for another), and neither is the signal
//! handler's (a handler may not format or allocate).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::OFlag;
use nix::sys::stat::SFlag;

use crate::show::{format_addr, strerror};

static ON: AtomicBool = AtomicBool::new(false);

/// Where trace lines go: a function given one whole line.
type Writer = fn(&[u8]);

/// The writer, and whether lines are coloured (dim, errors in red): set once by
/// [`enable`].
static WRITER: OnceLock<(Writer, bool)> = OnceLock::new();

/// The environment variable that turns tracing on (any value but empty or `0`).
pub const ENV: &str = "SELECT_CHAT_TRACE";

/// The longest data preview, in bytes of the original data.
const PREVIEW: usize = 40;

/// Turn tracing on: each line goes to `writer`, dimmed (errors in red) if `colour`.
pub fn enable(writer: Writer, colour: bool) {
    let _ = WRITER.set((writer, colour));
    ON.store(true, Ordering::Relaxed);
}

/// Whether `SELECT_CHAT_TRACE` asks for tracing (any value but empty or `0`).
pub fn wanted_by_env() -> bool {
    std::env::var_os(ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Whether tracing is on: the only cost of tracing when it is off.
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// How a call's successful result reads in a trace line, after ` = `.
pub trait Shown {
    /// Append the result: `0`, a new fd's number, an address...
    fn show(&self, out: &mut String);
}

impl Shown for () {
    fn show(&self, out: &mut String) {
        out.push('0');
    }
}

impl Shown for OwnedFd {
    fn show(&self, out: &mut String) {
        let _ = write!(out, "{}", self.as_raw_fd());
    }
}

impl Shown for bool {
    fn show(&self, out: &mut String) {
        out.push(if *self { '1' } else { '0' });
    }
}

impl Shown for SocketAddr {
    fn show(&self, out: &mut String) {
        let _ = write!(out, "0  {}", format_addr(self));
    }
}

/// `getsockopt(SO_ERROR)`: the pending error of a non-blocking connect.
impl Shown for Option<nix::errno::Errno> {
    fn show(&self, out: &mut String) {
        let _ = match self {
            None => write!(out, "0  error=0"),
            Some(e) => write!(out, "0  error={e:?}"),
        };
    }
}

/// File status flags by name: `O_RDWR|O_NONBLOCK`.
impl Shown for OFlag {
    fn show(&self, out: &mut String) {
        out.push_str(&crate::show::flags(*self));
    }
}

/// The kind of file `fstat` found.
impl Shown for SFlag {
    fn show(&self, out: &mut String) {
        out.push_str(match *self {
            SFlag::S_IFREG => "0  regular file",
            SFlag::S_IFCHR => "0  character device",
            SFlag::S_IFIFO => "0  pipe",
            SFlag::S_IFSOCK => "0  socket",
            _ => "0  other",
        });
    }
}

/// Bytes moved by `recv`, `send`, `read`, `write`: the count and a preview.
pub struct Data<'a>(pub usize, pub &'a [u8]);

impl Shown for Data<'_> {
    fn show(&self, out: &mut String) {
        let _ = write!(out, "{}", self.0);
        if self.0 > 0 {
            out.push_str("  ");
            preview(out, self.1.get(..self.0).unwrap_or(self.1));
        }
    }
}

/// A system call's result, traced: the one line each wrapper adds to its call.
pub trait Traced: Sized {
    /// When tracing is on, print `call()` (the call's name and arguments), ` = `
    /// and the result, or ` = -1 EAGAIN (...)`; return the result unchanged.
    fn traced(self, call: impl FnOnce() -> String) -> Self;
}

impl<T: Shown> Traced for nix::Result<T> {
    fn traced(self, call: impl FnOnce() -> String) -> Self {
        if on() {
            line(call(), self.as_ref().map(|v| v as &dyn Shown));
        }
        self
    }
}

/// [`Traced`] for a call that moved the bytes of a buffer (`recv`, `send`,
/// `read`, `write`): the count it returned and a preview of those bytes.
pub trait TracedData: Sized {
    /// Like [`Traced::traced`], showing the first bytes of `buf` that moved.
    fn traced_data(self, buf: &[u8], call: impl FnOnce() -> String) -> Self;
}

impl TracedData for nix::Result<usize> {
    fn traced_data(self, buf: &[u8], call: impl FnOnce() -> String) -> Self {
        if on() {
            let data = self.map(|n| Data(n, buf));
            line(call(), data.as_ref().map(|d| d as &dyn Shown));
        }
        self
    }
}

/// Format one line and hand it to the writer.
pub fn line(call: String, outcome: Result<&dyn Shown, &nix::errno::Errno>) {
    let Some(&(writer, colour)) = WRITER.get() else { return };
    let (dim, red, reset) =
        if colour { ("\x1b[2m", "\x1b[0m\x1b[31m", "\x1b[0m") } else { ("", "", "") };
    let mut line = format!("{dim}{call}");
    match outcome {
        Ok(value) => {
            line.push_str(" = ");
            value.show(&mut line);
        }
        Err(errno) => {
            let _ = write!(line, "{red} = -1 {errno:?} ({})", strerror(*errno));
        }
    }
    line.push_str(reset);
    line.push('\n');
    writer(line.as_bytes());
}

/// Append `data` as a short quoted preview: printable ASCII as it is, `\n`, `\r`,
/// `\t`, `\e` and `\xNN` for the rest, cut after 40 bytes with `...`.
pub fn preview(out: &mut String, data: &[u8]) {
    out.push('"');
    for &b in data.iter().take(PREVIEW) {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x1b => out.push_str("\\e"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    if data.len() > PREVIEW {
        out.push_str("...");
    }
}

/// Append a set of fds as `{3,4,7}`.
pub fn fd_set(out: &mut String, fds: impl IntoIterator<Item = i32>) {
    out.push('{');
    for (i, fd) in fds.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{fd}");
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_escaped_and_bounded() {
        let mut s = String::new();
        preview(&mut s, b"hi\n\x1b[2J\x00\"");
        assert_eq!(s, r#""hi\n\e[2J\x00\"""#);
        let mut s = String::new();
        preview(&mut s, &[b'x'; 100]);
        assert_eq!(s, format!("\"{}\"...", "x".repeat(40)));
    }

    #[test]
    fn fd_sets_are_braced_lists() {
        let mut s = String::new();
        fd_set(&mut s, [3, 4, 7]);
        fd_set(&mut s, []);
        assert_eq!(s, "{3,4,7}{}");
    }

    #[test]
    fn results_read_as_strace_would_show_them() {
        let mut s = String::new();
        (OFlag::O_RDWR | OFlag::O_NONBLOCK).show(&mut s);
        s.push(' ');
        Data(3, b"hi\nrest").show(&mut s);
        assert_eq!(s, r#"O_RDWR|O_NONBLOCK 3  "hi\n""#);
    }
}
