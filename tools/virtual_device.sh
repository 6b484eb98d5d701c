#!/usr/bin/env bash
# Run the tests' virtual capture device by hand: a private PulseAudio daemon whose default source is
# a FIFO fed with a looping 440 Hz tone. It prints the variables to export in another shell, then
#   stetho-rt devices
#   stetho-rt monitor --device pulse --rate 48000
# Ctrl-C stops the daemon and removes its files.  Usage: bash tools/virtual_device.sh [RATE_HZ]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python tests/virtual_device.py "$@"
