"""Cardiac-phase window features (classify.phase): values, cycle selection, device invariance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stetho_rt.classify.phase import EXCESS_BANDS, phase_feature_names, phase_features

FR = 125.0
CENTRE = 0.016
N_MELS = 16


def _cycles(period: float, n: int, t0: float = 0.2, sys_frac: float = 0.35) -> np.ndarray:
    """S1 (0.1 s), systole, S2 (0.08 s), diastole, repeated ``n`` times from ``t0`` [s]."""
    rows = []
    for i in range(n):
        b = t0 + i * period
        rows.append((1.0, b, b + 0.1))
        s2 = b + 0.1 + sys_frac * period
        rows.append((2.0, s2, s2 + 0.08))
    return np.array(rows)


def _mel(sounds: np.ndarray, n_frames: int, sys_db: float, dia_db: float,
         floor_db: float = -60.0) -> np.ndarray:
    """Mel frames [dB]: S1/S2 at -20 dB, systole at ``sys_db``, diastole at ``dia_db``."""
    t = np.arange(n_frames) / FR + CENTRE
    mel = np.full((n_frames, N_MELS), floor_db)
    for i, (kind, on, off) in enumerate(sounds):
        mel[(t >= on) & (t <= off)] = -20.0 if kind == 1.0 else -25.0
        if kind == 1.0 and i + 1 < len(sounds):
            mel[(t > off) & (t < sounds[i + 1, 1])] = sys_db
        if kind == 2.0 and i + 1 < len(sounds):
            mel[(t > off) & (t < sounds[i + 1, 1])] = dia_db
    return mel


def _level(mel: np.ndarray) -> np.ndarray:
    """Broadband frame level [dB], as the window summary computes it."""
    return 10.0 * np.log10((10.0 ** (mel / 10.0)).sum(axis=1) + 1e-10)


def _phase(mel: np.ndarray, snd: np.ndarray) -> np.ndarray:
    return phase_features(mel, _level(mel), snd, FR, CENTRE, 4.0)


def test_names_match_length() -> None:
    out = _phase(np.zeros((500, N_MELS)), np.zeros((0, 3)))
    assert out.shape == (len(phase_feature_names(N_MELS)),) == (7 * N_MELS + 4,)
    assert not out.any()  # no sounds: zeros, zero cycles


def test_systolic_murmur_reads_as_systolic_excess() -> None:
    snd = _cycles(0.8, 5)
    names = phase_feature_names(N_MELS)
    f = dict(zip(names, _phase(_mel(snd, 500, -40.0, -55.0), snd),
                 strict=True))
    # cycles fully inside 4 s: S1 at 0.2, 1.0, 1.8, 2.6, 3.4 -> 4 complete S1-S2-S1 cycles
    assert f["ph_cycles_per_s"] == pytest.approx(4 / 4.0)
    for m in range(N_MELS):
        assert f[f"ph_mel{m:02d}_sys_minus_dia"] == pytest.approx(15.0)
        assert f[f"ph_mel{m:02d}_sys_minus_s1"] == pytest.approx(-20.0)
        assert f[f"ph_mel{m:02d}_sys_minus_s2"] == pytest.approx(-15.0)
        assert f[f"ph_mel{m:02d}_dia_minus_s2"] == pytest.approx(-30.0)
    assert f["ph_level_sys_minus_dia"] == pytest.approx(15.0)
    assert f["ph_sys_excess_share"] == 1.0
    assert f["ph_sys_fraction"] == pytest.approx((0.35 * 0.8) / (0.8 - 0.18), rel=1e-9)


def test_normal_heart_has_no_excess() -> None:
    snd = _cycles(0.8, 5)
    f = _phase(_mel(snd, 500, -58.0, -58.0), snd)
    names = phase_feature_names(N_MELS)
    assert f[names.index("ph_mel05_sys_minus_dia")] == pytest.approx(0.0)
    assert f[names.index("ph_sys_excess_share")] == 0.0


def test_incomplete_and_implausible_cycles_are_skipped() -> None:
    # S1 S2 S1 whose early diastole runs past the last frame (3.77-4.24 s): not summarised
    snd = np.array([(1.0, 3.0, 3.1), (2.0, 3.6, 3.68), (1.0, 4.6, 4.7)])
    assert _phase(np.zeros((500, N_MELS)), snd)[-1] == 0.0
    # S1 S1 S2 (a missed S2): not a cycle
    snd = np.array([(1.0, 0.2, 0.3), (1.0, 1.0, 1.1), (2.0, 1.4, 1.48), (2.0, 2.0, 2.1)])
    assert _phase(np.zeros((500, N_MELS)), snd)[-1] == 0.0
    # systole of 0.7 s (beyond 0.6 s): rejected
    snd = np.array([(1.0, 0.2, 0.3), (2.0, 1.0, 1.08), (1.0, 2.0, 2.1)])
    assert _phase(np.zeros((500, N_MELS)), snd)[-1] == 0.0


@settings(max_examples=30, deadline=None)
@given(gains=st.lists(st.floats(-30.0, 30.0), min_size=N_MELS, max_size=N_MELS),
       period=st.floats(0.4, 1.5))
def test_a_fixed_device_response_cancels(gains: list[float], period: float) -> None:
    """A stethoscope's gain per band shifts every level of that band: no feature moves."""
    snd = _cycles(period, int(4.0 / period) + 1)
    rng = np.random.default_rng(0)
    mel = _mel(snd, 500, -40.0, -50.0) + rng.normal(0.0, 2.0, (500, N_MELS))
    a = _phase(mel, snd)
    b = _phase(mel + np.array(gains), snd)
    names = phase_feature_names(N_MELS)
    band = [i for i, n in enumerate(names) if n.startswith("ph_mel")]
    np.testing.assert_allclose(a[band], b[band], atol=1e-9)
    assert a[-1] == b[-1] and a[names.index("ph_sys_fraction")] == b[names.index("ph_sys_fraction")]


