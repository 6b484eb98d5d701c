"""The stage protocol every DSP step follows (ARCHITECTURE.md §3).

A stage turns blocks of float32 samples at ``in_rate`` into whatever it has ready:

- ``process(x)`` takes a contiguous 1-D float32 block of any length (0 included) and returns the
  output ready so far, possibly empty or longer than the input: 1-D samples at ``out_rate`` or a
  2-D ``(n_frames, n_values)`` array of frames at ``out_rate`` frames per second. The result is a
  **view into a buffer the stage owns**, valid until the next call; keep it by copying.
- ``flush()`` drains what the stage still holds at the end of the stream (same view rule).
- ``reset()`` returns to the initial state without reallocating.
- ``warm_up()`` compiles the numba kernels (from the on-disk cache when warm) before a stream opens.
- ``latency`` is how many output samples (or frames) the output lags the input. For sample
  stages, output index ``k`` describes input time ``(k - latency) / out_rate`` seconds. Framed
  stages (STFT, features) stamp frame ``k`` at its centre through their own ``frame_times``; their
  ``latency`` says how long after that centre the frame is emitted.

Output buffers are sized from ``max_block`` (input samples per call) at construction. Inputs longer
than that are split by :meth:`Stage.process` and the pieces concatenated, which allocates: only
batch callers do that; the pipeline never feeds more than ``max_block``.

Block-size invariance is the core property: any chunking of the same signal gives the same output
as one call (bit-exact: the kernels do not reassociate across block boundaries).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import numpy.typing as npt

from stetho_rt.errors import ConfigError

Float32Array = npt.NDArray[np.float32]

DEFAULT_MAX_BLOCK = 8192
"""Default largest input block per call [samples at ``in_rate``]."""


class Stage(ABC):
    """Base class of a stateful streaming stage; subclasses implement the ``_`` methods."""

    in_rate: float
    """Input rate [Hz]."""
    out_rate: float
    """Output rate [samples or frames per second]."""
    latency: int
    """Output samples (frames) the output lags the input."""
    max_block: int
    """Largest input block per call [samples]; output buffers are sized from it."""

    def __init__(self, in_rate: float, out_rate: float, latency: int, max_block: int) -> None:
        if max_block < 1:
            raise ConfigError(f"max_block={max_block} must be a positive integer")
        self.in_rate = float(in_rate)
        self.out_rate = float(out_rate)
        self.latency = int(latency)
        self.max_block = int(max_block)

    @property
    def latency_s(self) -> float:
        """Latency in seconds."""
        return self.latency / self.out_rate

    def process(self, x: Float32Array) -> np.ndarray:
        """Feed one block; return the output ready so far (a view, valid until the next call)."""
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 1:
            raise TypeError("stage input must be a 1-D float32 numpy array")
        if not x.flags.c_contiguous:
            raise TypeError("stage input must be C-contiguous")
        if x.shape[0] <= self.max_block:
            return self._process(x)
        pieces = [
            self._process(x[i : i + self.max_block]).copy()
            for i in range(0, x.shape[0], self.max_block)
        ]
        return np.concatenate(pieces, axis=0)

    def flush(self) -> np.ndarray:
        """Drain the tail held at the end of the stream (a view)."""
        return self._flush()

    def reset(self) -> None:
        """Return to the initial state (no reallocation)."""
        self._reset()

    def warm_up(self) -> None:
        """Run every kernel once on a tiny block (compiles or loads them), then reset."""
        self.process(np.zeros(min(self.max_block, 64), dtype=np.float32))
        self.flush()
        self.reset()

    @abstractmethod
    def _process(self, x: Float32Array) -> np.ndarray: ...

    @abstractmethod
    def _flush(self) -> np.ndarray: ...

    @abstractmethod
    def _reset(self) -> None: ...


def run_batch(stage: Stage, x: np.ndarray) -> np.ndarray:
    """Batch form of any stage: ``process(x)`` then ``flush()``, concatenated (a new array)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    head = stage.process(x).copy()
    tail = stage.flush()
    return np.concatenate([head, tail], axis=0)


def batch_max_block(x: np.ndarray) -> int:
    """``max_block`` of a stage built to run :func:`run_batch` on ``x``: its length, capped at
    :data:`DEFAULT_MAX_BLOCK` (the stage splits longer input), at least 1."""
    return max(min(x.shape[0], DEFAULT_MAX_BLOCK), 1)
