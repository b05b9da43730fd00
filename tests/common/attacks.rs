//! A quiet pair's latency while a classmate attacks the room's pace: shared by
//! the tests (`tests/pace.rs`, which assert it) and the benchmark (which prints it
//! into docs/performance.md).
//!
//! The room: a quiet pair (q1 pings q2 every 100 ms) and a talker who chats at
//! about 2 MB/s, each on a host of its own; the attack comes from another host.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::sys::{connect_from, next_source};

/// How a classmate attacks the room's pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// Nothing: the quiet pair and the talker alone.
    None,
    /// A client that never reads (4 KiB receive buffer) joins every 0.5 s.
    Newcomers,
    /// Ten readers take 4 KiB every 0.6 s, and all that waits every 3 s.
    Sippers,
    /// Five readers read 100 KB a second each.
    SlowReaders,
    /// A `cli` (output to /dev/null) is stopped with SIGSTOP for 5 s.
    Stopped,
}

impl Attack {
    /// Every attack, `None` first.
    pub const ALL: [Attack; 5] =
        [Attack::None, Attack::Newcomers, Attack::Sippers, Attack::SlowReaders, Attack::Stopped];

    /// The attack in words, for a table.
    pub fn name(self) -> &'static str {
        match self {
            Attack::None => "no attack",
            Attack::Newcomers => "a client that never reads joins every 0.5 s",
            Attack::Sippers => "ten readers take a little and stop, again and again",
            Attack::SlowReaders => "five readers read steadily at 100 KB/s",
            Attack::Stopped => "one reader is stopped (SIGSTOP) for 5 s",
        }
    }

    /// Run the attack on the room at `addr` until `stop`; `cli` is the client's binary.
    fn run(self, addr: SocketAddr, cli: &Path, stop: &AtomicBool) {
        let host = next_source();
        let pause = |ms| thread::sleep(Duration::from_millis(ms));
        match self {
            Attack::None => {}
            Attack::Newcomers => {
                let mut joined = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    joined.push(connect_from(addr, host, Some(4096), Duration::from_secs(10)));
                    pause(500);
                }
            }
            Attack::Sippers | Attack::SlowReaders => {
                let (n, take) = if self == Attack::Sippers { (10, 4096) } else { (5, 10_000) };
                let mut readers: Vec<TcpStream> = (0..n)
                    .map(|_| connect_from(addr, host, None, Duration::from_secs(10)))
                    .collect();
                readers.iter().for_each(|r| r.set_nonblocking(true).expect("nonblocking"));
                let mut buf = vec![0u8; 1 << 16];
                for round in 1.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    pause(if self == Attack::Sippers { 600 } else { 100 });
                    // Sippers: every fifth round (3 s), all that waits.
                    let all = self == Attack::Sippers && round % 5 == 0;
                    for r in &mut readers {
                        while let Ok(1..) = r.read(&mut buf[..if all { 1 << 16 } else { take }]) {
                            if !all {
                                break;
                            }
                        }
                    }
                }
            }
            Attack::Stopped => {
                let mut cli = Command::new(cli)
                    .args(["127.0.0.1", &addr.port().to_string()])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("cli");
                pause(300);
                unsafe { libc::kill(cli.id() as i32, libc::SIGSTOP) };
                pause(5000);
                unsafe { libc::kill(cli.id() as i32, libc::SIGCONT) };
                while !stop.load(Ordering::Relaxed) {
                    pause(50);
                }
                let _ = cli.kill();
                let _ = cli.wait();
            }
        }
    }
}

/// Connect from a host of its own and read the greeting.
fn join(addr: SocketAddr) -> TcpStream {
    let mut s = connect_from(addr, next_source(), None, Duration::from_secs(10));
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut byte = [0u8];
    while byte[0] != b'\n' {
        s.read_exact(&mut byte).expect("greeting");
    }
    s
}

/// Read everything `stream` gets until `stop`.
fn drain(stream: &TcpStream, stop: &Arc<AtomicBool>) -> JoinHandle<()> {
    let mut r = stream.try_clone().expect("clone");
    r.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let stop = Arc::clone(stop);
    thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while !stop.load(Ordering::Relaxed) && !matches!(r.read(&mut buf), Ok(0)) {}
    })
}

/// The latencies of a quiet pair's pings (one every 100 ms, for `secs`) while
/// the talker chats at about 2 MB/s and `attack` runs, sorted; and how many
/// pings were sent.
pub fn quiet_pair_under(
    addr: SocketAddr,
    secs: u64,
    attack: Attack,
    cli: &Path,
) -> (Vec<Duration>, usize) {
    let (q1, q2, talker) = (join(addr), join(addr), join(addr));
    let stop = Arc::new(AtomicBool::new(false));
    let drains = [drain(&q1, &stop), drain(&talker, &stop)];
    // The talker: lines of 100 bytes, 20 KB every 10 ms.
    let chat = {
        let stop = Arc::clone(&stop);
        let mut w = talker.try_clone().expect("clone");
        w.set_write_timeout(Some(Duration::from_millis(100))).expect("timeout");
        thread::spawn(move || {
            let chunk = format!("{}\n", "c".repeat(99)).repeat(200);
            while !stop.load(Ordering::Relaxed) {
                let _ = w.write(chunk.as_bytes());
                thread::sleep(Duration::from_millis(10));
            }
        })
    };
    // q2 reads everything, noting when each ping arrives.
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let reader = {
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        let mut r = q2.try_clone().expect("clone");
        r.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
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
                // Complete lines only; the unfinished one waits.
                let Some(end) = tail.iter().rposition(|&b| b == b'\n') else {
                    continue;
                };
                let text = String::from_utf8_lossy(&tail[..end]).into_owned();
                for (at, _) in text.match_indices("]: ping ") {
                    let k: usize =
                        text[at + 8..].split('\n').next().unwrap_or("").parse().expect("ping");
                    took.push(now - sent.lock().unwrap()[k]);
                }
                tail.drain(..end);
            }
            took
        })
    };
    let pings = thread::scope(|s| {
        let flag = &stop;
        s.spawn(move || attack.run(addr, cli, flag));
        let start = Instant::now();
        let mut k = 0;
        while start.elapsed() < Duration::from_secs(secs) {
            sent.lock().unwrap().push(Instant::now());
            (&q1).write_all(format!("ping {k}\n").as_bytes()).expect("ping");
            k += 1;
            thread::sleep(Duration::from_millis(100));
        }
        thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        k
    });
    chat.join().expect("chat");
    let mut took = reader.join().expect("reader");
    drains.into_iter().for_each(|d| d.join().expect("drain"));
    took.sort();
    (took, pings)
}

/// The quantile `q` (0 to 1) of sorted latencies.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(Duration::MAX)
}
