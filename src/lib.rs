//! select-chat: a TCP chat room on raw POSIX sockets and `select(2)`, a Rust port
//! of a student report's Python `srv.py` and `cli.py`, to be read side by side with
//! it (see `docs/walkthrough.md`).
//!
//! # Layout
//! - [`texts`]: the report's `TextColors`, `Texts` and `Constants`.
//! - [`net`]: the socket system calls, one small function each (`socket`,
//!   `setsockopt`, `bind`, `listen`, `accept4`, `connect`, `recv`, `send`...).
//! - [`fd`]: the other calls on file descriptors (`fcntl`, `read`, `write`,
//!   `close`, `open`, `isatty`, `fstat`, `dup2`).
//! - [`show`]: addresses, errno texts and error messages, as a person reads them.
//! - [`select`]: our `select`, the twin of Python's `select.select`.
//! - [`signals`]: Ctrl+C and `kill` without races (the self-pipe trick).
//! - [`framing`]: cutting the TCP byte stream back into lines.
//! - [`sanitize`]: keeping a peer's control bytes off other people's terminals.
//! - [`outbox`]: bytes waiting for an fd (a socket, the console, stderr, the
//!   client's screen), bounded, written without blocking.
//! - [`room`]: the room's log: what the room says, kept once, a cursor per member.
//! - [`policy`]: the room's rules: who may speak and how fast, who is cut, who
//!   may come in; pure functions of state and a clock (a student may skip it).
//! - [`server`]: `srv.py`'s functions: `run_server`, `connect_client`, `send_all`,
//!   `recv_and_send_msg`, `make_*_msg`.
//! - [`client`]: `cli.py`'s functions: `connect`, `run_client`, `recv_msg`,
//!   `send_msg`, `display_you`.
//! - [`term`], [`editor`], [`screen`]: the client's line editor on a terminal:
//!   raw mode, the line being typed, whole messages wrapped by the client.
//! - [`stdio`]: the process's own stdout and stderr, never blocking the loop.
//! - [`trace`]: `--trace`, one line on stderr per system call.
//! - [`args`]: the command lines of `srv` and `cli` (`src/bin/`).

#![deny(missing_docs)]

pub mod args;
pub mod client;
pub mod editor;
pub mod fd;
pub mod framing;
pub mod net;
pub mod outbox;
pub mod policy;
pub mod room;
pub mod sanitize;
pub mod screen;
pub mod select;
pub mod server;
pub mod show;
pub mod signals;
pub mod stdio;
pub mod term;
pub mod texts;
pub mod trace;

/// Whether a loop goes on: what one turn of `run_server` or `run_client` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on to the next turn.
    Continue,
    /// Stop: a signal, the server closing, stdin ending... Clean up and return.
    Stop,
}
