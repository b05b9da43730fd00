//! No reader sets the room's pace, and no host takes the room.
//!
//! A quiet pair pings every 100 ms while someone chats at about 2 MB/s, and a
//! classmate, in turn: joins with a client that never reads every half second;
//! runs ten readers that take a little and stop; runs five readers at 100 KB/s;
//! stops a reader with SIGSTOP for 5 s. The quiet pair's p99 stays under 100 ms
//! (on the build before the room log, the first attack alone made it 0.95 s).
//! Then one host with 1,100 idle connections, and one that connects and resets in
//! a loop (rules 4 and 5 of the policy).
//!
//! The latency tests take turns (one at a time in this binary): each measures
//! milliseconds, and must not be measuring the others.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;

/// One latency test at a time.
static TURN: Mutex<()> = Mutex::new(());

/// Read everything `stream` gets until `stop`; returns what was read if `keep`.
fn drain(stream: &TcpStream, stop: &Arc<AtomicBool>, keep: bool) -> JoinHandle<Vec<u8>> {
    let mut r = stream.try_clone().expect("clone");
    r.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let stop = Arc::clone(stop);
    thread::spawn(move || {
        let (mut buf, mut got) = (vec![0u8; 1 << 16], Vec::new());
        while !stop.load(Ordering::Relaxed) {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if keep => got.extend_from_slice(&buf[..n]),
                _ => {}
            }
        }
        got
    })
}

/// The p99 of a quiet pair's pings (100 ms apart, for `secs`) while `talker`
/// chats at about 2 MB/s and `attack` runs (it is given a flag that says when to
/// stop). Returns every latency, sorted.
fn quiet_pair_under(secs: u64, attack: impl FnOnce(&Srv, Arc<AtomicBool>) + Send) -> Vec<Duration> {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let srv = Srv::start();
    let q1 = Peer::join(&srv, 1);
    let q2 = Peer::join(&srv, 2);
    let talker = Peer::join(&srv, 3);
    let stop = Arc::new(AtomicBool::new(false));
    let drains = [
        drain(&q1.stream, &stop, false),
        drain(&talker.stream, &stop, false),
    ];
    // The talker: lines of 100 bytes, 20 KB every 10 ms.
    let chat = {
        let stop = Arc::clone(&stop);
        let mut w = talker.stream.try_clone().expect("clone");
        w.set_write_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        thread::spawn(move || {
            let chunk = format!("{}\n", "c".repeat(99)).repeat(200);
            while !stop.load(Ordering::Relaxed) {
                let _ = w.write(chunk.as_bytes());
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    // The pings, and q2 reading everything, noting when each ping arrives.
    let prefix = String::from("]: ping ");
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        q2.stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut r = q2.stream.try_clone().expect("clone");
        thread::spawn(move || {
            let (mut buf, mut tail, mut took) = (vec![0u8; 1 << 16], Vec::new(), Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let n = match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(_) => continue,
                };
                let now = Instant::now();
                tail.extend_from_slice(&buf[..n]);
                // Look at the complete lines only; keep the unfinished one.
                let Some(end) = tail.iter().rposition(|&b| b == b'\n') else {
                    continue;
                };
                let text = String::from_utf8_lossy(&tail[..end]).into_owned();
                for (at, _) in text.match_indices(&prefix) {
                    let rest = &text[at + prefix.len()..];
                    let k: usize = rest.split('\n').next().unwrap_or("").parse().expect("ping");
                    took.push(now - sent.lock().unwrap()[k]);
                }
                tail.drain(..end);
            }
            took
        })
    };
    let attacker = {
        let flag = Arc::clone(&stop);
        thread::scope(|s| {
            s.spawn(|| attack(&srv, flag));
            let start = Instant::now();
            let mut k = 0;
            while start.elapsed() < Duration::from_secs(secs) {
                sent.lock().unwrap().push(Instant::now());
                (&q1.stream)
                    .write_all(format!("ping {k}\n").as_bytes())
                    .expect("ping");
                k += 1;
                thread::sleep(Duration::from_millis(100));
            }
            thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
            k
        })
    };
    chat.join().expect("chat");
    let mut took = reader.join().expect("reader");
    drains.into_iter().for_each(|d| drop(d.join()));
    let _ = talker.stream.shutdown(std::net::Shutdown::Both);
    took.sort();
    eprintln!(
        "quiet pair: {} of {attacker} pings; p50 {:?}, p99 {:?}, max {:?}",
        took.len(),
        took.get(took.len() / 2),
        took.get(took.len() * 99 / 100),
        took.last()
    );
    assert!(
        took.len() + 2 >= attacker,
        "pings lost: {} of {attacker}",
        took.len()
    );
    took
}

#[track_caller]
fn assert_p99_under(took: &[Duration], bound: Duration) {
    let p99 = took[(took.len() * 99 / 100).min(took.len() - 1)];
    assert!(p99 < bound, "quiet pair p99 {p99:?}");
}

/// A classmate's host joins with a client that never reads (a 4 KiB receive
/// buffer, so it is full at once) every half second, for 10 s.
#[test]
fn newcomers_that_never_read_do_not_set_the_pace() {
    let took = quiet_pair_under(10, |srv, stop| {
        let host = next_source();
        let mut joined = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            joined.push(connect_from(srv.addr(), host, Some(4096), WAIT));
            thread::sleep(Duration::from_millis(500));
        }
    });
    assert_p99_under(&took, Duration::from_millis(100));
}

/// Ten readers take a little (4 KiB) every 0.6 s and drain all every 3 s.
#[test]
fn readers_that_sip_and_stop_do_not_set_the_pace() {
    let took = quiet_pair_under(6, |srv, stop| {
        let host = next_source();
        let mut sippers: Vec<TcpStream> = (0..10)
            .map(|_| connect_from(srv.addr(), host, None, WAIT))
            .collect();
        let mut buf = vec![0u8; 1 << 16];
        for s in &sippers {
            s.set_nonblocking(true).expect("nonblocking");
        }
        for round in 1.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            thread::sleep(Duration::from_millis(600));
            // Every fifth round (3 s), all that waits; else a sip of 4 KiB.
            let all = round % 5 == 0;
            for s in &mut sippers {
                while let Ok(1..) = s.read(&mut buf[..if all { 1 << 16 } else { 4096 }]) {
                    if !all {
                        break;
                    }
                }
            }
        }
    });
    assert_p99_under(&took, Duration::from_millis(100));
}

