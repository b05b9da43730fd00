//! The chat server: one `select` loop over the listening socket and every client.
//!
//! Mirrors the report's `srv.py`, in its order: [`open_listener`] is the socket
//! part of its `main` and [`run`] the rest of `main`; then [`Server::run_server`],
//! [`Server::connect_client`], `send_all`, [`Server::recv_and_send_msg`], and the
//! `make_*_msg` functions. What the report does not have is marked "not in the
//! report" where it happens; `docs/walkthrough.md` lists every difference.
//!
//! One turn of the loop ([`Server::run_server`]):
//! 1. `select` on the listener, the signal pipe and the members (for reading), and
//!    on the members with output waiting (for writing);
//! 2. a signal: stop; the listener: accept newcomers ([`Server::connect_client`]);
//! 3. members with something to say: receive, cut into lines, relay, each up to
//!    its fair share of the turn ([`Server::recv_and_send_msg`]);
//! 4. remove the members that left, telling the others (`reap`);
//! 5. send what waits to every member the kernel will take it from, judge the
//!    readers, and remove those that failed or were cut.
//!
//! Entry point: [`run`], given a bound listener (so tests can bind port 0).

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::Flow;
use crate::framing::{Line, LineFramer};
use crate::outbox::{Outbox, Verdict};
use crate::sanitize::sanitize_line;
use crate::select::{FD_SETSIZE, Ready, SelectError, select};
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
    /// Members that left politely, finishing: written to until their outbox is
    /// empty, then `shutdown(SHUT_WR)`, read (and discarded) until they close.
    closing: Vec<Closing>,
    /// An fd kept open for one purpose: when `accept` fails with `EMFILE`, close
    /// it, accept, turn the connection away, and open it again (not in the report).
    spare: Option<OwnedFd>,
    /// `accept` failed in a way only time cures: the listener is left out of the
    /// read list until then.
    accept_paused_until: Option<Instant>,
    /// A reader that is behind but reading, or too much queued in all: the room
    /// reads no new lines this turn (decided at the end of the previous one).
    room_waits: bool,
    /// Where the fair share of the next turn starts (see `run_server`, step 3).
    first: usize,
    /// Send and print the report's colours (`--no-color` and `NO_COLOR`: no).
    colour: bool,
    /// The server's console (stdout), where the report `print`s every notice.
    console: Output,
    /// The messages of one member in one turn, formatted once, for all.
    batch: Vec<u8>,
}
// ANCHOR_END: server_state

// ANCHOR: member
/// One member of the room: what the server keeps per connection. The report keeps
/// only the socket in `connList`; a server that frames lines and never blocks
/// needs a little state beside it.
#[derive(Debug)]
struct Member {
    sock: OwnedFd,
    /// `ip:port` from `getpeername` at accept time: asking again later fails
    /// once the peer is gone, which is what brings the report's server down.
    addr: String,
    /// Bytes received and not relayed yet: at most one line and one `recv`.
    framer: LineFramer,
    /// Bytes for this member that the kernel has not taken yet.
    outbox: Outbox,
    /// Not read before then: each turn in which it spoke pushed this ahead
    /// (IRC's "fake lag"; see `SENDS_PER_SPEAKER`).
    quiet_until: Instant,
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
    /// A reset, a failed send, or a reader cut for not reading: the report's
    /// "(error)" leave.
    Error,
}

