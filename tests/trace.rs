//! `--trace`: the system calls of a scripted session, exactly. The walkthrough's
//! "Watching the calls" shows this very trace: the test compares it with the block
//! marked `<!-- trace: session -->` there, and fails when they differ
//! (`UPDATE_EXCERPTS=1` rewrites the block, like the code excerpts).

mod common;

use std::process::{Command, Stdio};

use common::*;

/// `(call, first argument)` of each trace line, e.g. `("accept4", "3")`.
fn calls(trace: &str) -> Vec<(String, String)> {
    trace
        .lines()
        .map(|line| {
            let (name, rest) =
                line.split_once('(').unwrap_or_else(|| panic!("not a trace line: {line:?}"));
            let arg = rest.split([',', ')']).next().unwrap_or("").to_string();
            (name.to_string(), arg)
        })
        .collect()
}

/// The walkthrough's session ([`traced_session`]): every call, exactly, in order.
#[test]
fn a_session_traces_every_call_in_order() {
    let trace = traced_session();
    // What the story needs, whatever the walkthrough says.
    let got = calls(&trace);
    let count = |name: &str| got.iter().filter(|(c, _)| c == name).count();
    assert_eq!(count("accept4"), 6, "three accepts and three EAGAINs:\n{trace}");
    assert!(trace.contains("recv(9, 4096) = 1  \"\\n\"\n"), "{trace}");
    assert!(trace.contains("shutdown(9, SHUT_WR) = 0\n"), "{trace}");
    assert!(trace.contains("recv(7, 4096) = 0\n"), "{trace}");
    assert!(
        trace.contains("recv(8, 4096) = -1 ECONNRESET (Connection reset by peer)\n"),
        "{trace}"
    );
    assert!(trace.contains("= -1 EINTR (Interrupted system call)\n"), "{trace}");
    assert!(trace.contains("setsockopt(7, SOL_SOCKET, SO_SNDBUF, 65536) = 0\n"), "{trace}");
    assert!(trace.contains("listen(3, 511) = 0\n"), "{trace}");
    check_walkthrough_block("trace", "session", &trace);
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
    // stderr of its own; colour? editor? (stdout and stdin are no terminals);
    // stdout of its own; then the connect.
    let stdio = ["fstat", "open", "dup2", "close"];
    assert_eq!(&got[..4], stdio, "{trace}");
    assert_eq!(&got[4..6], ["isatty", "isatty"], "{trace}");
    assert_eq!(&got[6..10], stdio, "{trace}");
    assert_eq!(&got[10..13], ["socket", "fcntl", "fcntl"], "{trace}");
    assert_eq!(got[13], "connect", "{trace}");
    if trace.contains("EINPROGRESS") {
        assert_eq!(&got[14..16], ["select", "getsockopt"], "{trace}");
    }
    // stdin is empty: it leaves with an empty line, then the server closes.
    assert!(trace.contains("read(0, 4096) = 0\n"), "{trace}");
    assert!(trace.contains("send(3, 1 bytes, MSG_NOSIGNAL) = 1  \"\\n\"\n"), "{trace}");
    assert!(trace.contains("recv(3, 4096) = 0\n"), "{trace}");
    assert!(
        trace.trim_end().ends_with("close(3) = 0"),
        "the socket is closed last, after the last words: {trace}"
    );
}
