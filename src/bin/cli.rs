//! `cli <host> <port>`: the chat client (the report's `cli.py`).
//!
//! Try it: start `cargo run --release --bin srv -- 127.0.0.1 7777`, then
//! `cargo run --release --bin cli -- 127.0.0.1 7777` in two terminals. Type a line
//! and press Enter to send it; an empty line (or Ctrl+C, or Ctrl+D) leaves.
//!
//! Thin on purpose: the command line, [`select_chat::client::connect`], then
//! [`select_chat::client::run`].

use std::io;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Duration;

use select_chat::args::{self, Program};
use select_chat::client;
use select_chat::signals::SelfPipe;
use select_chat::stdio::Output;

fn main() -> ExitCode {
    let args = match args::start(Program::Cli) {
        Ok(args) => args,
        Err(status) => return status,
    };
    // Colour only for a person at a terminal; the editor only if that person
    // types on it too.
    let colour = !args.no_color && client::wants_colour(io::stdout().as_fd());
    let editor = !args.no_editor && client::wants_editor(io::stdin().as_fd(), io::stdout().as_fd());
    let mut stdout = Output::stdout(usize::MAX);
    let sock = match client::connect(&args.host, args.port) {
        Ok(sock) => sock,
        Err(e) => {
            // The report's line on stdout; the reason, for a person, on stderr.
            stdout.push(&client::connect_error_text(colour));
            stdout.finish(Duration::from_millis(500));
            return args::fail(e);
        }
    };
    let stdin = io::stdin();
    let signals: &[_] = if editor { &client::EDITOR_SIGNALS } else { &[] };
    let result = SelfPipe::install(signals)
        .and_then(|pipe| client::run(sock, stdin.as_fd(), &pipe, colour, stdout, editor));
    result.map_or_else(args::fail, |()| ExitCode::SUCCESS)
}
