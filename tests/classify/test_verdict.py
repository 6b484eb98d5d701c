"""Verdict aggregation rules."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stetho_rt.classify.verdict import (
    VerdictAccumulator,
    VerdictRules,
    aggregate,
    aggregate_windows,
)
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


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
                  min_size=0, max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=6),
)
def test_accumulator_is_chunking_invariant_and_matches_a_direct_computation(rows, cuts) -> None:
    """Windows added one batch at a time (any split) give the verdict of all of them at once, and
    that verdict is the rule computed directly from the arrays."""
    raw = np.array([r[:3] for r in rows], dtype=np.float64).reshape(-1, 3) + 1e-3
    p = raw / raw.sum(axis=1, keepdims=True)
    q = np.array([r[3] for r in rows], dtype=np.float64)
    rules = VerdictRules(session_weight=0.5, murmur_threshold=0.3)
    acc = VerdictAccumulator(rules)
    edges = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
    for a, b in itertools.pairwise(edges):
        acc.add(p[a:b], q[a:b])
    session = np.array([0.5, 0.3, 0.2])
    got = acc.result(session)
    assert got == aggregate(p, q, rules, session)
    if len(rows) == 0:
        assert got["label"] == "artifact" and got["windows"] == 0
        return
    clean = (q >= rules.min_quality) & (p[:, 2] < rules.artifact_threshold)
    ratio = p[:, 1] / (p[:, 1] + p[:, 0])
    m_w = ratio[clean].mean() if clean.any() else ratio.mean()
    m = 0.5 * m_w + 0.5 * (0.3 / 0.8)
    assert got["murmur_share"] == pytest.approx(round(m, 4), abs=1.5e-4)
    assert got["clean_windows"] == int(clean.sum()) and got["windows"] == len(rows)
    art = np.maximum(p[:, 2], 1 - q).mean()
    assert got["probs"]["artifact"] == pytest.approx(round(art, 4), abs=1.5e-4)


def test_accumulator_reset_forgets_the_session() -> None:
    acc = VerdictAccumulator()
    acc.add(np.array([MURMUR] * 5), np.full(5, 0.9))
    acc.reset()
    acc.add(np.array([NORMAL] * 3), np.full(3, 0.9))
    assert acc.result() == _agg([NORMAL] * 3, [0.9] * 3)
    with pytest.raises(ValueError, match="3 probability rows for 2 qualities"):
        acc.add(np.array([NORMAL] * 3), np.full(2, 0.9))
