//! The system calls on file descriptors that are not about sockets: `fcntl` for
//! non-blocking mode, `read` and `write` on stdin and stdout, `close`, `open`,
//! `isatty`, and the `fstat`/`open`/`dup2` that give stdout and stderr a file
//! description of our own (see [`crate::stdio`]).
//!
//! Like [`crate::net`], one small function per call, each through
//! [`traced!`](crate::traced), each returning nix's `Result<_, Errno>`.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};

use crate::trace::{show_data, show_fd, show_file_kind, show_flags, show_zero};
use crate::traced;

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
    let fd = fd.as_fd();
    let raw = fd.as_raw_fd();
    let got = traced!(
        fcntl(fd, FcntlArg::F_GETFL),
        |&f, out| show_flags(f, out),
        "fcntl({raw}, F_GETFL)"
    )?;
    let flags = OFlag::from_bits_retain(got) | OFlag::O_NONBLOCK;
    traced!(
        fcntl(fd, FcntlArg::F_SETFL(flags)).map(drop),
        show_zero,
        "fcntl({raw}, F_SETFL, {})",
        {
            let mut shown = String::new();
            show_flags(flags.bits(), &mut shown);
            shown
        }
    )
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
    traced!(
        nix::unistd::read(fd, buf),
        |&n, out| show_data(n, &buf[..n], out),
        "read({raw}, {asked})"
    )
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
pub fn write(fd: impl AsFd, buf: &[u8]) -> nix::Result<usize> {
    let raw = fd.as_fd().as_raw_fd();
    traced!(
        nix::unistd::write(fd, buf),
        |&n, out| show_data(n, &buf[..n], out),
        "write({raw}, {} bytes)",
        buf.len()
    )
}
// ANCHOR_END: write

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
    traced!(nix::unistd::close(fd), show_zero, "close({raw})")
}
// ANCHOR_END: close

/// `open("/dev/null", O_RDONLY | O_CLOEXEC)`: an fd held in reserve by the server,
/// to be freed when `accept` fails with `EMFILE` (see `crate::server`).
///
/// # References
/// [open(2)](https://man7.org/linux/man-pages/man2/open.2.html)
pub fn open_dev_null() -> nix::Result<OwnedFd> {
    traced!(
        open(
            "/dev/null",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty()
        ),
        show_fd,
        "open(\"/dev/null\", O_RDONLY|O_CLOEXEC)"
    )
}

/// `isatty(fd)`: whether `fd` is a terminal (the client's colour choice).
///
/// # References
/// [isatty(3)](https://man7.org/linux/man-pages/man3/isatty.3.html)
pub fn isatty(fd: impl AsFd) -> bool {
    let raw = fd.as_fd().as_raw_fd();
    traced!(
        nix::unistd::isatty(fd),
        |&t, out| out.push_str(if t { "1" } else { "0" }),
        "isatty({raw})"
    )
    .unwrap_or(false)
}

/// `fstat(fd)`: what kind of file `fd` is (a regular file, a pipe, a terminal...).
///
/// # References
/// [fstat(2)](https://man7.org/linux/man-pages/man2/fstat.2.html)
pub fn file_kind(fd: impl AsFd) -> nix::Result<SFlag> {
    let raw = fd.as_fd().as_raw_fd();
    traced!(
        fstat(fd).map(|s: FileStat| SFlag::from_bits_truncate(s.st_mode) & SFlag::S_IFMT),
        show_file_kind,
        "fstat({raw})"
    )
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
    traced!(
        open(path.as_str(), flags, Mode::empty()),
        show_fd,
        "open(\"{path}\", O_WRONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC)"
    )
}

/// `dup2(new, 1)` or `dup2(new, 2)`: put `new` on stdout or stderr (dropping our
/// reference to the old description there), then `close(new)`.
///
/// # References
/// [dup2(2)](https://man7.org/linux/man-pages/man2/dup2.2.html)
pub fn replace_std(new: OwnedFd, stdfd: RawFd) -> nix::Result<()> {
    let raw = new.as_raw_fd();
    let moved = if stdfd == 1 {
        traced!(nix::unistd::dup2_stdout(&new), show_zero, "dup2({raw}, 1)")
    } else {
        traced!(nix::unistd::dup2_stderr(&new), show_zero, "dup2({raw}, 2)")
    };
    let _ = close(new);
    moved
}
