"""Session summary for the classifier's second head: running mean and spread of the window vectors.

A 4 s window sees two to eight heart cycles; a murmur that is faint, or heard in some cycles only,
is easier to tell from the whole session. :class:`SessionSummary` keeps, on the classifier worker
thread, the mean and the standard deviation of every classified window vector and the mean
window quality. The spread tells a steady finding (a murmur in every cycle, low spread) from a
few loud windows (a knock, a cry). Each feature's mean and spread are over the windows where it
is finite, so one non-finite value cannot poison the session
(a guard: the window summary gives finite values, zeros for the cardiac-phase features of a window
without a complete cycle; none of the 10.25 million values of the dev split's 39891 windows
is non-finite, a one-off count over the training tool's window cache).
:meth:`SessionSummary.vector` is the input of the model's session head
(:class:`~stetho_rt.classify.model.OnnxClassifier` ``session``), whose probabilities the verdict
blends with the windows' own (:func:`~stetho_rt.classify.verdict.aggregate`).

Training (``tools/train_classifier.py``) builds the session vector of a recording with the same
class, window by window in stream order, so the floating-point sums are the runtime's.

The spread was added after a comparison on four fold assignments (``tools/classifier_variants.py
--spread-seeds``, README): nested PhysioNet MAcc rose on all four (mean 0.815 -> 0.837), CirCor
patient weighted accuracy on three (mean 0.728 -> 0.748, one fell 0.027), CirCor AUROC stayed
0.900. The session head reads only the columns of both halves that cancel a device's fixed
frequency response.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

QUALITY_FEATURE = "session_quality_mean"
"""Name of the session vector's last element (mean window quality index, 0-1)."""


def session_feature_names(window_names: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the session vector: ``<window feature>_mean`` for each, then
    ``<window feature>_std`` for each, then the quality mean."""
    return (*(f"{n}_mean" for n in window_names), *(f"{n}_std" for n in window_names),
            QUALITY_FEATURE)


def session_columns(window_columns: Sequence[int], n_window: int,
                    spread: bool = True) -> list[int]:
    """Session-vector columns of the window features ``window_columns`` (of ``n_window``): their
    means, then (``spread``) their spreads, then the quality mean, as :meth:`SessionSummary.vector`
    lays them out."""
    spreads = [n_window + c for c in window_columns] if spread else []
    return [*window_columns, *spreads, 2 * n_window]


def window_features_of(n_session_features: int) -> int:
    """Window vector length whose session vector has ``n_session_features`` elements."""
    n, odd = divmod(int(n_session_features) - 1, 2)
    if n < 1 or odd:
        raise ValueError(f"{n_session_features} is not a session vector length (2 n + 1)")
    return n


class SessionSummary:
    """Running per-feature mean and standard deviation of window vectors, and mean quality.

    Welford's update in float64, per feature over the windows where it is finite: exact enough
    for features near a large constant (log levels), where a sum of squares would cancel.

    Parameters
    ----------
    n_features : int
        Window vector length.
    """

    def __init__(self, n_features: int) -> None:
        self.n_features = int(n_features)
        self._mean = np.zeros(self.n_features, np.float64)
        self._m2 = np.zeros(self.n_features, np.float64)  # sum of squared deviations
        self._count = np.zeros(self.n_features, np.int64)
        self._quality_sum = 0.0
        self.windows = 0

    def reset(self) -> None:
        """Forget every window (new session)."""
        self._mean[:] = 0.0
        self._m2[:] = 0.0
        self._count[:] = 0
        self._quality_sum = 0.0
        self.windows = 0

    def add(self, vector: np.ndarray, quality: float, summarise: bool = True) -> None:
        """Add one window: its vector (shape ``(n_features,)``) and quality index (0-1);
        ``summarise`` False (a window that is not the heart's sound,
        :attr:`~stetho_rt.events.Quality.heard`) counts it in the mean quality only."""
        v = np.asarray(vector, dtype=np.float64).reshape(-1)
        if v.size != self.n_features:
            raise ValueError(f"window vector has {v.size} features, expected {self.n_features}")
        self._quality_sum += float(quality)
        self.windows += 1
        if not summarise:  # repaired input or digital silence: not the heart's sound
            return
        f = np.isfinite(v)
        self._count += f
        delta = v[f] - self._mean[f]
        self._mean[f] += delta / self._count[f]
        self._m2[f] += delta * (v[f] - self._mean[f])

    def vector(self) -> npt.NDArray[np.float32]:
        """Session vector, shape ``(2 n_features + 1,)`` float32: per-feature means, then
        per-feature population standard deviations (NaN where no window had a finite value),
        then the mean quality (NaN before the first window)."""
        n = self.n_features
        out = np.full(2 * n + 1, np.nan, np.float32)
        have = self._count > 0
        out[:n][have] = self._mean[have]
        out[n:2 * n][have] = np.sqrt(self._m2[have] / self._count[have])
        if self.windows:
            out[-1] = self._quality_sum / self.windows
        return out


def session_vector(vectors: Iterable[np.ndarray], qualities: Iterable[float],
                   n_features: int, heard: Iterable[bool] | None = None,
                   ) -> npt.NDArray[np.float32]:
    """Session vector of windows given in stream order (what the worker reaches at the end);
    ``heard`` (:attr:`~stetho_rt.events.Quality.heard` per window, all True if None) keeps the
    others' vectors out, as the worker does."""
    s = SessionSummary(n_features)
    qs = list(qualities)
    flags = [True] * len(qs) if heard is None else list(heard)
    for v, q, h in zip(vectors, qs, flags, strict=True):
        s.add(v, q, summarise=bool(h))
    return s.vector()
