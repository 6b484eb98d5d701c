#!/usr/bin/env python
"""S1/S2 detection, heart rate and verdicts on real recordings with mains hum added.

Usage::

    .venv/bin/python tools/eval_hum.py [DATA_DIR] [--limit 120] [--mains 50]
        [--levels 0 0.1 0.3 1 3] [--datasets circor2022 physionet2016] [--compare]

Each recording (``--limit`` spread over each dataset) gets hum added: the mains frequency and its
3rd and 5th harmonics (below the file's Nyquist), equal in amplitude, scaled so the hum's RMS is
``level`` times the recording's (DC removed). The mix, clipped to full scale, is written as a
float WAV at the file's own rate and analysed by the pipeline (``analysis.analyze_file``, with the
shipped classifier); detection and heart rate are scored as in ``tools/eval_segmentation.py``
(ARCHITECTURE.md §7). Printed per dataset and level: pooled F1 at 60 ms, heart-rate MAE, share
within 5 bpm and share of recordings given a rate, the verdict counts and the mean window
quality. ``--compare`` runs every level a second time with hum removal off
(``DspConfig(mains_hz=())``), the pipeline as it was before :mod:`stetho_rt.dsp.hum`.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import eval_segmentation as es  # noqa: E402
from _paths import data_dir  # noqa: E402

from stetho_rt.analysis import analysis_config, analyze_file  # noqa: E402
from stetho_rt.classify.model import OnnxClassifier  # noqa: E402
from stetho_rt.config import DspConfig, PipelineConfig  # noqa: E402

HARMONICS = (1, 3, 5)
"""Harmonics of the mains frequency added (odd ones: a transformer's hum)."""


def with_hum(x: np.ndarray, rate: int, mains_hz: float, level: float) -> np.ndarray:
    """``x`` (1-D, full scale) plus hum at ``level`` times its RMS, clipped to ±1."""
    t = np.arange(x.size) / rate
    hum = sum(np.sin(2 * np.pi * k * mains_hz * t + k) for k in HARMONICS
              if k * mains_hz < rate / 2)
    rms = np.sqrt(np.mean((x - x.mean()) ** 2))
    hum = hum / np.sqrt(np.mean(hum**2)) * rms * level
    return np.clip(x + hum, -1.0, 1.0)


def run(items: list, cfg: PipelineConfig, clf: OnnxClassifier, mains_hz: float, level: float,
        tmp: Path) -> str:
    """Score ``items`` ((path, annotation) pairs) with hum at ``level``; one summary line."""
    tally = es.Tally()
    verdicts: collections.Counter[str] = collections.Counter()
    quality: list[float] = []
    for path, ann in items:
        x, rate = sf.read(path, dtype="float64")
        if x.ndim > 1:
            x = x.mean(axis=1)
        mixed = tmp / (path.stem + ".wav")
        sf.write(mixed, with_hum(x, rate, mains_hz, level).astype(np.float32), rate,
                 subtype="FLOAT")
        rec = analyze_file(mixed, cfg, classifier=clf)
        rec["file"] = str(path)
        tally.add(rec, ann)
        if "error" not in rec:
            verdicts[str((rec.get("verdict") or {}).get("label"))] += 1
            quality += [w["quality"] for w in rec["windows"]]
    c = tally.counts[("all", 0.060)]
    hr = np.array([e for e in tally.hr_err if e is not None])
    given = f"{hr.size}/{len(tally.hr_err)}"
    hr_text = (f"HR MAE {hr.mean():.2f} bpm, within 5 {100 * np.mean(hr <= 5):.1f} %, given {given}"
               if hr.size else f"HR given 0/{len(tally.hr_err)}")
    return (f"F1@60 {c.f1:.3f}, {hr_text}, verdicts {dict(sorted(verdicts.items()))}, "
            f"mean window quality {np.mean(quality) if quality else float('nan'):.2f}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=120, help="recordings per dataset (spread)")
    ap.add_argument("--mains", type=float, default=50.0, help="hum frequency [Hz]")
    ap.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0, 3.0])
    ap.add_argument("--datasets", nargs="+", default=["circor2022", "physionet2016"])
    ap.add_argument("--compare", action="store_true", help="also without hum removal")
    args = ap.parse_args(argv)
    root = args.data or data_dir()
    found = es.find_recordings([root], tuple(args.datasets))
    if not found:
        print(f"no annotated recordings under {root}", file=sys.stderr)
        return 2
    base = analysis_config()
    configs = {"removal on": base}
    if args.compare:
        configs["removal off"] = PipelineConfig(dsp=DspConfig(mains_hz=()), stream=base.stream)
    clf = OnnxClassifier.load(None, base.dsp, base.classifier_window_s, base.classifier_hop_s)
    with tempfile.TemporaryDirectory() as tmp:
        for name, items in found.items():
            items = es.subset(items, args.limit)
            for level in args.levels:
                for label, cfg in configs.items():
                    line = run(items, cfg, clf, args.mains, level, Path(tmp))
                    print(f"{name} ({len(items)}) {args.mains:g} Hz hum x{level:g}, {label}: "
                          f"{line}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
