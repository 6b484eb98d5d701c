"""Real recordings: murmur probabilities are sane (not an accuracy figure); training == runtime.

The shipped model was trained on these recordings (dev split), so this is a sanity check of the
end-to-end chain (audio file -> DSP graph: resampler, detector, features -> windows -> ONNX ->
verdict), not an estimate of accuracy; the model card has the cross-validated figures. The
training tool's windows (``classify.extract``) must give exactly the probabilities ``analyze``
reports.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from stetho_rt.analysis import analyze_file
from stetho_rt.classify.extract import recording_verdict, recording_windows
from stetho_rt.classify.model import OnnxClassifier, default_model_path
from tests.conftest import require_data

pytestmark = [pytest.mark.data, pytest.mark.slow]


def _verdict(clf: OnnxClassifier, path) -> dict:
    return recording_verdict(clf, recording_windows(path))


def test_murmur_recordings_score_higher_than_normal() -> None:
    root = require_data("circor2022")
    rows = list(csv.DictReader(open(root / "labels.csv")))  # noqa: SIM115
    rng = np.random.default_rng(7)
    murmur = [r for r in rows if (r["patient_murmur"], r["recording_murmur"]) == ("Present",) * 2]
    normal = [r for r in rows if r["patient_murmur"] == "Absent"]
    pick_m = [murmur[i] for i in rng.choice(len(murmur), 10, replace=False)]
    pick_n = [normal[i] for i in rng.choice(len(normal), 10, replace=False)]
    clf = OnnxClassifier.load(default_model_path())
    pm = [_verdict(clf, root / f"{r['recording']}.flac")["probs"]["murmur"] for r in pick_m]
    pn = [_verdict(clf, root / f"{r['recording']}.flac")["probs"]["murmur"] for r in pick_n]
    for p in pm + pn:
        assert 0.0 <= p <= 1.0
    assert np.mean(pm) > np.mean(pn) + 0.1


def test_physionet_unsure_quality_scores_more_artifact() -> None:
    root = require_data("physionet2016")
    rows = list(csv.DictReader(open(root / "labels.csv")))  # noqa: SIM115
    rng = np.random.default_rng(8)
    unsure = [r for r in rows if r["signal_quality"] == "unsure"]
    good = [r for r in rows if r["signal_quality"] == "good"]
    clf = OnnxClassifier.load(default_model_path())
    pu = [_verdict(clf, root / f"{r['record']}.flac")["probs"]["artifact"]
          for r in (unsure[i] for i in rng.choice(len(unsure), 10, replace=False))]
    pg = [_verdict(clf, root / f"{r['record']}.flac")["probs"]["artifact"]
          for r in (good[i] for i in rng.choice(len(good), 10, replace=False))]
    assert np.mean(pu) > np.mean(pg)


@pytest.mark.parametrize("name", ["circor2022/50159_MV.flac", "physionet2016/a0008.flac",
                                  "physionet2016/d0022.flac"])
def test_training_windows_equal_analyze_windows(name: str) -> None:
    """The windows the training tool builds are those ``analyze`` classifies, to the digit, and
    both leave the same windows out of the session summary (d0022 holds digital silence)."""
    dataset, fname = name.split("/")
    path = require_data(dataset) / fname
    clf = OnnxClassifier.load(default_model_path())
    rec = analyze_file(path, classifier=clf)
    ws = recording_windows(path)
    assert len(ws) == len(rec["windows"]) > 3
    p = clf.run(np.stack([w.vector for w in ws]))
    for w, got, row in zip(ws, rec["windows"], p, strict=True):
        assert (got["start_s"], got["end_s"]) == (round(w.start_s, 3), round(w.end_s, 3))
        assert got["probs"] == {k: round(float(v), 4) for k, v in zip(
            ("normal", "murmur", "artifact"), row, strict=True)}
        assert got["quality"] == round(w.quality.index, 3)
    assert clf.session is not None  # the shipped model blends a session head into the verdict
    assert rec["verdict"] == recording_verdict(clf, ws)
    silent = [w for w in ws if not w.quality.heard]
    assert bool(silent) is name.endswith("d0022.flac")
    heard = [w for w in ws if w.quality.heard]
    assert sum(int(w.vector[-1] > 0) for w in heard) >= len(heard) - 1  # cycles found in them
