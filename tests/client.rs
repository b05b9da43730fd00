//! The `cli` binary: on a pseudo-terminal, where a terminal emulator (the `vt100`
//! crate) shows what a person would see (the line editor, colours, Ctrl+C, Ctrl+Z,
//! the terminal put back as it was); and through pipes (stdin EOF, a closed
//! stdout), against the real `srv` or a scripted server on a loopback socket.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::pty::{Pty, same_settings};
use common::*;

fn cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cli"));
    cmd.env_remove("NO_COLOR").env_remove("SELECT_CHAT_TRACE");
    cmd
}

/// Accept the client, with a read time-out on the connection.
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(false).expect("blocking");
    let (s, _) = listener.accept().expect("accept");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

/// `cli ARGS...` on an 80x24 terminal, as a person would run it.
fn on_terminal(args: &[&str], env: &[(&str, &str)]) -> (Pty, Child) {
    let mut term = Pty::new(24, 80);
    let child = term.spawn(cli().args(args).envs(env.iter().copied()));
    (term, child)
}

/// `cli 127.0.0.1 PORT` on a terminal, and the connection a scripted server
/// accepted from it.
fn on_terminal_with_fake_server(env: &[(&str, &str)]) -> (Pty, Child, TcpStream) {
    let (listener, port) = fake_server();
    let (term, child) = on_terminal(&["127.0.0.1", &port.to_string()], env);
    let conn = accept(&listener);
    (term, child, conn)
}

/// As [`on_terminal_with_fake_server`], once the server's greeting and the prompt
/// after it are on the screen (the report's client shows no prompt before).
fn greeted_on_terminal() -> (Pty, Child, TcpStream) {
    let (term, child, mut conn) = on_terminal_with_fake_server(&[]);
    conn.write_all(conn_msg(1).as_bytes()).expect("greet");
    term.expect_text("[You]:");
    (term, child, conn)
}

