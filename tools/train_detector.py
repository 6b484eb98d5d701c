"""Train the S1/S2 detector's emission model (a one-hidden-layer MLP over 4 states) on the dev
split.

Usage::

    python tools/train_detector.py DATA_ROOT [--folds 5] [--limit N] [--cv-limit N]
        [--out models/detector.json] [--score-only]

1. Every annotated CirCor and PhysioNet 2016 recording is resampled, band-passed and turned into the
   detector's frame features (``stetho_rt.detect.features_v2``); each frame is labelled with the
   annotated state at its centre (state 0 frames are left out).
2. Patient-disjoint cross-validation (groups: CirCor ``split_group``, PhysioNet ``group``): for each
   fold a model is fitted on the other folds and the whole online detector is scored on the held-out
   recordings (pooled F1 at 60 ms, ARCHITECTURE.md §7). These are the published CV figures.
3. The final model is fitted on everything and written as JSON (coefficients, intercepts, state
   priors, a constant per-kind time shift) with its CV figures; ``models/detector.md`` is the card.

Seeded (``--seed``); features are cached in ``--cache`` (a temporary folder) between runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _paths import code_hash

from stetho_rt.config import INTERNAL_RATE_HZ, DspConfig
from stetho_rt.detect.emission import FEATURE_SETS
from stetho_rt.detect.features_v2 import HOP_SAMPLES
from stetho_rt.detect.s1s2 import detect
from stetho_rt.detect.scoring import (
    TOLERANCES_S,
    Counts,
    hr_summary,
    read_tsv,
    score_recording,
)
from stetho_rt.dsp.resample import band_passed
from stetho_rt.io.audiofile import open_audio

RATE = float(INTERNAL_RATE_HZ)  # the detector runs at the internal rate


def recordings(root: Path) -> list[tuple[str, Path, str]]:
    """(dataset, audio path, patient group) of every annotated recording."""
    out: list[tuple[str, Path, str]] = []
    cc = root / "circor2022"
    if (cc / "labels.csv").exists():
        with open(cc / "labels.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                p = cc / f"{row['recording']}.flac"
                if p.exists() and p.with_suffix(".tsv").exists():
                    out.append(("circor2022", p, "cc:" + row["split_group"]))
    pn = root / "physionet2016"
    if (pn / "labels.csv").exists():
        with open(pn / "labels.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                p = pn / f"{row['record']}.flac"
                if p.exists() and p.with_suffix(".tsv").exists():
                    grp = row.get("group") or row["record"]
                    out.append(("physionet2016", p, "pn:" + grp))
    return out


def frame_states(ann_rows: np.ndarray, n_frames: int, offset_s: float) -> np.ndarray:
    """Annotated state (0-4) at each frame centre; ``offset_s`` = upstream latency [s]."""
    t = (np.arange(n_frames) * HOP_SAMPLES + HOP_SAMPLES / 2) / RATE - offset_s
    lab = np.zeros(n_frames, dtype=np.int8)
    idx = np.searchsorted(ann_rows[:, 0], t, side="right") - 1
    ok = (idx >= 0) & (t < ann_rows[np.clip(idx, 0, None), 1])
    lab[ok] = ann_rows[idx[ok], 2].astype(np.int8)
    return lab


FEATURE_SET = "v2"
"""Frame-feature module of the model (``stetho_rt.detect.emission.FEATURE_SETS``)."""
FEATURE_SOURCES = (
    "stetho_rt/io/audiofile.py",
    "stetho_rt/dsp/resample.py",
    "stetho_rt/dsp/designs.py",
    "stetho_rt/dsp/hum.py",
    "stetho_rt/dsp/filters.py",
    "stetho_rt/detect/features_v2.py",
    "stetho_rt/config.py",
)
"""Sources that shape the cached frame features (their hash keys the cache)."""


def load_features(path: Path, cache: Path) -> dict[str, np.ndarray]:
    """Band-passed signal's frame features and labels of one recording (cached).

    The band-passed signal comes from the package's own resample, hum and band-pass stages; the
    cache key names the feature set and hashes the code that makes the features
    (:data:`FEATURE_SOURCES`), so features of another set or of older code are never reused.
    """
    key = f"_{FEATURE_SET}_{code_hash(FEATURE_SOURCES)}.npz"
    c = cache / (path.parent.name + "_" + path.stem + key)
    if c.exists():
        return dict(np.load(c))
    audio = open_audio(path)
    bp, offset = band_passed(audio.read_all(), audio.rate, DspConfig())
    fe = FEATURE_SETS[FEATURE_SET].FrameFeatures(max_block=max(bp.shape[0], 1))
    feats = fe.process(bp).copy()
    rows = np.loadtxt(path.with_suffix(".tsv"), delimiter="\t", ndmin=2)
    lab = frame_states(rows, feats.shape[0], offset)
    d = {"feats": feats.astype(np.float32), "lab": lab, "bp": bp, "offset": np.array(offset)}
    np.savez(c, **d)
    return d


CONTEXT_OFFSETS = (-40, -30, -22, -15, -10, -6, -3, -1, 0, 1, 2)
"""Frame offsets of the emission model's input (400 ms past context, 20 ms look-ahead)."""
HIDDEN: tuple[int] = (48,)
"""Hidden ReLU layer size (the online kernel runs one hidden layer)."""
FIT_FRAMES = 160_000
"""Labelled frames subsampled (seeded) per fit, of about 3.2 M (640 k: better CV F1 on every
fold, but worse on the synthetic high-rate tests; not shipped, ``models/detector.md``)."""
MAX_EPOCHS = 35


