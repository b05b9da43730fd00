//! `--trace`: the exact sequence of system calls of a scripted session, by name
//! and fd (not by timing, sizes or ports).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// `(call, first argument)` of each trace line, e.g. `("accept", "3")`.
fn calls(trace: &str) -> Vec<(String, String)> {
    trace
        .lines()
        .map(|line| {
            let (name, rest) = line
                .split_once('(')
                .unwrap_or_else(|| panic!("not a trace line: {line:?}"));
            let arg = rest.split([',', ')']).next().unwrap_or("").to_string();
            (name.to_string(), arg)
        })
        .collect()
}

fn expect(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Start-up, two clients joining, one message, one leave, Ctrl+C: every call, in
/// order. The fds are the ones a fresh process gets: 3 the listener, 4 and 5 the
/// signal pipe, 6 the spare fd, 7 and 8 the clients.
#[test]
fn a_session_traces_every_call_in_order() {
    let mut srv = Srv::start_with(&["--trace", "127.0.0.1", "0"], |_| {});
    let mut a = Peer::join(&srv, 1);
    let mut b = Peer::join(&srv, 2);
    a.expect(&join_msg(&b.addr, 2));
    srv.expect_console(&format!("{}\n", join_msg(&b.addr, 2)));
    b.send(b"hello\n");
    a.expect(&send_msg(&b.addr, "hello"));
    srv.expect_console("hello");
    b.send(b"\n");
    a.expect(&leave_msg(&b.addr, 1));
    srv.expect_console(&leave_msg(&b.addr, 1));
    std::thread::sleep(Duration::from_millis(100));
    srv.signal(libc::SIGINT);
    a.expect_closed();
    assert!(srv.wait_exit().success());
    let trace = srv.stderr_text();
    let mut got = calls(&trace);
    // The signal may land in select (EINTR, then select again) or just before it.
    let interrupted = trace.contains("= -1 EINTR (Interrupted system call)");
    let want = expect(&[
        // Start-up: stderr and stdout of our own (stdio::init), open_listener,
        // SelfPipe::install, run.
        ("fstat", "2"),
        ("open", "\"/proc/self/fd/2\""),
        ("dup2", "3"),
        ("close", "3"),
        ("fstat", "1"),
        ("open", "\"/proc/self/fd/1\""),
        ("dup2", "3"),
        ("close", "3"),
        ("socket", "AF_INET"),
        ("setsockopt", "3"),
        ("bind", "3"),
        ("listen", "3"),
        ("fcntl", "3"),
        ("fcntl", "3"),
        ("pipe2", "O_NONBLOCK|O_CLOEXEC"),
        ("sigaction", "SIGINT"),
        ("sigaction", "SIGTERM"),
        ("sigaction", "SIGPIPE"),
        ("sigaction", "SIGUSR1"),
        ("sigaction", "SIGUSR2"),
        ("getsockname", "3"),
        ("open", "\"/dev/null\""),
        ("write", "1"),
        // a joins: accept until EAGAIN, greet, print.
        ("select", "nfds=5"),
        ("accept4", "3"),
        ("getpeername", "7"),
        ("setsockopt", "7"),
        ("setsockopt", "7"),
        ("accept4", "3"),
        ("send", "7"),
        ("write", "1"),
        // b joins: a hears the join, b the greeting.
        ("select", "nfds=8"),
        ("accept4", "3"),
        ("getpeername", "8"),
        ("setsockopt", "8"),
        ("setsockopt", "8"),
        ("accept4", "3"),
        ("send", "7"),
        ("send", "8"),
        ("write", "1"),
        // b says hello.
        ("select", "nfds=9"),
        ("recv", "8"),
        ("send", "7"),
        ("write", "1"),
        // b leaves: a hears it; b's side is shut (FIN) but kept open to read,
        // until b closes too (the lingering close).
        ("select", "nfds=9"),
        ("recv", "8"),
        ("send", "7"),
        ("shutdown", "8"),
        ("write", "1"),
        // Ctrl+C: the pipe wakes select; drain it; close everyone.
        ("select", "nfds=9"),
        ("read", "4"),
        ("read", "4"),
        ("close", "7"),
        ("close", "8"),
        ("close", "3"),
        ("close", "6"),
        ("write", "1"),
        ("close", "4"),
        ("close", "5"),
    ]);
    if interrupted {
        let at = got
            .iter()
            .rposition(|(c, _)| c == "select")
            .expect("select");
        assert_eq!(
            got[at - 1].0,
            "select",
            "EINTR must be followed by select:\n{trace}"
        );
        got.remove(at - 1);
    }
    assert_eq!(got, want, "\nfull trace:\n{trace}");
    // A few lines in full: results, errno names, sets and previews.
    assert!(trace.contains("listen(3, 511) = 0\n"), "{trace}");
    assert!(
        trace.contains(
            "accept4(3, SOCK_NONBLOCK|SOCK_CLOEXEC) = -1 EAGAIN (Resource temporarily unavailable)\n"
        ),
        "{trace}"
    );
    assert!(
        trace.contains("select(nfds=9, read={3,4,7,8}, write={}) = 1  ready: read={8} write={}\n"),
        "{trace}"
    );
    assert!(
        trace.contains("recv(8, 4096) = 6  \"hello\\n\"\n"),
        "{trace}"
    );
    assert!(
        trace.contains("setsockopt(7, SOL_SOCKET, SO_SNDBUF, 65536) = 0\n"),
        "{trace}"
    );
}

/// Without `--trace` (and without SELECT_CHAT_TRACE) nothing is traced.
#[test]
fn no_trace_by_default() {
    let mut srv = Srv::start_with(&["127.0.0.1", "0"], |cmd| {
        cmd.env_remove("SELECT_CHAT_TRACE");
    });
    let _a = Peer::join(&srv, 1);
    srv.signal(libc::SIGTERM);
    assert!(srv.wait_exit().success());
    assert_eq!(srv.stderr_text(), "");
}

/// `SELECT_CHAT_TRACE=1` turns tracing on too, for the client as well: its
/// non-blocking connect shows socket, fcntl, connect (EINPROGRESS or 0), and then
/// `select` for writability and `getsockopt(SO_ERROR)` if it had to wait.
#[test]
fn the_client_traces_its_connect() {
    let srv = Srv::start();
    let out = Command::new(env!("CARGO_BIN_EXE_cli"))
        .args(["127.0.0.1", &srv.port.to_string()])
        .env("SELECT_CHAT_TRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run cli");
    assert!(out.status.success());
    let trace = String::from_utf8_lossy(&out.stderr).into_owned();
    let got: Vec<String> = calls(&trace).into_iter().map(|(c, _)| c).collect();
    // isatty for the colour choice, stderr and stdout of our own, then the connect.
    let stdio = ["fstat", "open", "dup2", "close"];
    assert_eq!(got[0], "isatty", "{trace}");
    assert_eq!(&got[1..9], [stdio, stdio].concat(), "{trace}");
    assert_eq!(&got[9..12], ["socket", "fcntl", "fcntl"], "{trace}");
    assert_eq!(got[12], "connect", "{trace}");
    if trace.contains("EINPROGRESS") {
        assert_eq!(&got[13..15], ["select", "getsockopt"], "{trace}");
    }
    // stdin is empty: it leaves with an empty line, then the server closes.
    assert!(trace.contains("read(0, 4096) = 0\n"), "{trace}");
    assert!(
        trace.contains("send(3, 1 bytes, MSG_NOSIGNAL) = 1  \"\\n\"\n"),
        "{trace}"
    );
    assert!(trace.contains("recv(3, 4096) = 0\n"), "{trace}");
    assert!(
        trace
            .trim_end()
            .ends_with("close(3) = 0\nclose(4) = 0\nclose(5) = 0"),
        "the socket is closed after the last words, then the signal pipe: {trace}"
    );
}