/// Read from `s` until `want` bytes came or the peer closed; returns what came.
fn read_upto(s: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// The last row of the screen that is not blank.
fn last_row(term: &Pty) -> String {
    term.rows().into_iter().rev().find(|r| !r.is_empty()).unwrap_or_default()
}

/// On a terminal: the server's notice, then the `[You]: ` prompt; a typed line
/// goes to the server; Ctrl+C sends the leave line, closes, and prints
/// `KeyboardInterrupt` (the report's `except KeyboardInterrupt`); the terminal is
/// as it was before.
#[test]
fn terminal_prompt_typing_and_ctrl_c() {
    let (mut term, mut child, mut conn) = on_terminal_with_fake_server(&[]);
    let before = term.initial();
    conn.write_all(conn_msg(1).as_bytes()).expect("greet");
    term.expect_text("Connected to the chat server (1 user online)\n[You]:");
    // The colours of the report: the notice blue and bold, the prompt yellow.
    term.expect_bytes("\x1b[34m\x1b[1m");
    term.expect_bytes("\x1b[33m\x1b[1m[You]: \x1b[0m");
    term.type_keys(b"hello there\r");
    assert_eq!(read_upto(&mut conn, 12), b"hello there\n");
    term.expect_text("[You]: hello there\n[You]:");
    term.type_keys(b"\x03");
    // The leave line, then end of stream.
    assert_eq!(read_upto(&mut conn, 100), b"\n");
    term.expect_text("KeyboardInterrupt");
    assert!(wait_exit(&mut child, "cli").success());
    assert!(same_settings(&before, &term.settings()), "the terminal was not put back");
}

/// On a terminal with NO_COLOR set, the prompt and the server's notices are plain.
#[test]
fn no_color_on_a_terminal_is_plain() {
    let (term, _child, mut conn) = on_terminal_with_fake_server(&[("NO_COLOR", "1")]);
    conn.write_all(conn_msg(1).as_bytes()).expect("greet");
    term.expect_text("Connected to the chat server (1 user online)\n[You]:");
    let written = term.bytes();
    assert!(!written.contains("\x1b[1m") && !written.contains("\x1b[3"), "{written:?}");
}

/// The first case of the issue: half a line typed when a message arrives. The
/// message shows above, and the prompt and the half line below, the cursor after
/// it; the rest typed after it, the line goes out whole.
#[test]
fn what_you_type_survives_a_message() {
    let srv = Srv::start();
    let mut peer = Peer::join(&srv, 1);
    let (mut term, _child) = on_terminal(&["127.0.0.1", &srv.port.to_string()], &[]);
    let me = peer.read_join_of_unknown(2);
    term.expect_text("[You]:");
    term.type_keys(b"this is a rather long sentence");
    term.expect_text("[You]: this is a rather long sentence");
    peer.send(b"hi\n");
    term.expect_text(&format!("[{}]: hi\n[You]: this is a rather long sentence", peer.addr));
    assert_eq!(last_row(&term), "[You]: this is a rather long sentence");
    let (row, col) = term.cursor();
    assert_eq!(col, 37, "the cursor is not after the half line");
    assert_eq!(term.rows()[usize::from(row)], last_row(&term));
    term.type_keys(b" that I am still typing\r");
    peer.expect(&send_msg(&me, "this is a rather long sentence that I am still typing"));
}

/// Backspace removes a whole character, however many bytes it has.
#[test]
fn backspace_removes_a_whole_character() {
    let srv = Srv::start();
    let mut peer = Peer::join(&srv, 1);
    let (mut term, _child) = on_terminal(&["127.0.0.1", &srv.port.to_string()], &[]);
    let me = peer.read_join_of_unknown(2);
    term.expect_text("[You]:");
    term.type_keys("añ日\u{1f600}".as_bytes());
    term.expect_text("[You]: añ日\u{1f600}");
    term.type_keys(b"\x7f\x7f");
    wait_until(|| format!("{:?}", last_row(&term)), || last_row(&term) == "[You]: añ");
    // The cursor: after "añ", two columns.
    assert_eq!(term.cursor().1, 9);
    term.type_keys(b"\r");
    peer.expect(&send_msg(&me, "añ"));
}

/// A 10,000-byte message, arriving in pieces: shown whole, no prompt inside it,
/// every row after its first indented; the prompt once, below it.
#[test]
fn a_long_message_has_no_prompt_inside() {
    let (term, _child, mut conn) = on_terminal_with_fake_server(&[]);
    let body = "w".repeat(10_000);
    let message = format!("\x1b[35m\x1b[1m\r[1.2.3.4:5]: {body}\n\x1b[0m");
    for piece in message.as_bytes().chunks(3000) {
        conn.write_all(piece).expect("send");
        thread::sleep(Duration::from_millis(50));
    }
    term.expect_text("[You]:");
    let text = term.bytes();
    let rows = term.rows();
    assert_eq!(text.matches("[You]: ").count(), 1, "a prompt inside the message");
    let last = rows.iter().rposition(|r| r.starts_with("[You]:")).expect("prompt");
    assert!(rows[..last].iter().all(|r| r.starts_with("  w") || r.is_empty()));
}

/// Padding a message to the terminal's width cannot start a row with a forged
/// `[addr]: `: the client wraps, and indents every row but a message's first.
#[test]
fn padding_cannot_forge_the_start_of_a_row() {
    let (term, _child, mut conn) = on_terminal_with_fake_server(&[]);
    let forged = format!("[6.6.6.6:6]: {}[1.2.3.4:5]: change of plan: room 101", " ".repeat(67));
    conn.write_all(format!("\x1b[35m\x1b[1m\r{forged}\n\x1b[0m").as_bytes()).expect("send");
    term.expect_text("change of plan");
    for row in term.rows() {
        assert!(!row.starts_with("[1.2.3.4:5]"), "a forged row: {row:?}");
    }
    assert!(term.text().contains("\n  [1.2.3.4:5]: change of plan"), "{}", term.text());
    // And the terminal does not wrap by itself while a message is drawn (a
    // terminal whose widths differ from ours overwrites a row's end instead).
    let bytes = term.bytes();
    let drawn = bytes.find("change of plan").expect("drawn");
    let off = bytes[..drawn].rfind("\x1b[?7l").expect("autowrap off before");
    let on = drawn + bytes[drawn..].find("\x1b[?7h").expect("autowrap on after");
    assert!(!bytes[off..on].contains("[You]"), "the prompt drawn without autowrap");
}

/// The same with wide characters as padding: after the 13 columns of
/// `[6.6.6.6:6]: `, 33 characters of two columns each and a letter fill the
/// 80-column row exactly, so the forged name starts the next row unless the
/// client counts each of them two columns wide, as the terminal draws them.
#[test]
fn wide_characters_cannot_forge_the_start_of_a_row() {
    for pad in ["\u{1f680}", "\u{2615}", "\u{a960}", "\u{1fa70}"] {
        let (term, _child, mut conn) = on_terminal_with_fake_server(&[]);
        let forged = format!(
            "[6.6.6.6:6]: {}x[1.2.3.4:5]: send the exam answers to mallory",
            pad.repeat(33)
        );
        conn.write_all(format!("\x1b[35m\x1b[1m\r{forged}\n\x1b[0m").as_bytes()).expect("send");
        term.expect_text("mallory");
        for row in term.rows() {
            assert!(!row.starts_with("[1.2.3.4:5]"), "{pad}: a forged row: {row:?}");
        }
    }
}

/// The report's ` (error) ` mark stays on the leave notice it belongs to (the
/// report's server sends it after the notice's newline).
#[test]
fn the_error_mark_stays_on_its_leave_notice() {
    let srv = Srv::start();
    let mut peer = Peer::join(&srv, 1);
    let (term, _child) = on_terminal(&["127.0.0.1", &srv.port.to_string()], &[]);
    let _ = peer.read_join_of_unknown(2);
    term.expect_text("[You]:");
    let addr = peer.addr.clone();
    peer.reset();
    term.expect_text(&format!("< The user {addr} left (1 user online) (error)\n[You]:"));
}

/// SIGTERM, and the server closing, each put the terminal back as it was.
#[test]
fn every_way_out_puts_the_terminal_back() {
    for how in ["SIGTERM", "server closes", "Ctrl+D"] {
        let (mut term, mut child, conn) = on_terminal_with_fake_server(&[]);
        let before = term.initial();
        let mut conn = conn;
        conn.write_all(conn_msg(1).as_bytes()).expect("greet");
        term.expect_text("[You]:");
        assert!(!same_settings(&before, &term.settings()), "{how}: not in raw mode");
        match how {
            "SIGTERM" => unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            },
            "server closes" => drop(conn),
            _ => {
                term.type_keys(b"\x04");
                thread::sleep(Duration::from_millis(100));
                drop(conn);
            }
        }
        assert!(wait_exit(&mut child, "cli").success(), "{how}");
        assert!(same_settings(&before, &term.settings()), "{how}: the terminal was not put back");
    }
}

