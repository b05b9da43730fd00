//! The chat server: one `select` loop over the listening socket and every client.
//!
//! Mirrors the report's `srv.py`, in its order: [`open_listener`] is the socket
//! part of its `main` and [`run`] the rest of `main`; then [`Server::run_server`],
//! [`Server::connect_client`], `send_all`, [`Server::recv_and_send_msg`], and the
//! `make_*_msg` functions. What the report does not have is marked "not in the
//! report" where it happens; `docs/walkthrough.md` lists every difference.
//!
//! One turn of the loop ([`Server::run_server`]):
//! 1. `select` on the signal pipe, the listener and the members (for reading),
//!    and on the members owed bytes (for writing);
//! 2. a signal: stop;
//! 3. the report's line, for each readable socket: the listener means a newcomer
//!    ([`Server::connect_client`]), a member a message
//!    ([`Server::recv_and_send_msg`]);
//! 4. send each member what it is owed, as far as its socket takes it; cut the
//!    members the rules say; remove those that left, telling the others.
//!
//! What the room says is kept once, in the room's log ([`crate::room`]); each
//! member has a cursor in it. The rules (who may be read, who is cut, who may
//! come in) are asked of [`crate::policy`]; this file only carries them out.
//!
//! Entry point: [`run`], given a bound listener (so tests can bind port 0).

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::Flow;
use crate::framing::{Line, LineFramer};
use crate::policy::{self, Hosts};
use crate::room::{Audience, Id, RoomLog};
use crate::sanitize::sanitize_line;
use crate::select::{FD_SETSIZE, Ready, select};
use crate::show::{context, format_addr, strerror};
use crate::signals::SelfPipe;
use crate::stdio::{self, Output};
use crate::texts::{Constants, TextColors, Texts, painted};
use crate::{fd, net};

// ANCHOR: server_state
/// The server's state: the report's `servSock` and `connList`, and what a robust
/// server adds to them.
pub struct Server<'p> {
    /// The listening socket (the report's `servSock`).
    listener: OwnedFd,
    /// Readable when SIGINT, SIGTERM or SIGHUP arrived (see [`crate::signals`]).
    pipe: &'p SelfPipe,
    /// The master list: every member of the room, in the order they joined. The
    /// report's `connList` also holds `servSock`; here the listener is apart, so
    /// `conn_list.len()` is the number of users. Members are added by
    /// `connect_client` and removed only by `reap`, at the end of a turn.
    conn_list: Vec<Member>,
    /// Members that left politely, finishing: sent what they were owed, then
    /// `shutdown(SHUT_WR)`, read (and discarded) until they close.
    closing: Vec<Closing>,
    /// What the room said, once for all its readers (not in the report).
    log: RoomLog,
    /// The rules' account of each host (see [`crate::policy`]).
    hosts: Hosts,
    /// An fd kept open for one purpose: when `accept` fails with `EMFILE`, close
    /// it, accept, turn the connection away, and open it again (not in the report).
    spare: Option<OwnedFd>,
    /// `accept` failed in a way only time cures: the listener is left out of the
    /// read list until then.
    accept_paused_until: Option<Instant>,
    /// Send and print the report's colours (`--no-color` and `NO_COLOR`: no).
    colour: bool,
    /// The server's console (stdout), where the report `print`s every notice.
    console: Output,
    /// What one `send` to one member carries, gathered from the log (reused).
    scratch: Vec<u8>,
}
// ANCHOR_END: server_state

// ANCHOR: member
/// One member of the room: what the server keeps per connection. The report keeps
/// only the socket in `connList`; a server that frames lines and never blocks
/// needs a little state beside it.
#[derive(Debug)]
struct Member {
    /// Its socket; its fd number is its name in the room's log.
    sock: OwnedFd,
    /// `ip:port` from `getpeername` at accept time: asking again later fails
    /// once the peer is gone, which is what brings the report's server down.
    addr: String,
    /// Its host, for the rules.
    ip: IpAddr,
    /// Bytes received and not relayed yet: at most one `recv`.
    framer: LineFramer,
    /// Its place in the room's log: everything before it was sent.
    cursor: u64,
    /// The last `send` stopped short: only `select` can say when to try again.
    blocked: bool,
    /// Set when the member must go; it is removed by `reap`, at the end of the
    /// turn, never while a loop over the members is running.
    leaving: Option<Leave>,
}
// ANCHOR_END: member

