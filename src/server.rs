//! The chat server: one `select` loop over the listening socket and every client.
//!
//! Mirrors the report's `srv.py`, function for function: [`open_listener`] is the
//! socket part of its `main`, [`run`] the rest of `main`, and [`Server::run_server`],
//! [`Server::connect_client`], [`Server::send_all`], [`Server::recv_and_send_msg`],
//! [`make_conn_msg`], [`make_join_msg`] and [`make_leave_msg`] are their Python
//! namesakes. What the report does not have is marked "not in the report" where it
//! happens; `docs/walkthrough.md` lists every difference.
//!
//! One turn of the loop ([`Server::run_server`]):
//! 1. `select` on the listener, the signal pipe and every client (for reading),
//!    and on the clients that have output waiting (for writing);
//! 2. a signal: stop; the listener: accept newcomers ([`Server::connect_client`]);
//! 3. each readable client: read, cut into lines, relay ([`Server::recv_and_send_msg`]);
//! 4. remove the clients that left, telling the others ([`Server::reap`]);
//! 5. send what is waiting to every client the kernel will take it from
//!    ([`Server::flush_outboxes`]), and remove those that failed.
//!
//! Entry point: [`run`], given a bound listener (so tests can bind port 0).

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::framing::{Line, LineFramer};
use crate::net::{self, context, format_addr};
use crate::outbox::{Flushed, Outbox};
use crate::sanitize::sanitize_line;
use crate::select::{FD_SETSIZE, Ready, SelectError, select};
use crate::signals::SelfPipe;
use crate::texts::{Constants, TextColors, Texts, painted};

/// How the server presents itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Send and print the report's ANSI colours (`srv --no-color` and `NO_COLOR`
    /// turn them off).
    pub colour: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { colour: true }
    }
}

/// The user count of the notices, with the report's plural rule: "1 user",
/// "2 users", "0 users" in connect and join notices.
fn users_text(n: usize) -> &'static str {
    if n == 1 { Texts::USER } else { Texts::USERS }
}

/// The notice sent to a newcomer: `\rConnected to the chat server (N user online)\n`
/// in blue and bold, where N counts the newcomer.
///
/// Twin of the report's `make_conn_msg(connList)`, which counts
/// `len(connList) - NUM_SERVER`; we pass the count of clients directly.
// ANCHOR: make_conn_msg
pub fn make_conn_msg(users: usize, colour: bool) -> Vec<u8> {
    painted(
        colour,
        &[TextColors::BLUE, TextColors::BOLD],
        format_args!(
            "\rConnected to the chat server ({users} {} online)\n",
            users_text(users)
        ),
    )
}
// ANCHOR_END: make_conn_msg

/// The notice sent to everyone else when `addr` joins:
/// `\r> New user ADDR entered (N users online)\n` in blue and bold.
///
/// Twin of the report's `make_join_msg(ip, port, connList)`.
// ANCHOR: make_join_msg
pub fn make_join_msg(addr: &str, users: usize, colour: bool) -> Vec<u8> {
    painted(
        colour,
        &[TextColors::BLUE, TextColors::BOLD],
        format_args!(
            "\r> New user {addr} entered ({users} {} online)\n",
            users_text(users)
        ),
    )
}
// ANCHOR_END: make_join_msg

/// The notice sent to the others when `addr` leaves:
/// `\r< The user ADDR left (N users online)\n` in red and bold, N counting those
/// still inside. `error` appends the report's ` (error) ` after the colours.
///
/// Twin of the report's `make_leave_msg(ip, port, connList)`, which subtracts
/// `NUM_LEAVING_CLIENT` and says "user" for both 0 and 1; the report's error path
/// adds `" (error) "` to its result, so the suffix comes after `ENDC`.
// ANCHOR: make_leave_msg
pub fn make_leave_msg(addr: &str, users: usize, error: bool, colour: bool) -> Vec<u8> {
    let noun = if users <= 1 {
        Texts::USER
    } else {
        Texts::USERS
    };
    let mut msg = painted(
        colour,
        &[TextColors::RED, TextColors::BOLD],
        format_args!("\r< The user {addr} left ({users} {noun} online)\n"),
    );
    if error {
        msg.extend_from_slice(b" (error) ");
    }
    msg
}
// ANCHOR_END: make_leave_msg

