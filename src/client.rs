//! The chat client: one `select` loop over stdin and the connection.
//!
//! Mirrors the report's `cli.py`, function for function: [`connect`],
//! [`run`] (its `main` loop), [`Client::run_client`], [`Client::recv_msg`],
//! [`Client::send_msg`] and [`Client::display_you`].
//!
//! Two ways to read what the user types:
//! - **plain**, as the report does, when stdin or stdout is not a terminal (a
//!   pipe, a file, `/dev/null`) or with `--no-editor`: `read(2)` on fd 0, all of
//!   it sent, and a leave at the end of stdin;
//! - **the editor**, on a terminal: the terminal in raw mode ([`crate::term`]),
//!   the line kept by the program ([`crate::editor`]), messages shown whole and
//!   wrapped by the client ([`crate::screen`]), and the prompt and the line
//!   redrawn under each of them. The report's `\r` and reprint cannot do that: in
//!   its terminal's canonical mode, the line being typed belongs to the kernel.
//!
//! One turn of the loop ([`Client::run_client`]):
//! 1. `select` on the signal pipe, the connection and stdin (for reading), and on
//!    the connection if typed lines are waiting to be sent (for writing);
//! 2. a signal: Ctrl+C or `kill` (leave, as the report does), a resize, a
//!    suspension's end;
//! 3. the connection: show what the server sent, then the `[You]: ` prompt;
//! 4. stdin: queue what was typed for the server, then the prompt;
//! 5. send what is queued, as far as the kernel takes it.
//!
//! Entry points: [`connect`], then [`run`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use crate::Flow;
use crate::editor::{Action, Editor};
use crate::outbox::{Flushed, Outbox};
use crate::sanitize::TerminalFilter;
use crate::screen::{Message, Messages, wrap};
use crate::select::select;
use crate::show::{context, format_addr};
use crate::signals::SelfPipe;
use crate::stdio::Output;
use crate::term::{self, Raw};
use crate::texts::{Constants, TextColors, Texts, painted};
use crate::{fd, net};

/// Typed text that may wait for a server that does not take it. Past it, plain
/// mode stops reading stdin (a pipe loses nothing by waiting); the editor keeps
/// reading the keys, so that Ctrl+C is always seen, and drops the lines it
/// cannot queue, saying so.
const TYPED_LIMIT: usize = 64 * 1024;

/// Stop reading the server while this much waits for the screen (a terminal
/// stopped with Ctrl+S, a pipe nobody reads): nothing is dropped, the server's
/// bytes wait in the kernel, and the server judges us as a reader.
pub const SCREEN_PAUSE: usize = 64 * 1024;

/// The signals the line editor acts on besides SIGINT, SIGTERM and SIGHUP: a
/// resize, the end of a suspension (`fg`), and a suspension asked from outside.
/// Caught only when the editor is on: without it, Ctrl+Z and `fg` keep their
/// default actions, as for the report's client.
pub const EDITOR_SIGNALS: [Signal; 3] = [Signal::SIGWINCH, Signal::SIGCONT, Signal::SIGTSTP];

/// Connect to `host:port` within `Constants::TIMEOUT_TIME` seconds per address.
///
/// Twin of the report's `connect(sock, host, port)` (and of the `socket` and
/// `settimeout` calls in its `main`). Python's `settimeout(2)` hides a
/// non-blocking connect; this is that connect, shown:
/// 1. `socket(AF_INET or AF_INET6, SOCK_STREAM)`, for each address `host` resolves to;
/// 2. `fcntl(O_NONBLOCK)`;
/// 3. `connect`: returns `EINPROGRESS` while the handshake runs;
/// 4. `select` for writability, with the timeout: the socket becomes writable when
///    the handshake ends, well or badly;
/// 5. `getsockopt(SO_ERROR)`: 0 if connected, else why not (`ECONNREFUSED`...).
///
/// # Errors
/// The last address's failure, with the address in the message: unknown host,
/// `ECONNREFUSED` (nothing listens there), `ETIMEDOUT` (no answer in time),
/// `ENETUNREACH`.
pub fn connect(host: &str, port: u16) -> io::Result<OwnedFd> {
    net::first_that_works(host, port, connect_one)
}

