#!/usr/bin/env bash
# The bad-input corpus (issue 13, item 9): every input must end in exit 0 (a correct result) or
# exit 2 (a message on stderr that names the input), within a time limit; never a crash, an abort,
# "internal error" (exit 1), a hang, or a result that prints inf or nan.
#
#   run_corpus.sh TAHOMA_BINARY CORPUS_DIR [--fast]
#
# Files: CORPUS_DIR/bad/<kind>-*.{yaml,json,csv} and CORPUS_DIR/good/<kind>-*, where <kind> picks
# the command: scenario -> simulate FILE, system -> show system FILE, model/config -> show model FILE
# (and simulate one step of it), csv -> validate FILE --engine closed-form. A bad file must give
# exit 2 and name itself; a good file exit 0.
# Command lines: CORPUS_DIR/cli-cases.txt, one per line, "EXITS | NEEDLE | ARGS": EXITS is 0, 2 or
# 0,2; on exit 2 stderr must contain NEEDLE; ARGS may use {tmp} (a scratch directory) and {corpus}.
# Lines that start with "slow" run only without --fast (the sanitizer build passes --fast).
set -uo pipefail
bin=$1
corpus=$2
fast=${3:-}
limit=${TAHOMA_CORPUS_TIMEOUT:-60}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
cases=0

# check NAME EXPECTED_EXITS NEEDLE -- ARGS...: runs tahoma ARGS and checks the outcome.
check() {
  local name=$1 expected=$2 needle=$3
  shift 4
  cases=$((cases + 1))
  local out="$tmp/out" err="$tmp/err" code
  timeout --signal=KILL "$limit" "$bin" "$@" >"$out" 2>"$err" </dev/null
  code=$?
  local why=""
  if [ "$code" -eq 137 ]; then
    why="did not finish within ${limit} s"
  elif ! [[ ",$expected," == *",$code,"* ]]; then
    why="exit $code, expected $expected"
  elif grep -q "internal error" "$err"; then
    why="internal error"
  elif [ "$code" -eq 2 ] && ! grep -q "^error: " "$err"; then
    why="exit 2 without an 'error:' message"
  elif [ "$code" -eq 2 ] && [ -n "$needle" ] && ! grep -qF -- "$needle" "$err"; then
    why="message does not name '$needle'"
  elif [ "$code" -eq 0 ] && grep -qiwE -- '-?(inf|nan)' "$out"; then
    why="result prints inf or nan"
  fi
  if [ -n "$why" ]; then
    failures=$((failures + 1))
    echo "FAIL $name: $why"
    echo "  command: tahoma $*"
    head -c 600 "$err" | sed 's/^/  stderr: /'
  fi
}

for dir in bad good; do
  [ -d "$corpus/$dir" ] || continue
  expected=2
  [ "$dir" = good ] && expected=0
  for file in "$corpus/$dir"/*; do
    [ -f "$file" ] || continue
    base=$(basename "$file")
    needle=$base
    [ "$dir" = good ] && needle=""
    case "$base" in
      scenario-*) check "$dir/$base" "$expected" "$needle" -- simulate "$file" ;;
      system-*) check "$dir/$base" "$expected" "$needle" -- show system "$file" ;;
      stack-*) check "$dir/$base" "$expected" "$needle" -- show stack "$file" ;;
      calibration-*) check "$dir/$base" "$expected" "$needle" -- calibrate validation/published_runs.csv --constants "$file" ;;
      model-* | config-*)
        check "$dir/$base" "$expected" "$needle" -- show model "$file"
        if [ "$dir" = good ]; then
          check "$dir/$base (simulate)" "$expected" "$needle" -- simulate --system dgx-h100 --model "$file" \
            --seq 2048 --global-batch 8 --engine closed-form
        fi
        ;;
      csv-*) check "$dir/$base" "$expected" "$needle" -- validate "$file" --engine closed-form ;;
      README.md) ;;
      *)
        failures=$((failures + 1))
        echo "FAIL $dir/$base: name does not start with scenario-, system-, stack-, calibration-, model-, config- or csv-"
        ;;
    esac
  done
done

if [ -f "$corpus/cli-cases.txt" ]; then
  lineno=0
  while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    [[ -z "${line// /}" || "$line" == \#* ]] && continue
    if [[ "$line" == slow* ]]; then
      [ "$fast" = --fast ] && continue
      line=${line#slow}
    fi
    IFS='|' read -r exits needle args <<<"$line"
    exits=${exits// /}
    needle=$(echo "$needle" | sed 's/^ *//; s/ *$//')
    args=${args//\{tmp\}/$tmp}
    args=${args//\{corpus\}/$corpus}
    eval "set -- $args"
    check "cli-cases.txt:$lineno" "$exits" "$needle" -- "$@"
  done <"$corpus/cli-cases.txt"
fi

# Output paths: a failed or refused write leaves no temporary file behind.
mkdir -p "$tmp/outdir"
check "output to a directory" 2 "is a directory" -- list models -o "$tmp/outdir"
if ls -a "$tmp" | grep -q '\.tmp'; then
  failures=$((failures + 1))
  echo "FAIL output to a directory: a temporary file was left in $tmp"
fi

echo "$cases cases, $failures failed"
[ "$failures" -eq 0 ]
