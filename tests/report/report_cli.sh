#!/usr/bin/env bash
# Report.CommandLine: tahoma report's own input handling (exit 2 naming the flag and what to do; the file
# -o names is never touched on failure; output through a symbolic link keeps the link). Cheap enough for
# the sanitizer build. The checks that draw need matplotlib and are skipped, with a note, without it.
#   report_cli.sh TAHOMA_BIN
set -uo pipefail
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
expect() {  # expect CODE TEXT -- COMMAND...: exit status CODE and TEXT on stderr (or stdout)
  local code=$1 text=$2
  shift 3
  "$@" > out.txt 2> err.txt
  local got=$?
  if [ "$got" -ne "$code" ] || { [ -n "$text" ] && ! grep -qF -- "$text" err.txt out.txt; }; then
    echo "FAIL: $* -> exit $got (expected $code with '$text')"; sed 's/^/    /' err.txt | head -5
    failures=$((failures + 1))
  else
    echo "ok   exit $code: $*"
  fi
}
echo "keep me" > kept.html
expect 2 "did you mean 'simulate'" -- "$bin" report simulat --system dgx-h100
expect 2 "--format" -- "$bin" report simulate --system dgx-h100 --format json -o kept.html
expect 2 "drop --trace" -- "$bin" report simulate --system dgx-h100 --trace t.json -o kept.html
expect 2 "nothing to report" -- "$bin" report
expect 2 "--from: 'missing.json' is not a readable file" -- "$bin" report --from missing.json
expect 2 "only with --from" -- "$bin" report --trace t.json simulate --system dgx-h100
expect 2 "not both" -- "$bin" report --from kept.html simulate --system dgx-h100
expect 2 "needs a file name" -- "$bin" report simulate --system dgx-h100 -o
expect 2 "--chips" -- "$bin" report simulate --system dgx-h100 --chips -5 --model llama3-8b -o kept.html
expect 2 "TAHOMA_PYTHON" -- env TAHOMA_PYTHON=/nonexistent/python3 "$bin" report simulate --system dgx-h100 \
  --chips 8 --model llama3-8b --seq 2048 --global-batch 8 -o kept.html
expect 0 "Usage: tahoma simulate" -- "$bin" report simulate --help
[ "$(cat kept.html)" = "keep me" ] || { echo "FAIL: a failed report changed the file -o names"; failures=$((failures + 1)); }

py=${TAHOMA_PYTHON:-/usr/bin/python3}
[ -x "$py" ] || py=$(command -v python3 || true)
if [ -n "$py" ] && "$py" -c "import matplotlib" 2>/dev/null; then
  "$bin" simulate --system dgx-h100 --chips 8 --model llama3-8b --seq 2048 --global-batch 8 --format json -o s.json
  echo "not json" > bad.json
  expect 2 "bad.json: not JSON" -- "$bin" report --from bad.json -o kept.html
  [ "$(cat kept.html)" = "keep me" ] || { echo "FAIL: a failed report changed the file -o names"; failures=$((failures + 1)); }
  ln -s kept.html link.html
  expect 0 "" -- "$bin" report --from s.json -o link.html
  if [ -L link.html ] && grep -q '<figure class="plot"' kept.html; then echo "ok   -o through a symbolic link";
  else echo "FAIL: -o link.html did not write through the link"; failures=$((failures + 1)); fi
  expect 0 "<!DOCTYPE html>" -- "$bin" report --from - -o - < s.json
else
  echo "note: matplotlib is not installed for ${py:-python3}; the drawing checks were skipped"
fi
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
