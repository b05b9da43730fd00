//! Helpers shared by the integration tests: start the real `srv` binary on a free
//! loopback port, talk to it with raw sockets, and assert exact bytes, every
//! blocking read bounded by a time-out.
//!
//! The expected texts are written out here by hand, independently of the
//! library's `make_*_msg` functions, so a change to the wire format fails a test.

#![allow(dead_code)]

pub mod attacks;
pub mod pty;
mod sys;
#[allow(unused_imports)]
pub use sys::{connect_burst, connect_from, limit_fds, next_source, raise_nofile};

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single expectation may wait.
pub const WAIT: Duration = Duration::from_secs(10);

pub const BLUE_BOLD: &str = "\x1b[34m\x1b[1m";
pub const RED_BOLD: &str = "\x1b[31m\x1b[1m";
pub const PURPLE_BOLD: &str = "\x1b[35m\x1b[1m";
pub const ENDC: &str = "\x1b[0m";

fn plural(n: usize) -> &'static str {
    if n == 1 { "user" } else { "users" }
}

/// The connect notice, as the report's `CONN_MSG`.
pub fn conn_msg(n: usize) -> String {
    format!("{BLUE_BOLD}\rConnected to the chat server ({n} {} online)\n{ENDC}", plural(n))
}

/// The join notice, as the report's `JOIN_MSG`.
pub fn join_msg(addr: &str, n: usize) -> String {
    format!("{BLUE_BOLD}\r> New user {addr} entered ({n} {} online)\n{ENDC}", plural(n))
}

/// The leave notice, as the report's `EXIT_MSG` (0 and 1 both say "user").
pub fn leave_msg(addr: &str, n: usize) -> String {
    let noun = if n <= 1 { "user" } else { "users" };
    format!("{RED_BOLD}\r< The user {addr} left ({n} {noun} online)\n{ENDC}")
}

/// The leave notice of the report's error path: `make_leave_msg(...) + " (error) "`.
pub fn error_leave_msg(addr: &str, n: usize) -> String {
    format!("{} (error) ", leave_msg(addr, n))
}

/// A relayed line, as the report's `SEND_MSG`.
pub fn send_msg(addr: &str, text: &str) -> String {
    format!("{PURPLE_BOLD}\r[{addr}]: {text}\n{ENDC}")
}

/// What the server says to a connection it cannot take.
pub fn full_msg() -> String {
    format!("{RED_BOLD}\r< The server is full, try again later \n{ENDC}")
}

/// What the server says to a connection whose host has too many, or connects
/// too often.
pub fn host_full_msg() -> String {
    format!("{RED_BOLD}\r< Too many connections from your address, try again later \n{ENDC}")
}

/// The `srv` binary under test: this build's, or the one `SELECT_CHAT_SRV`
/// names (to measure a change against another build: the tests print what they
/// measure).
pub fn srv_command() -> Command {
    let bin = std::env::var_os("SELECT_CHAT_SRV");
    Command::new(bin.as_deref().unwrap_or(env!("CARGO_BIN_EXE_srv").as_ref()))
}

