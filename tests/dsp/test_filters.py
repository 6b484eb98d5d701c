"""Band-pass, spike suppressor and SOS kernel: block-size invariance, scipy references, policies."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import scipy.signal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stetho_rt.config import DspConfig
from stetho_rt.dsp.filters import (
    BandpassStage,
    SosFilterStage,
    SpikeSuppressor,
    bandpass,
    bandpass_sos,
    sosfilt_into,
)
from stetho_rt.dsp.stage import Stage
from stetho_rt.errors import ConfigError

FS = 2000
F32_MAX = float(np.finfo(np.float32).max)


# ------------------------------------------------------------------------------------------------
# helpers (shared with test_envelope.py)
# ------------------------------------------------------------------------------------------------


def run_chunked(stage: Stage, x: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """Feed ``x`` in blocks cycling through ``sizes``, then flush; return everything (a copy)."""
    pieces = []
    i, j = 0, 0
    while i < x.shape[0]:
        n = sizes[j % len(sizes)]
        pieces.append(stage.process(x[i : i + n]).copy())
        i += n
        j += 1
    pieces.append(stage.flush().copy())
    return np.concatenate(pieces, axis=0)


def chunkings(rng: np.random.Generator, n: int) -> dict[str, list[int]]:
    """The chunkings every invariance test uses."""
    return {
        "1": [1],
        "17": [17],
        "509": [509],
        "random-odd": list(2 * rng.integers(0, 400, size=64) + 1),
        "one-call": [n],
    }


def heart_like(
    rng: np.random.Generator,
    duration_s: float = 20.0,
    knock_times_s: Sequence[float] = (),
    knock_gain: float = 25.0,
) -> tuple[np.ndarray, list[tuple[int, int]], list[tuple[int, int]]]:
    """Synthetic phonocardiogram: S1/S2-like noise bursts at 75 bpm, weak noise, optional knocks.

    S1 = 100 ms Hann-shaped 30-150 Hz noise (peak 0.3 ± 30 %), S2 = 80 ms 50-200 Hz (0.2 ± 30 %),
    S2 300 ms after S1, cycle 0.8 s. A knock is a 30 ms damped 45 Hz thump plus a broadband click,
    scaled so its band-passed peak is ``knock_gain`` times the nominal S1 peak.

    Returns
    -------
    x : float32 signal; sounds, knocks : lists of ``(start, stop)`` sample spans.
    """
    n = int(duration_s * FS)
    x = 0.002 * rng.standard_normal(n)
    bp = bandpass_sos()

    def burst(centre_s: float, dur_s: float, lo: float, hi: float, amp: float) -> tuple[int, int]:
        m = int(dur_s * FS)
        sos = scipy.signal.butter(4, [lo, hi], "bandpass", fs=FS, output="sos")
        b = scipy.signal.sosfilt(sos, rng.standard_normal(m + 400))[400:] * np.hanning(m)
        b *= amp / np.abs(b).max()
        i0 = int(centre_s * FS) - m // 2
        x[i0 : i0 + m] += b
        return i0, i0 + m

    sounds = []
    t = 0.3
    while t < duration_s - 0.5:
        sounds.append(burst(t, 0.10, 30, 150, 0.3 * (1 + 0.3 * rng.uniform(-1, 1))))
        sounds.append(burst(t + 0.3, 0.08, 50, 200, 0.2 * (1 + 0.3 * rng.uniform(-1, 1))))
        t += 0.8
    knocks = []
    for kt in knock_times_s:
        i0 = int(kt * FS)
        m = int(0.03 * FS)
        tt = np.arange(m) / FS
        k = np.exp(-tt / 0.006) * np.sin(2 * np.pi * 45 * tt)
        k += np.exp(-tt / 0.0015) * rng.standard_normal(m)
        k *= knock_gain * 0.3 / np.abs(scipy.signal.sosfilt(bp, np.r_[k, np.zeros(400)])).max()
        x[i0 : i0 + m] += k
        knocks.append((i0, i0 + m))
    return x.astype(np.float32), sounds, knocks


def db_ratio(a: np.ndarray, b: np.ndarray) -> float:
    """Energy of ``a`` over energy of ``b`` [dB]."""
    return float(10 * np.log10(np.sum(np.square(a, dtype=np.float64)) / np.sum(np.square(b))))


STAGES: dict[str, Callable[[], Stage]] = {
    "bandpass+spikes": lambda: BandpassStage(max_block=1024),
    "bandpass": lambda: BandpassStage(max_block=1024, suppress_spikes=False),
    "spike-suppressor": lambda: SpikeSuppressor(max_block=1024),
    "sos-generic": lambda: SosFilterStage(
        scipy.signal.butter(3, 100, fs=FS, output="sos"), FS, 1024, latency=4
    ),
}


# ------------------------------------------------------------------------------------------------
# block-size invariance, reset, flush
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(STAGES))
def test_block_size_invariance(name: str, rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 6.0, knock_times_s=(1.45, 3.05, 4.65))
    x[777] = np.nan  # the non-finite policy must be chunking-independent too
    make = STAGES[name]
    reference = run_chunked(make(), x, [x.shape[0]])
    assert reference.shape == (x.shape[0] + make().latency,)
    for label, sizes in chunkings(rng, x.shape[0]).items():
        got = run_chunked(make(), x, sizes)
        np.testing.assert_array_equal(got, reference, err_msg=f"chunking {label}")


@pytest.mark.parametrize("name", list(STAGES))
def test_reset_reproduces_first_run(name: str, rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 3.0, knock_times_s=(1.45,))
    x[100] = np.inf
    stage = STAGES[name]()
    first = run_chunked(stage, x, [333])
    count = getattr(stage, "nonfinite_samples", None)
    stage.reset()
    assert getattr(stage, "nonfinite_samples", 0) == 0
    second = run_chunked(stage, x, [333])
    np.testing.assert_array_equal(second, first)
    assert getattr(stage, "nonfinite_samples", None) == count == 1


@pytest.mark.parametrize("name", list(STAGES))
def test_warm_up_leaves_initial_state(name: str, rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 2.0, knock_times_s=(1.45,))
    warmed = STAGES[name]()
    warmed.warm_up()
    np.testing.assert_array_equal(
        run_chunked(warmed, x, [320]), run_chunked(STAGES[name](), x, [320])
    )


def test_batch_and_flush_alignment(rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 2.0)
    stage = BandpassStage()
    y = bandpass(x)
    assert y.dtype == np.float32 and y.shape == (x.shape[0] + stage.latency,)
    # flush = feeding `latency` zeros
    padded = np.r_[x, np.zeros(stage.latency, np.float32)]
    np.testing.assert_array_equal(y, stage.process(padded))
    # max_block splitting in Stage.process gives the same result
    small = BandpassStage(max_block=100)
    np.testing.assert_array_equal(run_chunked(small, x, [x.shape[0]]), y)


# ------------------------------------------------------------------------------------------------
# reference checks
# ------------------------------------------------------------------------------------------------


def test_bandpass_design_and_latency() -> None:
    cfg = DspConfig()
    sos = bandpass_sos(cfg)
    expected = scipy.signal.butter(4, [25.0, 400.0], "bandpass", fs=FS, output="sos")
    np.testing.assert_allclose(sos, expected, rtol=0, atol=0)
    off = BandpassStage(cfg, suppress_spikes=False)
    on = BandpassStage(cfg)
    assert off.latency == off.filter_latency == 5  # 2.5 ms: mean group delay over 50-150 Hz
    assert on.latency == 15  # + 10 samples of spike look-ahead
    assert on.in_rate == on.out_rate == 2000.0


def test_bandpass_matches_scipy(rng: np.random.Generator) -> None:
    """Tolerance: max |ours - scipy| <= 1e-5 x RMS of the scipy output (float32 output)."""
    x, _, _ = heart_like(rng, 10.0)
    x += (0.05 * rng.standard_normal(x.shape[0])).astype(np.float32)
    stage = BandpassStage(suppress_spikes=False)
    ours = stage.process(x).astype(np.float64)
    ref = scipy.signal.sosfilt(stage.sos, x.astype(np.float64))
    rms = np.sqrt(np.mean(ref**2))
    assert np.max(np.abs(ours - ref)) <= 1e-5 * rms


def test_sosfilt_into_carries_scipy_state(rng: np.random.Generator) -> None:
    """Per-block sosfilt_into with carried zi == per-block scipy sosfilt with zi (1e-6 x RMS)."""
    sos = bandpass_sos()
    zi = np.zeros((sos.shape[0], 2))
    zi_ref = np.zeros_like(zi)
    x = rng.standard_normal(4000).astype(np.float32)
    out = np.empty(4000, np.float32)
    ref = np.empty(4000)
    for i in range(0, 4000, 20):
        assert sosfilt_into(sos, zi, x[i : i + 20], out[i : i + 20]) == 0
        ref[i : i + 20], zi_ref = scipy.signal.sosfilt(
            sos, x[i : i + 20].astype(np.float64), zi=zi_ref
        )
    np.testing.assert_allclose(zi, zi_ref, rtol=1e-12, atol=1e-12)
    assert np.max(np.abs(out - ref)) <= 1e-6 * np.sqrt(np.mean(ref**2))


def test_bandpass_delay_matches_declared_latency(rng: np.random.Generator) -> None:
    """A 100 Hz Gaussian tone burst comes out filter_latency samples later (within 2 samples)."""
    t = np.arange(4000) / FS
    x = (np.exp(-0.5 * ((t - 1.0) / 0.03) ** 2) * np.sin(2 * np.pi * 100 * t)).astype(np.float32)
    off = BandpassStage(suppress_spikes=False)
    y = off.process(x)
    delay = np.argmax(np.abs(scipy.signal.hilbert(y))) - np.argmax(np.abs(scipy.signal.hilbert(x)))
    assert abs(delay - off.filter_latency) <= 2


def test_suppressor_passes_clean_signal_bit_exact(rng: np.random.Generator) -> None:
    """Without spikes the suppressed output is the plain band-pass output delayed by look-ahead."""
    x, _, _ = heart_like(rng, 6.0)
    off = BandpassStage(suppress_spikes=False)
    on = BandpassStage()
    y = off.process(x)
    z = on.process(x)
    lag = on.latency - off.latency
    np.testing.assert_array_equal(z[lag:], y[:-lag])
    assert on.spike_suppressor is not None and on.spike_suppressor.spike_events == 0
    assert on.spike_suppressor.attenuated_samples == 0


# ------------------------------------------------------------------------------------------------
# spike suppression
# ------------------------------------------------------------------------------------------------


def test_knocks_attenuated_heart_sounds_untouched(rng: np.random.Generator) -> None:
    knock_times = (5.65, 8.85, 12.05, 16.05)  # in diastole, after the 4 s reference warm-up
    x, sounds, knocks = heart_like(rng, 20.0, knock_times, knock_gain=25.0)
    off = BandpassStage(suppress_spikes=False).process(x).copy()
    stage = BandpassStage()
    on = stage.process(x)
    lag = stage.latency - stage.filter_latency
    on, off = on[lag:], off[: x.shape[0] - lag]
    for a, b in knocks:  # knock plus 150 ms of band-pass ringing
        assert db_ratio(off[a - 20 : b + 300], on[a - 20 : b + 300]) >= 20.0
    checked = 0
    for a, b in sounds:
        if any(0 <= a - k0 < 0.3 * FS for k0, _ in knocks):
            continue  # sounds in the gate's hold after a knock are muted with it
        assert abs(db_ratio(on[a : b + 20], off[a : b + 20])) < 1.0
        checked += 1
    assert checked >= 40
    sp = stage.spike_suppressor
    assert sp is not None and sp.spike_events == len(knocks)


def test_suppressor_is_causal_and_quiet_at_start(rng: np.random.Generator) -> None:
    """No detection before the first reference window; a loud first window is simply passed."""
    x = np.zeros(900, np.float32)
    x[300] = 1000.0
    sp = SpikeSuppressor()
    y = sp.process(x)
    assert sp.spike_events == 0 and y[300 + sp.latency] == 1000.0
    assert sp.reference_level == 0.0


# ------------------------------------------------------------------------------------------------
# non-finite policy and property tests
# ------------------------------------------------------------------------------------------------


def test_nan_does_not_poison_state(rng: np.random.Generator) -> None:
    x, _, _ = heart_like(rng, 3.0)
    bad = x.copy()
    bad[1000:1010] = np.nan
    bad[2000] = -np.inf
    clean = x.copy()
    clean[1000:1010] = 0.0
    clean[2000] = 0.0
    for make in STAGES.values():
        s_bad, s_clean = make(), make()
        y_bad = run_chunked(s_bad, bad, [160])
        assert np.all(np.isfinite(y_bad))
        np.testing.assert_array_equal(y_bad, run_chunked(s_clean, clean, [160]))
        assert getattr(s_bad, "nonfinite_samples", None) == 11


def test_bad_sos_rejected() -> None:
    with pytest.raises(ConfigError):
        SosFilterStage(np.zeros((2, 5)), FS)
    with pytest.raises(ConfigError):
        SosFilterStage([[1, 0, 0, 0, 0, 0]], FS)
    with pytest.raises(ConfigError):
        SpikeSuppressor(lookahead=0)


SPECIALS = [np.nan, np.inf, -np.inf, 1.0, -1.0, 0.0, F32_MAX, -F32_MAX]


@st.composite
def signals(draw: st.DrawFn) -> np.ndarray:
    """Random float32 signals: noise, zeros, full scale ±1, huge or tiny, plus special values."""
    n = draw(st.integers(0, 4000))
    r = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["noise", "zeros", "fullscale", "huge", "tiny", "impulses"]))
    if kind == "noise":
        x = 0.1 * r.standard_normal(n)
    elif kind == "zeros":
        x = np.zeros(n)
    elif kind == "fullscale":
        x = r.choice([-1.0, 1.0], n)
    elif kind == "huge":
        x = r.uniform(-1.0, 1.0, n) * 3.0e38
    elif kind == "tiny":
        x = r.standard_normal(n) * 1e-40
    else:
        x = np.where(r.random(n) < 0.01, 10.0, 0.001 * r.standard_normal(n))
    x = x.astype(np.float32)
    if n:
        for i, v in draw(st.lists(st.tuples(st.integers(0, n - 1), st.sampled_from(SPECIALS)))):
            x[i] = v
    return x


chunk_lists = st.lists(st.integers(1, 700), min_size=1, max_size=12)
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYP
@given(x=signals(), sizes=chunk_lists, name=st.sampled_from(list(STAGES)))
def test_property_no_crash_finite_invariant(x: np.ndarray, sizes: list[int], name: str) -> None:
    stage = STAGES[name]()
    one = run_chunked(stage, x, [max(x.shape[0], 1)])
    assert one.dtype == np.float32 and one.shape == (x.shape[0] + stage.latency,)
    assert np.all(np.isfinite(one))  # non-finite input is used as 0: output is always finite
    assert getattr(stage, "nonfinite_samples", 0) == int(np.count_nonzero(~np.isfinite(x)))
    again = STAGES[name]()
    np.testing.assert_array_equal(run_chunked(again, x, sizes), one)
