//! The process's own stdout and stderr, made safe for a `select` loop.
//!
//! Not in the report, whose `print` and `sys.stdout.write` block when nobody
//! reads: `srv | less`, a stalled ssh session or Ctrl+S in the server's terminal
//! would freeze the whole room, and then Ctrl+C too (the signal pipe is never
//! read). A C server has the same trap. The rules here:
//!
//! 1. **Our own file description.** At start-up, a stdout or stderr that can make
//!    us wait (a pipe, a terminal, a socket) is opened again through
//!    `/proc/self/fd/N`, which gives a *new* open file description, with
//!    `O_NONBLOCK`, and `dup2` puts it on fd N. `O_NONBLOCK` lives in the file
//!    description, so setting it with `fcntl` on the inherited one would leak into
//!    the shell that shares it (its next `read` of the terminal would fail with
//!    `EAGAIN`); `dup` would share it too. Regular files never make us wait and are
//!    left alone. Where the reopen is impossible (no `/proc`, a socket), each write
//!    waits for `poll` to say the fd is writable and is at most 256 bytes, which a
//!    pipe or a terminal then takes without blocking.
//! 2. **Bounded buffers, written only when the kernel takes them.** An [`Output`]
//!    is an [`Outbox`] for fd 1 or 2; the loop puts the fd in `select`'s write
//!    list while bytes wait ([`Output::waiting_fd`]). The server's console drops
//!    whole lines past its limit and later says how many; the client's screen is
//!    never dropped, but the client stops reading the server while it is full.
//! 3. **stderr never panics** (`eprintln!` does, on `EPIPE`), and repeats are
//!    counted ([`log_event`]): one line a second for a flood of refused connections.
//!
//! Entry points: [`init`] at start-up, then [`Output`] for stdout and [`log`] for stderr.

use std::fmt;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::stat::SFlag;

use crate::fd;
use crate::outbox::Outbox;

/// The largest write in the fallback mode (no description of our own): a pipe
/// that `poll` calls writable has room for `PIPE_BUF` (4096) bytes, a terminal
/// for at least 256.
const FALLBACK_CHUNK: usize = 256;

/// Bytes the server's console may hold back before it drops lines.
pub const CONSOLE_LIMIT: usize = 64 * 1024;

/// Bytes stderr, for log lines and `--trace`, may hold back before it drops lines.
const STDERR_LIMIT: usize = 64 * 1024;

/// How bytes reach the fd, and how to wait for room: `fd::write` and
/// `fd::poll_writable` (traced), or, for stderr, where the tracer itself writes,
/// `fd::write_log` and `fd::poll_log` (not traced).
type Calls =
    (fn(BorrowedFd<'_>, &[u8]) -> nix::Result<usize>, fn(BorrowedFd<'_>, Duration) -> bool);

/// One of the process's standard outputs, written without ever blocking.
///
/// Lifecycle: made once at start-up, filled by the loop, written at the end of
/// each turn ([`Output::flush`]), and once more, for a bounded time, before the
/// program exits ([`Output::finish`]).
#[derive(Debug)]
pub struct Output {
    /// 1 or 2.
    fd: RawFd,
    outbox: Outbox,
    /// What [`Output::print`] may hold before it drops lines.
    limit: usize,
    calls: Calls,
    /// No description of our own: ask `poll` before each small write.
    fallback: bool,
    /// The reader went away (`EPIPE`, `EIO`): nothing more is written.
    broken: bool,
    /// Lines [`Output::print`] dropped since it last kept one.
    dropped: u64,
}

impl Output {
    const fn new(fd: RawFd, limit: usize, calls: Calls) -> Output {
        Output {
            fd,
            outbox: Outbox::new(),
            limit,
            calls,
            fallback: false,
            broken: false,
            dropped: 0,
        }
    }

    /// Stdout, made ours (step 1 of the module docs); `limit` is what
    /// [`Output::print`] may hold back.
    pub fn stdout(limit: usize) -> Output {
        let mut out = Output::new(1, limit, (fd::write, fd::poll_writable));
        out.fallback = !own_description(1);
        out
    }

