#!/usr/bin/env bash
# Python.Api: tests/python/test_api.py, the Python module of one build against its tahoma binary.
#   run_pytest.sh PYTHON BUILD_PYTHON_DIR TAHOMA_BIN [pytest args]
# PYTHON is the interpreter the module was built for (Debian's /usr/bin/python3, where python3-pytest
# lives). Exits 77 (ctest SKIP) when pytest is missing.
set -euo pipefail
py=$1 pythonpath=$2
export TAHOMA_BIN=$(realpath "$3")
shift 3
if ! "$py" -c "import pytest" 2>/dev/null; then
  echo "SKIP: pytest is not installed for $py (apt-get install python3-pytest, or scripts/install-deps.sh)"
  exit 77
fi
cd "$(dirname "$0")"
PYTHONPATH="$pythonpath${PYTHONPATH:+:$PYTHONPATH}" exec "$py" -m pytest -q -p no:cacheprovider test_api.py "$@"