/// Ctrl+Z suspends with the terminal put back; `fg` (SIGCONT) resumes in raw mode
/// with the prompt and the half-typed line drawn again.
#[test]
fn ctrl_z_and_fg_redraw_the_line() {
    let (mut term, child, mut conn) = on_terminal_with_fake_server(&[]);
    let before = term.initial();
    conn.write_all(conn_msg(1).as_bytes()).expect("greet");
    term.expect_text("[You]:");
    term.type_keys(b"half");
    term.expect_text("[You]: half");
    term.type_keys(b"\x1a");
    let pid = child.id() as i32;
    wait_until(|| format!("not stopped: {}", process_state(pid)), || process_state(pid) == "T");
    assert!(same_settings(&before, &term.settings()), "suspended in raw mode");
    unsafe { libc::kill(pid, libc::SIGCONT) };
    wait_until(|| "not in raw mode again".into(), || !same_settings(&before, &term.settings()));
    wait_until(
        || format!("no redraw: {:?}", term.rows()),
        || term.rows().iter().filter(|r| r.as_str() == "[You]: half").count() == 2,
    );
    let mut child = child;
    let _ = child.kill();
}

/// The state letter of a process in /proc (`T`: stopped).
fn process_state(pid: i32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).unwrap_or("").to_string()
}

