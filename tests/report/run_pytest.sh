#!/usr/bin/env bash
# Report.Plots: the pytest unit tests of python/tahoma/plots.py and report.py (tests/report/test_plots.py)
# against TAHOMA_BIN, under $TAHOMA_PYTHON or /usr/bin/python3 (where Debian's python3-matplotlib and
# python3-pytest live). Exits 77 (ctest SKIP) when pytest or matplotlib is missing.
#   run_pytest.sh TAHOMA_BIN [pytest args]
set -euo pipefail
export TAHOMA_BIN=$(realpath "$1")
shift
py=${TAHOMA_PYTHON:-/usr/bin/python3}
[ -x "$py" ] || py=$(command -v python3 || true)
if [ -z "$py" ] || ! "$py" -c "import matplotlib, pytest" 2>/dev/null; then
  echo "SKIP: matplotlib or pytest is not installed for ${py:-python3} (apt-get install python3-matplotlib python3-pytest, or scripts/install-deps.sh)"
  exit 77
fi
cd "$(dirname "$0")"
exec "$py" -m pytest -q -p no:cacheprovider test_plots.py "$@"