/// A field of `/proc/PID/status` in KiB (`VmRSS:`, `VmHWM:`); 0 once it is gone.
pub fn status_kib(pid: i32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The real `srv` binary, started on a free loopback port, killed on drop.
pub struct Srv {
    child: Child,
    pub port: u16,
    pub host: String,
    console: Arc<Mutex<Vec<u8>>>,
    /// Says when the console has been read to its end (the server exited).
    console_ended: Receiver<()>,
    stderr: Option<ChildStderr>,
}

impl Srv {
    /// `srv 127.0.0.1 0`.
    pub fn start() -> Srv {
        Srv::start_with(&["127.0.0.1", "0"], |_| {})
    }

    /// `srv ARGS...` (ending in a host and port 0), after `setup` on the command.
    pub fn start_with(args: &[&str], setup: impl FnOnce(&mut Command)) -> Srv {
        let mut cmd = srv_command();
        cmd.args(args)
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        setup(&mut cmd);
        let mut child = cmd.spawn().expect("spawn srv");
        let mut stdout = child.stdout.take().expect("stdout");
        let console = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = channel();
        let (ended, console_ended) = channel();
        {
            // Drain the console for the server's whole life, so it never blocks on
            // a full pipe, and keep it for the assertions.
            let console = Arc::clone(&console);
            thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let mut sent = false;
                loop {
                    match stdout.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let mut c = console.lock().unwrap();
                            c.extend_from_slice(&buf[..n]);
                            if !sent && c.contains(&b'\n') {
                                let _ = tx.send(());
                                sent = true;
                            }
                        }
                    }
                }
                let _ = ended.send(());
            });
        }
        if rx.recv_timeout(WAIT).is_err() {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
            panic!("srv did not print its start line; stderr: {err}");
        }
        let first = String::from_utf8_lossy(&console.lock().unwrap()).to_string();
        let port: u16 = first
            .split("port ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in start line {first:?}"));
        let host = args[args.len() - 2].to_string();
        let stderr = child.stderr.take();
        Srv { child, port, host, console, console_ended, stderr }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        let ip = match self.host.as_str() {
            "0.0.0.0" => "127.0.0.1",
            "::" => "::1",
            h => h,
        };
        SocketAddr::new(ip.trim_matches(['[', ']']).parse().expect("ip"), self.port)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the server printed so far.
    pub fn console(&self) -> String {
        String::from_utf8_lossy(&self.console.lock().unwrap()).into_owned()
    }

    /// Wait until the console contains `text`.
    #[track_caller]
    pub fn expect_console(&self, text: &str) {
        wait_until(
            || format!("console never showed {text:?}; it has:\n{:?}", self.console()),
            || self.console().contains(text),
        );
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Wait for the server to exit, within `WAIT`, and for its console to be read
    /// to the end: what it printed last is in [`Srv::console`] then.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let status = wait_exit(&mut self.child, "srv");
        let _ = self.console_ended.recv_timeout(WAIT);
        status
    }

    /// The server is still running.
    #[track_caller]
    pub fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().expect("try_wait").is_none(),
            "srv died; stderr: {}",
            self.stderr_text()
        );
    }

    /// What the server wrote on stderr (only after it exited, or it blocks).
    pub fn stderr_text(&mut self) -> String {
        let mut s = String::new();
        if self.child.try_wait().ok().flatten().is_some() {
            let _ = self.stderr.take().map(|mut e| e.read_to_string(&mut s));
        }
        s
    }

    /// CPU seconds (user + system) the server has used, from /proc/PID/stat.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        let after = &stat[stat.rfind(')').expect(")") + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    }

    /// Open fds of the server, from /proc/PID/fd.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw TCP client, as `nc` would be.
pub struct Peer {
    pub stream: TcpStream,
    /// How the server names this client: our local address.
    pub addr: String,
}

impl Peer {
    /// Connect without reading anything. Over IPv4, from a loopback address of
    /// its own ([`next_source`]): each peer is a classmate on a machine of its
    /// own, as the server's per-host rules expect a class to be.
    pub fn connect_raw(to: SocketAddr) -> Peer {
        match to {
            SocketAddr::V4(_) => Peer::connect_from(to, next_source()),
            SocketAddr::V6(_) => {
                Peer::wrap(TcpStream::connect_timeout(&to, WAIT).expect("connect"))
            }
        }
    }

    /// Connect from the loopback address `from` (IPv4), without reading anything.
    pub fn connect_from(to: SocketAddr, from: std::net::Ipv4Addr) -> Peer {
        Peer::wrap(connect_from(to, from, None, WAIT))
    }