def context(
    feats: np.ndarray, offsets: tuple[int, ...] = CONTEXT_OFFSETS, rows: np.ndarray | None = None
) -> np.ndarray:
    """Stack features at the context offsets (clamped at the ends, as the online kernel does)."""
    n = feats.shape[0]
    idx = np.arange(n) if rows is None else rows
    return np.hstack([feats[np.clip(idx + o, 0, n - 1)] for o in offsets])


def fit(x: np.ndarray, y: np.ndarray, seed: int, fit_frames: int = FIT_FRAMES) -> dict[str, Any]:
    """Emission MLP of states 1-4 on context inputs (a seeded subsample of about ``fit_frames``
    of them); returns the JSON-able model."""
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(seed)
    keep = rng.random(y.shape[0]) < min(1.0, fit_frames / max(y.shape[0], 1))
    x, y = x[keep], y[keep]
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf = MLPClassifier(
        HIDDEN, alpha=1e-4, max_iter=MAX_EPOCHS, early_stopping=True, random_state=seed
    )
    clf.fit((x - mean) / scale, y)
    order = [list(clf.classes_).index(s) for s in (1, 2, 3, 4)]
    w1 = (clf.coefs_[0] / scale[:, None]).T
    b1 = clf.intercepts_[0] - w1 @ mean
    prior = np.array([(y == s).mean() for s in (1, 2, 3, 4)])
    out: dict[str, Any] = {
        "type": "mlp-relu",
        "feature_set": FEATURE_SET,
        "offsets": list(CONTEXT_OFFSETS),
        "w1": w1.tolist(),
        "b1": b1.tolist(),
        "prior": prior.tolist(),
        "time_shift_s": [0.0, 0.0],
    }
    out["w2"] = clf.coefs_[1].T[order].tolist()
    out["b2"] = clf.intercepts_[1][order].tolist()
    return out


def centre_shift(pairs: list[tuple[float, float]]) -> float:
    """Median signed (annotation - detection) centre difference [s] of near pairs."""
    return float(np.median([a - b for a, b in pairs])) if pairs else 0.0


