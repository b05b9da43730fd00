#!/usr/bin/env bash
# Build select-chat, start `srv` in the background, and chat with `cli` in this
# terminal. Others join from other terminals with `cli`, `nc` or `telnet`.
#
#   ./run.sh [host] [port]        (defaults: 127.0.0.1 7777)
#
# The server's console is written to srv.log. Leave with an empty line, Ctrl+D or
# Ctrl+C; the server stops when this script ends.
set -euo pipefail
cd "$(dirname "$0")"
host=${1:-127.0.0.1}
port=${2:-7777}

cargo build --release --bins
# The server gets a session of its own (setsid), so Ctrl+C in this terminal
# reaches only the client, as it would with the server in another terminal.
setsid target/release/srv "$host" "$port" >srv.log 2>&1 &
srv=$!
trap 'kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true' EXIT

# Wait (at most 5 s) for the server's start line, or show why it did not start.
for _ in $(seq 50); do
    grep -q "Chat Server started" srv.log && break
    if ! kill -0 "$srv" 2>/dev/null; then
        cat srv.log >&2
        exit 1
    fi
    sleep 0.1
done
echo "srv is listening on $host:$port (its console: srv.log)."
echo "Join from other terminals: target/release/cli $host $port   (or: nc $host $port)"
target/release/cli "$host" "$port"