    /// A connected stream as a peer: time-outs on every read and write, no Nagle.
    pub fn wrap(stream: TcpStream) -> Peer {
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        stream.set_write_timeout(Some(WAIT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        let addr = sys::shown(stream.local_addr().expect("local addr"));
        Peer { stream, addr }
    }

    /// Connect and read the connect notice, which must say `users` online.
    #[track_caller]
    pub fn join(srv: &Srv, users: usize) -> Peer {
        let mut p = Peer::connect_raw(srv.addr());
        p.expect(&conn_msg(users));
        p
    }

    /// [`Peer::join`] from the loopback address `from` (IPv4).
    #[track_caller]
    pub fn join_from(srv: &Srv, users: usize, from: std::net::Ipv4Addr) -> Peer {
        let mut p = Peer::connect_from(srv.addr(), from);
        p.expect(&conn_msg(users));
        p
    }

    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Read exactly as many bytes as `want` has and compare.
    #[track_caller]
    pub fn expect(&mut self, want: &str) {
        let got = self.read_n(want.len());
        assert_eq!(String::from_utf8_lossy(&got), want, "{} received something else", self.addr);
    }

    /// Read exactly `n` bytes, within `WAIT`.
    #[track_caller]
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        let mut have = 0;
        let deadline = Instant::now() + WAIT;
        while have < n {
            match self.stream.read(&mut got[have..]) {
                Ok(0) => panic!(
                    "{}: connection closed after {have} of {n} bytes: {:?}",
                    self.addr,
                    String::from_utf8_lossy(&got[..have])
                ),
                Ok(k) => have += k,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!(
                    "{}: read failed after {have} of {n} bytes ({e}): {:?}",
                    self.addr,
                    String::from_utf8_lossy(&got[..have])
                ),
            }
            assert!(Instant::now() < deadline, "{}: timed out", self.addr);
        }
        got
    }

    /// Read until what was read ends with `want` (other lines may come before
    /// it), within `WAIT`; returns all of it.
    #[track_caller]
    pub fn read_until(&mut self, want: &[u8]) -> Vec<u8> {
        let mut got = Vec::new();
        let deadline = Instant::now() + WAIT;
        while !got.ends_with(want) {
            assert!(Instant::now() < deadline, "{}: timed out", self.addr);
            let mut byte = [0u8; 1];
            match self.stream.read(&mut byte) {
                Ok(1) => got.push(byte[0]),
                Ok(_) => panic!("{}: closed while waiting", self.addr),
                Err(e) => panic!("{}: {e} while waiting", self.addr),
            }
        }
        got
    }

    /// Nothing arrives for `quiet`.
    #[track_caller]
    pub fn expect_silence(&mut self, quiet: Duration) {
        self.stream.set_read_timeout(Some(quiet)).expect("timeout");
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Ok(n) => panic!(
                "{}: expected silence, got {:?}",
                self.addr,
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => panic!("{}: expected silence, got error {e}", self.addr),
        }
        self.stream.set_read_timeout(Some(WAIT)).expect("timeout");
    }

    /// The server closes the connection (EOF or reset), with nothing more before it.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Ok(n) => panic!(
                "{}: expected close, got {:?}",
                self.addr,
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) => panic!("{}: expected close, got error {e}", self.addr),
        }
    }

    /// Close abruptly: SO_LINGER 0 makes close() send a reset (RST).
    pub fn reset(self) {
        let linger = libc::linger { l_onoff: 1, l_linger: 0 };
        unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&self.stream),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
    }

    pub fn half_close(&self) {
        self.stream.shutdown(Shutdown::Write).expect("shutdown");
    }
}

/// Poll `done` every 10 ms until it holds; fail with `why()` after `WAIT`.
#[track_caller]
pub fn wait_until(why: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{}", why());
        thread::sleep(Duration::from_millis(10));
    }
}

