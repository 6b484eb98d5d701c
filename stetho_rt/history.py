"""Fixed-size circular history of samples or frames, for the display (DSP thread writes)."""

from __future__ import annotations

import numpy as np


class History:
    """The last ``capacity`` rows of a stream of samples (1-D) or frames (2-D).

    Parameters
    ----------
    capacity : int
        Rows kept (e.g. 10 s at 2 kHz = 20000 samples).
    width : int or None
        Values per row for frame streams; None for a 1-D sample stream.
    """

    def __init__(self, capacity: int, width: int | None = None) -> None:
        shape = (capacity,) if width is None else (capacity, width)
        self._buf = np.zeros(shape, dtype=np.float32)
        self.capacity = capacity
        self.total = 0
        """Rows appended since the start."""

    def append(self, rows: np.ndarray) -> None:
        """Append rows (copied); only the last ``capacity`` are kept."""
        n = rows.shape[0]
        if n == 0:
            return
        if n > self.capacity:  # only the last capacity rows stay, written where they belong
            self.total += n - self.capacity
            rows, n = rows[n - self.capacity :], self.capacity
        start = self.total % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start : start + first] = rows[:first]
        self._buf[: n - first] = rows[first:]
        self.total += n

    def latest(self, n: int | None = None) -> np.ndarray:
        """A new array with the last ``n`` rows (all kept rows by default), oldest first."""
        kept = min(self.total, self.capacity)
        n = kept if n is None else min(n, kept)
        if n == 0:
            return self._buf[:0].copy()
        end = self.total % self.capacity
        if n <= end:  # contiguous
            return self._buf[end - n : end].copy()
        return np.concatenate((self._buf[self.capacity - (n - end) :], self._buf[:end]))
