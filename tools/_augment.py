"""Training-time augmentation of the classifier: a recording heard through a random stethoscope.

A chest piece and its microphone shape the spectrum (a bell keeps the low end, a diaphragm cuts
it, microphones tilt one way or the other), and the held-out recordings come from devices the dev
split does not hold. ``tools/train_classifier.py --augment N`` adds ``N`` copies of every training
recording, each filtered by :func:`random_response`, to the training folds only (never to a fold
that is scored). The family is parametric equalisation, not the Butterworth low- and high-passes of
``tools/eval_response.py``, so that probe measures how well the invariance carries to responses
the training never drew.

A response is three biquads (Bristow-Johnson's audio-EQ cookbook, float64 second-order sections):

- a low shelf, corner log-uniform in :data:`LOW_SHELF_HZ`, gain uniform in ±:data:`SHELF_DB`;
- a high shelf, corner log-uniform in :data:`HIGH_SHELF_HZ`, gain uniform in ±:data:`SHELF_DB`;
- a peaking filter, centre log-uniform in :data:`PEAK_HZ`, gain uniform in ±:data:`PEAK_DB`,
  Q log-uniform in :data:`PEAK_Q`.

The filtered recording is rescaled to the original's peak level (the pipeline normalises level
anyway; keeping the peak never clips).
"""

from __future__ import annotations

import zlib

import numpy as np

AUGMENT_VERSION = 1
"""Bumped when the response family changes (it names the cached augmented windows)."""
LOW_SHELF_HZ = (40.0, 250.0)
HIGH_SHELF_HZ = (100.0, 600.0)
SHELF_DB = 12.0
PEAK_HZ = (30.0, 700.0)
PEAK_DB = 9.0
PEAK_Q = (0.7, 3.0)


def _shelf(kind: str, f0_hz: float, gain_db: float, rate: int) -> np.ndarray:
    """One shelving biquad (shelf slope 1), normalised second-order section (6,)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * f0_hz / rate
    cw, alpha = np.cos(w0), np.sin(w0) / np.sqrt(2.0)
    sa = 2.0 * np.sqrt(a) * alpha
    if kind == "low":
        b = [a * ((a + 1) - (a - 1) * cw + sa), 2 * a * ((a - 1) - (a + 1) * cw),
             a * ((a + 1) - (a - 1) * cw - sa)]
        d = [(a + 1) + (a - 1) * cw + sa, -2 * ((a - 1) + (a + 1) * cw),
             (a + 1) + (a - 1) * cw - sa]
    else:
        b = [a * ((a + 1) + (a - 1) * cw + sa), -2 * a * ((a - 1) + (a + 1) * cw),
             a * ((a + 1) + (a - 1) * cw - sa)]
        d = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw),
             (a + 1) - (a - 1) * cw - sa]
    return np.array(b + d) / d[0]


def _peak(f0_hz: float, gain_db: float, q: float, rate: int) -> np.ndarray:
    """One peaking biquad, normalised second-order section (6,)."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * f0_hz / rate
    alpha = np.sin(w0) / (2.0 * q)
    cw = np.cos(w0)
    b = [1 + alpha * a, -2 * cw, 1 - alpha * a]
    d = [1 + alpha / a, -2 * cw, 1 - alpha / a]
    return np.array(b + d) / d[0]


def _log_uniform(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(lo_hi[0]), np.log(lo_hi[1]))))


def random_response(rng: np.random.Generator, rate: int) -> np.ndarray:
    """A random device response at ``rate`` Hz: second-order sections, shape (3, 6)."""
    return np.stack([
        _shelf("low", _log_uniform(rng, LOW_SHELF_HZ), rng.uniform(-SHELF_DB, SHELF_DB), rate),
        _shelf("high", _log_uniform(rng, HIGH_SHELF_HZ), rng.uniform(-SHELF_DB, SHELF_DB), rate),
        _peak(_log_uniform(rng, PEAK_HZ), rng.uniform(-PEAK_DB, PEAK_DB),
              _log_uniform(rng, PEAK_Q), rate),
    ])


def response_rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one augmented copy: seeded by the training seed and the copy's key
    (``dataset/recording#augK``), so a copy is the same whatever else is computed."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def augmented(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``x`` (1-D, full scale, at ``rate`` Hz) through :func:`random_response`, rescaled to its
    peak absolute value; float32."""
    from scipy import signal

    y = signal.sosfilt(random_response(rng, rate), np.asarray(x, dtype=np.float64))
    peak_x, peak_y = float(np.max(np.abs(x))), float(np.max(np.abs(y)))
    if peak_y > 0:
        y *= peak_x / peak_y
    return y.astype(np.float32)
