#!/usr/bin/env bash
# Set up (if needed) and run the monitor; arguments go to `stetho-rt`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh run
exec .venv/bin/stetho-rt "$@"