/// Append to `out` a relayed chat line: `\r[ADDR]: text\n` in purple and bold.
///
/// Twin of the report's `Texts.SEND_MSG % (ip, port, data)`. `line` is what the
/// client sent; it is sanitised here (see [`crate::sanitize`]), once, however many
/// recipients it has.
pub fn make_send_msg(out: &mut Vec<u8>, addr: &str, line: &[u8], colour: bool) {
    if colour {
        out.extend_from_slice(TextColors::PURPLE.as_bytes());
        out.extend_from_slice(TextColors::BOLD.as_bytes());
    }
    out.extend_from_slice(b"\r[");
    out.extend_from_slice(addr.as_bytes());
    out.extend_from_slice(b"]: ");
    sanitize_line(out, line);
    out.push(b'\n');
    if colour {
        out.extend_from_slice(TextColors::ENDC.as_bytes());
    }
}

/// The line printed when the server starts: `Chat Server started on port P` in green.
///
/// Twin of the report's `print(Texts.START_SRV % port)` (with `print`'s newline).
/// P is the port actually bound, so `srv 127.0.0.1 0` tells which port the kernel chose.
pub fn make_start_msg(port: u16, colour: bool) -> Vec<u8> {
    let mut msg = painted(
        colour,
        &[TextColors::GREEN],
        format_args!("Chat Server started on port {port}"),
    );
    msg.push(b'\n');
    msg
}

/// The notice sent to a connection the server cannot take (not in the report).
fn make_full_msg(colour: bool) -> Vec<u8> {
    painted(
        colour,
        &[TextColors::RED, TextColors::BOLD],
        format_args!("{}", Texts::SERVER_FULL),
    )
}

/// Create the listening socket for `host:port`: the socket part of the report's `main()`.
///
/// Steps, for each address `host` resolves to until one works:
/// 1. `socket(AF_INET or AF_INET6, SOCK_STREAM)`;
/// 2. `setsockopt(SO_REUSEADDR)` (and `IPV6_V6ONLY` off for IPv6, so `::` takes IPv4 too);
/// 3. `bind(host:port)`;
/// 4. `listen(LISTEN_BACKLOG)`;
/// 5. `fcntl(O_NONBLOCK)`, so a connection that vanishes between `select` and
///    `accept` cannot block the loop in `accept` (not in the report).
///
/// # Errors
/// One message naming the address and the cause: unknown host, `EADDRINUSE`
/// (port in use), `EACCES` (port below 1024), `EADDRNOTAVAIL` (not our address).
pub fn open_listener(host: &str, port: u16) -> io::Result<OwnedFd> {
    let mut last = None;
    for addr in net::resolve(host, port)? {
        let shown = format_addr(&addr);
        // ANCHOR: open_listener
        let attempt = (|| {
            let sock = net::socket(&addr).map_err(|e| context(e, "socket"))?; // 1.
            net::set_reuse_addr(&sock).map_err(|e| context(e, "setsockopt(SO_REUSEADDR)"))?; // 2.
            if addr.is_ipv6() {
                net::set_dual_stack(&sock).map_err(|e| context(e, "setsockopt(IPV6_V6ONLY)"))?;
            }
            net::bind(&sock, &addr).map_err(|e| bind_error(e, &shown))?; // 3.
            net::listen(&sock, Constants::LISTEN_BACKLOG).map_err(|e| bind_error(e, &shown))?; // 4.
            net::set_nonblocking(&sock).map_err(|e| context(e, "fcntl(O_NONBLOCK)"))?; // 5.
            Ok::<_, io::Error>(sock)
        })();
        // ANCHOR_END: open_listener
        match attempt {
            Ok(sock) => return Ok(sock),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("no address for '{host}'"))
    }))
}

/// A `bind`/`listen` error in words a student can act on.
fn bind_error(errno: Errno, addr: &str) -> io::Error {
    let hint = match errno {
        Errno::EADDRINUSE => " (is another server running on this port?)",
        Errno::EACCES => " (ports below 1024 need privileges)",
        Errno::EADDRNOTAVAIL => " (that address is not one of this machine's)",
        _ => "",
    };
    context(errno, format_args!("cannot listen on {addr}{hint}"))
}

