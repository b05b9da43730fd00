//! Hostile peers and faults: no client can hurt the room.
//!
//! Each test attacks the real `srv` binary over loopback and then checks that the
//! server is still up, that the well-behaved clients received every message they
//! should, in order, and that nothing else reached them. `docs/robustness.md`
//! lists every attack with the test that covers it. (The slow reader and the
//! 1,100 connections are in `tests/server.rs`.)

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The text of a relayed line must be inert: valid UTF-8 (it is a `&str`), no C0
/// or C1 control, no DEL, no bidi or line-separator character.
#[track_caller]
fn assert_inert(text: &str) {
    for c in text.chars() {
        let bad = (c.is_control() && c != '\t')
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}');
        assert!(!bad, "control character U+{:04X} reached a client in {text:?}", c as u32);
    }
}

/// Split what a client received into the bodies of relayed lines from `addr`.
fn bodies<'a>(received: &'a str, addr: &str) -> Vec<&'a str> {
    let head = format!("{PURPLE_BOLD}\r[{addr}]: ");
    received
        .split(ENDC)
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.strip_prefix(&head)
                .and_then(|m| m.strip_suffix('\n'))
                .unwrap_or_else(|| panic!("not a relayed line: {m:?}"))
        })
        .collect()
}

/// (1) A 1 MiB line with no newline arrives as 4 KiB pieces, in order, nothing lost.
#[test]
fn a_one_mebibyte_line_is_relayed_in_pieces() {
    let (mut srv, mut a, mut b) = room();
    let line: Vec<u8> = (0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    b.send(&line);
    // 255 pieces now; the last 4 KiB wait for the end of the line.
    let b_addr = b.addr.clone();
    let piece =
        |k: usize| send_msg(&b_addr, std::str::from_utf8(&line[k * 4096..(k + 1) * 4096]).unwrap());
    for k in 0..255 {
        a.expect(&piece(k));
    }
    a.expect_silence(Duration::from_millis(100));
    b.send(b"\n");
    a.expect(&piece(255));
    srv.assert_alive();
}

/// (1) A line without end, sent for 8 s as fast as TCP lets it: the server
/// reads it at the room's rate (a second's worth at once, then `ROOM_RATE`: it
/// speaks alone; the rest waits in the
/// sender's kernel, and TCP slows the sender), relays it in 4 KiB pieces, and
/// holds no more than one `recv` of it: its peak RSS grows by less than 32 MiB,
/// however long the line.
#[test]
fn a_line_without_end_keeps_memory_bounded() {
    use select_chat::policy::{BURST_TIME, ROOM_RATE};
    let burst = (BURST_TIME.as_secs_f64() * ROOM_RATE as f64) as u64;
    let (mut srv, a, b) = room();
    let before = status_kib(srv.pid(), "VmHWM:");
    let reader = {
        let mut s = a.stream.try_clone().expect("clone");
        s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        thread::spawn(move || {
            // Count the payload bytes: everything but the decoration of each piece.
            let mut buf = vec![0u8; 1 << 16];
            let mut ys = 0u64;
            let deadline = Instant::now() + Duration::from_secs(9);
            while Instant::now() < deadline {
                if let Ok(n @ 1..) = s.read(&mut buf) {
                    ys += buf[..n].iter().filter(|&&c| c == b'y').count() as u64;
                }
            }
            ys
        })
    };
    let mut w = b.stream.try_clone().expect("clone");
    w.set_nonblocking(true).expect("nonblocking");
    let chunk = vec![b'y'; 1 << 16];
    let (started, mut sent) = (Instant::now(), 0u64);
    while started.elapsed() < Duration::from_secs(8) {
        match w.write(&chunk) {
            Ok(n) => sent += n as u64,
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
    let ys = reader.join().expect("reader");
    let grew = status_kib(srv.pid(), "VmHWM:").saturating_sub(before);
    eprintln!(
        "a line without end: {sent} bytes sent in 8 s, {ys} relayed; peak RSS grew by {grew} KiB"
    );
    assert!(ys >= burst, "only {ys} bytes arrived");
    assert!(ys <= burst + 9 * ROOM_RATE, "{ys} bytes went past the room's rate");
    assert!(grew < 32 * 1024, "peak RSS grew by {grew} KiB");
    srv.assert_alive();
}

/// (2) Binary garbage, NUL bytes, invalid UTF-8, overlong encodings and UTF-8
/// encoded surrogates: each line arrives as inert, valid UTF-8; nothing crashes.
#[test]
fn binary_garbage_arrives_inert() {
    let (mut srv, mut a, mut b) = room();
    let mut lines: Vec<Vec<u8>> = vec![
        b"nul\x00in the middle".to_vec(),
        b"\xff\xfe\xfd invalid".to_vec(),
        b"overlong slash \xc0\xaf and nul \xc0\x80".to_vec(),
        b"surrogate \xed\xa0\x80 pair \xed\xa0\xbd\xed\xb8\x80".to_vec(),
        b"truncated \xe2\x82".to_vec(),
        b"raw C1 \x85 \x9b \x9d".to_vec(),
    ];
    // And 50 lines of pseudo-random bytes (a fixed LCG, so failures replay).
    let mut seed = 0x9e3779b97f4a7c15u64;
    for _ in 0..50 {
        let line: Vec<u8> = (0..200)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (seed >> 56) as u8
            })
            .filter(|&c| c != b'\n')
            .collect();
        lines.push(line);
    }
    for line in &lines {
        b.send(line);
        b.send(b"\n");
    }
    b.send(b"end\n");
    let mut got = Vec::new();
    let want_end = send_msg(&b.addr, "end");
    while !String::from_utf8_lossy(&got).ends_with(&want_end) {
        let n = got.len();
        got.resize(n + 65536, 0);
        let k = a.stream.read(&mut got[n..]).expect("read");
        got.truncate(n + k);
        assert!(k > 0, "server closed");
    }
    let text = String::from_utf8(got).expect("everything relayed is valid UTF-8");
    let received = bodies(&text, &b.addr);
    // One message per non-empty line (lines that are all white space after
    // decoding still count), plus "end".
    assert_eq!(received.len(), lines.len() + 1);
    for body in &received {
        assert_inert(body);
    }
    assert_eq!(received[0], "nul^@in the middle");
    srv.assert_alive();
}

/// (3) Terminal attacks: every one is relayed inert, exactly as shown here.
#[test]
fn terminal_attacks_are_shown_not_obeyed() {
    let (_srv, mut a, mut b) = room();
    let cases: [(&[u8], &str); 12] = [
        (b"\x1b[2J\x1b[H clear screen", "^[[2J^[[H clear screen"),
        (b"\x1b[10;10H\x1b[1A cursor moves", "^[[10;10H^[[1A cursor moves"),
        (b"\x1b]0;pwned\x07 window title", "^[]0;pwned^G window title"),
        (b"\x1b]52;c;ZWNobyBoaQ==\x07 clipboard", "^[]52;c;ZWNobyBoaQ==^G clipboard"),
        (b"\x1bP+q544e\x1b\\ DCS query", "^[P+q544e^[\\ DCS query"),
        (b"innocent\rmalicious", "innocent^Mmalicious"),
        (b"abc\x08\x08\x08xyz", "abc^H^H^Hxyz"),
        (b"ding\x07\x07", "ding^G^G"),
        (
            "C1 CSI \u{9b}2J and NEL \u{85} inside".as_bytes(),
            "C1 CSI <U+009B>2J and NEL <U+0085> inside",
        ),
        (b"raw C1 byte \x9b2J", "raw C1 byte \u{fffd}2J"),
        (
            "bidi \u{202e}txet desrever\u{202c} \u{2066}x\u{2069}".as_bytes(),
            "bidi <U+202E>txet desrever<U+202C> <U+2066>x<U+2069>",
        ),
        ("line\u{2028}separator\x7f".as_bytes(), "line<U+2028>separator^?"),
    ];
    for (attack, _) in &cases {
        b.send(attack);
        b.send(b"\n");
    }
    for (_, shown) in &cases {
        a.expect(&send_msg(&b.addr, shown));
    }
    a.expect_silence(Duration::from_millis(100));
}

/// (4) A client that connects and never says anything, and one that sends a byte
/// at a time: neither holds up the others, and the slow line arrives once, whole.
#[test]
fn silent_and_trickling_clients_hold_nobody_up() {
    let srv = Srv::start();
    let mut a = Peer::join(&srv, 1);
    let mut silent = Peer::join(&srv, 2);
    let mut slow = Peer::join(&srv, 3);
    let mut c = Peer::join(&srv, 4);
    a.expect(&join_msg(&silent.addr, 2));
    a.expect(&join_msg(&slow.addr, 3));
    a.expect(&join_msg(&c.addr, 4));
    for &byte in b"hello\n" {
        // The room chats on, without delay, between the slow client's bytes.
        c.send(b"tick\n");
        a.expect(&send_msg(&c.addr, "tick"));
        slow.send(&[byte]);
        thread::sleep(Duration::from_millis(100));
    }
    a.expect(&send_msg(&slow.addr, "hello"));
    // The silent one heard everything too.
    silent.expect(&join_msg(&slow.addr, 3));
    silent.expect(&join_msg(&c.addr, 4));
    let ticks: String = (0..6).map(|_| send_msg(&c.addr, "tick")).collect::<String>()
        + &send_msg(&slow.addr, "hello");
    let got = String::from_utf8(silent.read_n(ticks.len())).expect("utf8");
    // Each tick and the hello, in the order the server relayed them.
    assert_eq!(got.matches("tick").count(), 6);
    assert_eq!(got.matches("hello").count(), 1);
}

/// (6) A reset in the middle of a line: the half line is not relayed, the leave is
/// marked "(error)", the room goes on.
#[test]
fn reset_in_the_middle_of_a_line() {
    let (mut srv, mut a, mut b) = room();
    b.send(b"this line never ends");
    thread::sleep(Duration::from_millis(100));
    let addr = b.addr.clone();
    b.reset();
    a.expect(&error_leave_msg(&addr, 1));
    a.expect_silence(Duration::from_millis(100));
    srv.assert_alive();
}

/// A room where `b` owes a backlog of `lines` lines of 4,000 bytes that it has not
/// read, through a 4 KiB receive buffer (so the backlog waits in the server's
/// outbox, past the kernel's capped send buffer). `c` reads everything, so when
/// `c` has the last line, the server has relayed them all.
fn room_with_backlog(lines: usize) -> (Srv, Peer, Peer, Peer, String) {
    // Returns the server, a, b, c and what b is owed.
    let srv = Srv::start();
    let mut a = Peer::join(&srv, 1);
    let b = Peer::join_with_small_rcvbuf(&srv, 2);
    a.expect(&join_msg(&b.addr, 2));
    let mut c = Peer::join(&srv, 3);
    a.expect(&join_msg(&c.addr, 3));
    let line = "z".repeat(4000);
    let mut w = a.stream.try_clone().expect("clone");
    let text = line.clone();
    let writer = thread::spawn(move || {
        for _ in 0..lines {
            w.write_all(format!("{text}\n").as_bytes()).expect("send");
        }
    });
    let one = send_msg(&a.addr, &line);
    let got = c.read_n(one.len() * lines);
    assert!(got == one.repeat(lines).into_bytes(), "c missed lines");
    writer.join().expect("writer");
    // What b is owed: c's arrival, then the lines.
    let owed = join_msg(&c.addr, 3) + &one.repeat(lines);
    (srv, a, b, c, owed)
}

/// Read until end of stream (or a reset, which fails), within WAIT.
#[track_caller]
fn read_to_end(p: &mut Peer) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + WAIT;
    loop {
        match p.stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("after {} bytes: {e}", got.len()),
        }
        assert!(Instant::now() < deadline, "no end of stream after {} bytes", got.len());
    }
}

