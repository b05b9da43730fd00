//! A pseudo-terminal for the tests: a program runs on it as on a person's terminal
//! (its controlling terminal, in a session of its own), and what it writes is fed
//! to a terminal emulator (the `vt100` crate), so a test can assert what a person
//! would see: the rows of the screen and the cursor, not bytes.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

use super::wait_until;

/// A pseudo-terminal of `rows` x `cols`, its emulated screen, and the raw bytes.
pub struct Pty {
    master: File,
    slave: Option<OwnedFd>,
    bytes: Arc<Mutex<Vec<u8>>>,
    screen: Arc<Mutex<vt100::Parser>>,
    /// The settings the terminal had before any program ran on it.
    initial: libc::termios,
    /// `Some(n)`: a terminal that lags, taking at most `n` bytes every 10 ms,
    /// keeping no screen, only counting (see [`Pty::lagging`]).
    lag: Option<usize>,
    /// Bytes the program wrote, counted.
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl Pty {
    /// A new terminal, `rows` x `cols`.
    pub fn new(rows: u16, cols: u16) -> Pty {
        let (mut master, mut slave) = (-1, -1);
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        let rc = unsafe {
            libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &size)
        };
        assert_eq!(rc, 0, "openpty");
        // openpty does not set close-on-exec: without it, every process another
        // test starts meanwhile would inherit (and keep open) this terminal.
        for fd in [master, slave] {
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        let mut pty = Pty {
            master: unsafe { File::from_raw_fd(master) },
            slave: Some(unsafe { OwnedFd::from_raw_fd(slave) }),
            bytes: Arc::new(Mutex::new(Vec::new())),
            screen: Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0))),
            initial: unsafe { std::mem::zeroed() },
            lag: None,
            count: Arc::default(),
        };
        pty.initial = pty.settings();
        pty
    }

    /// A terminal that lags, as tmux or a remote terminal does under a flood: it
    /// takes at most `per_tick` bytes every 10 ms, and keeps no screen (only the
    /// count of bytes, [`Pty::written`]).
    pub fn lagging(rows: u16, cols: u16, per_tick: usize) -> Pty {
        Pty { lag: Some(per_tick), ..Pty::new(rows, cols) }
    }

    /// How many bytes the program wrote to the terminal so far.
    pub fn written(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Start `cmd` with this terminal as its stdin, stdout, stderr and controlling
    /// terminal (so that Ctrl+C typed on it is SIGINT for it, a resize SIGWINCH).
    pub fn spawn(&mut self, cmd: &mut Command) -> Child {
        self.attach(cmd);
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on the terminal");
        self.read_in_background();
        child
    }

    /// Start `cmd` on this terminal the way a shell with job control runs a
    /// command: a session leader (the "shell") forks it into a process group of
    /// its own, the terminal's foreground group, and waits for it. Ctrl+Z and
    /// `kill -TSTP` only stop a process whose group has a parent in its session
    /// (a group without one is "orphaned", and the kernel drops those signals),
    /// so `spawn` cannot show them. Returns the "shell" and the command's pid.
    pub fn spawn_job(&mut self, cmd: &mut Command) -> (Child, i32) {
        self.attach(cmd);
        // Only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                let pid = libc::fork();
                if pid > 0 {
                    // The "shell": no fd but the terminal (`spawn` waits for the
                    // close of a pipe kept here until the exec), the job in front,
                    // then wait for it to end.
                    libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0);
                    libc::setpgid(pid, pid);
                    libc::tcsetpgrp(0, pid);
                    while libc::waitpid(pid, std::ptr::null_mut(), 0) == -1
                        && *libc::__errno_location() == libc::EINTR
                    {}
                    libc::_exit(0);
                }
                // The job (fork failed: the leader runs it itself).
                libc::setpgid(0, 0);
                libc::signal(libc::SIGTTOU, libc::SIG_IGN);
                libc::tcsetpgrp(0, libc::getpid());
                libc::signal(libc::SIGTTOU, libc::SIG_DFL);
                Ok(())
            });
        }
        let shell = cmd.spawn().expect("spawn on the terminal");
        self.read_in_background();
        let children = format!("/proc/{0}/task/{0}/children", shell.id());
        let mut job = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while job == 0 && std::time::Instant::now() < deadline {
            job = std::fs::read_to_string(&children)
                .ok()
                .and_then(|c| c.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
        }
        assert!(job != 0, "the job did not start");
        (shell, job)
    }

    /// The terminal as `cmd`'s stdin, stdout and stderr.
    fn attach(&mut self, cmd: &mut Command) {
        let slave = self.slave.take().expect("one program per terminal");
        cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
    }

    /// Copy what the program writes into the byte log and the screen.
    fn read_in_background(&self) {
        // The parent's copies of the slave go with the Command's Stdio.
        let mut reader = self.master.try_clone().expect("dup master");
        let (bytes, screen) = (Arc::clone(&self.bytes), Arc::clone(&self.screen));
        let (count, lag) = (Arc::clone(&self.count), self.lag);
        thread::spawn(move || {
            let (mut buf, mut tick) = (vec![0u8; 4096], 0);
            // Ends with EIO once the program exits and the slave side is closed.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                count.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                if let Some(per_tick) = lag {
                    tick += n;
                    if tick >= per_tick {
                        tick = 0;
                        thread::sleep(std::time::Duration::from_millis(10));
                    }
                    continue;
                }
                bytes.lock().unwrap().extend_from_slice(&buf[..n]);
                screen.lock().unwrap().process(&buf[..n]);
            }
        });
    }

    /// Everything written to the terminal so far, as text.
    pub fn bytes(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    /// The rows of the screen, without trailing blanks.
    pub fn rows(&self) -> Vec<String> {
        let parser = self.screen.lock().unwrap();
        let (_, cols) = parser.screen().size();
        parser.screen().rows(0, cols).map(|r| r.trim_end().to_string()).collect()
    }

    /// The screen as text, a row a line, blank rows at the end left out.
    pub fn text(&self) -> String {
        let rows = self.rows();
        let used = rows.iter().rposition(|r| !r.is_empty()).map_or(0, |i| i + 1);
        rows[..used].join("\n")
    }

    /// The cursor: (row, column), from 0.
    pub fn cursor(&self) -> (u16, u16) {
        self.screen.lock().unwrap().screen().cursor_position()
    }

    /// Wait (bounded) until the screen shows `text` somewhere.
    #[track_caller]
    pub fn expect_text(&self, text: &str) {
        wait_until(
            || format!("the screen never showed {text:?}; it shows:\n{}", self.text()),
            || self.text().contains(text),
        );
    }

    /// Wait (bounded) until the raw bytes written contain `text`.
    #[track_caller]
    pub fn expect_bytes(&self, text: &str) {
        wait_until(
            || format!("never written: {text:?}; written: {:?}", self.bytes()),
            || self.bytes().contains(text),
        );
    }

    /// The keyboard, to type from another thread (a long paste blocks until the
    /// program reads it).
    pub fn keyboard(&self) -> File {
        self.master.try_clone().expect("dup master")
    }

    /// Type `keys` on the terminal's keyboard.
    pub fn type_keys(&mut self, keys: &[u8]) {
        self.master.write_all(keys).expect("type");
    }

    /// The settings the terminal had before the program started.
    pub fn initial(&self) -> libc::termios {
        self.initial
    }

    /// The terminal's settings now (`stty -g` in a struct).
    pub fn settings(&self) -> libc::termios {
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(self.master.as_raw_fd(), &mut t) }, 0);
        t
    }

    /// Resize the terminal: the program on it gets SIGWINCH.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        self.screen.lock().unwrap().screen_mut().set_size(rows, cols);
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }
}

/// Whether two terminal settings are the same (what `stty -g` would print).
pub fn same_settings(a: &libc::termios, b: &libc::termios) -> bool {
    a.c_iflag == b.c_iflag
        && a.c_oflag == b.c_oflag
        && a.c_cflag == b.c_cflag
        && a.c_lflag == b.c_lflag
        && a.c_cc == b.c_cc
}
