"""Session summary (median and inter-quartile range of window vectors) and the session head
through the worker."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stetho_rt.classify.session import (
    QUALITY_FEATURE,
    SessionSummary,
    session_columns,
    session_feature_names,
    session_vector,
    window_features_of,
)
from stetho_rt.classify.windows import FeatureWindow
from stetho_rt.classify.worker import ClassifierWorker
from stetho_rt.events import CLASS_LABELS, Quality


def test_names() -> None:
    assert session_feature_names(("a", "b")) == ("a_median", "b_median", "a_iqr", "b_iqr",
                                                  QUALITY_FEATURE)
    assert window_features_of(5) == 2
    for bad in (4, 1, 0):
        with pytest.raises(ValueError, match="session vector length"):
            window_features_of(bad)


def test_median_over_finite_values_and_quality() -> None:
    s = SessionSummary(3)
    assert np.isnan(s.vector()).all()  # nothing yet: no estimate
    s.add(np.array([1.0, np.nan, 4.0], np.float32), 0.5)
    s.add(np.array([3.0, np.nan, np.inf], np.float32), 1.0)
    s.add(np.array([8.0, np.nan, 6.0], np.float32), 1.0)
    v = s.vector()
    assert v.dtype == np.float32 and v.shape == (7,)
    assert v[0] == 3.0 and np.isnan(v[1]) and v[2] == 5.0  # medians (inf left out like NaN)
    assert v[3] == 3.5 and np.isnan(v[4]) and v[5] == 1.0  # inter-quartile ranges: 5.5 - 2
    assert v[6] == pytest.approx(2.5 / 3)
    # a window over repaired input (zeros for dropped or NaN samples) counts in the quality
    # mean only: its zeros are not the heart's sound
    s.add(np.array([100.0, 7.0, 100.0], np.float32), 0.0, summarise=False)
    v2 = s.vector()
    np.testing.assert_array_equal(v2[:6], v[:6])
    assert v2[6] == pytest.approx(2.5 / 4) and s.windows == 4
    s.reset()
    assert s.windows == 0 and np.isnan(s.vector()).all()
    with pytest.raises(ValueError, match="features"):
        s.add(np.zeros(2), 1.0)


def test_a_burst_of_outlying_windows_hardly_moves_the_summary() -> None:
    """Why quartiles: 4 windows of 20 far off (a 0.5 s knock lies in 4 or 5 of the 4 s windows
    at a 1 s hop) move a mean and a standard deviation by far more than the median and the
    inter-quartile range. The range holds while under a quarter of the windows are off; the
    median while under half."""
    rng = np.random.default_rng(7)
    steady = rng.normal(0.0, 1.0, (20, 1))
    knocked = steady.copy()
    knocked[8:12] = 40.0
    a, b = session_vector(steady, np.ones(20), 1), session_vector(knocked, np.ones(20), 1)
    assert abs(b[0] - a[0]) < 0.5 and abs(b[1] - a[1]) < 1.0
    assert abs(knocked.mean() - steady.mean()) > 7.0 and knocked.std() - steady.std() > 14.0


def _nanquartiles(X: np.ndarray) -> np.ndarray:
    """Reference: numpy's quartiles per column over the non-NaN values, shape (3, n) (all NaN
    without a row)."""
    if X.shape[0] == 0:
        return np.full((3, X.shape[1]), np.nan)
    with warnings.catch_warnings():  # an all-NaN column: "All-NaN slice", NaN expected
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(X.astype(np.float64), (25, 50, 75), axis=0)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_equals_nanpercentile(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.3] = np.nan
    q = rng.random(n)
    heard = rng.random(n) < 0.8  # the others (silence, repaired input): quality mean only
    v = session_vector(X, q, 6, heard)
    q25, q50, q75 = _nanquartiles(X[heard])
    np.testing.assert_allclose(v[:6], q50, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(v[6:12], q75 - q25, rtol=1e-5, atol=1e-6)
    assert v[-1] == pytest.approx(q.mean(), rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_keeps_the_latest_windows_only(n: int, capacity: int, seed: int) -> None:
    """A summary of capacity c is that of the latest c summarised windows (NaN-holding rows
    leaving the ring too); the quality mean stays over every window."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[rng.random(X.shape) < 0.05] = np.inf  # non-finite: left out like NaN
    heard = rng.random(n) < 0.8
    finite_only = np.where(np.isfinite(X), X, np.nan)
    s = SessionSummary(4, capacity=capacity)
    for _ in range(2):  # the second time after a reset of a ring that may have wrapped
        for x, h in zip(X, heard, strict=True):
            s.add(x, 0.5, summarise=bool(h))
        v = s.vector()
        q25, q50, q75 = _nanquartiles(finite_only[heard][-capacity:])
        np.testing.assert_allclose(v[:4], q50, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(v[4:8], q75 - q25, rtol=1e-5, atol=1e-6)
        assert v[-1] == pytest.approx(0.5) and s.windows == n
        s.reset()


class _Head:
    """Session head: probabilities from the session vector's first element (the running
    median)."""

    def __init__(self, n_features: int) -> None:
        self.n_features = n_features
        self.seen: list[np.ndarray] = []

    def run(self, x: np.ndarray) -> np.ndarray:
        self.seen.append(x.copy())
        m = float(x[0, 0])
        return np.array([[1.0 - m, m, 0.0]], np.float32)


class _Model:
    labels = CLASS_LABELS

    def __init__(self) -> None:
        self.session = _Head(9)  # 4 window features: 4 medians, 4 spreads, the quality

    def run(self, x: np.ndarray) -> np.ndarray:
        return np.array([[0.5, 0.5, 0.0]], np.float32)


def _fw(i: int, value: float) -> FeatureWindow:
    return FeatureWindow.from_vector(i, float(i), i + 4.0, i + 4.1,
                                     np.full(4, value, np.float32), Quality(0.8))


def test_worker_runs_the_session_head_on_the_running_median() -> None:
    model = _Model()
    w = ClassifierWorker(model, blocking=True)
    try:
        assert w.session_probs is None
        for i, v in enumerate((0.2, 0.4, 0.9)):
            w.submit(_fw(i, v))
        assert len(w.drain(5)) == 3
        np.testing.assert_allclose(w.session_probs, [0.6, 0.4, 0.0], atol=1e-6)
        seen = np.concatenate(model.session.seen)
        np.testing.assert_allclose(seen[:, 0], [0.2, 0.3, 0.4], atol=1e-6)
        np.testing.assert_allclose(seen[:, -1], 0.8, atol=1e-6)  # mean quality
        w.reset_session()  # a new session starts from its own first window
        assert w.session_probs is None
        w.submit(_fw(3, 0.1))
        w.drain(5)
        np.testing.assert_allclose(w.session_probs, [0.9, 0.1, 0.0], atol=1e-6)
    finally:
        w.close()


def test_reset_while_busy_never_mixes_sessions() -> None:
    """Windows queued or in the model when the session resets are discarded, and the new
    session's summary starts from its own first window."""
    model = _Model()
    gate = threading.Event()
    run = model.session.run

    def slow_run(x: np.ndarray) -> np.ndarray:
        gate.wait(5)
        return run(x)

    model.session.run = slow_run  # type: ignore[method-assign]
    w = ClassifierWorker(model, blocking=False, maxsize=16)
    try:
        for i in range(5):
            w.submit(_fw(i, 0.9))  # old session: one in the model, four queued
        time.sleep(0.05)
        w.reset_session()
        w.submit(_fw(0, 0.1))  # new session
        gate.set()
        out = w.drain(5)
        assert [x.start_s for x in out] == [0.0] and w.dropped == 0
        np.testing.assert_allclose(w.session_probs, [0.9, 0.1, 0.0], atol=1e-6)
        assert w.collect() == []
    finally:
        w.close()


def test_live_drops_leave_the_dropped_windows_out_of_the_session() -> None:
    """A window dropped from the live queue is in neither the window list nor the summary."""
    model = _Model()
    gate = threading.Event()
    run = model.run

    def slow_run(x: np.ndarray) -> np.ndarray:
        gate.wait(5)
        return run(x)

    model.run = slow_run  # type: ignore[method-assign]
    w = ClassifierWorker(model, blocking=False, maxsize=2)
    try:
        values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
        for i, v in enumerate(values):
            w.submit(_fw(i, v))
        gate.set()
        out = w.drain(5)
        kept = [values[int(x.start_s)] for x in out]
        assert w.dropped == len(values) - len(out) > 0
        np.testing.assert_allclose(model.session.seen[-1][0, 0], np.median(kept), atol=1e-6)
        np.testing.assert_allclose(w.session_probs[1], np.median(kept), atol=1e-6)
    finally:
        w.close()


def test_spread_of_values_near_a_large_constant() -> None:
    """Log levels sit near a large constant: the spread keeps their small variation."""
    rng = np.random.default_rng(3)
    X = 1e6 + 0.01 * rng.standard_normal((400, 1))
    s = SessionSummary(1)
    for x in X:
        s.add(x, 1.0)
    q25, q75 = np.percentile(X, (25, 75))
    assert s.vector()[1] == pytest.approx(q75 - q25, rel=1e-4)


def test_session_columns_follow_the_vector_layout() -> None:
    """The columns a head selects are the medians, spreads and quality of the vector itself."""
    s = SessionSummary(3)
    s.add(np.array([1.0, 2.0, 3.0]), 0.5)
    s.add(np.array([3.0, 2.0, 7.0]), 1.0)
    v = s.vector()
    assert session_columns([0, 2], 3) == [0, 2, 3, 5, 6]
    np.testing.assert_allclose(v[session_columns([0, 2], 3)], [2.0, 5.0, 1.0, 2.0, 0.75])
    np.testing.assert_allclose(v[session_columns([0, 2], 3, spread=False)], [2.0, 5.0, 0.75])
