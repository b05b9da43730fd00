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
//!    left alone. Where the reopen is impossible (no `/proc`, a socket), writes wait
//!    for `poll` to say the fd is writable and are at most 256 bytes, which a pipe
//!    or a terminal then takes without blocking.
//! 2. **Bounded buffers, written only when the kernel takes them.** An [`Output`]
//!    keeps what could not be written yet; the loop puts its fd in `select`'s
//!    write list while it waits ([`Output::waiting_fd`]). The server's console
//!    drops whole lines when its buffer is full and later says how many
//!    (`... 120 lines not shown`); the client's screen is never dropped, but the
//!    client stops reading the server while it is full (see `crate::client`).
//! 3. **stderr never panics** (`eprintln!` does, on `EPIPE`), and repeats are
//!    summed ([`log_event`]): one line a second for a flood of refused connections.
//!
//! Entry points: [`init`] at start-up, then [`Output`] for stdout and [`log`] for stderr.

use std::fmt;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::SFlag;

use crate::fd;

/// The largest write in the fallback mode (no description of our own): a pipe
/// that `poll` calls writable has room for `PIPE_BUF` (4096) bytes, a terminal
/// for at least 256.
const FALLBACK_CHUNK: usize = 256;

/// Bytes the server's console (stdout) may hold back before it drops lines.
pub const CONSOLE_LIMIT: usize = 64 * 1024;

/// Bytes stderr (log lines and `--trace`) may hold back before it drops lines.
const LOG_LIMIT: usize = 64 * 1024;

/// One of the process's standard outputs, written without ever blocking.
///
/// Lifecycle: made once at start-up ([`Output::stdout`]), filled by the loop,
/// written at the end of each turn ([`Output::flush`]), and once more, for a
/// bounded time, before the program exits ([`Output::finish`]).
#[derive(Debug)]
pub struct Output {
    /// 1 or 2.
    fd: RawFd,
    /// `buf[sent..]` waits to be written.
    buf: Vec<u8>,
    sent: usize,
    /// What [`Output::print`] may hold before it drops lines.
    limit: usize,
    /// No description of our own: ask `poll` before each small write.
    fallback: bool,
    /// The last write stopped short: wait for `select` to say writable.
    blocked: bool,
    /// The reader went away (`EPIPE`, `EIO`): nothing more is written.
    broken: bool,
    /// Lines dropped since the last one that was kept.
    dropped: u64,
    /// Trace each `write` (stdout: yes; stderr: no, a trace line would trace itself).
    traced: bool,
}

impl Output {
    const fn new(fd: RawFd, limit: usize, traced: bool) -> Output {
        Output {
            fd,
            buf: Vec::new(),
            sent: 0,
            limit,
            fallback: false,
            blocked: false,
            broken: false,
            dropped: 0,
            traced,
        }
    }

