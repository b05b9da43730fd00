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
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

use crate::net::context;
use crate::trace;
use std::fmt::Write as _;

/// The write end of the pipe, for the handler; -1 when none is installed.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);
/// The last signal caught, for the loop to report.
static LAST_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The signal handler: record the signal and write one byte to the pipe.
///
/// Only async-signal-safe work here: two atomic operations and `write(2)`. errno
/// is saved and restored, so the interrupted code does not see ours.
// ANCHOR: on_signal
extern "C" fn on_signal(signal: libc::c_int) {
    let saved = Errno::last_raw();
    LAST_SIGNAL.store(signal, Ordering::Relaxed);
    let fd = WAKE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // If the pipe is full a wake-up is already pending; EAGAIN is fine.
        // SAFETY: write(2) is async-signal-safe, and the buffer is one valid byte.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
    Errno::set_raw(saved);
}
// ANCHOR_END: on_signal

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
    // ManuallyDrop: `Drop` closes both ends itself, through `net::close`, so the
    // closes show in `--trace` like every other call.
    read: ManuallyDrop<OwnedFd>,
    write: ManuallyDrop<OwnedFd>,
}

impl SelfPipe {
    /// Create the pipe, catch SIGINT and SIGTERM, ignore SIGPIPE, and shrug off
    /// SIGUSR1 and SIGUSR2.
    ///
    /// Steps: 1. `pipe2(O_NONBLOCK | O_CLOEXEC)`; 2. publish the write end to the
    /// handler; 3. `sigaction` for SIGINT and SIGTERM; 4. `sigaction` SIGPIPE to
    /// `SIG_IGN`; 5. a do-nothing handler for SIGUSR1 and SIGUSR2.
    ///
    /// # Errors
    /// `EMFILE` from `pipe2`, `EINVAL` from `sigaction`.
    ///
    /// # References
    /// [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html),
    /// [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html),
    /// [signal-safety(7)](https://man7.org/linux/man-pages/man7/signal-safety.7.html)
    pub fn install() -> io::Result<SelfPipe> {
        // ANCHOR: self_pipe
        // 1. Both ends non-blocking: the handler must never block on a full pipe,
        //    and draining it must stop when it is empty.
        let piped = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC);
        if trace::on() {
            trace::done(
                format_args!("pipe2(O_NONBLOCK|O_CLOEXEC)"),
                &piped,
                |(r, w), out| {
                    let _ = write!(out, "0  [{}, {}]", r.as_raw_fd(), w.as_raw_fd());
                },
            );
        }
        let (read, write) = piped.map_err(|e| context(e, "cannot create the signal pipe"))?;
        // 2. Tell the handler where to write.
        WAKE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        // 3. Catch SIGINT (Ctrl+C) and SIGTERM (kill). SA_RESTART is left out on
        //    purpose: a blocked call should return EINTR and let the loop look.
        let catch = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // 4. Ignore SIGPIPE: a vanished peer becomes an EPIPE error, not death.
        let ignore = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
        // 5. SIGUSR1 and SIGUSR2 would end the process by default; they mean
        //    nothing here, so a handler that does nothing: a stray `kill -USR1`
        //    only interrupts select (EINTR), which the loop takes in its stride.
        let shrug = SigAction::new(
            SigHandler::Handler(on_stray),
            SaFlags::empty(),
            SigSet::empty(),
        );
        for (signal, action) in [
            (Signal::SIGINT, &catch),
            (Signal::SIGTERM, &catch),
            (Signal::SIGPIPE, &ignore),
            (Signal::SIGUSR1, &shrug),
            (Signal::SIGUSR2, &shrug),
        ] {
            // SAFETY: the handler only does async-signal-safe work (see `on_signal`).
            let done = unsafe { sigaction(signal, action) };
            if trace::on() {
                let how = if matches!(signal, Signal::SIGUSR1 | Signal::SIGUSR2) {
                    "on_stray"
                } else if signal == Signal::SIGPIPE {
                    "SIG_IGN"
                } else {
                    "on_signal"
                };
                trace::done(
                    format_args!("sigaction({signal}, {how})"),
                    &done,
                    |_, out| out.push('0'),
                );
            }
            done.map_err(|e| context(e, format!("cannot handle {signal}")))?;
        }
        // ANCHOR_END: self_pipe
        Ok(SelfPipe {
            read: ManuallyDrop::new(read),
            write: ManuallyDrop::new(write),
        })
    }

    /// The read end, for the `select` read list.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Empty the pipe; `true` if a signal (or [`SelfPipe::wake`]) had written to it.
    ///
    /// Call it when `select` says the pipe is readable.
    pub fn take(&self) -> bool {
        let mut buf = [0u8; 64];
        let mut woken = false;
        // Read until EAGAIN: several signals may have left several bytes.
        while let Ok(1..) = crate::net::read(&*self.read, &mut buf) {
            woken = true;
        }
        woken
    }

    /// The last signal the handler caught, if any.
    pub fn last_signal() -> Option<Signal> {
        Signal::try_from(LAST_SIGNAL.load(Ordering::Relaxed)).ok()
    }

    /// Wake the loop as if a signal had arrived (for tests and embedding: a way to
    /// stop [`crate::server::run`] from another thread).
    pub fn wake(&self) -> io::Result<()> {
        match nix::unistd::write(&*self.write, &[0]) {
            Ok(_) | Err(Errno::EAGAIN) => Ok(()),
            Err(e) => Err(context(e, "cannot write to the signal pipe")),
        }
    }
}

impl Drop for SelfPipe {
    fn drop(&mut self) {
        // Stop the handler from writing to a closed (and maybe reused) fd.
        let _ = WAKE_FD.compare_exchange(
            self.write.as_raw_fd(),
            -1,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        // SAFETY: each field is taken once, here, and never used again.
        let (read, write) = unsafe {
            (
                ManuallyDrop::take(&mut self.read),
                ManuallyDrop::take(&mut self.write),
            )
        };
        let _ = crate::net::close(read);
        let _ = crate::net::close(write);
    }
}
