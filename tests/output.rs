//! The output path: no reader holds up the room, a speaker goes at its host's
//! pace, and nothing the server writes to its own stdout or stderr can stop it.
//! (docs/robustness.md has the policy table; each test names the rule it pins.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;

/// Read `stream` in a thread until `done` holds for everything read so far, the
/// peer closes, or `within` passes; returns what was read.
fn collect(
    stream: &TcpStream,
    within: Duration,
    done: impl Fn(&[u8]) -> bool + Send + 'static,
) -> JoinHandle<Vec<u8>> {
    let mut s = stream.try_clone().expect("clone");
    thread::spawn(move || {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        while !done(&got) && Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        got
    })
}

/// How many times `needle` occurs in `hay`.
fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// The relayed bodies from `addr` in `text`, in order (colour or not).
fn bodies_from<'a>(text: &'a str, addr: &str) -> Vec<&'a str> {
    let head = format!("\r[{addr}]: ");
    text.split(&head).skip(1).map(|rest| rest.split('\n').next().unwrap_or("")).collect()
}

/// `s` without its colour codes (`ESC [ ... m`), as `--no-color` sends it.
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        rest = &rest[rest.find('m').map_or(rest.len(), |m| m + 1)..];
    }
    out + rest
}

/// One paste of 64 KiB of one-letter lines (`"a\n"` 32,768 times, about 1.15 MB
/// once decorated for each reader): three readers get all 32,768 lines, and
/// nobody is cut. Over IPv4, IPv6 (longer addresses) and with `--no-color`.
/// (Relayed a fair share per turn, readers judged after a flush: the report's
/// server, and ours before, cut every reader at once.)
#[test]
fn one_paste_of_short_lines_cuts_nobody() {
    for args in [&["127.0.0.1", "0"][..], &["::1", "0"][..], &["--no-color", "127.0.0.1", "0"][..]]
    {
        let srv = Srv::start_with(args, |_| {});
        let shown = |s: String| {
            if args[0] == "--no-color" { plain(&s) } else { s }
        };
        let mut readers: Vec<Peer> = Vec::new();
        for n in 1..=3 {
            let mut p = Peer::connect_raw(srv.addr());
            p.expect(&shown(conn_msg(n)));
            for r in &mut readers {
                r.expect(&shown(join_msg(&p.addr, n)));
            }
            readers.push(p);
        }
        let mut paster = Peer::connect_raw(srv.addr());
        let line = shown(send_msg(&paster.addr, "a"));
        let handles: Vec<_> = readers
            .iter()
            .map(|r| {
                let line = line.clone().into_bytes();
                collect(&r.stream, WAIT * 3, move |got| count(got, &line) >= 32768)
            })
            .collect();
        paster.send(&b"a\n".repeat(32768));
        for (r, h) in readers.iter().zip(handles) {
            let got = h.join().expect("reader");
            let n = count(&got, line.as_bytes());
            assert_eq!(n, 32768, "{args:?}: {} got {n} lines", r.addr);
            let text = String::from_utf8_lossy(&got);
            assert!(!text.contains(" left ("), "{args:?}: someone left");
        }
    }
}

