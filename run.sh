#!/usr/bin/env bash
# Build select-chat, start `srv` in the background, and chat with `cli` in this
# terminal. Others join from other terminals with `cli`, `nc` or `telnet`.
#
#   ./run.sh [host] [port]        (defaults: 127.0.0.1 7777; port 0: a free one)
#
# The server's console goes to a log of its own for each run (srv-PID.log, in
# this directory). Leave with an empty line, Ctrl+D or Ctrl+C; the server stops
# when this script ends.
set -euo pipefail
cd "$(dirname "$0")"
host=${1:-127.0.0.1}
port=${2:-7777}

cargo build --release --bins
log="srv-$$.log"
# The server gets a session of its own (setsid), so Ctrl+C in this terminal
# reaches only the client, as it would with the server in another terminal.
setsid target/release/srv "$host" "$port" >"$log" 2>&1 &
srv=$!
trap 'kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true' EXIT

# Wait (at most 5 s) for the server's start line, which says the port it got.
for _ in $(seq 50); do
    started=$(sed -n 's/.*Chat Server started on port \([0-9]*\).*/\1/p' "$log")
    if [ -n "$started" ]; then
        port=$started
        break
    fi
    if ! kill -0 "$srv" 2>/dev/null; then
        if grep -q "Address already in use" "$log"; then
            echo "Something already listens on $host:$port (another srv?)." >&2
            echo "To join it:  target/release/cli $host $port" >&2
            echo "Or start a server of your own on a free port:  ./run.sh $host 0" >&2
        else
            cat "$log" >&2
        fi
        rm -f "$log"
        exit 1
    fi
    sleep 0.1
done
echo "srv is listening on $host:$port (its console: $log)."
echo "Join from other terminals: target/release/cli $host $port   (or: nc $host $port)"
target/release/cli "$host" "$port"
