//! The yardstick: a bare epoll relay, for the benchmark only (not part of select-chat).
//!
//! It sends the same bytes as `srv` (greeting, join notices, and each line wrapped
//! in the same colours and `\r[ip:port]: ` prefix), but does nothing else: no
//! sanitising, no line cap, no outbox limit, no signals. One thread, epoll via
//! mio, whole lines, one `write` per recipient per turn. What it achieves on a
//! machine is what fan-out of these bytes can achieve there; the sweep compares
//! `srv` with it.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

struct Conn {
    stream: TcpStream,
    prefix: Vec<u8>,
    partial: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    writable_wanted: bool,
}

const LISTENER: Token = Token(usize::MAX);

/// Run the relay on `host:port` until killed.
pub fn serve(host: &str, port: &str) {
    let addr: SocketAddr = format!("{host}:{port}").parse().expect("relay address");
    let mut listener = TcpListener::bind(addr).expect("relay bind");
    let mut poll = Poll::new().expect("poll");
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).expect("register");
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next = 0usize;
    let mut events = Events::with_capacity(4096);
    let mut buf = vec![0u8; 1 << 16];
    let mut batch = Vec::new();
    loop {
        if poll.poll(&mut events, None).is_err() {
            continue;
        }
        let mut dirty = false;
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((mut stream, peer)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    let t = next;
                    next += 1;
                    poll.registry()
                        .register(&mut stream, Token(t), Interest::READABLE)
                        .expect("register");
                    let n = conns.len() + 1;
                    let noun = if n == 1 { "user" } else { "users" };
                    let join = format!(
                        "\x1b[34m\x1b[1m\r> New user {peer} entered ({n} {noun} online)\n\x1b[0m"
                    );
                    for c in conns.values_mut() {
                        c.out.extend_from_slice(join.as_bytes());
                    }
                    let greet = format!(
                        "\x1b[34m\x1b[1m\rConnected to the chat server ({n} {noun} online)\n\x1b[0m"
                    );
                    let prefix = format!("\x1b[35m\x1b[1m\r[{peer}]: ").into_bytes();
                    conns.insert(
                        t,
                        Conn {
                            stream,
                            prefix,
                            partial: Vec::new(),
                            out: greet.into_bytes(),
                            sent: 0,
                            writable_wanted: false,
                        },
                    );
                    dirty = true;
                }
                continue;
            }
            let t = ev.token().0;
            if ev.is_readable() {
                batch.clear();
                let mut gone = false;
                if let Some(c) = conns.get_mut(&t) {
                    loop {
                        match c.stream.read(&mut buf) {
                            Ok(0) => {
                                gone = true;
                                break;
                            }
                            Ok(n) => {
                                c.partial.extend_from_slice(&buf[..n]);
                                let mut start = 0;
                                while let Some(off) =
                                    c.partial[start..].iter().position(|&b| b == b'\n')
                                {
                                    batch.extend_from_slice(&c.prefix);
                                    batch.extend_from_slice(&c.partial[start..start + off]);
                                    batch.extend_from_slice(b"\n\x1b[0m");
                                    start += off + 1;
                                }
                                c.partial.drain(..start);
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(_) => {
                                gone = true;
                                break;
                            }
                        }
                    }
                }
                if !batch.is_empty() {
                    for (&k, c) in conns.iter_mut() {
                        if k != t {
                            c.out.extend_from_slice(&batch);
                        }
                    }
                    dirty = true;
                }
                if gone {
                    conns.remove(&t);
                }
            }
            if ev.is_writable() {
                dirty = true;
            }
        }
        if dirty {
            for (&k, c) in conns.iter_mut() {
                if c.sent < c.out.len() {
                    match c.stream.write(&c.out[c.sent..]) {
                        Ok(n) => c.sent += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => c.sent = c.out.len(),
                    }
                }
                if c.sent == c.out.len() {
                    c.out.clear();
                    c.sent = 0;
                }
                let want = !c.out.is_empty();
                if want != c.writable_wanted {
                    let interest = if want {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    let _ = poll.registry().reregister(&mut c.stream, Token(k), interest);
                    c.writable_wanted = want;
                }
            }
        }
    }
}