/// Wait (bounded by `WAIT`) for `child` to exit; fail naming `what` otherwise (and
/// kill it). Its pipes are not read here: use [`wait_output`] for a child that
/// may write more than a pipe holds.
#[track_caller]
pub fn wait_exit(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {WAIT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A server with `n` clients in it, every join notice already read.
pub fn room_of(n: usize) -> (Srv, Vec<Peer>) {
    let srv = Srv::start();
    let mut peers: Vec<Peer> = Vec::new();
    for users in 1..=n {
        let newcomer = Peer::join(&srv, users);
        for p in &mut peers {
            p.expect(&join_msg(&newcomer.addr, users));
        }
        peers.push(newcomer);
    }
    (srv, peers)
}

/// A server with two clients in it, the join notice already read: `(srv, a, b)`.
pub fn room() -> (Srv, Peer, Peer) {
    let (srv, peers) = room_of(2);
    let [a, b] = <[Peer; 2]>::try_from(peers).unwrap_or_else(|_| unreachable!());
    (srv, a, b)
}

/// What a `cli` writing to a pipe printed when the server closed on it: starts
/// with `head`, ends with the report's disconnect line, and has no colour code.
#[track_caller]
pub fn assert_plain_disconnect(stdout: &str, head: &str) {
    assert!(stdout.starts_with(head), "{stdout:?}");
    assert!(stdout.ends_with("\r< You have been disconnected \n\n"), "{stdout:?}");
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
}

impl Peer {
    /// Join with a 4 KiB receive buffer (IPv4 only): a client that, when it stops
    /// reading, makes the server's output for it pile up sooner.
    #[track_caller]
    pub fn join_with_small_rcvbuf(srv: &Srv, users: usize) -> Peer {
        let stream = connect_from(srv.addr(), next_source(), Some(4096), WAIT);
        let mut p = Peer::wrap(stream);
        p.expect(&conn_msg(users));
        p
    }

    /// Read a join notice for a client whose address we do not know yet (a `cli`
    /// child process) and return that address.
    #[track_caller]
    pub fn read_join_of_unknown(&mut self, users: usize) -> String {
        // Every loopback ephemeral address has the same length: 127.0.0.1:NNNNN.
        let joined =
            String::from_utf8(self.read_n(join_msg("127.0.0.1:00000", users).len())).expect("utf8");
        let addr = joined
            .split("user ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .expect("addr")
            .to_string();
        assert_eq!(joined, join_msg(&addr, users));
        addr
    }
}

/// The `cli` binary connected to `127.0.0.1:port`, with `stdin` as given and
/// stdout and stderr piped (so not a terminal: no colour).
pub fn spawn_cli(port: u16, stdin: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cli"))
        .args(["127.0.0.1", &port.to_string()])
        .env_remove("NO_COLOR")
        .env_remove("SELECT_CHAT_TRACE")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli")
}

/// A scripted server: a listener on a free loopback port.
pub fn fake_server() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

/// Wait (bounded by `WAIT`) for a child to exit, and collect its output; fail if
/// it does not exit in time. Its stdout and stderr are read meanwhile, so a child
/// that writes more than a pipe holds is not stuck waiting for us.
#[track_caller]
pub fn wait_output(mut child: Child) -> std::process::Output {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut got = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut got);
            }
            got
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let status = wait_exit(&mut child, "child");
    std::process::Output {
        status,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    }
}

/// Compare `text` with the docs' block marked `<!-- KIND: NAME -->` (a fenced
/// `text` block right after it, in whichever of the docs holds the mark), or
/// rewrite the block with `UPDATE_EXCERPTS=1`, as the code excerpts are. This is
/// how every trace and screen shown in the docs stays the one a real run produces.
#[track_caller]
pub fn check_walkthrough_block(kind: &str, name: &str, text: &str) {
    let mark = format!("<!-- {kind}: {name} -->\n```text\n");
    let docs = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).expect("docs/");
    let (path, doc) = docs
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter_map(|p| Some((p.clone(), std::fs::read_to_string(&p).ok()?)))
        .find(|(_, doc)| doc.contains(&mark))
        .unwrap_or_else(|| panic!("no doc has the block {mark:?}"));
    let start = doc.find(&mark).expect("mark") + mark.len();
    let end = start + doc[start..].find("```").expect("end of block");
    if doc[start..end] == *text {
        return;
    }
    if std::env::var_os("UPDATE_EXCERPTS").is_some() {
        let mut new = doc.clone();
        new.replace_range(start..end, text);
        std::fs::write(&path, new).expect("write doc");
        return;
    }
    panic!(
        "the {kind} '{name}' in {} differs from a real run; rerun with UPDATE_EXCERPTS=1 and \
         reread the prose around it. The real run:\n{text}",
        path.display()
    );
}

