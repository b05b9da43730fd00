//! Fan-out benchmark and load generator for line-based chat servers on loopback.
//!
//! `cargo bench` (no arguments) runs the sweep: it starts our release `srv` on a
//! free port (console to /dev/null), measures saturation, fixed-rate latency and
//! idle memory at N = 2, 10, 100, 500 and 1000 clients, compares with a bare relay
//! of the same bytes (`relay.rs`, a yardstick, not part of the product), and writes
//! `docs/performance.md` and `docs/scaling.svg`.
//!
//! By hand, against any line-based chat server on a loopback address:
//!
//! ```text
//! cargo bench --bench fanout -- --addr 127.0.0.1:7777 --clients 100 --senders 100 --messages 2000
//! ```
//!
//! Options: `--addr HOST:PORT` (default: start our `srv`), `--clients N`, `--senders S`,
//! `--messages M` (per sender), `--rate R` (lines/s in total; 0 = as fast as
//! possible), `--timeout SECS`, `--readers K` (reader threads), `--relay` (start the
//! yardstick relay instead of `srv`). It prints one line of `key=value`.
//!
//! Each line sent is `SSSSS QQQQQQQQ TTTTTTTTTTTTTTTTTTTT\n`: sender, sequence number
//! and send time (ns since the benchmark started), fixed width, so a receiver finds
//! them as the 35 bytes before any `\n`, whatever decoration the server adds in front.

mod relay;
#[path = "../tests/common/sys.rs"]
#[allow(dead_code)]
mod sys;
use sys::{connect_burst, connect_from, next_source, raise_nofile, sockaddr_in};
#[path = "../tests/common/attacks.rs"]
mod attacks;
use attacks::{Attack, quantile, quiet_pair_under};

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};

/// Width of the payload: "SSSSS QQQQQQQQ TTTTTTTTTTTTTTTTTTTT".
const PAYLOAD: usize = 35;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

#[derive(Clone, Debug)]
struct Opts {
    addr: Option<SocketAddr>,
    clients: usize,
    senders: usize,
    messages: usize,
    rate: f64,
    timeout: Duration,
    readers: usize,
    relay: bool,
    /// `--fairness`: the quiet pair against a flooder, instead of a run.
    fairness: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            addr: None,
            clients: 100,
            senders: 100,
            messages: 100,
            rate: 0.0,
            timeout: Duration::from_secs(60),
            readers: 1,
            relay: false,
            fairness: false,
        }
    }
}

/// The outcome of one run.
#[derive(Clone, Debug, Default)]
struct Report {
    clients: usize,
    senders: usize,
    expected: u64,
    received: u64,
    order_violations: u64,
    wall: f64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    server_cpu: Option<f64>,
    server_rss_kib: Option<u64>,
    bench_cpu: f64,
}

impl Report {
    fn rate(&self) -> f64 {
        self.received as f64 / self.wall.max(1e-9)
    }

    fn line(&self) -> String {
        let mut s = format!(
            "clients={} senders={} delivered_per_s={:.0} expected={} received={} loss={} order_violations={} \
             p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3} wall_s={:.3} bench_cpu_s={:.3}",
            self.clients,
            self.senders,
            self.rate(),
            self.expected,
            self.received,
            self.expected.saturating_sub(self.received),
            self.order_violations,
            self.p50_us as f64 / 1e3,
            self.p99_us as f64 / 1e3,
            self.p999_us as f64 / 1e3,
            self.max_us as f64 / 1e3,
            self.wall,
            self.bench_cpu,
        );
        if let Some(cpu) = self.server_cpu {
            let per_k = cpu / (self.received.max(1) as f64 / 1000.0);
            s += &format!(" server_cpu_s={cpu:.3} server_cpu_us_per_1000={:.1}", per_k * 1e6);
        }
        if let Some(rss) = self.server_rss_kib {
            s += &format!(" server_peak_rss_kib={rss}");
        }
        s
    }
}

/// A server this benchmark started; killed on drop.
struct Started {
    child: Child,
    addr: SocketAddr,
}

impl Started {
    fn srv() -> Started {
        Started::spawn(Command::new(env!("CARGO_BIN_EXE_srv")))
    }

    /// `srv --per-host 256`: a class behind one NAT, as the teacher starts it.
    fn srv_for_one_host() -> Started {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_srv"));
        cmd.args(["--per-host", "256"]);
        Started::spawn(cmd)
    }

    fn relay() -> Started {
        let mut cmd = Command::new(std::env::current_exe().expect("own path"));
        cmd.arg("--serve-relay");
        Started::spawn(cmd)
    }