// ANCHOR: closing
/// A member that left politely: out of the room, its leave announced, its socket
/// kept open until the kernel has taken the rest of its outbox and the client has
/// closed its side, or `DRAIN_SECONDS` pass (the lingering close, not in the
/// report, which closes at once and loses what was not sent).
#[derive(Debug)]
struct Closing {
    sock: OwnedFd,
    outbox: Outbox,
    deadline: Instant,
    /// `shutdown(SHUT_WR)` was made: the client has seen (or will see) our FIN.
    shut: bool,
    /// The client closed its side (`recv` returned 0) or the connection broke.
    peer_closed: bool,
    /// Added in this turn: `select` looked at it as a member, not as a leaver.
    new: bool,
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
/// says whether to send and print the report's colours.
///
/// # Errors
/// Only errors that concern the whole server (`select` failing with anything but
/// `EINTR`, `getsockname` on the listener). One client's trouble is never an error
/// here: that client is removed and the others go on.
pub fn run(listener: OwnedFd, pipe: &SelfPipe, colour: bool, console: Output) -> io::Result<()> {
    let port = net::local_addr(&listener)
        .map_err(|e| context(e, "getsockname"))?
        .port();
    let mut server = Server {
        listener,
        pipe,
        conn_list: Vec::new(),
        closing: Vec::new(),
        spare: fd::open_dev_null().ok(),
        accept_paused_until: None,
        room_waits: false,
        first: 0,
        colour,
        console,
        batch: Vec::new(),
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
    /// Twin of the report's `run_server(servSock, connList)`. Its `except
    /// KeyboardInterrupt` becomes the signal pipe in the read list (returning
    /// [`Flow::Stop`]). The steps are numbered in the module docs.
    ///
    /// # Errors
    /// `select` failing with anything but `EINTR` (a bug, or `ENOMEM`).
    pub fn run_server(&mut self) -> io::Result<Flow> {
        // ANCHOR: run_server
        // 1. Wait. Read list: the signal pipe, the listener, the members whose
        //    earlier lines are all relayed (unless the room waits for a reader),
        //    and the leavers still closing. Write list: only sockets with output
        //    waiting (one with room is always writable: asking for all would spin).
        let now = Instant::now();
        if self.accept_paused_until.is_some_and(|until| now >= until) {
            self.accept_paused_until = None;
        }
        let read_list = [self.pipe.fd()]
            .into_iter()
            .chain(
                self.accept_paused_until
                    .is_none()
                    .then(|| self.listener.as_fd()),
            )
            .chain(
                self.conn_list
                    .iter()
                    .filter(|m| !self.room_waits && m.framer.wants_input() && m.quiet_until <= now)
                    .map(|m| m.sock.as_fd()),
            )
            .chain(
                self.closing
                    .iter()
                    .filter(|c| !c.peer_closed)
                    .map(|c| c.sock.as_fd()),
            );
        let write_list = self
            .conn_list
            .iter()
            .map(|m| (&m.sock, &m.outbox))
            .chain(self.closing.iter().map(|c| (&c.sock, &c.outbox)))
            .filter(|(_, outbox)| !outbox.is_empty())
            .map(|(sock, _)| sock.as_fd())
            .chain(self.console.waiting_fd())
            .chain(stdio::log_waiting_fd());
        let ready = match select(read_list, write_list, self.timeout(now)) {
            Ok(ready) => ready,
            // A signal ran its handler: the pipe is readable now; look again.
            Err(SelectError::Interrupted) => return Ok(Flow::Continue),
            Err(e) => return Err(e.into()),
        };
        // 2. Ctrl+C or kill: stop between two steps, never inside one.
        if ready.readable(raw(&self.pipe.fd())) && self.pipe.caught().stop {
            return Ok(Flow::Stop);
        }
        // Members accepted in this turn were not in the sets; serve only the others.
        let watched = self.conn_list.len();
        if ready.readable(raw(&self.listener)) {
            self.connect_client();
        }
        // 3. Members with something to say: receive and relay, each its fair share.
        if !self.room_waits {
            self.take_turns(&ready, now, watched);
        }
        // 4., 5. Remove who left, send what waits, judge the readers, remove who
        //    failed or was cut; leavers finish closing.
        self.reap();
        self.flush_outboxes(&ready);
        self.reap();
        self.linger(&ready);
        self.console.flush();
        stdio::log_tick();
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
    /// whose fd `select` cannot watch, survive `EMFILE`, and cap each socket's
    /// kernel send buffer.
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
            // Only memory and latency depend on these: a failure is no reason to
            // drop the client.
            let _ = net::set_send_buffer(&sock, Constants::SEND_BUFFER);
            let _ = net::set_nodelay(&sock);
            self.conn_list.push(Member {
                sock,
                addr,
                framer: LineFramer::new(Constants::RECV_BUFF),
                outbox: Outbox::new(),
                quiet_until: Instant::now(),
                leaving: None,
            });
            let users = self.conn_list.len();
            let conn_msg = make_conn_msg(users, self.colour);
            let newcomer = &mut self.conn_list[users - 1];
            let join_msg = make_join_msg(&newcomer.addr, users, self.colour);
            newcomer.outbox.push(&conn_msg);
            send_all(&mut self.conn_list, Some(users - 1), &join_msg);
            self.console.print(&[&join_msg, b"\n"]);
        }
    }
}

/// Queue `message` for every member but `sender` (and those leaving).
///
/// Twin of the report's `send_all(sendSock, servSock, message, connList)`, and
/// like it given the list. It only queues: the report `send`s on a blocking
/// socket and, when that fails, removes the socket from the list it is iterating,
/// which skips the next recipient. Here the message goes to each recipient's
/// outbox, sent at the end of the turn; nobody is skipped, and nobody is judged
/// here (a reader is judged after the kernel had its chance, in `flush_outboxes`).
// ANCHOR: send_all
fn send_all(conn_list: &mut [Member], sender: Option<usize>, message: &[u8]) {
    if message.is_empty() {
        return;
    }
    for (i, member) in conn_list.iter_mut().enumerate() {
        if Some(i) != sender && member.leaving.is_none() {
            member.outbox.push(message);
        }
    }
}
// ANCHOR_END: send_all

impl Server<'_> {
    /// Receive what member `i` sent and relay its lines to the others, up to
    /// `share` bytes of output (at least one line); returns what it spent.
    ///
    /// Twin of the report's `recv_and_send_msg(sock, servSock, connList)`. The
    /// report takes one `recv` as one message; here the bytes go to the member's
    /// [`LineFramer`], which hands back one line at a time, and each line is, as in
    /// the report, either the empty line that means "leave" or a message, which
    /// is sanitised, formatted once and relayed. `recv` is called only when the
    /// framer has handed out every earlier line (and only if `readable`): what the
    /// member sends meanwhile waits in the kernel. End of stream (`recv` returning
    /// 0) is a leave too (the report mistakes it for an endless stream of empty
    /// messages); a reset is a leave with the "(error)" mark.
    pub fn recv_and_send_msg(&mut self, i: usize, readable: bool, share: usize) -> usize {
        let recipients = self.conn_list.len() - 1;
        let member = &mut self.conn_list[i];
        // ANCHOR: recv
        if readable && member.framer.wants_input() {
            match member.framer.fill(|space| net::recv(&member.sock, space)) {
                // End of stream: the client closed its side. An unfinished last
                // line is still relayed; then it leaves.
                Ok(0) => member.framer.end(),
                // Data: the framer cuts it into lines, below.
                Ok(_) => {}
                // Nothing after all, or a signal: select will tell us again.
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                // ECONNRESET, ETIMEDOUT...: the connection is broken.
                Err(_) => {
                    member.leaving = Some(Leave::Error);
                    return 0;
                }
            }
        }
        self.batch.clear();
        let mut spent = 0;
        while spent < share {
            let Some(line) = member.framer.next_line() else {
                if member.framer.is_done() {
                    member.leaving = Some(Leave::Quit);
                }
                break;
            };
            if line.is_leave() {
                // The report's `if data == "\n"`: the member leaves; what it sent
                // after the empty line is not relayed. The notice goes out from
                // `reap`, at the end of the turn (see there why).
                member.leaving = Some(Leave::Quit);
                break;
            } else {
                // The report's `else`: format the message once, for everyone.
                let start = self.batch.len();
                make_send_msg(&mut self.batch, &member.addr, line, self.colour);
                let msg = &self.batch[start..];
                if !msg.is_empty() {
                    self.console.print(&[msg, b"\n"]);
                }
                spent += msg.len().max(1) * recipients.max(1);
            }
        }
        send_all(&mut self.conn_list, Some(i), &self.batch);
        // ANCHOR_END: recv
        spent
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

// Helpers of the functions above, in the order they are called.

impl Server<'_> {
    /// Step 3 of a turn, for the first `watched` members: each one with something
    /// to say (readable, or lines left from an earlier turn) relays its lines with
    /// [`Server::recv_and_send_msg`], up to a fair share of the turn's output, and
    /// pays for the turn it caused (not in the report, where one member pasting a
    /// file made every turn long for everyone).
    ///
    /// - The share: `TURN_BUDGET` split among this turn's speakers, at most
    ///   `SPEAKER_SHARE` each, at least one line; where the budget runs out, the next
    ///   turn starts.
    /// - The price: a turn costs one `send` per member it reaches, charged to its
    ///   speakers in proportion to what each said; a member may spend
    ///   `SENDS_PER_SPEAKER` a second (with `LAG_CREDIT_MS` saved up while silent),
    ///   and is not read until it can pay again (IRC's "fake lag"). Its bytes wait in
    ///   the kernel meanwhile, and TCP slows it down.
    fn take_turns(&mut self, ready: &Ready, now: Instant, watched: usize) {
        let speaks = |m: &Member| {
            m.quiet_until <= now && (ready.readable(raw(&m.sock)) || !m.framer.wants_input())
        };
        let speakers = self.conn_list[..watched]
            .iter()
            .filter(|m| speaks(m))
            .count();
        let share = (Constants::TURN_BUDGET / speakers.max(1)).min(Constants::SPEAKER_SHARE);
        let mut said = Vec::with_capacity(speakers);
        let mut spent = 0;
        for k in 0..watched {
            let i = (self.first + k) % watched;
            if !speaks(&self.conn_list[i]) {
                continue;
            }
            if spent >= Constants::TURN_BUDGET {
                self.first = i; // the budget is spent: this one starts next turn
                break;
            }
            let readable = ready.readable(raw(&self.conn_list[i].sock));
            let cost = self.recv_and_send_msg(i, readable, share);
            said.push((i, cost));
            spent += cost;
        }
        let sends = self.conn_list.len().saturating_sub(1) as u64;
        let credit = now
            .checked_sub(Duration::from_millis(Constants::LAG_CREDIT_MS))
            .unwrap_or(now);
        for (i, cost) in said {
            let paid = sends * cost as u64 / spent.max(1) as u64;
            let lag = Duration::from_micros(paid * 1_000_000 / Constants::SENDS_PER_SPEAKER);
            let member = &mut self.conn_list[i];
            member.quiet_until = member.quiet_until.max(credit) + lag;
        }
    }

    /// How long step 1 may wait: not at all if lines are waiting to be relayed,
    /// else until the next deadline (a leaver's, a reader's verdict, the end of an
    /// accept pause, a log sum); for ever (as in the report) if there is none.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        if !self.room_waits
            && self
                .conn_list
                .iter()
                .any(|m| !m.framer.wants_input() && m.quiet_until <= now)
        {
            return Some(Duration::ZERO);
        }
        let deadlines = self.closing.iter().map(|c| c.deadline);
        let verdicts = self
            .conn_list
            .iter()
            .filter_map(|m| m.outbox.next_verdict());
        let lags = self
            .conn_list
            .iter()
            .map(|m| m.quiet_until)
            .filter(|&t| t > now);
        deadlines
            .chain(verdicts)
            .chain(lags)
            .chain(self.accept_paused_until)
            .chain(stdio::log_deadline())
            .min()
            .map(|t| t.saturating_duration_since(now))
    }

