"""FeatureStage and SpectralStage: librosa reference per feature, invariance, robustness.

Tolerances vs librosa on the same frames (``center=False``, frame 64, hop 16, 2000 Hz):
rms rtol 1e-5 (librosa averages in float32); zcr exact; centroid and bandwidth atol 1e-3 Hz
(float32 output of ~1e2 Hz values); log-mel atol 1e-4 dB. Spectrum references use
``librosa.stft`` of the float64-widened samples.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from stetho_rt.config import DspConfig
from stetho_rt.dsp.features import (
    FEATURE_NAMES,
    FeatureStage,
    SpectralStage,
    feature_names,
    frame_features,
    mel_filterbank,
    spectral_frames,
)
from stetho_rt.dsp.stft import stft_db
from tests.dsp.test_stft import SPECIAL, feed, heart_like, odd_sizes

RATE = 2000
N_BINS = 33
N_FEAT = 20
HOP = dict(frame_length=64, hop_length=16, center=False)


def col(name: str) -> int:
    return FEATURE_NAMES.index(name)


def librosa_features(x: np.ndarray) -> dict[str, np.ndarray]:
    """Reference features, each as a (n_frames,) or (n_frames, 16) array."""
    mag = np.abs(librosa.stft(x.astype(np.float64), n_fft=64, hop_length=16, center=False))
    spec = dict(S=mag, sr=RATE, n_fft=64, hop_length=16, center=False)
    mel = librosa.feature.melspectrogram(S=mag**2, sr=RATE, n_fft=64, n_mels=16, fmax=1000.0)
    return {
        "rms": librosa.feature.rms(y=x, **HOP)[0],
        "zcr": librosa.feature.zero_crossing_rate(x, **HOP)[0],
        "centroid_hz": librosa.feature.spectral_centroid(**spec)[0],
        "bandwidth_hz": librosa.feature.spectral_bandwidth(**spec)[0],
        "mel": librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T,
    }


def test_names() -> None:
    assert len(FEATURE_NAMES) == N_FEAT
    assert FEATURE_NAMES[:4] == ("rms", "zcr", "centroid_hz", "bandwidth_hz")
    assert FEATURE_NAMES[4] == "mel_00" and FEATURE_NAMES[-1] == "mel_15"
    assert feature_names(3) == (*FEATURE_NAMES[:4], "mel_00", "mel_01", "mel_02")
    assert FeatureStage().feature_names == FEATURE_NAMES


def test_matches_librosa(rng: np.random.Generator) -> None:
    x = heart_like(rng, 8000)
    ours = frame_features(x)
    ref = librosa_features(x)
    assert ours.shape == ((8000 - 64) // 16 + 1, N_FEAT) and ours.dtype == np.float32
    assert_allclose(ours[:, col("rms")], ref["rms"], rtol=1e-5, atol=0)
    assert_array_equal(ours[:, col("zcr")], ref["zcr"])
    assert_allclose(ours[:, col("centroid_hz")], ref["centroid_hz"], rtol=0, atol=1e-3)
    assert_allclose(ours[:, col("bandwidth_hz")], ref["bandwidth_hz"], rtol=0, atol=1e-3)
    assert_allclose(ours[:, 4:], ref["mel"], rtol=0, atol=1e-4)
    # the silent stretch: all-zero frames give 0 like librosa, mel at the -100 dB floor
    silent = ref["rms"] == 0
    assert silent.sum() > 10
    assert (ours[silent, :4] == 0).all() and (ours[silent, 4:] == -100.0).all()


def test_zero_crossing_conventions() -> None:
    """librosa: |x| <= float32(1e-10) counts as 0, 0 and -0.0 are positive, N-1 pairs over N."""
    thr = np.float32(1e-10)
    above = np.nextafter(thr, np.float32(1))
    pattern = np.array([0.5, -0.0, -thr, thr, -above, above, 0.0, -0.5], dtype=np.float32)
    x = np.tile(pattern, 40)
    ours = frame_features(x)[:, col("zcr")]
    assert_array_equal(ours, librosa.feature.zero_crossing_rate(x, **HOP)[0])
    alternating = np.tile(np.array([1.0, -1.0], np.float32), 32)
    assert frame_features(alternating)[0, col("zcr")] == np.float32(63 / 64)


def test_mel_filterbank_is_librosa() -> None:
    mel = mel_filterbank(DspConfig())
    ref = librosa.filters.mel(sr=2000, n_fft=64, n_mels=16, fmin=0.0, fmax=1000.0)
    assert mel.shape == (16, N_BINS)
    assert_array_equal(mel, ref.astype(np.float64))


@pytest.mark.parametrize("chunking", ["1", "17", "509", "odd"])
def test_block_size_invariance_bit_identical(rng: np.random.Generator, chunking: str) -> None:
    x = heart_like(rng, 3001)
    sizes = odd_sizes(rng) if chunking == "odd" else [int(chunking)]
    for make in (FeatureStage, SpectralStage):
        whole = feed(make(), x, None)
        assert_array_equal(feed(make(max_block=512), x, sizes), whole)


def test_spectral_stage_is_stft_plus_features(rng: np.random.Generator) -> None:
    x = heart_like(rng, 4000)
    stage = SpectralStage()
    out = stage.process(x)
    assert out.shape == ((4000 - 64) // 16 + 1, N_BINS + N_FEAT)
    assert stage.db_columns == slice(0, N_BINS)
    assert stage.feature_columns == slice(N_BINS, N_BINS + N_FEAT)
    db, feats = stage.split(out)
    assert np.shares_memory(db, out) and np.shares_memory(feats, out)
    assert_array_equal(db, stft_db(x))
    assert_array_equal(feats, frame_features(x))
    assert_array_equal(spectral_frames(x), out)
    assert stage.flush().shape == (0, N_BINS + N_FEAT)
    assert stage.latency == 2 and stage.out_rate == 125.0


def test_reset_and_nonfinite(rng: np.random.Generator) -> None:
    x = heart_like(rng, 1200)
    x[[5, 600, 1100]] = [np.nan, np.inf, -np.inf]
    stage = SpectralStage(max_block=400)
    first = feed(stage, x, [400])
    assert stage.nonfinite_samples == 3
    stage.reset()
    assert stage.nonfinite_samples == 0 and stage.frames_emitted == 0
    assert_array_equal(feed(stage, x, [31]), first)
    clean = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    assert_array_equal(first, spectral_frames(clean))


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
    stage = SpectralStage(max_block=128)
    chunked = feed(stage, x, sizes)
    finite = np.isfinite(x)
    assert stage.nonfinite_samples == int((~finite).sum())
    assert_array_equal(chunked, spectral_frames(np.where(finite, x, np.float32(0.0))))
    assert chunked.shape[1] == N_BINS + N_FEAT
    assert np.isfinite(chunked).all()
    feats = chunked[:, N_BINS:]
    assert (feats[:, :4] >= 0).all() and (feats[:, 1] <= 1).all()
    assert (feats[:, 2] <= 1000).all() and (feats[:, 4:] >= -100).all()
