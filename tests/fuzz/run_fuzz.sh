#!/usr/bin/env bash
# Runs each libFuzzer target for a fixed number of inputs from a fixed seed (so CI is repeatable),
# starting from the repository's presets, test inputs and bad-input corpus. A finding (crash,
# sanitizer report, uncaught non-tahoma exception, input slower than 10 s) fails the run and leaves
# the input in BIN_DIR/fuzz-work/findings/.
#   run_fuzz.sh BIN_DIR RUNS
set -euo pipefail
bin=$1
runs=${2:-20000}
root=$(cd "$(dirname "$0")/../.." && pwd)
export TAHOMA_DATA="$root/data"
work=$(dirname "$bin")/fuzz-work
rm -rf "$work"
mkdir -p "$work/findings"
seeds() {  # seeds NAME DIR...: a fresh directory with copies of the given files
  local dir="$work/seeds-$1"
  shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | tr '/' '_')"; done
  echo "$dir"
}
cd "$root"
yaml=$(seeds yaml data/scenarios/*.yaml data/systems/*.yaml data/models/*.yaml data/stacks/*.yaml \
  data/calibration.yaml tests/scenarios/*.yaml tests/corpus/*/scenario-* tests/corpus/*/system-* \
  tests/corpus/*/model-* tests/corpus/*/stack-* tests/corpus/*/calibration-*)
json=$(seeds json tests/workload/hf/*/config.json tests/corpus/*/config-*)
csv=$(seeds csv tests/corpus/*/csv-*)
head -4 validation/published_runs.csv >"$csv/published-head.csv"
# The three targets run at once (each is one process on one core), then report in a fixed order.
fuzz_one() {  # fuzz_one NAME SEED_DIR: exit status of the target, log in $work/NAME.log
  local name=$1 dir=$2
  mkdir -p "$work/corpus-$name"
  "$bin/$name" -runs="$runs" -seed=1 -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix="$work/findings/$name-" -print_final_stats=1 "$work/corpus-$name" "$dir" \
    >"$work/$name.log" 2>&1
}
declare -A pid
for target in fuzz_yaml:$yaml fuzz_config_json:$json fuzz_csv:$csv; do
  name=${target%%:*}
  dir=${target#*:}
  echo "== $name: $runs inputs from $(ls "$dir" | wc -l) seeds"
  fuzz_one "$name" "$dir" &
  pid[$name]=$!
done
status=0
for name in fuzz_yaml fuzz_config_json fuzz_csv; do
  if ! wait "${pid[$name]}"; then
    status=1
    echo "== $name found something:"
    grep -E "ERROR|SUMMARY|internal error|what\(\)" "$work/$name.log" | head -20
    echo "finding saved under $work/findings/ (full log $work/$name.log)"
  fi
  echo "== $name"
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$name.log" || true
done
exit $status
