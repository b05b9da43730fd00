//! The socket system calls, one small function each, called through nix.
//!
//! Mirrors the report's "Function Explanations" section (`socket`, `setsockopt`,
//! `bind`, `listen`, `connect`, `accept`, `close`) and adds the calls that a
//! robust program needs and Python made for us (`fcntl` for non-blocking mode,
//! `getsockopt(SO_ERROR)` after a non-blocking connect, `getpeername`,
//! `getsockname`, name resolution). The server and client never call nix's socket
//! functions but through here, so each call is documented once, in one place.
//!
//! Every function returns nix's `Result<_, Errno>`: where C returns -1 and sets
//! `errno`, nix returns `Err(errno)`. The callers add the context a person can act
//! on (which address, which step) with [`context`].

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
use nix::sys::stat::Mode;

use crate::trace::{self, show_data, show_fd, show_zero};
use crate::traced;
use nix::sys::socket::{
    self, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, SockaddrStorage, sockopt,
};

/// Turn an errno into an `io::Error` whose message says what we were doing.
///
/// `context(Errno::EADDRINUSE, "cannot bind 0.0.0.0:7777")` reads
/// "cannot bind 0.0.0.0:7777: Address already in use".
pub fn context(errno: Errno, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::Error::from(errno).kind(),
        format!("{what}: {}", strerror(errno)),
    )
}

/// The C library's description of an errno, as `strerror(3)` and `perror(3)` give
/// it: "Resource temporarily unavailable" for `EAGAIN`.
pub fn strerror(errno: Errno) -> String {
    let text = io::Error::from(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

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
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let found: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (bare, port)
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve host '{host}': {e}")))?
            .collect(),
    };
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("cannot resolve host '{host}': no address found"),
        ));
    }
    Ok(found)
}
// ANCHOR_END: resolve

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
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let result = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None);
    if trace::on() {
        let name = if addr.is_ipv4() {
            "AF_INET"
        } else {
            "AF_INET6"
        };
        trace::done(
            format_args!("socket({name}, SOCK_STREAM)"),
            &result,
            show_fd,
        );
    }
    result
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
    let result = socket::setsockopt(fd, sockopt::ReuseAddr, &true);
    if trace::on() {
        trace::done(
            format_args!(
                "setsockopt({}, SOL_SOCKET, SO_REUSEADDR, 1)",
                fd.as_raw_fd()
            ),
            &result,
            show_zero,
        );
    }
    result
}
// ANCHOR_END: set_reuse_addr

/// `setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0)`: let an IPv6 socket bound to `::`
/// accept IPv4 clients too (they appear as `::ffff:a.b.c.d`). Not in the report,
/// which is IPv4 only.
///
/// # References
/// [ipv6(7)](https://man7.org/linux/man-pages/man7/ipv6.7.html)
// ANCHOR: set_dual_stack
pub fn set_dual_stack(fd: &OwnedFd) -> nix::Result<()> {
    let result = socket::setsockopt(fd, sockopt::Ipv6V6Only, &false);
    if trace::on() {
        trace::done(
            format_args!(
                "setsockopt({}, IPPROTO_IPV6, IPV6_V6ONLY, 0)",
                fd.as_raw_fd()
            ),
            &result,
            show_zero,
        );
    }
    result
}
// ANCHOR_END: set_dual_stack

/// `setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)`: send small segments at once
/// instead of holding them back (Nagle's algorithm).
///
/// Not in the report. Nagle's algorithm keeps a small segment back while an
/// earlier one is unacknowledged, and the receiver delays its ACK by up to 40 ms:
/// together they add milliseconds to a chat line. Nagle guards against a program
/// that sends many tiny pieces; ours gathers everything pending for a client and
/// sends it in one `send` per turn of the loop, so that risk is gone and only the
/// delay would remain (see `docs/performance.md` for the measured difference).
///
/// # References
/// [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html)
// ANCHOR: set_nodelay
pub fn set_nodelay(fd: &OwnedFd) -> nix::Result<()> {
    let result = socket::setsockopt(fd, sockopt::TcpNoDelay, &true);
    if trace::on() {
        let call = format_args!(
            "setsockopt({}, IPPROTO_TCP, TCP_NODELAY, 1)",
            fd.as_raw_fd()
        );
        trace::done(call, &result, show_zero);
    }
    result
}
// ANCHOR_END: set_nodelay

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
    let result = socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(*addr));
    if trace::on() {
        trace::done(
            format_args!("bind({}, {})", fd.as_raw_fd(), format_addr(addr)),
            &result,
            show_zero,
        );
    }
    result
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
    let result = Backlog::new(backlog).and_then(|b| socket::listen(fd, b));
    if trace::on() {
        trace::done(
            format_args!("listen({}, {backlog})", fd.as_raw_fd()),
            &result,
            show_zero,
        );
    }
    result
}
// ANCHOR_END: listen