/// Why a client is being removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    /// An empty line, or end of stream: the normal way out.
    Quit,
    /// A reset, a failed send, or an outbox over its limit: the report's
    /// "(error)" leave.
    Error,
}

/// One connected client. The report keeps only the socket in `connList`; a
/// server that frames lines and never blocks needs a little state beside it.
#[derive(Debug)]
struct Client {
    sock: OwnedFd,
    /// `ip:port` from `getpeername` at accept time: asking again later fails
    /// once the peer is gone, which is what brings the report's server down.
    addr: String,
    /// The start of a line whose end has not arrived yet.
    framer: LineFramer,
    /// Bytes for this client that the kernel has not taken yet.
    outbox: Outbox,
    /// The last `send` stopped short: wait for `select` to report the socket
    /// writable before trying again (a `send` now would only return `EAGAIN`).
    blocked: bool,
    /// Set when the client must go; it is removed in [`Server::reap`], at the end
    /// of the turn, never while a loop over the clients is running.
    leaving: Option<Leave>,
}

impl Client {
    /// Send what the kernel will take from the outbox; note whether the socket is
    /// full, or mark the client to leave if the connection is gone.
    fn flush(&mut self) {
        match self.outbox.flush(&self.sock) {
            Ok(Flushed::All) => self.blocked = false,
            Ok(Flushed::Blocked) => self.blocked = true,
            // EPIPE, ECONNRESET: the client is gone.
            Err(_) => self.leaving = Some(Leave::Error),
        }
    }
}

/// A client that left politely while output for it was still waiting (a
/// half-close, `shutdown(SHUT_WR)`, with a backlog). It is out of the room, and
/// its leave was announced, but its socket stays open until the kernel has taken
/// the rest of its outbox, a send fails, or `DRAIN_SECONDS` pass. Not in the
/// report, which closes at once and loses what was not sent.
#[derive(Debug)]
struct Draining {
    sock: OwnedFd,
    outbox: Outbox,
    deadline: Instant,
}

/// The console (the server's stdout), where the report `print`s every notice.
///
/// Output is buffered and flushed once per turn of the loop. A console that went
/// away (`srv ... | head`) must not stop the server: errors are remembered, not
/// raised.
struct Console<W: Write> {
    out: W,
    broken: bool,
}

impl<W: Write> Console<W> {
    /// The twin of Python's `print(msg)`: the message and a newline.
    fn print(&mut self, msg: &[u8]) {
        if !self.broken && (self.out.write_all(msg).is_err() || self.out.write_all(b"\n").is_err())
        {
            self.broken = true;
        }
    }

    fn flush(&mut self) {
        if !self.broken && self.out.flush().is_err() {
            self.broken = true;
        }
    }
}

/// Whether the loop goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on to the next turn.
    Continue,
    /// SIGINT or SIGTERM arrived: close everything and return.
    Stop,
}

/// The server's state: the report's `servSock` and `connList`, and what a robust
/// server adds to them.
pub struct Server<'p, W: Write> {
    /// The listening socket (the report's `servSock`).
    listener: OwnedFd,
    /// Readable when SIGINT or SIGTERM arrived (see [`crate::signals`]).
    pipe: &'p SelfPipe,
    /// The master list: every connected client, in the order they joined. The
    /// report's `connList` also holds `servSock`; here the listener is apart, so
    /// `conn_list.len()` is the number of users. Clients are added by
    /// `connect_client` and removed only by `reap`.
    conn_list: Vec<Client>,
    /// Clients that left with output still waiting: written to, never read,
    /// closed when done (see [`Draining`]).
    draining: Vec<Draining>,
    /// An fd kept open for one purpose: when `accept` fails with `EMFILE`, close
    /// it, accept, turn the connection away, and open it again (not in the report).
    spare: Option<OwnedFd>,
    options: Options,
    console: Console<W>,
    /// Where `recv` writes; one buffer for all clients.
    recv_buf: Vec<u8>,
    /// The messages one `recv` produced, formatted once, sent to all.
    batch: Vec<u8>,
}