/// Connect and read the first notice: `Some(peer)` if it is the connect notice of
/// member number `users`, `None` if it is "server full" (and the server then
/// closes the connection).
#[track_caller]
pub fn join_or_turned_away(to: SocketAddr, users: usize) -> Option<Peer> {
    let mut p = Peer::connect_raw(to);
    let head = String::from_utf8_lossy(&p.read_n(20)).into_owned();
    if head.contains("Connected") {
        p.expect(&conn_msg(users)[20..]);
        Some(p)
    } else {
        p.expect(&full_msg()[20..]);
        p.expect_closed();
        None
    }
}

/// The trace with the ports the kernel chose replaced by fixed ones: the server's
/// by 41234, the clients' by 50001, 50002... in order of appearance.
fn normalise(trace: &str, server: u16, clients: &[&str]) -> String {
    let mut out = trace.replace(&server.to_string(), "41234");
    for (k, addr) in clients.iter().enumerate() {
        let port = addr.rsplit(':').next().expect("port");
        out = out.replace(port, &format!("{}", 50001 + k));
    }
    out
}

/// The walkthrough's session, run on `srv --trace`; returns its trace, normalised.
/// Three raw clients on this machine (127.0.0.1, as a student trying it alone
/// would start them) join one after the other; the first says "hi all"; the
/// third leaves with an empty line and closes; the first closes cleanly, the
/// second with unread data (the kernel turns that close into a reset); then
/// Ctrl+C. `tests/trace.rs` checks every call of it, and `tests/picture.rs` draws it.
pub fn traced_session() -> String {
    let mut srv = Srv::start_with(&["--trace", "127.0.0.1", "0"], |_| {});
    let here = std::net::Ipv4Addr::LOCALHOST;
    let mut a = Peer::join_from(&srv, 1, here);
    let mut b = Peer::join_from(&srv, 2, here);
    a.expect(&join_msg(&b.addr, 2));
    let mut c = Peer::join_from(&srv, 3, here);
    a.expect(&join_msg(&c.addr, 3));
    b.expect(&join_msg(&c.addr, 3));
    a.send(b"hi all\n");
    b.expect(&send_msg(&a.addr, "hi all"));
    c.expect(&send_msg(&a.addr, "hi all"));
    // c leaves: an empty line; the server shuts its side, then c closes too.
    c.send(b"\n");
    a.expect(&leave_msg(&c.addr, 2));
    b.expect(&leave_msg(&c.addr, 2));
    c.expect_closed();
    let c_addr = c.addr.clone();
    let fds = srv.open_fds();
    drop(c);
    // Once the server has closed c's socket too (a turn of its own in the trace).
    wait_until(|| "c's socket was never closed".into(), || srv.open_fds() < fds);
    // a closes cleanly: b hears it, and keeps it unread.
    let a_addr = a.addr.clone();
    a.half_close();
    a.expect_closed();
    drop(a);
    srv.expect_console(&leave_msg(&a_addr, 1));
    // b closes with that notice unread: a reset.
    let b_addr = b.addr.clone();
    drop(b);
    srv.expect_console(&error_leave_msg(&b_addr, 0));
    // Ctrl+C while the server waits in select: EINTR, then the pipe.
    thread::sleep(Duration::from_millis(200));
    srv.signal(libc::SIGINT);
    assert!(srv.wait_exit().success());
    let trace = srv.stderr_text();
    normalise(&trace, srv.port, &[&a_addr, &b_addr, &c_addr])
}