    fn fd(&self) -> BorrowedFd<'static> {
        // SAFETY: fds 1 and 2 stay open for the whole life of the process: Rust's
        // runtime opens /dev/null on any of them that was closed before `main`.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.outbox.len()
    }

    /// The reader went away: writing is pointless.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Queue `bytes` whatever the limit (the client's screen: its caller stops
    /// reading the server instead of dropping anything).
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.outbox.push(bytes);
        }
    }

    /// Queue one line made of `parts` whole, or drop it and count it when the
    /// limit is reached; the first line kept after a drop is preceded by a note
    /// saying how many were lost (`... 120 lines not shown`).
    pub fn print(&mut self, parts: &[&[u8]]) {
        if self.broken {
            return;
        }
        let mut line = dropped_note(self.dropped);
        parts.iter().for_each(|part| line.extend_from_slice(part));
        match self.outbox.push_within(&line, self.limit) {
            true => self.dropped = 0,
            false => self.dropped += 1,
        }
    }

    /// Write what the kernel takes now. Never waits: `EAGAIN` leaves the rest for
    /// the next turn (and puts the fd in `select`'s write list).
    pub fn flush(&mut self) {
        let (fd, (write, poll), fallback) = (self.fd(), self.calls, self.fallback);
        let written = self.outbox.flush(|bytes| {
            if !fallback {
                write(fd, bytes)
            } else if poll(fd, Duration::ZERO) {
                write(fd, &bytes[..bytes.len().min(FALLBACK_CHUNK)])
            } else {
                Err(nix::errno::Errno::EAGAIN)
            }
        });
        // EPIPE (the reader left), EIO (the terminal closed)...: gone for good.
        if written.is_err() {
            self.broken = true;
        }
    }

    /// The fd for `select`'s write list, if output waits for room.
    pub fn waiting_fd(&self) -> Option<BorrowedFd<'static>> {
        let waits = !self.outbox.is_empty() && (self.outbox.is_blocked() || self.fallback);
        (waits && !self.broken).then(|| self.fd())
    }

    /// Leaving at the user's word: the rows the screen has not taken yet will not
    /// be read; finish the row it is in the middle of (an escape sequence never
    /// spans rows) and forget the rest, so that the last words come at once.
    pub fn drop_backlog(&mut self) {
        self.outbox.keep_through(b'\n');
    }

    /// Before exiting: write what is left, waiting at most `within` for room.
    pub fn finish(&mut self, within: Duration) {
        let note = dropped_note(std::mem::take(&mut self.dropped));
        self.push(&note);
        let deadline = Instant::now() + within;
        loop {
            self.flush();
            let left = deadline.saturating_duration_since(Instant::now());
            if self.outbox.is_empty() || self.broken || left.is_zero() {
                return;
            }
            (self.calls.1)(self.fd(), left);
        }
    }

    /// [`Output::finish`], then, whatever is still unsent, `ending`: what puts the
    /// terminal's modes back (the client's autowrap). A terminal that lags when
    /// the program leaves may have taken the bytes that changed a mode but not
    /// those that restore it: the rest is dropped, `ending` written in its place
    /// (an escape sequence cut short is abandoned at the next ESC), with a last
    /// `after` to get it out.
    pub fn finish_ending(&mut self, within: Duration, ending: &[u8], after: Duration) {
        self.finish(within);
        self.outbox.clear();
        self.push(ending);
        self.finish(after);
    }
}

/// `... N lines not shown`, for the lines an [`Output`] dropped (nothing for 0).
fn dropped_note(n: u64) -> Vec<u8> {
    match n {
        0 => Vec::new(),
        1 => b"... 1 line not shown\n".to_vec(),
        n => format!("... {n} lines not shown\n").into_bytes(),
    }
}

/// Give fd 1 or 2 a file description of its own, non-blocking (step 1 of the
/// module docs). `true` if the fd may now be written without ever blocking:
/// it is ours and non-blocking, or it is a regular file.
///
/// Steps: 1. `fstat`: a regular file (or block device) never makes us wait, so it
/// stays as it is; 2. `open("/proc/self/fd/N")`, non-blocking: the same pipe or
/// terminal, through a new description; 3. `dup2` it onto fd N (which drops our
/// reference to the shell's description) and close the extra fd.
// ANCHOR: own_description
fn own_description(stdfd: RawFd) -> bool {
    // SAFETY: fds 0-2 are open for the whole life of the process: Rust's runtime
    // opens /dev/null on any of them that was closed before `main`.
    let fd = unsafe { BorrowedFd::borrow_raw(stdfd) };
    match fd::file_kind(fd) {
        Ok(SFlag::S_IFREG | SFlag::S_IFBLK) => true, // 1.
        Ok(_) => fd::reopen_nonblocking(stdfd) // 2.
            .and_then(|ours| fd::replace_std(ours, stdfd)) // 3.
            .is_ok(),
        Err(_) => false,
    }
}
// ANCHOR_END: own_description

/// stderr: log lines and `--trace`, shared by everything in the process. Its
/// lock is held only while bytes are queued and written, never while a traced
/// call is made, so no order of calls can make a trace line wait for itself.
static ERR: Mutex<Output> = Mutex::new(Output::new(2, STDERR_LIMIT, (fd::write_log, fd::poll_log)));

/// stderr could not be made ours (decided by [`init`]).
static ERR_FALLBACK: AtomicBool = AtomicBool::new(false);

/// The program's name at the start of each log line (`srv`, `cli`).
static NAME: OnceLock<&'static str> = OnceLock::new();

/// Make stderr ours (see the module docs) and name the program in its log lines.
/// Call once, first thing; [`Output::stdout`] then does the same for stdout.
pub fn init(program: &'static str) {
    let _ = NAME.set(program);
    ERR_FALLBACK.store(!own_description(2), Ordering::Relaxed);
}