/// `fcntl(fd, F_SETFL, flags | O_NONBLOCK)`: make `recv`, `send`, `accept` and
/// `connect` on this fd return `EAGAIN`/`EINPROGRESS` instead of waiting.
///
/// Not in the report. A select loop must never block anywhere but in `select`:
/// one blocking `send` to a client that does not read would freeze the room.
///
/// # References
/// [fcntl(2)](https://man7.org/linux/man-pages/man2/fcntl.2.html)
// ANCHOR: set_nonblocking
pub fn set_nonblocking(fd: impl AsFd) -> nix::Result<()> {
    let fd = fd.as_fd();
    let got = fcntl(fd, FcntlArg::F_GETFL);
    if trace::on() {
        let call = format_args!("fcntl({}, F_GETFL)", fd.as_raw_fd());
        trace::done(call, &got, |&f, out| show_flags(f, out));
    }
    let flags = OFlag::from_bits_retain(got?) | OFlag::O_NONBLOCK;
    let result = fcntl(fd, FcntlArg::F_SETFL(flags)).map(drop);
    if trace::on() {
        let mut shown = String::new();
        show_flags(flags.bits(), &mut shown);
        let call = format_args!("fcntl({}, F_SETFL, {shown})", fd.as_raw_fd());
        trace::done(call, &result, show_zero);
    }
    result
}
// ANCHOR_END: set_nonblocking

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
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    traced!(
        socket::accept4(listener, flags),
        show_fd,
        "accept4({}, SOCK_NONBLOCK|SOCK_CLOEXEC)",
        listener.as_raw_fd()
    )
}
// ANCHOR_END: accept

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
    traced!(
        socket::setsockopt(fd, sockopt::SndBuf, &bytes),
        show_zero,
        "setsockopt({}, SOL_SOCKET, SO_SNDBUF, {bytes})",
        fd.as_raw_fd()
    )
}
// ANCHOR_END: set_send_buffer

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
    traced!(
        socket::shutdown(fd.as_raw_fd(), socket::Shutdown::Write),
        show_zero,
        "shutdown({}, SHUT_WR)",
        fd.as_raw_fd()
    )
}
// ANCHOR_END: shutdown_write

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
    let result = socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(*addr));
    if trace::on() {
        trace::done(
            format_args!("connect({}, {})", fd.as_raw_fd(), format_addr(addr)),
            &result,
            show_zero,
        );
    }
    result
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
    let result = socket::getsockopt(fd, sockopt::SocketError);
    if trace::on() {
        trace::done(
            format_args!("getsockopt({}, SOL_SOCKET, SO_ERROR)", fd.as_raw_fd()),
            &result,
            |code, out| {
                let _ = match code {
                    0 => write!(out, "0  error=0"),
                    c => write!(out, "0  error={:?}", Errno::from_raw(*c)),
                };
            },
        );
    }
    let code = result?;
    Ok((code != 0).then(|| Errno::from_raw(code)))
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
    let result = socket::getpeername::<SockaddrStorage>(fd.as_raw_fd()).and_then(|a| to_std(&a));
    if trace::on() {
        trace::done(
            format_args!("getpeername({})", fd.as_raw_fd()),
            &result,
            show_addr,
        );
    }
    result
}
// ANCHOR_END: peer_addr

/// `getsockname(fd)`: our own address, e.g. the port the kernel chose for port 0.
///
/// # References
/// [getsockname(2)](https://man7.org/linux/man-pages/man2/getsockname.2.html)
// ANCHOR: local_addr
pub fn local_addr(fd: &OwnedFd) -> nix::Result<SocketAddr> {
    let result = socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()).and_then(|a| to_std(&a));
    if trace::on() {
        trace::done(
            format_args!("getsockname({})", fd.as_raw_fd()),
            &result,
            show_addr,
        );
    }
    result
}
// ANCHOR_END: local_addr

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
    let result = socket::recv(fd.as_raw_fd(), buf, MsgFlags::empty());
    if trace::on() {
        trace::done(
            format_args!("recv({}, {})", fd.as_raw_fd(), buf.len()),
            &result,
            |&n, out| show_data(n, &buf[..n], out),
        );
    }
    result
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
    let result = socket::send(fd.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL);
    if trace::on() {
        trace::done(
            format_args!(
                "send({}, {} bytes, MSG_NOSIGNAL)",
                fd.as_raw_fd(),
                buf.len()
            ),
            &result,
            |&n, out| show_data(n, &buf[..n], out),
        );
    }
    result
}
// ANCHOR_END: send

/// `read(fd, buf)`: read from a file descriptor that is not a socket (stdin).
///
/// The twin of the report's `sys.stdin.readline()`, without the buffering that
/// makes `readline` a poor partner for `select` (see [`crate::client::Client::send_msg`]).
///
/// # References
/// [read(2)](https://man7.org/linux/man-pages/man2/read.2.html)
// ANCHOR: read
pub fn read(fd: impl AsFd, buf: &mut [u8]) -> nix::Result<usize> {
    let raw = fd.as_fd().as_raw_fd();
    let result = nix::unistd::read(fd, buf);
    if trace::on() {
        trace::done(
            format_args!("read({raw}, {})", buf.len()),
            &result,
            |&n, out| show_data(n, &buf[..n], out),
        );
    }
    result
}
// ANCHOR_END: read