    fn spawn(mut cmd: Command) -> Started {
        // A free port: bind port 0, note it, let it go. (A small race, fine here.)
        let port =
            TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let child = cmd
            .args(["127.0.0.1", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start server");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            thread::sleep(Duration::from_millis(20));
        }
        // That probe joined and left: give the server a moment to forget it.
        thread::sleep(Duration::from_millis(50));
        Started { child, addr }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) of a process, from /proc/PID/stat.
fn cpu_of(pid: i32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// A `VmHWM` or `VmRSS` line of /proc/PID/status, in KiB.
fn status_kib(pid: i32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn own_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Connect `n` clients and drain the notices of their joining: client i hears its
/// greeting and then the n - 1 - i joins after it. Each connect waits for its
/// greeting first, so the connects never outrun `accept` (with the report's listen
/// backlog of 10, a full queue drops SYNs, and the kernel retries only after 1 s).
/// Over IPv4 each client comes from a loopback address of its own, as a class
/// does from its machines: `srv` lets one host have only a few members.
fn connect_all(addr: SocketAddr, n: usize, timeout: Duration) -> Vec<TcpStream> {
    let mut clients = Vec::with_capacity(n);
    let mut owed = Vec::with_capacity(n);
    let mut buf = vec![0u8; 1 << 16];
    for i in 0..n {
        let mut s = match addr {
            SocketAddr::V4(_) => connect_from(addr, next_source(), None, timeout),
            SocketAddr::V6(_) => TcpStream::connect_timeout(&addr, timeout).expect("connect"),
        };
        s.set_nodelay(true).expect("nodelay");
        s.set_read_timeout(Some(timeout)).expect("timeout");
        let mut lines = 0;
        while lines == 0 {
            let k = s.read(&mut buf).expect("greeting");
            assert!(k > 0, "server closed a client while joining");
            lines += buf[..k].iter().filter(|&&b| b == b'\n').count();
        }
        clients.push(s);
        owed.push((n - i).saturating_sub(lines));
    }
    for (s, want) in clients.iter_mut().zip(owed) {
        let mut want = want;
        while want > 0 {
            let k = s.read(&mut buf).expect("drain joins");
            assert!(k > 0, "server closed a client while joining");
            want = want.saturating_sub(buf[..k].iter().filter(|&&b| b == b'\n').count());
        }
    }
    clients
}

/// Record latency only for lines from `senders` received by client `receiver`.
#[derive(Clone, Debug)]
struct Watch {
    senders: std::ops::Range<usize>,
    receiver: usize,
}

/// What one reader thread saw.
struct Seen {
    received: u64,
    order_violations: u64,
    hist: Histogram<u64>,
}

/// Read every client in `mine` with one epoll loop until `total` (shared) reaches
/// `expected` or the deadline passes.
fn reader(
    mine: Vec<(usize, TcpStream)>,
    senders: usize,
    expected: u64,
    total: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    watch: Option<Watch>,
) -> Seen {
    let mut poll = Poll::new().expect("poll");
    let mut conns: Vec<(usize, MioStream, Vec<u8>, Vec<u32>)> = Vec::new();
    for (k, (idx, s)) in mine.into_iter().enumerate() {
        s.set_nonblocking(true).expect("nonblocking");
        let mut m = MioStream::from_std(s);
        poll.registry().register(&mut m, Token(k), Interest::READABLE).expect("register");
        conns.push((idx, m, Vec::with_capacity(64), vec![0u32; senders]));
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 1 << 16];
    let mut seen = Seen {
        received: 0,
        order_violations: 0,
        hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram"),
    };
    while total.load(Ordering::Relaxed) < expected
        && !stop.load(Ordering::Relaxed)
        && Instant::now() < deadline
    {
        if poll.poll(&mut events, Some(Duration::from_millis(50))).is_err() {
            continue;
        }
        for ev in events.iter() {
            let (idx, stream, carry, last) = &mut conns[ev.token().0];
            let idx = *idx;
            loop {
                let n = match stream.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                let at = now_ns();
                let mut lines = 0;
                let chunk = &buf[..n];
                let mut start = 0;
                while let Some(off) = chunk[start..].iter().position(|&b| b == b'\n') {
                    let nl = start + off;
                    // The 35 bytes before the newline, partly from the last chunk.
                    let mut field = [0u8; PAYLOAD];
                    if nl >= PAYLOAD {
                        field.copy_from_slice(&chunk[nl - PAYLOAD..nl]);
                    } else {
                        let from_carry = PAYLOAD - nl;
                        if carry.len() >= from_carry {
                            field[..from_carry].copy_from_slice(&carry[carry.len() - from_carry..]);
                            field[from_carry..].copy_from_slice(&chunk[..nl]);
                        }
                    }
                    if let Some((sender, seq, ts)) = parse(&field) {
                        lines += 1;
                        let slot = &mut last[sender.min(senders - 1)];
                        // Each sender's lines must come in order: never below the
                        // next one expected from it.
                        if seq < *slot {
                            seen.order_violations += 1;
                        }
                        *slot = seq + 1;
                        if watch
                            .as_ref()
                            .is_none_or(|w| w.receiver == idx && w.senders.contains(&sender))
                        {
                            let _ = seen.hist.record((at.saturating_sub(ts) / 1000).max(1));
                        }
                    }
                    start = nl + 1;
                }
                carry.clear();
                let tail = &chunk[chunk.len().saturating_sub(PAYLOAD)..];
                carry.extend_from_slice(tail);
                seen.received += lines;
                total.fetch_add(lines, Ordering::Relaxed);
            }
        }
    }
    seen
}

/// Sender, sequence and timestamp from a payload, or `None` for other lines.
fn parse(f: &[u8; PAYLOAD]) -> Option<(usize, u32, u64)> {
    if f[5] != b' ' || f[14] != b' ' {
        return None;
    }
    let num = |b: &[u8]| -> Option<u64> {
        b.iter().try_fold(0u64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + (d - b'0') as u64))
    };
    Some((num(&f[..5])? as usize, num(&f[6..14])? as u32, num(&f[15..])?))
}

/// One measured run against `addr`; `server` is the pid to measure, if ours.
fn run(addr: SocketAddr, o: &Opts, server: Option<i32>) -> Report {
    let n = o.clients;
    let s = o.senders.min(n);
    let clients = connect_all(addr, n, o.timeout);
    let writers: Vec<TcpStream> =
        clients[..s].iter().map(|c| c.try_clone().expect("clone")).collect();
    let expected = (s * o.messages * (n - 1)) as u64;
    let total = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + o.timeout;
    let cpu0 = server.map(cpu_of);
    let own0 = own_cpu();
    let start = Instant::now();

    // Readers: the clients split among K threads, each with its own epoll.
    let k = o.readers.max(1);
    let mut groups: Vec<Vec<(usize, TcpStream)>> = (0..k).map(|_| Vec::new()).collect();
    for (i, c) in clients.into_iter().enumerate() {
        groups[i % k].push((i, c));
    }
    let handles: Vec<_> = groups
        .into_iter()
        .map(|g| {
            let (total, stop) = (Arc::clone(&total), Arc::clone(&stop));
            thread::spawn(move || reader(g, s, expected, total, stop, deadline, None))
        })
        .collect();

    // The sender: round-robin over the senders, a few lines per write when
    // saturating, one line per tick at a fixed rate.
    let sender = {
        let (messages, rate) = (o.messages, o.rate);
        let stop = Arc::clone(&stop);
        let total = Arc::clone(&total);
        // Closed loop: at most WINDOW lines per reader in flight (sent, not yet
        // received). An open loop would let the readers fall behind without bound,
        // and the server rightly disconnects a client that owes it more than its
        // outbox limit: that would measure the bench, not the server.
        const WINDOW: u64 = 4000;
        let fanout = (n - 1) as u64;
        thread::spawn(move || {
            let mut writers = writers;
            let batch = if rate > 0.0 { 1 } else { 16 };
            let mut next = vec![0usize; writers.len()];
            let interval = if rate > 0.0 { 1.0 / rate } else { 0.0 };
            let t0 = Instant::now();
            let mut sent = 0u64;
            let mut line = Vec::with_capacity(PAYLOAD * batch + batch);
            let mut remaining = writers.len();
            while remaining > 0 && !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                remaining = 0;
                for (w, stream) in writers.iter_mut().enumerate() {
                    if next[w] >= messages {
                        continue;
                    }
                    remaining += 1;
                    while sent * fanout > total.load(Ordering::Relaxed) + WINDOW * fanout
                        && Instant::now() < deadline
                    {
                        thread::sleep(Duration::from_micros(50));
                    }
                    line.clear();
                    for _ in 0..batch.min(messages - next[w]) {
                        if rate > 0.0 {
                            let due = t0 + Duration::from_secs_f64(sent as f64 * interval);
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                thread::sleep(wait);
                            }
                        }
                        let _ = writeln!(line, "{w:05} {:08} {:020}", next[w], now_ns());
                        next[w] += 1;
                        sent += 1;
                    }
                    if stream.write_all(&line).is_err() {
                        next[w] = messages;
                    }
                }
            }
        })
    };
    let _ = sender.join();
    let seen: Vec<Seen> = handles.into_iter().map(|h| h.join().expect("reader")).collect();
    stop.store(true, Ordering::Relaxed);
    let wall = start.elapsed().as_secs_f64();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram");
    let (mut received, mut violations) = (0, 0);
    for s in &seen {
        hist.add(&s.hist).expect("merge");
        received += s.received;
        violations += s.order_violations;
    }
    Report {
        clients: n,
        senders: s,
        expected,
        received,
        order_violations: violations,
        wall,
        p50_us: hist.value_at_quantile(0.5),
        p99_us: hist.value_at_quantile(0.99),
        p999_us: hist.value_at_quantile(0.999),
        max_us: hist.max(),
        server_cpu: server.map(|pid| cpu_of(pid) - cpu0.unwrap_or(0.0)),
        server_rss_kib: server.and_then(|pid| status_kib(pid, "VmHWM:")),
        bench_cpu: own_cpu() - own0,
    }
}

/// Server RSS per idle client: RSS with `n` clients connected, minus RSS before.
fn idle_rss_per_client(n: usize) -> (u64, f64) {
    let srv = Started::srv();
    thread::sleep(Duration::from_millis(100));
    let before = status_kib(srv.pid(), "VmRSS:").unwrap_or(0);
    let clients = connect_all(srv.addr, n, Duration::from_secs(30));
    thread::sleep(Duration::from_millis(200));
    let after = status_kib(srv.pid(), "VmRSS:").unwrap_or(0);
    drop(clients);
    (after, (after.saturating_sub(before)) as f64 * 1024.0 / n as f64)
}

/// The fairness run: what a quiet pair sees while one member floods.
#[derive(Clone, Debug, Default)]
struct Fair {
    clients: usize,
    flood: bool,
    quiet_p50_us: u64,
    quiet_p99_us: u64,
    quiet_lines: u64,
    delivered_per_s: f64,
    quiet_tail: [u64; 6],
}

impl Fair {
    fn line(&self) -> String {
        format!(
            "clients={} flood={} quiet_p50_ms={:.3} quiet_p99_ms={:.3} quiet_lines={} delivered_per_s={:.0} tail_us={:?}",
            self.clients,
            self.flood,
            self.quiet_p50_us as f64 / 1e3,
            self.quiet_p99_us as f64 / 1e3,
            self.quiet_lines,
            self.delivered_per_s,
            self.quiet_tail
        )
    }
}

/// How many quiet members talk in the fairness run, each two lines a second.
const QUIET: usize = 25;

/// `n` members; members 1 to 25 talk quietly (each sends a line every 500 ms, in
/// turn: 50 lines a second together) for `secs`, and the latency of their lines is
/// measured at member 26. If `flood`, member 0 sends short lines as fast as TCP
/// lets it meanwhile. Every member reads everything.
fn fairness(addr: SocketAddr, n: usize, flood: bool, secs: f64) -> Fair {
    let timeout = Duration::from_secs(60);
    let clients = connect_all(addr, n, timeout);
    let mut flooder = clients[0].try_clone().expect("clone");
    let mut quiet: Vec<TcpStream> =
        clients[1..=QUIET].iter().map(|c| c.try_clone().expect("clone")).collect();
    let receiver = QUIET + 1;
    let total = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + timeout;
    // The receiver has a reading thread of its own, like a person at a terminal:
    // the bulk readers' rounds over hundreds of flooded connections would otherwise
    // add their own delay to what is measured. Two threads read the others.
    let mut groups: Vec<Vec<(usize, TcpStream)>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for (i, c) in clients.into_iter().enumerate() {
        groups[if i == receiver { 2 } else { i % 2 }].push((i, c));
    }
    let watch = Watch { senders: 1..QUIET + 1, receiver };
    let readers: Vec<_> = groups
        .into_iter()
        .map(|g| {
            let (total, stop) = (Arc::clone(&total), Arc::clone(&stop));
            let watch = watch.clone();
            thread::spawn(move || {
                reader(g, QUIET + 1, u64::MAX, total, stop, deadline, Some(watch))
            })
        })
        .collect();
    let flood_thread = flood.then(|| {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            // Short lines, in 64 KiB writes. The socket is non-blocking (the readers
            // set O_NONBLOCK on the description it shares with its clone).
            let mut seq = 0u64;
            let mut buf = Vec::with_capacity(1 << 16);
            let mut at = 0;
            while !stop.load(Ordering::Relaxed) {
                if at == buf.len() {
                    buf.clear();
                    at = 0;
                    while buf.len() + PAYLOAD < 1 << 16 {
                        let _ = writeln!(buf, "{:05} {seq:08} {:020}", 0, now_ns());
                        seq += 1;
                    }
                }
                match flooder.write(&buf[at..]) {
                    Ok(k) => at += k,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        // Wait (at most 50 ms, to see the stop flag) until the
                        // kernel takes more, rather than spin.
                        use std::os::fd::AsRawFd;
                        let mut pfd = libc::pollfd {
                            fd: flooder.as_raw_fd(),
                            events: libc::POLLOUT,
                            revents: 0,
                        };
                        unsafe { libc::poll(&mut pfd, 1, 50) };
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        })
    });
    // Let the room settle, and the flood spend its saved-up credit and fill every
    // queue it can, before the quiet members start.
    thread::sleep(Duration::from_secs(3));
    let counted = total.load(Ordering::Relaxed);
    let t0 = Instant::now();
    let lines = (secs * 50.0) as u64;
    for k in 0..lines {
        let due = t0 + Duration::from_millis(20 * k);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        let (who, seq) = (k as usize % QUIET, k / QUIET as u64);
        let _ = writeln!(quiet[who], "{:05} {seq:08} {:020}", who + 1, now_ns());
    }
    // A moment for the last quiet lines to arrive.
    thread::sleep(Duration::from_millis(500));
    let wall = t0.elapsed().as_secs_f64();
    let delivered = total.load(Ordering::Relaxed) - counted;
    stop.store(true, Ordering::Relaxed);
    if let Some(f) = flood_thread {
        let _ = f.join();
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram");
    for r in readers {
        hist.add(&r.join().expect("reader").hist).expect("merge");
    }
    Fair {
        clients: n,
        flood,
        quiet_p50_us: hist.value_at_quantile(0.5),
        quiet_p99_us: hist.value_at_quantile(0.99),
        quiet_lines: hist.len(),
        quiet_tail: [0.9, 0.95, 0.98, 0.99, 0.995, 0.999].map(|q| hist.value_at_quantile(q)),
        delivered_per_s: delivered as f64 / wall,
    }
}

/// A burst of `n` connects, all at once, against `addr` (IPv4): how many were
/// greeted within 10 s, and the seconds until the last of those was (see
/// `connect_burst`, shared with the tests).
fn burst(addr: SocketAddr, n: usize) -> (usize, f64) {
    connect_burst(addr, n, Duration::from_secs(10))
}

/// A listener with the given backlog that accepts as fast as it can and greets each
/// connection with one byte: the kernel's side of a burst, without a chat server.
fn greeter(backlog: i32) -> SocketAddr {
    use std::os::fd::FromRawFd;
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket");
    let (sin, len) = sockaddr_in(std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0));
    assert_eq!(unsafe { libc::bind(fd, (&sin as *const libc::sockaddr_in).cast(), len) }, 0);
    assert_eq!(unsafe { libc::listen(fd, backlog) }, 0);
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        while let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(b"!");
        }
    });
    addr
}

