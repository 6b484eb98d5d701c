"""Input sanitising and level metering, one pass over each incoming block.

Non-finite samples (NaN, ±inf) are replaced by 0 in place and counted, so no stage is ever fed a
NaN that would poison its state; the count is shown, never hidden.
"""

from __future__ import annotations

import numpy as np

from stetho_rt.config import CLIP_LEVEL
from stetho_rt.dsp._jit import kernel


@kernel
def _measure(x, clip_level, out):  # pragma: no cover - numba
    """Count non-finite samples of ``x`` and measure the finite ones (clipped count, peak, sum of
    squares) into ``out``; ``x`` is not written."""
    nonfinite = 0
    clipped = 0
    peak = 0.0
    sumsq = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isfinite(v):
            nonfinite += 1
            continue
        a = abs(v)
        if a > peak:
            peak = a
        if a >= clip_level:
            clipped += 1
        f = np.float64(v)  # numba's float() of a float32 stays float32: 1e-30 squared was 0
        sumsq += f * f
    out[0] = nonfinite
    out[1] = clipped
    out[2] = peak
    out[3] = sumsq


class BlockMeter:
    """Sanitises blocks in place and keeps level counters (DSP thread only)."""

    def __init__(self) -> None:
        self._out = np.zeros(4, dtype=np.float64)
        self.nonfinite_samples = 0
        self.clipped_samples = 0
        self.peak = 0.0
        """Peak |x| of the last block (full scale 1.0)."""
        self.rms = 0.0
        """RMS of the last block (full scale 1.0)."""

    def process(self, x: np.ndarray) -> np.ndarray | None:
        """Replace non-finite samples of ``x`` (1-D float32) by 0 and update the counters.

        Returns
        -------
        ndarray of int64 or None
            Indices into ``x`` of the samples replaced, None when every sample was finite (the
            common case costs one pass over the block: the caller needs no check of its own).
        """
        if x.shape[0] == 0:
            return None
        _measure(x, CLIP_LEVEL, self._out)
        n_bad = int(self._out[0])
        self.nonfinite_samples += n_bad
        self.clipped_samples += int(self._out[1])
        self.peak = float(self._out[2])
        self.rms = float(np.sqrt(self._out[3] / x.shape[0]))
        if n_bad == 0:
            return None
        bad = np.flatnonzero(~np.isfinite(x))
        x[bad] = 0.0
        return bad

    def warm_up(self) -> None:
        """Compile the kernel."""
        _measure(np.zeros(4, np.float32), CLIP_LEVEL, self._out)


def index_runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive values in sorted, distinct ``indices`` (e.g. what
    :meth:`BlockMeter.process` returns), as half-open ``(start, end)`` pairs, in order."""
    if indices.size == 0:
        return []
    cut = np.flatnonzero(np.diff(indices) > 1)
    starts = indices[np.r_[0, cut + 1]]
    ends = indices[np.r_[cut, indices.size - 1]] + 1
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def to_dbfs(value: float) -> float:
    """Amplitude (full scale 1.0) to dBFS, floored at -120 dB."""
    return float(20.0 * np.log10(max(value, 1e-6)))
