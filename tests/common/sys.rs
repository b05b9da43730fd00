//! Raw libc helpers shared by the tests and the benchmark (which includes this
//! file too): the fd limit (`RLIMIT_NOFILE`), IPv4 socket addresses for libc
//! calls, connections from loopback addresses of their own, and a burst of
//! connections opened at once.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A loopback address of its own for each call: 127.1.0.1, 127.1.0.2, ... (the
/// whole of 127.0.0.0/8 is this machine's). The server limits what one host may
/// do (`srv --per-host`, rule 4 of its policy); a test or a bench that plays a
/// class plays it from many hosts, as a real class would.
pub fn next_source() -> Ipv4Addr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % (100 * 250 * 250);
    Ipv4Addr::new(127, 1 + (n / 62_500) as u8, (n / 250 % 250) as u8, (n % 250 + 1) as u8)
}

/// A blocking connection to `to` (IPv4) from `from` (any port), with a receive
/// buffer of `rcvbuf` bytes if given (set before connecting, so the window
/// advertised is small from the start), the connect bounded by `within`.
pub fn connect_from(
    to: SocketAddr,
    from: Ipv4Addr,
    rcvbuf: Option<i32>,
    within: Duration,
) -> TcpStream {
    let SocketAddr::V4(v4) = to else { panic!("IPv4 only") };
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    let set = |opt: libc::c_int, value: libc::c_int| unsafe {
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        libc::setsockopt(fd, libc::SOL_SOCKET, opt, (&value as *const libc::c_int).cast(), len);
    };
    if let Some(size) = rcvbuf {
        set(libc::SO_RCVBUF, size);
    }
    // Linux bounds a blocking connect by SO_SNDTIMEO.
    stream.set_write_timeout(Some(within)).expect("timeout");
    let (src, len) = sockaddr_in(SocketAddrV4::new(from, 0));
    let rc = unsafe { libc::bind(fd, (&src as *const libc::sockaddr_in).cast(), len) };
    assert_eq!(rc, 0, "bind {from}: {}", std::io::Error::last_os_error());
    let (dst, len) = sockaddr_in(v4);
    let rc = unsafe { libc::connect(fd, (&dst as *const libc::sockaddr_in).cast(), len) };
    assert_eq!(rc, 0, "connect to {to} from {from}: {}", std::io::Error::last_os_error());
    stream
}

/// An address as the server shows it: `ip:port`, `[ip6]:port`.
pub fn shown(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", v6.port()),
            None => format!("[{}]:{}", v6.ip(), v6.port()),
        },
        SocketAddr::V4(v4) => v4.to_string(),
    }
}

/// Raise this process's soft RLIMIT_NOFILE to `want` (or the hard limit);
/// returns the new soft limit. Children inherit it.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
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
            let lim = libc::rlimit { rlim_cur: fds, rlim_max: fds };
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            Ok(())
        });
    }
}

/// `addr` as libc's `sockaddr_in` and its length, for `bind` and `connect`.
pub fn sockaddr_in(addr: SocketAddrV4) -> (libc::sockaddr_in, libc::socklen_t) {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
        sin_zero: [0; 8],
    };
    (sin, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
}

/// Open `n` connections to `addr` (IPv4), all from one host (a class behind one
/// NAT: `srv --per-host` must let them in), at the same moment and wait, at most
/// `within`, for each to receive its first byte (the greeting). Returns how many
/// were greeted, and after how many seconds the last of those was. Every SYN
/// leaves within microseconds: non-blocking connects from one thread, then `poll`.
/// With a listen backlog smaller than the burst, Linux drops what does not fit in
/// the queue, and those clients wait for a retransmission, a second or more later.
pub fn connect_burst(addr: SocketAddr, n: usize, within: Duration) -> (usize, f64) {
    let SocketAddr::V4(v4) = addr else { panic!("IPv4 only") };
    let (sin, len) = sockaddr_in(v4);
    let (src, src_len) = sockaddr_in(SocketAddrV4::new(next_source(), 0));
    let start = Instant::now();
    let socks: Vec<OwnedFd> = (0..n)
        .map(|_| {
            let flags = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            let fd = unsafe { libc::socket(libc::AF_INET, flags, 0) };
            assert!(fd >= 0, "socket");
            unsafe { libc::bind(fd, (&src as *const libc::sockaddr_in).cast(), src_len) };
            unsafe { libc::connect(fd, (&sin as *const libc::sockaddr_in).cast(), len) };
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .collect();
    let mut greeted = vec![None; n];
    let mut pfds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    while greeted.iter().any(Option::is_none) && start.elapsed() < within {
        unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, 50) };
        for (k, p) in pfds.iter_mut().enumerate() {
            if greeted[k].is_none() && p.revents & libc::POLLIN != 0 {
                let mut byte = 0u8;
                if unsafe { libc::recv(p.fd, (&mut byte as *mut u8).cast(), 1, 0) } == 1 {
                    greeted[k] = Some(start.elapsed().as_secs_f64());
                }
                p.events = 0;
            }
        }
    }
    let done: Vec<f64> = greeted.into_iter().flatten().collect();
    (done.len(), done.iter().cloned().fold(0.0, f64::max))
}
