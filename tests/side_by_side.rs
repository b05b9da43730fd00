//! `side-by-side.sh` against the report's own programs: the script makes the
//! report's `srv.py` from the listings in its "Code" section, plays one difference
//! of the walkthrough against it and against our `srv` (the build under test), and
//! prints what a client of each received. These tests run a few cases and check
//! that each side shows what the walkthrough says it does.
//!
//! They need python3 and the report's markdown (`SELECT_CHAT_REPORT=FILE`), which
//! is not part of this repository, and CI has no copy of it: without either, each
//! test says so on stderr and passes. With them:
//! `SELECT_CHAT_REPORT=path/to/report.md cargo test --test side_by_side`.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// One case at a time: each starts two servers and their clients, and some of
/// what they show depends on timing.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long one run of the script may take (a case takes 15 s at most).
const LIMIT: Duration = Duration::from_secs(60);

/// What the script printed for the report's server and for ours.
struct Sides {
    report: String,
    ours: String,
}

/// Why these tests cannot run here, if they cannot.
fn missing() -> Option<&'static str> {
    if std::env::var_os("SELECT_CHAT_REPORT").is_none() {
        return Some("SELECT_CHAT_REPORT is not set (the report's markdown; see side-by-side.sh)");
    }
    let python = Command::new("python3").arg("--version").stdout(Stdio::null()).status();
    if !python.is_ok_and(|s| s.success()) {
        return Some("no python3 (the report's programs are Python)");
    }
    None
}

