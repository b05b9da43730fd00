//! `cli <host> <port>`: the chat client (the report's `cli.py`).
//!
//! Try it: start `cargo run --release --bin srv -- 127.0.0.1 7777`, then
//! `cargo run --release --bin cli -- 127.0.0.1 7777` in two terminals. Type a line
//! and press Enter to send it; an empty line (or Ctrl+C, or Ctrl+D) leaves.
//!
//! Thin on purpose: parse the arguments, [`select_chat::client::connect`], then
//! [`select_chat::client::run`].

use std::io;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Duration;

use select_chat::args::{self, Command};
use select_chat::client::{self, Options};
use select_chat::signals::SelfPipe;
use select_chat::stdio::{self, Output};
use select_chat::trace;

const ABOUT: &str = "\
Chat client for srv (or the report's srv.py). Lines you type go to everyone else;
an empty line, Ctrl+D or Ctrl+C leaves.

Options:
  --no-color    plain text (also when NO_COLOR is set or stdout is not a terminal)
  --trace       print every system call on stderr (also SELECT_CHAT_TRACE=1)
  -h, --help    show this help
  -V, --version show the version";

fn main() -> ExitCode {
    let args = match args::parse(std::env::args_os().skip(1), false) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{}\n\n{ABOUT}", args::usage("cli"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("cli {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            stdio::init("cli");
            stdio::log(format_args!("{msg}\n{}", args::usage("cli")));
            return ExitCode::from(2);
        }
    };
    if args.trace {
        trace::enable(true);
    } else {
        trace::enable_from_env();
    }
    let colour = !args.no_color && client::wants_colour(io::stdout().as_fd());
    // stdout and stderr of our own, non-blocking (see select_chat::stdio).
    stdio::init("cli");
    let mut stdout = Output::stdout(usize::MAX);
    let sock = match client::connect(&args.host, args.port) {
        Ok(sock) => sock,
        Err(e) => {
            // The report's line on stdout; the reason, for a person, on stderr.
            stdout.push(&client::connect_error_text(colour));
            stdout.finish(Duration::from_millis(500));
            return fail(e);
        }
    };
    let pipe = match SelfPipe::install() {
        Ok(pipe) => pipe,
        Err(e) => return fail(e),
    };
    let stdin = io::stdin();
    match client::run(sock, stdin.as_fd(), &pipe, Options { colour }, stdout) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// One line on stderr, then exit status 1.
fn fail(e: io::Error) -> ExitCode {
    stdio::log(format_args!("{e}"));
    stdio::log_finish(Duration::from_millis(250));
    ExitCode::FAILURE
}