/// Why a member is being removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leave {
    /// An empty line, or end of stream: the normal way out.
    Quit,
    /// A reset, a failed send, or cut by the rules: the report's "(error)" leave.
    Error,
}

// ANCHOR: closing
/// A member that left politely: out of the room, its leave announced, its socket
/// kept open until it has been sent what it was owed and has closed its side, or
/// `DRAIN_TIME` passes (the lingering close, not in the report, which closes at
/// once and loses what was not sent).
#[derive(Debug)]
struct Closing {
    member: Member,
    /// The head of the log when it left: it is owed nothing said after.
    until: u64,
    deadline: Instant,
    /// `shutdown(SHUT_WR)` was made: the client has seen (or will see) our FIN.
    shut: bool,
    /// The client closed its side (`recv` returned 0) or the connection broke.
    peer_closed: bool,
}
// ANCHOR_END: closing

/// Create the listening socket for `host:port`: the socket part of the report's `main()`.
///
/// Steps, for each address `host` resolves to until one works:
/// 1. `socket(AF_INET or AF_INET6, SOCK_STREAM)`;
/// 2. `setsockopt(SO_REUSEADDR)` (and `IPV6_V6ONLY` off for IPv6, so `::` takes IPv4 too);
/// 3. `bind(host:port)`;
/// 4. `listen(ACCEPT_BACKLOG)` (the report's backlog is 10, too small for a class);
/// 5. `fcntl(O_NONBLOCK)`, so a connection that vanishes between `select` and
///    `accept` cannot block the loop in `accept` (not in the report).
///
/// # Errors
/// One message naming the address and the cause: unknown host, `EADDRINUSE`
/// (port in use), `EACCES` (port below 1024), `EADDRNOTAVAIL` (not our address).
pub fn open_listener(host: &str, port: u16) -> io::Result<OwnedFd> {
    net::first_that_works(host, port, |addr| {
        let shown = format_addr(addr);
        // ANCHOR: open_listener
        let sock = net::socket(addr).map_err(|e| context(e, "socket"))?; // 1.
        net::set_reuse_addr(&sock).map_err(|e| context(e, "setsockopt(SO_REUSEADDR)"))?; // 2.
        if addr.is_ipv6() {
            net::set_dual_stack(&sock).map_err(|e| context(e, "setsockopt(IPV6_V6ONLY)"))?;
        }
        net::bind(&sock, addr).map_err(|e| bind_error(e, &shown))?; // 3.
        net::listen(&sock, Constants::ACCEPT_BACKLOG).map_err(|e| bind_error(e, &shown))?; // 4.
        fd::set_nonblocking(&sock).map_err(|e| context(e, "fcntl(O_NONBLOCK)"))?; // 5.
        Ok(sock)
        // ANCHOR_END: open_listener
    })
}

/// Run the chat server on `listener` until SIGINT or SIGTERM: the report's `main()`
/// after its `listen`, with its `while True: run_server(...)` loop.
///
/// Prints the start line, runs [`Server::run_server`] until it says stop, then
/// closes every client and prints the report's `KeyboardInterrupt` line. `colour`
/// says whether to send and print the report's colours; `per_host` is rule 4 of
/// [`crate::policy`].
///
/// # Errors
/// Only errors that concern the whole server (`select` failing with anything but
/// `EINTR`, `getsockname` on the listener). One client's trouble is never an error
/// here: that client is removed and the others go on.
pub fn run(
    listener: OwnedFd,
    pipe: &SelfPipe,
    colour: bool,
    per_host: usize,
    console: Output,
) -> io::Result<()> {
    let port = net::local_addr(&listener).map_err(|e| context(e, "getsockname"))?.port();
    let mut server = Server {
        listener,
        pipe,
        conn_list: Vec::new(),
        closing: Vec::new(),
        log: RoomLog::new(),
        hosts: Hosts::new(per_host),
        spare: fd::open_dev_null().ok(),
        accept_paused_until: None,
        colour,
        console,
        scratch: Vec::new(),
    };
    server.console.print(&[&make_start_msg(port, colour)]);
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
    let _ = fd::close(server.listener);
    if let Some(spare) = server.spare {
        let _ = fd::close(spare);
    }
    // Whatever the console and stderr still hold, bounded: a console that does
    // not drain must not keep a stopped server alive.
    server.console.finish(Duration::from_millis(500));
    stdio::log_finish(Duration::from_millis(250));
    result
}

