"""OnnxClassifier: the shipped model loads; missing or mismatched model/sidecar -> ModelError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from stetho_rt.classify.model import OnnxClassifier, default_model_path, sidecar_path
from stetho_rt.classify.session import session_feature_names
from stetho_rt.classify.windows import window_feature_names
from stetho_rt.config import DspConfig
from stetho_rt.errors import ModelError
from stetho_rt.events import CLASS_LABELS

MODEL = default_model_path()


@pytest.fixture(scope="module")
def clf() -> OnnxClassifier:
    return OnnxClassifier.load(MODEL)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    dst = tmp_path / "m.onnx"
    shutil.copy(MODEL, dst)
    shutil.copy(sidecar_path(MODEL), sidecar_path(dst))
    head = json.loads(sidecar_path(MODEL).read_text())["session"]["file"]
    shutil.copy(MODEL.parent / head, tmp_path / head)
    return dst


def _edit(path: Path, section: str | None = None, **changes: object) -> None:
    """Change sidecar keys (``a.b`` for nested ones), in ``meta[section]`` if given."""
    side = sidecar_path(path)
    meta = json.loads(side.read_text())
    target = meta if section is None else meta[section]
    for k, v in changes.items():
        if "." in k:
            a, b = k.split(".")
            target[a][b] = v
        else:
            target[k] = v
    side.write_text(json.dumps(meta))


def test_shipped_model_loads_and_runs(clf: OnnxClassifier) -> None:
    assert clf.labels == CLASS_LABELS
    assert clf.n_features == len(window_feature_names())
    x = np.random.default_rng(0).normal(size=(5, clf.n_features)).astype(np.float32)
    p = clf.run(x)
    assert p.shape == (5, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert clf.run(x[0]).shape == (1, 3)
    assert clf.run(x[:0]).shape == (0, 3)
    np.testing.assert_array_equal(clf.run(x[2:3]), clf.run(x)[2:3])  # batch size independent
    with pytest.raises(ModelError, match="features"):
        clf.run(x[:, :10])


def test_shipped_session_head(clf: OnnxClassifier) -> None:
    assert clf.session is not None and clf.rules.session_weight > 0
    assert clf.session.n_features == len(session_feature_names(window_feature_names()))
    x = np.random.default_rng(1).normal(size=(3, clf.session.n_features)).astype(np.float32)
    x[0, :5] = np.nan  # phase means are NaN in a session without a complete cycle
    p = clf.session.run(x)
    assert p.shape == (3, 3) and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"file": "gone.onnx"}, "session head file not found"),
        ({"file": None}, "session head spec incomplete"),
        ({"features": ["x"]}, "session feature names"),
        ({"input.n_features": 9}, "session head input has 9"),
        ({"onnx_sha256": "0" * 64}, "does not match"),
        ({"output.name": "nope"}, "no output"),
    ],
)
def test_mismatched_session_head(copy: Path, changes: dict, match: str) -> None:
    _edit(copy, "session", **changes)
    with pytest.raises(ModelError, match=match):
        OnnxClassifier.load(copy)


def test_sidecar_without_session_head_gives_windows_only(copy: Path) -> None:
    _edit(copy, session=None)  # the threshold was tuned on the blend: refused as it stands
    with pytest.raises(ModelError, match="blends a session head"):
        OnnxClassifier.load(copy)
    rules = json.loads(sidecar_path(copy).read_text())["verdict"]
    _edit(copy, verdict={**rules, "session_weight": 0.0})
    clf = OnnxClassifier.load(copy)
    assert clf.session is None
    clf.warm_up()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"features": None}, "session feature names"),
        ({"features": 3}, "session feature names"),
        ({"output.name": ["x"]}, "names must be strings"),
        ({"output.name": "label"}, "shape"),  # the classifier's 1-D label output
    ],
)
def test_malformed_session_spec_is_one_line(copy: Path, changes: dict, match: str) -> None:
    _edit(copy, "session", **changes)
    with pytest.raises(ModelError, match=match):
        OnnxClassifier.load(copy)


@pytest.mark.parametrize(
    "bad",
    [{"session_weight": "0.5"}, {"session_weight": 3}, {"murmur_threshold": -0.1},
     {"min_clean_windows": 0}, {"min_quality": None}],
)
def test_verdict_rules_out_of_range(copy: Path, bad: dict) -> None:
    rules = json.loads(sidecar_path(copy).read_text())["verdict"]
    _edit(copy, verdict={**rules, **bad})
    with pytest.raises(ModelError, match="bad verdict rules"):
        OnnxClassifier.load(copy)


def test_missing_files(tmp_path: Path, copy: Path) -> None:
    with pytest.raises(ModelError, match="model file not found"):
        OnnxClassifier.load(tmp_path / "nope.onnx")
    sidecar_path(copy).unlink()
    with pytest.raises(ModelError, match="sidecar not found"):
        OnnxClassifier.load(copy)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"input.n_features": 7}, "features"),
        ({"labels": ["normal", "murmur"]}, "labels"),
        ({"labels": ["murmur", "normal", "artifact"]}, "labels"),
        ({"internal_rate_hz": 4000}, "internal_rate_hz"),
        ({"window_s": 5.0}, "window_s"),
        ({"hop_s": 0.5}, "hop_s"),
        ({"format": "other/9"}, "format"),
        ({"onnx_sha256": "0" * 64}, "does not match"),
        ({"verdict": {"nonsense": 1}}, "verdict"),
        ({"input.name": "X"}, "graph inputs"),
    ],
)
def test_mismatched_sidecar(copy: Path, changes: dict, match: str) -> None:
    _edit(copy, **changes)
    with pytest.raises(ModelError, match=match):
        OnnxClassifier.load(copy)


def test_missing_key_and_bad_json(copy: Path) -> None:
    side = sidecar_path(copy)
    meta = json.loads(side.read_text())
    del meta["features"]
    side.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="lacks features"):
        OnnxClassifier.load(copy)
    side.write_text("{not json")
    with pytest.raises(ModelError, match="unreadable"):
        OnnxClassifier.load(copy)


def test_feature_names_must_match(copy: Path) -> None:
    names = list(window_feature_names())
    names[0], names[1] = names[1], names[0]
    _edit(copy, features={"frame": json.loads(sidecar_path(copy).read_text())["features"]["frame"],
                          "window": names})
    with pytest.raises(ModelError, match="window feature names"):
        OnnxClassifier.load(copy)


def test_corrupt_onnx(copy: Path) -> None:
    copy.write_bytes(b"not an onnx graph")
    _edit(copy, onnx_sha256=None)
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        OnnxClassifier.load(copy)


def test_pipeline_config_mismatch() -> None:
    with pytest.raises(ModelError, match="window_s"):
        OnnxClassifier.load(MODEL, DspConfig(), window_s=3.0)
