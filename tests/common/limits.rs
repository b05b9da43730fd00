//! The fd limit (`RLIMIT_NOFILE`), for the tests and the benchmark (which
//! includes this file too).

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Raise this process's soft RLIMIT_NOFILE to `want` (or the hard limit);
/// returns the new soft limit. Children inherit it.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_cur < want {
        lim.rlim_cur = want.min(lim.rlim_max);
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
    lim.rlim_cur
}

/// Run `cmd` with at most `fds` file descriptors (`ulimit -n`).
pub fn limit_fds(cmd: &mut Command, fds: u64) {
    // SAFETY: setrlimit is async-signal-safe, as a pre_exec closure must be.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: fds,
                rlim_max: fds,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            Ok(())
        });
    }
}