/// Everything `reader` yields, read on a thread of its own so that the script
/// never waits for us.
fn drain(mut reader: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child`, [`LIMIT`] at most; past that, SIGTERM (the script's trap
/// stops its servers and clients), then SIGKILL, and a panic.
fn wait_bounded(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > LIMIT {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let grace = Instant::now();
            while child.try_wait().expect("try_wait").is_none() {
                if grace.elapsed() > Duration::from_secs(5) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            panic!("{what} took more than {} s", LIMIT.as_secs());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `./side-by-side.sh N` with our binaries under test, split at the two
/// headings; `None` when python3 or the report is missing.
fn play(n: u32) -> Option<Sides> {
    if let Some(why) = missing() {
        eprintln!("skipped: {why}");
        return None;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/side-by-side.sh"))
        .arg(n.to_string())
        .env("SELECT_CHAT_SRV", env!("CARGO_BIN_EXE_srv"))
        .env("SELECT_CHAT_CLI", env!("CARGO_BIN_EXE_cli"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn side-by-side.sh");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_bounded(&mut child, &format!("side-by-side.sh {n}"));
    let (out, err) = (stdout.join().expect("stdout"), stderr.join().expect("stderr"));
    assert!(status.success(), "side-by-side.sh {n}: {status}\n{out}\n{err}");
    let (head, ours) = out.split_once("\nselect-chat's srv:\n").expect("our heading");
    let (_, report) = head.split_once("\nThe report's srv.py:\n").expect("the report's heading");
    Some(Sides { report: report.to_owned(), ours: ours.to_owned() })
}

/// How many lines of `text` contain `what`.
fn lines_with(text: &str, what: &str) -> usize {
    text.lines().filter(|l| l.contains(what)).count()
}

/// Difference 1: the report relays what one `recv` returned, so two lines sent
/// in one write arrive as one message (the second without its sender's name),
/// and a line sent in three writes as three messages; ours relays lines.
#[test]
fn one_write_of_two_lines_is_one_message_in_the_report_and_two_in_ours() {
    let Some(s) = play(1) else { return };
    assert!(s.report.contains("]: one\\n'"), "{}", s.report);
    assert!(s.report.contains("    'two\\n\\x1b[0m'"), "no nameless 'two' row:\n{}", s.report);
    for piece in ["th", "re", "e"] {
        assert!(s.report.contains(&format!("]: {piece}\\n\\x1b[0m'")), "{}", s.report);
    }
    for line in ["one", "two", "three"] {
        assert_eq!(lines_with(&s.ours, &format!("]: {line}\\n\\x1b[0m'")), 1, "{}", s.ours);
    }
    assert!(!s.ours.contains("]: th\\n"), "{}", s.ours);
    assert!(s.report.contains("srv.py is still running."), "{}", s.report);
    assert!(s.ours.contains("srv is still running."), "{}", s.ours);
}

/// Difference 2: after a client's end of stream the report relays empty
/// messages for ever, and a reset stops it (`getpeername` raises in its error
/// path); ours announces one leave, marks the reset ` (error) ` and goes on.
#[test]
fn the_report_floods_on_end_of_stream_and_stops_on_a_reset_ours_goes_on() {
    let Some(s) = play(2) else { return };
    assert!(
        s.report.contains("]: \\n\\x1b[0m'   (x "),
        "no flood of empty messages:\n{}",
        s.report
    );
    assert!(s.report.contains("A newcomer cannot connect"), "{}", s.report);
    assert!(s.report.contains("srv.py has stopped (exit status 1)"), "{}", s.report);
    assert!(s.report.contains("Transport endpoint is not connected"), "{}", s.report);
    assert_eq!(lines_with(&s.ours, " left ("), 2, "{}", s.ours);
    assert!(s.ours.contains("' (error) '"), "{}", s.ours);
    assert!(s.ours.contains("A newcomer is greeted."), "{}", s.ours);
    assert!(s.ours.contains("srv is still running."), "{}", s.ours);
}

/// Difference 8: the report passes escape sequences, a carriage return and a
/// bidi override to every client as they were sent, and drops a sender of
/// invalid UTF-8; ours shows them escaped and the bad bytes as U+FFFD.
#[test]
fn hostile_bytes_reach_the_reports_clients_and_reach_ours_inert() {
    let Some(s) = play(8) else { return };
    assert!(s.report.contains("]: \\x1b[2J\\x1b]0;owned\\x07hello\\n"), "{}", s.report);
    assert!(s.report.contains("abc\\rforged: \\u202eevil\\u200b!"), "{}", s.report);
    assert!(!s.report.contains("not UTF-8"), "{}", s.report);
    assert!(s.report.contains("' (error) '"), "{}", s.report);
    assert!(s.ours.contains("]: ^[[2J^[]0;owned^Ghello\\n"), "{}", s.ours);
    assert!(s.ours.contains("abc^Mforged: <U+202E>evil<U+200B>!"), "{}", s.ours);
    assert!(s.ours.contains("]: \u{fffd}\u{fffd} not UTF-8\\n"), "{}", s.ours);
    assert!(!s.ours.contains("\\x1b[2J") && !s.ours.contains("(error)"), "{}", s.ours);
}

/// Difference 15: the report colours its console and its messages even into a
/// file, whatever NO_COLOR says; ours, with NO_COLOR=1, writes plain text, and
/// our `cli`, its output in a file, drops even the report's colours.
#[test]
fn no_color_gives_plain_text_in_ours_and_the_report_colours_a_file() {
    let Some(s) = play(15) else { return };
    assert!(s.report.contains("| ^[[32mChat Server started on port "), "{}", s.report);
    assert!(s.report.contains("'\\x1b[35m\\x1b[1m\\r[127.0.0.1:"), "{}", s.report);
    assert!(s.report.contains("| ^[[0m^[[33m^[[1m[You]: "), "{}", s.report);
    assert!(s.ours.contains("| Chat Server started on port "), "{}", s.ours);
    assert!(s.ours.contains("'\\r[127.0.0.1:"), "{}", s.ours);
    assert!(s.ours.contains("]: hello, file"), "{}", s.ours);
    assert!(!s.ours.contains("\\x1b") && !s.ours.contains("^["), "colour in ours:\n{}", s.ours);
}
