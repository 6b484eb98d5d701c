"""Verdict aggregation rules."""

from __future__ import annotations

import numpy as np
import pytest

from stetho_rt.classify.verdict import VerdictRules, aggregate, aggregate_windows
from stetho_rt.events import Quality, Window

NORMAL = [0.8, 0.15, 0.05]
MURMUR = [0.2, 0.75, 0.05]
NOISY = [0.1, 0.1, 0.8]


def _agg(rows: list[list[float]], q: list[float], **kw: float) -> dict:
    return aggregate(np.array(rows), np.array(q), VerdictRules(**kw))


def test_no_windows_is_artifact() -> None:
    v = aggregate(np.zeros((0, 3)), np.zeros(0))
    assert v["label"] == "artifact" and v["probs"]["artifact"] == 1.0 and v["windows"] == 0


def test_clean_normal_and_murmur() -> None:
    v = _agg([NORMAL] * 6, [0.9] * 6)
    assert v["label"] == "normal" and v["clean_windows"] == 6
    v = _agg([MURMUR] * 6, [0.9] * 6)
    assert v["label"] == "murmur"
    assert sum(v["probs"].values()) == pytest.approx(1.0, abs=1e-3)


def test_low_quality_gives_artifact_not_a_guess() -> None:
    v = _agg([MURMUR] * 6, [0.1] * 6)
    assert v["label"] == "artifact" and v["clean_windows"] == 0
    assert v["probs"]["artifact"] >= 0.85


def test_model_artifact_windows_are_not_clean() -> None:
    v = _agg([NOISY] * 5 + [NORMAL], [0.9] * 6)
    assert v["label"] == "artifact"


def test_too_few_clean_windows() -> None:
    # one clean window out of one: below min_clean_windows=2
    assert _agg([NORMAL], [0.9])["label"] == "artifact"
    # 2 clean of 10 (20 %) < min_clean_share 25 %
    v = _agg([NORMAL] * 2 + [NORMAL] * 8, [0.9] * 2 + [0.0] * 8)
    assert v["label"] == "artifact"
    # 3 of 10 is enough
    v = _agg([NORMAL] * 10, [0.9] * 3 + [0.0] * 7)
    assert v["label"] == "normal"


def test_only_clean_windows_decide_murmur() -> None:
    v = _agg([MURMUR] * 4 + [NORMAL] * 4, [0.05] * 4 + [0.9] * 4)
    assert v["label"] == "normal"


def test_threshold_from_rules() -> None:
    rows = [[0.6, 0.35, 0.05]] * 4
    assert _agg(rows, [1.0] * 4)["label"] == "normal"
    assert _agg(rows, [1.0] * 4, murmur_threshold=0.3)["label"] == "murmur"


def test_rules_roundtrip_and_windows() -> None:
    r = VerdictRules(murmur_threshold=0.4)
    assert VerdictRules.from_json(r.to_json()) == r
    ws = [Window(i, i + 4, dict(zip(("normal", "murmur", "artifact"), MURMUR, strict=True)),
                 "murmur", i + 4, Quality(0.9)) for i in range(3)]
    assert aggregate_windows(ws)["label"] == "murmur"


def test_session_head_blends_the_murmur_share() -> None:
    rows, q = [[0.8, 0.2, 0.0]] * 3, [0.9] * 3  # windows: murmur share 0.2
    session = np.array([0.2, 0.8, 0.0])  # session head: 0.8
    half = VerdictRules(murmur_threshold=0.45, session_weight=0.5)
    v = aggregate(np.array(rows), np.array(q), half, session)
    assert v["label"] == "murmur"
    assert v["probs"]["murmur"] == pytest.approx((1 - 0.1) * 0.5)  # (1 - artifact) * m
    assert aggregate(np.array(rows), np.array(q), half)["label"] == "normal"  # no head: windows
    off = VerdictRules(murmur_threshold=0.45, session_weight=0.0)
    assert aggregate(np.array(rows), np.array(q), off, session)["label"] == "normal"


def test_session_head_cannot_overrule_the_artifact_gate() -> None:
    rules = VerdictRules(session_weight=1.0)
    v = aggregate(np.array([[0.5, 0.5, 0.0]] * 4), np.array([0.1] * 4), rules,
                  np.array([0.0, 1.0, 0.0]))
    assert v["label"] == "artifact"
