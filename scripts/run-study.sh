#!/usr/bin/env bash
# The at-scale study of docs/run.md (issue 16 item 9): a Llama 3.1 405B class run of 15T tokens on
# 16K H100 (Meta's layout), ~100K H100, ~500K Trn2 (Project Rainier-like) and 1M Trn3, each with the
# four recovery strategies: MTTI, ETTR, days, chip-hours and cost to train. Printed from
# `tahoma run --format json` (needs jq); scripts/generated-docs.sh puts the output in docs/run.md and
# scripts/plot_run_study.py plots the same cases.
#   scripts/run-study.sh [TAHOMA_BINARY] [--cases]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build/bin/tahoma}
common="--model llama3.1-405b --seq 8192 --tp 8 --pp 16 --zero 1 --pp-embedding-split --tokens 15T"
# system chips global-batch vpp: Meta's layout at 16K (dp 128 x 16 micro-batches, interleaved);
# beyond, 4 micro-batches per pipeline (plain 1F1B) keep the batch at 25M-270M tokens (docs/run.md).
cases=(
  "dgx-h100 16384 2048 2"
  "dgx-h100 98304 3072 1"
  "trn2-ultraserver 524288 16384 1"
  "trn3-ultraserver 1048576 32768 1"
)
if [ "${2:-}" = --cases ]; then
  for c in "${cases[@]}"; do
    read -r sys chips gb vpp <<<"$c"
    echo "--system $sys --chips $chips --global-batch $gb --vpp $vpp $common"
  done
  exit 0
fi
printf '%-17s %8s %6s %8s  %-10s %6s %8s %10s %10s\n' system chips MFU MTTI strategy ETTR days chip-hours cost
for c in "${cases[@]}"; do
  read -r sys chips gb vpp <<<"$c"
  # shellcheck disable=SC2086
  "$bin" run --system "$sys" --chips "$chips" --global-batch "$gb" --vpp "$vpp" $common --format json |
    jq -r --arg sys "$sys" '. as $r | $r.strategies as $all | ["restart", "spares", "in-memory", "elastic"][] |
      {key: ., value: $all[.]} |
      [$sys, ($r.chips|tostring), (($r.mfu*1000|round)/10|tostring)+"%",
       (($r.mtti_s/60*10|round)/10|tostring)+" min", .key,
       ((.value.ettr*1000|round)/10|tostring)+"%", ((.value.days_to_train*10|round)/10|tostring),
       ((.value.chip_hours/1e6*10|round)/10|tostring)+"M",
       (if .value.cost_usd == null then "-" else "$"+((.value.cost_usd/1e6|round)|tostring)+"M" end)] | @tsv' |
    while IFS=$'\t' read -r s n mfu mtti strat ettr days ch cost; do
      printf '%-17s %8s %6s %8s  %-10s %6s %8s %10s %10s\n' "$s" "$n" "$mfu" "$mtti" "$strat" "$ettr" "$days" "$ch" "$cost"
    done
done
