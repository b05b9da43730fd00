//! The report's `TextColors`, `Texts` and `Constants` classes, as Rust constants.
//!
//! Mirrors the "Texts and Constants" sections of both `cli.py` and `srv.py` in the
//! report. The two Python files each define their own `Texts`; the shared entries
//! (`KEY_INTER`) are identical, so one Rust `Texts` holds both sides, and each
//! constant says which file it comes from.
//!
//! One change of shape: the Python texts carry their colours inside the string
//! (`BLUE + BOLD + "..." + ENDC`). Here a text is kept plain and [`painted`] adds the
//! colours, so that `srv --no-color`, `NO_COLOR` and a client writing to a pipe can
//! leave them out. With colour on, the bytes are exactly the report's.

use std::fmt;

/// ANSI escape sequences (SGR, "Select Graphic Rendition") used to colour text.
///
/// Twin of the report's `TextColors` class. A terminal that reads `ESC [ 3 1 m`
/// switches its foreground to red until it reads `ESC [ 0 m` (`ENDC`).
pub struct TextColors;

impl TextColors {
    /// Reset every attribute (`\033[0m`).
    pub const ENDC: &'static str = "\x1b[0m";
    /// Bold text (`\033[1m`).
    pub const BOLD: &'static str = "\x1b[1m";
    /// Red foreground (`\33[31m`): leave notices, errors.
    pub const RED: &'static str = "\x1b[31m";
    /// Green foreground (`\33[32m`): the server's start line.
    pub const GREEN: &'static str = "\x1b[32m";
    /// Yellow foreground (`\33[33m`): the client's `[You]: ` prompt.
    pub const YELLOW: &'static str = "\x1b[33m";
    /// Blue foreground (`\33[34m`): connect and join notices.
    pub const BLUE: &'static str = "\x1b[34m";
    /// Purple foreground (`\33[35m`): relayed chat lines.
    pub const PURPLE: &'static str = "\x1b[35m";
}

/// The fixed texts of both programs, without their colours.
///
/// Twin of the report's two `Texts` classes. The texts with `%s` holes in the
/// report (`CONN_MSG`, `JOIN_MSG`, `EXIT_MSG`, `SEND_MSG`, `START_SRV`) are built by
/// the `make_*_msg` functions of [`crate::server`], which name the report's template
/// they fill.
pub struct Texts;

impl Texts {
    /// `cli.py`: the prompt, painted yellow and bold.
    pub const SHOW_YOU: &'static str = "[You]: ";
    /// `cli.py`: printed (red, bold) when the connection cannot be made.
    pub const CONNECT_ERROR: &'static str =
        "\r You can not connect to the server, check IP and host \n";
    /// `cli.py`: printed (red, bold) when the server closes the connection.
    pub const DISCON_MSG: &'static str = "\r< You have been disconnected \n";
    /// Both files: printed on Ctrl+C (no colour in the report).
    pub const KEY_INTER: &'static str = "\rKeyboardInterrupt\n";
    /// `srv.py`: singular noun for the count of users online.
    pub const USER: &'static str = "user";
    /// `srv.py`: plural noun for the count of users online.
    pub const USERS: &'static str = "users";
    /// `srv.py` defines it but never uses it; kept for the nickname exercise.
    pub const WELCOME_MSG: &'static str =
        "\r Welcome to this chat application. You can exit with Enter('\\n')\n";
    /// `srv.py` defines it but never uses it; kept for the nickname exercise.
    pub const NAME_EXIST: &'static str = "\r Username already exists!\n";
    /// Ours, not the report's: sent (red, bold) to a connection the server cannot
    /// watch, because its fd is past `FD_SETSIZE` or the process is out of fds.
    pub const SERVER_FULL: &'static str = "\r< The server is full, try again later \n";
    /// Ours: sent (red, bold) to a connection whose host has as many members as
    /// it may, or connects too often (rules 4 and 5 of [`crate::policy`]).
    pub const HOST_FULL: &'static str =
        "\r< Too many connections from your address, try again later \n";
}

