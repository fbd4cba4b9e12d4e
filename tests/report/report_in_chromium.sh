#!/usr/bin/env bash
# Report.RendersInChromium (issue 17 item 3): `tahoma report` pages for simulate, search, compare, validate
# (training and serving), serve and a scaling list load in headless Chromium with every plot drawn
# (data-plots-rendered="N/N" with N the <figure class="plot"> count expected for the kind), no script error
# or console message, no reference outside the file, and a screenshot of the simulate page that is not blank.
# Exits 77 (ctest SKIP) when chromium or matplotlib is missing; scripts/install-deps.sh installs both.
#   report_in_chromium.sh TAHOMA_BIN [--screenshot-to FILE.png]   (docs/report.png is made this way)
set -euo pipefail
bin=$(realpath "$1")
shot_to=""
if [ "${2:-}" = "--screenshot-to" ]; then shot_to=$(realpath -m "$3"); fi
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${TAHOMA_PYTHON:-/usr/bin/python3}
[ -x "$py" ] || py=$(command -v python3 || true)
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then
  echo "SKIP: chromium is not installed (apt-get install chromium, or scripts/install-deps.sh)"
  exit 77
fi
if [ -z "$py" ] || ! "$py" -c "import matplotlib" 2>/dev/null; then
  echo "SKIP: matplotlib is not installed for ${py:-python3} (apt-get install python3-matplotlib, or scripts/install-deps.sh)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"  # reports are written as ./NAME.html, so the reproduce line they show reads -o simulate.html

browse() {  # browse FILE.html OUT.dom [screenshot.png]: headless Chromium, DOM after load, console on stderr
  local extra=()
  if [ -n "${3:-}" ]; then extra=(--screenshot="$3" --window-size=1280,2300 --hide-scrollbars); else extra=(--dump-dom); fi
  timeout 120 "$chromium" --headless --disable-gpu --no-sandbox --no-first-run --disable-dev-shm-usage \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 --virtual-time-budget=5000 \
    "${extra[@]}" "file://$1" > "$2" 2> "$2.log"
}

small=(--system dgx-h100 --chips 16 --model llama3-8b --seq 2048 --global-batch 32)
for chips in 16 32; do
  "$bin" simulate --system dgx-h100 --chips $chips --model llama3-8b --seq 2048 --global-batch 32 --tp 2 --pp 2 \
    --format json -o "$work/s$chips.json"
done
"$py" -c "import json,sys; json.dump([json.load(open(f)) for f in sys.argv[1:]], open('$work/scaling.json','w'))" \
  "$work/s16.json" "$work/s32.json"

# name | expected plots | tahoma report arguments
cases=(
  "simulate|3|simulate ${small[*]} --tp 2 --pp 2"
  "search|4|search ${small[*]}"
  "compare|3|compare --systems dgx-h100,tpu-v5p --chips 16 --model llama3-8b --seq 2048 --global-batch 32"
  "validate|1|validate $root/validation/published_runs.csv --family ampere"
  "validate-serving|1|validate $root/validation/published_serving.csv --family AWS"
  "serve|1|serve --system dgx-h100 --chips 8 --model llama3-8b --tp 2 --rate 4 --requests 64"
  "search-serve|1|search --serve --system dgx-h100 --chips 8 --model llama3-8b --input-len 1000 --output-len 200 --slo-ttft 2s --slo-tpot 100ms --requests 100"
  "scaling|2|--from $work/scaling.json"
)
failures=0
for case in "${cases[@]}"; do
  IFS='|' read -r name want args <<< "$case"
  html="$work/$name.html"
  # shellcheck disable=SC2086  # the arguments are words without spaces
  if ! "$bin" report $args -o "$name.html" 2> "$work/$name.err"; then
    echo "FAIL $name: tahoma report $args exited nonzero:"; cat "$work/$name.err"; failures=$((failures + 1)); continue
  fi
  figures=$( (grep -o "<figure class=\"plot\"" "$html" || true) | wc -l)
  browse "$html" "$work/$name.dom" || { echo "FAIL $name: chromium failed"; tail -5 "$work/$name.dom.log"; failures=$((failures + 1)); continue; }
  rendered=$(grep -o 'data-plots-rendered="[0-9]*/[0-9]*"' "$work/$name.dom" || true)
  problems=()
  [ "$figures" -eq "$want" ] || problems+=("$figures plots in the file, expected $want")
  [ "$rendered" = "data-plots-rendered=\"$want/$want\"" ] || problems+=("browser drew '${rendered:-nothing}', expected $want/$want")
  [ "$(grep -o '<svg' "$work/$name.dom" | wc -l)" -ge "$want" ] || problems+=("fewer <svg> elements than plots in the DOM")
  if grep -q 'data-tahoma-error="' "$work/$name.dom"; then problems+=("script error: $(grep -o 'data-tahoma-error="[^"]*"' "$work/$name.dom")"); fi
  if grep -E 'CONSOLE|Uncaught' "$work/$name.dom.log" > "$work/$name.console"; then problems+=("console: $(head -3 "$work/$name.console")"); fi
  if grep -Eq '(src|href)="(https?:)?//|url\((https?:)?//|@import' "$html"; then problems+=("references outside the file"); fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "ok   $name: $want plots rendered ($(wc -c < "$html") bytes)"
  else
    echo "FAIL $name: ${problems[*]}"; failures=$((failures + 1))
  fi
done

# The screenshot shows the plots: a good share of non-white pixels and many colours.
browse "$work/simulate.html" "$work/shot.out" "$work/simulate.png"
if ! "$py" - "$work/simulate.png" <<'PY'
import sys
import matplotlib.image as mpimg
img = mpimg.imread(sys.argv[1])[..., :3]
h, w = img.shape[:2]
ink = float((img.sum(axis=2) < 2.9).mean())
colours = len({tuple((p * 255).astype(int)) for p in img[:: 7, :: 7].reshape(-1, 3)})
print(f"     screenshot {w}x{h}: {100 * ink:.1f}% non-white, {colours} colours sampled")
sys.exit(0 if w >= 1000 and h >= 2000 and ink > 0.05 and colours > 50 else 1)
PY
then
  echo "FAIL screenshot: blank or too small"; failures=$((failures + 1))
fi
if [ -n "$shot_to" ]; then cp "$work/simulate.png" "$shot_to"; echo "wrote $shot_to"; fi
[ "$failures" -eq 0 ] || { echo "$failures report check(s) failed"; exit 1; }
echo "all reports render in $("$chromium" --version 2>/dev/null | head -1)"
