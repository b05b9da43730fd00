//! The system calls on file descriptors that are not about sockets: `fcntl` for
//! non-blocking mode, `read` and `write` on stdin and stdout, `close`, `open`,
//! `isatty`, `poll`, `kill`, and the `fstat`/`open`/`dup2` that give stdout and
//! stderr a file description of our own (see [`crate::stdio`]).
//!
//! Like [`crate::net`], one small function per call, each returning nix's
//! `Result<_, Errno>` and ending with `.traced(...)` for `--trace`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::Pid;

use crate::trace::{Traced, TracedData};

/// `fcntl(fd, F_SETFL, flags | O_NONBLOCK)`: make `recv`, `send`, `accept` and
/// `connect` on this fd return `EAGAIN`/`EINPROGRESS` instead of waiting.
///
/// Not in the report. A select loop must never block anywhere but in `select`:
/// one blocking `send` to a client that does not read would freeze the room.
///
/// # References
/// [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
// ANCHOR: set_nonblocking
pub fn set_nonblocking(fd: impl AsFd) -> nix::Result<()> {
    let (fd, raw) = (fd.as_fd(), fd.as_fd().as_raw_fd());
    let flags = fcntl(fd, FcntlArg::F_GETFL)
        .map(OFlag::from_bits_retain)
        .traced(|| format!("fcntl({raw}, F_GETFL)"))?;
    let flags = flags | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags))
        .map(drop)
        .traced(|| format!("fcntl({raw}, F_SETFL, {})", crate::show::flags(flags)))
}
// ANCHOR_END: set_nonblocking

/// `read(fd, buf)`: read from a file descriptor that is not a socket (stdin, the
/// signal pipe).
///
/// The twin of the report's `sys.stdin.readline()`, without the buffering that
/// makes `readline` a poor partner for `select` (see `crate::client`'s `send_msg`).
///
/// # References
/// [read(2)](https://man7.org/linux/man-pages/man2/read.2.html)
// ANCHOR: read
pub fn read(fd: impl AsFd, buf: &mut [u8]) -> nix::Result<usize> {
    let (raw, asked) = (fd.as_fd().as_raw_fd(), buf.len());
    nix::unistd::read(fd, buf).traced_data(buf, || format!("read({raw}, {asked})"))
}
// ANCHOR_END: read

/// `write(fd, buf)`: write to a file descriptor that is not a socket (stdout).
///
/// # Errors
/// `EAGAIN` (our stdout is non-blocking: the pipe or terminal is full), `EPIPE`
/// (the reader of a pipe went away; SIGPIPE is ignored), `EINTR`, `EIO`.
///
/// # References
/// [write(2)](https://man7.org/linux/man-pages/man2/write.2.html)
// ANCHOR: write
pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> nix::Result<usize> {
    let raw = fd.as_raw_fd();
    nix::unistd::write(fd, buf).traced_data(buf, || format!("write({raw}, {} bytes)", buf.len()))
}
// ANCHOR_END: write

/// `write(2, buf)` for the log and the tracer: with [`poll_log`], the calls
/// that are not traced, since a trace line about writing a trace line would ask
/// for another.
pub fn write_log(fd: BorrowedFd<'_>, buf: &[u8]) -> nix::Result<usize> {
    nix::unistd::write(fd, buf)
}

/// [`poll_writable`] for the log and the tracer, not traced (see [`write_log`]).
pub fn poll_log(fd: BorrowedFd<'_>, within: Duration) -> bool {
    matches!(poll_out(fd, within), Ok(true))
}

fn poll_out(fd: BorrowedFd<'_>, within: Duration) -> nix::Result<bool> {
    let ms = within.as_millis().min(60_000) as u16;
    nix::poll::poll(&mut [PollFd::new(fd, PollFlags::POLLOUT)], PollTimeout::from(ms))
        .map(|n| n > 0)
}

/// `poll(fd, POLLOUT, within)`: wait at most `within` for `fd` to take a write.
/// Used where our stdout or stderr could not be given a non-blocking description
/// of its own (see [`crate::stdio`]), and at exit, for what is left to write.
///
/// # References
/// [poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html)
pub fn poll_writable(fd: BorrowedFd<'_>, within: Duration) -> bool {
    let raw = fd.as_raw_fd();
    let ready = poll_out(fd, within)
        .traced(|| format!("poll([{{fd={raw}, POLLOUT}}], {})", within.as_millis()));
    ready.unwrap_or(false)
}

