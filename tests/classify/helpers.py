"""Synthetic per-frame features and audio for the classifier tests."""

from __future__ import annotations

import numpy as np

from stetho_rt.config import DspConfig

RATE = 2000


def heart_like(seconds: float, rng: np.random.Generator, bpm: float = 72.0) -> np.ndarray:
    """Synthetic phonocardiogram at 2 kHz: S1/S2 tone bursts at ``bpm`` plus a little noise."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = 0.002 * rng.standard_normal(n)
    period = 60.0 / bpm
    for beat in np.arange(0.1, seconds, period):
        for onset, f0 in ((beat, 50.0), (beat + 0.3 * period + 0.05, 70.0)):
            m = (t >= onset) & (t < onset + 0.08)
            tt = t[m] - onset
            x[m] += 0.3 * np.sin(2 * np.pi * f0 * tt) * np.hanning(m.sum())
    return x.astype(np.float32)


def frames_of(x: np.ndarray) -> np.ndarray:
    """Per-frame features of 2 kHz samples with the pipeline's feature code."""
    from stetho_rt.dsp.features import frame_features

    return frame_features(x, DspConfig())