/// A resize (SIGWINCH) redraws the line for the new width.
#[test]
fn a_resize_redraws_for_the_new_width() {
    let (mut term, _child, _conn) = greeted_on_terminal();
    term.type_keys("0123456789".repeat(6).as_bytes());
    term.expect_text("[You]: 0123456789");
    term.resize(24, 40);
    // 40 columns: the prompt, 32 characters of the end of the line, the cursor.
    wait_until(
        || format!("not redrawn: {:?}", last_row(&term)),
        || {
            last_row(&term).ends_with(
                "8901234567890123456789012345678901234567890123456789"[20..].as_ref() as &str,
            ) && last_row(&term).len() <= 40
        },
    );
}

/// A server's SGR codes other than colour and bold (here conceal, which could hide
/// the prompt) never reach the terminal: they are shown as text.
#[test]
fn only_colour_and_bold_pass_from_a_server() {
    let (term, _child, mut conn) = on_terminal_with_fake_server(&[]);
    conn.write_all(b"\x1b[31m\x1b[8mhidden\x1b[5mblink\x1b[0m\n").expect("send");
    term.expect_text("^[[8mhidden^[[5mblink");
    let written = term.bytes();
    assert!(written.contains("\x1b[31m"), "colour dropped: {written:?}");
    assert!(!written.contains("\x1b[8m") && !written.contains("\x1b[5m"), "{written:?}");
}

/// `--no-editor` on a terminal: the report's way, the terminal in its own mode,
/// a prompt after each message, and Ctrl+Z stops the client (SIGTSTP's default
/// action; a handler kept it running before).
#[test]
fn no_editor_is_the_reports_way() {
    let (listener, port) = fake_server();
    let mut term = Pty::new(24, 80);
    let (mut shell, pid) =
        term.spawn_job(cli().args(["--no-editor", "127.0.0.1", &port.to_string()]));
    let before = term.initial();
    let mut conn = accept(&listener);
    conn.write_all(b"\rhello\n").expect("send");
    term.expect_bytes("\rhello\r\n\x1b[33m\x1b[1m[You]: \x1b[0m");
    assert!(same_settings(&before, &term.settings()), "raw mode with --no-editor");
    // Ctrl+Z is the terminal's: SIGTSTP, default action, the client stops.
    term.type_keys(b"\x1a");
    wait_until(
        || format!("Ctrl+Z did not stop it: {}", process_state(pid)),
        || process_state(pid) == "T",
    );
    unsafe { libc::kill(pid, libc::SIGCONT) };
    wait_until(
        || format!("not running again: {}", process_state(pid)),
        || process_state(pid) != "T",
    );
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = shell.wait();
}

/// Difference 8 (client input): every line of a piped block is sent (the report's
/// `readline` would keep all but the first in Python's buffer), an unfinished last
/// line too; at EOF the client leaves and exits 0 when the server closes.
#[test]
fn piped_stdin_sends_every_line_then_leaves() {
    let srv = Srv::start();
    let mut observer = Peer::join(&srv, 1);
    let mut child = spawn_cli(srv.port, Stdio::piped());
    let addr = observer.read_join_of_unknown(2);
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"first\nsecond\nthird").expect("write");
    drop(stdin);
    observer.expect(&send_msg(&addr, "first"));
    observer.expect(&send_msg(&addr, "second"));
    observer.expect(&send_msg(&addr, "third"));
    observer.expect(&leave_msg(&addr, 1));
    let out = wait_output(child);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Not a terminal: no colour, the server's included. The greeting and the
    // prompt after the typed block may come in either order (the cli can read
    // its stdin before the greeting arrives), so look for the greeting anywhere.
    assert_plain_disconnect(&stdout, "");
    assert!(
        stdout.contains("\rConnected to the chat server (2 users online)\n[You]: "),
        "{stdout:?}"
    );
}