/// Five readers read steadily, 100 KB a second each.
#[test]
fn steady_slow_readers_do_not_set_the_pace() {
    let took = quiet_pair_under(6, |srv, stop| {
        let host = next_source();
        let mut slow: Vec<TcpStream> = (0..5)
            .map(|_| connect_from(srv.addr(), host, None, WAIT))
            .collect();
        let mut buf = vec![0u8; 10_000];
        while !stop.load(Ordering::Relaxed) {
            for s in &mut slow {
                s.set_read_timeout(Some(Duration::from_millis(5)))
                    .expect("timeout");
                let _ = s.read(&mut buf);
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    assert_p99_under(&took, Duration::from_millis(100));
}

/// A `cli` (its output to /dev/null, so it reads everything) stopped with
/// SIGSTOP for 5 s, then continued.
#[test]
fn a_stopped_reader_does_not_set_the_pace() {
    let took = quiet_pair_under(6, |srv, stop| {
        let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_cli"))
            .args(["127.0.0.1", &srv.port.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("cli");
        thread::sleep(Duration::from_millis(300));
        unsafe { libc::kill(cli.id() as i32, libc::SIGSTOP) };
        thread::sleep(Duration::from_secs(5));
        unsafe { libc::kill(cli.id() as i32, libc::SIGCONT) };
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(50));
        }
        let _ = cli.kill();
        let _ = cli.wait();
    });
    assert_p99_under(&took, Duration::from_millis(100));
}

/// Rule 4: 1,100 idle connections from 127.0.0.1 leave room for a newcomer from
/// 127.0.0.2, who is greeted within a second and heard; the host's connections
/// past `PER_HOST` are turned away with a line that says why.
#[test]
fn one_host_cannot_take_the_room() {
    use select_chat::policy::PER_HOST;
    raise_nofile(4096);
    let srv = Srv::start();
    let attacker = Ipv4Addr::new(127, 0, 0, 1);
    let mut idle = Vec::new();
    let mut turned_away = 0;
    for _ in 0..1100 {
        let mut s = connect_from(srv.addr(), attacker, None, WAIT);
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut head = [0u8; 16];
        s.read_exact(&mut head).expect("a first line");
        if String::from_utf8_lossy(&head).contains("\x1b[31m") {
            turned_away += 1;
        } else {
            idle.push(s);
        }
    }
    assert_eq!(idle.len(), PER_HOST, "members from the attacker's host");
    assert_eq!(turned_away, 1100 - PER_HOST);
    let mut heard = Peer::join_from(&srv, PER_HOST + 1, Ipv4Addr::new(127, 0, 0, 3));
    let asked = Instant::now();
    let mut newcomer = Peer::join_from(&srv, PER_HOST + 2, Ipv4Addr::new(127, 0, 0, 2));
    let greeted = asked.elapsed();
    assert!(
        greeted < Duration::from_secs(1),
        "greeted after {greeted:?}"
    );
    heard.expect(&join_msg(&newcomer.addr, PER_HOST + 2));
    newcomer.send(b"hello from 127.0.0.2\n");
    heard.expect(&send_msg(&newcomer.addr, "hello from 127.0.0.2"));
    let mut refused = connect_from(srv.addr(), attacker, None, WAIT);
    refused.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut text = String::new();
    let _ = refused.read_to_string(&mut text);
    assert_eq!(text, host_full_msg());
    srv.expect_console("127.0.0.2");
}

/// Rule 5: a host that connects and resets in a loop for 4 s gets `PER_HOST`
/// connections at once, then one a second: a member sees at most that many join
/// notices, and a few a second after the first burst.
#[test]
fn a_connect_loop_is_throttled() {
    use select_chat::policy::PER_HOST;
    let srv = Srv::start();
    let mut watcher = Peer::join(&srv, 1);
    let looper = next_source();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        let s = connect_from(srv.addr(), looper, None, WAIT);
        Peer::wrap(s).reset();
    }
    thread::sleep(Duration::from_millis(300));
    watcher
        .stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut text = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match watcher.stream.read(&mut buf) {
            Ok(n) if n > 0 => text.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() != ErrorKind::WouldBlock && e.kind() != ErrorKind::TimedOut => {
                panic!("{e}")
            }
            _ => break,
        }
    }
    let joins = String::from_utf8_lossy(&text).matches("> New user").count();
    eprintln!("a connect loop for 4 s: {joins} joins seen");
    assert!(joins >= PER_HOST, "{joins} joins");
    assert!(joins <= PER_HOST + 6, "{joins} joins seen in 4 s");
}