/// Steps 1 to 5 of [`connect`] for one address. A socket whose connect failed is
/// closed here, before the next address is tried.
fn connect_one(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let failed = |e: Errno| context(e, format_args!("cannot connect to {}", format_addr(addr)));
    let sock = net::socket(addr).map_err(failed)?; // 1.
    match handshake(&sock, addr) {
        Ok(()) => Ok(sock),
        Err(e) => {
            let _ = fd::close(sock);
            Err(failed(e))
        }
    }
}

/// Steps 2 to 5 of [`connect`]: a non-blocking connect, waited for in `select`.
fn handshake(sock: &OwnedFd, addr: &SocketAddr) -> nix::Result<()> {
    // ANCHOR: connect
    fd::set_nonblocking(sock)?; // 2.
    match net::connect(sock, addr) {
        // 3. Connected at once (it happens on loopback).
        Ok(()) => return Ok(()),
        // The handshake is under way: wait for it below.
        Err(Errno::EINPROGRESS | Errno::EINTR) => {}
        Err(e) => return Err(e),
    }
    let deadline = Instant::now() + Duration::from_secs(Constants::TIMEOUT_TIME);
    loop {
        // 4. Writable means the handshake is over, one way or the other.
        let left = deadline.saturating_duration_since(Instant::now());
        match select([], [sock.as_fd()], Some(left)) {
            Ok(ready) if ready.count() > 0 => break,
            Ok(_) => return Err(Errno::ETIMEDOUT),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    // 5. Which way: SO_ERROR holds the handshake's outcome.
    match net::take_socket_error(sock)? {
        None => Ok(()),
        Some(e) => Err(e),
    }
    // ANCHOR_END: connect
}

/// Where the client stands with stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// Reading stdin.
    Open,
    /// stdin ended: the leave line goes out once what was typed has been sent.
    Ended,
    /// The leave line is queued: wait for the server to close, until the deadline.
    Left(Instant),
}

/// The editor's side of the client, on a terminal.
struct Editing {
    /// The terminal in raw mode; dropping it puts the terminal back as it was.
    raw: Raw,
    /// The line being typed.
    editor: Editor,
    /// What the server sent, cut back into whole messages.
    messages: Messages,
    /// The terminal's width, asked again on each SIGWINCH.
    cols: usize,
    /// The prompt and the line are on the screen (on the last row).
    prompt_shown: bool,
    /// A redraw was skipped while the screen was full: draw once it drains.
    stale: bool,
}

// ANCHOR: client_state
/// The client's state: the report's `connSock` and what a robust client adds.
pub struct Client<'a> {
    /// The connection (the report's `connSock`).
    sock: OwnedFd,
    /// stdin, read with `read(2)` when `select` says so.
    stdin: BorrowedFd<'a>,
    /// Readable when a signal arrived (see [`crate::signals`]).
    pipe: &'a SelfPipe,
    /// Typed bytes the kernel has not taken yet.
    outbox: Outbox,
    /// Stops control sequences a server did not format (see [`crate::sanitize`]).
    filter: TerminalFilter,
    /// The last byte read from stdin (plain mode), to end an unfinished line at EOF.
    last_typed: u8,
    /// Typed lines dropped since the outbox last emptied: the server took none.
    unsent: u64,
    /// Typed lines dropped since the client started, for its last word.
    lost: u64,
    /// Reading stdin, stdin ended, or the leave line sent (with its deadline).
    input: Input,
    /// Colour the client's own texts and let the server's colours through. Off
    /// when stdout is not a terminal or `NO_COLOR` is set.
    colour: bool,
    /// stdout, never blocking (see [`crate::stdio`]).
    out: Output,
    /// `Some` on a terminal (unless `--no-editor`): the line editor.
    editing: Option<Editing>,
}
// ANCHOR_END: client_state