    /// `EMFILE`: free the spare fd, accept the waiting connection with it, tell it
    /// the server is full, close it, and take the spare back (the libev/UNP remedy).
    fn refuse_with_spare(&mut self, errno: Errno) {
        if let Some(spare) = self.spare.take() {
            let _ = fd::close(spare);
        }
        match net::accept(&self.listener) {
            Ok(sock) => {
                let addr = net::peer_addr(&sock)
                    .map(|a| format_addr(&a))
                    .unwrap_or_default();
                self.turn_away(sock, &addr, &strerror(errno));
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
        self.accept_paused_until =
            Some(Instant::now() + Duration::from_millis(Constants::ACCEPT_PAUSE_MS));
        stdio::log_event(
            "accept:",
            format_args!("{}; trying again in 0.1 s", strerror(errno)),
        );
    }

    /// Send the "server full" notice to a connection we will not serve, and close it.
    fn turn_away(&mut self, sock: OwnedFd, addr: &str, why: &str) {
        // One try, non-blocking: a fresh socket's buffer has room for one line.
        let _ = net::send(&sock, &make_full_msg(self.colour));
        let _ = fd::close(sock);
        stdio::log_event("turned away", format_args!("{addr}: {why}"));
    }

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
            let error = member.leaving == Some(Leave::Error);
            if error {
                let _ = fd::close(member.sock);
            } else {
                // A polite leave: deliver what it is owed, then close (see `linger`).
                self.closing.push(Closing {
                    sock: member.sock,
                    outbox: member.outbox,
                    deadline: Instant::now() + Duration::from_secs(Constants::DRAIN_SECONDS),
                    shut: false,
                    // Left by closing its side: nothing more to read.
                    peer_closed: member.framer.is_done(),
                    new: true,
                });
            }
            let msg = make_leave_msg(&member.addr, self.conn_list.len(), error, self.colour);
            send_all(&mut self.conn_list, None, &msg);
            self.console.print(&[&msg, b"\n"]);
        }
    }
    // ANCHOR_END: reap

