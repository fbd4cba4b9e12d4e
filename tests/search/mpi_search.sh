#!/usr/bin/env bash
# Issue 5: `mpirun -n 2 tahoma search ...` splits the layouts over two processes, and rank 0 prints
# exactly what a single process prints.
set -euo pipefail
tahoma=$1
mpirun=$2
args=(search --system trn3-ultraserver --chips 16384 --model llama3.1-405b --seq 8192 --global-batch 2048)
single=$("$tahoma" "${args[@]}" --format json)
multi=$("$mpirun" -n 2 --allow-run-as-root --oversubscribe "$tahoma" "${args[@]}" --format json)
if [ "$single" != "$multi" ]; then
  echo "the 2-rank search differs from the single process:"
  diff <(echo "$single") <(echo "$multi") || true
  exit 1
fi
# And the work was really split (the table says so).
"$mpirun" -n 2 --allow-run-as-root --oversubscribe "$tahoma" "${args[@]}" | grep -q "split over 2 MPI processes" ||
  { echo "the search did not run on 2 MPI processes"; exit 1; }
echo "2-rank search == single process"