/// Open `/dev/null` to hold an fd in reserve for `EMFILE`.
fn open_spare() -> Option<OwnedFd> {
    net::open_dev_null().ok()
}

/// Run the chat server on `listener` until SIGINT or SIGTERM: the report's `main()`
/// after its `listen`, with its `while True: run_server(...)` loop.
///
/// Prints the start line, runs [`Server::run_server`] until it says stop, then
/// closes every client and prints the report's `KeyboardInterrupt` line.
///
/// # Errors
/// Only errors that concern the whole server (`select` failing with anything but
/// `EINTR`, `getsockname` on the listener). One client's trouble is never an error
/// here: that client is removed and the others go on.
pub fn run(
    listener: OwnedFd,
    pipe: &SelfPipe,
    options: Options,
    console: impl Write,
) -> io::Result<()> {
    let port = net::local_addr(&listener)
        .map_err(|e| context(e, "getsockname"))?
        .port();
    let mut server = Server {
        listener,
        pipe,
        conn_list: Vec::new(),
        draining: Vec::new(),
        spare: open_spare(),
        options,
        console: Console {
            out: console,
            broken: false,
        },
        recv_buf: vec![0; Constants::SERVER_RECV_CHUNK],
        batch: Vec::new(),
    };
    server.console.print(&make_start_msg(port, options.colour));
    server.console.flush();
    // ANCHOR: main_loop
    let result = loop {
        match server.run_server() {
            Ok(Flow::Continue) => continue,
            Ok(Flow::Stop) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    server.close_all();
    // ANCHOR_END: main_loop
    let _ = net::close(server.listener);
    if let Some(spare) = server.spare {
        let _ = net::close(spare);
    }
    result
}

impl<W: Write> Server<'_, W> {
    /// One turn of the loop: wait in `select`, then serve whatever is ready.
    ///
    /// Twin of the report's `run_server(servSock, connList)`. Its `except
    /// KeyboardInterrupt` becomes the signal pipe in the read list (returning
    /// [`Flow::Stop`]). The steps are numbered in the module docs.
    ///
    /// # Errors
    /// `select` failing with anything but `EINTR` (a bug, or `ENOMEM`).
    pub fn run_server(&mut self) -> io::Result<Flow> {
        // ANCHOR: run_server
        // 1. Wait. Read list: listener, signal pipe, every client still here.
        //    Write list: only clients with output waiting (a socket with room
        //    is always writable: asking for all would make select spin).
        let read_list = [self.listener.as_fd(), self.pipe.fd()]
            .into_iter()
            .chain(self.conn_list.iter().map(|c| c.sock.as_fd()));
        let write_list = self
            .conn_list
            .iter()
            .filter(|c| !c.outbox.is_empty())
            .map(|c| c.sock.as_fd())
            .chain(self.draining.iter().map(|d| d.sock.as_fd()));
        // No time-out, as in the report, unless a leaver's output is draining.
        let timeout = self
            .draining
            .iter()
            .map(|d| d.deadline.saturating_duration_since(Instant::now()))
            .min();
        let ready = match select(read_list, write_list, timeout) {
            Ok(ready) => ready,
            // A signal ran its handler: the pipe is readable now; look again.
            Err(SelectError::Interrupted) => return Ok(Flow::Continue),
            Err(e) => return Err(e.into()),
        };
        // 2. Ctrl+C or kill: stop between two steps, never inside one.
        if ready.readable(raw(&self.pipe.fd())) && self.pipe.take() {
            return Ok(Flow::Stop);
        }
        // Clients accepted in this turn were not in the sets; serve only the others.
        let watched = self.conn_list.len();
        if ready.readable(raw(&self.listener)) {
            self.connect_client();
        }
        // 3. Every readable client: receive and relay.
        for i in 0..watched {
            let client = &self.conn_list[i];
            if client.leaving.is_none() && ready.readable(raw(&client.sock)) {
                self.recv_and_send_msg(i);
            }
        }
        // 4., 5. Remove who left, send what waits, remove who failed.
        self.reap();
        self.flush_outboxes(&ready);
        self.reap();
        self.drain(&ready);
        self.console.flush();
        // ANCHOR_END: run_server
        Ok(Flow::Continue)
    }

    /// Accept the connections waiting on the listener and greet them.
    ///
    /// Twin of the report's `connect_client(sock, servSock, connList)`: accept,
    /// append to the master list, send the newcomer the connect notice, everyone
    /// else the join notice, and print it. Not in the report: accept up to
    /// `ACCEPT_BATCH` per turn (stopping at `EAGAIN`), turn away a connection
    /// whose fd `select` cannot watch, and survive `EMFILE`.
    pub fn connect_client(&mut self) {
        for _ in 0..Constants::ACCEPT_BATCH {
            // ANCHOR: accept
            let sock = match net::accept(&self.listener) {
                Ok(sock) => sock,
                // The queue is empty (or the client gave up before we got to it).
                Err(Errno::EAGAIN | Errno::ECONNABORTED | Errno::EPROTO) => return,
                // A signal arrived: the loop will see the pipe next turn.
                Err(Errno::EINTR) => return,
                // Out of fds: the listener stays readable, so without this select
                // would return at once, forever, at 100% CPU.
                Err(e @ (Errno::EMFILE | Errno::ENFILE)) => return self.refuse_with_spare(e),
                // ENOBUFS, ENOMEM, or worse: say so and try again next turn.
                Err(e) => {
                    eprintln!("srv: accept: {}", net::strerror(e));
                    return;
                }
            };
            // ANCHOR_END: accept
            let addr = match net::peer_addr(&sock) {
                Ok(addr) => format_addr(&addr),
                // Gone already (ENOTCONN): nothing to greet.
                Err(_) => continue,
            };
            // ANCHOR: fd_setsize
            if raw(&sock) >= FD_SETSIZE {
                self.turn_away(
                    sock,
                    &addr,
                    "its fd is past FD_SETSIZE, which select cannot watch",
                );
                continue;
            }
            // ANCHOR_END: fd_setsize
            self.conn_list.push(Client {
                sock,
                addr,
                framer: LineFramer::new(Constants::RECV_BUFF),
                outbox: Outbox::new(Constants::OUTBOX_LIMIT),
                blocked: false,
                leaving: None,
            });
            let users = self.conn_list.len();
            let newcomer = users - 1;
            let colour = self.options.colour;
            let conn_msg = make_conn_msg(users, colour);
            let join_msg = make_join_msg(&self.conn_list[newcomer].addr, users, colour);
            self.send_to(newcomer, &conn_msg);
            self.send_all(Some(newcomer), &join_msg);
            self.console.print(&join_msg);
        }
    }

    /// `EMFILE`: free the spare fd, accept the waiting connection with it, tell it
    /// the server is full, close it, and take the spare back (the libev/UNP remedy).
    fn refuse_with_spare(&mut self, errno: Errno) {
        match self.spare.take() {
            Some(spare) => {
                let _ = net::close(spare);
                if let Ok(sock) = net::accept(&self.listener) {
                    let addr = net::peer_addr(&sock)
                        .map(|a| format_addr(&a))
                        .unwrap_or_default();
                    self.turn_away(sock, &addr, &net::strerror(errno));
                }
                self.spare = open_spare();
            }
            // No spare (it could not be reopened): nothing frees the queue, so log it.
            // The loop goes on; the next accept will try again.
            None => eprintln!("srv: accept: {} (no spare fd)", net::strerror(errno)),
        }
    }

    /// Send the "server full" notice to a connection we will not serve, and close it.
    fn turn_away(&mut self, sock: OwnedFd, addr: &str, why: &str) {
        // One try, non-blocking: a fresh socket's buffer has room for one line.
        let _ = net::send(&sock, &make_full_msg(self.options.colour));
        let _ = net::close(sock);
        eprintln!("srv: turned away {addr}: {why}");
    }

    /// Queue `message` for every client but `sender` (and those leaving).
    ///
    /// Twin of the report's `send_all(sendSock, servSock, message, connList)`. The
    /// report `send`s on a blocking socket and, when that fails, removes the socket
    /// from the list it is iterating, which skips the next recipient. Here the
    /// message goes to each recipient's outbox; one whose outbox is full is marked
    /// to leave and removed later by [`Server::reap`]; nobody is skipped.
    pub fn send_all(&mut self, sender: Option<usize>, message: &[u8]) {
        // ANCHOR: send_all
        for (i, client) in self.conn_list.iter_mut().enumerate() {
            if Some(i) == sender || client.leaving.is_some() {
                continue;
            }
            if client.outbox.push(message).is_err() {
                // A slow reader: it has let OUTBOX_LIMIT bytes pile up.
                client.leaving = Some(Leave::Error);
                client.outbox.clear();
            } else if client.outbox.len() >= Constants::FLUSH_EARLY && !client.blocked {
                // A burst (many senders in one turn): hand the kernel what it will
                // take now rather than at the end of the turn, so only a client
                // that really does not read can reach the limit.
                client.flush();
            }
        }
        // ANCHOR_END: send_all
    }

    /// Queue `message` for one client (the report's `newConnSock.send(conn_msg)`).
    fn send_to(&mut self, i: usize, message: &[u8]) {
        let client = &mut self.conn_list[i];
        if client.outbox.push(message).is_err() {
            client.leaving = Some(Leave::Error);
        }
    }

    /// Receive what client `i` sent and relay each complete line to the others.
    ///
    /// Twin of the report's `recv_and_send_msg(sock, servSock, connList)`. The
    /// report takes one `recv` as one message; here the bytes go through the
    /// client's [`LineFramer`], and each line is sanitised, formatted once and
    /// relayed. An empty line means leave; so does end of stream (`recv` returning
    /// 0), which the report mistakes for an endless stream of empty messages. A
    /// reset is a leave with the "(error)" mark.
    pub fn recv_and_send_msg(&mut self, i: usize) {
        let Server {
            conn_list,
            recv_buf,
            batch,
            console,
            options,
            ..
        } = self;
        let colour = options.colour;
        let client = &mut conn_list[i];
        batch.clear();
        // ANCHOR: recv
        // Each line: an empty one means leave, and ends the client's input (what
        // follows it is not relayed); any other is formatted once into the batch.
        let mut quit = false;
        let mut on_line = |line: Line<'_>| {
            if quit || line.is_leave() {
                quit = true;
                return;
            }
            let start = batch.len();
            make_send_msg(batch, &client.addr, line.bytes, colour);
            console.print(&batch[start..]);
        };
        let broken = match net::recv(&client.sock, recv_buf) {
            // End of stream: the client closed its side. Relay an unfinished last
            // line; then it leaves (the report would spin on empty reads).
            Ok(0) => {
                client.framer.finish(&mut on_line);
                quit = true;
                false
            }
            // Data: cut it into lines.
            Ok(n) => {
                client.framer.feed(&recv_buf[..n], &mut on_line);
                false
            }
            // Nothing after all, or a signal: select will tell us again.
            Err(Errno::EAGAIN | Errno::EINTR) => false,
            // ECONNRESET, ETIMEDOUT...: the connection is broken.
            Err(_) => true,
        };
        // ANCHOR_END: recv
        if broken {
            client.leaving = Some(Leave::Error);
        } else if quit {
            client.leaving = Some(Leave::Quit);
        }
        if !batch.is_empty() {
            let message = std::mem::take(&mut self.batch);
            self.send_all(Some(i), &message);
            self.batch = message;
        }
    }

    /// Remove every client marked to leave, telling the others and the console.
    ///
    /// The report's "close connection" steps (`connList.remove(sock)`,
    /// `sock.close()`) with its leave notice, done here at the end of a turn so no
    /// loop over the clients ever sees the list change under it. The count in each
    /// notice is the number still inside after that client left.
    // ANCHOR: reap
    pub fn reap(&mut self) {
        while let Some(i) = self.conn_list.iter().position(|c| c.leaving.is_some()) {
            let mut client = self.conn_list.remove(i);
            let error = client.leaving == Some(Leave::Error);
            // A polite leave: deliver what it was sent before closing, if the
            // kernel takes it now, or later, from the draining list.
            match client.outbox.flush(&client.sock) {
                Ok(Flushed::Blocked) if !error => self.draining.push(Draining {
                    sock: client.sock,
                    outbox: client.outbox,
                    deadline: Instant::now() + Duration::from_secs(Constants::DRAIN_SECONDS),
                }),
                _ => {
                    let _ = net::close(client.sock);
                }
            }
            let msg = make_leave_msg(
                &client.addr,
                self.conn_list.len(),
                error,
                self.options.colour,
            );
            self.send_all(None, &msg);
            self.console.print(&msg);
        }
    }
    // ANCHOR_END: reap

    /// Send from every outbox that has something waiting and a socket that can
    /// take it (not in the report, which sends at once on blocking sockets).
    ///
    /// A client whose last send stopped short is only tried again once `select`
    /// reports it writable. A failed send marks the client to leave with "(error)".
    pub fn flush_outboxes(&mut self, ready: &Ready) {
        // ANCHOR: flush
        for client in &mut self.conn_list {
            if client.outbox.is_empty() || client.leaving.is_some() {
                continue;
            }
            if client.blocked && !ready.writable(raw(&client.sock)) {
                continue;
            }
            client.flush();
        }
        // ANCHOR_END: flush
    }

    /// Send what the kernel takes to the clients that left with output waiting;
    /// close each once its outbox is empty, a send fails, or its time is up.
    fn drain(&mut self, ready: &Ready) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.draining.len() {
            let d = &mut self.draining[i];
            let done = if ready.writable(raw(&d.sock)) {
                !matches!(d.outbox.flush(&d.sock), Ok(Flushed::Blocked))
            } else {
                false
            };
            if done || now >= d.deadline {
                let d = self.draining.swap_remove(i);
                let _ = net::close(d.sock);
            } else {
                i += 1;
            }
        }
    }

    /// Shut down: the report's `except KeyboardInterrupt` in `run_server`. Give
    /// each client one last non-blocking try at its outbox, close every socket and
    /// the listener, and print the report's `KeyboardInterrupt` line.
    // ANCHOR: close_all
    fn close_all(&mut self) {
        for mut client in self.conn_list.drain(..) {
            let _ = client.outbox.flush(&client.sock);
            let _ = net::close(client.sock);
        }
        for mut d in self.draining.drain(..) {
            let _ = d.outbox.flush(&d.sock);
            let _ = net::close(d.sock);
        }
        self.console.print(Texts::KEY_INTER.as_bytes());
        self.console.flush();
    }
    // ANCHOR_END: close_all
}