/// (6) A half-close with 2 MB of output pending: the leaver still receives all of
/// it, then the end of stream; the others see a normal leave (the report would
/// close at once and lose the rest).
#[test]
fn half_close_with_pending_output_still_delivers_it() {
    let (_srv, mut a, mut b, _c, owed) = room_with_backlog(500);
    b.half_close();
    a.expect(&leave_msg(&b.addr, 2));
    let got = read_to_end(&mut b);
    assert_eq!(got.len(), owed.len(), "b lost part of its backlog");
    assert!(got == owed.into_bytes());
}

/// (6) The lingering close: a polite leaver (empty line) with 2 MB owed that sends
/// one more line afterwards still receives everything, then the end of stream,
/// not a reset (closing a socket with unread input would send RST and throw away
/// what the kernel had not sent yet).
#[test]
fn a_polite_leaver_that_sends_more_still_gets_its_backlog() {
    let (_srv, mut a, mut b, _c, owed) = room_with_backlog(500);
    b.send(b"\n");
    a.expect(&leave_msg(&b.addr, 2));
    b.send(b"one more thing\n");
    thread::sleep(Duration::from_millis(100));
    let got = read_to_end(&mut b);
    assert_eq!(got.len(), owed.len(), "b lost part of its backlog");
    assert!(got == owed.into_bytes());
    a.expect_silence(Duration::from_millis(100));
}

