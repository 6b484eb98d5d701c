#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite; arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh test
# warm the numba cache once so parallel test processes don't all compile
.venv/bin/python -c "from stetho_rt.warmup import warm_all; warm_all()"
exec .venv/bin/python -m pytest -q "$@"
