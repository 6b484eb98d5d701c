"""Real recordings: murmur probabilities are sane (not an accuracy figure).

The shipped model was trained on these recordings (dev split), so this is a sanity check of the
end-to-end chain (audio file -> pipeline resampler -> features -> windows -> ONNX -> verdict),
not an estimate of accuracy; the model card has the cross-validated figures.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from stetho_rt.classify.model import OnnxClassifier, default_model_path
from stetho_rt.classify.verdict import aggregate
from stetho_rt.classify.windows import windows_of
from tests.conftest import require_data

pytestmark = [pytest.mark.data, pytest.mark.slow]


def _verdict(clf: OnnxClassifier, path) -> dict:
    from stetho_rt.dsp.features import frame_features
    from stetho_rt.dsp.resample import resample
    from stetho_rt.io.audiofile import open_audio

    af = open_audio(path)
    ws = windows_of(frame_features(resample(af.read_all(), af.rate)))
    p = clf.run(np.stack([w.vector for w in ws]))
    return aggregate(p, np.array([w.quality.index for w in ws]), clf.rules)


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
