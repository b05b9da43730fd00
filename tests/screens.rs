//! What a person sees: the session of chapter 3 ("What the screens look like"), played on three
//! terminals (pseudo-terminals whose output goes through a terminal emulator), and
//! compared with the screens the walkthrough shows in its blocks marked
//! `<!-- screen: NAME -->` (`UPDATE_EXCERPTS=1` rewrites them from this run).

mod common;

use std::process::{Child, Command};

use common::pty::Pty;
use common::*;

/// One of the two programs, as a person would start it (colours on, no trace).
fn program(name: &str) -> Command {
    let path = match name {
        "srv" => env!("CARGO_BIN_EXE_srv"),
        _ => env!("CARGO_BIN_EXE_cli"),
    };
    let mut cmd = Command::new(path);
    cmd.env_remove("NO_COLOR").env_remove("SELECT_CHAT_TRACE");
    cmd
}

/// A program on a terminal, killed if the test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The screen with the ports the kernel chose replaced by the walkthrough's: the
/// server's by 7777, the clients' by 50001 and 50002, in the order they joined.
fn normalise(screen: &str, port: u16, clients: &[String]) -> String {
    let mut out = screen.replace(&format!("port {port}"), "port 7777");
    for (k, addr) in clients.iter().enumerate() {
        out = out.replace(addr.as_str(), &format!("127.0.0.1:{}", 50001 + k));
    }
    format!("{out}\n")
}

/// The addresses in the server's join notices, in order.
fn joined(console: &str) -> Vec<String> {
    console
        .lines()
        .filter_map(|l| l.split("New user ").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_string)
        .collect()
}

/// The session of "Try it": a server and two clients, each on an 80x24 terminal.
/// The first says hello, the second answers; the first starts typing a reply while
/// the second leaves with an empty line; then Ctrl+C on the server.
#[test]
fn the_walkthroughs_session_is_what_the_screens_show() {
    let mut server = Pty::new(24, 80);
    let srv = Running(server.spawn(program("srv").args(["127.0.0.1", "0"])));
    server.expect_text("Chat Server started on port ");
    let port: u16 = server
        .text()
        .split("port ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .expect("the start line names the port");
    let port_arg = port.to_string();

    let mut first = Pty::new(24, 80);
    let one = Running(first.spawn(program("cli").args(["127.0.0.1", &port_arg])));
    first.expect_text("Connected to the chat server (1 user online)");
    first.expect_text("[You]:");
    let mut second = Pty::new(24, 80);
    let mut two = Running(second.spawn(program("cli").args(["127.0.0.1", &port_arg])));
    second.expect_text("Connected to the chat server (2 users online)");
    second.expect_text("[You]:");
    first.expect_text("(2 users online)");

    first.type_keys(b"hello\r");
    second.expect_text("]: hello");
    second.type_keys(b"hi, how are you?\r");
    first.expect_text("]: hi, how are you?");
    first.type_keys(b"fine, th");
    first.expect_text("[You]: fine, th");
    second.type_keys(b"\r");
    second.expect_text("You have been disconnected");
    assert!(wait_exit(&mut two.0, "the second client").success());
    first.expect_text("left (1 user online)\n[You]: fine, th");
    let typing = first.text();

    server.type_keys(b"\x03");
    let mut srv = srv;
    assert!(wait_exit(&mut srv.0, "the server").success());
    // Its last line, once the terminal has taken it (it may still be on its way).
    server.expect_text("KeyboardInterrupt");
    first.expect_text("You have been disconnected");
    let mut one = one;
    assert!(wait_exit(&mut one.0, "the first client").success());

    let clients = joined(&server.text());
    assert_eq!(clients.len(), 2, "{}", server.text());
    let shown = |text: &str| normalise(text, port, &clients);
    check_walkthrough_block("screen", "server", &shown(&server.text()));
    check_walkthrough_block("screen", "first client, typing", &shown(&typing));
    check_walkthrough_block("screen", "first client", &shown(&first.text()));
    check_walkthrough_block("screen", "second client", &shown(&second.text()));
}
