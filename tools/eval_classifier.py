#!/usr/bin/env python
"""Score the classifier with the metrics of ARCHITECTURE.md §7 (murmur, abnormal, quality).

Two ways in:

- ``eval_classifier.py --jsonl out.jsonl``: score an ``analyze`` JSON Lines output (``verdict`` per
  file; files are matched to the datasets by name);
- ``eval_classifier.py --run [--model M.onnx] [--subset N] [--datasets ...]``: run the pipeline's
  batch path (audio -> resample -> features -> windower -> ONNX model -> verdict) on
  the recordings of ``$STETHO_RT_DATA`` and score it.

Metrics, per dataset (never pooled):

- CirCor: recording positive = patient ``Present`` and murmur heard at the location, negative =
  patient ``Absent``; sensitivity, specificity, balanced accuracy of ``label == murmur``, AUROC of
  ``probs.murmur``; patient-level weighted accuracy (present 5, unknown 3, absent 1): a patient is
  predicted present if any recording is murmur, unknown if all are artifact, else absent.
- PhysioNet 2016: MAcc of abnormal (``murmur`` or ``artifact``) vs ``label``; AUROC of
  ``1 - probs.normal`` vs abnormal; AUROC of ``probs.artifact`` vs ``signal_quality == unsure``.
- PASCAL A: accuracy over normal / murmur / artifact files; AUROC of murmur vs normal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from _paths import data_dir  # noqa: E402

from stetho_rt.classify.labels import circor_scored, pascal_label  # noqa: E402


def auroc(y: Iterable[int], s: Iterable[float]) -> float:
    """Area under the ROC curve (ties count half); NaN if one class is missing."""
    y = np.asarray(list(y), dtype=bool)
    s = np.asarray(list(s), dtype=np.float64)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    from scipy.stats import rankdata

    r = rankdata(s)
    return float((r[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def _rates(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = int((y & pred).sum())
    tn = int((~y & ~pred).sum())
    sens = tp / max(int(y.sum()), 1)
    spec = tn / max(int((~y).sum()), 1)
    return {"sens": sens, "spec": spec, "bacc": (sens + spec) / 2, "n_pos": int(y.sum()),
            "n_neg": int((~y).sum())}


def score_circor(rows: list[dict[str, Any]]) -> dict[str, float]:
    """CirCor murmur metrics; ``rows`` have ``meta`` (labels.csv row) and ``verdict``."""
    y, s, pred = [], [], []
    for r in rows:
        murmur_here = circor_scored(r["meta"]["patient_murmur"], r["meta"]["recording_murmur"])
        if murmur_here is None:  # a murmur patient's other locations, Unknown patients
            continue
        y.append(murmur_here)
        s.append(r["verdict"]["probs"]["murmur"])
        pred.append(r["verdict"]["label"] == "murmur")
    ya, pa = np.array(y), np.array(pred)
    out = _rates(ya, pa)
    out["auroc"] = auroc(ya, s)
    # patient level
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_patient[r["meta"]["patient_id"]].append(r)
    w = {"Present": 5.0, "Unknown": 3.0, "Absent": 1.0}
    num = den = 0.0
    confusion: dict[tuple[str, str], int] = defaultdict(int)  # (truth, predicted) -> patients
    for recs in by_patient.values():
        truth = recs[0]["meta"]["patient_murmur"]
        labels = [r["verdict"]["label"] for r in recs]
        if "murmur" in labels:
            predicted = "Present"
        elif all(lab == "artifact" for lab in labels):
            predicted = "Unknown"
        else:
            predicted = "Absent"
        den += w[truth]
        num += w[truth] * (predicted == truth)
        confusion[truth, predicted] += 1
    out["patient_wacc"] = num / den if den else float("nan")
    out["n_patients"] = len(by_patient)
    for truth in w:  # patient counts: per truth, all and right; murmur-free patients flagged
        out[f"patients_{truth.lower()}"] = sum(n for (t, _), n in confusion.items() if t == truth)
        out[f"patients_{truth.lower()}_right"] = confusion[truth, truth]
    out["patients_absent_flagged"] = confusion["Absent", "Present"]
    out["artifact_share"] = float(np.mean([r["verdict"]["label"] == "artifact" for r in rows]))
    return out


def score_physionet(rows: list[dict[str, Any]]) -> dict[str, float]:
    """PhysioNet 2016: abnormal MAcc, abnormal AUROC, artifact AUROC vs the quality label."""
    y = np.array([r["meta"]["label"] == "abnormal" for r in rows])
    pred = np.array([r["verdict"]["label"] in ("murmur", "artifact") for r in rows])
    out = _rates(y, pred)
    out["macc"] = out.pop("bacc")
    out["abnormal_auroc"] = auroc(y, [1.0 - r["verdict"]["probs"]["normal"] for r in rows])
    unsure = [r["meta"]["signal_quality"] == "unsure" for r in rows]
    out["artifact_auroc"] = auroc(unsure, [r["verdict"]["probs"]["artifact"] for r in rows])
    out["n_unsure"] = int(np.sum(unsure))
    return out


def score_pascal(rows: list[dict[str, Any]]) -> dict[str, float]:
    """PASCAL A: 3-class accuracy (extrahls excluded), murmur-vs-normal AUROC."""
    rows3 = [r for r in rows if pascal_label(r["meta"]["label"]) is not None]
    acc = float(np.mean([r["verdict"]["label"] == r["meta"]["label"] for r in rows3]))
    mn = [r for r in rows3 if r["meta"]["label"] in ("normal", "murmur")]
    art = auroc([r["meta"]["label"] == "artifact" for r in rows3],
                [r["verdict"]["probs"]["artifact"] for r in rows3])
    return {
        "acc3": acc,
        "murmur_auroc": auroc([r["meta"]["label"] == "murmur" for r in mn],
                              [r["verdict"]["probs"]["murmur"] for r in mn]),
        "artifact_auroc": art,
        "n": len(rows3),
    }


def score_all(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per-dataset metrics of rows ``{"dataset", "meta", "verdict"}``."""
    out: dict[str, dict[str, float]] = {}
    for name, fn in (("circor", score_circor), ("physionet", score_physionet),
                     ("pascal", score_pascal)):
        sub = [r for r in rows if r["dataset"] == name]
        if sub:
            out[name] = fn(sub)
    return out


