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
//!    `FdSet::insert` panics instead. We check first and return `EINVAL`; the
//!    server checks every fd at `accept`, and turns away what would not fit.
//!
//! `EINTR` comes back as an error like any other: a signal arrived during the
//! wait, which is how Ctrl+C reaches the loop.

use std::fmt::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::select::FdSet;
use nix::sys::time::{TimeVal, TimeValLike};

use crate::trace::{self, Shown, Traced};

/// The number of fds an `fd_set` can hold: `select` can watch fds `0..FD_SETSIZE`.
pub const FD_SETSIZE: RawFd = libc::FD_SETSIZE as RawFd;

/// A plain copy of a filled-in `fd_set`, free of the borrows that nix's
/// `FdSet<'fd>` carries, so the caller may change its lists while reading it.
type FdBits = [u64; (FD_SETSIZE as usize).div_ceil(64)];

/// What one call to [`select`] found: the twin of the `(readable, writable,
/// exceptional)` triple that Python's `select` returns (we watch no exceptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    read: FdBits,
    write: FdBits,
    count: usize,
}

fn contains(bits: &FdBits, fd: RawFd) -> bool {
    (0..FD_SETSIZE).contains(&fd) && bits[fd as usize / 64] & (1 << (fd % 64)) != 0
}

impl Ready {
    /// `fd` was in the read list and is ready: `recv`/`accept`/`read` will not block.
    pub fn readable(&self, fd: impl AsFd) -> bool {
        contains(&self.read, fd.as_fd().as_raw_fd())
    }

    /// `fd` was in the write list and is ready: `send` will take at least one byte.
    pub fn writable(&self, fd: impl AsFd) -> bool {
        contains(&self.write, fd.as_fd().as_raw_fd())
    }

    /// The readable fds, lowest first: the report's `readableList`.
    pub fn readable_list(&self) -> impl Iterator<Item = RawFd> + '_ {
        (0..FD_SETSIZE).filter(|&fd| contains(&self.read, fd))
    }

    /// How many (fd, direction) pairs are ready; 0 means the time-out expired.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Copy the answer out of the sets `select` filled (an `FD_ISSET` scan).
    fn from_sets(count: i32, read: &FdSet<'_>, write: &FdSet<'_>, highest: RawFd) -> Ready {
        let mut ready = Ready {
            read: [0; (FD_SETSIZE as usize).div_ceil(64)],
            write: [0; (FD_SETSIZE as usize).div_ceil(64)],
            count: count as usize,
        };
        for (set, bits) in [(read, &mut ready.read), (write, &mut ready.write)] {
            for fd in set.fds(Some(highest)).map(|fd| fd.as_raw_fd() as usize) {
                bits[fd / 64] |= 1 << (fd % 64);
            }
        }
        ready
    }
}

/// `2  ready: read={3} write={7}` in a trace line.
impl Shown for Ready {
    fn show(&self, out: &mut String) {
        let _ = write!(out, "{}  ready: read=", self.count);
        trace::fd_set(out, self.readable_list());
        out.push_str(" write=");
        trace::fd_set(out, (0..FD_SETSIZE).filter(|&fd| contains(&self.write, fd)));
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
/// `EINTR` (a signal arrived: nothing is ready, look at what the handler
/// recorded and call again), `EINVAL` (an fd is negative or `>= FD_SETSIZE`:
/// nothing was waited for), `EBADF` (an fd in the lists is closed, a bug),
/// `ENOMEM`.
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
/// assert!(ready.writable(&w));
/// assert!(!ready.readable(&r));
/// ```
pub fn select<'fd>(
    rlist: impl IntoIterator<Item = BorrowedFd<'fd>>,
    wlist: impl IntoIterator<Item = BorrowedFd<'fd>>,
    timeout: Option<Duration>,
) -> nix::Result<Ready> {
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
    let asked = trace::on().then(|| asked(&read_set, &write_set, highest, timeout));
    // ANCHOR: call_select
    // 3. Wait. On return the sets hold only the fds that are ready; 4. copy them out.
    nix::sys::select::select(nfds, &mut read_set, &mut write_set, None, tv.as_mut())
        .map(|n| Ready::from_sets(n, &read_set, &write_set, highest))
        .traced(|| format!("select(nfds={nfds}, {})", asked.unwrap_or_default()))
    // ANCHOR_END: call_select
}

/// Put every fd of `list` in `set`, raising `highest`; refuse an fd that does not fit
/// (nix's `FdSet::insert` would panic on it).
fn fill<'fd>(
    set: &mut FdSet<'fd>,
    list: impl IntoIterator<Item = BorrowedFd<'fd>>,
    highest: &mut RawFd,
) -> nix::Result<()> {
    for fd in list {
        let raw = fd.as_raw_fd();
        if !(0..FD_SETSIZE).contains(&raw) {
            return Err(Errno::EINVAL);
        }
        set.insert(fd);
        *highest = (*highest).max(raw);
    }
    Ok(())
}

/// The sets given to `select`, as `read={3,4}, write={}, timeout=0.5s`.
fn asked(read: &FdSet<'_>, write: &FdSet<'_>, highest: RawFd, timeout: Option<Duration>) -> String {
    let mut sets = String::from("read=");
    trace::fd_set(&mut sets, read.fds(Some(highest)).map(|fd| fd.as_raw_fd()));
    sets.push_str(", write=");
    trace::fd_set(&mut sets, write.fds(Some(highest)).map(|fd| fd.as_raw_fd()));
    if let Some(t) = timeout {
        let _ = write!(sets, ", timeout={:.1}s", t.as_secs_f64());
    }
    sets
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
        assert!(!ready.readable(&r));
        nix::unistd::write(&w, b"x").expect("write");
        let ready = select([r.as_fd()], [], Some(Duration::from_secs(5))).expect("select");
        assert_eq!(ready.count(), 1);
        assert!(ready.readable(&r));
        assert!(!ready.writable(&r));
        assert_eq!(ready.readable_list().collect::<Vec<_>>(), [r.as_raw_fd()]);
    }
}