def test_excess_share_counts_mid_bands_only() -> None:
    snd = _cycles(0.8, 5)
    mel = _mel(snd, 500, -58.0, -58.0)
    t = np.arange(500) / FR + CENTRE
    a, b = EXCESS_BANDS
    for i in range(0, len(snd) - 1, 2):  # systolic excess in half of the excess bands only
        m = (t > snd[i, 2]) & (t < snd[i + 1, 1])
        mel[np.ix_(m, np.arange(a, a + (b - a) // 2))] = -40.0
    f = _phase(mel, snd)
    assert f[phase_feature_names(N_MELS).index("ph_sys_excess_share")] == pytest.approx(0.5)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 15])
def test_aggregation_equals_numpy(count: int) -> None:
    """The numba aggregation gives numpy's median, percentiles (linear) and mean, bit for bit."""
    from stetho_rt.classify.phase import MAX_CYCLES, _aggregate

    rng = np.random.default_rng(count)
    k = 5 * N_MELS + 2
    rows = rng.normal(0.0, 5.0, (MAX_CYCLES, k))
    out = np.zeros(7 * N_MELS + 4)
    _aggregate(rows, count, N_MELS, EXCESS_BANDS[0], EXCESS_BANDS[1], 3.0, out)
    r = rows[:count]
    want = np.zeros_like(out)
    want[:k] = np.median(r, axis=0)
    want[k : k + N_MELS] = np.percentile(r[:, :N_MELS], 25.0, axis=0)
    want[k + N_MELS : k + 2 * N_MELS] = np.percentile(r[:, :N_MELS], 75.0, axis=0)
    want[-2] = np.mean(r[:, EXCESS_BANDS[0] : EXCESS_BANDS[1]] > 3.0)
    np.testing.assert_array_equal(out, want)