impl Server<'_> {
    /// One turn of the loop: wait in `select`, then serve whatever is ready.
    ///
    /// Twin of the report's `run_server(servSock, connList)`, step for step: its
    /// `select`, then its line `connect_client(...) if sock == servSock else
    /// recv_and_send_msg(...)` for each readable socket. Its `except
    /// KeyboardInterrupt` becomes the signal pipe in the read list (returning
    /// [`Flow::Stop`]). Not in the report: the write list and the time-out, and
    /// step 4.
    ///
    /// # Errors
    /// `select` failing with anything but `EINTR` (a bug, or `ENOMEM`).
    pub fn run_server(&mut self) -> io::Result<Flow> {
        // ANCHOR: run_server
        // 1. Wait until a socket is ready or the next deadline (none: for ever).
        let now = Instant::now();
        let ready = match select(self.read_list(now), self.write_list(), self.timeout(now)) {
            Ok(ready) => ready,
            // A signal ran its handler: the pipe is readable now; look again.
            Err(Errno::EINTR) => return Ok(Flow::Continue),
            Err(e) => return Err(context(e, "select")),
        };
        // 2. Ctrl+C or kill: stop between two steps, never inside one.
        if ready.readable(self.pipe.fd()) && self.pipe.caught().stop {
            return Ok(Flow::Stop);
        }
        // 3. The report's line: the listener means a newcomer, a member a message.
        for sock in ready.readable_list() {
            if sock == self.listener.as_raw_fd() {
                self.connect_client();
            } else if let Some(i) = self.speaker(sock, Instant::now()) {
                self.recv_and_send_msg(i);
            }
        }
        // 4. Cut whom the rules cut, remove who left (telling the others), send
        //    each member what it is owed, finish the lingering closes.
        self.judge(Instant::now());
        self.reap();
        self.send_owed(&ready);
        self.linger(&ready, Instant::now());
        self.console.flush();
        stdio::log_flush();
        // ANCHOR_END: run_server
        Ok(Flow::Continue)
    }
}

impl Server<'_> {
    /// Accept the connections waiting on the listener and greet them.
    ///
    /// Twin of the report's `connect_client(sock, servSock, connList)`: accept,
    /// append to the master list, send the newcomer the connect notice, everyone
    /// else the join notice, and print it. Not in the report: accept up to
    /// `ACCEPT_BATCH` per turn (stopping at `EAGAIN`), turn away a connection
    /// whose fd `select` cannot watch or whose host the rules refuse, survive
    /// `EMFILE`, and cap each socket's kernel send buffer.
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
                Err(e @ (Errno::EMFILE | Errno::ENFILE)) if self.spare.is_some() => {
                    return self.refuse_with_spare(e);
                }
                // ENOBUFS, ENOMEM, out of fds with no spare: only time cures it.
                Err(e) => return self.pause_accept(e),
            };
            // ANCHOR_END: accept
            let Ok(peer) = net::peer_addr(&sock) else {
                continue; // gone already (ENOTCONN): nothing to greet
            };
            let addr = format_addr(&peer);
            // ANCHOR: fd_setsize
            if sock.as_raw_fd() >= FD_SETSIZE {
                let why = "its fd is past FD_SETSIZE, which select cannot watch";
                self.turn_away(sock, &addr, Texts::SERVER_FULL, why);
                continue;
            }
            // ANCHOR_END: fd_setsize
            if let Err(why) = self.hosts.admit(peer.ip(), Instant::now()) {
                self.turn_away(sock, &addr, Texts::HOST_FULL, &why.to_string());
                continue;
            }
            // Only memory and latency depend on these: a failure is no reason to
            // drop the client.
            let _ = net::set_send_buffer(&sock, Constants::SEND_BUFFER);
            let _ = net::set_nodelay(&sock);
            // Its fd names it in the log: a newcomer that gets an old member's fd
            // starts at the head, past all that was said to or by that member.
            let (id, ip, cursor) = (sock.as_raw_fd(), peer.ip(), self.log.head());
            let framer = LineFramer::new(Constants::RECV_BUFF);
            let member = Member { sock, addr, ip, framer, cursor, blocked: false, leaving: None };
            self.conn_list.push(member);
            // ANCHOR: greet
            let users = self.conn_list.len();
            let conn_msg = make_conn_msg(users, self.colour);
            let join_msg = make_join_msg(&self.conn_list[users - 1].addr, users, self.colour);
            self.log.append(&conn_msg, Audience::Only(id));
            send_all(&mut self.log, Some(id), &join_msg);
            self.console.print(&[&join_msg, b"\n"]);
            // ANCHOR_END: greet
        }
    }
}