/// (8) 1,000 connect/disconnect cycles: the server's open fds come back to where
/// they were, and its memory to within 1 MiB.
#[test]
fn a_thousand_cycles_leak_no_fd_and_no_memory() {
    let mut srv = Srv::start();
    let mut observer = Peer::join(&srv, 1);
    let fds = srv.open_fds();
    let rss = status_kib(srv.pid(), "VmRSS:");
    for i in 0..1000 {
        let mut p = Peer::connect_raw(srv.addr());
        p.expect(&conn_msg(2));
        observer.expect(&join_msg(&p.addr, 2));
        let addr = p.addr.clone();
        match i % 3 {
            0 => {
                p.send(b"\n");
                observer.expect(&leave_msg(&addr, 1));
            }
            1 => {
                p.half_close();
                observer.expect(&leave_msg(&addr, 1));
            }
            _ => {
                p.reset();
                observer.expect(&error_leave_msg(&addr, 1));
            }
        }
    }
    // The last leaver may still be in its lingering close for a moment.
    wait_until(
        || format!("fds leaked: {} now, {fds} before", srv.open_fds()),
        || srv.open_fds() == fds,
    );
    let grew = status_kib(srv.pid(), "VmRSS:").saturating_sub(rss);
    eprintln!("1000 cycles: {fds} fds before and after; RSS {rss} KiB before, grew by {grew} KiB");
    assert!(grew < 1024, "RSS grew by {grew} KiB");
    srv.assert_alive();
}