fn err() -> MutexGuard<'static, Output> {
    // A panic while holding it cannot leave it inconsistent: take it anyway.
    let mut err = ERR.lock().unwrap_or_else(|e| e.into_inner());
    err.fallback = ERR_FALLBACK.load(Ordering::Relaxed);
    err
}

/// Write `bytes` (one or more whole lines) to stderr, or drop and count them.
/// The tracer's writer (see [`crate::trace::enable`]).
pub fn log_bytes(bytes: &[u8]) {
    let mut err = err();
    err.print(&[bytes]);
    err.flush();
}

/// One line on stderr: `srv: ` and the text. Never blocks, never panics.
pub fn log(text: fmt::Arguments<'_>) {
    let name = NAME.get().unwrap_or(&"select-chat");
    log_bytes(format!("{name}: {text}\n").as_bytes());
}

/// stderr's fd for `select`'s write list, if log lines wait for room.
pub fn log_waiting_fd() -> Option<BorrowedFd<'static>> {
    err().waiting_fd()
}

/// Write what stderr holds, if the kernel takes it now.
pub fn log_flush() {
    err().flush();
}

/// Events that may come in floods: for each kind, when it last had a line of its
/// own, and how many came since.
static REPEATS: Mutex<Vec<(&'static str, Instant, u64)>> = Mutex::new(Vec::new());

/// How often one kind of event may have a line of its own.
const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// Log an event of `kind` (`turned away`, `cut`...), at most once a second per
/// kind; the others are only counted, and the count comes with the next line of
/// that kind (`(and 85 more since the last)`), or at exit: a flood of refused
/// connections is one line a second.
pub fn log_event(kind: &'static str, detail: fmt::Arguments<'_>) {
    let now = Instant::now();
    let mut kinds = REPEATS.lock().unwrap_or_else(|e| e.into_inner());
    let i = kinds.iter().position(|k| k.0 == kind).unwrap_or_else(|| {
        kinds.push((kind, now - REPEAT_WINDOW, 0));
        kinds.len() - 1
    });
    let (_, last, more) = &mut kinds[i];
    if now < *last + REPEAT_WINDOW {
        *more += 1;
        return;
    }
    let since = match std::mem::take(more) {
        0 => String::new(),
        n => format!(" (and {n} more since the last)"),
    };
    *last = now;
    drop(kinds);
    log(format_args!("{kind} {detail}{since}"));
}

/// Before exiting: the counts of events not told yet, then what stderr still
/// holds, waiting at most `within`.
pub fn log_finish(within: Duration) {
    let kinds = std::mem::take(&mut *REPEATS.lock().unwrap_or_else(|e| e.into_inner()));
    for (kind, _, more) in kinds.into_iter().filter(|k| k.2 > 0) {
        log(format_args!("{kind} {more} more"));
    }
    err().finish(within);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_console_drops_whole_lines_and_says_how_many() {
        let mut out = Output::new(1, 10, (fd::write, fd::poll_writable));
        out.print(&[b"12345", b"\n"]);
        out.print(&[b"abcdef\n"]); // 6 + 6 > 10: dropped
        out.print(&[b"xyz\n"]); // dropped too (4 + note > 10)
        assert_eq!(out.dropped, 2);
        out.outbox.clear();
        out.limit = 100;
        out.print(&[b"back\n"]);
        let mut shown = Vec::new();
        let _ = out.outbox.flush(|b| {
            shown.extend_from_slice(b);
            Ok(b.len())
        });
        assert_eq!(shown, b"... 2 lines not shown\nback\n");
    }

    #[test]
    fn a_lagging_terminal_still_gets_the_ending() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        // A pipe whose reader lags: it takes nothing until `within` has passed.
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).expect("pipe");
        let mut out = Output::new(w.as_raw_fd(), usize::MAX, (fd::write, fd::poll_writable));
        out.push(b"\x1b[?7l");
        out.push(&vec![b'x'; 1 << 20]);
        out.push(b"\x1b[?7h");
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut got = Vec::new();
            let mut r = std::fs::File::from(r);
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut buf = [0u8; 65536];
            while Instant::now() < deadline && !got.ends_with(b"\x1b[0m\x1b[?7h") {
                match r.read(&mut buf) {
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            got
        });
        let ending = b"\x1b[0m\x1b[?7h";
        out.finish_ending(Duration::from_millis(50), ending, Duration::from_secs(2));
        let got = reader.join().expect("reader");
        assert!(got.starts_with(b"\x1b[?7l"));
        assert!(got.len() < (1 << 20), "the rest was dropped");
        assert!(got.ends_with(ending), "the terminal's modes were not put back");
        drop(w);
    }

    #[test]
    fn a_broken_output_takes_nothing() {
        let mut out = Output::new(1, 100, (fd::write, fd::poll_writable));
        out.broken = true;
        out.print(&[b"x\n"]);
        out.push(b"y");
        assert_eq!(out.pending(), 0);
        assert!(out.waiting_fd().is_none());
    }
}