fn parse_opts(args: &[String]) -> Result<(Opts, bool), String> {
    let mut o = Opts::default();
    let mut single = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--addr" => {
                let v = val("--addr")?;
                let addr: SocketAddr = v.parse().map_err(|_| format!("bad --addr {v}"))?;
                if !addr.ip().is_loopback() {
                    return Err("--addr must be a loopback address".into());
                }
                o.addr = Some(addr);
                single = true;
            }
            "--clients" => {
                (o.clients, single) = (val(a)?.parse().map_err(|_| "bad --clients")?, true)
            }
            "--senders" => {
                (o.senders, single) = (val(a)?.parse().map_err(|_| "bad --senders")?, true)
            }
            "--messages" => {
                (o.messages, single) = (val(a)?.parse().map_err(|_| "bad --messages")?, true)
            }
            "--rate" => (o.rate, single) = (val(a)?.parse().map_err(|_| "bad --rate")?, true),
            "--readers" => o.readers = val(a)?.parse().map_err(|_| "bad --readers")?,
            "--timeout" => {
                o.timeout = Duration::from_secs(val(a)?.parse().map_err(|_| "bad --timeout")?)
            }
            "--relay" => (o.relay, single) = (true, true),
            "--burst" => {}
            "--fairness" => (o.fairness, single) = (true, true),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.clients < 2 {
        return Err("--clients must be at least 2".into());
    }
    Ok((o, single))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve-relay") {
        return relay::serve(&args[1], &args[2]);
    }
    epoch();
    raise_nofile(4096);
    let (opts, single) = match parse_opts(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("fanout: {e}");
            std::process::exit(2);
        }
    };
    if args.iter().any(|a| a == "--burst") {
        for backlog in [10, 511] {
            println!("burst listener=greeter backlog={backlog} {:?}", burst(greeter(backlog), 200));
        }
        println!("burst listener=srv {:?}", burst(Started::srv_for_one_host().addr, 200));
        return;
    }
    if single {
        let started = match (opts.addr, opts.relay) {
            (Some(_), _) => None,
            (None, true) => Some(Started::relay()),
            (None, false) => Some(Started::srv()),
        };
        let addr = opts.addr.or(started.as_ref().map(|s| s.addr)).expect("an address");
        if opts.fairness {
            for flood in [false, true] {
                println!("fairness {}", fairness(addr, opts.clients, flood, 16.0).line());
            }
            return;
        }
        let report = run(addr, &opts, started.as_ref().map(Started::pid));
        println!("{}", report.line());
    } else {
        sweep(&opts);
    }
}

