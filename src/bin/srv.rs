//! `srv <host> <port>`: the chat server (the report's `srv.py`).
//!
//! Try it: `cargo run --release --bin srv -- 127.0.0.1 7777`, then in other
//! terminals `cargo run --release --bin cli -- 127.0.0.1 7777`, `nc 127.0.0.1 7777`
//! or `telnet 127.0.0.1 7777`. Ctrl+C stops it.
//!
//! Thin on purpose: the command line, [`select_chat::server::open_listener`], then
//! [`select_chat::server::run`].

use std::process::ExitCode;

use select_chat::args::{self, Program};
use select_chat::server;
use select_chat::signals::SelfPipe;
use select_chat::stdio::{CONSOLE_LIMIT, Output};
use select_chat::texts::no_color_env;

fn main() -> ExitCode {
    let args = match args::start(Program::Srv) {
        Ok(args) => args,
        Err(status) => return status,
    };
    let console = Output::stdout(CONSOLE_LIMIT);
    let colour = !args.no_color && !no_color_env();
    let result = server::open_listener(&args.host, args.port).and_then(|listener| {
        let pipe = SelfPipe::install(&[])?;
        server::run(listener, &pipe, colour, args.per_host, console)
    });
    result.map_or_else(args::fail, |()| ExitCode::SUCCESS)
}
