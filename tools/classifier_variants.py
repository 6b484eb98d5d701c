#!/usr/bin/env python
"""Variants of the shipped classifier's verdict, scored on the same folds as its model card.

Usage::

    .venv/bin/python tools/classifier_variants.py [--data DIR] [--cache DIR] [--heads]
        [--augment N]

Computes the out-of-fold window and session-head probabilities of the shipped recipe once
(``tools/train_classifier.py``'s folds, weights, augmented copies and models; with a warm
window cache, about 2.5 min before the copies and 7 min with them, a one-off run with a
training beside it), then prints, per variant, CirCor
recording AUROC, CirCor patient weighted accuracy and PhysioNet MAcc:

- **blend weight** of the session head (0 = windows only, 1 = the head alone), the threshold
  tuned in-sample on the objective of ``train_classifier.tune_threshold``;
- **pooling** of the clean windows' murmur shares (mean = shipped, median, quality-weighted,
  20 % trimmed mean, mean of logits, mean over all windows), nested like the shipped figures
  (each fold at the threshold chosen on the other four);
- with ``--unknown-seeds S [S ...]``, CirCor Unknown patients unused vs taught as artifact (the
  shipped classes), on the same folds for both, one fold assignment per seed (about 6 min each);
- with ``--spread-seeds S [S ...]``, the session head on the window vectors' medians only vs on
  their medians and inter-quartile ranges (shipped), on the same folds, one fold assignment per
  seed (about 6 min each: three took 18 min in a one-off run of the same computation, on means
  and standard deviations);
- with ``--heads``, the window head's size (300 rounds at learning rate 0.05; 100 rounds, 8 leaves,
  80 windows per leaf), each a full cross-validation (about 2.5 min more each), nested.

The shipped rows reproduce the model card's figures, which checks the harness.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import train_classifier as T  # noqa: E402
from _paths import data_dir  # noqa: E402

from stetho_rt.classify.verdict import (  # noqa: E402
    VerdictRules,
    aggregate,
    decide,
    window_terms,
)

Pool = Callable[[np.ndarray, np.ndarray, np.ndarray], float]
"""(murmur shares, qualities, clean mask) of one recording's windows -> its pooled share."""


def _pooled_rows(t: T.Table, P: np.ndarray, PS: np.ndarray, pool: Pool,
                 threshold: float) -> list[dict]:
    """Verdict rows as ``verdict.aggregate`` makes them, with the windows' share pooled by
    ``pool`` instead of the mean (the same :func:`~stetho_rt.classify.verdict.decide`: artifact
    gate, probabilities, blend and rounding)."""
    rules = VerdictRules(session_weight=T.SESSION_WEIGHT, murmur_threshold=threshold)
    order = np.argsort(t.rec, kind="stable")
    bounds = np.searchsorted(t.rec[order], np.arange(len(t.recs) + 1))
    rows = []
    for i, r in enumerate(t.recs):
        idx = order[bounds[i] : bounds[i + 1]]
        if idx.size == 0:
            verdict = aggregate(P[idx], t.q[idx], rules)  # no window: artifact
        else:
            q = t.q[idx].astype(np.float64)
            clean, share, art = window_terms(P[idx].astype(np.float64), q, rules)
            session = PS[i] if np.isfinite(PS[i, 0]) else None
            verdict = decide(pool(share, q, clean), float(art.mean()), len(idx),
                             int(clean.sum()), rules, session)
        rows.append({"dataset": r.dataset, "meta": r.meta, "verdict": verdict})
    return rows


def _line(name: str, s: dict, extra: str = "") -> str:
    return (f"  {name:<28} CirCor AUROC {s['circor']['auroc']:.3f}  patient wacc "
            f"{s['circor']['patient_wacc']:.3f}  PhysioNet MAcc {s['physionet']['macc']:.3f}"
            f"{extra}")


POOLS: dict[str, Pool] = {
    "mean (shipped)": lambda s, q, c: s[c].mean() if c.any() else s.mean(),
    "median": lambda s, q, c: float(np.median(s[c] if c.any() else s)),
    "quality-weighted": lambda s, q, c: (float((q * c * s).sum() / (q * c).sum())
                                         if (q * c).sum() > 0 else s.mean()),
    "20 % trimmed mean": lambda s, q, c: _trimmed(s[c] if c.any() else s),
    "mean of logits": lambda s, q, c: _logit_mean(s[c] if c.any() else s),
    "mean over all windows": lambda s, q, c: s.mean(),
}


def _trimmed(x: np.ndarray) -> float:
    """20 % trimmed mean (a fifth of the values cut at each end, rounded down)."""
    from scipy.stats import trim_mean

    return float(trim_mean(x, 0.2))


def _logit_mean(x: np.ndarray) -> float:
    from scipy.special import expit, logit

    return float(expit(logit(np.clip(x, 1e-4, 1 - 1e-4)).mean()))


HEAD_VARIANTS = {
    "300 rounds, learning rate 0.05": {"max_iter": 300, "learning_rate": 0.05},
    "100 rounds, 8 leaves, 80/leaf": {"max_iter": 100, "max_leaf_nodes": 8,
                                      "min_samples_leaf": 80},
}


