#!/usr/bin/env bash
# Side by side: play one difference of docs/differences.md against the report's
# srv.py and select-chat's srv at once, the same clients against both, and print
# what a client of each received.
#
#   ./side-by-side.sh                       list the cases
#   ./side-by-side.sh [--report FILE] N     play difference N
#
# The report's programs are made from the Python listings of its "Code" section,
# as docs/differences.md tells (imports and the main() call added, tabs expanded), in
# a temporary directory that is removed at the end. The report is not part of
# this repository: give its markdown file with --report FILE, or set
# SELECT_CHAT_REPORT=FILE. Needs python3 (the report's language; the clients
# below are Python too). Every server and client is started on 127.0.0.1 or ::1,
# on free ports, and stopped before the script ends, whichever way it ends.
# SELECT_CHAT_SRV and SELECT_CHAT_CLI name other builds of ours to play
# (default: target/release/srv and cli, built if needed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# The differences, by number, as docs/differences.md names them.
titles=(""
    "Lines, not recv calls"
    "End of stream, resets, and removal during a loop"
    "Writes never block the room"
    "A reader is judged by how far behind it is"
    "A speaker goes at its host's pace"
    "Past FD_SETSIZE, and out of fds"
    "A class joining at once"
    "Hostile bytes"
    "Signals"
    "The server's own console and log"
    "Leaving politely: the lingering close"
    "Client input and connect"
    "The client's screen: a line editor"
    "Addresses and errors"
    "Colour"
    "Nagle's algorithm"
    "One host cannot take the room")
last=17

# What each case plays; empty for those that cannot be shown this way.
shows=(""
    "two lines in one write, one line in three writes"
    "a client closes after reading; one resets (closes without reading)"
    "one client never reads, one floods, then a quiet line (about 7 s)"
    "a client that never reads, in a room that talks (about 15 s)"
    ""
    "1,100 connections (ulimit -n 2048), then ulimit -n 16 (about 10 s)"
    "200 connections at once (about 7 s)"
    "escape sequences, a carriage return, bidi, invalid UTF-8"
    "SIGUSR1, then SIGTERM, to the server"
    "the server's stdout into a pipe nobody reads, then SIGINT (about 8 s)"
    "a leaver owed 300 KB sends one more line"
    "three lines piped into each one's own client, then end of stdin"
    ""
    "a port that is not a number, IPv6, a port in use"
    "consoles into files, NO_COLOR=1; each one's client into a file"
    ""
    "20 connections from one address, then a connect-and-leave loop")

# Why the others are not played here.
declare -A why_not=(
    [5]="the pace is per host, and what it buys is that a flood from one host does not slow the others; here every client is one host (127.0.0.1, the report listens on IPv4 only): cargo bench --bench fanout -- --fairness --clients 100"
    [13]="the line editor needs a person at a terminal (tests/client.rs drives it through a pseudo-terminal)"
    [16]="Nagle's delay shows only as latency under load; the setsockopt(..., TCP_NODELAY, 1) of every join shows in srv --trace (chapter 5)"
)

list_cases() {
    local i
    echo "usage: ./side-by-side.sh [--report FILE] N"
    echo
    echo "Plays difference N of docs/differences.md against the report's srv.py and"
    echo "select-chat's srv, and prints what a client of each received. The report's"
    echo "markdown: --report FILE, or SELECT_CHAT_REPORT=FILE."
    echo
    echo "Cases:"
    for i in $(seq "$last"); do
        if [ -n "${shows[$i]}" ]; then
            printf '  %2d  %s\n' "$i" "${titles[$i]}"
            fold -s -w 68 <<<"${shows[$i]}" | sed 's/ *$//; s/^/      /'
        fi
    done
    echo
    echo "Not shown this way:"
    for i in $(seq "$last"); do
        if [ -z "${shows[$i]}" ]; then
            printf '  %2d  %s\n' "$i" "${titles[$i]}"
            fold -s -w 68 <<<"${why_not[$i]}" | sed 's/ *$//; s/^/      /'
        fi
    done
}

fail() {
    echo "side-by-side.sh: $*" >&2
    exit 2
}

report=${SELECT_CHAT_REPORT:-}
n=
while [ $# -gt 0 ]; do
    case $1 in
        --report)
            [ $# -ge 2 ] || fail "--report needs a file"
            report=$2
            shift 2
            ;;
        --report=*)
            report=${1#--report=}
            shift
            ;;
        -h | --help)
            list_cases
            exit 0
            ;;
        -*) fail "unknown option '$1' (./side-by-side.sh alone lists the cases)" ;;
        *)
            [ -z "$n" ] || fail "one case at a time"
            n=$1
            shift
            ;;
    esac
done
if [ -z "$n" ]; then
    list_cases
    exit 0
fi
case $n in
    [1-9] | 1[0-7]) ;;
    *) fail "no difference '$n': they are numbered 1 to $last (./side-by-side.sh lists them)" ;;
esac
if [ -z "${shows[$n]}" ]; then
    fail "difference $n (${titles[$n]}) is not shown this way: ${why_not[$n]}"
fi
if ! command -v python3 >/dev/null; then
    fail "needs python3: the report's programs are Python, and so are the clients played here"
fi
if [ -z "$report" ]; then
    cat >&2 <<'EOF'
