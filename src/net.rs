//! The socket system calls, one small function each, called through nix.
//!
//! Mirrors the report's "Function Explanations" section (`socket`, `setsockopt`,
//! `bind`, `listen`, `connect`, `accept`, `close`) and adds the socket calls that a
//! robust program needs and Python made for us (`getsockopt(SO_ERROR)` after a
//! non-blocking connect, `getpeername`, `getsockname`, `shutdown`, name
//! resolution). The server and the client never call nix's socket functions but
//! through here, so each call is documented once, in one place. The calls on fds
//! that are not sockets are in [`crate::fd`].
//!
//! Every function returns nix's `Result<_, Errno>`: where C returns -1 and sets
//! `errno`, nix returns `Err(errno)`. The callers add the context a person can act
//! on (which address, which step) with [`crate::show::context`]. Each call ends
//! with `.traced(...)`, which prints it for `--trace` ([`crate::trace`]) and
//! otherwise costs one flag test.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, SockaddrStorage, sockopt,
};

use crate::show::format_addr;
use crate::trace::{Traced, TracedData};

/// Resolve `host` and `port` to the addresses to try, in order.
///
/// Python's `bind((host, port))` and `connect((host, port))` resolve names
/// themselves; nix has no `getaddrinfo`, so we use the standard library's, which
/// calls `getaddrinfo(3)`. `host` may be an IPv4 address, an IPv6 address (with or
/// without brackets) or a name such as `localhost`.
///
/// # Errors
/// The resolver's error (unknown name, no network) or, when it returns no
/// address, `NotFound`.
///
/// # References
/// [getaddrinfo(3)](https://man7.org/linux/man-pages/man3/getaddrinfo.3.html)
// ANCHOR: resolve
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let failed = |why: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve host '{host}': {why}"))
    };
    let found: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (bare, port).to_socket_addrs().map_err(|e| failed(&e))?.collect(),
    };
    match found.is_empty() {
        true => Err(failed(&"no address found")),
        false => Ok(found),
    }
}
// ANCHOR_END: resolve

