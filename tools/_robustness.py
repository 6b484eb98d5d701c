"""Scoring of annotated recordings after a change to their audio (the robustness probes).

:func:`score_changed` writes each recording, changed by a function of the caller's (hum added, a
device's frequency response...), to a temporary float WAV at the file's own rate, analyses it
through :func:`stetho_rt.analysis.analyze_file` (the pipeline of ``stetho-rt analyze``, with the
given classifier) and scores detection and heart rate as ``tools/eval_segmentation.py`` does
(ARCHITECTURE.md §7). Used by ``tools/eval_hum.py`` and ``tools/eval_response.py``.
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import eval_segmentation as es
import numpy as np
import soundfile as sf
from _paths import data_dir

from stetho_rt.analysis import analyze_file
from stetho_rt.classify.model import OnnxClassifier
from stetho_rt.config import PipelineConfig


def probe_arguments(doc: str) -> argparse.ArgumentParser:
    """A probe's command line: ``DATA_DIR``, ``--limit``, ``--datasets`` and ``--model``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", nargs="?", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=120, help="recordings per dataset (spread)")
    ap.add_argument("--datasets", nargs="+", default=["circor2022", "physionet2016"])
    ap.add_argument("--model", type=Path, default=None,
                    help="classifier model (.onnx beside its .json); default: the shipped one")
    return ap


def probe_recordings(args: argparse.Namespace) -> dict[str, list[Any]] | None:
    """Dataset -> ``--limit`` annotated (path, annotation) pairs spread over it; None (said on
    stderr) when ``args.data`` holds none."""
    root = args.data or data_dir()
    found = es.find_recordings([root], tuple(args.datasets))
    if not found:
        print(f"no annotated recordings under {root}", file=sys.stderr)
        return None
    return {name: es.subset(items, args.limit) for name, items in found.items()}


def probe_classifier(args: argparse.Namespace, cfg: PipelineConfig) -> OnnxClassifier:
    """The classifier of ``--model`` (default: the shipped one) for ``cfg``."""
    return OnnxClassifier.load(args.model, cfg.dsp, cfg.classifier_window_s, cfg.classifier_hop_s)


Change = Callable[[np.ndarray, int], np.ndarray]
"""``(x, rate) -> y``: a recording (1-D float64, full scale ±1, at ``rate`` Hz) changed; the
result is clipped to ±1 by :func:`score_changed`, which counts the recordings it clipped."""


def score_changed(items: list[Any], cfg: PipelineConfig, clf: OnnxClassifier | None,
                  change: Change, tmp: Path,
                  reference: dict[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """Score ``items`` ((path, annotation) pairs of :func:`eval_segmentation.find_recordings`)
    after ``change``.

    Returns one summary line (pooled F1 at 60 ms, heart-rate MAE, share within 5 bpm and share
    of recordings given a rate, the verdict counts, the mean window quality; when any, how many
    changed recordings had to be clipped at full scale; given ``reference``, the verdicts of
    the unchanged recordings by path, how many verdicts the change turned into which label) and
    the verdict label of each recording by path.
    """
    tally = es.Tally()
    verdicts: collections.Counter[str] = collections.Counter()
    labels: dict[str, str] = {}
    quality: list[float] = []
    clipped = 0
    for path, ann in items:
        x, rate = sf.read(path, dtype="float64")
        if x.ndim > 1:
            x = x.mean(axis=1)
        y = change(x, rate)
        clipped += bool(np.any(np.abs(y) > 1.0))
        changed = tmp / (path.stem + ".wav")
        sf.write(changed, np.clip(y, -1.0, 1.0).astype(np.float32), rate, subtype="FLOAT")
        rec = analyze_file(changed, cfg, classifier=clf)
        rec["file"] = str(path)
        tally.add(rec, ann)
        if "error" not in rec:
            labels[str(path)] = str((rec.get("verdict") or {}).get("label"))
            verdicts[labels[str(path)]] += 1
            quality += [w["quality"] for w in rec["windows"]]
    c = tally.counts[("all", 0.060)]
    hr = np.array([e for e in tally.hr_err if e is not None])
    given = f"{hr.size}/{len(tally.hr_err)}"
    hr_text = (f"HR MAE {hr.mean():.2f} bpm, within 5 {100 * np.mean(hr <= 5):.1f} %, given {given}"
               if hr.size else f"HR given 0/{len(tally.hr_err)}")
    clip_text = f", clipped {clipped}/{len(items)}" if clipped else ""
    line = (f"F1@60 {c.f1:.3f}, {hr_text}, verdicts {dict(sorted(verdicts.items()))}, "
            f"mean window quality {np.mean(quality) if quality else float('nan'):.2f}{clip_text}")
    if reference is not None:
        both = [p for p in labels if p in reference]
        turned = collections.Counter(labels[p] for p in both if labels[p] != reference[p])
        line += (f", verdicts changed {sum(turned.values())}/{len(both)}"
                 f" (to {dict(sorted(turned.items()))})" if turned else
                 f", verdicts changed 0/{len(both)}")
    return line, labels
