"""Benchmark of the spectral stages: per-block cost in the live path and batch speed vs librosa.

Run ``python tools/bench_stft.py``. Figures (all wall-clock, best of several repeats):

- ``block_us_*``: microseconds per 10-ms block (20 samples at 2000 Hz) fed to a warm stage,
  averaged over 60 s of audio, for :class:`SpectralStage` (dB + features, what the pipeline runs),
  :class:`StftStage` and :class:`FeatureStage`;
- ``batch_ms_*``: one call on 60 s of audio (120 000 samples, 7497 frames): our ``spectral_frames``
  and ``stft_db``, and librosa's equivalent (``stft`` + dB, and ``stft`` + rms + zcr + centroid +
  bandwidth + mel + dB).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from stetho_rt.config import DspConfig
from stetho_rt.dsp.features import FeatureStage, SpectralStage, spectral_frames
from stetho_rt.dsp.stft import SpectralFramer, StftStage, stft_db

RATE = 2000
BLOCK = 20  # 10 ms at 2 kHz
SECONDS = 60.0


def _signal(seconds: float = SECONDS) -> np.ndarray:
    rng = np.random.default_rng(0)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = 0.5 * np.sin(2 * np.pi * 60 * t) * np.exp(-(t % 0.8) / 0.05) + 0.05 * rng.standard_normal(n)
    return x.astype(np.float32)


def _best(fn: Callable[[], object], repeats: int = 5) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs [s]."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _per_block_us(stage: SpectralFramer, x: np.ndarray) -> float:
    blocks = [np.ascontiguousarray(x[i : i + BLOCK]) for i in range(0, x.shape[0], BLOCK)]
    stage.warm_up()

    def run() -> None:
        stage.reset()
        for b in blocks:
            stage.process(b)

    return _best(run, 3) / len(blocks) * 1e6


def _librosa_stft_db(x: np.ndarray) -> np.ndarray:
    import librosa

    spec = librosa.stft(x, n_fft=64, hop_length=16, window="hann", center=False)
    return librosa.power_to_db(np.abs(spec) ** 2, ref=1.0, amin=1e-10, top_db=None)


def _librosa_spectral(x: np.ndarray) -> list[np.ndarray]:
    import librosa

    hop = dict(frame_length=64, hop_length=16, center=False)
    spec = librosa.stft(x, n_fft=64, hop_length=16, window="hann", center=False)
    mag = np.abs(spec)
    power = mag**2
    mel = librosa.feature.melspectrogram(S=power, sr=RATE, n_fft=64, n_mels=16, fmax=1000.0)
    s = dict(S=mag, sr=RATE, n_fft=64, hop_length=16, center=False)
    return [
        librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None),
        librosa.feature.rms(y=x, **hop),
        librosa.feature.zero_crossing_rate(x, **hop),
        librosa.feature.spectral_centroid(**s),
        librosa.feature.spectral_bandwidth(**s),
        librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None),
    ]


def bench() -> dict[str, float]:
    """Measure the spectral stages on this machine.

    Returns
    -------
    dict of str to float
        ``block_us_spectral``, ``block_us_stft``, ``block_us_features`` [µs per 20-sample block];
        ``batch_ms_spectral``, ``batch_ms_stft``, ``batch_ms_librosa_spectral``,
        ``batch_ms_librosa_stft`` [ms for 60 s of audio]; ``realtime_factor_spectral_live``
        (audio duration / processing time, 20-sample blocks).
    """
    x = _signal()
    cfg = DspConfig()
    spectral_frames(x[:256], cfg)  # compile / load kernels
    _librosa_spectral(x[:256])  # import and warm librosa (numba parts included)
    out = {
        "block_us_spectral": _per_block_us(SpectralStage(cfg, max_block=BLOCK), x),
        "block_us_stft": _per_block_us(StftStage(cfg, max_block=BLOCK), x),
        "block_us_features": _per_block_us(FeatureStage(cfg, max_block=BLOCK), x),
        "batch_ms_spectral": _best(lambda: spectral_frames(x, cfg)) * 1e3,
        "batch_ms_stft": _best(lambda: stft_db(x, cfg)) * 1e3,
        "batch_ms_librosa_spectral": _best(lambda: _librosa_spectral(x)) * 1e3,
        "batch_ms_librosa_stft": _best(lambda: _librosa_stft_db(x)) * 1e3,
    }
    out["realtime_factor_spectral_live"] = (BLOCK / RATE) / (out["block_us_spectral"] * 1e-6)
    return out


if __name__ == "__main__":
    for key, value in bench().items():
        print(f"{key:32s} {value:12.2f}")