/// `close(fd)`: release the descriptor; for a connected socket, also start the
/// orderly shutdown (FIN) once the kernel has sent what it holds.
///
/// Twin of the report's `sock.close()`. Dropping an `OwnedFd` closes it too; we
/// call this where the close is part of the story.
///
/// # References
/// [close(2)](https://man7.org/linux/man-pages/man2/close.2.html)
// ANCHOR: close
pub fn close(fd: OwnedFd) -> nix::Result<()> {
    let raw = fd.as_raw_fd();
    nix::unistd::close(fd).traced(|| format!("close({raw})"))
}
// ANCHOR_END: close

/// `open("/dev/null", O_RDONLY | O_CLOEXEC)`: an fd held in reserve by the server,
/// to be freed when `accept` fails with `EMFILE` (see `crate::server`).
///
/// # References
/// [open(2)](https://man7.org/linux/man-pages/man2/open.2.html)
pub fn open_dev_null() -> nix::Result<OwnedFd> {
    open("/dev/null", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .traced(|| "open(\"/dev/null\", O_RDONLY|O_CLOEXEC)".into())
}

/// `isatty(fd)`: whether `fd` is a terminal (the client's colour choice).
///
/// # References
/// [isatty(3)](https://man7.org/linux/man-pages/man3/isatty.3.html)
pub fn isatty(fd: impl AsFd) -> bool {
    let raw = fd.as_fd().as_raw_fd();
    let tty = nix::unistd::isatty(fd).traced(|| format!("isatty({raw})"));
    tty.unwrap_or(false)
}

/// `fstat(fd)`: what kind of file `fd` is (a regular file, a pipe, a terminal...).
///
/// # References
/// [fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html)
pub fn file_kind(fd: impl AsFd) -> nix::Result<SFlag> {
    let raw = fd.as_fd().as_raw_fd();
    fstat(fd)
        .map(|s| SFlag::from_bits_truncate(s.st_mode) & SFlag::S_IFMT)
        .traced(|| format!("fstat({raw})"))
}

/// `open("/proc/self/fd/N", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)`: the
/// same pipe or terminal as fd N, through a *new* open file description, which
/// this process alone uses (unlike `dup`, whose copy shares the description and
/// its `O_NONBLOCK`).
///
/// # Errors
/// `ENOENT` (no `/proc`), `ENXIO` (fd N is a socket), `EMFILE`.
///
/// # References
/// [open(2)](https://man7.org/linux/man-pages/man2/open.2.html),
/// [proc(5)](https://man7.org/linux/man-pages/man5/proc.5.html) (`/proc/self/fd`)
pub fn reopen_nonblocking(fd: RawFd) -> nix::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{fd}");
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    open(path.as_str(), flags, Mode::empty())
        .traced(|| format!("open(\"{path}\", O_WRONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC)"))
}

/// `dup2(new, 1)` or `dup2(new, 2)`: put `new` on stdout or stderr (dropping our
/// reference to the old description there), then `close(new)`.
///
/// # References
/// [dup2(2)](https://man7.org/linux/man-pages/man2/dup2.2.html)
pub fn replace_std(new: OwnedFd, stdfd: RawFd) -> nix::Result<()> {
    let raw = new.as_raw_fd();
    let moved = match stdfd {
        1 => nix::unistd::dup2_stdout(&new),
        _ => nix::unistd::dup2_stderr(&new),
    };
    let moved = moved.traced(|| format!("dup2({raw}, {stdfd})"));
    let _ = close(new);
    moved
}

/// `kill(getpid(), SIGSTOP)`: stop this process, as Ctrl+Z would (the client
/// does it itself, after putting the terminal back, when its editor sees Ctrl+Z).
///
/// # References
/// [kill(2)](https://man7.org/linux/man-pages/man2/kill.2.html)
pub fn stop_self() -> nix::Result<()> {
    let me = Pid::this();
    nix::sys::signal::kill(me, Signal::SIGSTOP).traced(|| format!("kill({me}, SIGSTOP)"))
}
