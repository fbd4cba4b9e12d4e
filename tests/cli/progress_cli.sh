#!/usr/bin/env bash
# Cli.Progress (issue 17 item 4): a command that runs for seconds shows its progress line on a terminal
# (a pseudo-terminal, tests/cli/on_pty.py), never in piped stderr, never in the JSON on stdout, and
# not at all with --quiet.
#   progress_cli.sh TAHOMA_BIN
set -euo pipefail
bin=$(realpath "$1")
here=$(dirname "$0")
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Two searches of 28,380 layouts on one thread (0.3 s in a release build, seconds under the sanitizers).
# TAHOMA_PROGRESS_DELAY=0 draws the line from the first update instead of after 1 s, so the check
# does not depend on how fast this machine or build is (the 1 s default is progress_test's job).
export TAHOMA_PROGRESS_DELAY=0
work=(compare --systems trn2,tpu-v7 --chips 1024 --model llama3-70b --seq 4096 --global-batch 512
      --threads 1 --top 1 --format json)
fail() { echo "FAIL: $*"; exit 1; }
is_json() { "$py" -c "import json,sys; json.load(open(sys.argv[1]))" "$1"; }

# Piped: stderr stays empty even with no delay, stdout is JSON.
"$bin" "${work[@]}" >"$tmp/out.json" 2>"$tmp/err.txt"
[ ! -s "$tmp/err.txt" ] || fail "progress text in piped stderr: $(head -c 300 "$tmp/err.txt" | cat -A)"
is_json "$tmp/out.json" || fail "stdout is not JSON"

# On a terminal: the line, redrawn in place (<CR>), with counts; stdout is still pure JSON.
"$py" "$here/on_pty.py" "$tmp/tty.json" "$bin" "${work[@]}" >"$tmp/tty.txt" || fail "the command failed on a pty"
is_json "$tmp/tty.json" || fail "stdout is not JSON when stderr is a terminal"
elapsed=$(tail -n 1 "$tmp/tty.txt")
grep -q "searching .* layouts" "$tmp/tty.txt" || fail "no progress line on a terminal: $(head -c 300 "$tmp/tty.txt")"
grep -q "<CR>" "$tmp/tty.txt" || fail "the line is not redrawn in place"

# --quiet: nothing on the terminal.
"$py" "$here/on_pty.py" "$tmp/quiet.json" "$bin" "${work[@]}" --quiet >"$tmp/quiet.txt" || fail "--quiet failed"
! grep -q "searching" "$tmp/quiet.txt" || fail "--quiet still showed progress"
echo "ok (${elapsed} s on a terminal)"