side-by-side.sh: needs the report. Its srv.py and cli.py are made from the Python
listings in the "Code" section of the report's markdown file ("Computer Network
Project 1"), which is not part of this repository: get it where you got this
project (your course's page), save it anywhere, then either
    ./side-by-side.sh --report path/to/report.md N
or
    export SELECT_CHAT_REPORT=path/to/report.md
EOF
    exit 2
fi
[ -r "$report" ] || fail "cannot read the report '$report'"

# absolute PATH: PATH, relative to where the script was started.
absolute() {
    case $1 in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$PWD" "$1" ;;
    esac
}
report=$(absolute "$report")

# Our binaries: the ones named, or this checkout's release build (cargo only
# rebuilds what changed; the build's own messages only if it fails).
if [ -n "${SELECT_CHAT_SRV:-}${SELECT_CHAT_CLI:-}" ]; then
    srv=$(absolute "${SELECT_CHAT_SRV:-$here/target/release/srv}")
    cli=$(absolute "${SELECT_CHAT_CLI:-$here/target/release/cli}")
else
    srv=$here/target/release/srv
    cli=$here/target/release/cli
    if command -v cargo >/dev/null; then
        (cd "$here" && cargo build --release --bins --quiet) || fail "cargo build --release failed"
    fi
fi
[ -x "$srv" ] && [ -x "$cli" ] || fail "no $srv or $cli: build them with cargo build --release --bins"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/side-by-side.XXXXXX")
declare -A pid=() port=() out=()
clients=()

# Is process $1 running (a zombie, dead but not yet reaped, is not)?
running() {
    local state
    state=$(sed -n 's/^.*) \([A-Za-z]\) .*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# stop PID [group]: SIGTERM (to its process group with "group"), SIGKILL after
# 2 s; then reap it. Only processes this script started get here.
stop() {
    local p=$1 target=$1 i
    [ -n "$p" ] || return 0
    [ "${2:-}" = group ] && target=-$1
    kill -TERM -- "$target" 2>/dev/null || true
    for i in $(seq 20); do
        running "$p" || break
        sleep 0.1
    done
    if running "$p"; then
        kill -KILL -- "$target" 2>/dev/null || true
    fi
    [ "${2:-}" = group ] && kill -KILL -- "$target" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

stop_servers() {
    stop "${pid[report]:-}"
    stop "${pid[ours]:-}"
    pid=()
    exec 7>&- 8>&-
}

cleanup() {
    local p
    for p in "${clients[@]}"; do
        stop "$p" group
    done
    stop_servers
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# The helper: makes the report's programs, starts servers, plays the clients.
cat >"$tmp/sbs.py" <<'PYTHON'
"""side-by-side.sh's helper: make the report's programs from its listings, start
a server, and play the clients of each case against one server."""

import os
import re
import resource
import selectors
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
ENV = os.environ
SIDE = ENV.get("SIDE", "")
PORT = int(ENV.get("PORT", "0"))
PID = int(ENV.get("PID", "0"))
NAME = "srv.py" if SIDE == "report" else "srv"
CLI_NAME = "the report's cli.py" if SIDE == "report" else "select-chat's cli"


def die(msg):
    print(f"side-by-side.sh: {msg}", file=sys.stderr)
    sys.exit(2)


# ---- The report's programs ----------------------------------------------------


def assemble(report, outdir):
    """srv.py and cli.py from the fenced blocks under "## Code", in order, each
    under its "### NAME.py" heading; what the listings leave out is added."""
    text = open(report, encoding="utf-8").read()
    code = re.search(r"^## +Code\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    if not code:
        die(f'no "## Code" section in {report}: is it the report?')
    files, current = {}, None
    for part in re.split(r"^(### .*)$", code.group(1), flags=re.M):
        heading = re.match(r"### +(\w+\.py)\s*$", part)
        if heading:
            current = files.setdefault(heading.group(1), [])
        elif current is not None:
            current.extend(re.findall(r"^```[^\n]*\n(.*?)^```", part, re.M | re.S))
    for name in ("srv.py", "cli.py"):
        if not files.get(name):
            die(f'no listing of {name} under "## Code" in {report}')
        # cli.py indents with tabs in some listings and two spaces in others.
        body = "\n".join(files[name]).expandtabs(2)
        source = (
            "# Made by side-by-side.sh from the report's listings: the imports and\n"
            "# the call of main() added, tabs expanded to two spaces.\n"
            "import socket, select, sys\n\n" + body + '\n\nif __name__ == "__main__":\n    main()\n'
        )
        try:
            compile(source, name, "exec")
        except SyntaxError as e:
            die(f"the {name} made from {report} is not valid Python: {e}")
        with open(os.path.join(outdir, name), "w", encoding="utf-8") as f:
            f.write(source)


def free_port(host=HOST):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def launch(args):
    """exec [--nofile N] [--env K=V] [--unset K] -- COMMAND...: COMMAND in this
    process, with SIGINT back to its default (a script's background job starts
    with it ignored, and Python would then not turn it into KeyboardInterrupt)."""
    env = dict(os.environ)
    while args and args[0] != "--":
        opt = args.pop(0)
        if opt == "--nofile":
            n = int(args.pop(0))
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            if hard != resource.RLIM_INFINITY and hard < n:
                die(f"cannot raise the limit of open files to {n} (ulimit -Hn is {hard})")
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
        elif opt == "--env":
            key, value = args.pop(0).split("=", 1)
            env[key] = value
        elif opt == "--unset":
            env.pop(args.pop(0), None)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execvpe(args[1], args[1:], env)


# ---- Clients -------------------------------------------------------------------


class Client:
    """One TCP client. Unless reads=False it reads in the background, so that
    the server never waits for it; every wait below is bounded."""

    def __init__(self, name, port=None, host=HOST, reads=True):
        self.name = name
        self.sock = socket.create_connection((host, port or PORT), timeout=2)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        h, p = self.sock.getsockname()[:2]
        self.addr = f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
        self.got, self.mark, self.end = bytearray(), 0, None
        self.lock, self.stopping, self.thread = threading.Lock(), False, None
        if reads:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def _read(self):
        while not self.stopping:
            try:
                if not select.select([self.sock], [], [], 0.05)[0]:
                    continue
                data = self.sock.recv(1 << 16)
            except (BlockingIOError, socket.timeout):
                continue
            except ConnectionResetError:
                self.end = "reset by the server"
                return
            except OSError as e:
                self.end = f"ended ({e.strerror})"
                return
            if not data:
                self.end = "closed by the server"
                return
            with self.lock:
                self.got += data

    def since(self):
        with self.lock:
            return bytes(self.got[self.mark :])

    def take(self):
        """What came since the last take."""
        with self.lock:
            data = bytes(self.got[self.mark :])
            self.mark = len(self.got)
            return data

    def wait_for(self, pattern, secs):
        deadline = time.monotonic() + secs
        while pattern not in self.since():
            if self.end or time.monotonic() > deadline:
                return pattern in self.since()
            time.sleep(0.01)
        return True

    def wait_end(self, secs):
        deadline = time.monotonic() + secs
        while not self.end and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.end

    def read_now(self, until, secs):
        """For a client that does not read in the background: read until `until`
        has come, at most `secs`."""
        deadline = time.monotonic() + secs
        while until not in self.got and time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                break
            except OSError as e:
                self.end = "reset by the server" if isinstance(e, ConnectionResetError) else e.strerror
                break
            if not data:
                self.end = "closed by the server"
                break
            self.got += data
        self.sock.settimeout(2)
        return until in self.got

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def leave(self):
        """The polite way out: an empty line, then wait (2 s at most) for the close."""
        self.send(b"\n")
        self.wait_end(2)
        self.close()

    def close(self):
        self.stopping = True
        if self.thread:
            self.thread.join(1)
        self.sock.close()


def greeted(c):
    return c.wait_for(b"online)", 2) if c.thread else c.read_now(b"online)", 2)


def messages(text):
    """Cut what a client received after each newline (and the colour reset that
    follows it: the report ends each message with "\\n" + ESC [0m)."""
    out, i = [], 0
    for m in re.finditer(r"\n(?:\x1b\[0m)?", text):
        out.append(text[i : m.end()])
        i = m.end()
    if i < len(text):
        out.append(text[i:])
    return out


def show(data, limit=12, indent="    "):
    """Each message on a line of its own, as Python's repr: control characters
    visible (\\x1b is ESC, \\r carriage return); repeats counted."""
    lines = messages(data.decode("utf-8", "backslashreplace"))
    if not lines:
        print(indent + "(nothing)")
        return
    runs = []
    for line in lines:
        if runs and runs[-1][0] == line:
            runs[-1][1] += 1
        else:
            runs.append([line, 1])
    for line, count in runs[:limit]:
        print(indent + repr(line) + (f"   (x {count:,})" if count > 1 else ""))
    rest = sum(c for _, c in runs[limit:])
    if rest:
        print(f"{indent}... and {rest:,} more")


def catv(text, indent="    | ", limit=14):
    """A console, as cat -v shows it: ^[ for ESC, ^M for a carriage return."""

    def char(c):
        o = ord(c)
        if o < 32 and c not in "\n\t":
            return "^" + chr(o + 64)
        return "^?" if o == 127 else c

    lines = "".join(char(c) for c in text).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines[:limit]:
        print(indent + line)
    if len(lines) > limit:
        print(f"{indent}... and {len(lines) - limit} more lines")


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "backslashreplace")
    except OSError:
        return ""


def running(pid=None):
    """Is the process running? (A zombie, dead but not yet reaped, is not.)"""
    try:
        with open(f"/proc/{pid or PID}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_stopped(secs, pid=None):
    deadline = time.monotonic() + secs
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not running(pid)


def fate():
    """Whether the server is still alive; side-by-side.sh, whose child it is,
    puts how it ended in place of the marker."""
    print(f"  {NAME} is still running." if running() else "@@FATE@@")


def newcomer():
    try:
        c = Client("E", reads=False)
    except OSError as e:
        print(f"  A newcomer cannot connect: {e.strerror}.")
        return
    if c.read_now(b"online)", 1):
        print("  A newcomer is greeted.")
    else:
        print("  A newcomer connects but gets no greeting within 1 s.")
    c.close()


# ---- The cases -------------------------------------------------------------------

DESCRIBE = {
    1: """A sends b'one\\ntwo\\n' in one write; then b'th', b're', b'e\\n' in three writes
0.3 s apart; then b'\\n' (leave). B listens. Each line below is one message that
B received, as Python's repr (\\x1b[..m are the colours, \\r the carriage return
in front of each message).""",
    2: """(a) C reads its greeting and closes: the end of its stream. (b) D joins and
closes 0.5 s later without reading its greeting: closing a socket with unread
input sends a reset. B listens; then a newcomer tries to join.""",
    3: """S joins and never reads. T writes 500-byte lines as fast as the server takes
them, for 2 s (10 MB at most). Then Q, quiet so far, says "still there?". B
listens and waits for Q's line, 3 s at most.""",
    4: """S joins and never reads. T pastes 400 lines of 1,000 bytes (more than the
kernel's buffers toward S hold), then says a 200-byte line every 50 ms, for 11 s
in all; B listens. Does the server ever give up on S? (Ours: a member owed a
line for more than 10 s is cut.)""",
    6: """(a) Both servers with ulimit -n 2048; 1,100 clients join one after the other,
each waiting for its greeting. (b) Both with ulimit -n 16; 16 clients. Ours runs
with --per-host 2000, since every client here comes from 127.0.0.1.""",
    7: """200 clients connect at the same moment (non-blocking connects), and each
notes when its greeting arrives. Ours runs with --per-host 256, since every
client here comes from 127.0.0.1.""",
    8: """A sends three lines, 0.3 s apart: escape sequences (clear the screen, set the
window title), a carriage return with a bidi override and a zero-width space,
and bytes that are not UTF-8; then b'\\n' (leave). B listens; below, what B
received, as Python's repr (\\x1b is ESC, \\u202e the override).""",
    9: """B joins. The server gets SIGUSR1, then (if it is still there) SIGTERM.""",
    10: """The server's stdout goes into a pipe that nobody reads (64 KiB fill it). A
writes 3,000 lines of 60 bytes, B listens for 4 s. Then SIGINT (Ctrl+C) to the
server.""",
    11: """S joins and sleeps while T says 300 lines of 1,000 bytes. Then S sends b'\\n'
(leave) and, 0.3 s later, b'more\\n', and reads what it is owed (6 s at most).""",
    12: """X is each one's own client: the report's cli.py against srv.py, select-chat's
cli against srv, stdin a pipe, stdout a file. X's stdin gets b'a\\nb\\nc\\n' in
one write and stays open 1.5 s, then ends. B listens.""",
    14: """Each server started on a port that is not a number, on ::1 (IPv6), and on the
port it already listens on. A started server is stopped at once.""",
    17: """B joins. Then 20 clients connect from 127.0.0.1, one after the other, each
waiting 1 s at most for its first words; then a loop connects and leaves again
at once (an empty line), 40 times or for 3 s.""",
    15: """Both servers started with NO_COLOR=1 in their environment, consoles into
files. B joins; A joins, says hello and leaves. Then each one's own client, its
output into a file, joins the report's srv.py (which always sends colour), hears
a line, and leaves with an empty line.""",
}


def case1():
    b = Client("B")
    greeted(b)
    a = Client("A")
    greeted(a)
    b.wait_for(b"entered", 2)
    b.take()
    a.send(b"one\ntwo\n")
    time.sleep(0.5)
    for piece in (b"th", b"re", b"e\n"):
        a.send(piece)
        time.sleep(0.3)
    a.leave()
    b.wait_for(b" left (", 2)
    print(f"  B received (A is {a.addr}):")
    show(b.take())
    return [b]


def case2():
    b = Client("B")
    greeted(b)
    c = Client("C")
    greeted(c)
    b.wait_for(b"entered", 2)
    b.take()
    c.close()
    time.sleep(1)
    print(f"  (a) C ({c.addr}) read its greeting and closed. B received in the next second:")
    show(b.take(), limit=4)
    d = Client("D", reads=False)
    time.sleep(0.5)
    d.sock.close()
    time.sleep(1)
    print(f"  (b) D ({d.addr}) closed without reading (a reset). B received in the next second:")
    show(b.take(), limit=6)
    if b.end:
        print(f"  B's connection was {b.end}.")
    newcomer()
    return [b]


def flood(c, line, secs, most):
    """Write `line` over and over for `secs`, `most` bytes at most; stop when the
    kernel has taken nothing for 0.5 s. Returns (bytes taken, stuck)."""
    c.sock.setblocking(False)
    chunk, pending, sent = line * 64, b"", 0
    start, stuck = time.monotonic(), False
    while sent < most and time.monotonic() - start < secs:
        if not pending:
            pending = chunk[: most - sent]
        try:
            n = c.sock.send(pending)
            sent += n
            pending = pending[n:]
        except BlockingIOError:
            if not select.select([], [c.sock], [], 0.5)[1]:
                stuck = True
                break
        except OSError:
            break
    c.sock.settimeout(2)
    return sent, stuck


def case3():
    b, q = Client("B"), Client("Q")
    s = Client("S", reads=False)
    t = Client("T")
    for c in (b, q, t):
        greeted(c)
    time.sleep(0.2)
    b.take()
    line = b"x" * 500 + b"\n"
    sent, stuck = flood(t, line, 2, 10_000_000)
    if stuck:
        print(f"  T wrote {sent / 1e6:.1f} MB; then its writes waited (the kernel held all the server had not read).")
    else:
        print(f"  T wrote {sent / 1e6:.1f} MB in 2 s.")
    start = time.monotonic()
    q.send(b"still there?\n")
    heard = b.wait_for(b"still there?", 3)
    took = time.monotonic() - start
    xs = b.since().count(b"x") // 500
    print(f"  B received {xs:,} of T's lines by the end.")
    if heard:
        print(f'  Q\'s "still there?" reached B after {took:.2f} s.')
    else:
        print(f'  Q\'s "still there?": no reply within 3 s.')
    newcomer()
    return [b, q, s, t]


def case4():
    b, t = Client("B"), Client("T")
    s = Client("S", reads=False)
    for c in (b, t):
        greeted(c)
    time.sleep(0.2)
    b.take()
    start = time.monotonic()
    said = sum(t.send(b"p" * 1000 + b"\n") for _ in range(400))
    cut_at, line = None, b"t" * 200 + b"\n"
    while time.monotonic() - start < 11:
        said += t.send(line)
        if cut_at is None and s.addr.encode() + b" left" in b.since():
            cut_at = time.monotonic() - start
        time.sleep(0.05)
    owed = len(b.since())
    print(f"  In 11 s T said {said} lines; B received {owed:,} bytes.")
    if cut_at is not None:
        text = b.since().decode("utf-8", "replace")
        notice = re.search(r"\x1b\[31m[^\n]*" + re.escape(s.addr) + r" left[^\n]*\n(?:\x1b\[0m)?(?: \(error\) )?", text)
        print(f"  B heard S leave after {cut_at:.1f} s: {notice.group(0)!r}")
    else:
        print(f"  S is still a member, owed what B got ({owed:,} bytes and counting): nothing bounds it.")
    held, end = 0, "still open"
    s.sock.setblocking(False)
    try:
        while True:
            data = s.sock.recv(1 << 20)
            if not data:
                end = "closed"
                break
            held += len(data)
    except BlockingIOError:
        pass
    except ConnectionResetError:
        end = "reset: the server cut it"
    print(f"  S's socket held {held:,} bytes it had not read; then it was {end}.")
    cuts = [l for l in read_file(ENV["ERRLOG"]).splitlines() if "cut" in l]
    for l in cuts[:2]:
        print(f"  The server's stderr: {l}")
    return [b, t, s]


def connect_many(n, secs):
    """n clients, one after the other, each waiting `secs` for its first words."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        if hard != resource.RLIM_INFINITY and hard < n + 64:
            print(f"  (skipped: this shell may open only {hard} files, ulimit -Hn)")
            return []
        resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, hard))
    socks, outcomes, silent = [], [], 0
    for _ in range(n):
        if silent >= 2:
            outcomes.append("not tried: the server had stopped answering")
            continue
        try:
            s = socket.create_connection((HOST, PORT), timeout=secs)
        except ConnectionRefusedError:
            outcomes.append("refused: nothing listens any more")
            continue
        except OSError as e:
            outcomes.append(f"cannot connect: {e.strerror or e}")
            silent += 1
            continue
        socks.append(s)
        got, end, deadline = b"", None, time.monotonic() + secs
        while b"online)" not in got and b"later" not in got and time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = s.recv(4096)
            except socket.timeout:
                break
            except OSError as e:
                end = "reset" if isinstance(e, ConnectionResetError) else e.strerror
                break
            if not data:
                end = "closed"
                break
            got += data
        first = messages(got.decode("utf-8", "backslashreplace"))
        if b"online)" in got:
            outcomes.append("greeted")
            silent = 0
        elif first:
            outcomes.append(f"told {first[0]!r}" + (f", then {end}" if end else ""))
            silent = 0
        elif end:
            outcomes.append(f"{end} without a word")
        else:
            outcomes.append(f"no answer within {secs} s")
            silent += 1
    runs = []
    for i, o in enumerate(outcomes, 1):
        if runs and runs[-1][2] == o:
            runs[-1][1] = i
        else:
            runs.append([i, i, o])
    for first, last, o in runs:
        who = f"client {first}" if first == last else f"clients {first}-{last}"
        print(f"    {who}: {o}")
    # Which of the greeted ones are still connected at the end?
    time.sleep(0.3)
    still = 0
    for s in socks:
        try:
            s.setblocking(False)
            while s.recv(1 << 16):
                pass
        except BlockingIOError:
            still += 1
        except OSError:
            pass
    print(f"    at the end, {still:,} of them are still connected.")
    return socks


def case6a():
    print("  (a) ulimit -n 2048, 1,100 clients:")
    return connect_many(1100, 2)


def case6b():
    print("  (b) ulimit -n 16, 16 clients:")
    return connect_many(16, 1)


def case7():
    n, sel, socks = 200, selectors.DefaultSelector(), []
    start = time.monotonic()
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((HOST, PORT))
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, i)
    times, bufs, ends = [None] * n, [b""] * n, [None] * n
    left = n
    while left and time.monotonic() - start < 5:
        for key, _ in sel.select(timeout=0.1):
            i = key.data
            try:
                data = key.fileobj.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError as e:
                data, ends[i] = None, e.strerror
            if data:
                bufs[i] += data
            if not data or b"online)" in bufs[i]:
                if data:
                    times[i] = time.monotonic() - start
                else:
                    ends[i] = ends[i] or "closed"
                sel.unregister(key.fileobj)
                left -= 1
    got = sorted(t for t in times if t is not None)
    buckets = [(0, 0.25), (0.25, 1), (1, 2), (2, 5)]
    parts = [f"{sum(lo <= t < hi for t in got)} within {lo}-{hi} s" for lo, hi in buckets]
    print(f"  Greeted: {len(got)} of {n}: " + ", ".join(parts) + ".")
    if got:
        print(f"  The last greeting came {got[-1]:.2f} s after the connects.")
    failed = [e for e in ends if e]
    if failed:
        print(f"  {len(failed)} connections ended without a greeting ({failed[0]}).")
    silent = [s for s, t, e in zip(socks, times, ends) if t is None and not e]
    if silent:
        connected = 0
        for s in silent:
            try:
                s.getpeername()
                connected += 1
            except OSError:
                pass
        print(f"  {len(silent)} got no greeting within 5 s; for {connected} of them, connect had succeeded.")
    return socks


def case8():
    b, a = Client("B"), None
    greeted(b)
    a = Client("A")
    greeted(a)
    b.wait_for(b"entered", 2)
    b.take()
    for line in (
        b"\x1b[2J\x1b]0;owned\x07hello\n",
        "abc\rforged: \u202eevil\u200b!\n".encode(),
        b"\xff\xfe not UTF-8\n",
    ):
        a.send(line)
        time.sleep(0.3)
    a.leave()
    b.wait_for(b" left (", 2)
    print(f"  B received (A is {a.addr}):")
    show(b.take())
    return [b]


def case9():
    b = Client("B")
    greeted(b)
    b.take()
    os.kill(PID, signal.SIGUSR1)
    time.sleep(0.5)
    alive = running()
    print(f"  After SIGUSR1: {NAME} " + ("is still running." if alive else "has stopped."))
    if alive:
        os.kill(PID, signal.SIGTERM)
        alive = not wait_stopped(2)
        print(f"  After SIGTERM: {NAME} " + ("is still running." if alive else "has stopped."))
    b.wait_end(1)
    print("  B received:")
    show(b.take())
    print(f"  B's connection: {b.end or 'still open'}.")
    print("  The end of the server's console (cat -v):")
    lines = read_file(ENV["CONSOLE"]).split("\n")[:-1]
    catv("\n".join(lines[-2:]) + "\n")
    return [b]


def case10():
    a, b = Client("A"), Client("B")
    greeted(a)
    greeted(b)
    start = time.monotonic()
    line, wanted = b"y" * 60 + b"\n", 3000
    sent, stuck = flood(a, line, 3, wanted * len(line))
    while b.since().count(b"y") < wanted * 60 and time.monotonic() - start < 4:
        time.sleep(0.05)
    got = b.since().count(b"y") // 60
    print(f"  A wrote {sent // len(line):,} lines" + (" (then the server stopped reading it)" if stuck else "") + ".")
    print(f"  B received {got:,} of them in {time.monotonic() - start:.1f} s.")
    os.kill(PID, signal.SIGINT)
    stopped = wait_stopped(1.5)
    print(f"  After SIGINT: {NAME} " + ("has stopped." if stopped else "is still running, 1.5 s later."))
    print(f"  B's connection: {b.end or 'still open'}.")
    return [a, b]


def case11():
    s = Client("S", reads=False)
    greeted(s)
    t = Client("T")
    greeted(t)
    line = b"z" * 1000 + b"\n"
    for _ in range(300):
        t.send(line)
    time.sleep(1)
    s.send(b"\n")
    time.sleep(0.3)
    s.send(b"more\n")
    got, end, deadline = b"", None, time.monotonic() + 6
    s.sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            data = s.sock.recv(1 << 16)
        except socket.timeout:
            continue
        except ConnectionResetError:
            end = "reset by the server"
            break
        except OSError as e:
            end = e.strerror
            break
        if not data:
            end = "closed by the server (end of stream)"
            break
        got += data
    print(f"  S received {got.count(b'z') // 1000} of T's 300 lines, then its connection was {end or 'still open after 6 s'}.")
    return [t, s]


def case12():
    b = Client("B")
    greeted(b)
    b.take()
    cmd = shlex.split(ENV["CLI"]) + [HOST, str(PORT)]
    path = os.path.join(ENV["TMP"], f"{SIDE}.cli.out")
    with open(path, "wb") as out:
        x = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT)
    try:
        b.wait_for(b"entered", 3)
        b.take()
        x.stdin.write(b"a\nb\nc\n")
        x.stdin.flush()
        time.sleep(1.5)
        print("  While X's stdin stays open, B received:")
        show(b.take())
        x.stdin.close()
        time.sleep(1)
        print("  After X's stdin ended, B received:")
        show(b.take())
        size = os.path.getsize(path)
        time.sleep(0.5)
        grew = os.path.getsize(path) - size
        if x.poll() is None:
            tail = read_file(path)[-28:]
            print(f"  X is still running; its stdout grew by {grew:,} bytes in 0.5 s, ending {tail!r}.")
        else:
            print(f"  X has exited, status {x.returncode}.")
    finally:
        if x.poll() is None:
            x.kill()
        x.wait()
    return [b]


def run_once(args, secs=3):
    """The server once with `args`; (status or None if still running, stdout, stderr)."""
    env = dict(ENV)
    env.pop("NO_COLOR", None)
    p = subprocess.Popen(shlex.split(ENV["SRV"]) + args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = p.communicate(timeout=secs)
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")


def tell(status, err):
    lines = [l for l in err.splitlines() if l.strip()]
    how = "still running after 3 s" if status is None else f"exit status {status}"
    if lines and lines[0].startswith("Traceback"):
        print(f"      {how}; a Python traceback of {len(lines)} lines, ending:")
        print(f"      {lines[-1]}")
    else:
        print(f"      {how}" + ("; stderr:" if lines else "; nothing on stderr"))
        for l in lines[:3]:
            print(f"      {l}")


def case14():
    name = "srv.py" if SIDE == "report" else "srv"
    print(f"  $ {name} 127.0.0.1 http")
    tell(*run_once([HOST, "http"])[::2])
    try:
        v6port = free_port("::1") if SIDE == "report" else 0
    except OSError:
        print("  (no IPv6 on this machine's loopback: ::1 skipped)")
        v6port = None
    if v6port is not None:
        print(f"  $ {name} ::1 {v6port}")
        env = dict(ENV)
        env.pop("NO_COLOR", None)
        p = subprocess.Popen(shlex.split(ENV["SRV"]) + ["::1", str(v6port)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            line = b""
            if select.select([p.stdout], [], [], 3)[0]:
                line = p.stdout.readline()
            m = re.search(rb"port (\d+)", line)
            if not m:
                p.wait(3)
                tell(p.returncode, p.stderr.read().decode(errors="replace"))
            else:
                port = int(m.group(1))
                b = Client("B", port, host="::1")
                greeted(b)
                b.take()
                a = Client("A", port, host="::1")
                greeted(a)
                b.wait_for(b"entered", 2)
                print(f"      started on port {port}; a client over ::1 joins, and B hears:")
                show(b.take(), indent="      ")
                a.leave()
                b.leave()
        finally:
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(2)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    print(f"  $ {name} 127.0.0.1 {PORT}   (the port it already listens on)")
    tell(*run_once([HOST, str(PORT)])[::2])
    return []


def case15():
    b = Client("B")
    greeted(b)
    a = Client("A")
    greeted(a)
    a.send(b"hello\n")
    time.sleep(0.3)
    a.leave()
    b.wait_for(b" left (", 2)
    print("  B received:")
    show(b.take())
    b.leave()
    time.sleep(0.3)
    print("  The server's console, in a file (cat -v):")
    catv(read_file(ENV["CONSOLE"]))
    # Each one's own client, output into a file, on the report's srv.py.
    rport = int(ENV["REPORT_PORT"])
    path = os.path.join(ENV["TMP"], f"{SIDE}.cli.out")
    env = dict(ENV)
    env.pop("NO_COLOR", None)
    with open(path, "wb") as out:
        x = subprocess.Popen(shlex.split(ENV["CLI"]) + [HOST, str(rport)], stdin=subprocess.PIPE,
                             stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        time.sleep(0.5)
        a = Client("A", rport)
        greeted(a)
        a.send(b"hello, file\n")
        time.sleep(0.5)
        a.leave()
        x.stdin.write(b"\n")  # an empty line: the client leaves
        x.stdin.flush()
        x.wait(2)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if x.poll() is None:
            x.terminate()
        try:
            x.wait(2)
        except subprocess.TimeoutExpired:
            x.kill()
            x.wait()
    print(f"  {CLI_NAME}, its output into a file, on the report's srv.py (cat -v):")
    catv(read_file(path))
    return []


def case17():
    b = Client("B")
    greeted(b)
    b.take()
    print("  B joins; then 20 clients connect, one after the other. Each one's first words:")
    socks = connect_many(20, 1)
    b.take()
    joined = refused = 0
    start = time.monotonic()
    for _ in range(40):
        if time.monotonic() - start > 3:
            break
        try:
            c = Client("L", reads=False)
        except OSError:
            refused += 1
            continue
        c.read_now(b"\n", 1)
        if b"online)" in c.got:
            joined += 1
            c.send(b"\n")
            c.read_now(b"\x00", 1)  # until it is closed
        else:
            refused += 1
        c.close()
    time.sleep(0.3)
    heard = b.take()
    print(f"  Then a loop: connect and leave at once, 40 times in {time.monotonic() - start:.1f} s.")
    print(f"  {joined} came in, {refused} were turned away; B heard {heard.count(b' entered (')} joins"
          f" and {heard.count(b' left (')} leaves.")
    return [b] + socks


CASES = {
    "1": case1, "2": case2, "3": case3, "4": case4, "6a": case6a, "6b": case6b,
    "7": case7, "8": case8, "9": case9, "10": case10, "11": case11, "12": case12,
    "14": case14, "15": case15, "17": case17,
}


def play(case):
    """Play one case against the server at PORT, then tell whether it is alive
    (before this process ends and its sockets close)."""
    try:
        os.setsid()  # a group of its own: side-by-side.sh stops it and its children at once
    except OSError:
        pass
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    keep = []
    try:
        keep = CASES[case]() or []
    except Exception as e:  # show what went wrong, and still tell the server's fate
        print(f"  (the clients stopped: {type(e).__name__}: {e})")
    fate()
    sys.stdout.flush()
    for c in keep:
        try:
            (c.close if isinstance(c, Client) else c.close)()
        except OSError:
            pass


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "assemble":
        assemble(*args)
    elif what == "freeport":
        print(free_port())
    elif what == "exec":
        launch(args)
    elif what == "describe":
        print(DESCRIBE[int(args[0])])
    elif what == "play":
        play(args[0])


main()
PYTHON

python3 "$tmp/sbs.py" assemble "$report" "$tmp"

# start_servers [--nofile N]: the report's srv.py on a free port found first,
# ours on port 0 (its start line tells the port), consoles into files (or into
# pipes nobody reads, with fifo=yes).
ours_opts=()
ours_env=(--unset NO_COLOR)
fifo=no
start_servers() {
    local side
    out[report]=$tmp/report.out
    out[ours]=$tmp/ours.out
    if [ "$fifo" = yes ]; then
        mkfifo "$tmp/report.fifo" "$tmp/ours.fifo"
        # Opened here for reading and writing, and never read: a pipe nobody reads.
        exec 7<>"$tmp/report.fifo" 8<>"$tmp/ours.fifo"
        out[report]=$tmp/report.fifo
        out[ours]=$tmp/ours.fifo
    fi
    port[report]=$(python3 "$tmp/sbs.py" freeport)
    python3 "$tmp/sbs.py" exec "$@" --unset NO_COLOR -- \
        python3 -u "$tmp/srv.py" 127.0.0.1 "${port[report]}" >"${out[report]}" 2>"$tmp/report.err" 7>&- 8>&- &
    pid[report]=$!
    python3 "$tmp/sbs.py" exec "$@" "${ours_env[@]}" -- \
        "$srv" "${ours_opts[@]}" 127.0.0.1 0 >"${out[ours]}" 2>"$tmp/ours.err" 7>&- 8>&- &
    pid[ours]=$!
    for side in report ours; do
        port[$side]=$(started "$side")
        if [ -z "${port[$side]}" ]; then
            echo "side-by-side.sh: the $side server did not start; its stderr:" >&2
            cat "$tmp/$side.err" >&2
            exit 1
        fi
    done
}

# started SIDE: wait (5 s at most) for the server's start line; print its port.
started() {
    local line="" fd=7 i
    [ "$1" = ours ] && fd=8
    if [ -p "${out[$1]}" ]; then
        IFS= read -r -t 5 -u "$fd" line || true
    else
        for i in $(seq 50); do
            line=$(grep -a -m1 "Chat Server started on port" "${out[$1]}" || true)
            if [ -n "$line" ] || ! running "${pid[$1]}"; then
                break
            fi
            sleep 0.1
        done
    fi
    sed -n 's/.*started on port \([0-9][0-9]*\).*/\1/p' <<<"$line"
}

# play CASE SIDE...: the clients of CASE against each SIDE's server, at once;
# what they print goes to $tmp/SIDE.play.
play() {
    local case=$1 side p clicmd srvcmd
    shift
    local started_here=()
    for side in "$@"; do
        if [ "$side" = report ]; then
            clicmd="python3 -u $(printf %q "$tmp/cli.py")"
            srvcmd="python3 -u $(printf %q "$tmp/srv.py")"
        else
            clicmd=$(printf %q "$cli")
            srvcmd=$(printf %q "$srv")
        fi
        SIDE=$side PORT=${port[$side]} PID=${pid[$side]} CONSOLE=${out[$side]} \
            ERRLOG=$tmp/$side.err TMP=$tmp CLI=$clicmd SRV=$srvcmd REPORT_PORT=${port[report]} \
            python3 "$tmp/sbs.py" play "$case" >>"$tmp/$side.play" 2>&1 7>&- 8>&- &
        clients+=("$!")
        started_here+=("$!")
    done
    for p in "${started_here[@]}"; do
        wait "$p" || true
        # Anything the play left behind in its process group (nothing, unless
        # it was killed before it could stop its own clients).
        kill -KILL -- "-$p" 2>/dev/null || true
    done
    clients=()
    for side in "$@"; do
        settle "$side"
    done
}

# settle SIDE: if the play found SIDE's server stopped, tell how it ended (its
# exit status, which only this shell, its parent, knows) in place of the marker.
settle() {
    local side=$1 name=srv rc=0 how last line
    grep -q '^@@FATE@@$' "$tmp/$side.play" || return 0
    [ "$side" = report ] && name=srv.py
    wait "${pid[$side]}" 2>/dev/null || rc=$?
    if [ "$rc" -gt 128 ]; then
        how="killed by SIG$(kill -l "$rc")"
    else
        how="exit status $rc"
    fi
    last=$(grep -v '^[[:space:]]*$' "$tmp/$side.err" | tail -n 1 | sed 's/^ *//' || true)
    line="  $name has stopped ($how)"
    [ -n "$last" ] && line+="; its stderr ends: $last"
    LINE=$line awk '$0 == "@@FATE@@" { print ENVIRON["LINE"]; next } { print }' \
        "$tmp/$side.play" >"$tmp/$side.play.new"
    mv "$tmp/$side.play.new" "$tmp/$side.play"
}

: >"$tmp/report.play"
: >"$tmp/ours.play"
case $n in
    6)
        ours_opts=(--per-host 2000)
        start_servers --nofile 2048
        play 6a report ours
        stop_servers
        start_servers --nofile 16
        play 6b report ours
        ;;
    15)
        ours_env=(--env NO_COLOR=1)
        start_servers
        # One after the other: both sides' clients also join the report's server.
        play 15 report
        play 15 ours
        ;;
    *)
        [ "$n" = 7 ] && ours_opts=(--per-host 256)
        [ "$n" = 10 ] && fifo=yes
        start_servers
        play "$n" report ours
        ;;
esac

echo "Difference $n: ${titles[$n]}"
echo
python3 "$tmp/sbs.py" describe "$n"
echo
echo "The report's srv.py:"
cat "$tmp/report.play"
echo
echo "select-chat's srv:"
cat "$tmp/ours.play"
