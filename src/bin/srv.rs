//! `srv <host> <port>`: the chat server (the report's `srv.py`).
//!
//! Try it: `cargo run --release --bin srv -- 127.0.0.1 7777`, then in other
//! terminals `cargo run --release --bin cli -- 127.0.0.1 7777`, `nc 127.0.0.1 7777`
//! or `telnet 127.0.0.1 7777`. Ctrl+C stops it.
//!
//! Thin on purpose: parse the arguments, open the listener, hand it to
//! [`select_chat::server::run`].

use std::process::ExitCode;

use select_chat::args::{self, Command};
use select_chat::server;
use select_chat::signals::SelfPipe;
use select_chat::stdio::{self, CONSOLE_LIMIT, Output};
use select_chat::texts::no_color_env;
use select_chat::trace;

const ABOUT: &str = "\
A TCP chat room on select(2): relays each line a client sends to every other client.
Clients: cli, nc or telnet. An empty line leaves the room. Port 0 picks a free port.

Options:
  --no-color    send and print plain text (also when NO_COLOR is set)
  --trace       print every system call on stderr (also SELECT_CHAT_TRACE=1)
  -h, --help    show this help
  -V, --version show the version";

fn main() -> ExitCode {
    let args = match args::parse(std::env::args_os().skip(1), true) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{}\n\n{ABOUT}", args::usage("srv"));
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("srv {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            stdio::init("srv");
            stdio::log(format_args!("{msg}\n{}", args::usage("srv")));
            return ExitCode::from(2);
        }
    };
    if args.trace {
        trace::enable(true);
    } else {
        trace::enable_from_env();
    }
    // stdout and stderr of our own, non-blocking: nothing the server prints can
    // stop it (see select_chat::stdio).
    stdio::init("srv");
    let console = Output::stdout(CONSOLE_LIMIT);
    let colour = !args.no_color && !no_color_env();
    let listener = match server::open_listener(&args.host, args.port) {
        Ok(listener) => listener,
        Err(e) => return fail(e),
    };
    let pipe = match SelfPipe::install() {
        Ok(pipe) => pipe,
        Err(e) => return fail(e),
    };
    match server::run(listener, &pipe, colour, console) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// One line on stderr, then exit status 1.
fn fail(e: std::io::Error) -> ExitCode {
    stdio::log(format_args!("{e}"));
    stdio::log_finish(std::time::Duration::from_millis(250));
    ExitCode::FAILURE
}