/// (9) A join/leave storm: 200 clients come and go at random while two others
/// chat. An observer checks that every notice's count is exact, and the chatters'
/// lines all arrive, in order.
#[test]
fn join_leave_storm_keeps_counts_exact() {
    let srv = Srv::start();
    let mut observer = Peer::join(&srv, 1);
    let mut x = Peer::join(&srv, 2);
    observer.expect(&join_msg(&x.addr, 2));
    let x_addr = x.addr.clone();
    let chatter = thread::spawn(move || {
        for i in 0..200 {
            x.send(format!("line {i:03}\n").as_bytes());
            thread::sleep(Duration::from_millis(2));
        }
        x
    });
    let addr = srv.addr();
    let storm = thread::spawn(move || {
        let mut seed = 42u64;
        let mut rand = move |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        let mut inside: Vec<TcpStream> = Vec::new();
        for _ in 0..200 {
            if inside.is_empty() || rand(3) > 0 {
                let s = Peer::connect_raw(addr).stream;
                inside.push(s);
            } else {
                let mut s = inside.swap_remove(rand(inside.len()));
                let _ = s.write_all(b"\n");
            }
            thread::sleep(Duration::from_millis(1));
        }
        for mut s in inside {
            let _ = s.write_all(b"\n");
        }
    });
    storm.join().expect("storm");
    let _x = chatter.join().expect("chatter");
    // Read until the room is back to 2 (observer and x) and x's 200 lines arrived.
    let mut online = 2usize;
    let mut next_line = 0;
    let mut text = String::new();
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + WAIT;
    while (next_line < 200 || online != 2) && Instant::now() < deadline {
        let n = observer.stream.read(&mut buf).expect("read");
        assert!(n > 0, "server closed the observer");
        text.push_str(std::str::from_utf8(&buf[..n]).expect("utf8"));
        while let Some(end) = text.find(ENDC) {
            let msg: String = text.drain(..end + ENDC.len()).collect();
            // An error leave ends with " (error) " after the colour reset: it
            // comes in front of the next message here.
            let msg = msg.strip_prefix(" (error) ").unwrap_or(&msg).to_string();
            if msg.contains("entered (") {
                online += 1;
                assert!(
                    msg.contains(&format!("({online} users online)")),
                    "join says {msg:?}, expected {online}"
                );
            } else if msg.contains(" left (") {
                online -= 1;
                let noun = if online <= 1 { "user" } else { "users" };
                assert!(
                    msg.contains(&format!("({online} {noun} online)")),
                    "leave says {msg:?}, expected {online}"
                );
            } else {
                assert_eq!(
                    msg,
                    send_msg(&x_addr, &format!("line {next_line:03}")),
                    "x's lines out of order"
                );
                next_line += 1;
            }
        }
    }
    assert_eq!((next_line, online), (200, 2));
}

