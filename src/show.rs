//! How things are shown to a person: a peer's address as the report writes it,
//! an errno as `strerror(3)` words it, and an error with what we were doing.

use std::io;
use std::net::SocketAddr;

use nix::errno::Errno;

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

/// The C library's description of an errno, as `strerror(3)` and `perror(3)` give
/// it: "Resource temporarily unavailable" for `EAGAIN`.
pub fn strerror(errno: Errno) -> String {
    let text = io::Error::from(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// File status flags by name, as `fcntl(F_GETFL)` returns them: `O_RDWR|O_NONBLOCK`.
pub fn flags(flags: nix::fcntl::OFlag) -> String {
    use nix::fcntl::OFlag;
    let mut shown = match flags & OFlag::O_ACCMODE {
        OFlag::O_RDONLY => "O_RDONLY",
        OFlag::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    }
    .to_string();
    for (flag, name) in [(OFlag::O_NONBLOCK, "|O_NONBLOCK"), (OFlag::O_APPEND, "|O_APPEND")] {
        if flags.contains(flag) {
            shown.push_str(name);
        }
    }
    shown
}

/// Turn an errno into an `io::Error` whose message says what we were doing.
///
/// `context(Errno::EADDRINUSE, "cannot bind 0.0.0.0:7777")` reads
/// "cannot bind 0.0.0.0:7777: Address already in use".
pub fn context(errno: Errno, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::Error::from(errno).kind(), format!("{what}: {}", strerror(errno)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_formatted_like_the_report() {
        assert_eq!(format_addr(&"127.0.0.1:5555".parse().unwrap()), "127.0.0.1:5555");
        assert_eq!(format_addr(&"[::1]:7".parse().unwrap()), "[::1]:7");
        assert_eq!(format_addr(&"[::ffff:10.0.0.1]:80".parse().unwrap()), "10.0.0.1:80");
    }

    #[test]
    fn errors_say_what_we_were_doing() {
        let e = context(Errno::EADDRINUSE, "cannot listen on 1.2.3.4:5");
        assert_eq!(e.to_string(), "cannot listen on 1.2.3.4:5: Address already in use");
        assert_eq!(strerror(Errno::EAGAIN), "Resource temporarily unavailable");
    }
}
