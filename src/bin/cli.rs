//! `cli <host> <port>`: the chat client (the report's `cli.py`).
//!
//! Try it: start `cargo run --release --bin srv -- 127.0.0.1 7777`, then
//! `cargo run --release --bin cli -- 127.0.0.1 7777` in two terminals. Type a line
//! and press Enter to send it; an empty line (or Ctrl+C, or Ctrl+D) leaves.
//!
//! Thin on purpose: parse the arguments, [`select_chat::client::connect`], then
//! [`select_chat::client::run`].

use std::io::{self, BufWriter, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use select_chat::args::{self, Command};
use select_chat::client::{self, Options};
use select_chat::net::FdWriter;
use select_chat::signals::SelfPipe;
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
            eprintln!("cli: {msg}\n{}", args::usage("cli"));
            return ExitCode::from(2);
        }
    };
    if args.trace {
        trace::enable(true);
    } else {
        trace::enable_from_env();
    }
    let mut stdout = BufWriter::new(FdWriter::stdout());
    let colour = !args.no_color && client::wants_colour(stdout.get_ref().0);
    let sock = match client::connect(&args.host, args.port) {
        Ok(sock) => sock,
        Err(e) => {
            // The report's line on stdout; the reason, for a person, on stderr.
            let _ = stdout.write_all(&client::connect_error_text(colour));
            let _ = stdout.flush();
            eprintln!("cli: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pipe = match SelfPipe::install() {
        Ok(pipe) => pipe,
        Err(e) => {
            eprintln!("cli: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = io::stdin();
    match client::run(sock, stdin.as_fd(), &pipe, Options { colour }, stdout) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cli: {e}");
            ExitCode::FAILURE
        }
    }
}
