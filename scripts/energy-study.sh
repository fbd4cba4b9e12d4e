#!/usr/bin/env bash
# AWS's claim that a Trn3 UltraServer is 4x as energy-efficient as a Trn2 UltraServer, computed with
# Tahoma on real work (docs/energy.md): Llama 3.1 405B training (fp8, 8k sequences, 1,152-sequence
# batches) on 4 Trn2 UltraServers (256 chips) and 2 Trn3 UltraServers (288 chips), each with the layout
# `tahoma search` ranks first, and Llama 3.1 70B serving (fp8, TP 4, 32 concurrent 1000/1000-token
# requests on one 4-chip instance). Prints the markdown table docs/energy.md embeds.
#   scripts/energy-study.sh [--write|--check] TAHOMA_BINARY
# --write rewrites the block that follows `<!-- tahoma: scripts/energy-study.sh "$bin" -->` in
# docs/energy.md (the marker scripts/generated-docs.sh also reads); --check fails, showing the diff,
# when that block is stale (ctest Docs.EnergyStudyIsCurrent).
set -euo pipefail
mode=print
if [ "${1:-}" = --write ] || [ "${1:-}" = --check ]; then
  mode=${1#--}
  shift
fi
bin=${1:?usage: scripts/energy-study.sh [--write|--check] TAHOMA_BINARY}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$mode" != print ]; then
  doc="$root/docs/energy.md"
  new=$(mktemp)
  table=$(mktemp)
  trap 'rm -f "$new" "$table"' EXIT
  "$0" "$bin" >"$table"
  awk -v table="$table" '
    skipping { if ($0 == "```") { skipping = 0 } ; next }
    after { print; while ((getline line < table) > 0) print line; print "```"; after = 0; skipping = 1; next }
    { print }
    /^<!-- tahoma: scripts\/energy-study.sh "\$bin" -->$/ { after = 1 }
  ' "$doc" >"$new"
  if cmp -s "$doc" "$new"; then exit 0; fi
  if [ "$mode" = check ]; then
    echo "docs/energy.md is stale: its numbers no longer match the code; run scripts/energy-study.sh --write" >&2
    diff -u "$doc" "$new" >&2 || true
    exit 1
  fi
  cp "$new" "$doc"
  echo "updated docs/energy.md"
  exit 0
fi
export TAHOMA_DATA="$root/data"
tahoma() { "$bin" "$@"; }

train() {  # system chips -> JSON of the searched layout's step
  local cmd
  cmd=$(tahoma search --system "$1" --chips "$2" --model llama3.1-405b --seq 8192 --global-batch 1152 \
    --precision fp8 --top 1 --format json | jq -r '.results[0].simulate')
  # shellcheck disable=SC2086
  tahoma ${cmd#tahoma } --format json
}
serve() {  # system -> JSON of the serving run
  tahoma serve --system "$1" --chips 4 --model llama3.1-70b --tp 4 --precision fp8 --concurrency 32 \
    --requests 320 --input-len 1000 --output-len 1000 --format json
}

train trn2-ultraserver 256 >"${TMPDIR:-/tmp}/energy-t2.$$"
train trn3-ultraserver 288 >"${TMPDIR:-/tmp}/energy-t3.$$"
serve trn2-ultraserver >"${TMPDIR:-/tmp}/energy-s2.$$"
serve trn3-ultraserver >"${TMPDIR:-/tmp}/energy-s3.$$"
trap 'rm -f "${TMPDIR:-/tmp}"/energy-[ts][23].$$' EXIT

jq -rn --slurpfile t2 "${TMPDIR:-/tmp}/energy-t2.$$" --slurpfile t3 "${TMPDIR:-/tmp}/energy-t3.$$" \
  --slurpfile s2 "${TMPDIR:-/tmp}/energy-s2.$$" --slurpfile s3 "${TMPDIR:-/tmp}/energy-s3.$$" '
def f(x; n): (x * pow(10; n) | round) / pow(10; n) | tostring;
def layout(j): j.config.plan | "TP \(.tp) PP \(.pp) CP \(.cp) ZeRO \(.zero)";
def trow(j): [j.config.system.name, (j.config.system.totals.chips | tostring), layout(j),
  f(j.tokens_per_s_per_chip; 0), f(j.energy.power_watts_per_chip; 0), f(j.energy.it_power_watts_per_chip; 0),
  f(j.energy.facility_power_watts_per_chip; 0), f(j.energy.tokens_per_facility_joule; 3)] | "| " + join(" | ") + " |";
def srow(j): [j.system, "4", "TP 4, 32 requests in flight",
  f(j.throughput.output_tokens_per_s_per_chip; 0), f(j.energy.avg_power_w_per_chip; 0), f(j.energy.it_power_w_per_chip; 0),
  f(j.energy.facility_power_w_per_chip; 0), f(j.energy.output_tokens_per_facility_joule; 3)] | "| " + join(" | ") + " |";
# The Trn3 chip power at which 4x would hold at the same throughput and the same host, network and PUE:
# facility W per chip must fall to (today) x ratio / 4; chip W = that / PUE - host - network; as a TDP,
# the chip power scaled with the TDP (idle and dynamic range are both shares of it).
($t2[0]) as $a | ($t3[0]) as $b | ($s2[0]) as $c | ($s3[0]) as $d
| ($b.energy.tokens_per_facility_joule / $a.energy.tokens_per_facility_joule) as $rt
| ($d.energy.output_tokens_per_facility_joule / $c.energy.output_tokens_per_facility_joule) as $rs
| ($b.energy.facility_power_watts_per_chip * $rt / 4) as $ft
| ($d.energy.facility_power_w_per_chip * $rs / 4) as $fs
| ($ft / $b.energy.pue - $b.energy.host_power_watts_per_chip - $b.energy.network_power_watts_per_chip) as $ct
| ($fs / $d.energy.pue - $d.energy.host_power_w_per_chip - $d.energy.network_power_w_per_chip) as $cs
| ($b.config.system.chip.tdp_watts) as $tdp
| "| work | system | chips | layout | tokens/s per chip | chip W | IT W per chip | facility W per chip | tokens per facility J |",
  "|---|---|---|---|---|---|---|---|---|",
  ("| training " + trow($a)),
  ("| training " + trow($b)),
  ("| serving " + srow($c)),
  ("| serving " + srow($d)),
  "",
  "Trn3 / Trn2 tokens per facility joule: training \(f($rt; 2))x, serving \(f($rs; 2))x (AWS: 4x).",
  "For 4x at the same throughput, host, network and PUE, a Trn3 chip would have to draw",
  "\(f($ct; 0)) W in training and \(f($cs; 0)) W in serving (today \(f($b.energy.power_watts_per_chip; 0)) W and \(f($d.energy.avg_power_w_per_chip; 0)) W),",
  "a TDP of \(f($tdp * ([$ct, 0] | max) / $b.energy.power_watts_per_chip; 0)) W and \(f($tdp * ([$cs, 0] | max) / $d.energy.avg_power_w_per_chip; 0)) W instead of the preset'"'"'s \(f($tdp; 0)) W (E);",
  "a negative figure means the host, network and cooling alone already exceed the budget."
'