/// What one call of our `select` costs with `n` idle fds watched (none ready, zero
/// time-out): building the sets, the kernel's scan of `nfds` descriptors, copying
/// the answer. The fds are `dup`s of one pipe's read end, so the kernel polls a
/// real file each time.
fn select_scan(n: usize) -> f64 {
    use std::os::fd::{AsFd, OwnedFd};
    let (r, _w) = std::io::pipe().expect("pipe");
    let fds: Vec<OwnedFd> = (0..n).map(|_| OwnedFd::from(r.try_clone().expect("dup"))).collect();
    let calls = 20_000;
    let t = Instant::now();
    for _ in 0..calls {
        let ready =
            select_chat::select::select(fds.iter().map(|f| f.as_fd()), [], Some(Duration::ZERO));
        assert_eq!(ready.expect("select").count(), 0);
    }
    t.elapsed().as_secs_f64() / calls as f64 * 1e6
}

/// The sweep: saturation, fixed rate and idle memory at each N; then the docs.
fn sweep(base: &Opts) {
    let ns = [2usize, 10, 100, 500, 1000];
    let mut sat = Vec::new();
    let mut fixed = Vec::new();
    let mut idle = Vec::new();
    for &n in &ns {
        // About 8 million deliveries per saturation run, whatever N, but no more
        // lines in all than the room takes at once (a second of `ROOM_RATE`: a
        // paced room would measure the pace, not the server).
        let burst_lines = select_chat::policy::ROOM_RATE as usize / 80 / n;
        let messages = (8_000_000 / (n * (n - 1))).clamp(8, burst_lines.max(8));
        let o = Opts { clients: n, senders: n, messages, rate: 0.0, readers: 2, ..base.clone() };
        let srv = Started::srv();
        let r = run(srv.addr, &o, Some(srv.pid()));
        println!("saturation {}", r.line());
        sat.push(r);
        drop(srv);
        // 1,000 lines/s in total for about 3 s, spread over min(N, 100) senders.
        let senders = n.min(100);
        // One reader thread: on 2 cores a second one only adds scheduling delay.
        let o = Opts {
            clients: n,
            senders,
            messages: 3000 / senders,
            rate: 1000.0,
            readers: 1,
            ..base.clone()
        };
        let srv = Started::srv();
        let r = run(srv.addr, &o, Some(srv.pid()));
        println!("fixed_rate {}", r.line());
        fixed.push(r);
        drop(srv);
        let (rss, per) = idle_rss_per_client(n);
        println!("idle clients={n} server_rss_kib={rss} rss_bytes_per_client={per:.0}");
        idle.push((n, rss, per));
    }
    // The yardstick: a bare relay of the same decorated bytes at N = 500.
    let o =
        Opts { clients: 500, senders: 500, messages: 32, rate: 0.0, readers: 2, ..base.clone() };
    // Three runs of each, alternated, and the median of each: one run lasts a second,
    // and on a shared machine one run alone moves by a fifth.
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let srv = Started::srv();
        ours.push(run(srv.addr, &o, Some(srv.pid())));
        drop(srv);
        let relay = Started::relay();
        bare.push(run(relay.addr, &o, Some(relay.pid())));
    }
    let (ours, bare) = (median(ours), median(bare));
    println!("yardstick ours {}", ours.line());
    println!("yardstick relay {}", bare.line());
    // The same at a steady 1,000 lines/s (100 senders): latency, not throughput.
    let o =
        Opts { clients: 500, senders: 100, messages: 30, rate: 1000.0, readers: 1, ..base.clone() };
    let paced_ours = {
        let srv = Started::srv();
        run(srv.addr, &o, Some(srv.pid()))
    };
    let paced_bare = {
        let relay = Started::relay();
        run(relay.addr, &o, Some(relay.pid()))
    };
    println!("paced ours {}", paced_ours.line());
    println!("paced relay {}", paced_bare.line());
    // Fairness at N = 500: the quiet pair alone, then against a flooder.
    let fair: Vec<Fair> = [false, true]
        .into_iter()
        .map(|flood| {
            let srv = Started::srv();
            let f = fairness(srv.addr, 500, flood, 16.0);
            println!("fairness {}", f.line());
            f
        })
        .collect();
    // A class joining at once: 200 connects in a burst, against listeners with the
    // report's backlog and with ours.
    let bursts: Vec<(&str, i32, (usize, f64))> = vec![
        ("a bare accept loop", 10, burst(greeter(10), 200)),
        ("a bare accept loop", 511, burst(greeter(511), 200)),
        ("srv", 511, burst(Started::srv_for_one_host().addr, 200)),
    ];
    for (what, backlog, (greeted, secs)) in &bursts {
        println!(
            "burst listener={what:?} backlog={backlog} connects=200 greeted={greeted} seconds={secs:.3}"
        );
    }
    // A paste into a room of 500, and the quiet pair under each attack.
    let paste = paste_into(500);
    println!("paste clients=500 seconds={:.3} server_peak_rss_kib={}", paste.0, paste.1);
    let cli = std::path::Path::new(env!("CARGO_BIN_EXE_cli"));
    let attacks: Vec<(Attack, Vec<Duration>)> = Attack::ALL
        .into_iter()
        .map(|attack| {
            let srv = Started::srv();
            let (took, _) = quiet_pair_under(srv.addr, 10, attack, cli);
            let (p50, p99) = (quantile(&took, 0.5), quantile(&took, 0.99));
            println!("attack {attack:?} quiet_p50={p50:?} quiet_p99={p99:?}");
            (attack, took)
        })
        .collect();
    let scans: Vec<(usize, f64)> = [10, 100, 1000].iter().map(|&n| (n, select_scan(n))).collect();
    for (n, us) in &scans {
        println!("select_scan fds={n} us_per_call={us:.2}");
    }
    write_docs(&Sweep {
        sat,
        fixed,
        idle,
        ours,
        bare,
        paced_ours,
        paced_bare,
        fair,
        bursts,
        scans,
        paste,
        attacks,
    });
}

