"""Envelope stage: block-size invariance, scipy references, alignment, anti-aliasing, policies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stetho_rt.config import DspConfig
from stetho_rt.dsp.envelope import (
    ENVELOPE_COLUMNS,
    HOMOMORPHIC_EPS,
    EnvelopeStage,
    envelopes,
    hilbert_fir,
)
from stetho_rt.dsp.filters import bandpass
from stetho_rt.errors import ConfigError

from .test_filters import chunkings, heart_like, run_chunked, signals

FS = 2000
DECIM = 20


def am_signal(carrier_hz: float, duration_s: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Stationary AM tone: envelope ``1 + 0.5 sin(2 pi 1.3 t)``; returns (x float32, envelope)."""
    t = np.arange(int(duration_s * FS)) / FS
    env = 1.0 + 0.5 * np.sin(2 * np.pi * 1.3 * t)
    return (env * np.cos(2 * np.pi * carrier_hz * t + 0.3)).astype(np.float32), env


def aligned(stage: EnvelopeStage, y: np.ndarray, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices k >= latency and the input sample index each describes (20 (k - latency))."""
    k = np.arange(stage.latency, y.shape[0])
    idx = DECIM * (k - stage.latency)
    keep = idx < n_in
    return k[keep], idx[keep]


def test_geometry_and_latency() -> None:
    stage = EnvelopeStage()
    assert ENVELOPE_COLUMNS == ("hilbert", "homomorphic")
    assert stage.in_rate == 2000.0 and stage.out_rate == 100.0 and stage.decimation == DECIM
    # 63 (Hilbert half length) + 56 (homomorphic DC group delay) + 41 (decimation FIR) = 160
    assert (stage.hilbert_delay, stage.homomorphic_delay, stage.decimation_delay) == (63, 56, 41)
    assert stage.latency == 8 and stage.delay_samples == 160
    assert stage.latency_s == pytest.approx(0.080)
    # other cut-offs keep the latency a whole number of frames
    other = EnvelopeStage(DspConfig(homomorphic_cutoff_hz=20.0))
    total = other.hilbert_delay + other.homomorphic_delay + other.decimation_delay
    assert total == other.latency * DECIM and other.decimation_delay >= 40


def test_hilbert_fir_is_computed_once_and_handed_out_as_copies() -> None:
    """Memoised per process (batch set-up); a stage writing into its copy changes no other's;
    a bad length is still refused."""
    first = hilbert_fir()
    expect = first.copy()
    first[:] = 7.0
    import stetho_rt.dsp.envelope as envelope_module

    calls = []
    real = envelope_module._hilbert_fir
    envelope_module._hilbert_fir = lambda *a: calls.append(a) or real(*a)
    try:
        assert np.array_equal(hilbert_fir(), expect)
    finally:
        envelope_module._hilbert_fir = real
    assert calls == []  # not computed again
    assert np.array_equal(EnvelopeStage().hilbert_taps, expect)
    with pytest.raises(ConfigError):
        hilbert_fir(64)


def test_output_shape_and_batch() -> None:
    x = np.zeros(1001, np.float32)
    stage = EnvelopeStage()
    y = stage.process(x)
    assert y.dtype == np.float32 and y.shape == (51, 2)  # indices 0, 20, ..., 1000
    assert stage.process(np.zeros(19, np.float32)).shape == (0, 2)  # 1001..1019
    assert stage.process(np.zeros(1, np.float32)).shape == (1, 2)  # 1020
    assert stage.flush().shape == (stage.latency, 2)
    assert envelopes(x).shape == (51 + stage.latency, 2)
    assert envelopes(np.zeros(0, np.float32)).shape == (stage.latency, 2)


def test_block_size_invariance(rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 6.0, knock_times_s=(2.25,))
    x = bandpass(x)[15:]
    x[555] = np.nan
    reference = run_chunked(EnvelopeStage(max_block=1024), x, [x.shape[0]])
    for label, sizes in chunkings(rng, x.shape[0]).items():
        got = run_chunked(EnvelopeStage(max_block=1024), x, sizes)
        np.testing.assert_array_equal(got, reference, err_msg=f"chunking {label}")


def test_warm_up_leaves_initial_state(rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 2.0)
    warmed = EnvelopeStage()
    warmed.warm_up()
    np.testing.assert_array_equal(
        run_chunked(warmed, x, [320]), run_chunked(EnvelopeStage(), x, [320])
    )


def test_reset_reproduces_first_run(rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 3.0)
    x[10] = np.nan
    stage = EnvelopeStage()
    first = run_chunked(stage, x, [97])
    assert stage.nonfinite_samples == 1
    stage.reset()
    assert stage.nonfinite_samples == 0
    np.testing.assert_array_equal(run_chunked(stage, x, [97]), first)


@pytest.mark.parametrize("carrier_hz", [40.0, 60.0, 150.0, 300.0])
def test_hilbert_column_matches_scipy_hilbert(carrier_hz: float) -> None:
    """|ours - abs(scipy.signal.hilbert(x))| <= 1 % of the peak envelope (1.5), frames 1 s from
    either edge, after aligning the declared latency."""
    x, _ = am_signal(carrier_hz)
    stage = EnvelopeStage()
    y = envelopes(x)
    ref = np.abs(scipy.signal.hilbert(x.astype(np.float64)))
    k, idx = aligned(stage, y, x.shape[0])
    keep = (idx >= FS) & (idx < x.shape[0] - FS)
    err = np.abs(y[k[keep], 0] - ref[idx[keep]])
    assert err.max() <= 0.01 * 1.5
    # homomorphic of a smooth single-carrier AM is that envelope too (1 %)
    np.testing.assert_allclose(y[k[keep], 1], ref[idx[keep]], rtol=0.01)


def reference_envelopes(stage: EnvelopeStage, x: np.ndarray) -> np.ndarray:
    """Same formulas with scipy: FIR Hilbert (lfilter), hypot, log, sosfilt, FIR, exp, [::20]."""
    x = x.astype(np.float64)
    m = stage.hilbert_delay
    re = np.r_[np.zeros(m), x[: x.shape[0] - m]] if x.shape[0] > m else np.zeros_like(x)
    im = scipy.signal.lfilter(stage.hilbert_taps, 1.0, x)
    mag = np.hypot(re, im)
    log_eps = math.log(HOMOMORPHIC_EPS)
    sos = stage.homomorphic_sos
    lg = scipy.signal.sosfilt(
        sos, np.log(mag + HOMOMORPHIC_EPS), zi=scipy.signal.sosfilt_zi(sos) * log_eps
    )[0]
    aa = stage.decimation_taps
    dh = stage.homomorphic_delay
    mag_d = np.r_[np.zeros(dh), mag[: mag.shape[0] - dh]]
    col0 = np.maximum(scipy.signal.lfilter(aa, 1.0, mag_d), 0.0)
    col1 = np.exp(scipy.signal.lfilter(aa, 1.0, lg - log_eps) + log_eps * aa.sum())
    return np.stack([col0, col1], axis=1)[::DECIM]


def test_both_columns_match_scipy_formula(rng: np.random.Generator) -> None:
    """Ours vs the scipy formula: rtol 1e-5 plus atol 1e-6 x max (float32 output, sum order)."""
    x, _, _ = heart_like(rng, 8.0)
    x = bandpass(x)[15:]
    stage = EnvelopeStage()
    ours = stage.process(x).astype(np.float64)
    ref = reference_envelopes(stage, x)
    assert ours.shape == ref.shape
    for c in range(2):
        np.testing.assert_allclose(ours[:, c], ref[:, c], rtol=1e-5, atol=1e-6 * ref[:, c].max())


@pytest.mark.parametrize("carrier_hz", [50.0, 100.0, 200.0])
@pytest.mark.parametrize("centre_s", [1.0, 1.2345, 2.71])
def test_tone_burst_peak_lands_at_declared_latency(carrier_hz: float, centre_s: float) -> None:
    """Envelope peaks at burst centre + latency, within one frame, in both columns."""
    t = np.arange(4 * FS) / FS
    shape = np.exp(-0.5 * ((t - centre_s) / 0.025) ** 2)  # S1-like, ~100 ms wide
    x = shape * np.sin(2 * np.pi * carrier_hz * t) + 1e-4 * np.sin(2 * np.pi * 77 * t)
    stage = EnvelopeStage()
    y = envelopes(x.astype(np.float32))
    expected = centre_s * stage.out_rate + stage.latency
    for c in range(2):
        assert abs(np.argmax(y[:, c]) - expected) <= 1.0, ENVELOPE_COLUMNS[c]


def test_no_aliasing_of_fast_modulation() -> None:
    """A 75 Hz AM (beyond the 50 Hz frame Nyquist) must not fold into the frames: < 1 % ripple."""
    t = np.arange(10 * FS) / FS
    x = ((1 + 0.5 * np.cos(2 * np.pi * 75 * t)) * np.cos(2 * np.pi * 250 * t)).astype(np.float32)
    y = envelopes(x)[200:-20]  # skip the start-up and the flushed tail
    for c in range(2):
        assert np.std(y[:, c]) <= 0.01 * np.mean(y[:, c]), ENVELOPE_COLUMNS[c]


def test_outputs_clean_on_heart_like_signal(rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 10.0, knock_times_s=(5.65,))
    y = envelopes(bandpass(x))
    assert np.all(np.isfinite(y)) and np.all(y >= 0.0)
    assert np.all(y[:, 1] > 0.0)


HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYP
@given(x=signals(), sizes=st.lists(st.integers(1, 700), min_size=1, max_size=12))
def test_property_no_crash_finite_nonnegative(x: np.ndarray, sizes: list[int]) -> None:
    stage = EnvelopeStage(max_block=1024)
    one = run_chunked(stage, x, [max(x.shape[0], 1)])
    assert one.dtype == np.float32
    assert one.shape == (-(-x.shape[0] // DECIM) + stage.latency, 2)
    assert np.all(np.isfinite(one)) and np.all(one >= 0.0)
    assert stage.nonfinite_samples == int(np.count_nonzero(~np.isfinite(x)))
    np.testing.assert_array_equal(run_chunked(EnvelopeStage(max_block=1024), x, sizes), one)
