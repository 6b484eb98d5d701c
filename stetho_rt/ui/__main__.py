"""``python -m stetho_rt.ui``: the dashboard on synthetic data (no DSP, no device)."""

from __future__ import annotations

import sys

from stetho_rt.ui.app import run_app
from stetho_rt.ui.synthetic import SyntheticPipeline

if __name__ == "__main__":
    murmur = "--murmur" in sys.argv[1:]
    sys.exit(run_app(SyntheticPipeline(t0=0.05, speed=1.0, murmur=murmur)))
