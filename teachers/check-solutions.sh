#!/usr/bin/env bash
# Check that the walkthrough's exercises can still be solved: for each exercise,
# a fresh copy of the tree, its reference solution (teachers/solutions/
# exercise-N.patch) applied, a build, the exercise's acceptance test, then the
# whole `cargo test`. Fails naming each exercise whose patch no longer applies,
# builds or passes.
#
#   teachers/check-solutions.sh [--quick] [N...]           exercises N (default: all)
#   teachers/check-solutions.sh [--quick] --patch FILE N   a student's patch for N
#
# --quick runs, after the acceptance test, only the suites a patch most often
# breaks (unit tests, tests/server.rs, client.rs, trace.rs, walkthrough.rs:
# about 15 s) instead of the whole `cargo test` (about 2.5 min on 2 cores, for
# each exercise). CI runs without it.
#
# The copy is the tree as it is: HEAD plus uncommitted changes to tracked files
# (`git stash create`, which touches nothing), written out by `git archive` with
# fresh modification times. It lives in a temporary directory, removed on every
# way out.
#
# Builds go to one target directory of their own, `check-solutions` inside the
# usual one, shared by every exercise and every run: the dependencies are built
# once, and each patch rebuilds only this crate (its fresh files are newer than
# the last build). Not the main target directory itself: cargo names a crate's
# build after its path inside the workspace, not the workspace's, so a patched
# copy's build would take the place of the tree's own, and a later `cargo test`
# in the tree would find it fresh and test the patched program. A lock keeps two
# runs from sharing it at once.
set -euo pipefail

usage="usage: $0 [--quick] [N...] | [--quick] --patch FILE N"
root=$(cd "$(dirname "$0")/.." && pwd)
quick=false
patch=""
exercises=()
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=true ;;
        --patch)
            [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
            patch=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
            shift
            ;;
        -h | --help) echo "$usage"; exit 0 ;;
        [1-9] | [1-9][0-9]) exercises+=("$1") ;;
        *) echo "unknown argument '$1'"$'\n'"$usage" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$patch" ]; then
    [ -f "$patch" ] || { echo "no such patch: $patch" >&2; exit 2; }
    [ ${#exercises[@]} -eq 1 ] || { echo "--patch needs one exercise number"$'\n'"$usage" >&2; exit 2; }
fi
if [ ${#exercises[@]} -eq 0 ]; then
    exercises=(1 2 3 4 5 6 7)
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/check-solutions"
mkdir -p "$CARGO_TARGET_DIR"
# fd 9 holds the lock; it is closed for the commands below (a server under test
# that inherited it would number its sockets differently from the trace tests).
exec 9>"$CARGO_TARGET_DIR/.lock"
if command -v flock >/dev/null && ! flock -n 9; then
    echo "waiting for another check-solutions run to finish..."
    flock 9
fi

rev=$(git -C "$root" stash create)
rev=${rev:-HEAD}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-solutions.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# `cargo` output is kept in a log; on failure, what a reader needs of it: each
# failing test's message (up to its backtrace), the compiler's errors, the
# summary lines; the log's end if none of these is there.
show_failure() {
    awk '
        /^---- .* stdout ----$/ { inside = 1; lines = 0 }
        /^error(\[|:)/ { inside = 1; lines = 0 }
        /^stack backtrace:|^note: / { inside = 0 }
        inside && lines++ < 12 { print "  | " $0; found = 1 }
        /^test result: FAILED/ { print "  | " $0; found = 1 }
        END { exit !found }
    ' "$1" || tail -n 20 "$1" | sed 's/^/  | /'
}

seconds() {
    printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

failed=()
start_all=$SECONDS
for n in "${exercises[@]}"; do
    file=${patch:-$root/teachers/solutions/exercise-$n.patch}
    name="exercise $n"
    [ -z "$patch" ] || name="exercise $n ($(basename "$patch"))"
    echo "== $name"
    start=$SECONDS
    dir=$tmp/exercise-$n
    log=$tmp/exercise-$n.log
    if [ ! -f "$file" ]; then
        echo "FAIL $name: no patch $file"
        failed+=("$n")
        continue
    fi
    mkdir "$dir"
    git -C "$root" archive "$rev" | tar -x -m -C "$dir"
    if ! (cd "$dir" && git apply "$file") 9>&- >"$log" 2>&1; then
        echo "FAIL $name: the patch no longer applies"
        sed 's/^/  | /' "$log"
        failed+=("$n")
        continue
    fi
    # What `cargo test` builds: the library, the programs, every test.
    if ! (cd "$dir" && cargo test --no-run) 9>&- >"$log" 2>&1; then
        echo "FAIL $name: does not build"
        show_failure "$log"
        failed+=("$n")
        continue
    fi
    built=$SECONDS
    # The acceptance test must run (a renamed test would filter to nothing) and pass.
    if ! (cd "$dir" && cargo test --test exercises -- --ignored "exercise_${n}_") 9>&- >"$log" 2>&1 ||
        ! grep -q 'test result: ok\. [1-9]' "$log"; then
        echo "FAIL $name: its acceptance test does not pass"
        show_failure "$log"
        failed+=("$n")
        continue
    fi
    accepted=$SECONDS
    if $quick; then
        suite=(cargo test --lib --test server --test client --test trace --test walkthrough)
    else
        suite=(cargo test)
    fi
    if ! (cd "$dir" && "${suite[@]}") 9>&- >"$log" 2>&1; then
        echo "FAIL $name: \`${suite[*]}\` does not pass with it"
        show_failure "$log"
        failed+=("$n")
        continue
    fi
    echo "ok   $name in $(seconds $((SECONDS - start))) (build $(seconds $((built - start))), acceptance test $(seconds $((accepted - built))), ${suite[*]} $(seconds $((SECONDS - accepted))))"
    rm -rf "$dir"
done

echo "== ${#exercises[@]} exercise(s) checked in $(seconds $((SECONDS - start_all)))"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED: exercise(s) ${failed[*]}"
    exit 1
fi
