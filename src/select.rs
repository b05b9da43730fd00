//! Our `select`: the twin of Python's `select.select(rlist, wlist, xlist, timeout)`.
//!
//! Mirrors the report's "Select Function" section. Python hides three chores that
//! C (and nix) leave to the caller; this module does them in one place:
//!
//! 1. **Rebuild the sets before every call.** `select(2)` overwrites the sets it is
//!    given with the subset that is ready, so the "master list" (the report's
//!    `connList`) must be turned into fresh `fd_set`s each time. [`select`] takes
//!    the master list as iterators of fds and builds the sets itself.
//! 2. **Compute `nfds`**, the highest fd plus one: the kernel scans every fd below it.
//! 3. **Refuse fds that do not fit.** An `fd_set` is a bitmap of `FD_SETSIZE`
//!    (1024) bits. Writing bit 1500 in C silently corrupts memory; nix's
//!    `FdSet::insert` panics instead. We check first and return
//!    [`SelectError::FdTooLarge`], so the server can turn the connection away and
//!    go on.
//!
//! It also reports `EINTR` as its own variant, [`SelectError::Interrupted`]: a
//! signal arrived during the wait, which is how Ctrl+C reaches the loop.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::select::FdSet;
use nix::sys::time::{TimeVal, TimeValLike};

use crate::{trace, traced};

/// The number of fds an `fd_set` can hold: `select` can watch fds `0..FD_SETSIZE`.
pub const FD_SETSIZE: RawFd = libc::FD_SETSIZE as RawFd;

const WORDS: usize = (FD_SETSIZE as usize).div_ceil(64);

/// A plain copy of a filled-in `fd_set`, free of the borrows that nix's
/// `FdSet<'fd>` carries, so the caller may change its client list while reading it.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct FdBits([u64; WORDS]);

impl FdBits {
    fn insert(&mut self, fd: RawFd) {
        let fd = fd as usize;
        self.0[fd / 64] |= 1 << (fd % 64);
    }

    fn contains(&self, fd: RawFd) -> bool {
        (0..FD_SETSIZE).contains(&fd) && self.0[fd as usize / 64] & (1 << (fd % 64)) != 0
    }
}

/// What one call to [`select`] found: the twin of the `(readable, writable,
/// exceptional)` triple that Python's `select` returns (we watch no exceptions).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    read: FdBits,
    write: FdBits,
    count: usize,
}

impl Ready {
    /// `fd` was in the read list and is ready: `recv`/`accept`/`read` will not block.
    pub fn readable(&self, fd: RawFd) -> bool {
        self.read.contains(fd)
    }

    /// `fd` was in the write list and is ready: `send` will take at least one byte.
    pub fn writable(&self, fd: RawFd) -> bool {
        self.write.contains(fd)
    }

    /// How many (fd, direction) pairs are ready; 0 means the timeout expired.
    pub fn count(&self) -> usize {
        self.count
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |bits: &FdBits| {
            (0..FD_SETSIZE)
                .filter(|&fd| bits.contains(fd))
                .collect::<Vec<_>>()
        };
        f.debug_struct("Ready")
            .field("read", &list(&self.read))
            .field("write", &list(&self.write))
            .finish()
    }
}

/// Why [`select`] returned no result. The caller branches on the first two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectError {
    /// `EINTR`: a signal handler ran during the wait. Nothing is ready; look at
    /// whatever the handler recorded, then call again.
    Interrupted,
    /// An fd is `FD_SETSIZE` or above (or negative) and cannot be put in an
    /// `fd_set`. Nothing was waited for.
    FdTooLarge(RawFd),
    /// Any other error from `select(2)`: `EBADF` (an fd in the lists is closed, a
    /// bug in the caller), `EINVAL`, `ENOMEM`.
    Os(Errno),
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::Interrupted => write!(f, "select: interrupted by a signal"),
            SelectError::FdTooLarge(fd) => write!(
                f,
                "select: fd {fd} cannot be watched (select handles fds 0 to {})",
                FD_SETSIZE - 1
            ),
            SelectError::Os(e) => write!(f, "select: {}", crate::show::strerror(*e)),
        }
    }
}

impl std::error::Error for SelectError {}

impl From<SelectError> for std::io::Error {
    fn from(e: SelectError) -> Self {
        match e {
            SelectError::Interrupted => Errno::EINTR.into(),
            SelectError::FdTooLarge(_) => std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
            SelectError::Os(errno) => std::io::Error::new(std::io::Error::from(errno).kind(), e),
        }
    }
}

