#!/usr/bin/env python
"""S1/S2 detection, heart rate and verdicts on real recordings with mains hum added.

Usage::

    .venv/bin/python tools/eval_hum.py [DATA_DIR] [--limit 120] [--mains 50]
        [--levels 0 0.1 0.3 1 3] [--datasets circor2022 physionet2016] [--compare]
        [--model models/classifier.onnx]

Each recording (``--limit`` spread over each dataset) gets hum added: the mains frequency and its
3rd and 5th harmonics (below the file's Nyquist), equal in amplitude, scaled so the hum's RMS is
``level`` times the recording's (DC removed). The mix, clipped to full scale, is written as a
float WAV at the file's own rate and analysed by the pipeline with the shipped classifier, and
detection and heart rate are scored as in ``tools/eval_segmentation.py`` (ARCHITECTURE.md §7;
:func:`_robustness.score_changed`). Printed per dataset and level: pooled F1 at 60 ms, heart-rate
MAE, share within 5 bpm and share of recordings given a rate, the verdict counts, the mean window
quality and how many mixes had to be clipped. ``--compare`` runs every level a second time with
hum removal off (``DspConfig(mains_hz=())``), the pipeline as it was before
:mod:`stetho_rt.dsp.hum`.
"""

from __future__ import annotations

import sys
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from _robustness import (  # noqa: E402
    probe_arguments,
    probe_classifier,
    probe_recordings,
    score_changed,
)

from stetho_rt.analysis import analysis_config  # noqa: E402
from stetho_rt.config import DspConfig, PipelineConfig  # noqa: E402

HARMONICS = (1, 3, 5)
"""Harmonics of the mains frequency added (odd ones: a transformer's hum)."""


def with_hum(x: np.ndarray, rate: int, mains_hz: float, level: float) -> np.ndarray:
    """``x`` (1-D, full scale) plus hum at ``level`` times its RMS (not clipped:
    :func:`_robustness.score_changed` clips and counts)."""
    t = np.arange(x.size) / rate
    hum = sum(np.sin(2 * np.pi * k * mains_hz * t + k) for k in HARMONICS
              if k * mains_hz < rate / 2)
    rms = np.sqrt(np.mean((x - x.mean()) ** 2))
    hum = hum / np.sqrt(np.mean(hum**2)) * rms * level
    return x + hum


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = probe_arguments(__doc__)
    ap.add_argument("--mains", type=float, default=50.0, help="hum frequency [Hz]")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0, 3.0])
    ap.add_argument("--compare", action="store_true", help="also without hum removal")
    args = ap.parse_args(argv)
    found = probe_recordings(args)
    if found is None:
        return 2
    base = analysis_config()
    configs = {"removal on": base}
    if args.compare:
        configs["removal off"] = PipelineConfig(dsp=DspConfig(mains_hz=()), stream=base.stream)
    clf = probe_classifier(args, base)
    with tempfile.TemporaryDirectory() as tmp:
        for name, items in found.items():
            for level in args.levels:
                for label, cfg in configs.items():
                    change = partial(with_hum, mains_hz=args.mains, level=level)
                    line, _ = score_changed(items, cfg, clf, change, Path(tmp))
                    print(f"{name} ({len(items)}) {args.mains:g} Hz hum x{level:g}, {label}: "
                          f"{line}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