    /// Send from every outbox that has something waiting and a socket that can
    /// take it, then judge each reader (not in the report, which sends at once on
    /// blocking sockets and never judges anyone).
    ///
    /// An outbox whose last send stopped short is only tried again once `select`
    /// reports the socket writable. A failed send, or a verdict of
    /// [`Verdict::Cut`], marks the member to leave with "(error)". A member that is
    /// behind but reading, or too much waiting in all, makes the room wait.
    fn flush_outboxes(&mut self, ready: &Ready) {
        // ANCHOR: flush
        for member in &mut self.conn_list {
            let outbox = &mut member.outbox;
            let may_send = !outbox.is_blocked() || ready.writable(raw(&member.sock));
            if !outbox.is_empty() && may_send && outbox.flush(&member.sock).is_err() {
                // EPIPE, ECONNRESET: the member is gone.
                member.leaving = Some(Leave::Error);
            }
        }
        // Then judge each reader by what it did with its chance.
        let now = Instant::now();
        let outboxes = self.conn_list.iter().map(|m| &m.outbox);
        let queued: usize = outboxes
            .chain(self.closing.iter().map(|c| &c.outbox))
            .map(Outbox::held)
            .sum();
        let over_budget = queued > Constants::ROOM_QUEUE_LIMIT;
        self.room_waits = over_budget;
        for member in self.conn_list.iter_mut().filter(|m| m.leaving.is_none()) {
            match member.outbox.judge(now, over_budget) {
                Verdict::Fine => {}
                Verdict::Behind => self.room_waits = true,
                Verdict::Cut(why) => {
                    member.leaving = Some(Leave::Error);
                    stdio::log_event("cut", format_args!("{}: {why}", member.addr));
                }
            }
        }
        // ANCHOR_END: flush
    }