/// Try `attempt` on each address `host` resolves to, in order; the first success
/// wins, else the last failure is returned (the loop of the report's `bind` and
/// `connect`, which Python runs inside the call).
///
/// # Errors
/// The resolver's error, or the last address's failure.
pub fn first_that_works<T>(
    host: &str,
    port: u16,
    mut attempt: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in resolve(host, port)? {
        match attempt(&addr) {
            Ok(done) => return Ok(done),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")))
}

/// Create a TCP socket for `addr`'s family: `socket(AF_INET or AF_INET6, SOCK_STREAM, 0)`.
///
/// Twin of the report's `socket.socket(socket.AF_INET, socket.SOCK_STREAM)`.
/// `SOCK_CLOEXEC` keeps the fd from leaking into programs we might start.
///
/// # Errors
/// `EMFILE`/`ENFILE` (out of fds), `EAFNOSUPPORT` (no IPv6 in this kernel).
///
/// # References
/// [socket(2)](https://man7.org/linux/man-pages/man2/socket.2.html)
// ANCHOR: socket
pub fn socket(addr: &SocketAddr) -> nix::Result<OwnedFd> {
    let (family, name) = match addr {
        SocketAddr::V4(_) => (AddressFamily::Inet, "AF_INET"),
        SocketAddr::V6(_) => (AddressFamily::Inet6, "AF_INET6"),
    };
    socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .traced(|| format!("socket({name}, SOCK_STREAM)"))
}
// ANCHOR_END: socket

/// `setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1)`: allow `bind` to an address that
/// still has connections in `TIME_WAIT`, so a restarted server can bind at once.
///
/// Twin of the report's `setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)`;
/// like there, it must come before `bind`.
///
/// # References
/// [setsockopt(2)](https://man7.org/linux/man-pages/man2/setsockopt.2.html),
/// [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html)
// ANCHOR: set_reuse_addr
pub fn set_reuse_addr(fd: &OwnedFd) -> nix::Result<()> {
    socket::setsockopt(fd, sockopt::ReuseAddr, &true)
        .traced(|| format!("setsockopt({}, SOL_SOCKET, SO_REUSEADDR, 1)", fd.as_raw_fd()))
}
// ANCHOR_END: set_reuse_addr

/// `setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0)`: let an IPv6 socket bound to `::`
/// accept IPv4 clients too (they appear as `::ffff:a.b.c.d`). Not in the report,
/// which is IPv4 only.
///
/// # References
/// [ipv6(7)](https://man7.org/linux/man-pages/man7/ipv6.7.html)
pub fn set_dual_stack(fd: &OwnedFd) -> nix::Result<()> {
    socket::setsockopt(fd, sockopt::Ipv6V6Only, &false)
        .traced(|| format!("setsockopt({}, IPPROTO_IPV6, IPV6_V6ONLY, 0)", fd.as_raw_fd()))
}

/// `setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)`: send small segments at once
/// instead of holding them back (Nagle's algorithm).
///
/// Not in the report. Nagle's algorithm keeps a small segment back while an
/// earlier one is unacknowledged, and the receiver delays its ACK by up to 40 ms:
/// together they add milliseconds to a chat line. Nagle guards against a program
/// that sends many tiny pieces; ours gathers everything pending for a client and
/// sends it in one `send` per turn of the loop, so that risk is gone and only the
/// delay would remain.
///
/// # References
/// [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html)
pub fn set_nodelay(fd: &OwnedFd) -> nix::Result<()> {
    socket::setsockopt(fd, sockopt::TcpNoDelay, &true)
        .traced(|| format!("setsockopt({}, IPPROTO_TCP, TCP_NODELAY, 1)", fd.as_raw_fd()))
}

/// `setsockopt(fd, SOL_SOCKET, SO_SNDBUF, bytes)`: cap the kernel's send buffer
/// for this socket (Linux doubles the value for its own bookkeeping).
///
/// Not in the report. Left alone, Linux grows a socket's send buffer up to 4 MiB
/// when the other end is slow: 300 clients that never read can pin a gigabyte of
/// kernel memory. A chat line is small; a capped buffer still holds hundreds of
/// them, and the server keeps the rest in the outbox, where it is counted.
///
/// # References
/// [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html) (`SO_SNDBUF`),
/// [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html) (`tcp_wmem`)
// ANCHOR: set_send_buffer
pub fn set_send_buffer(fd: &OwnedFd, bytes: usize) -> nix::Result<()> {
    socket::setsockopt(fd, sockopt::SndBuf, &bytes)
        .traced(|| format!("setsockopt({}, SOL_SOCKET, SO_SNDBUF, {bytes})", fd.as_raw_fd()))
}
// ANCHOR_END: set_send_buffer

/// `bind(fd, addr)`: give the socket its local address.
///
/// Twin of the report's `servSock.bind((host, port))`.
///
/// # Errors
/// `EADDRINUSE` (another socket has the port), `EACCES` (port below 1024 without
/// privilege), `EADDRNOTAVAIL` (the address is not one of this machine's).
///
/// # References
/// [bind(2)](https://man7.org/linux/man-pages/man2/bind.2.html)
// ANCHOR: bind
pub fn bind(fd: &OwnedFd, addr: &SocketAddr) -> nix::Result<()> {
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(*addr))
        .traced(|| format!("bind({}, {})", fd.as_raw_fd(), format_addr(addr)))
}
// ANCHOR_END: bind

/// `listen(fd, backlog)`: make the socket passive, with a queue of `backlog`
/// connections that completed the handshake but were not yet accepted.
///
/// Twin of the report's `servSock.listen(Constants.LISTEN_BACKLOG)`.
///
/// # Errors
/// `EADDRINUSE` (another socket listens on the port), `EINVAL` (bad backlog).
///
/// # References
/// [listen(2)](https://man7.org/linux/man-pages/man2/listen.2.html)
// ANCHOR: listen
pub fn listen(fd: &OwnedFd, backlog: i32) -> nix::Result<()> {
    Backlog::new(backlog)
        .and_then(|b| socket::listen(fd, b))
        .traced(|| format!("listen({}, {backlog})", fd.as_raw_fd()))
}
// ANCHOR_END: listen

/// `accept4(fd, SOCK_NONBLOCK | SOCK_CLOEXEC)`: take the next connection from the
/// listen queue, already non-blocking and close-on-exec.
///
/// Twin of the report's `servSock.accept()`; the peer's address comes from
/// [`peer_addr`]. Plain `accept` would need two more calls (`fcntl` twice) for
/// `O_NONBLOCK`, which Linux does not copy from the listener, and would leave a
/// moment when the fd lacks `FD_CLOEXEC`; `accept4` sets both in the same call.
///
/// # Errors
/// `EAGAIN` (the queue is empty: the client went away between `select` and
/// `accept`), `ECONNABORTED`, `EINTR`, `EMFILE`/`ENFILE` (out of fds: see the
/// server's spare fd), `ENOBUFS`/`ENOMEM`.
///
/// # References
/// [accept(2)](https://man7.org/linux/man-pages/man2/accept.2.html)
// ANCHOR: accept
pub fn accept(listener: &OwnedFd) -> nix::Result<OwnedFd> {
    socket::accept4(listener, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC)
        .traced(|| format!("accept4({}, SOCK_NONBLOCK|SOCK_CLOEXEC)", listener.as_raw_fd()))
}
// ANCHOR_END: accept

/// `connect(fd, addr)` on a non-blocking socket: start the handshake.
///
/// Twin of the report's `sock.connect((host, port))`, which Python runs with the
/// socket's 2 s timeout. Here the call returns at once, usually with
/// `EINPROGRESS`; the caller waits for writability in `select` (with the timeout),
/// then reads the outcome with [`take_socket_error`].
///
/// # Errors
/// `EINPROGRESS` (normal: the handshake has started), `ECONNREFUSED` (possible at
/// once on loopback), `ENETUNREACH`, `EADDRNOTAVAIL`.
///
/// # References
/// [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html)
// ANCHOR: connect
pub fn connect(fd: &OwnedFd, addr: &SocketAddr) -> nix::Result<()> {
    socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(*addr))
        .traced(|| format!("connect({}, {})", fd.as_raw_fd(), format_addr(addr)))
}
// ANCHOR_END: connect