/// `close(fd)`: release the descriptor; for a connected socket, also start the
/// orderly shutdown (FIN) once the kernel has sent what it holds.
///
/// Twin of the report's `sock.close()`. Dropping an `OwnedFd` closes it too; we
/// call this where the close is part of the story.
///
/// # References
/// [close(2)](https://man7.org/linux/man-pages/man2/close.2.html)
// ANCHOR: close
pub fn close(fd: OwnedFd) -> nix::Result<()> {
    let raw = fd.as_raw_fd();
    let result = nix::unistd::close(fd);
    if trace::on() {
        trace::done(format_args!("close({raw})"), &result, show_zero);
    }
    result
}
// ANCHOR_END: close

/// `write(fd, buf)`: write to a file descriptor that is not a socket (stdout).
///
/// # Errors
/// `EPIPE` (the reader of a pipe went away; SIGPIPE is ignored), `EINTR`, `EIO`.
///
/// # References
/// [write(2)](https://man7.org/linux/man-pages/man2/write.2.html)
// ANCHOR: write
pub fn write(fd: impl AsFd, buf: &[u8]) -> nix::Result<usize> {
    let raw = fd.as_fd().as_raw_fd();
    let result = nix::unistd::write(fd, buf);
    if trace::on() {
        trace::done(
            format_args!("write({raw}, {} bytes)", buf.len()),
            &result,
            |&n, out| show_data(n, &buf[..n], out),
        );
    }
    result
}
// ANCHOR_END: write

/// `open("/dev/null", O_RDONLY | O_CLOEXEC)`: an fd held in reserve by the server,
/// to be freed when `accept` fails with `EMFILE` (see `Server::connect_client`).
///
/// # References
/// [open(2)](https://man7.org/linux/man-pages/man2/open.2.html)
pub fn open_dev_null() -> nix::Result<OwnedFd> {
    let result = open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    );
    if trace::on() {
        trace::done(
            format_args!("open(\"/dev/null\", O_RDONLY|O_CLOEXEC)"),
            &result,
            show_fd,
        );
    }
    result
}

/// `isatty(fd)`: whether `fd` is a terminal (the client's colour choice).
///
/// # References
/// [isatty(3)](https://man7.org/linux/man-pages/man3/isatty.3.html)
pub fn isatty(fd: impl AsFd) -> bool {
    let raw = fd.as_fd().as_raw_fd();
    let result = nix::unistd::isatty(fd);
    if trace::on() {
        trace::done(format_args!("isatty({raw})"), &result, |&t, out| {
            out.push_str(if t { "1" } else { "0" })
        });
    }
    result.unwrap_or(false)
}

/// Trace helper: file status flags by name (`O_RDWR|O_NONBLOCK`).
fn show_flags(bits: i32, out: &mut String) {
    out.push_str(match bits & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    });
    let mut rest = bits & !libc::O_ACCMODE;
    for (bit, name) in [
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_APPEND, "O_APPEND"),
    ] {
        if rest & bit != 0 {
            out.push('|');
            out.push_str(name);
            rest &= !bit;
        }
    }
    if rest != 0 {
        let _ = write!(out, "|{rest:#o}");
    }
}

/// Trace helper: an address.
fn show_addr(addr: &SocketAddr, out: &mut String) {
    let _ = write!(out, "0  {}", format_addr(addr));
}

/// A peer's address as the report shows it: `ip:port`, or `[ip]:port` for IPv6.
///
/// An IPv4 client of a dual-stack server (`::ffff:127.0.0.1`) is shown in its IPv4
/// form.
// ANCHOR: format_addr
pub fn format_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", v6.port()),
            None => format!("[{}]:{}", v6.ip(), v6.port()),
        },
        SocketAddr::V4(v4) => v4.to_string(),
    }
}
// ANCHOR_END: format_addr

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_formatted_like_the_report() {
        assert_eq!(
            format_addr(&"127.0.0.1:5555".parse().unwrap()),
            "127.0.0.1:5555"
        );
        assert_eq!(format_addr(&"[::1]:7".parse().unwrap()), "[::1]:7");
        assert_eq!(
            format_addr(&"[::ffff:10.0.0.1]:80".parse().unwrap()),
            "10.0.0.1:80"
        );
    }

    #[test]
    fn resolve_accepts_literals_with_and_without_brackets() {
        assert_eq!(resolve("::1", 9).unwrap(), vec!["[::1]:9".parse().unwrap()]);
        assert_eq!(
            resolve("[::1]", 9).unwrap(),
            vec!["[::1]:9".parse().unwrap()]
        );
        assert_eq!(
            resolve("127.0.0.1", 9).unwrap(),
            vec!["127.0.0.1:9".parse().unwrap()]
        );
        assert!(!resolve("localhost", 9).unwrap().is_empty());
    }
}