def format_scores(scores: dict[str, dict[str, float]]) -> str:
    """One line per dataset."""
    lines = []
    for name, d in scores.items():
        items = ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items()
        )
        lines.append(f"{name}: {items}")
    return "\n".join(lines)


def _rows_from_jsonl(path: Path, data: Path) -> list[dict[str, Any]]:
    from train_classifier import list_recordings

    index = {r.path.name: r for r in list_recordings(data)}
    index.update({r.path.stem: r for r in index.values()})
    rows = []
    with open(path) as fh:
        lines = fh.readlines()
    for line in lines:
        if not line.strip():
            continue
        rec = json.loads(line)
        if "error" in rec or not rec.get("verdict"):
            continue
        name = Path(rec["file"]).name
        r = index.get(name) or index.get(Path(name).stem)
        if r is not None:
            rows.append({"dataset": r.dataset, "meta": r.meta, "verdict": rec["verdict"]})
    return rows


def run_subset(recs: list[Any], n: int) -> list[Any]:
    """The ``n`` recordings ``--run --subset N`` scores: drawn with seed 0, in their listed
    order (all of them when ``n`` is 0)."""
    if not n:
        return recs
    rng = np.random.default_rng(0)
    return [recs[i] for i in sorted(rng.permutation(len(recs))[:n])]


def _rows_from_run(model: Path, data: Path, subset: int, datasets: list[str]) -> list[dict]:
    from train_classifier import list_recordings

    from stetho_rt.classify.extract import recording_verdict, recording_windows
    from stetho_rt.classify.model import OnnxClassifier

    clf = OnnxClassifier.load(model)
    recs = run_subset([r for r in list_recordings(data) if r.dataset in datasets], subset)
    rows = []
    for r in recs:
        verdict = recording_verdict(clf, recording_windows(r.path))
        rows.append({"dataset": r.dataset, "meta": r.meta, "verdict": verdict})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    ap = argparse.ArgumentParser(description="score the murmur/artifact classifier (§7)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--jsonl", type=Path, help="analyze JSON Lines output to score")
    src.add_argument("--run", action="store_true", help="run the pipeline on the data")
    ap.add_argument("--model", type=Path, default=REPO / "models" / "classifier.onnx")
    ap.add_argument("--data", type=Path, default=data_dir())
    ap.add_argument("--subset", type=int, default=0, help="score N random recordings only")
    ap.add_argument("--datasets", nargs="+", default=["circor", "physionet", "pascal"])
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.jsonl:
        rows = _rows_from_jsonl(args.jsonl, args.data)
    else:
        rows = _rows_from_run(args.model, args.data, args.subset, args.datasets)
    print(format_scores(score_all(rows)))
    print(f"{len(rows)} recordings scored in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
