"""StftStage: block-size invariance, librosa reference, framing arithmetic, robustness.

Tolerances: log power vs ``librosa.stft(center=False)`` on the same samples, within 1e-4 dB for
every bin (float64 reference: our float64 DFT, rounded to float32 dB) and within 1e-4 dB where the
power exceeds -80 dB against librosa's own float32 path (complex64 output).
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from stetho_rt.config import DspConfig
from stetho_rt.dsp.stft import StftStage, dft_tables, frame_times, stft_db

RATE = 2000
N_BINS = 33


def heart_like(rng: np.random.Generator, n: int) -> np.ndarray:
    """Decaying 60 Hz bursts every 0.8 s, a 300 Hz tone, noise and a stretch of digital silence."""
    t = np.arange(n) / RATE
    x = (
        0.5 * np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.8) / 0.05)
        + 0.1 * np.sin(2 * np.pi * 300 * t)
        + 0.05 * rng.standard_normal(n)
    )
    x[n // 3 : n // 3 + 400] = 0.0
    return x.astype(np.float32)


def feed(stage: StftStage, x: np.ndarray, sizes: list[int] | None) -> np.ndarray:
    """Feed ``x`` in blocks of the given sizes (cycled; None = one call); concatenate copies."""
    if sizes is None:
        return np.concatenate([stage.process(x).copy(), stage.flush().copy()])
    out, i, j = [], 0, 0
    while i < x.shape[0]:
        step = sizes[j % len(sizes)]
        out.append(stage.process(x[i : i + step]).copy())
        i += step
        j += 1
    out.append(stage.flush().copy())
    return np.concatenate(out)


def librosa_db(x: np.ndarray) -> np.ndarray:
    spec = librosa.stft(x, n_fft=64, hop_length=16, window="hann", center=False)
    return (10.0 * np.log10(np.maximum(np.abs(spec) ** 2, 1e-10))).T


def odd_sizes(rng: np.random.Generator) -> list[int]:
    return [int(v) for v in 2 * rng.integers(0, 60, 50) + 1]


@pytest.mark.parametrize("chunking", ["1", "17", "509", "odd"])
def test_block_size_invariance_bit_identical(rng: np.random.Generator, chunking: str) -> None:
    x = heart_like(rng, 3001)
    whole = feed(StftStage(), x, None)
    sizes = odd_sizes(rng) if chunking == "odd" else [int(chunking)]
    assert_array_equal(feed(StftStage(max_block=512), x, sizes), whole)
    assert whole.shape == ((3001 - 64) // 16 + 1, N_BINS)


def test_matches_librosa(rng: np.random.Generator) -> None:
    x = heart_like(rng, 8000)
    ours = stft_db(x)
    assert ours.dtype == np.float32
    assert_allclose(ours, librosa_db(x.astype(np.float64)), rtol=0, atol=1e-4)
    ref32 = librosa_db(x)
    loud = ref32 > -80.0
    assert loud.mean() > 0.9
    assert_allclose(ours[loud], ref32[loud], rtol=0, atol=1e-4)
    silent = ref32 <= -100.0
    assert silent.any()
    assert_array_equal(ours[silent], np.float32(-100.0))


def test_dft_tables_are_periodic_hann() -> None:
    cos_tab, sin_tab = dft_tables(64)
    hann = librosa.filters.get_window("hann", 64, fftbins=True)
    assert_allclose(cos_tab[:, 0], hann, atol=1e-15)
    assert_allclose(sin_tab[:, 0], 0.0, atol=0)
    assert cos_tab.shape == sin_tab.shape == (64, N_BINS)


def test_dft_tables_are_computed_once_and_handed_out_as_copies() -> None:
    """The tables are memoised per process (batch set-up); a caller that writes into its copy
    does not change the next stage's tables."""
    first_cos, first_sin = dft_tables(64)
    expect_cos, expect_sin = first_cos.copy(), first_sin.copy()
    first_cos[:] = 7.0
    first_sin[:] = 7.0
    import stetho_rt.dsp.stft as stft_module

    calls = []
    real = stft_module._dft_tables
    stft_module._dft_tables = lambda n: calls.append(n) or real(n)
    try:
        again_cos, again_sin = dft_tables(64)
    finally:
        stft_module._dft_tables = real
    assert calls == []  # not computed again
    assert np.array_equal(again_cos, expect_cos) and np.array_equal(again_sin, expect_sin)
    assert again_cos.flags.writeable and again_cos.flags.c_contiguous


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 79, 80, 81, 1000, 4097])
def test_frame_count(n: int) -> None:
    expected = (n - 64) // 16 + 1 if n >= 64 else 0
    assert stft_db(np.zeros(n, np.float32)).shape == (expected, N_BINS)
    stage = StftStage(max_block=64)
    got = sum(stage.process(np.zeros(min(7, n - i), np.float32)).shape[0] for i in range(0, n, 7))
    assert got == expected == stage.frames_emitted
    assert stage.samples_held == (n - 16 * expected if n else 0)