/// One 64 KiB paste of one-letter lines into a room of `n` that read: the seconds
/// until every member has every line, the server's peak RSS in KiB, and the bytes
/// each member got.
fn paste_into(n: usize) -> (f64, u64, usize) {
    use std::os::fd::AsRawFd;
    let srv = Started::srv();
    let mut clients = connect_all(srv.addr, n, Duration::from_secs(60));
    let paster = clients.remove(0);
    let addr = paster.local_addr().expect("addr");
    let line = format!("\x1b[35m\x1b[1m\r[{addr}]: a\n\x1b[0m");
    let want = line.len() * 32_768;
    let mut got = vec![0usize; n - 1];
    let mut fds: Vec<libc::pollfd> = clients
        .iter()
        .map(|c| libc::pollfd { fd: c.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    let mut buf = vec![0u8; 1 << 16];
    let start = Instant::now();
    (&paster).write_all(&b"a\n".repeat(32_768)).expect("paste");
    while got.iter().any(|&g| g < want) && start.elapsed() < Duration::from_secs(60) {
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        for (i, fd) in fds.iter().enumerate() {
            if fd.revents != 0 && got[i] < want {
                got[i] += (&clients[i]).read(&mut buf).unwrap_or(0);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let complete = got.iter().all(|&g| g >= want);
    let rss = status_kib(srv.pid(), "VmHWM:").unwrap_or(0);
    (if complete { secs } else { f64::INFINITY }, rss, want)
}

/// The run with the median rate of several.
fn median(mut runs: Vec<Report>) -> Report {
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    runs.swap_remove(runs.len() / 2)
}

/// Everything the sweep measured.
struct Sweep {
    sat: Vec<Report>,
    fixed: Vec<Report>,
    idle: Vec<(usize, u64, f64)>,
    ours: Report,
    bare: Report,
    paced_ours: Report,
    paced_bare: Report,
    fair: Vec<Fair>,
    bursts: Vec<(&'static str, i32, (usize, f64))>,
    scans: Vec<(usize, f64)>,
    /// A paste into a room of 500: seconds until all had it, server peak RSS KiB,
    /// bytes each member got.
    paste: (f64, u64, usize),
    /// The quiet pair's latencies under each attack.
    attacks: Vec<(Attack, Vec<Duration>)>,
}

fn write_docs(w: &Sweep) {
    let Sweep { sat, fixed, idle, ours, bare, scans, .. } = w;
    let root = env!("CARGO_MANIFEST_DIR");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let date = Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut md = String::new();
    md += "# Performance: what select(2) costs, measured\n\n";
    md += &format!(
        "Written by `cargo bench` on {date}, on {cores} cores ({cpu}), load generator and server on the same \
         machine, over loopback. Run it again to refresh these figures; nothing here is typed by hand. \
         A *delivery* is one line reaching one client: a line said in a room of N is N - 1 deliveries.\n\n"
    );
    md += "## Saturation: every client sends as fast as it can\n\n";
    md += "| clients | deliveries/s | loss | order violations | p50 ms | p99 ms | server CPU µs per 1,000 deliveries | bench CPU s | wall s |\n|---|---|---|---|---|---|---|---|---|\n";
    for r in sat {
        md += &format!(
            "| {} | {:.0} | {} | {} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |\n",
            r.clients,
            r.rate(),
            r.expected.saturating_sub(r.received),
            r.order_violations,
            r.p50_us as f64 / 1e3,
            r.p99_us as f64 / 1e3,
            r.server_cpu.unwrap_or(0.0) / (r.received.max(1) as f64 / 1000.0) * 1e6,
            r.bench_cpu,
            r.wall
        );
    }
    md += "\n## Fixed rate: 1,000 lines/s in total\n\n";
    md += "| clients | senders | deliveries/s | loss | order violations | p50 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|---|---|---|---|\n";
    for r in fixed {
        md += &format!(
            "| {} | {} | {:.0} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            r.clients,
            r.senders,
            r.rate(),
            r.expected.saturating_sub(r.received),
            r.order_violations,
            r.p50_us as f64 / 1e3,
            r.p99_us as f64 / 1e3,
            r.p999_us as f64 / 1e3,
            r.max_us as f64 / 1e3
        );
    }
    md += "\n## Idle: server memory per connected client\n\n| clients | server RSS KiB | RSS bytes per client |\n|---|---|---|\n";
    for (n, rss, per) in idle {
        md += &format!("| {n} | {rss} | {per:.0} |\n");
    }
    md += &format!(
        "\n## Yardstick: a bare relay of the same bytes, N = 500\n\n\
         `benches/relay.rs` is a minimal epoll relay (one thread, whole lines, the same decoration, no \
         sanitising, no limits). It is not part of the product; it shows what this machine allows. \
         Each row is the median of three runs, alternated.\n\n\
         | server | deliveries/s | p99 ms | server CPU s |\n|---|---|---|---|\n\
         | srv | {:.0} | {:.2} | {:.2} |\n| bare relay | {:.0} | {:.2} | {:.2} |\n\n\
         srv reaches {:.0}% of the bare relay.\n",
        ours.rate(),
        ours.p99_us as f64 / 1e3,
        ours.server_cpu.unwrap_or(0.0),
        bare.rate(),
        bare.p99_us as f64 / 1e3,
        bare.server_cpu.unwrap_or(0.0),
        100.0 * ours.rate() / bare.rate().max(1.0)
    );
    let ms = |us: u64| us as f64 / 1e3;
    md += &format!(
        "\nAt a steady 1,000 lines/s (100 senders), p99 latency is {:.2} ms for srv and {:.2} ms for the bare \
         relay: srv's is {:.1} times the relay's.\n",
        ms(w.paced_ours.p99_us),
        ms(w.paced_bare.p99_us),
        w.paced_ours.p99_us as f64 / w.paced_bare.p99_us.max(1) as f64
    );
    let (alone, flood) = (&w.fair[0], &w.fair[1]);
    md += &format!(
        "\n## Fairness: one member floods, the others talk (N = 500)\n\n\
         Member 0 sends short lines as fast as TCP lets it; 25 quiet members talk, each a line every \
         500 ms (50 lines a second together); everyone reads everything. The latency of the quiet lines \
         at one member, without and with the flood ({} lines measured each time):\n\n\
         | | quiet p50 ms | quiet p99 ms | deliveries/s, all lines |\n|---|---|---|---|\n\
         | without the flood | {:.3} | {:.3} | {:.0} |\n| with the flood | {:.3} | {:.3} | {:.0} |\n\n\
         With the flood, the quiet members' p99 is {:.1} times its value without it.\n",
        flood.quiet_lines,
        ms(alone.quiet_p50_us),
        ms(alone.quiet_p99_us),
        alone.delivered_per_s,
        ms(flood.quiet_p50_us),
        ms(flood.quiet_p99_us),
        flood.delivered_per_s,
        flood.quiet_p99_us as f64 / alone.quiet_p99_us.max(1) as f64
    );
    md += &format!(
        "\n## A paste into a room of 500\n\n\
         One member pastes 64 KiB of one-letter lines (`\"a\\n\"` 32,768 times: {:.2} MB once each line \
         has its sender's name and colours) into a room of 500 that all read. Every member had every \
         line after {:.2} s; the server's peak RSS was {} KiB (the room's log keeps the paste once, \
         however many read it).\n",
        w.paste.2 as f64 / 1e6,
        w.paste.0,
        w.paste.1
    );
    md += "\n## A quiet pair while a classmate attacks the room's pace\n\n\
           Two members ping each other every 100 ms for 10 s while a third chats at about 2 MB/s (its host \
           is held to its pace), each on a host of its own, and a classmate on another host attacks; \
           see `tests/pace.rs`, which asserts p99 under 100 ms.\n\n\
           | attack | pings | quiet p50 ms | quiet p99 ms | max ms |\n|---|---|---|---|---|\n";
    for (attack, took) in &w.attacks {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        md += &format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} |\n",
            attack.name(),
            took.len(),
            ms(quantile(took, 0.5)),
            ms(quantile(took, 0.99)),
            ms(quantile(took, 1.0))
        );
    }
    md += "\n## A class joins at once: 200 connects in a burst\n\n\
           200 clients connect at the same moment; how many had their greeting within 10 s, and when \
           the last of those had it. What does not fit in the listen queue is dropped by the kernel, and \
           its client waits for a retransmission, a second or more later.\n\n\
           | listener | listen backlog | greeted within 10 s | seconds until the last of them |\n|---|---|---|---|\n";
    for (what, backlog, (greeted, secs)) in &w.bursts {
        md += &format!("| {what} | {backlog} | {greeted} | {secs:.3} |\n");
    }
    md += "\n## The select call itself\n\nOne call of our `select` with n idle fds and a zero time-out \
           (build the sets, the kernel's scan, copy the answer):\n\n| fds watched | µs per call |\n|---|---|\n";
    for (n, us) in scans {
        md += &format!("| {n} | {us:.2} |\n");
    }
    md += "\n![Deliveries/s at saturation and p99 latency at 1,000 lines/s, against the number of clients](scaling.svg)\n";
    let existing =
        std::fs::read_to_string(format!("{root}/docs/performance.md")).unwrap_or_default();
    // Keep the hand-written analysis that follows the generated part.
    const MARK: &str = "<!-- end of generated figures -->";
    let tail = existing
        .find(MARK)
        .map(|i| existing[i..].to_string())
        .unwrap_or_else(|| format!("{MARK}\n"));
    md += "\n";
    md += &tail;
    std::fs::write(format!("{root}/docs/performance.md"), md).expect("write performance.md");
    std::fs::write(format!("{root}/docs/scaling.svg"), svg(sat, fixed)).expect("write scaling.svg");
    println!("wrote docs/performance.md and docs/scaling.svg");
}

/// Two log-log panels: deliveries/s at saturation, and p99 latency at 1,000 lines/s.
fn svg(sat: &[Report], fixed: &[Report]) -> String {
    let (w, h, pad) = (360.0, 260.0, 50.0);
    let panel = |x0: f64, title: &str, pts: Vec<(f64, f64)>, unit: &str| -> String {
        let lx = |v: f64| v.max(1.0).log10();
        let (xmin, xmax) = (lx(1.0), lx(2000.0));
        let ys: Vec<f64> = pts.iter().map(|p| lx(p.1)).collect();
        let ymin = ys.iter().cloned().fold(f64::MAX, f64::min).floor();
        let ymax = ys.iter().cloned().fold(f64::MIN, f64::max).ceil().max(ymin + 1.0);
        let px = |v: f64| x0 + pad + (lx(v) - xmin) / (xmax - xmin) * (w - 2.0 * pad);
        let py = |v: f64| h - pad - (lx(v) - ymin) / (ymax - ymin) * (h - 2.0 * pad);
        let mut s = format!(
            "<text x=\"{}\" y=\"20\" font-size=\"13\" text-anchor=\"middle\">{title}</text>\n",
            x0 + w / 2.0
        );
        s += &format!(
            "<rect x=\"{}\" y=\"{pad}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
            x0 + pad,
            w - 2.0 * pad,
            h - 2.0 * pad
        );
        for e in (ymin as i32)..=(ymax as i32) {
            let v = 10f64.powi(e);
            s += &format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\">1e{e}</text>\n",
                x0 + pad - 4.0,
                py(v) + 3.0
            );
        }
        for n in [1.0, 10.0, 100.0, 1000.0] {
            s += &format!(
                "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{n}</text>\n",
                px(n),
                h - pad + 14.0
            );
        }
        s += &format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">clients (log)</text>\n",
            x0 + w / 2.0,
            h - 12.0
        );
        s += &format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 {} {})\">{unit} (log)</text>\n",
            x0 + 12.0,
            h / 2.0,
            x0 + 12.0,
            h / 2.0
        );
        let path: Vec<String> =
            pts.iter().map(|&(n, v)| format!("{:.1},{:.1}", px(n), py(v))).collect();
        s += &format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#36c\" stroke-width=\"2\"/>\n",
            path.join(" ")
        );
        for &(n, v) in &pts {
            s += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#36c\"/>\n",
                px(n),
                py(v)
            );
        }
        s
    };
    let a = panel(
        0.0,
        "Saturation: deliveries/s",
        sat.iter().map(|r| (r.clients as f64, r.rate())).collect(),
        "deliveries/s",
    );
    let b = panel(
        w,
        "1,000 lines/s: p99 latency (µs)",
        fixed.iter().map(|r| (r.clients as f64, r.p99_us.max(1) as f64)).collect(),
        "µs",
    );
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{a}{b}</svg>\n",
        2.0 * w
    )
}