def unknown_comparison(t: T.Table, seeds: list[int]) -> None:
    """Print, per fold seed, nested CirCor patient weighted accuracy, CirCor AUROC and PhysioNet
    MAcc with CirCor's Unknown patients left out of training and taught as artifact; both on the
    same folds (stratified as if Unknown were unused, so the classes do not move the folds)."""
    from dataclasses import replace

    unknown = np.array([r.dataset == "circor" and r.meta["patient_murmur"] == "Unknown"
                        for r in t.recs])
    strat = np.array([f"{r.dataset}:{None if u else r.target}"
                      for r, u in zip(t.recs, unknown, strict=True)])
    unused = replace(t, y=np.where(unknown, -1, t.y))
    for seed in seeds:
        fold = T.folds(t, seed=seed, strat=strat)
        tests = [fold == i for i in range(int(fold.max()) + 1)]
        a, b = (T.tune_threshold(tv, T.oof_probs(tv, T.DEFAULT_KIND, tests), fold,
                                 T.oof_session(tv, tests))["nested"] for tv in (unused, t))
        print(f"  fold seed {seed}: CirCor patient wacc {a['circor']['patient_wacc']:.3f} -> "
              f"{b['circor']['patient_wacc']:.3f}  AUROC {a['circor']['auroc']:.3f} -> "
              f"{b['circor']['auroc']:.3f}  PhysioNet MAcc {a['physionet']['macc']:.3f} -> "
              f"{b['physionet']['macc']:.3f}", flush=True)


def spread_comparison(t: T.Table, seeds: list[int]) -> None:
    """Print, per fold seed, nested CirCor patient weighted accuracy, CirCor AUROC and PhysioNet
    MAcc with the session head on the medians only and on medians and spreads (shipped); the same
    window-head probabilities for both."""
    for seed in seeds:
        fold = T.folds(t, seed=seed)
        tests = [fold == i for i in range(int(fold.max()) + 1)]
        P = T.oof_probs(t, T.DEFAULT_KIND, tests)
        make = T.make_session_model
        T.make_session_model = partial(make, spread=False)
        try:
            a = T.tune_threshold(t, P, fold, T.oof_session(t, tests))["nested"]
        finally:
            T.make_session_model = make
        b = T.tune_threshold(t, P, fold, T.oof_session(t, tests))["nested"]
        print(f"  fold seed {seed}: CirCor patient wacc {a['circor']['patient_wacc']:.3f} -> "
              f"{b['circor']['patient_wacc']:.3f}  AUROC {a['circor']['auroc']:.3f} -> "
              f"{b['circor']['auroc']:.3f}  PhysioNet MAcc {a['physionet']['macc']:.3f} -> "
              f"{b['physionet']['macc']:.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=data_dir())
    ap.add_argument("--cache", type=Path, default=T.DEFAULT_CACHE)
    ap.add_argument("--heads", action="store_true", help="also the window-head size variants")
    ap.add_argument("--subset", type=int, default=0, help="N recordings per dataset (tests)")
    ap.add_argument("--augment", type=int, default=T.AUGMENT_COPIES, metavar="N",
                    help="augmented copies of each training recording, as the shipped recipe")
    ap.add_argument("--unknown-seeds", type=int, nargs="+", default=[], metavar="SEED",
                    help="compare CirCor Unknown unused vs taught as artifact on these fold seeds")
    ap.add_argument("--spread-seeds", type=int, nargs="+", default=[], metavar="SEED",
                    help="compare the session head on medians only vs medians and spreads")
    args = ap.parse_args(argv)
    recs = T.list_recordings(args.data)
    if args.subset:
        recs = T.pick_subset(recs, args.subset)
    t = T.build_table(recs, T.load_windows(recs, args.cache, augment=args.augment),
                      args.augment)
    fold = T.folds(t)
    tests = [fold == i for i in range(int(fold.max()) + 1)]
    P, PS = T.oof_probs(t, T.DEFAULT_KIND, tests), T.oof_session(t, tests)

    print("blend weight of the session head (threshold tuned in-sample):")
    for w in (0.0, 0.3, 0.5, 0.7, 1.0):
        tune = T.tune_threshold(t, P, fold, PS if w > 0 else None, session_weight=w)
        print(_line(f"weight {w:.1f}", tune["chosen"], f"  (threshold {tune['threshold']:.2f})"),
              flush=True)

    print("pooling of the windows' murmur shares (nested threshold):")
    for name, pool in POOLS.items():
        rows_at = {float(thr): _pooled_rows(t, P, PS, pool, float(thr))
                   for thr in T.THRESHOLD_GRID}
        print(_line(name, T.nested_scores(rows_at, fold)[0]), flush=True)

    if args.unknown_seeds:
        print("CirCor Unknown patients unused -> taught as artifact (same folds, nested):")
        unknown_comparison(t, args.unknown_seeds)

    if args.spread_seeds:
        print("session head on the window medians only -> medians and spreads (same folds, "
              "nested):")
        spread_comparison(t, args.spread_seeds)

    if args.heads:
        print("window head size (full CV each, nested threshold):")
        make = T.make_model
        for name, params in HEAD_VARIANTS.items():
            def sized(kind: str, params: dict = params):  # type: ignore[no-untyped-def]
                model = make(kind)
                model.steps[-1][1].set_params(**params)
                return model

            T.make_model = sized
            try:
                Pv = T.oof_probs(t, T.DEFAULT_KIND, tests)
            finally:
                T.make_model = make
            print(_line(name, T.tune_threshold(t, Pv, fold, PS)["nested"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