fn raw(fd: &impl AsFd) -> std::os::fd::RawFd {
    std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_and_join_notices_use_user_for_one_only() {
        assert_eq!(
            make_conn_msg(1, false),
            b"\rConnected to the chat server (1 user online)\n"
        );
        assert_eq!(
            make_conn_msg(2, false),
            b"\rConnected to the chat server (2 users online)\n"
        );
        assert_eq!(
            make_join_msg("1.2.3.4:5", 1, false),
            b"\r> New user 1.2.3.4:5 entered (1 user online)\n"
        );
        assert_eq!(
            make_join_msg("[::1]:5", 3, false),
            b"\r> New user [::1]:5 entered (3 users online)\n"
        );
    }

    #[test]
    fn leave_notices_say_user_for_zero_and_one_and_error_goes_after_the_colours() {
        assert_eq!(
            make_leave_msg("a:1", 0, false, false),
            b"\r< The user a:1 left (0 user online)\n"
        );
        assert_eq!(
            make_leave_msg("a:1", 1, false, false),
            b"\r< The user a:1 left (1 user online)\n"
        );
        assert_eq!(
            make_leave_msg("a:1", 2, false, false),
            b"\r< The user a:1 left (2 users online)\n"
        );
        assert_eq!(
            make_leave_msg("a:1", 2, true, true),
            b"\x1b[31m\x1b[1m\r< The user a:1 left (2 users online)\n\x1b[0m (error) "
        );
    }

    #[test]
    fn relayed_lines_are_stripped_sanitised_and_coloured() {
        let mut out = Vec::new();
        make_send_msg(&mut out, "a:1", b"hi \x1b[2J\r", true);
        assert_eq!(out, b"\x1b[35m\x1b[1m\r[a:1]: hi ^[[2J\n\x1b[0m");
    }

    #[test]
    fn start_line_is_green_with_a_newline() {
        assert_eq!(
            make_start_msg(7777, true),
            b"\x1b[32mChat Server started on port 7777\x1b[0m\n"
        );
    }
}