def test_rates_latency_and_frame_times() -> None:
    stage = StftStage()
    assert stage.in_rate == 2000.0 and stage.out_rate == 125.0
    assert stage.latency == 2 and stage.latency_s == pytest.approx(0.016)
    assert_allclose(stage.frame_times(0, 3), [0.016, 0.024, 0.032])
    assert_allclose(frame_times(10, 1, DspConfig()), [(10 * 16 + 32) / 2000])


def test_empty_block_flush_and_views(rng: np.random.Generator) -> None:
    stage = StftStage(max_block=256)
    assert stage.process(np.zeros(0, np.float32)).shape == (0, N_BINS)
    a = stage.process(heart_like(rng, 256))
    b = stage.process(heart_like(rng, 256))
    assert a.shape == (13, N_BINS) and b.shape == (16, N_BINS)
    assert np.shares_memory(a, b)  # both views into the one preallocated buffer
    assert stage.flush().shape == (0, N_BINS)  # partial frame dropped (center=False)


def test_reset_reproduces_without_reallocation(rng: np.random.Generator) -> None:
    x = heart_like(rng, 1500)
    stage = StftStage(max_block=700)
    first = feed(stage, x, [333])
    buffers = [stage._work, stage._istate, stage._out]
    stage.reset()
    assert stage.frames_emitted == 0 and stage.samples_held == 0
    assert_array_equal(feed(stage, x, [700]), first)
    after = [stage._work, stage._istate, stage._out]
    assert all(a is b for a, b in zip(buffers, after, strict=True))


def test_long_input_is_split(rng: np.random.Generator) -> None:
    x = heart_like(rng, 5000)
    assert_array_equal(StftStage(max_block=100).process(x), stft_db(x))


def test_nonfinite_replaced_by_zero_and_counted(rng: np.random.Generator) -> None:
    x = heart_like(rng, 2000)
    bad = x.copy()
    idx = rng.choice(2000, 30, replace=False)
    bad[idx[:10]] = np.nan
    bad[idx[10:20]] = np.inf
    bad[idx[20:]] = -np.inf
    clean = x.copy()
    clean[idx] = 0.0
    stage = StftStage()
    out = feed(stage, bad, [37])
    assert stage.nonfinite_samples == 30
    assert_array_equal(out, stft_db(clean))
    stage.reset()
    assert stage.nonfinite_samples == 0


def test_warm_up_leaves_initial_state() -> None:
    stage = StftStage()
    stage.warm_up()
    assert stage.frames_emitted == 0 and stage.samples_held == 0


SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 1e-10, -1e-10, 3.4e38, -3.4e38, 1e-45]
samples = st.one_of(
    st.sampled_from(SPECIAL), st.floats(width=32, allow_nan=True, allow_infinity=True)
)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(samples, max_size=400),
    sizes=st.lists(st.integers(1, 97), min_size=1, max_size=8),
)
def test_hypothesis_robust(values: list[float], sizes: list[int]) -> None:
    x = np.array(values, dtype=np.float32)
    stage = StftStage(max_block=128)
    chunked = feed(stage, x, sizes)
    finite = np.isfinite(x)
    assert stage.nonfinite_samples == int((~finite).sum())
    whole = stft_db(np.where(finite, x, np.float32(0.0)))
    assert_array_equal(chunked, whole)
    assert chunked.shape == ((x.shape[0] - 64) // 16 + 1 if x.shape[0] >= 64 else 0, N_BINS)
    assert np.isfinite(chunked).all()
    assert (chunked >= -100.0).all()