    /// Stdout, after [`init`] made it ours; `limit` is what [`Output::print`] may
    /// hold back.
    pub fn stdout(limit: usize) -> Output {
        let mut out = Output::new(1, limit, true);
        out.fallback = !own_description(1);
        out
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// The reader went away: writing is pointless.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Queue `bytes` whatever the limit (the client's screen: its caller stops
    /// reading the server instead of dropping anything).
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Queue one line made of `parts`, whole, or drop it and count it when the
    /// buffer is full. The first line kept after a drop is preceded by a note
    /// saying how many were lost.
    pub fn print(&mut self, parts: &[&[u8]]) {
        if self.broken {
            return;
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let note = (self.dropped > 0).then(|| dropped_note(self.dropped));
        let need = len + note.as_ref().map_or(0, |n| n.len());
        if self.pending() + need > self.limit {
            self.dropped += 1;
            return;
        }
        if let Some(note) = note {
            self.buf.extend_from_slice(note.as_bytes());
            self.dropped = 0;
        }
        for part in parts {
            self.buf.extend_from_slice(part);
        }
    }

    /// Write what the kernel takes now. Never waits: `EAGAIN` leaves the rest for
    /// the next turn (and puts the fd in `select`'s write list).
    pub fn flush(&mut self) {
        while self.sent < self.buf.len() && !self.broken {
            let mut chunk = &self.buf[self.sent..];
            if self.fallback {
                if !writable_now(self.fd) {
                    self.blocked = true;
                    return;
                }
                chunk = &chunk[..chunk.len().min(FALLBACK_CHUNK)];
            }
            // SAFETY: fd 1 and fd 2 stay open for the whole life of the process.
            let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
            let written = if self.traced {
                fd::write(fd, chunk)
            } else {
                nix::unistd::write(fd, chunk)
            };
            match written {
                Ok(n) => self.sent += n,
                // A signal: try again (the loop will see the signal pipe).
                Err(Errno::EINTR) => {}
                // Full: the rest waits for select.
                Err(Errno::EAGAIN) => {
                    self.blocked = true;
                    return;
                }
                // EPIPE (the reader left), EIO (the terminal closed)...: gone.
                Err(_) => {
                    self.broken = true;
                    self.buf = Vec::new();
                    self.sent = 0;
                    return;
                }
            }
        }
        self.buf.clear();
        self.sent = 0;
        self.blocked = false;
    }

    /// The fd for `select`'s write list, if output waits for room.
    pub fn waiting_fd(&self) -> Option<BorrowedFd<'static>> {
        (self.pending() > 0 && !self.broken && (self.blocked || self.fallback))
            // SAFETY: fd 1 and fd 2 stay open for the whole life of the process.
            .then(|| unsafe { BorrowedFd::borrow_raw(self.fd) })
    }

    /// Before exiting: write what is left, waiting at most `within` for room.
    pub fn finish(&mut self, within: Duration) {
        if self.dropped > 0 && !self.broken {
            self.buf
                .extend_from_slice(dropped_note(self.dropped).as_bytes());
            self.dropped = 0;
        }
        let deadline = Instant::now() + within;
        loop {
            self.flush();
            let left = deadline.saturating_duration_since(Instant::now());
            if self.pending() == 0 || self.broken || left.is_zero() {
                return;
            }
            wait_writable(self.fd, left);
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
        if self.broken {
            return;
        }
        self.buf.truncate(self.sent);
        self.buf.extend_from_slice(ending);
        self.finish(after);
    }
}

/// `... N lines not shown`, for the lines an [`Output`] dropped.
fn dropped_note(n: u64) -> String {
    let noun = if n == 1 { "line" } else { "lines" };
    format!("... {n} {noun} not shown\n")
}

/// Whether `poll` says `fd` can take a write now.
fn writable_now(fd: RawFd) -> bool {
    wait_writable(fd, Duration::ZERO)
}

/// Wait at most `within` for `fd` to be writable (untraced: it serves stderr too).
fn wait_writable(fd: RawFd, within: Duration) -> bool {
    // SAFETY: fd 1 and fd 2 stay open for the whole life of the process.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
    let ms =
        PollTimeout::try_from(within.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::ZERO);
    matches!(poll(&mut fds, ms), Ok(1..))
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

/// stderr: log lines and `--trace`, shared by everything in the process.
static ERR: Mutex<Output> = Mutex::new(Output::new(2, LOG_LIMIT, false));

/// The program's name at the start of each log line (`srv`, `cli`).
static NAME: Mutex<&'static str> = Mutex::new("select-chat");

/// Make stderr ours (see the module docs) and name the program in its log lines.
/// Call once, first thing; [`Output::stdout`] then does the same for stdout.
pub fn init(program: &'static str) {
    *NAME.lock().unwrap_or_else(|e| e.into_inner()) = program;
    let fallback = !own_description(2);
    err().fallback = fallback;
}

fn err() -> std::sync::MutexGuard<'static, Output> {
    // A panic while holding it cannot leave it inconsistent: take it anyway.
    ERR.lock().unwrap_or_else(|e| e.into_inner())
}

/// Write `bytes` (one or more whole lines) to stderr, or drop and count them.
pub fn log_bytes(bytes: &[u8]) {
    let mut err = err();
    err.print(&[bytes]);
    err.flush();
}

/// One line on stderr: `srv: ` and the text. Never blocks, never panics.
pub fn log(text: fmt::Arguments<'_>) {
    let name = *NAME.lock().unwrap_or_else(|e| e.into_inner());
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

/// Before exiting: write what stderr still holds, waiting at most `within`.
pub fn log_finish(within: Duration) {
    events_flush(Instant::now() + Duration::from_secs(3600));
    err().finish(within);
}

/// Events that may come in floods, counted per kind.
struct Repeats {
    /// (kind, when it was last printed, how many were counted since).
    kinds: Vec<(&'static str, Instant, u64)>,
}

static REPEATS: Mutex<Repeats> = Mutex::new(Repeats { kinds: Vec::new() });

/// How often one kind of event may print a line of its own.
const REPEAT_WINDOW: Duration = Duration::from_secs(1);

/// Log an event of `kind` (`turned away`...), at most once a second per kind; the
/// others are counted and summed up a second later (`turned away 85 more
/// connections in the last second`) by [`log_tick`].
pub fn log_event(kind: &'static str, detail: fmt::Arguments<'_>) {
    let now = Instant::now();
    {
        let mut r = REPEATS.lock().unwrap_or_else(|e| e.into_inner());
        match r.kinds.iter_mut().find(|k| k.0 == kind) {
            Some(k) if now < k.1 + REPEAT_WINDOW => {
                k.2 += 1;
                return;
            }
            Some(k) => k.1 = now,
            None => r.kinds.push((kind, now, 0)),
        }
    }
    events_flush(now);
    log(format_args!("{kind} {detail}"));
}

/// Print the sums of events whose second has passed. Call once per turn.
pub fn log_tick() {
    events_flush(Instant::now());
}

/// When [`log_tick`] next has a sum to print, for `select`'s time-out.
pub fn log_deadline() -> Option<Instant> {
    let r = REPEATS.lock().unwrap_or_else(|e| e.into_inner());
    r.kinds
        .iter()
        .filter(|k| k.2 > 0)
        .map(|k| k.1 + REPEAT_WINDOW)
        .min()
}

fn events_flush(now: Instant) {
    let due: Vec<(&'static str, u64)> = {
        let mut r = REPEATS.lock().unwrap_or_else(|e| e.into_inner());
        r.kinds
            .iter_mut()
            .filter(|k| k.2 > 0 && now >= k.1 + REPEAT_WINDOW)
            .map(|k| {
                let n = std::mem::take(&mut k.2);
                k.1 = now;
                (k.0, n)
            })
            .collect()
    };
    for (kind, n) in due {
        log(format_args!("{kind} {n} more in the last second"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_console_drops_whole_lines_and_says_how_many() {
        let mut out = Output::new(1, 10, false);
        out.print(&[b"12345", b"\n"]);
        out.print(&[b"abcdef\n"]); // 6 + 6 > 10: dropped
        out.print(&[b"xyz\n"]); // dropped too (4 + note > 10)
        assert_eq!(out.dropped, 2);
        assert_eq!(out.buf, b"12345\n");
        out.buf.clear();
        out.limit = 100;
        out.print(&[b"back\n"]);
        assert_eq!(out.buf, b"... 2 lines not shown\nback\n");
    }

    #[test]
    fn a_lagging_terminal_still_gets_the_ending() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        // A pipe whose reader lags: it takes nothing until `within` has passed.
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).expect("pipe");
        let mut out = Output::new(w.as_raw_fd(), usize::MAX, false);
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
        assert!(
            got.ends_with(ending),
            "the terminal's modes were not put back"
        );
        drop(w);
    }

    #[test]
    fn a_broken_output_takes_nothing() {
        let mut out = Output::new(1, 100, false);
        out.broken = true;
        out.print(&[b"x\n"]);
        out.push(b"y");
        assert_eq!(out.pending(), 0);
        assert!(out.waiting_fd().is_none());
    }
}
