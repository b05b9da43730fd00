//! `--trace`: the system calls of a scripted session, exactly. The walkthrough's
//! "Watching the calls" shows this very trace: the test compares it with the block
//! marked `<!-- trace: session -->` there, and fails when they differ
//! (`UPDATE_EXCERPTS=1` rewrites the block, like the code excerpts).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

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

/// The trace with the ports the kernel chose replaced by fixed ones: the server's
/// by 41234, the clients' by 50001, 50002... in order of appearance.
fn normalise(trace: &str, server: u16, clients: &[&str]) -> String {
    let mut out = trace.replace(&server.to_string(), "41234");
    for (k, addr) in clients.iter().enumerate() {
        let port = addr.rsplit(':').next().expect("port");
        out = out.replace(port, &format!("{}", 50001 + k));
    }
    out
}

/// The walkthrough's session: three raw clients on this machine (127.0.0.1, as a
/// student trying it alone would start them) join one after the other; the
/// first says "hi all"; the third leaves with an empty line and closes; the first
/// closes cleanly, the second with unread data (the kernel turns that close into a
/// reset); then Ctrl+C. Every call, exactly, in order.
#[test]
fn a_session_traces_every_call_in_order() {
    let mut srv = Srv::start_with(&["--trace", "127.0.0.1", "0"], |_| {});
    let here = std::net::Ipv4Addr::LOCALHOST;
    let mut a = Peer::join_from(&srv, 1, here);
    let mut b = Peer::join_from(&srv, 2, here);
    a.expect(&join_msg(&b.addr, 2));
    let mut c = Peer::join_from(&srv, 3, here);
    a.expect(&join_msg(&c.addr, 3));
    b.expect(&join_msg(&c.addr, 3));
    a.send(b"hi all\n");
    b.expect(&send_msg(&a.addr, "hi all"));
    c.expect(&send_msg(&a.addr, "hi all"));
    // c leaves: an empty line; the server shuts its side, then c closes too.
    c.send(b"\n");
    a.expect(&leave_msg(&c.addr, 2));
    b.expect(&leave_msg(&c.addr, 2));
    c.expect_closed();
    let c_addr = c.addr.clone();
    let fds = srv.open_fds();
    drop(c);
    // Once the server has closed c's socket too (a turn of its own in the trace).
    wait_until(|| "c's socket was never closed".into(), || srv.open_fds() < fds);
    // a closes cleanly: b hears it, and keeps it unread.
    let a_addr = a.addr.clone();
    a.half_close();
    a.expect_closed();
    drop(a);
    srv.expect_console(&leave_msg(&a_addr, 1));
    // b closes with that notice unread: a reset.
    let b_addr = b.addr.clone();
    drop(b);
    srv.expect_console(&error_leave_msg(&b_addr, 0));
    // Ctrl+C while the server waits in select: EINTR, then the pipe.
    std::thread::sleep(Duration::from_millis(200));
    srv.signal(libc::SIGINT);
    assert!(srv.wait_exit().success());
    let trace = srv.stderr_text();
    let trace = normalise(&trace, srv.port, &[&a_addr, &b_addr, &c_addr]);
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