/// `getsockopt(fd, SOL_SOCKET, SO_ERROR)`: the pending error of the socket, which
/// is how a non-blocking `connect` reports its outcome. `Ok(None)`: connected.
///
/// # References
/// [getsockopt(2)](https://man7.org/linux/man-pages/man2/getsockopt.2.html),
/// [connect(2)](https://man7.org/linux/man-pages/man2/connect.2.html) (`EINPROGRESS`)
// ANCHOR: take_socket_error
pub fn take_socket_error(fd: &OwnedFd) -> nix::Result<Option<Errno>> {
    socket::getsockopt(fd, sockopt::SocketError)
        .map(|code| (code != 0).then(|| Errno::from_raw(code)))
        .traced(|| format!("getsockopt({}, SOL_SOCKET, SO_ERROR)", fd.as_raw_fd()))
}
// ANCHOR_END: take_socket_error

/// `getpeername(fd)`: the address of the other end.
///
/// The report calls it on every message, and in its error path on a socket that
/// may already be dead (which fails with `ENOTCONN` and stops the server). We call
/// it once, right after `accept`, and keep the answer.
///
/// # Errors
/// `ENOTCONN` (the peer is already gone).
///
/// # References
/// [getpeername(2)](https://man7.org/linux/man-pages/man2/getpeername.2.html)
// ANCHOR: peer_addr
pub fn peer_addr(fd: &OwnedFd) -> nix::Result<SocketAddr> {
    socket::getpeername::<SockaddrStorage>(fd.as_raw_fd())
        .and_then(|a| to_std(&a))
        .traced(|| format!("getpeername({})", fd.as_raw_fd()))
}
// ANCHOR_END: peer_addr

/// `getsockname(fd)`: our own address, e.g. the port the kernel chose for port 0.
///
/// # References
/// [getsockname(2)](https://man7.org/linux/man-pages/man2/getsockname.2.html)
pub fn local_addr(fd: &OwnedFd) -> nix::Result<SocketAddr> {
    socket::getsockname::<SockaddrStorage>(fd.as_raw_fd())
        .and_then(|a| to_std(&a))
        .traced(|| format!("getsockname({})", fd.as_raw_fd()))
}

fn to_std(addr: &SockaddrStorage) -> nix::Result<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        Ok(SocketAddr::from(*v4))
    } else if let Some(v6) = addr.as_sockaddr_in6() {
        Ok(SocketAddr::from(*v6))
    } else {
        Err(Errno::EAFNOSUPPORT)
    }
}