/// 20 members each send 2,000 short lines at once: every member sees the 38,000
/// lines of the others, each sender's in order, and nobody is cut.
#[test]
fn twenty_senders_at_once_cut_nobody() {
    const N: usize = 20;
    const LINES: usize = 2000;
    let (_srv, peers) = room_of(N);
    let addrs: Vec<String> = peers.iter().map(|p| p.addr.clone()).collect();
    let readers: Vec<_> = peers
        .iter()
        .map(|p| collect(&p.stream, WAIT * 6, |got| count(got, b"]: m") >= (N - 1) * LINES))
        .collect();
    let writers: Vec<_> = peers
        .iter()
        .enumerate()
        .map(|(me, p)| {
            let mut w = p.stream.try_clone().expect("clone");
            thread::spawn(move || {
                let text: String = (0..LINES).map(|k| format!("m{me:02}-{k:04}\n")).collect();
                w.write_all(text.as_bytes()).expect("send");
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    for (me, r) in readers.into_iter().enumerate() {
        let got = String::from_utf8(r.join().expect("reader")).expect("utf8");
        assert!(!got.contains(" left ("), "member {me} saw someone cut");
        for (s, addr) in addrs.iter().enumerate() {
            let want: Vec<String> = if s == me {
                Vec::new()
            } else {
                (0..LINES).map(|k| format!("m{s:02}-{k:04}")).collect()
            };
            assert!(
                bodies_from(&got, addr) == want,
                "member {me}: the lines of {s} are missing or out of order"
            );
        }
    }
}

/// The server is stopped for 5 s (SIGSTOP, then SIGCONT) while a member trickles
/// short lines: afterwards every reader gets every line, in order. (The readers'
/// clocks do not run against them while the server itself was stopped.)
#[test]
fn a_stopped_server_delivers_every_line_when_it_resumes() {
    let (srv, peers) = room_of(4);
    let [trickler, readers @ ..] = &peers[..] else { unreachable!() };
    const LINES: usize = 1500;
    let handles: Vec<_> = readers
        .iter()
        .map(|r| collect(&r.stream, WAIT * 3, |got| count(got, b"]: t") >= LINES))
        .collect();
    let mut w = trickler.stream.try_clone().expect("clone");
    let pid = srv.pid();
    let sender = thread::spawn(move || {
        let start = Instant::now();
        for k in 0..LINES {
            w.write_all(format!("t{k:05}\n").as_bytes()).expect("send");
            if k == 100 {
                unsafe { libc::kill(pid, libc::SIGSTOP) };
            }
            if k > 100 && start.elapsed() > Duration::from_secs(6) {
                unsafe { libc::kill(pid, libc::SIGCONT) };
            }
            thread::sleep(Duration::from_millis(4));
        }
        unsafe { libc::kill(pid, libc::SIGCONT) };
    });
    sender.join().expect("sender");
    let want: Vec<String> = (0..LINES).map(|k| format!("t{k:05}")).collect();
    for (r, h) in readers.iter().zip(handles) {
        let got = String::from_utf8(h.join().expect("reader")).expect("utf8");
        assert!(
            bodies_from(&got, &trickler.addr) == want,
            "{} missed lines ({} of {LINES})",
            r.addr,
            bodies_from(&got, &trickler.addr).len()
        );
        assert!(!got.contains(" left ("), "{} saw someone cut", r.addr);
    }
}

/// A reader that reads slowly but steadily (500 KB/s, a terminal's pace) while two
/// others send 5 MB at full speed is never cut: the talkers' hosts may add only
/// their share of the room's rate to the log (`ROOM_RATE` in all), so the reader stays
/// well within the log's limits, in bytes and in seconds, and nobody waits for it.
#[test]
fn a_slow_steady_reader_is_never_cut() {
    let (srv, peers) = room_of(3);
    let [slow, a, b] = &peers[..] else { unreachable!() };
    const LINES: usize = 5000;
    let line = "s".repeat(1000);
    let want_bytes: usize = [a, b].iter().map(|p| send_msg(&p.addr, &line).len() * LINES / 2).sum();
    let mut r = slow.stream.try_clone().expect("clone");
    let reader = thread::spawn(move || {
        // 50 KB every 100 ms: 500 KB/s.
        let mut got = 0usize;
        let mut buf = vec![0u8; 50_000];
        let deadline = Instant::now() + Duration::from_secs(40);
        r.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        let mut text = Vec::new();
        while got < want_bytes && Instant::now() < deadline {
            match r.read(&mut buf) {
                Ok(0) => break, // cut
                Ok(n) => {
                    got += n;
                    text.extend_from_slice(&buf[..n]);
                }
                Err(_) => {}
            }
            thread::sleep(Duration::from_millis(100));
        }
        text
    });
    let talkers: Vec<_> = [a, b]
        .iter()
        .map(|p| {
            let mut w = p.stream.try_clone().expect("clone");
            let text = format!("{line}\n").repeat(LINES / 2);
            thread::spawn(move || w.write_all(text.as_bytes()).expect("send"))
        })
        .collect();
    // The talkers read what the other says, fast.
    let drains: Vec<_> =
        [a, b].iter().map(|p| collect(&p.stream, Duration::from_secs(40), |_| false)).collect();
    for t in talkers {
        t.join().expect("talker");
    }
    let text = reader.join().expect("slow reader");
    let text = String::from_utf8_lossy(&text);
    assert_eq!(
        bodies_from(&text, &a.addr).len() + bodies_from(&text, &b.addr).len(),
        LINES,
        "the slow reader did not get every line"
    );
    assert!(!text.contains(" left ("), "someone was cut");
    assert!(!srv.console().contains(" left ("), "someone was cut");
    drop(drains);
}

/// A member that never reads is cut once it has been owed a line for 10 s
/// (`LAG_LIMIT`), with the report's "(error)" leave; the room never waits for it:
/// a quiet pair's lines arrive within 1.5 s meanwhile.
#[test]
fn a_reader_that_stops_is_cut_and_the_room_goes_on() {
    let srv = Srv::start();
    let (mut q1, mut q2, sleeper, mut talker) = quiet_pair_reader_and_talker(&srv);
    // The talker fills the sleeper's kernel buffers: 600 KB, more than they hold.
    let line = "w".repeat(1000);
    talker.send(format!("{line}\n").repeat(600).as_bytes());
    for q in [&mut q1, &mut q2] {
        q.read_n(send_msg(&talker.addr, &line).len() * 600);
    }
    let started = Instant::now();
    // Meanwhile the quiet pair talks, a line every 200 ms, and must not wait.
    let leave = error_leave_msg(&sleeper.addr, 3);
    let mut seen_leave = false;
    let mut k = 0;
    while !seen_leave {
        assert!(
            started.elapsed() < Duration::from_secs(13),
            "the sleeper was not cut within 10 s (+3 s of slack)"
        );
        let sent = Instant::now();
        q1.send(format!("quiet {k}\n").as_bytes());
        let want = send_msg(&q1.addr, &format!("quiet {k}"));
        let mut got = String::from_utf8(q2.read_n(want.len())).expect("utf8");
        if got != want && got.starts_with("\x1b[31m") {
            // The sleeper's leave came first.
            got.push_str(&String::from_utf8(q2.read_n(leave.len() - want.len())).expect("utf8"));
            assert!(got.starts_with(&leave), "{got:?}");
            seen_leave = true;
            let rest = got[leave.len()..].to_string();
            let tail = q2.read_n(want.len() - rest.len());
            got = rest + &String::from_utf8(tail).expect("utf8");
        }
        assert_eq!(got, want);
        assert!(
            sent.elapsed() < Duration::from_millis(1500),
            "a quiet line took {:?}",
            sent.elapsed()
        );
        k += 1;
        thread::sleep(Duration::from_millis(200));
    }
    assert!(started.elapsed() >= Duration::from_secs(8), "cut too early");
    srv.expect_console(&leave);
}

/// Four members, each join seen by those before: a quiet pair, a reader with a
/// small receive buffer (so what waits for it is in its outbox, where the server
/// judges it), and a talker.
fn quiet_pair_reader_and_talker(srv: &Srv) -> (Peer, Peer, Peer, Peer) {
    let mut q1 = Peer::join(srv, 1);
    let mut q2 = Peer::join(srv, 2);
    q1.expect(&join_msg(&q2.addr, 2));
    let reader = Peer::join_with_small_rcvbuf(srv, 3);
    q1.expect(&join_msg(&reader.addr, 3));
    q2.expect(&join_msg(&reader.addr, 3));
    let talker = Peer::join(srv, 4);
    for q in [&mut q1, &mut q2] {
        q.expect(&join_msg(&talker.addr, 4));
    }
    (q1, q2, reader, talker)
}

/// A `srv` whose stdout and stderr are set up by `setup`, its start line read
/// from `stdout` (which the caller then stops reading); returns the child, its
/// stdout, and the address to connect to.
fn start_raw(
    args: &[&str],
    setup: impl FnOnce(&mut Command),
) -> (std::process::Child, std::process::ChildStdout, std::net::SocketAddr) {
    let mut cmd = srv_command();
    cmd.args(args)
        .env_remove("NO_COLOR")
        .env_remove("SELECT_CHAT_TRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    setup(&mut cmd);
    let mut child = cmd.spawn().expect("spawn srv");
    let mut stdout = child.stdout.take().expect("stdout");
    let port = read_start_line(&mut stdout);
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    (child, stdout, addr)
}

/// Two members in the room at `addr`; `b` has said `lines` lines of 500 bytes and
/// `a` heard each one before the next was sent.
fn chat(addr: std::net::SocketAddr, lines: usize) -> (Peer, Peer) {
    let mut a = Peer::connect_raw(addr);
    a.expect(&conn_msg(1));
    let mut b = Peer::connect_raw(addr);
    b.expect(&conn_msg(2));
    a.expect(&join_msg(&b.addr, 2));
    let line = "c".repeat(500);
    for k in 0..lines {
        b.send(format!("{k:04}{line}\n").as_bytes());
        a.expect(&send_msg(&b.addr, &format!("{k:04}{line}")));
    }
    (a, b)
}

/// SIGINT, then the time the server took to exit (it must succeed).
#[track_caller]
fn stop(child: &mut std::process::Child) -> Duration {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let stopped = Instant::now();
    let status = wait_exit(child, "srv");
    assert!(status.success(), "{status:?}");
    stopped.elapsed()
}

/// The server's console is a pipe nobody reads: the room keeps chatting (1,000
/// lines of 500 bytes, far more than a pipe holds), the console's lost lines are
/// counted, and SIGINT still stops the server within a second.
#[test]
fn an_unread_console_neither_stalls_the_room_nor_stops_ctrl_c() {
    let (mut child, mut stdout, addr) = start_raw(&["127.0.0.1", "0"], |_| {});
    let _room = chat(addr, 1000);
    // Someone reads the console again: what it held, then how many lines it lost.
    let reader = thread::spawn(move || {
        let mut console = Vec::new();
        stdout.read_to_end(&mut console).expect("console");
        console
    });
    thread::sleep(Duration::from_millis(200));
    let took = stop(&mut child);
    assert!(took < Duration::from_secs(1), "SIGINT took {took:?}");
    let console = reader.join().expect("reader");
    let console = String::from_utf8_lossy(&console);
    assert!(console.contains(" lines not shown"), "{:.300}", console);
    assert!(console.ends_with("\rKeyboardInterrupt\n\n"), "{console:?}");
}

/// The server's console read a little slower than the room talks (1 MB a
/// second, while six members chat as fast as their hosts' pace lets them: 1.5 MB
/// a second after a burst), for 6 s: the console keeps at most its 64 KiB and
/// gives back what it wrote (an earlier build kept every byte until one write
/// took all: 26 MB in 30 s), so the server's RSS grows by less than 4 MiB.
#[test]
fn a_slow_console_costs_the_server_no_memory() {
    let (mut child, mut stdout, addr) = start_raw(&["127.0.0.1", "0"], |_| {});
    let before = status_kib(child.id() as i32, "VmRSS:");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let console = {
        let stop = std::sync::Arc::clone(&stop);
        thread::spawn(move || {
            let mut buf = [0u8; 10_000];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if stdout.read(&mut buf).unwrap_or(0) == 0 {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            stdout
        })
    };
    let talkers: Vec<Peer> = (0..6).map(|_| Peer::connect_raw(addr)).collect();
    let line = format!("{}\n", "k".repeat(99)).repeat(100);
    let started = Instant::now();
    let mut peak = 0;
    thread::scope(|s| {
        for p in &talkers {
            let (mut w, r) = (p.stream.try_clone().expect("clone"), &p.stream);
            w.set_write_timeout(Some(Duration::from_millis(100))).expect("timeout");
            let line = &line;
            s.spawn(move || {
                while started.elapsed() < Duration::from_secs(6) {
                    let _ = w.write(line.as_bytes());
                }
            });
            s.spawn(move || drop(collect(r, Duration::from_secs(7), |_| false).join()));
        }
        while started.elapsed() < Duration::from_secs(6) {
            peak = peak.max(status_kib(child.id() as i32, "VmRSS:"));
            thread::sleep(Duration::from_millis(50));
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let grew = peak.saturating_sub(before);
    eprintln!("a slow console: server RSS {before} KiB before, grew by {grew} KiB at the peak");
    assert!(grew < 4 * 1024, "the server grew by {grew} KiB");
    let _ = child.kill();
    let _ = child.wait();
    drop(console.join());
}

/// stderr a pipe nobody reads, filled by `--trace` (a line per system call): the
/// room keeps chatting and SIGINT stops the server within a second.
#[test]
fn an_unread_stderr_neither_stalls_the_room_nor_stops_ctrl_c() {
    let (r, w) = std::io::pipe().expect("pipe");
    let (mut child, _stdout, addr) = start_raw(&["--trace", "127.0.0.1", "0"], |cmd| {
        cmd.stderr(w);
    });
    let _room = chat(addr, 1000);
    let took = stop(&mut child);
    assert!(took < Duration::from_secs(1), "SIGINT took {took:?}");
    drop(r);
}

/// stderr a pipe whose reader has left (every write fails with `EPIPE`, which
/// makes `eprintln!` panic), and only 16 fds: 30 connections, most turned away
/// with a line on that stderr, and the server stays up and serves.
#[test]
fn a_broken_stderr_and_few_fds_do_not_stop_the_server() {
    let (r, w) = std::io::pipe().expect("pipe");
    drop(r);
    let (mut child, mut stdout, addr) = start_raw(&["127.0.0.1", "0"], |cmd| {
        cmd.stderr(w);
        limit_fds(cmd, 16);
    });
    let console = thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    let mut inside = Vec::new();
    let mut turned_away = 0;
    for _ in 0..30 {
        match join_or_turned_away(addr, inside.len() + 1) {
            Some(p) => inside.push(p),
            None => turned_away += 1,
        }
    }
    assert!(turned_away > 0, "nobody was turned away");
    assert!(child.try_wait().expect("try_wait").is_none(), "srv died");
    // The members inside still chat.
    let [a, .., b] = &mut inside[..] else { panic!("fewer than two inside") };
    let want = send_msg(&b.addr, "still here").into_bytes();
    let heard = collect(&a.stream, WAIT, move |got| count(got, &want) > 0);
    b.send(b"still here\n");
    assert!(String::from_utf8_lossy(&heard.join().expect("a")).contains("still here"));
    assert!(child.try_wait().expect("try_wait").is_none(), "srv died");
    assert!(stop(&mut child) < Duration::from_secs(1));
    console.join().expect("console");
}

/// The start line's port, read byte by byte from a server's stdout.
fn read_start_line(stdout: &mut impl Read) -> u16 {
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while !first.ends_with(b"\n") {
        assert_eq!(stdout.read(&mut byte).expect("start line"), 1);
        first.push(byte[0]);
    }
    let line = String::from_utf8(first).expect("utf8");
    line.split("port ")
        .nth(1)
        .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .expect("port")
}

/// With `ulimit -n 6` the server has no fd to spare for a client (0-2, the
/// listener, the signal pipe): `accept` fails with `EMFILE` and there is no spare
/// fd to refuse with. The server neither spins (CPU under 5% over 2 s) nor floods
/// its stderr (a line, then a sum a second).
#[test]
fn six_fds_are_neither_a_spin_nor_a_log_flood() {
    let (mut child, _stdout, addr) = start_raw(&["127.0.0.1", "0"], |cmd| {
        cmd.stderr(Stdio::piped());
        limit_fds(cmd, 6);
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let waiting: Vec<TcpStream> = (0..5).map(|_| Peer::connect_raw(addr).stream).collect();
    thread::sleep(Duration::from_millis(300));
    let cpu = |pid: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let f: Vec<&str> = stat[stat.rfind(')').expect(")") + 2..].split(' ').collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap())
            / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
    };
    let before = cpu(child.id());
    thread::sleep(Duration::from_secs(2));
    let used = cpu(child.id()) - before;
    assert!(used < 0.1, "srv used {used} s of CPU in 2 s with 6 fds");
    assert!(stop(&mut child) < Duration::from_secs(1));
    let mut log = String::new();
    stderr.read_to_string(&mut log).expect("stderr");
    assert!(log.contains("Too many open files"), "{log}");
    assert!(log.lines().count() <= 8, "a log flood: {log}");
    drop(waiting);
}

/// Ctrl+S in the server's terminal stops its output (the terminal no longer takes
/// what it writes): the room keeps chatting, and SIGINT still stops the server
/// within a second.
#[test]
fn ctrl_s_in_the_servers_terminal_stalls_nothing() {
    let mut term = common::pty::Pty::new(24, 80);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_srv"));
    cmd.args(["127.0.0.1", "0"]).env_remove("SELECT_CHAT_TRACE");
    let mut child = term.spawn(&mut cmd);
    term.expect_text("Chat Server started on port ");
    let port: u16 = term
        .text()
        .split("port ")
        .nth(1)
        .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .expect("port");
    term.type_keys(b"\x13");
    thread::sleep(Duration::from_millis(100));
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let _room = chat(addr, 1000);
    let took = stop(&mut child);
    assert!(took < Duration::from_secs(1), "SIGINT took {took:?}");
}

/// 200 connections opened at once from one address (a class behind one NAT, so
/// `srv --per-host 256`) are all greeted within 0.9 s: the listen backlog (511)
/// holds them all. With the report's 10, the SYNs that do not fit are dropped and
/// their clients retry a second later.
#[test]
fn a_class_joining_at_once_is_greeted_at_once() {
    let srv = Srv::start_with(&["--per-host", "256", "127.0.0.1", "0"], |_| {});
    let (greeted, last) = connect_burst(srv.addr(), 200, WAIT);
    assert_eq!(greeted, 200);
    assert!(last < 0.9, "the last of 200 joins was greeted after {last:.3} s");
}

/// Long lines lose nothing: a 4,106-byte line with spaces where it is cut arrives
/// with all its bytes; a line of 4,096 spaces is an empty message, not a leave;
/// 4,096 bytes and `\r\n` are one message; a piece never ends just before a
/// combining accent.
#[test]
fn long_lines_lose_nothing() {
    let (_srv, mut a, mut b) = room();
    // Spaces around the 4 KiB cut.
    let line: String = (0..4106)
        .map(|i| if (4090..4100).contains(&i) { ' ' } else { (b'a' + (i % 26) as u8) as char })
        .collect();
    b.send(format!("{line}\n").as_bytes());
    a.expect(&send_msg(&b.addr, &line[..4096]));
    a.expect(&send_msg(&b.addr, &line[4096..]));
    // 4,096 spaces: an empty message (the report's rstrip), and b stays.
    b.send(format!("{}\n", " ".repeat(4096)).as_bytes());
    a.expect(&send_msg(&b.addr, ""));
    // Exactly 4,096 bytes and CRLF: one message.
    let exact = "x".repeat(4096);
    b.send(format!("{exact}\r\n").as_bytes());
    a.expect(&send_msg(&b.addr, &exact));
    // A combining accent (U+0301) right where the cut would fall stays with its e.
    let accented = format!("{}e\u{301}tail", "y".repeat(4095));
    b.send(format!("{accented}\n").as_bytes());
    a.expect(&send_msg(&b.addr, &"y".repeat(4095)));
    a.expect(&send_msg(&b.addr, "e\u{301}tail"));
    a.expect_silence(Duration::from_millis(100));
}

/// The client's stdout is a pipe nobody reads while the server floods it: the
/// client stops reading the server (nothing is dropped), and SIGTERM still ends it
/// within a second.
#[test]
fn a_client_with_a_full_stdout_still_stops_on_sigterm() {
    let (listener, port) = fake_server();
    let mut child = spawn_cli(port, Stdio::piped());
    let (mut conn, _) = listener.accept().expect("accept");
    conn.set_nonblocking(true).expect("nonblocking");
    let flood = "f".repeat(1023) + "\n";
    let started = Instant::now();
    let mut sent = 0usize;
    // Fill the pipe, the client's screen buffer and the socket, until the
    // kernel takes no more for a while.
    let mut idle = Instant::now();
    while idle.elapsed() < Duration::from_millis(300) && started.elapsed() < WAIT {
        match conn.write(flood.as_bytes()) {
            Ok(n) => {
                sent += n;
                idle = Instant::now();
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    assert!(sent > 256 * 1024, "only {sent} bytes went out");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let stopped = Instant::now();
    let status = wait_exit(&mut child, "cli");
    assert!(stopped.elapsed() < Duration::from_secs(1), "SIGTERM took {:?}", stopped.elapsed());
    assert!(status.success(), "{status:?}");
}

/// One member floods a room of 10 with two-byte lines for 4 s: its host may add
/// only a second's worth (`BURST_TIME`) and then `ROOM_RATE` bytes a second to the room's
/// log (IRC's "fake lag", counted in what the room must carry), so no more than
/// that reaches the others, while a quiet member's line still arrives within a
/// second. (Without the pace the flooder would fill the room's log as fast as the
/// server can read, and every reader slower than that would be cut.)
#[test]
fn a_flooder_is_slowed_down_and_the_room_is_not() {
    use select_chat::policy::{BURST_TIME, ROOM_RATE};
    let (_srv, peers) = room_of(10);
    let [flooder, quiet, watcher, rest @ ..] = &peers[..] else { unreachable!() };
    let drains: Vec<_> = std::iter::once(quiet)
        .chain(rest)
        .map(|p| collect(&p.stream, Duration::from_secs(8), |_| false))
        .collect();
    let mut w = flooder.stream.try_clone().expect("clone");
    w.set_write_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flood = {
        let flooding = std::sync::Arc::clone(&flooding);
        thread::spawn(move || {
            let chunk = b"x\n".repeat(32768);
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = w.write(&chunk);
            }
        })
    };
    // The watcher counts the flood's bytes for 4 s; at 3 s the quiet member speaks.
    let line = send_msg(&flooder.addr, "x").into_bytes();
    let said = send_msg(&quiet.addr, "still quiet").into_bytes();
    let mut r = watcher.stream.try_clone().expect("clone");
    r.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let mut buf = vec![0u8; 1 << 16];
    let (mut tail, mut counted) = (Vec::new(), 0);
    let started = Instant::now();
    let (mut quiet_sent, mut quiet_took) = (None::<Instant>, None);
    while started.elapsed() < Duration::from_secs(4) {
        if quiet_sent.is_none() && started.elapsed() > Duration::from_secs(3) {
            quiet.stream.try_clone().expect("clone").write_all(b"still quiet\n").expect("quiet");
            quiet_sent = Some(Instant::now());
        }
        if let Ok(n @ 1..) = r.read(&mut buf) {
            tail.extend_from_slice(&buf[..n]);
            counted += count(&tail, &line);
            if let Some(t) = quiet_sent
                && quiet_took.is_none()
                && count(&tail, &said) > 0
            {
                quiet_took = Some(t.elapsed());
            }
            // Keep less than one whole line: what is counted is never counted again.
            let keep = tail.len().saturating_sub(line.len().max(said.len()) - 1);
            tail.drain(..keep);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    flood.join().expect("flood");
    drop(drains);
    let bytes = (counted * line.len()) as f64;
    // The most the pace lets through, and one `recv`'s worth of lines more.
    let rate = ROOM_RATE as f64;
    let most = rate * BURST_TIME.as_secs_f64() + rate * elapsed + (2048 * line.len()) as f64;
    eprintln!("a flooder in a room of 10: {bytes} bytes in {elapsed:.1} s (at most {most})");
    assert!(counted > 0, "the flood never arrived");
    assert!(bytes <= most, "the flooder got {bytes} bytes through in {elapsed:.1} s");
    let took = quiet_took.expect("the quiet line never arrived");
    assert!(took < Duration::from_secs(1), "the quiet line took {took:?}");
}