/// Chat on `sock` until the server closes, stdin ends, or Ctrl+C: the loop of the
/// report's `main()` (`while True: run_client(connSock)`). `editor`: stdin and
/// stdout are a terminal and `--no-editor` was not given; if the terminal will not
/// go into raw mode, the client reads stdin plainly.
///
/// # Errors
/// Only `select` failing with anything but `EINTR`. A server that goes away is
/// the end of the loop, not an error.
pub fn run(
    sock: OwnedFd,
    stdin: BorrowedFd<'_>,
    pipe: &SelfPipe,
    colour: bool,
    out: Output,
    editor: bool,
) -> io::Result<()> {
    let editing = editor.then(Raw::enter).and_then(Result::ok).map(|raw| Editing {
        raw,
        editor: Editor::new(),
        messages: Messages::new(),
        cols: term::columns(io::stdout()),
        prompt_shown: false,
        stale: false,
    });
    let mut client = Client {
        sock,
        stdin,
        pipe,
        outbox: Outbox::new(),
        filter: TerminalFilter::new(),
        last_typed: b'\n',
        unsent: 0,
        lost: 0,
        input: Input::Open,
        colour,
        out,
        editing,
    };
    let exit = loop {
        match client.run_client() {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // What the screen still holds, bounded: a stdout that does not drain must not
    // keep the client from exiting. The editor's terminal gets its colours and
    // autowrap back even if the rest is dropped (see `show`). Then the terminal's
    // settings as they were, the socket closed.
    let ending: &[u8] = if client.editing.is_some() { b"\x1b[0m\x1b[?7h" } else { b"" };
    client.out.finish_ending(Duration::from_millis(500), ending, Duration::from_millis(250));
    crate::stdio::log_finish(Duration::from_millis(250));
    drop(client.editing.take());
    // The report's `connSock.close()`; a dropped OwnedFd would close it silently.
    let _ = fd::close(client.sock);
    exit
}

impl Client<'_> {
    /// One turn of the loop: wait in `select`, then serve whatever is ready.
    ///
    /// Twin of the report's `run_client(connSock)`: `select([sys.stdin, connSock],
    /// [], [])`, then `recv_msg` or `send_msg`. Its `except KeyboardInterrupt`
    /// becomes the signal pipe.
    ///
    /// # Errors
    /// `select` failing with anything but `EINTR`.
    pub fn run_client(&mut self) -> io::Result<Flow> {
        // ANCHOR: run_client
        // 1. Read list: the signal pipe, the connection while the screen keeps up,
        //    stdin while it is open (in plain mode: while the server keeps up).
        //    Write list: the connection, if typed text waits.
        let keeps_up = self.editing.is_some() || self.outbox.len() < TYPED_LIMIT;
        let reading_stdin = self.input == Input::Open && keeps_up;
        let reading_sock = self.out.pending() < SCREEN_PAUSE;
        let read_list = [self.pipe.fd()]
            .into_iter()
            .chain(reading_sock.then_some(self.sock.as_fd()))
            .chain(reading_stdin.then_some(self.stdin));
        let write_list = (!self.outbox.is_empty())
            .then_some(self.sock.as_fd())
            .into_iter()
            .chain(self.out.waiting_fd())
            .chain(crate::stdio::log_waiting_fd());
        let timeout = match self.input {
            Input::Left(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
            _ => None,
        };
        let ready = match select(read_list, write_list, timeout) {
            Ok(ready) => ready,
            Err(Errno::EINTR) => return Ok(Flow::Continue),
            Err(e) => return Err(context(e, "select")),
        };
        // 2. A signal: Ctrl+C or kill (leave politely, as the report does), a
        //    resize, the end of a suspension.
        if ready.readable(self.pipe.fd()) && self.on_signals() == Flow::Stop {
            return Ok(Flow::Stop);
        }
        // 3. The server spoke (or closed).
        if reading_sock && ready.readable(&self.sock) && self.recv_msg() == Flow::Stop {
            return Ok(Flow::Stop);
        }
        // 4. The user typed.
        if reading_stdin && ready.readable(self.stdin) && self.send_msg() == Flow::Stop {
            return Ok(Flow::Stop);
        }
        // 5. Send what waits; after stdin's end, then the leave line on its own.
        if self.flush() == Flow::Stop {
            return Ok(Flow::Stop);
        }
        // ANCHOR_END: run_client
        self.out.flush();
        if self.editing.as_ref().is_some_and(|e| e.stale) && self.out.pending() == 0 {
            self.display_you();
        }
        crate::stdio::log_flush();
        // stdout is gone: nobody can see the room any more, so leave it.
        if self.out.is_broken() {
            self.leave_now();
            return Ok(Flow::Stop);
        }
        if let Input::Left(deadline) = self.input
            && Instant::now() >= deadline
        {
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }

    /// Receive what the server sent and show it, then the prompt.
    ///
    /// Twin of the report's `recv_msg(sock)`. `recv` returning 0 means the server
    /// closed the connection (after our empty line, or because it stopped): print
    /// the report's "disconnected" line and stop. What is shown passes through a
    /// [`TerminalFilter`], which keeps the server's colours and escapes any other
    /// control sequence; the editor then shows whole messages only.
    pub fn recv_msg(&mut self) -> Flow {
        let mut buf = [0u8; Constants::RECV_BUFSIZE];
        // ANCHOR: recv_msg
        let n = match net::recv(&self.sock, &mut buf) {
            // Data from the server.
            Ok(n @ 1..) => n,
            // Spurious wake-up or a signal: select will say again.
            Err(Errno::EAGAIN | Errno::EINTR) => return Flow::Continue,
            // 0: the server closed. ECONNRESET, ETIMEDOUT...: it is gone.
            Ok(0) | Err(_) => return self.disconnected(),
        };
        let mut shown = Vec::with_capacity(n + 16);
        self.filter.filter(&buf[..n], self.colour, &mut shown);
        // The report prints it, then `display_you()`; the editor shows whole
        // messages above the line being typed, and redraws that line itself.
        match &mut self.editing {
            Some(editing) => {
                let whole = editing.messages.take(&shown);
                self.show(&whole);
                Flow::Continue
            }
            None => {
                self.out.push(&shown);
                self.display_you()
            }
        }
        // ANCHOR_END: recv_msg
    }

    /// Read what the user typed and queue it for the server, then the prompt.
    ///
    /// Twin of the report's `send_msg(sock)`. The report calls
    /// `sys.stdin.readline()`, which reads a large block into Python's buffer and
    /// returns one line: when a pasted block holds several lines, the others stay
    /// in that buffer, where `select` (which looks at the fd, not the buffer)
    /// never sees them. Here `read(2)` takes whatever the fd has: in plain mode all
    /// of it is sent (and at end of stdin, `echo hi | cli ...`, the client leaves);
    /// with the editor, the keys edit the line and Enter sends it.
    pub fn send_msg(&mut self) -> Flow {
        let mut buf = [0u8; Constants::RECV_BUFSIZE];
        // ANCHOR: send_msg
        match fd::read(self.stdin, &mut buf) {
            Ok(0) => {
                // End of stdin: finish an unfinished line, then leave (step 5).
                if self.last_typed != b'\n' {
                    self.outbox.push(b"\n");
                }
                self.input = Input::Ended;
                Flow::Continue
            }
            Ok(n) if self.editing.is_some() => self.edit(&buf[..n]),
            Ok(n) => {
                self.last_typed = buf[n - 1];
                // Within the limit: stdin is paused before it is reached.
                self.outbox.push(&buf[..n]);
                self.display_you()
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Flow::Continue,
            // EIO (the terminal went away) and the like: as good as EOF.
            Err(_) => {
                self.input = Input::Ended;
                Flow::Continue
            }
        }
        // ANCHOR_END: send_msg
    }

    /// Show the `[You]: ` prompt, yellow and bold (with the editor: and the line
    /// being typed, the cursor in it).
    ///
    /// Twin of the report's `display_you()`.
    // ANCHOR: display_you
    pub fn display_you(&mut self) -> Flow {
        let prompt = painted(self.colour, &[TextColors::YELLOW, TextColors::BOLD], Texts::SHOW_YOU);
        match &mut self.editing {
            // Not over a screen that does not keep up: once it has drained.
            Some(e) if self.out.pending() >= SCREEN_PAUSE => e.stale = true,
            // Never inside a message that is still arriving.
            Some(e) if self.input == Input::Open && !e.messages.is_mid_message() => {
                let mut row = Vec::new();
                e.editor.render(&prompt, Texts::SHOW_YOU.len(), e.cols, &mut row);
                self.out.push(&row);
                e.prompt_shown = true;
                e.stale = false;
            }
            Some(_) => {}
            None => self.out.push(&prompt),
        }
        Flow::Continue
    }
    // ANCHOR_END: display_you

    /// The editor's keys: edit the line; send it at Enter; leave, interrupt,
    /// suspend or clear as the keys ask; then redraw the prompt and the line.
    fn edit(&mut self, keys: &[u8]) -> Flow {
        let actions = match &mut self.editing {
            Some(editing) => editing.editor.feed(keys),
            None => return Flow::Continue,
        };
        for action in actions {
            match action {
                Action::Send(line) => {
                    let mut typed = line.clone().into_bytes();
                    typed.push(b'\n');
                    if !self.outbox.push_within(&typed, TYPED_LIMIT) {
                        self.not_sent();
                        continue;
                    }
                    // What was said stays on the screen, whole, as the report's
                    // terminal would leave it; then a fresh prompt.
                    self.hide_line();
                    let you = painted(
                        self.colour,
                        &[TextColors::YELLOW, TextColors::BOLD],
                        Texts::SHOW_YOU,
                    );
                    let mut said = you;
                    said.extend_from_slice(line.as_bytes());
                    self.show(&[Message { text: said, continued: false }]);
                }
                // The report's "terminal word": an empty line leaves, then the
                // server closes and the client says it was disconnected.
                Action::Leave => {
                    // The empty prompt stays, as in the report's terminal.
                    if let Some(editing) = &mut self.editing {
                        editing.prompt_shown = false;
                    }
                    self.out.push(b"\r\n");
                    self.outbox.push(b"\n");
                    self.input =
                        Input::Left(Instant::now() + Duration::from_secs(Constants::TIMEOUT_TIME));
                    return Flow::Continue;
                }
                Action::Interrupt => return self.interrupted(),
                Action::Suspend => self.suspend(),
                Action::Clear => self.out.push(b"\x1b[H\x1b[2J"),
            }
        }
        self.display_you()
    }

    /// Show whole messages above the prompt: hide the prompt's row, write the
    /// messages' rows, then draw the prompt and the line again below them.
    // ANCHOR: show
    fn show(&mut self, messages: &[Message]) {
        let Some(editing) = &self.editing else { return };
        if messages.is_empty() {
            return;
        }
        // Autowrap off while the rows are drawn (DECAWM, `ESC [ ? 7 l`): should
        // the terminal give a character more columns than `wrap_width` did, the
        // row's end is overwritten instead of spilling onto a row of its own.
        let mut rows = b"\x1b[?7l".to_vec();
        for message in messages {
            wrap(message, editing.cols, &mut rows);
        }
        rows.extend_from_slice(b"\x1b[?7h");
        self.hide_line();
        self.out.push(&rows);
        self.display_you();
    }
    // ANCHOR_END: show

    /// Erase the prompt's row, if it is on the screen (the editor draws it on one
    /// row only).
    fn hide_line(&mut self) {
        if let Some(e) = &mut self.editing
            && std::mem::take(&mut e.prompt_shown)
        {
            self.out.push(b"\r\x1b[K");
        }
    }

    /// What the signal pipe says: stop (SIGINT, SIGTERM, SIGHUP), redraw for a new
    /// width (SIGWINCH), raw mode again after `fg` (SIGCONT), suspend (SIGTSTP).
    fn on_signals(&mut self) -> Flow {
        let caught = self.pipe.caught();
        if caught.stop {
            return self.interrupted();
        }
        if caught.suspend {
            self.suspend();
        }
        if let Some(editing) = &mut self.editing
            && (caught.resize || caught.resume)
        {
            if caught.resume {
                let _ = editing.raw.resume();
            }
            editing.cols = term::columns(io::stdout());
            self.display_you();
        }
        Flow::Continue
    }

    /// Ctrl+Z: put the terminal back as it was, stop (as the shell's job control
    /// expects), and, once continued (`fg`), take raw mode again and redraw (the
    /// SIGCONT handler tells the loop).
    fn suspend(&mut self) {
        let Some(editing) = &mut self.editing else {
            return;
        };
        editing.prompt_shown = false;
        self.out.push(b"\r\n");
        self.out.finish(Duration::from_millis(100));
        let _ = editing.raw.leave();
        let _ = fd::stop_self();
    }

    /// A typed line the outbox cannot take: the server has not taken what was
    /// typed before. The first one says so on the screen; the others are counted,
    /// and their number shown once the server takes text again.
    fn not_sent(&mut self) {
        self.unsent += 1;
        self.lost += 1;
        if self.unsent == 1 {
            self.notice(b"\r< The server is not taking what you type: lines are not sent \n");
        }
    }

    /// Show a notice of the client's own (red, bold) above the prompt.
    fn notice(&mut self, text: &[u8]) {
        let text = painted(
            self.colour,
            &[TextColors::RED, TextColors::BOLD],
            String::from_utf8_lossy(text),
        );
        match self.editing.is_some() {
            true => self.show(&[Message { text, continued: false }]),
            false => self.out.push(&text),
        }
    }

    /// Send what waits; once stdin has ended and all is sent, queue the leave line.
    // ANCHOR: client_flush
    fn flush(&mut self) -> Flow {
        loop {
            match self.outbox.flush(|typed| net::send(&self.sock, typed)) {
                Ok(Flushed::All) => self.tell_unsent(),
                Ok(Flushed::Blocked) => return Flow::Continue,
                Err(_) => return self.disconnected(),
            }
            if self.input != Input::Ended {
                return Flow::Continue;
            }
            // Everything typed is out: now the leave line, in a send of its own.
            // Then wait, bounded, for the server to close.
            self.outbox.push(b"\n");
            self.input = Input::Left(Instant::now() + Duration::from_secs(Constants::TIMEOUT_TIME));
        }
    }
    // ANCHOR_END: client_flush

    /// Everything typed was sent: if lines were dropped since the last notice,
    /// say how many.
    fn tell_unsent(&mut self) {
        let unsent = std::mem::take(&mut self.unsent);
        self.tell_lost("", unsent);
    }

    /// Say that `n` typed lines were not sent (nothing for none).
    fn tell_lost(&mut self, prefix: &str, n: u64) {
        let text = match n {
            0 => return,
            1 => format!("\r< {prefix}1 typed line was not sent \n"),
            n => format!("\r< {prefix}{n} typed lines were not sent \n"),
        };
        self.notice(text.as_bytes());
    }

    /// The server closed: print the report's "disconnected" line.
    fn disconnected(&mut self) -> Flow {
        let msg = painted(self.colour, &[TextColors::RED, TextColors::BOLD], Texts::DISCON_MSG);
        self.hide_line();
        // The report's `print`: the text and a newline.
        self.out.push(&msg);
        self.out.push(b"\n");
        Flow::Stop
    }

    /// Ctrl+C: the report sends `"\n"` (leave), closes, prints `KeyboardInterrupt`.
    fn interrupted(&mut self) -> Flow {
        self.leave_now();
        // The last word counts every typed line not sent: those dropped (the
        // notices about them may have scrolled away) and those the kernel has not
        // taken, which go with the socket (all but the leave line, which is last).
        let waiting = self.outbox.count_waiting(b'\n').saturating_sub(1) as u64;
        self.out.drop_backlog();
        self.tell_lost("In all, ", self.lost + waiting);
        self.hide_line();
        self.out.push(Texts::KEY_INTER.as_bytes());
        self.out.push(b"\n");
        Flow::Stop
    }

    /// Queue the leave line after what was typed and give it one non-blocking try.
    /// The socket is closed when the client is dropped.
    // ANCHOR: leave_now
    fn leave_now(&mut self) {
        if self.last_typed != b'\n' {
            self.outbox.push(b"\n");
        }
        self.outbox.push(b"\n");
        let _ = self.outbox.flush(|typed| net::send(&self.sock, typed));
    }
    // ANCHOR_END: leave_now
}

/// Whether the client should use colour: stdout is a terminal and `NO_COLOR` is unset.
pub fn wants_colour(stdout: impl AsFd) -> bool {
    fd::isatty(stdout) && !crate::texts::no_color_env()
}

/// Whether to use the line editor: stdin and stdout are both terminals.
pub fn wants_editor(stdin: impl AsFd, stdout: impl AsFd) -> bool {
    fd::isatty(stdin) && fd::isatty(stdout)
}

/// The report's connection error line (red, bold), printed when [`connect`] fails.
pub fn connect_error_text(colour: bool) -> Vec<u8> {
    let mut msg = painted(colour, &[TextColors::RED, TextColors::BOLD], Texts::CONNECT_ERROR);
    msg.push(b'\n');
    msg
}