/// `recv(fd, buf, 0)`: read what has arrived, at most `buf.len()` bytes.
/// `Ok(0)` means the peer closed its side (end of stream).
///
/// Twin of the report's `sock.recv(Constants.RECV_BUFF)`.
///
/// # Errors
/// `EAGAIN` (nothing to read), `EINTR`, `ECONNRESET` (the peer reset the
/// connection), `ETIMEDOUT`.
///
/// # References
/// [recv(2)](https://man7.org/linux/man-pages/man2/recv.2.html)
// ANCHOR: recv
pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> nix::Result<usize> {
    let asked = buf.len();
    socket::recv(fd.as_raw_fd(), buf, MsgFlags::empty())
        .traced_data(buf, || format!("recv({}, {asked})", fd.as_raw_fd()))
}
// ANCHOR_END: recv

/// `send(fd, buf, MSG_NOSIGNAL)`: hand bytes to the kernel; returns how many it
/// took, which on a non-blocking socket can be fewer than asked.
///
/// Twin of the report's `sock.send(...)`, whose return value (the count sent)
/// the report ignores. `MSG_NOSIGNAL`: writing to a connection the peer closed
/// returns `EPIPE` instead of raising `SIGPIPE`, which would kill the process.
///
/// # Errors
/// `EAGAIN` (the socket's send buffer is full), `EINTR`, `EPIPE`, `ECONNRESET`.
///
/// # References
/// [send(2)](https://man7.org/linux/man-pages/man2/send.2.html)
// ANCHOR: send
pub fn send(fd: &OwnedFd, buf: &[u8]) -> nix::Result<usize> {
    socket::send(fd.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL)
        .traced_data(buf, || format!("send({}, {} bytes, MSG_NOSIGNAL)", fd.as_raw_fd(), buf.len()))
}
// ANCHOR_END: send

/// `shutdown(fd, SHUT_WR)`: send FIN after the bytes already queued, but keep the
/// socket open to read.
///
/// Not in the report, which closes at once. Closing a socket that still has unread
/// input makes the kernel send a reset (RST) and throw away what it had not sent
/// yet: a client that leaves and then sends one more line would lose the end of
/// what it was owed. So a polite leaver gets `shutdown(SHUT_WR)` once its outbox is
/// empty, and the server reads (and discards) until the client closes too, or a
/// deadline passes: the "lingering close" of Apache and UNP 7.5.
///
/// # References
/// [shutdown(2)](https://man7.org/linux/man-pages/man2/shutdown.2.html)
// ANCHOR: shutdown_write
pub fn shutdown_write(fd: &OwnedFd) -> nix::Result<()> {
    socket::shutdown(fd.as_raw_fd(), socket::Shutdown::Write)
        .traced(|| format!("shutdown({}, SHUT_WR)", fd.as_raw_fd()))
}
// ANCHOR_END: shutdown_write

/// `setsockopt(fd, SOL_SOCKET, SO_LINGER, {on, 0})`, then `close(fd)`: the
/// abortive close. The kernel sends a reset (RST) and frees the socket and its
/// buffers at once.
///
/// Not in the report. A plain `close` hands the kernel whatever the socket still
/// had to send; for a reader that stopped reading, that is its full send buffer,
/// and the kernel keeps the socket (an orphan, probing a zero window) for minutes
/// to deliver it. For a member being cut, nobody will read those bytes: the
/// server closes abortively, and its memory comes back at once. A member that
/// leaves politely gets the lingering close instead ([`shutdown_write`]).
///
/// # References
/// [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html) (`SO_LINGER`),
/// [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html); Stevens, UNP 7.5
// ANCHOR: close_abortively
pub fn close_abortively(fd: OwnedFd) -> nix::Result<()> {
    let now = libc::linger { l_onoff: 1, l_linger: 0 };
    let _ = socket::setsockopt(&fd, sockopt::Linger, &now)
        .traced(|| format!("setsockopt({}, SOL_SOCKET, SO_LINGER, {{1, 0}})", fd.as_raw_fd()));
    crate::fd::close(fd)
}
// ANCHOR_END: close_abortively

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_accepts_literals_with_and_without_brackets() {
        assert_eq!(resolve("::1", 9).unwrap(), vec!["[::1]:9".parse().unwrap()]);
        assert_eq!(resolve("[::1]", 9).unwrap(), vec!["[::1]:9".parse().unwrap()]);
        assert_eq!(resolve("127.0.0.1", 9).unwrap(), vec!["127.0.0.1:9".parse().unwrap()]);
        assert!(!resolve("localhost", 9).unwrap().is_empty());
    }
}