    /// The lingering close of the members that left politely: send what they are
    /// owed, then `shutdown(SHUT_WR)`; read and discard what they still send; close
    /// once they have closed too, a send fails, or their time is up.
    fn linger(&mut self, ready: &Ready) {
        let now = Instant::now();
        let mut discard = [0u8; Constants::RECV_BUFF];
        let mut i = 0;
        while i < self.closing.len() {
            let c = &mut self.closing[i];
            let fd = raw(&c.sock);
            if !c.peer_closed && !std::mem::take(&mut c.new) && ready.readable(fd) {
                match net::recv(&c.sock, &mut discard) {
                    Ok(1..) | Err(Errno::EAGAIN | Errno::EINTR) => {}
                    // 0: it closed its side; ECONNRESET...: it is gone.
                    Ok(0) | Err(_) => c.peer_closed = true,
                }
            }
            let mut failed = false;
            if !c.outbox.is_empty() && (!c.outbox.is_blocked() || ready.writable(fd)) {
                failed = c.outbox.flush(&c.sock).is_err();
            }
            if c.outbox.is_empty() && !c.shut && !failed {
                c.shut = true;
                failed = net::shutdown_write(&c.sock).is_err();
            }
            if failed || (c.peer_closed && c.outbox.is_empty()) || now >= c.deadline {
                let c = self.closing.swap_remove(i);
                let _ = fd::close(c.sock);
            } else {
                i += 1;
            }
        }
    }

    /// Shut down: the report's `except KeyboardInterrupt` in `run_server`. Give
    /// each member one last non-blocking try at its outbox, close every socket,
    /// and print the report's `KeyboardInterrupt` line.
    // ANCHOR: close_all
    fn close_all(&mut self) {
        for mut member in self.conn_list.drain(..) {
            let _ = member.outbox.flush(&member.sock);
            let _ = fd::close(member.sock);
        }
        for mut c in self.closing.drain(..) {
            let _ = c.outbox.flush(&c.sock);
            let _ = fd::close(c.sock);
        }
        self.console.print(&[Texts::KEY_INTER.as_bytes(), b"\n"]);
    }
    // ANCHOR_END: close_all
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

fn raw(fd: &impl AsFd) -> RawFd {
    fd.as_fd().as_raw_fd()
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
        let line = Line {
            bytes: b"hi \x1b[2J ",
            whole: true,
            ends: true,
        };
        make_send_msg(&mut out, "a:1", line, true);
        assert_eq!(out, b"\x1b[35m\x1b[1m\r[a:1]: hi ^[[2J\n\x1b[0m");
        // A piece that does not end its line keeps its spaces.
        let mut out = Vec::new();
        let piece = Line {
            bytes: b"hi  ",
            whole: false,
            ends: false,
        };
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
