#!/usr/bin/env bash
# The numbers the README and docs/validation.md print come from the code: each block that follows a
# line `<!-- tahoma: COMMAND -->` is the output of COMMAND (a shell pipeline in which `tahoma` is
# the built binary, run from the repository root), fenced as code; docs/validation.md is the whole
# output of `tahoma validate ... --cv source --format markdown`, docs/validation-serving.md that of
# `tahoma validate validation/published_serving.csv --format markdown`. docs/run.md's blocks are
# rendered like the README's.
#   scripts/generated-docs.sh [--check] [TAHOMA_BINARY]
# Without --check it rewrites the files; with --check it fails (and shows the diff) when one is
# stale, which the test suite runs (ctest Docs.GeneratedNumbersAreCurrent).
set -euo pipefail
check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "${1:-$root/build/bin/tahoma}")" && pwd)/$(basename "${1:-$root/build/bin/tahoma}")
cd "$root"
export TAHOMA_DATA="$root/data"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tahoma() { "$bin" "$@"; }

# Rewrites every generated block of markdown file $1 into $2.
render() {
  local in=$1 out=$2 line command skipping=0 after_marker=0
  : >"$out"
  while IFS= read -r line || [ -n "$line" ]; do
    if [ "$skipping" = 1 ]; then  # inside the old block: drop it up to its closing fence
      [ "$line" = '```' ] && skipping=0
      continue
    fi
    if [ "$after_marker" = 1 ]; then
      after_marker=0
      if [ "$line" != '```' ] && [ "$line" != '```text' ]; then
        echo "$in: the line after '<!-- tahoma: $command -->' must open a code block (\`\`\`)" >&2
        exit 2
      fi
      printf '%s\n' "$line" >>"$out"
      (eval "$command") >>"$out" || { echo "$in: '$command' failed" >&2; exit 2; }
      printf '```\n' >>"$out"
      skipping=1
      continue
    fi
    printf '%s\n' "$line" >>"$out"
    if [[ "$line" =~ ^\<\!--\ tahoma:\ (.*)\ --\>$ ]]; then
      command=${BASH_REMATCH[1]}
      after_marker=1
    fi
  done <"$in"
}

render README.md "$tmp/README.md"
render docs/run.md "$tmp/run.md"
tahoma validate validation/published_runs.csv --cv source --format markdown >"$tmp/validation.md"
tahoma validate validation/published_serving.csv --format markdown >"$tmp/validation-serving.md"
status=0
for pair in README.md:README.md docs/run.md:run.md docs/validation.md:validation.md docs/validation-serving.md:validation-serving.md; do
  file=${pair%%:*}
  new=$tmp/${pair#*:}
  if cmp -s "$file" "$new"; then continue; fi
  if [ "$check" = 1 ]; then
    echo "$file is stale: its numbers no longer match the code; run scripts/generated-docs.sh" >&2
    diff -u "$file" "$new" | head -60 >&2 || true
    status=1
  else
    cp "$new" "$file"
    echo "updated $file"
  fi
done
exit $status
