#!/usr/bin/env bash
# Installs the Debian 12 packages Tahoma builds with; idempotent (skips what is present).
set -euo pipefail
packages=(build-essential cmake pkg-config libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libfmt-dev libtbb-dev
          libgtest-dev libgmock-dev googletest libbenchmark-dev libopenmpi-dev openmpi-bin
          clang libclang-rt-14-dev  # clang + its runtime: the libFuzzer targets (make fuzz)
          jq  # scripts/energy-study.sh (ctest Docs.EnergyStudyIsCurrent), scripts/run-study.sh
          python3-matplotlib  # scripts/plot_run_study.py (docs/run-study.png), tahoma report (python/tahoma/plots.py)
          python3-pytest chromium  # ctest Report.Plots and Report.RendersInChromium (headless browser test)
          pybind11-dev python3-pybind11 python3-dev)  # the Python module, build/python/tahoma (docs/python.md)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq "${missing[@]}"
