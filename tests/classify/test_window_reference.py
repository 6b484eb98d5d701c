"""The fast window summary matches the original numpy one the shipped model was trained on.

``tests/classify/reference_window.py`` keeps the original ``window_vector`` / ``window_quality``;
every statistic must agree within 1e-5 relative (1e-6 absolute near zero), the quality exactly,
on windows of real-ish signals: demo heart sounds with and without a murmur, at several rates and
noise levels, white noise, silence, clipped audio and near-constant frames.
"""

from __future__ import annotations

import numpy as np
import pytest

from stetho_rt.classify.windows import window_feature_names, window_quality, window_vector
from stetho_rt.dsp.features import frame_features
from stetho_rt.dsp.resample import resample
from stetho_rt.io.demo import DemoHeart
from tests.classify import reference_window as ref

RATE = 4000
SECONDS = 12.0


def _demo(**kw: object) -> np.ndarray:
    return DemoHeart(rate=RATE, **kw).read(int(RATE * SECONDS))  # type: ignore[arg-type]


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    n = int(RATE * SECONDS)
    heart = _demo(seed=1)
    return {
        "heart": heart,
        "heart_murmur": _demo(murmur=True, seed=2),
        "heart_fast_noisy": _demo(hr_bpm=150.0, noise_db=-20.0, hrv=0.1, seed=3),
        "heart_slow_clean": _demo(hr_bpm=40.0, noise_db=None, seed=4),
        "murmur_noisy": _demo(murmur=True, hr_bpm=95.0, noise_db=-15.0, seed=5),
        "noise": (0.05 * rng.standard_normal(n)).astype(np.float32),
        "silence": np.zeros(n, np.float32),
        "near_silence": (1e-7 * rng.standard_normal(n)).astype(np.float32),
        "clipped": np.clip(heart * 20.0, -1.0, 1.0).astype(np.float32),
        "hum": (0.1 * np.sin(2 * np.pi * 50.0 * np.arange(n) / RATE)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def windows() -> list[tuple[str, np.ndarray]]:
    out = []
    for name, x in _signals().items():
        f = frame_features(resample(np.asarray(x, np.float32), RATE))
        out += [(f"{name}@{i}", f[i : i + 500]) for i in range(0, f.shape[0] - 500 + 1, 125)]
    return out


def test_vector_matches_reference(windows: list[tuple[str, np.ndarray]]) -> None:
    names = window_feature_names()
    worst_rel = 0.0
    for label, w in windows:
        full, per = window_vector(w, 125.0)
        want, per_ref = ref.window_vector(w, 125.0)
        # the reference covers the frame statistics; the cardiac-phase features that follow
        # (tests/classify/test_phase.py) are zeros without sounds
        assert full.dtype == np.float32 and full.shape == (len(names),)
        got = full[: want.shape[0]]
        assert not full[want.shape[0] :].any()
        assert per == pytest.approx(per_ref, rel=1e-5, abs=1e-6), label
        bad = ~np.isclose(got, want, rtol=1e-5, atol=1e-6)
        assert not bad.any(), (label, [(names[k], got[k], want[k]) for k in np.flatnonzero(bad)])
        big = np.abs(want) > 1e-6
        if big.any():
            rel = np.abs(got[big].astype(np.float64) / want[big] - 1.0).max()
            worst_rel = max(worst_rel, float(rel))
    assert worst_rel <= 1e-5


def test_quality_matches_reference(windows: list[tuple[str, np.ndarray]]) -> None:
    for label, w in windows:
        per = ref.window_vector(w, 125.0)[1]
        for p in (per, 0.0, 0.3, 1.0):
            assert window_quality(w, p) == ref.window_quality(w, p), label


def test_odd_shapes_match_reference() -> None:
    rng = np.random.default_rng(3)
    for n in (16, 17, 250, 501):
        f = np.column_stack([
            rng.uniform(0, 0.6, n), rng.uniform(0, 0.5, n), rng.uniform(50, 900, n),
            rng.uniform(50, 500, n), rng.normal(-60, 15, (n, 16)),
        ]).astype(np.float32)
        got, per = window_vector(f, 125.0)
        want, per_ref = ref.window_vector(f, 125.0)
        np.testing.assert_allclose(got[: want.shape[0]], want, rtol=1e-5, atol=1e-6,
                                   err_msg=str(n))
        assert per == pytest.approx(per_ref, rel=1e-5, abs=1e-6)
        assert window_quality(f, per) == ref.window_quality(f, per_ref)
    # constant frames: every statistic degenerate
    f = np.tile(np.array([1e-5, 0.0, 0.0, 0.0] + [-100.0] * 16, np.float32), (500, 1))
    want = ref.window_vector(f, 125.0)[0]
    np.testing.assert_allclose(window_vector(f, 125.0)[0][: want.shape[0]], want,
                               rtol=1e-5, atol=1e-6)
