//! `--trace`: one line on stderr for every system call, as it is made.
//!
//! Not in the report. A student reading the report has to imagine what `select`
//! returns and when `accept` fires; with `srv --trace` or `cli --trace` (or
//! `SELECT_CHAT_TRACE=1` in the environment) they can watch it, in a form close to
//! `strace(1)` but in the program's own terms:
//!
//! ```text
//! bind(3, 127.0.0.1:7777) = 0
//! select(nfds=5, read={3,4}, write={}) = 1  ready: read={3}
//! recv(7, 65536) = 6  "hello\n"
//! ```
//!
//! Every call goes through one small function in [`crate::net`], [`crate::fd`],
//! [`crate::select`] or [`crate::signals`], and each of those makes its call
//! through [`traced!`](crate::traced), which keeps the tracing out of the
//! function's body. When tracing is off that is one relaxed atomic load and a
//! branch: no formatting, no allocation. When it is on, each line is formatted into
//! one buffer and handed to stderr whole (see [`crate::stdio`]: never blocking,
//! and counted when dropped), so the lines of `srv` and `cli` sharing a terminal do
//! not cut into each other. Two kinds of call are not traced: the signal handler's
//! own `write` (a handler may not format or allocate), and the writes to stderr
//! (a trace line would trace itself).

use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static ON: AtomicBool = AtomicBool::new(false);
static COLOUR: AtomicBool = AtomicBool::new(false);

/// The environment variable that turns tracing on (any value but empty or `0`).
pub const ENV: &str = "SELECT_CHAT_TRACE";

/// The longest data preview, in bytes of the original data.
const PREVIEW: usize = 40;

/// Turn tracing on. Colour is used when stderr is a terminal and `NO_COLOR` is
/// not set.
pub fn enable() {
    COLOUR.store(
        std::io::stderr().is_terminal() && !crate::texts::no_color_env(),
        Ordering::Relaxed,
    );
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

/// Make a system call and, when tracing is on, print one line about it.
///
/// `traced!(CALL, SHOW, "name({}, ...)", args...)` evaluates `CALL` (a
/// `nix::Result`), and if [`on`] it formats the name and arguments, then ` = `
/// and the value through `SHOW` (`show_zero`, `show_fd`... or a closure), or
/// ` = -1 EAGAIN (...)` for an error. It returns the call's result unchanged, so a
/// wrapper reads as the call and its error handling; the tracing stays here.
#[macro_export]
macro_rules! traced {
    ($call:expr, $show:expr, $($name:tt)+) => {{
        let result = $call;
        if $crate::trace::on() {
            $crate::trace::done(format_args!($($name)+), &result, $show);
        }
        result
    }};
}

/// Trace a finished call: `call` is its name and arguments, `outcome` its result,
/// `ok` formats a success value (for example the new fd) and may add detail.
///
/// Call only when [`on`] is true; [`traced!`](crate::traced) does.
pub fn done<T>(
    call: fmt::Arguments<'_>,
    outcome: &nix::Result<T>,
    ok: impl FnOnce(&T, &mut String),
) {
    let colour = COLOUR.load(Ordering::Relaxed);
    let mut line = String::with_capacity(96);
    if colour {
        line.push_str("\x1b[2m");
    }
    let _ = line.write_fmt(call);
    match outcome {
        Ok(value) => {
            line.push_str(" = ");
            ok(value, &mut line);
        }
        Err(errno) => {
            if colour {
                line.push_str("\x1b[0m\x1b[31m");
            }
            let _ = write!(line, " = -1 {errno:?} ({})", crate::show::strerror(*errno));
        }
    }
    if colour {
        line.push_str("\x1b[0m");
    }
    line.push('\n');
    crate::stdio::log_bytes(line.as_bytes());
}

/// Trace helper: a call that returns 0 on success.
pub fn show_zero(_: &(), out: &mut String) {
    out.push('0');
}

/// Trace helper: a call that returns a new fd.
pub fn show_fd(fd: &std::os::fd::OwnedFd, out: &mut String) {
    use std::os::fd::AsRawFd;
    let _ = write!(out, "{}", fd.as_raw_fd());
}

/// Trace helper: an address (`getpeername`, `getsockname`).
pub fn show_addr(addr: &std::net::SocketAddr, out: &mut String) {
    let _ = write!(out, "0  {}", crate::show::format_addr(addr));
}

/// Trace helper: the outcome of a non-blocking connect (`SO_ERROR`).
pub fn show_socket_error(code: &i32, out: &mut String) {
    let _ = match code {
        0 => write!(out, "0  error=0"),
        c => write!(out, "0  error={:?}", nix::errno::Errno::from_raw(*c)),
    };
}

/// Trace helper: file status flags by name (`O_RDWR|O_NONBLOCK`).
pub fn show_flags(bits: i32, out: &mut String) {
    out.push_str(match bits & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    });
    let mut rest = bits & !libc::O_ACCMODE;
    for (bit, name) in [
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_APPEND, "O_APPEND"),
    ] {
        if rest & bit != 0 {
            out.push('|');
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        let _ = write!(out, "|{rest:#o}");
    }
}

/// Trace helper: the kind of file `fstat` found.
pub fn show_file_kind(kind: &nix::sys::stat::SFlag, out: &mut String) {
    use nix::sys::stat::SFlag;
    out.push_str(match *kind {
        SFlag::S_IFREG => "0  regular file",
        SFlag::S_IFCHR => "0  character device",
        SFlag::S_IFIFO => "0  pipe",
        SFlag::S_IFSOCK => "0  socket",
        _ => "0  other",
    });
}

/// Trace helper: a byte count and a preview of the bytes.
pub fn show_data(n: usize, data: &[u8], out: &mut String) {
    let _ = write!(out, "{n}");
    if n > 0 {
        out.push_str("  ");
        preview(out, data);
    }
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

/// The sets given to `select`, as `read={3,4}, write={}, timeout=0.5s`.
pub fn select_asked(
    read: &nix::sys::select::FdSet<'_>,
    write: &nix::sys::select::FdSet<'_>,
    highest: i32,
    timeout: Option<std::time::Duration>,
) -> String {
    use std::os::fd::AsRawFd;
    let mut sets = String::from("read=");
    fd_set(&mut sets, read.fds(Some(highest)).map(|fd| fd.as_raw_fd()));
    sets.push_str(", write=");
    fd_set(&mut sets, write.fds(Some(highest)).map(|fd| fd.as_raw_fd()));
    if let Some(t) = timeout {
        let _ = write!(sets, ", timeout={:.1}s", t.as_secs_f64());
    }
    sets
}

/// What `select` found: `2  ready: read={3} write={7}`.
pub fn select_ready(
    n: i32,
    read: &nix::sys::select::FdSet<'_>,
    write: &nix::sys::select::FdSet<'_>,
    highest: i32,
    out: &mut String,
) {
    use std::os::fd::AsRawFd;
    let _ = write!(out, "{n}  ready: read=");
    fd_set(out, read.fds(Some(highest)).map(|fd| fd.as_raw_fd()));
    out.push_str(" write=");
    fd_set(out, write.fds(Some(highest)).map(|fd| fd.as_raw_fd()));
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
}
