#!/usr/bin/env bash
# Set up stetho-rt on a fresh Debian machine with Python 3.11: system libraries, a virtual
# environment in .venv and the package (editable). Idempotent: a second run only checks.
#   bash tools/setup.sh          runtime (PortAudio)
#   bash tools/setup.sh test     + test tools (PulseAudio virtual capture device, tmux) and extras
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

need_pkgs=(libportaudio2 libsndfile1)
if [ "$mode" = "test" ]; then
  need_pkgs+=(pulseaudio pulseaudio-utils libasound2-plugins alsa-utils tmux)
fi
python_ok=1
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || python_ok=0

missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ "$python_ok" = 1 ] || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}" >&2
  sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "setup: need root or sudo to install: ${missing[*]} (install them, then rerun)" >&2
      exit 2
    fi
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
extras="."
[ "$mode" = "test" ] && extras=".[test,train]"
stamp=".venv/.stetho-setup-$mode"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages ($extras); log in .venv/setup.log" >&2
  if ! { .venv/bin/python -m pip install -q --upgrade pip \
         && .venv/bin/python -m pip install -q -e "$extras"; } > .venv/setup.log 2>&1; then
    tail -n 20 .venv/setup.log >&2
    echo "setup: pip failed (full log: .venv/setup.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
