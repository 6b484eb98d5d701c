"""The synthetic heart: streaming invariance, determinism, rhythm, murmur and ground truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stetho_rt.errors import ConfigError
from stetho_rt.io.demo import DemoHeart, TrueSound


def _read_chunked(demo: DemoHeart, total: int, rng: np.random.Generator, hi: int) -> np.ndarray:
    parts, n = [], 0
    while n < total:
        k = min(int(rng.integers(0, hi)), total - n)
        b = demo.read(k)
        assert b.dtype == np.float32 and b.shape == (k,)
        parts.append(b)
        n += k
    return np.concatenate(parts)


@pytest.mark.parametrize("kw", [{}, {"murmur": True, "noise_db": -20.0, "hr_bpm": 130.0}])
def test_any_chunking_gives_identical_samples(rng: np.random.Generator, kw: dict):
    total = 4000 * 12
    ref = DemoHeart(**kw).read(total)
    for hi in (3, 97, 5000, 30000):
        np.testing.assert_array_equal(_read_chunked(DemoHeart(**kw), total, rng, hi), ref)
    blocks = list(DemoHeart(duration_s=total / 4000, **kw).blocks(333))
    np.testing.assert_array_equal(np.concatenate(blocks), ref)


def test_determinism_by_seed():
    a = DemoHeart(seed=5, murmur=True).read(20000)
    np.testing.assert_array_equal(a, DemoHeart(seed=5, murmur=True).read(20000))
    assert not np.array_equal(a, DemoHeart(seed=6, murmur=True).read(20000))
    assert DemoHeart(seed=5).truth() == []


@pytest.mark.parametrize("hr", [40.0, 72.0, 120.0, 180.0, 220.0])
def test_heart_rate_matches_setting(hr: float):
    demo = DemoHeart(rate=2000, hr_bpm=hr, seed=3)
    demo.read(2000 * 40)
    s1 = [s.onset_s for s in demo.truth("S1")]
    rr = np.diff(s1)
    assert 60.0 / np.median(rr) == pytest.approx(hr, rel=0.03)
    assert 0.005 < np.std(rr) / np.mean(rr) < 0.1  # variable, but not wildly


def test_rr_variability_follows_hrv():
    def cv(hrv: float) -> float:
        d = DemoHeart(rate=1000, hrv=hrv, seed=1)
        d.read(1000 * 60)
        rr = np.diff([s.onset_s for s in d.truth("S1")])
        return float(np.std(rr) / np.mean(rr))

    assert cv(0.0) < 0.01 < cv(0.03) < cv(0.08)


def test_sound_durations_and_systole():
    demo = DemoHeart(seed=2)
    demo.read(4000 * 30)
    s1, s2 = demo.truth("S1"), demo.truth("S2")
    d1 = np.array([s.offset_s - s.onset_s for s in s1])
    d2 = np.array([s.offset_s - s.onset_s for s in s2])
    assert np.all((d1 >= 0.095) & (d1 <= 0.125)) and 0.100 <= np.median(d1) <= 0.120
    assert np.all((d2 >= 0.065) & (d2 <= 0.110)) and 0.080 <= np.median(d2) <= 0.100
    n = min(len(s1), len(s2))
    systole = np.array([b.onset_s - a.onset_s for a, b in zip(s1[:n], s2[:n], strict=True)])
    assert 0.30 <= np.median(systole) <= 0.35

    fast = DemoHeart(hr_bpm=150.0, seed=2)
    fast.read(4000 * 30)
    sf1, sf2 = fast.truth("S1"), fast.truth("S2")
    m = min(len(sf1), len(sf2))
    fast_sys = np.median([b.onset_s - a.onset_s for a, b in zip(sf1[:m], sf2[:m], strict=True)])
    assert fast_sys < np.median(systole) - 0.05


def test_truth_is_consistent_with_the_signal():
    rate = 4000
    demo = DemoHeart(rate=rate, seed=4, noise_db=-40.0)
    x = demo.read(rate * 20).astype(np.float64)
    truth = demo.truth()
    assert all(isinstance(s, TrueSound) and s.onset_s < demo.position_s for s in truth)
    kinds = [s.kind for s in truth]
    assert kinds[0] == "S1" and all(a != b for a, b in itertools.pairwise(kinds))
    # Ordered and non-overlapping: S1 on < S1 off < S2 on < S2 off < next S1 on.
    edges = np.array([t for s in truth for t in (s.onset_s, s.offset_s)])
    assert np.all(np.diff(edges) > 0)

    def rms(a: float, b: float) -> float:
        seg = x[int(a * rate) : int(b * rate)]
        return float(np.sqrt(np.mean(seg**2)))

    inside = [rms(s.onset_s, s.offset_s) for s in truth if s.offset_s < 19.9]
    gaps = [
        rms(a.offset_s + 0.01, b.onset_s - 0.01)
        for a, b in itertools.pairwise(truth)
        if b.onset_s - a.offset_s > 0.05
    ]
    assert min(inside) > 5 * max(gaps)
    peak = np.abs(x).max()
    assert 0.3 <= peak <= 0.5


def test_murmur_adds_energy_between_s1_and_s2():
    rate = 4000
    plain = DemoHeart(rate=rate, seed=8, murmur=False)
    mur = DemoHeart(rate=rate, seed=8, murmur=True)
    a = plain.read(rate * 15).astype(np.float64)
    b = mur.read(rate * 15).astype(np.float64)
    assert plain.truth("S1") == mur.truth("S1") and plain.truth("S2") == mur.truth("S2")
    assert plain.truth("murmur") == []
    spans = mur.truth("murmur")
    assert len(spans) == len(mur.truth("S1"))
    s1, s2 = mur.truth("S1"), mur.truth("S2")
    ratios = []
    for x1, x2 in zip(s1, s2, strict=False):
        lo, hi = int(x1.offset_s * rate), int(x2.onset_s * rate)
        ratios.append(np.sum(b[lo:hi] ** 2) / np.sum(a[lo:hi] ** 2))
    assert np.median(ratios) > 3
    # Outside the murmur spans the two signals are identical (separate random streams).
    mask = np.ones(len(a), bool)
    for s in spans:
        mask[int(s.onset_s * rate) - 1 : int(s.offset_s * rate) + 2] = False
    np.testing.assert_array_equal(a[mask], b[mask])
    # Murmur energy lies in 100-400 Hz.
    diff = b - a
    spec = np.abs(np.fft.rfft(diff)) ** 2
    f = np.fft.rfftfreq(len(diff), 1 / rate)
    assert spec[(f >= 95) & (f <= 405)].sum() > 0.98 * spec.sum()


def test_duration_limit_and_noise_off():
    demo = DemoHeart(rate=1000, duration_s=2.5, noise_db=None)
    x = demo.read(10_000)
    assert x.shape == (2500,) and demo.finished and demo.position_s == 2.5
    assert demo.read(100).shape == (0,)
    assert np.all(x[:150] == 0.0)  # silent before the first S1 (at 0.2 s) without noise
    assert all(s.onset_s < 2.5 for s in demo.truth())
    assert DemoHeart(noise_db=float("-inf")).read(100).max() == 0.0


@pytest.mark.parametrize("rate", [1000, 44100, 192000])
def test_other_rates(rate: int):
    demo = DemoHeart(rate=rate, murmur=True, seed=1)
    x = demo.read(rate * 3)
    assert np.isfinite(x).all() and 0.25 < np.abs(x).max() < 0.55
    assert len(demo.truth("S1")) >= 3


@pytest.mark.parametrize(
    "kw",
    [
        {"rate": 500},
        {"hr_bpm": 20.0},
        {"hr_bpm": 300.0},
        {"hrv": -0.1},
        {"noise_db": 3.0},
        {"noise_db": float("nan")},
        {"duration_s": 0.0},
    ],
)
def test_bad_parameters(kw: dict):
    with pytest.raises(ConfigError):
        DemoHeart(**kw)