/// SIGTERM (or Ctrl+C) while typed lines wait for a server that never reads:
/// they go with the socket, and the client's last word says how many. Plain
/// mode drops no line (it stops reading stdin instead), so this count is the
/// only word about them.
#[test]
fn lines_still_waiting_at_the_end_are_counted() {
    let (listener, port) = fake_server();
    let mut child = cli()
        .args(["--trace", "127.0.0.1", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cli");
    let mut conn = accept(&listener);
    conn.write_all(conn_msg(1).as_bytes()).expect("greet");
    // Lines typed as fast as the client takes them, until it is gone.
    let mut stdin = child.stdin.take().expect("stdin");
    thread::spawn(
        move || while stdin.write_all(format!("{}\n", "p".repeat(99)).as_bytes()).is_ok() {},
    );
    let mut stdout = child.stdout.take().expect("stdout");
    let shown = thread::spawn(move || {
        let mut got = Vec::new();
        let _ = stdout.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    });
    let (trace, lines) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    thread::spawn(move || {
        use std::io::BufRead;
        for line in stderr.lines().map_while(Result::ok) {
            let _ = trace.send(line);
        }
    });
    // Wait until the client has stopped reading stdin for good (its outbox is
    // full, and the kernel's buffers too): for three rounds of 100 ms, every
    // wait of its loop leaves fd 0 out of its read set (the connect's select
    // has an empty read set; a full outbox the kernel then takes is a moment
    // among selects that read). A message from the server in each round wakes
    // the select, so that the trace shows it.
    let deadline = Instant::now() + WAIT;
    let paused = |line: &str| {
        // The wait's line: `select(nfds=5, read={3,4}, ...)` (or `poll(read=...`
        // once exercise 3 is done); its first set is the one it asked for.
        let (call, rest) = line.split_once("read={")?;
        let set = rest.split('}').next()?;
        (!call.contains('"') && !set.is_empty()).then(|| !set.split(',').any(|fd| fd == "0"))
    };
    let mut rounds = 0;
    while rounds < 3 {
        assert!(Instant::now() < deadline, "the client never stopped reading stdin");
        conn.write_all(b"wake up\n").expect("wake");
        thread::sleep(Duration::from_millis(100));
        let selects: Vec<bool> = lines.try_iter().filter_map(|line| paused(&line)).collect();
        rounds = match !selects.is_empty() && selects.iter().all(|&p| p) {
            true => rounds + 1,
            false => 0,
        };
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut child, "cli");
    assert!(status.success(), "{status:?}");
    let shown = shown.join().expect("stdout");
    let last = shown.rsplit("\r< ").next().unwrap_or_default();
    assert!(
        last.starts_with("In all, ") && last.contains(" typed lines were not sent"),
        "{last:?}"
    );
}

/// The report's connect error line, exit 1, and the reason on stderr.
#[test]
fn refused_connection_prints_the_reports_line() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = cli()
        .args(["127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run cli");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "\r You can not connect to the server, check IP and host \n\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Connection refused") && stderr.contains("127.0.0.1"), "{stderr:?}");
}

/// A server that sends control sequences it should not (the report's `srv.py`
/// relays them from any client) cannot drive our terminal: only colour passes.
#[test]
fn escape_sequences_from_the_server_are_shown_inert() {
    let (term, _child, mut conn) = on_terminal_with_fake_server(&[]);
    conn.write_all(b"\x1b[35m\x1b[1m\r[1.2.3.4:5]: \x1b[2J\x1b]52;c;aGk=\x07gotcha\n\x1b[0m")
        .expect("send");
    term.expect_text("[1.2.3.4:5]: ^[[2J^[]52;c;aGk=^Ggotcha");
    assert!(term.bytes().contains("\x1b[35m\x1b[1m[1.2.3.4:5]: ^[[2J"));
}

/// The server going away: the report's "You have been disconnected", exit 0.
#[test]
fn server_going_away_is_reported() {
    let (listener, port) = fake_server();
    let child = spawn_cli(port, Stdio::piped());
    let conn = accept(&listener);
    drop(conn);
    let out = wait_output(child);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "\r< You have been disconnected \n\n");
}