/// (10) SIGINT in the middle of a burst of writes: a clean exit 0, the other
/// client sees the connection close, no panic.
#[test]
fn sigint_during_a_burst() {
    let (mut srv, a, b) = room();
    let mut w = b.stream.try_clone().expect("clone");
    let burst = thread::spawn(move || {
        for _ in 0..100_000 {
            if w.write_all(b"burst burst burst burst burst\n").is_err() {
                break;
            }
        }
    });
    let mut r = a.stream.try_clone().expect("clone");
    let drain = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(1..) = r.read(&mut buf) {}
    });
    thread::sleep(Duration::from_millis(200));
    srv.signal(libc::SIGINT);
    let status = srv.wait_exit();
    assert!(status.success(), "{status:?}");
    drain.join().expect("drain");
    burst.join().expect("burst");
    assert!(!srv.stderr_text().contains("panicked"));
    assert!(srv.console().ends_with("\rKeyboardInterrupt\n\n"));
}

/// (10) A storm of SIGWINCH, SIGUSR1 and SIGUSR2 while the room chats: select is
/// interrupted (EINTR) over and over, nothing is lost, the server lives on.
#[test]
fn a_storm_of_stray_signals_breaks_nothing() {
    let (mut srv, mut a, mut b) = room();
    let pid = srv.pid();
    let storm = thread::spawn(move || {
        for i in 0..3000 {
            let sig = [libc::SIGWINCH, libc::SIGUSR1, libc::SIGUSR2][i % 3];
            unsafe { libc::kill(pid, sig) };
        }
    });
    for i in 0..300 {
        b.send(format!("during the storm {i}\n").as_bytes());
    }
    for i in 0..300 {
        a.expect(&send_msg(&b.addr, &format!("during the storm {i}")));
    }
    storm.join().expect("storm");
    srv.assert_alive();
}

/// (10) SIGPIPE from a vanished reader: a client that resets while the server is
/// writing a backlog to it costs the server nothing (send returns EPIPE or
/// ECONNRESET, SIGPIPE is ignored and MSG_NOSIGNAL set).
#[test]
fn a_reader_that_vanishes_mid_write_raises_no_sigpipe() {
    let (mut srv, mut a, b) = room();
    let mut c = Peer::join(&srv, 3);
    a.expect(&join_msg(&c.addr, 3));
    for _ in 0..200 {
        c.send(format!("{}\n", "q".repeat(4000)).as_bytes());
    }
    let b_addr = b.addr.clone();
    b.reset();
    // a hears c's lines and b's error leave; the server is alive.
    let line = send_msg(&c.addr, &"q".repeat(4000));
    let want = line.len() * 200 + error_leave_msg(&b_addr, 2).len();
    let got = String::from_utf8(a.read_n(want)).expect("utf8");
    assert!(got.contains(&error_leave_msg(&b_addr, 2)));
    srv.assert_alive();
}