/// Queue `message` for every member but `sender`.
///
/// Twin of the report's `send_all(sendSock, servSock, message, connList)`. It
/// only queues: the message goes into the room's log once, for every member but
/// the sender, and each member's socket is sent its part at the end of the turn,
/// as far as it takes it. The report `send`s on a blocking socket and, when that
/// fails, removes the socket from the list it is iterating, which skips the next
/// recipient; here nobody is skipped, and nobody waits for anybody.
// ANCHOR: send_all
fn send_all(log: &mut RoomLog, sender: Option<Id>, message: &[u8]) {
    match sender {
        Some(id) => log.append(message, Audience::AllBut(id)),
        None => log.append(message, Audience::All),
    }
}
// ANCHOR_END: send_all

impl Server<'_> {
    /// Receive what member `i` sent and relay its lines to the others.
    ///
    /// Twin of the report's `recv_and_send_msg(sock, servSock, connList)`. The
    /// report takes one `recv` as one message; here the bytes go to the member's
    /// [`LineFramer`], which hands back one line at a time, and each line is, as in
    /// the report, either the empty line that means "leave" or a message, which
    /// is sanitised, formatted and relayed. End of stream (`recv` returning 0) is a
    /// leave too (the report mistakes it for an endless stream of empty messages);
    /// a reset is a leave with the "(error)" mark.
    pub fn recv_and_send_msg(&mut self, i: usize) {
        let member = &mut self.conn_list[i];
        // ANCHOR: recv
        let read = match member.framer.fill(|space| net::recv(&member.sock, space)) {
            // End of stream: the client closed its side. An unfinished last
            // line is still relayed; then it leaves.
            Ok(0) => {
                member.framer.end();
                0
            }
            // Data: the framer cuts it into lines, below.
            Ok(n) => n,
            // Nothing after all, or a signal: select will tell us again.
            Err(Errno::EAGAIN | Errno::EINTR) => return,
            // ECONNRESET, ETIMEDOUT...: the connection is broken.
            Err(_) => return member.leaving = Some(Leave::Error),
        };
        let mut msgs = Vec::new();
        while let Some(line) = member.framer.next_line() {
            if line.is_leave() {
                // The report's `if data == "\n"`: the member leaves; what it sent
                // after the empty line is not relayed. The notice goes out from
                // `reap`, at the end of the turn (see there why).
                member.leaving = Some(Leave::Quit);
                break;
            } else {
                // The report's `else`: format the message, print it, relay it.
                let start = msgs.len();
                make_send_msg(&mut msgs, &member.addr, line, self.colour);
                self.console.print(&[&msgs[start..], b"\n"]);
            }
        }
        if member.framer.is_done() {
            member.leaving = Some(Leave::Quit);
        }
        send_all(&mut self.log, Some(member.sock.as_raw_fd()), &msgs);
        // ANCHOR_END: recv
        // What it cost the room counts against its host's share (rule 1 of the
        // policy): what it added to the log, or what it made us read.
        self.hosts.said(member.ip, msgs.len().max(read), Instant::now());
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
/// `len(connList) - NUM_SERVER`; we pass the count of members directly.
// ANCHOR: make_conn_msg
pub fn make_conn_msg(users: usize, colour: bool) -> Vec<u8> {
    painted(
        colour,
        &[TextColors::BLUE, TextColors::BOLD],
        format_args!("\rConnected to the chat server ({users} {} online)\n", users_text(users)),
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
        format_args!("\r> New user {addr} entered ({users} {} online)\n", users_text(users)),
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
    let noun = if users <= 1 { Texts::USER } else { Texts::USERS };
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
/// recipients it has; its trailing white space is stripped only where it ends,
/// and the blank end of a long line is no message at all.
pub fn make_send_msg(out: &mut Vec<u8>, addr: &str, line: Line<'_>, colour: bool) {
    if line.is_blank_tail() {
        return;
    }
    if colour {
        out.extend_from_slice(TextColors::PURPLE.as_bytes());
        out.extend_from_slice(TextColors::BOLD.as_bytes());
    }
    out.extend_from_slice(b"\r[");
    out.extend_from_slice(addr.as_bytes());
    out.extend_from_slice(b"]: ");
    sanitize_line(out, line.bytes, line.ends);
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
    let mut msg =
        painted(colour, &[TextColors::GREEN], format_args!("Chat Server started on port {port}"));
    msg.push(b'\n');
    msg
}

// Helpers of the functions above, in the order they are called.

impl Server<'_> {
    /// Step 1's read list: the signal pipe, the listener (unless accepting is
    /// paused), the members the rules let speak now (not one marked to leave:
    /// a failed send marks it for `reap` in the next turn), and the leavers
    /// still closing.
    fn read_list(&self, now: Instant) -> impl Iterator<Item = BorrowedFd<'_>> {
        let listener = self.accept_paused_until.is_none_or(|t| now >= t);
        let members = self.conn_list.iter().filter(move |m| {
            m.leaving.is_none() && m.framer.wants_input() && self.hosts.may_speak(m.ip, now)
        });
        let closing = self.closing.iter().filter(|c| !c.peer_closed);
        [self.pipe.fd()]
            .into_iter()
            .chain(listener.then(|| self.listener.as_fd()))
            .chain(members.map(|m| m.sock.as_fd()))
            .chain(closing.map(|c| c.member.sock.as_fd()))
    }

    /// Step 1's write list: only sockets that are owed bytes (a socket with room
    /// is always writable: asking for all would make `select` return at once),
    /// and the console and stderr when lines wait for them.
    fn write_list(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        let owed = self.conn_list.iter().filter(|m| m.cursor < self.log.head());
        let closing = self.closing.iter().filter(|c| c.member.cursor < c.until);
        owed.chain(closing.map(|c| &c.member))
            .map(|m| m.sock.as_fd())
            .chain(self.console.waiting_fd())
            .chain(stdio::log_waiting_fd())
    }

    /// Step 1's time-out: until the next deadline (a member marked to leave is
    /// reaped at once; a host's pace lets it speak again, a reader is judged, a
    /// leaver's time is up, an accept pause ends); for ever, as in the report, if
    /// there is none.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        let members = self.conn_list.iter();
        let reaped = members.clone().filter(|m| m.leaving.is_some()).map(|_| now);
        let speech = members.clone().filter_map(|m| self.hosts.speaks_again(m.ip, now));
        let judged = members.filter_map(|m| policy::judged_again(self.log.waiting_since(m.cursor)));
        let closing = self.closing.iter().map(|c| c.deadline);
        reaped
            .chain(speech)
            .chain(judged)
            .chain(closing)
            .chain(self.accept_paused_until)
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    /// The member whose socket is `fd`, if one is and the rules let it speak now
    /// (its host may have spent its share earlier in this very turn).
    fn speaker(&self, fd: RawFd, now: Instant) -> Option<usize> {
        let i = self.conn_list.iter().position(|m| m.sock.as_raw_fd() == fd)?;
        self.hosts.may_speak(self.conn_list[i].ip, now).then_some(i)
    }

    /// `EMFILE`: free the spare fd, accept the waiting connection with it, tell it
    /// the server is full, close it, and take the spare back (the libev/UNP remedy).
    fn refuse_with_spare(&mut self, errno: Errno) {
        if let Some(spare) = self.spare.take() {
            let _ = fd::close(spare);
        }
        match net::accept(&self.listener) {
            Ok(sock) => {
                let addr = net::peer_addr(&sock).map(|a| format_addr(&a)).unwrap_or_default();
                self.turn_away(sock, &addr, Texts::SERVER_FULL, &strerror(errno));
            }
            // Gone meanwhile: nothing to refuse.
            Err(Errno::EAGAIN | Errno::ECONNABORTED | Errno::EPROTO | Errno::EINTR) => {}
            Err(e) => self.pause_accept(e),
        }
        self.spare = fd::open_dev_null().ok();
    }

    /// `accept` failed in a way that only time cures: stop watching the listener
    /// for `ACCEPT_PAUSE_MS`, instead of spinning on it, and say so (summed).
    fn pause_accept(&mut self, errno: Errno) {
        let pause = Duration::from_millis(Constants::ACCEPT_PAUSE_MS);
        self.accept_paused_until = Some(Instant::now() + pause);
        stdio::log_event("accept:", format_args!("{}; trying again in 0.1 s", strerror(errno)));
    }

    /// Send `text` (red, bold) to a connection we will not serve, and close it.
    fn turn_away(&mut self, sock: OwnedFd, addr: &str, text: &str, why: &str) {
        // One try, non-blocking: a fresh socket's buffer has room for one line.
        let notice = painted(self.colour, &[TextColors::RED, TextColors::BOLD], text);
        let _ = net::send(&sock, &notice);
        let _ = fd::close(sock);
        stdio::log_event("turned away", format_args!("{addr}: {why}"));
    }

    /// Step 4: cut the members the rules cut (rules 2 and 3 of the policy).
    fn judge(&mut self, now: Instant) {
        for m in self.conn_list.iter_mut().filter(|m| m.leaving.is_none()) {
            let behind = self.log.head() - m.cursor;
            if let Some(why) = policy::judge(behind, self.log.waiting_since(m.cursor), now) {
                m.leaving = Some(Leave::Error);
                stdio::log_event("cut", format_args!("{}: {why}", m.addr));
            }
        }
    }

    /// Step 4: send each member what it is owed, as far as its socket takes it
    /// (a socket whose last send stopped short, only once `select` says
    /// writable); then forget what every member has been sent.
    // ANCHOR: send_owed
    fn send_owed(&mut self, ready: &Ready) {
        for member in &mut self.conn_list {
            if (!member.blocked || ready.writable(&member.sock))
                && member.send(&self.log, u64::MAX, &mut self.scratch).is_err()
            {
                // EPIPE, ECONNRESET: the member is gone.
                member.leaving = Some(Leave::Error);
            }
        }
        let members = self.conn_list.iter().map(|m| m.cursor);
        let leavers = self.closing.iter().map(|c| c.member.cursor.min(c.until));
        self.log.forget_before(members.chain(leavers).min().unwrap_or(self.log.head()));
    }
    // ANCHOR_END: send_owed

    /// Remove every member marked to leave, telling the others and the console.
    ///
    /// The report's "close connection" steps (`connList.remove(sock)`,
    /// `sock.close()`) with its leave notice. Why here, at the end of a turn, and
    /// not where the leave is seen: removing from `conn_list` while a loop walks it
    /// would skip the next member (the report's `send_all` does exactly that), so
    /// during a turn members are only marked. The count in each notice is the
    /// number still inside after that member left.
    // ANCHOR: reap
    fn reap(&mut self) {
        while let Some(i) = self.conn_list.iter().position(|m| m.leaving.is_some()) {
            let member = self.conn_list.remove(i);
            self.hosts.left(member.ip);
            let (addr, leave) = (member.addr.clone(), member.leaving);
            if leave == Some(Leave::Quit) {
                // A polite leave: deliver what it is owed, then close (`linger`).
                self.closing.push(Closing {
                    until: self.log.head(),
                    deadline: Instant::now() + policy::DRAIN_TIME,
                    shut: false,
                    // Left by closing its side: nothing more to read.
                    peer_closed: member.framer.is_done(),
                    member,
                });
            } else {
                // Cut, or broken: nobody will read what it was owed.
                let _ = net::close_abortively(member.sock);
            }
            let error = leave != Some(Leave::Quit);
            let msg = make_leave_msg(&addr, self.conn_list.len(), error, self.colour);
            send_all(&mut self.log, None, &msg);
            self.console.print(&[&msg, b"\n"]);
        }
    }
    // ANCHOR_END: reap

    /// The lingering close of the members that left politely: send what they are
    /// owed, then `shutdown(SHUT_WR)`; read and discard what they still send; close
    /// once they have closed too, or abortively when a send fails or their time
    /// is up (rule 6 of the policy).
    fn linger(&mut self, ready: &Ready, now: Instant) {
        let mut discard = [0u8; Constants::RECV_BUFF];
        let mut i = 0;
        while i < self.closing.len() {
            let c = &mut self.closing[i];
            let sock = &c.member.sock;
            if !c.peer_closed && ready.readable(sock) {
                match net::recv(sock, &mut discard) {
                    Ok(1..) | Err(Errno::EAGAIN | Errno::EINTR) => {}
                    // 0: it closed its side; ECONNRESET...: it is gone.
                    Ok(0) | Err(_) => c.peer_closed = true,
                }
            }
            let owed = c.member.cursor < c.until;
            let may_send = !c.member.blocked || ready.writable(&c.member.sock);
            let mut failed =
                owed && may_send && c.member.send(&self.log, c.until, &mut self.scratch).is_err();
            if c.member.cursor >= c.until && !c.shut && !failed {
                c.shut = true;
                failed = net::shutdown_write(&c.member.sock).is_err();
            }
            let done = c.peer_closed && c.member.cursor >= c.until;
            // Rules 2 and 3 for a leaver too: one far behind does not hold the log.
            let owed_since = self.log.waiting_since(c.member.cursor).filter(|_| owed);
            let cut = policy::judge(self.log.head() - c.member.cursor, owed_since, now).is_some();
            if done || failed || cut || now >= c.deadline {
                let c = self.closing.swap_remove(i);
                let _ = match done {
                    true => fd::close(c.member.sock),
                    false => net::close_abortively(c.member.sock),
                };
            } else {
                i += 1;
            }
        }
    }

    /// Shut down: the report's `except KeyboardInterrupt` in `run_server`. Give
    /// each member one last non-blocking try at what it is owed, close every
    /// socket, and print the report's `KeyboardInterrupt` line.
    // ANCHOR: close_all
    fn close_all(&mut self) {
        for mut member in self.conn_list.drain(..) {
            let _ = member.send(&self.log, u64::MAX, &mut self.scratch);
            let _ = fd::close(member.sock);
        }
        for mut c in self.closing.drain(..) {
            let _ = c.member.send(&self.log, c.until, &mut self.scratch);
            let _ = fd::close(c.member.sock);
        }
        self.console.print(&[Texts::KEY_INTER.as_bytes(), b"\n"]);
    }
    // ANCHOR_END: close_all
}

impl Member {
    /// Send what the room's log holds for this member (up to position `until`),
    /// as far as its socket takes it: gather up to `SEND_CHUNK` bytes into
    /// `scratch`, one `send`, move the cursor by what the kernel took; again
    /// while it takes everything.
    ///
    /// # Errors
    /// The errno of `send`: `EPIPE`, `ECONNRESET` when the peer is gone.
    // ANCHOR: member_send
    fn send(&mut self, log: &RoomLog, until: u64, scratch: &mut Vec<u8>) -> nix::Result<()> {
        self.blocked = false;
        loop {
            scratch.clear();
            let id = self.sock.as_raw_fd();
            let first = log.gather(id, self.cursor, until, Constants::SEND_CHUNK, scratch);
            self.cursor = first;
            if scratch.is_empty() {
                return Ok(()); // owed nothing more
            }
            match net::send(&self.sock, scratch) {
                // Taken, all or in part: less than all means the socket is full.
                Ok(n) => {
                    self.cursor = log.advance(id, first, n);
                    if n < scratch.len() {
                        self.blocked = true;
                        return Ok(());
                    }
                }
                // A signal arrived before anything was sent: try again.
                Err(Errno::EINTR) => {}
                // The socket's send buffer is full: wait for select.
                Err(Errno::EAGAIN) => {
                    self.blocked = true;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }
    // ANCHOR_END: member_send
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_and_join_notices_use_user_for_one_only() {
        assert_eq!(make_conn_msg(1, false), b"\rConnected to the chat server (1 user online)\n");
        assert_eq!(make_conn_msg(2, false), b"\rConnected to the chat server (2 users online)\n");
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
        let line = Line { bytes: b"hi \x1b[2J ", whole: true, ends: true };
        make_send_msg(&mut out, "a:1", line, true);
        assert_eq!(out, b"\x1b[35m\x1b[1m\r[a:1]: hi ^[[2J\n\x1b[0m");
        // A piece that does not end its line keeps its spaces.
        let mut out = Vec::new();
        let piece = Line { bytes: b"hi  ", whole: false, ends: false };
        make_send_msg(&mut out, "a:1", piece, false);
        assert_eq!(out, b"\r[a:1]: hi  \n");
    }

    #[test]
    fn start_line_is_green_with_a_newline() {
        assert_eq!(
            make_start_msg(7777, true),
            b"\x1b[32mChat Server started on port 7777\x1b[0m\n"
        );
    }
}
