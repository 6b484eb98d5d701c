"""Session summary for the classifier's second head: the running mean of the window vectors.

A 4 s window sees two to eight heart cycles; a murmur that is faint, or heard in some cycles only,
is easier to tell from the whole session. :class:`SessionSummary` keeps, on the classifier worker
thread, the mean of every classified window vector and the mean window quality. Each feature's
mean is over the windows where it is finite, so one non-finite value cannot poison the session
(a guard: the window summary gives finite values, zeros for the cardiac-phase features of a window
without a complete cycle; none of the 10.25 million values of the dev split's 39891 windows
is non-finite, a one-off count over the training tool's window cache).
:meth:`SessionSummary.vector` is the input of the model's session head
(:class:`~stetho_rt.classify.model.OnnxClassifier` ``session``), whose probabilities the verdict
blends with the windows' own (:func:`~stetho_rt.classify.verdict.aggregate`).

Training (``tools/train_classifier.py``) builds the session vector of a recording with the same
class, window by window in stream order, so the floating-point sums are the runtime's.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

QUALITY_FEATURE = "session_quality_mean"
"""Name of the session vector's last element (mean window quality index, 0-1)."""


def session_feature_names(window_names: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the session vector: ``<window feature>_mean`` for each, then the quality mean."""
    return (*(f"{n}_mean" for n in window_names), QUALITY_FEATURE)


class SessionSummary:
    """Running per-feature mean of window vectors and mean quality (float64 sums).

    Parameters
    ----------
    n_features : int
        Window vector length.
    """

    def __init__(self, n_features: int) -> None:
        self.n_features = int(n_features)
        self._sum = np.zeros(self.n_features, np.float64)
        self._count = np.zeros(self.n_features, np.int64)
        self._quality_sum = 0.0
        self.windows = 0

    def reset(self) -> None:
        """Forget every window (new session)."""
        self._sum[:] = 0.0
        self._count[:] = 0
        self._quality_sum = 0.0
        self.windows = 0

    def add(self, vector: np.ndarray, quality: float) -> None:
        """Add one window: its vector (shape ``(n_features,)``) and quality index (0-1)."""
        v = np.asarray(vector, dtype=np.float64).reshape(-1)
        if v.size != self.n_features:
            raise ValueError(f"window vector has {v.size} features, expected {self.n_features}")
        finite = np.isfinite(v)
        self._sum[finite] += v[finite]
        self._count += finite
        self._quality_sum += float(quality)
        self.windows += 1

    def vector(self) -> npt.NDArray[np.float32]:
        """Session vector, shape ``(n_features + 1,)`` float32: per-feature means (NaN where no
        window had a finite value), then the mean quality (NaN before the first window)."""
        out = np.full(self.n_features + 1, np.nan, np.float32)
        have = self._count > 0
        out[:-1][have] = self._sum[have] / self._count[have]
        if self.windows:
            out[-1] = self._quality_sum / self.windows
        return out


def session_vector(vectors: Iterable[np.ndarray], qualities: Iterable[float],
                   n_features: int) -> npt.NDArray[np.float32]:
    """Session vector of windows given in stream order (what the worker reaches at the end)."""
    s = SessionSummary(n_features)
    for v, q in zip(vectors, qualities, strict=True):
        s.add(v, q)
    return s.vector()