def nearest_pairs(sounds: list[Any], ann: Any, kind: str) -> list[tuple[float, float]]:
    """(annotated, detected) centres closer than 100 ms, per kind."""
    ref = ann.centres[kind]
    out = []
    for s in sounds:
        if s.kind != kind or ref.size == 0:
            continue
        i = int(np.argmin(np.abs(ref - s.centre_s)))
        if abs(ref[i] - s.centre_s) < 0.1:
            out.append((float(ref[i]), s.centre_s))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("root", type=Path)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument(
        "--limit", type=int, default=None, help="recordings used (spread), all if unset"
    )
    ap.add_argument(
        "--cv-limit", type=int, default=None, help="held-out recordings scored per fold"
    )
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument(
        "--fit-frames", type=int, default=FIT_FRAMES,
        help="labelled frames subsampled (seeded) per fit (default %(default)s)",
    )
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "stetho_det_cache2")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "models" / "detector.json"
    )
    ap.add_argument(
        "--score-only",
        action="store_true",
        help="re-score the CV with the fold models kept in --cache (after a change to the online "
        "detector that leaves the emission model alone) and refresh the figures in --out",
    )
    args = ap.parse_args(argv)
    if args.fit_frames < 1:
        ap.error(f"--fit-frames {args.fit_frames}: must be at least 1")
    args.cache.mkdir(parents=True, exist_ok=True)
    recs = recordings(args.root)
    if args.limit and args.limit < len(recs):
        recs = [recs[i] for i in np.linspace(0, len(recs) - 1, args.limit).round().astype(int)]
    t0 = time.time()
    data = [load_features(p, args.cache) for _, p, _ in recs]
    print(f"features of {len(recs)} recordings in {time.time() - t0:.0f} s", flush=True)
    anns = [read_tsv(p.with_suffix(".tsv")) for _, p, _ in recs]
    groups = np.array([g for _, _, g in recs])
    uniq = np.unique(groups)
    rng = np.random.default_rng(args.seed)
    fold_of_group = dict(zip(uniq, rng.permutation(len(uniq)) % args.folds, strict=True))
    fold = np.array([fold_of_group[g] for g in groups])

    n_lab = sum(int((d["lab"] > 0).sum()) for d in data)

    def stack(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Context inputs and states of a seeded subsample (about ``--fit-frames``) of labelled
        frames."""
        frac = min(1.0, 1.15 * args.fit_frames * len(data) / max(len(idx), 1) / max(n_lab, 1))
        sub = np.random.default_rng(args.seed + len(idx))
        xs, ys = [], []
        for i in idx:
            lab = data[i]["lab"]
            rows = np.flatnonzero((lab > 0) & (sub.random(lab.shape[0]) < frac))
            xs.append(context(data[i]["feats"], rows=rows))
            ys.append(lab[rows])
        return np.concatenate(xs), np.concatenate(ys)

    cv: dict[str, dict[str, Counts]] = {}
    shifts: dict[str, list[tuple[float, float]]] = {"S1": [], "S2": []}
    hr_err: dict[str, list[float | None]] = {}
    per_fold: dict[str, list[float]] = {}
    for k in range(args.folds):
        fold_counts: dict[str, Counts] = {}
        # fold models are kept: the CV can be re-scored after a detector change (--score-only)
        tmp = args.cache / f"fold_model_{k}.json"
        tr = np.flatnonzero(fold != k)
        te = np.flatnonzero(fold == k)
        if args.cv_limit and args.cv_limit < te.size:
            te = te[np.linspace(0, te.size - 1, args.cv_limit).round().astype(int)]
        if not args.score_only:
            tmp.write_text(json.dumps(fit(*stack(tr), seed=args.seed + k,
                                          fit_frames=args.fit_frames)))
        for i in te:
            out, hr = detect(data[i]["bp"], float(data[i]["offset"]), tmp)
            sounds = out.sounds
            ds = recs[i][0]
            sc = score_recording([(s.kind, s.centre_s) for s in sounds], anns[i])
            for tol in TOLERANCES_S:
                cv.setdefault(ds, {}).setdefault(f"{tol:.2f}", Counts()).add(sc[("all", tol)])
            fold_counts.setdefault(ds, Counts()).add(sc[("all", 0.06)])
            ref = anns[i].hr_reference_bpm()
            if ref is not None:
                hr_err.setdefault(ds, []).append(None if hr is None else abs(hr - ref))
            for kind in ("S1", "S2"):
                shifts[kind] += nearest_pairs(sounds, anns[i], kind)
        for ds, c in fold_counts.items():
            per_fold.setdefault(ds, []).append(round(c.f1, 4))
        print(
            f"fold {k}: "
            + ", ".join(f"{ds} F1@60 {c.f1:.4f}" for ds, c in fold_counts.items())
            + " (pooled so far: "
            + ", ".join(f"{ds} {c['0.06'].f1:.4f}" for ds, c in cv.items())
            + ")",
            flush=True,
        )
    hr_scores = {ds: hr_summary(hr_err[ds]) for ds in cv}
    cv_fig = {
        ds: {
            **{f"f1_{int(float(t) * 1000)}ms": round(c.f1, 4) for t, c in d.items()},
            "hr_mae_bpm": round(hr_scores[ds]["mae"], 3),
            "hr_within5": round(hr_scores[ds]["within5"], 4),
            "f1_60ms_per_fold": per_fold[ds],
            "f1_60ms_fold_sd": round(float(np.std(per_fold[ds])), 4),
        }
        for ds, d in cv.items()
    }
    print(json.dumps(cv_fig, indent=1))
    if args.score_only:  # keep the fitted weights, refresh the figures
        model = json.loads(args.out.read_text())
    else:
        model = fit(*stack(np.arange(len(recs))), seed=args.seed, fit_frames=args.fit_frames)
    model["time_shift_s"] = [
        round(centre_shift(shifts["S1"]), 4),
        round(centre_shift(shifts["S2"]), 4),
    ]
    model["features"] = (
        f"stetho_rt.detect.features_{FEATURE_SET} "
        f"({FEATURE_SETS[FEATURE_SET].N_FEATURES} columns) at each offset"
    )
    model["states"] = ["S1", "systole", "S2", "diastole"]
    model["trained_on"] = {
        "recordings": len(recs),
        "datasets": sorted({d for d, _, _ in recs}),
        "frames": int(sum((d["lab"] > 0).sum() for d in data)),
        "fit_frames": args.fit_frames,
        "seed": args.seed,
    }
    model["cv"] = {"folds": args.folds, "split": "patient groups", "figures": cv_fig}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(model, indent=1) + "\n")
    print(
        f"wrote {args.out} (time shift S1 {model['time_shift_s'][0]:+.3f} s, "
        f"S2 {model['time_shift_s'][1]:+.3f} s) in {time.time() - t0:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
