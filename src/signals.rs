//! Ctrl+C without races: the self-pipe trick.
//!
//! Mirrors the report's `except KeyboardInterrupt:` clauses in `run_server` and
//! `run_client`. Python turns SIGINT into an exception raised wherever the program
//! happens to be, even halfway through `send_all`. A C program cannot do much in a
//! signal handler (only async-signal-safe calls), and a flag set by the handler is
//! easy to miss: if the signal lands just before `select` starts waiting, `select`
//! sleeps on and the flag is only seen at the next event.
//!
//! The self-pipe trick (D. J. Bernstein) closes that gap. The handler writes one
//! byte into a non-blocking pipe, and the loop puts the pipe's read end in its
//! `select` read list. A signal at any moment, before or during the wait, leaves a
//! byte in the pipe, so `select` returns at once and the loop shuts down cleanly,
//! between two steps, never in the middle of one.
//!
//! Why not `pselect` with a signal mask? It is race-free too, but the mask is per
//! thread, so a signal can be delivered to another thread (a test harness, say)
//! that does not wait in `pselect`; the pipe wakes the loop whichever thread ran
//! the handler, and it works with the plain `select` the report teaches.
//!
//! SIGPIPE, raised when writing to a connection the peer closed, is ignored: every
//! `send` also passes `MSG_NOSIGNAL`, and a console that went away (`srv | head`)
//! then shows up as an `EPIPE` error instead of killing the process.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use crate::fd;
use crate::show::context;
use crate::trace::{Shown, Traced};

/// The write end of the pipe, for the handler; -1 when none is installed.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// The signal handler: write the signal's number, as one byte, to the pipe.
///
/// Only async-signal-safe work here (see signal-safety(7)): an atomic load and
/// `write(2)`. No allocation, no lock, no formatting, no tracing. errno is saved
/// and restored, so the interrupted code does not see ours.
// ANCHOR: on_signal
extern "C" fn on_signal(signal: libc::c_int) {
    let saved = Errno::last_raw();
    let fd = WAKE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // If the pipe is full a wake-up is already pending; EAGAIN is fine.
        // SAFETY: write(2) is async-signal-safe, and the buffer is one valid byte.
        unsafe { libc::write(fd, [signal as u8].as_ptr().cast(), 1) };
    }
    Errno::set_raw(saved);
}
// ANCHOR_END: on_signal

/// Steps 3 to 5 of [`SelfPipe::install`]: what is done with each signal, and
/// the handler's name for the trace.
// ANCHOR: handlers
fn handlers(also: &[Signal]) -> Vec<(Signal, SigAction, &'static str)> {
    let action = |handler| SigAction::new(handler, SaFlags::empty(), SigSet::empty());
    // 3. Catch SIGINT (Ctrl+C), SIGTERM (kill), SIGHUP (hang-up) and `also`.
    //    SA_RESTART is left out on purpose: a blocked call should return EINTR.
    let caught = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP].iter().chain(also);
    let mut all: Vec<_> =
        caught.map(|&s| (s, action(SigHandler::Handler(on_signal)), "on_signal")).collect();
    // 4. Ignore SIGPIPE: a vanished peer becomes an EPIPE error, not death.
    all.push((Signal::SIGPIPE, action(SigHandler::SigIgn), "SIG_IGN"));
    // 5. SIGUSR1, SIGUSR2 would end the process: let them only interrupt select.
    for stray in [Signal::SIGUSR1, Signal::SIGUSR2] {
        all.push((stray, action(SigHandler::Handler(on_stray)), "on_stray"));
    }
    all
}
// ANCHOR_END: handlers

/// The handler for signals that mean nothing to us: it does nothing, so the
/// signal's only effect is to interrupt a blocked call with `EINTR`.
extern "C" fn on_stray(_signal: libc::c_int) {}

/// The self-pipe: its read end goes in the `select` read list; it becomes
/// readable when SIGINT or SIGTERM arrives.
///
/// Lifecycle: one per process, made by [`SelfPipe::install`] before the loop
/// starts and kept until the program exits. A second `install` takes over the
/// handler's pipe from the first.
#[derive(Debug)]
pub struct SelfPipe {
    read: OwnedFd,
    write: OwnedFd,
}