/// Sizes and limits of both programs.
///
/// Twin of the report's two `Constants` classes, plus the limits that the report
/// does not have and a robust server needs (marked "ours").
pub struct Constants;

impl Constants {
    /// `cli.py`: seconds the client waits for `connect` (its `settimeout(2)`).
    pub const TIMEOUT_TIME: u64 = 2;
    /// `cli.py`: bytes asked of one `recv` on the client.
    pub const RECV_BUFSIZE: usize = 1 << 12;
    /// `srv.py`: bytes asked of one `recv`. Here too: the server receives 4 KiB
    /// at a time, and only when a client's earlier bytes are all relayed; it is
    /// also the longest line relayed in one piece (see [`crate::framing`]).
    pub const RECV_BUFF: usize = 1 << 12;
    /// `srv.py`: the `listen` backlog. Ours is [`Constants::ACCEPT_BACKLOG`].
    pub const LISTEN_BACKLOG: i32 = 10;
    /// `srv.py`: how many entries of `connList` are the server's own socket.
    ///
    /// Kept for the side-by-side reading, and used by no one: our `conn_list`
    /// holds only members (the listener is a field of its own), and `reap` removes
    /// a leaver before it counts the others, so the report's `len(connList) -
    /// NUM_SERVER` is our `conn_list.len()` and its `- NUM_LEAVING_CLIENT` is done.
    pub const NUM_SERVER: usize = 1;
    /// `srv.py`: the client being counted out in a leave notice (see `NUM_SERVER`).
    pub const NUM_LEAVING_CLIENT: usize = 1;
    /// Ours: the `listen` backlog (Redis and nginx use 511). With the report's 10,
    /// a class joining at once overflows the queue; Linux then drops the SYNs, and
    /// each client retries only a second later.
    pub const ACCEPT_BACKLOG: i32 = 511;
    /// Ours: the kernel send buffer asked for each client (`SO_SNDBUF`; Linux
    /// doubles it). Caps the kernel memory a client that never reads can pin.
    pub const SEND_BUFFER: usize = 64 * 1024;
    /// Ours: the most one `send` to one member carries, gathered from the room's
    /// log: about what the kernel's send buffer for it holds.
    pub const SEND_CHUNK: usize = 128 * 1024;
    /// Ours: the most connections accepted in one turn of the loop, so a flood of
    /// connections cannot starve the clients already inside.
    pub const ACCEPT_BATCH: usize = 64;
    /// Ours: how long the server stops accepting after an `accept` error that
    /// waiting cannot cure at once (`ENFILE`, `ENOBUFS`, `ENOMEM`, no spare fd).
    pub const ACCEPT_PAUSE_MS: u64 = 100;
}

/// `body` framed by the colour `codes` and `ENDC`, or plain when `colour` is false.
///
/// With colour on, `painted(true, &[BLUE, BOLD], x)` is the same bytes as the
/// report's `BLUE + BOLD + x + ENDC`.
pub fn painted(colour: bool, codes: &[&str], body: impl fmt::Display) -> Vec<u8> {
    let (start, end) =
        if colour { (codes.concat(), TextColors::ENDC) } else { (String::new(), "") };
    format!("{start}{body}{end}").into_bytes()
}

/// Whether colour is wanted, given the `NO_COLOR` convention (<https://no-color.org>).
///
/// `NO_COLOR` set to any non-empty value turns colour off.
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_with_colour_matches_the_report_bytes() {
        let got = painted(true, &[TextColors::YELLOW, TextColors::BOLD], Texts::SHOW_YOU);
        assert_eq!(got, b"\x1b[33m\x1b[1m[You]: \x1b[0m");
    }

    #[test]
    fn paint_without_colour_is_plain() {
        let got = painted(false, &[TextColors::RED], format_args!("x{}", 1));
        assert_eq!(got, b"x1");
    }
}
