"""Session summary for the classifier's second head: median and spread of the window vectors.

A 4 s window sees two to eight heart cycles; a murmur that is faint, or heard in some cycles only,
is easier to tell from the whole session. :class:`SessionSummary` keeps, on the classifier worker
thread, the per-feature median and inter-quartile range of the session's window vectors and the
mean window quality. The spread tells a steady finding (a murmur in every cycle, low spread) from
a few loud windows (a knock, a cry). Median and quartiles, not mean and standard deviation: a
knock that overdrives the input for half a second lies in four or five 4 s windows, which shift
a mean and a standard deviation but hardly a median, nor the quartiles while they are under a
quarter of the session's windows (a session of about 25 s or more). Measured before it shipped
(README, one-off scripts on three fold assignments): the same cross-validated figures (the
threshold's objective 0.797 for the mean and standard deviation, 0.796 for these). After the
retrain, ``tools/eval_dropouts.py``: a 0.5 s overdriven burst changed 3 of 60 normal PhysioNet
verdicts (9 before) and 1 of 60 abnormal ones (3), but 3 of 60 murmur-free CirCor ones (1), all
in-sample.

Each feature's statistics are over the windows where it is finite, so one non-finite value cannot
poison the session (a guard: the window summary gives finite values; none of the 10.25 million
values of the dev split's 39891 windows is non-finite, a one-off count over the training tool's
window cache). The summary keeps the vectors of the latest :data:`MAX_SUMMARY_WINDOWS` heard
windows, so its cost per window stays bounded in a long session; the mean quality is over every
window. :meth:`SessionSummary.vector` is the input of the model's session head
(:class:`~stetho_rt.classify.model.OnnxClassifier` ``session``), whose probabilities the verdict
blends with the windows' own (:func:`~stetho_rt.classify.verdict.aggregate`).

Training (``tools/train_classifier.py``) builds the session vector of a recording with the same
class, window by window in stream order, so its values are the runtime's. The session head reads
only the columns of both halves that cancel a device's fixed frequency response.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from stetho_rt.classify._summary_kernels import column_quartiles_kernel

QUALITY_FEATURE = "session_quality_mean"
"""Name of the session vector's last element (mean window quality index, 0-1)."""
MAX_SUMMARY_WINDOWS = 900
"""Window vectors a session summary keeps [windows]: the latest 15 min at the 1 s hop (every dev
recording is shorter). Its quartiles cost about O(kept x features) per window."""


def session_feature_names(window_names: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the session vector: ``<window feature>_median`` for each, then
    ``<window feature>_iqr`` for each, then the quality mean."""
    return (*(f"{n}_median" for n in window_names), *(f"{n}_iqr" for n in window_names),
            QUALITY_FEATURE)


def session_columns(window_columns: Sequence[int], n_window: int,
                    spread: bool = True) -> list[int]:
    """Session-vector columns of the window features ``window_columns`` (of ``n_window``): their
    medians, then (``spread``) their inter-quartile ranges, then the quality mean, as
    :meth:`SessionSummary.vector` lays them out."""
    spreads = [n_window + c for c in window_columns] if spread else []
    return [*window_columns, *spreads, 2 * n_window]


def window_features_of(n_session_features: int) -> int:
    """Window vector length whose session vector has ``n_session_features`` elements."""
    n, odd = divmod(int(n_session_features) - 1, 2)
    if n < 1 or odd:
        raise ValueError(f"{n_session_features} is not a session vector length (2 n + 1)")
    return n


def quartiles(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """25th, 50th and 75th percentiles of each column of ``x`` (shape (k, n), k >= 1) over its
    values that are not NaN, each shape (n,) (NaN for a column without any): numpy's default
    ``linear`` percentile to the bit (:func:`~stetho_rt.classify._summary_kernels.
    sorted_quantile` on each sorted column; NaN sorts last, so a column's values are its first
    ``count`` rows)."""
    xs = np.sort(x, axis=0)
    count = x.shape[0] - np.isnan(x).sum(axis=0)
    out = np.empty((3, x.shape[1]), np.float64)
    column_quartiles_kernel(xs, count, out)
    return out[0], out[1], out[2]


class SessionSummary:
    """Per-feature median and inter-quartile range of a session's window vectors, and the mean
    window quality.

    The vectors of the latest ``capacity`` summarised windows are kept (a ring, float64, non-finite
    values stored as NaN); :meth:`vector` computes the quartiles over them.

    Parameters
    ----------
    n_features : int
        Window vector length.
    capacity : int
        Window vectors kept (default :data:`MAX_SUMMARY_WINDOWS`).
    """

    def __init__(self, n_features: int, capacity: int = 0) -> None:
        self.n_features = int(n_features)
        self.capacity = int(capacity) or MAX_SUMMARY_WINDOWS
        self._rows = np.empty((self.capacity, self.n_features), np.float64)
        self.reset()

    def reset(self) -> None:
        """Forget every window (new session)."""
        self._kept = 0  # rows of _rows in use
        self._next = 0  # ring position of the next row
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
        row = self._rows[self._next]  # full: the oldest window's row
        row[:] = v
        row[~np.isfinite(row)] = np.nan
        self._kept = min(self._kept + 1, self.capacity)
        self._next = (self._next + 1) % self.capacity

    def vector(self) -> npt.NDArray[np.float32]:
        """Session vector, shape ``(2 n_features + 1,)`` float32: per-feature medians, then
        per-feature inter-quartile ranges (75th minus 25th percentile, numpy's linear
        interpolation; NaN where no kept window had a finite value), then the mean quality (NaN
        before the first window)."""
        n = self.n_features
        out = np.full(2 * n + 1, np.nan, np.float32)
        if self._kept:
            q25, q50, q75 = quartiles(self._rows[: self._kept])
            out[:n] = q50
            out[n : 2 * n] = q75 - q25
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
