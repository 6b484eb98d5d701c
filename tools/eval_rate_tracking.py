#!/usr/bin/env python
"""How the running heart rate (the one the dashboard shows) tracks the heart.

Usage::

    python tools/eval_rate_tracking.py [DATA_DIR] [--limit N] [--seeds K] [--no-steps]

Two measurements, both through :class:`stetho_rt.graph.DspGraph` in 10 ms blocks, reading
``heart_rate_bpm()`` as the live snapshot does:

- **Step changes** (synthetic, :class:`stetho_rt.io.demo.DemoHeart` with ``change_rate``): 30 s at
  one rate, then another. Printed per step: how long after the first S1 of the new rate [s] (and
  after how many beats) the shown rate is within 5 bpm of the new rate for good, averaged over
  ``--seeds`` seeds; the same for the ``hr_bpm`` of the Beat events, and the share of the true
  S1s of the :data:`COVER_S` seconds after the step that got a Beat event (one whose ``s1_s``
  is within :data:`BEAT_MATCH_S` of the S1's centre).
- **Real recordings** (``DATA_DIR``, ``--limit`` per dataset, spread): every 0.5 s from 3 s on, the
  shown rate against the annotated rate of the last 6 s (60 / median annotated S1-S1 interval in
  ``[t - 6 s, t]``, ``t`` lagging the audio by 0.3 s, the detector's decision delay; instants with
  fewer than 3 annotated intervals are skipped). Printed per dataset: MAE, share within 5 and
  10 bpm, and the share of instants with a rate shown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from _paths import data_dir  # noqa: E402
from eval_segmentation import find_recordings, subset  # noqa: E402

from stetho_rt.config import DETECTOR_LOOKAHEAD_S, PipelineConfig  # noqa: E402
from stetho_rt.detect.scoring import Annotation, median_rate_bpm  # noqa: E402
from stetho_rt.graph import DspGraph  # noqa: E402
from stetho_rt.io.audiofile import open_audio  # noqa: E402
from stetho_rt.io.demo import DemoHeart  # noqa: E402

STEPS = ((75, 90), (90, 75), (75, 110), (110, 75), (60, 120), (120, 60), (100, 140), (140, 100))
"""Rate steps [bpm] (before, after)."""
DEMO_RATE = 4000
STEP_AT_S = 30.0
STEP_TOTAL_S = 60.0
REF_WINDOW_S = 6.0
SAMPLE_EVERY_S = 0.5
COVER_S = 10.0
"""Span after a step over which Beat coverage is counted [s]."""
BEAT_MATCH_S = 0.06
"""Largest distance of a Beat's ``s1_s`` from a true S1's centre [s] (the §7 tolerance)."""


def _settle(times: list[float], values: list[float | None], t0: float, target: float) -> float:
    """Seconds after ``t0`` from which every value is within 5 bpm of ``target``; inf when no
    value comes after ``t0`` or the last one is still off (it never settled)."""
    after = [(t, v) for t, v in zip(times, values, strict=True) if t >= t0]
    if not after or after[-1][1] is None or abs(after[-1][1] - target) > 5.0:
        return float("inf")
    last_bad = t0
    for t, v in after:
        if v is None or abs(v - target) > 5.0:
            last_bad = t
    return last_bad - t0


def step_response(before: float, after: float, seed: int
                  ) -> tuple[float, float, float, float, float]:
    """(shown settle [s], beats, Beat-event settle [s], beats, share of the true S1s of the
    :data:`COVER_S` s after the step with a Beat event) of one step."""
    demo = DemoHeart(rate=DEMO_RATE, hr_bpm=before, seed=seed)
    block = DEMO_RATE // 100
    g = DspGraph(DEMO_RATE, PipelineConfig(), max_block=block, classifier=None, live=False)
    g.warm_up()
    shown_t, shown, beat_t, beat_v, beat_s1 = [], [], [], [], []
    n = 0
    while n < STEP_TOTAL_S * DEMO_RATE:
        if n == round(STEP_AT_S * DEMO_RATE):
            demo.change_rate(after)
        out = g.process(demo.read(block))
        n += block
        shown_t.append(n / DEMO_RATE)
        shown.append(g.heart_rate_bpm())
        beat_t += [b.decided_s for b in out.beats]
        beat_v += [b.hr_bpm for b in out.beats]
        beat_s1 += [b.s1_s for b in out.beats]
    truth = demo.truth("S1")
    s1 = [s.onset_s for s in truth if s.onset_s >= STEP_AT_S]
    t0 = s1[0]
    centres = np.array([(s.onset_s + s.offset_s) / 2 for s in truth
                        if t0 <= s.onset_s < t0 + COVER_S])
    got = np.array(beat_s1)
    covered = np.mean([np.any(np.abs(got - c) <= BEAT_MATCH_S) for c in centres])
    d_shown = _settle(shown_t, shown, t0, after)
    d_beats = _settle(beat_t, beat_v, t0, after)

    def beats_in(d: float) -> float:
        return float("inf") if d == float("inf") else sum(1 for t in s1 if t0 < t <= t0 + d)

    return d_shown, beats_in(d_shown), d_beats, beats_in(d_beats), float(covered)


def real_tracking(path: Path, ann: Annotation) -> list[tuple[float, float | None]]:
    """(reference rate, shown rate or None) at each scored instant of one recording."""
    audio = open_audio(path)
    x, rate = audio.read_all(), audio.rate
    block = rate // 100
    g = DspGraph(rate, PipelineConfig(), max_block=block, classifier=None, live=False)
    g.warm_up()
    out = []
    next_t = 3.0
    for i in range(0, x.shape[0], block):
        g.process(x[i : i + block])
        t = (i + block) / rate - DETECTOR_LOOKAHEAD_S  # the decision delay
        if t < next_t:
            continue
        next_t += SAMPLE_EVERY_S
        recent = [grp[(grp >= t - REF_WINDOW_S) & (grp <= t)] for grp in ann.s1_groups]
        if sum(max(len(grp) - 1, 0) for grp in recent) >= 3:
            ref = median_rate_bpm(recent)
            if ref is not None:
                out.append((ref, g.heart_rate_bpm()))
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="?", type=Path, default=data_dir())
    ap.add_argument("--limit", type=int, default=120, help="recordings per dataset (spread)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--no-steps", action="store_true")
    args = ap.parse_args(argv)
    if not args.no_steps:
        print("step changes (synthetic): shown rate / Beat events within 5 bpm of the new rate")
        for before, after in STEPS:
            r = np.array([step_response(before, after, s) for s in range(1, args.seeds + 1)])
            print(f"  {before:3d} -> {after:3d} bpm: shown after {r[:, 0].mean():.1f} s "
                  f"({r[:, 1].mean():.0f} beats); beat events after {r[:, 2].mean():.1f} s "
                  f"({r[:, 3].mean():.0f} beats), {100 * r[:, 4].mean():.0f} % of the S1s "
                  f"of the {COVER_S:g} s after it with a beat event", flush=True)
    if not args.data.is_dir():
        print(f"eval_rate_tracking: {args.data} is not a folder; real recordings skipped",
              file=sys.stderr)
        return 0 if not args.no_steps else 2
    found = find_recordings([args.data], ("circor2022", "physionet2016"))
    for ds, items in sorted(found.items()):
        chosen = subset(items, args.limit)
        pairs = [p for path, ann in chosen for p in real_tracking(path, ann)]
        if not pairs:
            continue
        shown = [(ref, v) for ref, v in pairs if v is not None]
        err = np.array([abs(v - ref) for ref, v in shown])
        print(f"{ds}: shown rate vs the annotated rate of the last {REF_WINDOW_S:g} s: MAE "
              f"{err.mean():.2f} bpm, within 5 bpm {100 * np.mean(err <= 5):.1f} %, within 10 "
              f"{100 * np.mean(err <= 10):.1f} %, shown at {100 * len(shown) / len(pairs):.1f} % "
              f"of {len(pairs)} instants ({len(chosen)} recordings)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