/// What the handler caught since the loop last looked ([`SelfPipe::caught`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caught {
    /// SIGINT (Ctrl+C), SIGTERM (`kill`) or SIGHUP (the terminal closed): stop.
    pub stop: bool,
    /// SIGWINCH: the terminal was resized (the client redraws).
    pub resize: bool,
    /// SIGCONT: the process was continued after a stop (`fg` after Ctrl+Z).
    pub resume: bool,
    /// SIGTSTP from outside (`kill -TSTP`): suspend as Ctrl+Z would.
    pub suspend: bool,
}

impl SelfPipe {
    /// Create the pipe, catch SIGINT, SIGTERM and SIGHUP (and `also`: the client
    /// adds SIGWINCH, SIGCONT and SIGTSTP for its editor), ignore SIGPIPE, and
    /// shrug off SIGUSR1 and SIGUSR2.
    ///
    /// Steps: 1. `pipe2(O_NONBLOCK | O_CLOEXEC)`; 2. publish the write end to the
    /// handler; 3. `sigaction` for the signals the loop acts on; 4. `sigaction`
    /// SIGPIPE to `SIG_IGN`; 5. a do-nothing handler for SIGUSR1 and SIGUSR2.
    ///
    /// # Errors
    /// `EMFILE` from `pipe2`, `EINVAL` from `sigaction`.
    ///
    /// # References
    /// [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html),
    /// [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html),
    /// [signal-safety(7)](https://man7.org/linux/man-pages/man7/signal-safety.7.html)
    pub fn install(also: &[Signal]) -> io::Result<SelfPipe> {
        // ANCHOR: self_pipe
        // 1. Both ends non-blocking: the handler must never block, nor the drain.
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)
            .map(Pair)
            .traced(|| "pipe2(O_NONBLOCK|O_CLOEXEC)".into())
            .map_err(|e| context(e, "cannot create the signal pipe"))?
            .0;
        WAKE_FD.store(write.as_raw_fd(), Ordering::Relaxed); // 2. The handler's pipe.
        // 3.-5. A handler for each signal (see `handlers`).
        for (signal, action, how) in handlers(also) {
            // SAFETY: the handlers only do async-signal-safe work (see `on_signal`).
            unsafe { sigaction(signal, &action) }
                .map(drop)
                .traced(|| format!("sigaction({signal}, {how})"))
                .map_err(|e| context(e, format!("cannot handle {signal}")))?;
        }
        // ANCHOR_END: self_pipe
        Ok(SelfPipe { read, write })
    }

    /// The read end, for the `select` read list.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// What arrived since the last look: empty the pipe, one byte per signal.
    ///
    /// Call it when `select` says the pipe is readable.
    pub fn caught(&self) -> Caught {
        let mut buf = [0u8; 64];
        let mut caught = Caught::default();
        // Read until EAGAIN: several signals may have left several bytes.
        while let Ok(n @ 1..) = fd::read(&self.read, &mut buf) {
            for &byte in &buf[..n] {
                match Signal::try_from(i32::from(byte)) {
                    Ok(Signal::SIGWINCH) => caught.resize = true,
                    Ok(Signal::SIGCONT) => caught.resume = true,
                    Ok(Signal::SIGTSTP) => caught.suspend = true,
                    _ => caught.stop = true,
                }
            }
        }
        caught
    }
}

/// The two ends of a new pipe, as `pipe2` returns them: `0  [5, 6]`.
struct Pair((OwnedFd, OwnedFd));

impl Shown for Pair {
    fn show(&self, out: &mut String) {
        let (r, w) = &self.0;
        out.push_str(&format!("0  [{}, {}]", r.as_raw_fd(), w.as_raw_fd()));
    }
}

impl Drop for SelfPipe {
    /// Stop the handler from writing to a pipe about to be closed (whose fd number
    /// could then be reused); the two ends are closed as they are dropped.
    fn drop(&mut self) {
        let _ = WAKE_FD.compare_exchange(
            self.write.as_raw_fd(),
            -1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}
