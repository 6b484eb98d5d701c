#!/usr/bin/env python
"""Does a gap of digital silence, or a knock that overdrives the input, change a recording's
verdict? Robustness of the classifier.

Usage::

    python tools/eval_dropouts.py [DATA_DIR] [--gaps 0.3 1 2] [--bursts 0.5] [--per-class 60]
                                  [--jobs 2]

A stethoscope that loses its link can write zeros instead of reporting a dropout; a muted input
does the same. A knock on the chest piece, or a rub, can drive the input into clipping for a
moment. The monitor must read neither as a finding. For each dataset (CirCor 2022,
PhysioNet 2016) the tool draws ``--per-class`` recordings of each training class ``normal`` and
``murmur`` (CirCor: murmur-free patients / murmur heard at the location; PhysioNet: normal /
abnormal, good signal quality only) that are at least :data:`MIN_DURATION_S` long, seeded. Each is
analysed as it is and damaged at one point drawn uniformly between 30 and 70 % of its length (the
same point for every damage):

- **gap**: that many seconds of zeros inserted;
- **burst**: that many seconds from the point on amplified :data:`BURST_GAIN` times and clipped
  at full scale (the recording keeps its length), an overdriven knock.

Each damaged copy is written to a temporary WAV (same rate, 16-bit, then deleted) and analysed
through :func:`stetho_rt.analysis.analyze_file`: the same pipeline as ``stetho-rt analyze``. The
draws depend on ``--seed`` and ``--per-class`` only, so any ``--gaps``/``--bursts`` lists give
the same recordings and points. In-sample: the shipped model was trained on these recordings;
the question is only whether the damage changes its verdict.

Prints per dataset, class and damage: the recordings, how many verdicts the damage changed and
to what. The audio never leaves the temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from _paths import data_dir  # noqa: E402

MIN_DURATION_S = 12.0
"""Shortest recording drawn [s]: a gap of a few seconds then leaves clean windows on both sides."""
DAMAGE_AT = (0.3, 0.7)
"""Range of the damage's position, as a share of the recording's length."""
BURST_GAIN = 20.0
"""Gain of an overdriven burst (+26 dB) before clipping at full scale."""
FULL_SCALE = 0.999
"""Clipping level of a burst (under 1.0, so 16-bit PCM holds it without wrapping)."""
Damage = tuple[str, float]
"""("gap" or "burst", length [s])."""
CLASSES = ("normal", "murmur")


def _eligible(rec) -> bool:  # type: ignore[no-untyped-def]
    """PhysioNet recordings of good signal quality only (the class is chosen by the caller)."""
    return rec.dataset != "physionet" or rec.meta.get("signal_quality") == "good"


def _damaged(x: np.ndarray, rate: int, cut: int, damage: Damage) -> np.ndarray:
    """``x`` (frames, channels) with ``damage`` at frame ``cut``."""
    kind, seconds = damage
    n = round(seconds * rate)
    if kind == "gap":
        return np.concatenate([x[:cut], np.zeros((n, x.shape[1])), x[cut:]])
    y = x.copy()
    y[cut : cut + n] = np.clip(y[cut : cut + n] * BURST_GAIN, -FULL_SCALE, FULL_SCALE)
    return y


def _verdicts(task: tuple[str, tuple[Damage, ...], float]) -> tuple[str | None, list[str | None]]:
    """Verdict of the recording as it is, and with each damage at ``at`` (a share of its length):
    the same point for every damage."""
    import soundfile as sf

    from stetho_rt.analysis import analysis_config, analyze_file
    from stetho_rt.commands import load_classifier

    clf = load_classifier(argparse.Namespace(), analysis_config())  # the shipped model, once
    path, damages, at = task
    x, rate = sf.read(path, dtype="float64", always_2d=True)
    cut = int(at * x.shape[0])
    labels = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "damaged.wav"
        for damage in damages:
            sf.write(out, _damaged(x, rate, cut, damage), rate, subtype="PCM_16")
            labels.append(_label(analyze_file(out, classifier=clf)))
    return _label(analyze_file(Path(path), classifier=clf)), labels


def _label(rec: dict) -> str | None:
    """The verdict's label, None for a file that failed (its record has ``error``)."""
    return rec["verdict"]["label"] if rec.get("verdict") else None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=None, help="data root")
    ap.add_argument("--gaps", nargs="*", type=float, default=[0.3, 1.0, 2.0],
                    help="lengths of the gaps of zeros [s]")
    ap.add_argument("--bursts", nargs="*", type=float, default=[0.5],
                    help="lengths of the overdriven bursts [s]")
    ap.add_argument("--per-class", type=int, default=60)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    import soundfile as sf
    from train_classifier import list_recordings

    root = args.data or data_dir()
    rng = np.random.default_rng(args.seed)
    recs = list_recordings(root)
    drawn: dict[tuple[str, str], list[str]] = {}
    for ds in ("circor", "physionet"):
        for cls in CLASSES:
            pool = [r for r in recs if r.dataset == ds and r.target == cls
                    and _eligible(r) and sf.info(str(r.path)).duration >= MIN_DURATION_S]
            pick = rng.choice(len(pool), min(args.per_class, len(pool)), replace=False)
            drawn[(ds, cls)] = [str(pool[i].path) for i in sorted(pick)]
    t0 = time.perf_counter()
    damages = (*(("gap", g) for g in args.gaps), *(("burst", b) for b in args.bursts))
    with ProcessPoolExecutor(max_workers=args.jobs) as ex:
        results = {}
        for key, paths in drawn.items():
            tasks = [(p, damages, float(rng.uniform(*DAMAGE_AT))) for p in paths]
            results[key] = list(ex.map(_verdicts, tasks))
    for d, (kind, seconds) in enumerate(damages):
        for (ds, cls), rows in results.items():
            pairs = [(orig, damaged[d]) for orig, damaged in rows]
            changed = Counter(f"{a}->{b}" for a, b in pairs if a != b)
            print(f"{ds:9s} {cls:6s} {kind:5s} {seconds:4.1f} s: {len(pairs)} recordings, "
                  f"verdict changed in {sum(changed.values())} ({dict(sorted(changed.items()))}); "
                  f"as they are: {dict(Counter(a for a, _ in pairs))}", flush=True)
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
