//! The client on a terminal that cannot keep up, and a server that will not: its
//! memory stays bounded and comes back, and Ctrl+C and SIGTERM always work.
//!
//! On an earlier build, a 20 s flood through `srv` into a `cli` in tmux took it to
//! 292 MB (its screen buffer was emptied only when one write took everything, so
//! a terminal a little behind kept every byte), an endless line from a hostile
//! server to 387 MB in 30 s, and Ctrl+C did nothing for 5 s and more after a
//! paste into a server that does not read (stdin was not read while typed text
//! waited, and in raw mode Ctrl+C is a byte on stdin).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::pty::Pty;
use common::*;

/// `cli 127.0.0.1 PORT` (`SELECT_CHAT_CLI=path`: another build of it).
fn cli(port: u16) -> Command {
    let bin = std::env::var_os("SELECT_CHAT_CLI");
    let mut cmd = Command::new(bin.as_deref().unwrap_or(env!("CARGO_BIN_EXE_cli").as_ref()));
    cmd.args(["127.0.0.1", &port.to_string()])
        .env_remove("NO_COLOR")
        .env_remove("SELECT_CHAT_TRACE");
    cmd
}

/// Run `flood` for `secs` while sampling `child`'s RSS; returns the highest RSS,
/// and the RSS once the terminal has taken what waited (or 5 s have passed).
fn rss_under(
    child: &Child,
    term: &Pty,
    secs: u64,
    flood: impl FnOnce(Arc<AtomicBool>) + Send,
) -> (u64, u64) {
    let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let pid = child.id() as i32;
    thread::scope(|s| {
        let flag = Arc::clone(&stop);
        s.spawn(move || flood(flag));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(secs) {
            peak.fetch_max(status_kib(pid, "VmRSS:"), Ordering::Relaxed);
            thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
    });
    // The flood is over: the terminal catches up.
    let (mut seen, calm) = (term.written(), Instant::now());
    while calm.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(300));
        let now = term.written();
        if now == seen {
            break;
        }
        seen = now;
    }
    (peak.load(Ordering::Relaxed), status_kib(pid, "VmRSS:"))
}

#[track_caller]
fn assert_small(what: &str, (peak, after): (u64, u64)) {
    eprintln!("{what}: cli peak RSS {peak} KiB, {after} KiB after");
    assert!(peak < 32 * 1024, "{what}: cli RSS reached {peak} KiB");
    assert!(after > 0, "{what}: cli is gone");
    assert!(after < 8 * 1024, "{what}: cli holds {after} KiB after the flood");
}

/// An 8 s flood through `srv` (two members on hosts of their own, each as fast as
/// the room's rate lets them: `ROOM_RATE` shared) into a `cli` whose
/// terminal lags (it takes 2.4 MB a second, less than the client writes for what
/// it receives): the client's RSS stays under 32 MiB.
#[test]
fn a_flood_through_srv_into_a_lagging_terminal_keeps_cli_small() {
    let srv = Srv::start();
    let mut watcher = Peer::join(&srv, 1);
    let mut term = Pty::lagging(24, 80, 24 * 1024);
    let mut child = term.spawn(&mut cli(srv.port));
    watcher.read_join_of_unknown(2);
    let flooders: Vec<Peer> = (3..=4).map(|n| Peer::join(&srv, n)).collect();
    let got = rss_under(&child, &term, 8, |stop| {
        let chunk = format!("{}\n", "f".repeat(79)).repeat(400);
        thread::scope(|s| {
            for p in &flooders {
                let mut w = p.stream.try_clone().expect("clone");
                w.set_write_timeout(Some(Duration::from_millis(100))).expect("timeout");
                let mut r = p.stream.try_clone().expect("clone");
                r.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
                let (stop, chunk) = (&stop, &chunk);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = w.write(chunk.as_bytes());
                    }
                });
                s.spawn(move || {
                    let mut buf = vec![0u8; 1 << 16];
                    while !stop.load(Ordering::Relaxed) {
                        let _ = r.read(&mut buf);
                    }
                });
            }
            let mut buf = vec![0u8; 1 << 16];
            watcher.stream.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
            while !stop.load(Ordering::Relaxed) {
                let _ = watcher.stream.read(&mut buf);
            }
        });
    });
    assert_small("a flood through srv", got);
    let _ = child.kill();
    let _ = child.wait();
}

/// A hostile server floods `cli` with what `chunk` repeats, as fast as the
/// client reads, into a terminal that takes 1.6 MB a second, for 5 s.
fn hostile_flood(what: &str, chunk: &[u8]) {
    let (listener, port) = fake_server();
    let mut term = Pty::lagging(24, 80, 16 * 1024);
    let mut child = term.spawn(&mut cli(port));
    let (conn, _) = listener.accept().expect("accept");
    let got = rss_under(&child, &term, 5, |stop| {
        let mut w: &TcpStream = &conn;
        w.set_write_timeout(Some(Duration::from_millis(100))).expect("timeout");
        while !stop.load(Ordering::Relaxed) {
            let _ = w.write(chunk);
        }
    });
    assert_small(what, got);
    let _ = child.kill();
    let _ = child.wait();
}

/// A line without end.
#[test]
fn an_endless_line_keeps_cli_small() {
    hostile_flood("an endless line", &[b'x'; 65536]);
}

/// Escape sequences: colours that pass, others that are escaped, unfinished ones.
#[test]
fn an_escape_flood_keeps_cli_small() {
    let chunk = b"\x1b[31m\x1b[1mred\x1b[0m\x1b[2J\x1b]0;title\x07\x1b[?25l\x1b[".repeat(1000);
    hostile_flood("an escape flood", &chunk);
}

/// Paste 20 MB of lines into a `cli` (raw mode, the line editor on) connected to
/// a server that never reads, then stop it with `stop`: it must be gone within a
/// second, and say how many lines it could not send.
fn paste_then(stop: impl FnOnce(&mut Pty, &Child)) {
    let (listener, port) = fake_server();
    let mut term = Pty::new(24, 80);
    let mut child = term.spawn(&mut cli(port));
    let (mut conn, _) = listener.accept().expect("accept");
    conn.write_all(conn_msg(1).as_bytes()).expect("greet");
    term.expect_text("[You]:");
    // The paste, as a terminal emulator writes it: as fast as the client reads
    // it (a thread, since a write blocks until then), waited for 20 s at most.
    let mut keys = term.keyboard();
    let (done, pasted) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let lines = format!("{}\r", "p".repeat(99)).repeat(10_000);
        let all = (0..20).all(|_| keys.write_all(lines.as_bytes()).is_ok());
        let _ = done.send(all);
    });
    let pasted = pasted.recv_timeout(Duration::from_secs(20));
    assert!(matches!(pasted, Ok(true)), "the client did not take the paste in 20 s");
    let asked = Instant::now();
    stop(&mut term, &child);
    let status = wait_exit(&mut child, "cli");
    let took = asked.elapsed();
    eprintln!("a 20 MB paste into a server that never reads: gone {took:?} after");
    assert!(took < Duration::from_secs(1), "cli took {took:?} to stop");
    assert!(status.success(), "{status:?}");
    // The last word on the lines the server did not take: how many.
    term.expect_text("typed lines were not sent");
    drop(conn);
}

#[test]
fn ctrl_c_works_after_a_paste_into_a_server_that_never_reads() {
    paste_then(|term, _| term.type_keys(b"\x03"));
}

#[test]
fn sigterm_works_after_a_paste_into_a_server_that_never_reads() {
    paste_then(|_, child| unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    });
}
