#!/usr/bin/env bash
# Cli.Progress (issue 17 item 4): a search that runs for seconds shows its progress line on a terminal
# (a pseudo-terminal from script(1)), never in piped stderr, never in the JSON on stdout, and not at
# all with --quiet.
#   progress_cli.sh TAHOMA_BIN
set -euo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# About 3 s on one thread of a 2020s core; the line shows after 1 s.
search=(search --system trn2 --chips 16384 --model deepseek-v3 --seq 4096 --global-batch 8192 --threads 1 --top 2)
fail() { echo "FAIL: $*"; exit 1; }

# Piped: stderr stays empty, stdout is JSON.
"$bin" "${search[@]}" --format json >"$tmp/out.json" 2>"$tmp/err.txt"
[ ! -s "$tmp/err.txt" ] || fail "progress text in piped stderr: $(cat -A "$tmp/err.txt" | head -c 300)"
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$tmp/out.json" || fail "stdout is not JSON"

if ! command -v script >/dev/null; then
  echo "SKIP: script(1) is not installed (util-linux), so no terminal test"
  exit 77
fi
# On a terminal: stderr is the pty (recorded in the typescript), stdout a file.
run_on_tty() {  # $1: typescript, rest: extra flags
  local ts=$1
  shift
  local start=$SECONDS
  script -qec "'$bin' ${search[*]} --format json $* >'$tmp/tty.json'" "$ts" >/dev/null
  echo $((SECONDS - start))
}
elapsed=$(run_on_tty "$tmp/typescript")
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$tmp/tty.json" || fail "stdout on a terminal is not JSON"
if grep -q "searching" "$tmp/typescript"; then
  grep -q "layouts" "$tmp/typescript" || fail "the line has no counts"
  grep -q $'\r' "$tmp/typescript" || fail "the line is not redrawn in place"
elif [ "$elapsed" -ge 2 ]; then
  fail "a ${elapsed} s search showed no progress on a terminal: $(cat -A "$tmp/typescript" | head -c 300)"
else
  echo "note: the search took under 2 s here, too short to require the line"
fi
run_on_tty "$tmp/quiet" --quiet >/dev/null
! grep -q "searching" "$tmp/quiet" || fail "--quiet still showed progress"
echo "ok"
