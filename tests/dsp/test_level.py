"""The input meter: non-finite samples replaced in place and reported, levels of the rest."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stetho_rt.config import CLIP_LEVEL
from stetho_rt.dsp.level import BlockMeter, index_runs


def test_finite_block_is_left_alone_and_measured() -> None:
    x = np.array([0.5, -1.0, 0.25, 0.0], dtype=np.float32)
    meter = BlockMeter()
    assert meter.process(x) is None
    assert np.array_equal(x, [0.5, -1.0, 0.25, 0.0])
    assert meter.peak == 1.0 and meter.clipped_samples == 1 and meter.nonfinite_samples == 0
    assert meter.rms == np.sqrt((0.25 + 1.0 + 0.0625) / 4)


def test_nonfinite_samples_are_zeroed_counted_and_located() -> None:
    x = np.array([0.1, np.nan, np.inf, 0.2, -np.inf, 0.3], dtype=np.float32)
    meter = BlockMeter()
    bad = meter.process(x)
    assert bad is not None and bad.tolist() == [1, 2, 4]
    assert np.array_equal(x, np.array([0.1, 0, 0, 0.2, 0, 0.3], dtype=np.float32))
    assert meter.nonfinite_samples == 3 and meter.peak == np.float32(0.3)
    assert meter.process(np.zeros(0, np.float32)) is None and meter.nonfinite_samples == 3


def test_index_runs() -> None:
    """Runs of consecutive indices, half-open: isolated samples, runs at both ends."""
    assert index_runs(np.zeros(0, np.int64)) == []
    assert index_runs(np.array([0, 1, 2, 5, 7, 8, 9])) == [(0, 3), (5, 6), (7, 10)]
    assert index_runs(np.array([4])) == [(4, 5)]


@settings(max_examples=200, deadline=None)
@given(arrays(np.float32, st.integers(1, 300),
              elements=st.sampled_from([0.0, 0.3, -0.7, 1.0, -1.0, 0.999, np.nan, np.inf,
                                        -np.inf, 1e-30])))
def test_matches_a_numpy_reference(x: np.ndarray) -> None:
    expect_bad = np.flatnonzero(~np.isfinite(x))
    finite = x[np.isfinite(x)].astype(np.float64)
    meter = BlockMeter()
    bad = meter.process(x)
    assert (bad is None) == (expect_bad.size == 0)
    if bad is not None:
        assert np.array_equal(bad, expect_bad)
    assert np.isfinite(x).all() and np.all(x[expect_bad] == 0.0)
    assert meter.nonfinite_samples == expect_bad.size
    assert meter.clipped_samples == int(np.count_nonzero(np.abs(finite) >= CLIP_LEVEL))
    assert meter.peak == (float(np.abs(finite).max()) if finite.size else 0.0)
    assert np.isclose(meter.rms, np.sqrt(np.sum(finite**2) / x.size), rtol=1e-12, atol=0)