/// `cli ... | head -1`: when stdout goes away the client leaves the room and exits
/// quietly, without a panic.
#[test]
fn closed_stdout_leaves_the_room_quietly() {
    let srv = Srv::start();
    let mut observer = Peer::join(&srv, 1);
    let mut child = spawn_cli(srv.port, Stdio::piped());
    drop(child.stdout.take());
    let addr = observer.read_join_of_unknown(2);
    // Another test's child, forked but not yet exec'd, may briefly hold a copy of
    // the pipe's read end, so the cli's first write can still succeed. Keep
    // giving it something to print until a write fails and it leaves.
    observer.stream.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let want = leave_msg(&addr, 1);
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + WAIT;
    while !got.ends_with(want.as_bytes()) {
        assert!(
            Instant::now() < deadline,
            "the cli never left; got {:?}",
            String::from_utf8_lossy(&got)
        );
        observer.send(b"anyone reading?\n");
        if let Ok(n) = observer.stream.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    let out = wait_output(child);
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

/// Wrong arguments: one line naming the mistake, the usage, exit 2; `--help`
/// and `--version` answer on stdout.
#[test]
fn command_lines_are_checked() {
    for (bin, args, code, needle) in [
        (env!("CARGO_BIN_EXE_cli"), &[][..], 2, "missing <host> and <port>"),
        (env!("CARGO_BIN_EXE_cli"), &["localhost", "0"][..], 2, "invalid port '0'"),
        (env!("CARGO_BIN_EXE_srv"), &["127.0.0.1", "seven"][..], 2, "invalid port 'seven'"),
        (env!("CARGO_BIN_EXE_srv"), &["127.0.0.1"][..], 2, "missing <port>"),
        (env!("CARGO_BIN_EXE_srv"), &["--bogus", "h", "1"][..], 2, "unknown option '--bogus'"),
    ] {
        let out = Command::new(bin).args(args).stdin(Stdio::null()).output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{bin} {args:?}: {stderr}");
        assert!(stderr.contains(needle) && stderr.contains("usage:"), "{bin} {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
    for bin in [env!("CARGO_BIN_EXE_cli"), env!("CARGO_BIN_EXE_srv")] {
        let help = Command::new(bin).arg("--help").output().expect("run");
        assert!(
            help.status.success() && String::from_utf8_lossy(&help.stdout).starts_with("usage:")
        );
        let version = Command::new(bin).arg("--version").output().expect("run");
        assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
}

/// Difference 9: a port in use is one clear line and exit 1, not a traceback.
#[test]
fn server_start_errors_are_one_clear_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_srv"))
        .args(["127.0.0.1", &port])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("Address already in use") && stderr.contains(&port), "{stderr}");
}

/// `--trace` on a terminal: calls dim, errors red; with NO_COLOR, plain.
#[test]
fn trace_on_a_terminal_is_coloured_unless_no_color() {
    let (listener, port) = fake_server();
    let port = port.to_string();
    let (term, _child) = on_terminal(&["--trace", "127.0.0.1", &port], &[]);
    let _conn = accept(&listener);
    term.expect_bytes("\x1b[2msocket(AF_INET, SOCK_STREAM) = 3\x1b[0m\r\n");
    let (listener, port) = fake_server();
    let port = port.to_string();
    let (term, _child) = on_terminal(&["--trace", "127.0.0.1", &port], &[("NO_COLOR", "1")]);
    let _conn = accept(&listener);
    term.expect_bytes("\nsocket(AF_INET, SOCK_STREAM) = 3\r\n");
    // An error in red: connect on a port nobody listens on says EINPROGRESS (or,
    // at once, ECONNREFUSED).
    drop(listener);
    let closed = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
        .to_string();
    let (term, _child) = on_terminal(&["--trace", "127.0.0.1", &closed], &[]);
    term.expect_bytes("\x1b[0m\x1b[31m = -1 E");
}