/// (11) The server vanishes in the middle of a message: the client shows what
/// came (a half escape sequence never reaches the terminal), says it was
/// disconnected, and exits 0.
#[test]
fn client_survives_a_server_that_vanishes_mid_message() {
    let (listener, port) = fake_server();
    let child = spawn_cli(port, std::process::Stdio::piped());
    let (mut conn, _) = listener.accept().expect("accept");
    conn.write_all(b"\x1b[35m\x1b[1m\r[1.2.3.4:5]: half a mess\x1b[3").expect("send");
    thread::sleep(Duration::from_millis(100));
    drop(conn);
    let out = wait_output(child);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    assert_plain_disconnect(&stdout, "\r[1.2.3.4:5]: half a mess");
}

/// (11) The server sends 10 MiB at once: all of it reaches stdout, filtered, and
/// the client's memory does not follow the flood.
#[test]
fn client_takes_ten_mebibytes_at_once() {
    let (listener, port) = fake_server();
    let mut child = spawn_cli(port, std::process::Stdio::piped());
    let (mut conn, _) = listener.accept().expect("accept");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = thread::spawn(move || {
        let mut n = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(k @ 1..) = stdout.read(&mut buf) {
            n += buf[..k].iter().filter(|&&c| c == b'w').count();
        }
        n
    });
    let line = format!("{}\n", "w".repeat(1023));
    let flood = line.repeat(10 * 1024);
    conn.write_all(flood.as_bytes()).expect("flood");
    let peak = status_kib(child.id() as i32, "VmHWM:");
    drop(conn);
    let status = wait_exit(&mut child, "cli");
    assert!(status.success());
    assert_eq!(reader.join().expect("reader"), 1023 * 10 * 1024);
    assert!(peak < 16 * 1024, "cli peak RSS {peak} KiB during the flood");
}

/// (11) stdin closed from the start (`cli ... < /dev/null`): the client leaves at
/// once, politely, and exits 0.
#[test]
fn client_with_no_stdin_leaves_politely() {
    let srv = Srv::start();
    let mut observer = Peer::join(&srv, 1);
    let child = spawn_cli(srv.port, std::process::Stdio::null());
    let addr = observer.read_join_of_unknown(2);
    observer.expect(&leave_msg(&addr, 1));
    let out = wait_output(child);
    assert!(out.status.success(), "{out:?}");
}

/// The server's own console goes away (`srv ... | head -1`): it keeps serving.
#[test]
fn server_survives_a_closed_console() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_srv"))
        .args(["127.0.0.1", "0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn srv");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while !first.ends_with(b"\n") {
        assert_eq!(stdout.read(&mut byte).expect("start line"), 1);
        first.push(byte[0]);
    }
    drop(stdout); // like `head -1`
    let line = String::from_utf8(first).expect("utf8");
    let port: u16 = line
        .split("port ")
        .nth(1)
        .and_then(|p| p.split('\x1b').next())
        .and_then(|p| p.parse().ok())
        .expect("port");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut a = Peer::connect_raw(addr);
    a.expect(&conn_msg(1));
    let mut b = Peer::connect_raw(addr);
    b.expect(&conn_msg(2));
    a.expect(&join_msg(&b.addr, 2));
    for i in 0..100 {
        b.send(format!("console or not {i}\n").as_bytes());
        a.expect(&send_msg(&b.addr, &format!("console or not {i}")));
    }
    assert!(child.try_wait().expect("try_wait").is_none(), "srv died with its console");
    let _ = child.kill();
    let _ = child.wait();
}