/// Wait until one of `rlist` is readable or one of `wlist` is writable, or until
/// `timeout` passes (`None`: wait for ever).
///
/// Twin of Python's `select.select(rlist, wlist, [], timeout)` in the report's
/// `run_server` and `run_client`. The lists are read once, to build fresh sets
/// (select overwrites them, see the module docs); the answer is a [`Ready`].
///
/// # Errors
/// - [`SelectError::Interrupted`] for `EINTR` (a signal arrived).
/// - [`SelectError::FdTooLarge`] if an fd is negative or `>= FD_SETSIZE`.
/// - [`SelectError::Os`] for any other errno of `select(2)`.
///
/// # References
/// [select(2)](https://man7.org/linux/man-pages/man2/select.2.html)
///
/// # Example
/// ```
/// use std::os::fd::AsFd;
/// use std::time::Duration;
/// let (r, w) = std::io::pipe().unwrap();
/// // The write end of an empty pipe is writable; the read end is not readable.
/// let ready = select_chat::select::select([r.as_fd()], [w.as_fd()], Some(Duration::ZERO)).unwrap();
/// assert!(ready.writable(std::os::fd::AsRawFd::as_raw_fd(&w)));
/// assert!(!ready.readable(std::os::fd::AsRawFd::as_raw_fd(&r)));
/// ```
pub fn select<'fd>(
    rlist: impl IntoIterator<Item = BorrowedFd<'fd>>,
    wlist: impl IntoIterator<Item = BorrowedFd<'fd>>,
    timeout: Option<Duration>,
) -> Result<Ready, SelectError> {
    // ANCHOR: build_sets
    // 1. Fresh sets from the master lists, checking each fd fits in an fd_set.
    let mut read_set = FdSet::new();
    let mut write_set = FdSet::new();
    let mut highest: RawFd = -1;
    fill(&mut read_set, rlist, &mut highest)?;
    fill(&mut write_set, wlist, &mut highest)?;
    // 2. nfds: the kernel looks at fds 0 ..= highest.
    let nfds = highest + 1;
    // ANCHOR_END: build_sets
    let mut tv = timeout.map(|t| TimeVal::microseconds(t.as_micros().min(i64::MAX as u128) as i64));
    // What was asked, for --trace, before select overwrites the sets.
    let asked = trace::on().then(|| trace::select_asked(&read_set, &write_set, highest, timeout));

    // ANCHOR: call_select
    // 3. Wait. On return the sets hold only the fds that are ready.
    let result = traced!(
        nix::sys::select::select(nfds, &mut read_set, &mut write_set, None, tv.as_mut()),
        |&n, out| trace::select_ready(n, &read_set, &write_set, highest, out),
        "select(nfds={nfds}, {})",
        asked.unwrap_or_default()
    );
    let count = match result {
        Ok(n) => n as usize,
        Err(Errno::EINTR) => return Err(SelectError::Interrupted),
        Err(e) => return Err(SelectError::Os(e)),
    };
    // ANCHOR_END: call_select

    // 4. Copy the answer out of the sets (an FD_ISSET scan up to nfds).
    let mut ready = Ready {
        read: FdBits::default(),
        write: FdBits::default(),
        count,
    };
    for fd in read_set.fds(Some(highest)) {
        ready.read.insert(fd.as_raw_fd());
    }
    for fd in write_set.fds(Some(highest)) {
        ready.write.insert(fd.as_raw_fd());
    }
    Ok(ready)
}

/// Put every fd of `list` in `set`, raising `highest`; refuse an fd that does not fit
/// (nix's `FdSet::insert` would panic on it).
fn fill<'fd>(
    set: &mut FdSet<'fd>,
    list: impl IntoIterator<Item = BorrowedFd<'fd>>,
    highest: &mut RawFd,
) -> Result<(), SelectError> {
    for fd in list {
        let raw = fd.as_raw_fd();
        if !(0..FD_SETSIZE).contains(&raw) {
            return Err(SelectError::FdTooLarge(raw));
        }
        set.insert(fd);
        *highest = (*highest).max(raw);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn readable_after_a_write_and_not_before() {
        let (r, w) = std::io::pipe().expect("pipe");
        let ready = select([r.as_fd()], [], Some(Duration::ZERO)).expect("select");
        assert_eq!(ready.count(), 0);
        assert!(!ready.readable(r.as_raw_fd()));
        nix::unistd::write(&w, b"x").expect("write");
        let ready = select([r.as_fd()], [], Some(Duration::from_secs(5))).expect("select");
        assert_eq!(ready.count(), 1);
        assert!(ready.readable(r.as_raw_fd()));
        assert!(!ready.writable(r.as_raw_fd()));
    }
}
