"""Streaming short-time Fourier transform at the internal rate, as log power in dB.

:class:`StftStage` turns a stream of samples at 2000 Hz into frames of log power,

.. math:: P_k[b] = 10 \\log_{10} \\max(|X_k[b]|^2, 10^{-10})\\ \\mathrm{dB},
          \\quad X_k[b] = \\sum_{n=0}^{N-1} w[n]\\, x[kH + n]\\, e^{-2\\pi i b n / N},

with ``N = cfg.stft_window`` (64), ``H = cfg.stft_hop`` (16), ``w`` the *periodic* Hann window and
``b = 0 .. N//2`` (33 bins, 0-1000 Hz in steps of 2000/64 = 31.25 Hz). These are exactly the
frames of ``librosa.stft(x, n_fft=64, hop_length=16, window="hann", center=False)``: frame ``k``
covers input samples ``[k*H, k*H + N)``, counted from the first sample after the last reset.

Framing
-------
numba has no FFT, so the 33-bin real DFT is a direct sum with precomputed cosine and sine tables
(window folded in) and float64 accumulation: about 4k multiply-adds per frame, 125 frames per
second. A framer keeps the samples not yet consumed (at most ``N - 1``: the overlap of the next
frame plus a partial hop) in a work buffer owned by the stage, with exact integer bookkeeping, so
any chunking of the input gives bit-identical frames. Frames need full windows: :meth:`~Stage.flush`
returns no frame and the trailing partial frame is dropped, as with ``center=False``.

Non-finite input samples (NaN, ±inf) are replaced by 0 and counted in ``nonfinite_samples``.

Time stamps and latency
-----------------------
Frame ``k`` is stamped at its centre, ``t_k = (k*H + N/2) / 2000`` s (:func:`frame_times`). It is
ready once its last sample has arrived, ``N/2`` samples after its centre, so the stage declares
``latency = round(N / (2*H))`` frames (2 frames = 16 ms with the defaults): the delay between the
moment a frame describes and the moment it is emitted. Because the first frame needs a full window,
frame index ``k`` does *not* map to ``(k - latency) / out_rate`` as for sample-rate stages; use
:func:`frame_times` (or :meth:`StftStage.frame_times`) for the exact mapping.

The per-frame feature kernels live here too (:mod:`stetho_rt.dsp.features` builds its stages on
:class:`SpectralFramer`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from stetho_rt.config import LOG_POWER_FLOOR_DB, DspConfig
from stetho_rt.dsp._jit import kernel
from stetho_rt.dsp.designs import memoized_design
from stetho_rt.dsp.stage import DEFAULT_MAX_BLOCK, Float32Array, Stage, batch_max_block, run_batch

_DEFAULT_CFG = DspConfig()

POWER_FLOOR = 10.0 ** (LOG_POWER_FLOOR_DB / 10.0)
"""Smallest power mapped to dB (1e-10, i.e. -100 dB); smaller values are clamped to it."""

ZC_THRESHOLD = float(np.float32(1e-10))
"""|x| at or below this counts as 0 in zero crossings (librosa's 1e-10, rounded to float32 as
librosa does for float32 input)."""

_TINY32 = float(np.finfo(np.float32).tiny)
"""librosa leaves a magnitude column un-normalised when its sum is below ``tiny`` of the dtype."""

# istate slots of a SpectralFramer
_HELD = 0  # samples held in the work buffer (0 .. window-1)
_NONFINITE = 1  # non-finite input samples replaced by 0 since reset
_FRAMES = 2  # frames emitted since reset


# --------------------------------------------------------------------------------------------------
# kernels
# --------------------------------------------------------------------------------------------------


@kernel
def _frame_power(work, start, cos_tab, sin_tab, scratch):  # pragma: no cover - numba
    """|DFT|^2 of the windowed frame ``work[start:start+N]`` into ``scratch[2]`` (float64)."""
    n_win, n_bins = cos_tab.shape
    re = scratch[0]
    im = scratch[1]
    pw = scratch[2]
    for b in range(n_bins):
        re[b] = 0.0
        im[b] = 0.0
    # sample-major order: each bin accumulates over n = 0..N-1 in the same order in every frame
    for n in range(n_win):
        v = np.float64(work[start + n])
        for b in range(n_bins):
            re[b] += v * cos_tab[n, b]
            im[b] += v * sin_tab[n, b]
    for b in range(n_bins):
        pw[b] = re[b] * re[b] + im[b] * im[b]


@kernel
def _frame_features(work, start, n_win, scratch, freqs, mel, out, row, col):  # pragma: no cover
    """Features of one frame into ``out[row, col:]`` (see features.FEATURE_NAMES for the order)."""
    n_bins = freqs.shape[0]
    pw = scratch[2]
    mag = scratch[3]
    # rms and zero-crossing rate on the raw (unwindowed) samples, like librosa
    v = np.float64(work[start])
    ss = v * v
    prev_neg = v < -ZC_THRESHOLD
    crossings = 0
    for n in range(1, n_win):
        v = np.float64(work[start + n])
        ss += v * v
        neg = v < -ZC_THRESHOLD
        if neg != prev_neg:
            crossings += 1
        prev_neg = neg
    out[row, col] = np.sqrt(ss / n_win)
    out[row, col + 1] = crossings / n_win
    # centroid and bandwidth on the magnitude spectrum, L1-normalised (librosa.util.normalize)
    total = 0.0
    for b in range(n_bins):
        mag[b] = np.sqrt(pw[b])
        total += mag[b]
    norm = total if total >= _TINY32 else 1.0
    centroid = 0.0
    for b in range(n_bins):
        centroid += freqs[b] * (mag[b] / norm)
    spread = 0.0
    for b in range(n_bins):
        d = freqs[b] - centroid
        spread += (mag[b] / norm) * (d * d)
    out[row, col + 2] = centroid
    out[row, col + 3] = np.sqrt(spread)
    # log-mel power
    for m in range(mel.shape[0]):
        acc = 0.0
        for b in range(n_bins):
            acc += mel[m, b] * pw[b]
        out[row, col + 4 + m] = 10.0 * np.log10(max(acc, POWER_FLOOR))


@kernel
def _analyze(  # pragma: no cover - numba
    x, work, istate, hop, cos_tab, sin_tab, scratch, freqs, mel, out, db_col, feat_col
):
    """Append ``x`` to the framer, emit every complete frame into ``out``, keep the remainder.

    Writes the dB spectrum at ``out[:, db_col:db_col+n_bins]`` if ``db_col >= 0`` and the features
    at ``out[:, feat_col:]`` if ``feat_col >= 0``. Returns the number of frames written.
    """
    n_win, n_bins = cos_tab.shape
    held = istate[_HELD]
    # append, replacing non-finite samples by 0
    bad = 0
    for i in range(x.shape[0]):
        v = x[i]
        if not np.isfinite(v):
            v = np.float32(0.0)
            bad += 1
        work[held + i] = v
    total = held + x.shape[0]
    n_frames = 0
    if total >= n_win:
        n_frames = (total - n_win) // hop + 1
    for f in range(n_frames):
        start = f * hop
        _frame_power(work, start, cos_tab, sin_tab, scratch)
        if db_col >= 0:
            pw = scratch[2]
            for b in range(n_bins):
                out[f, db_col + b] = 10.0 * np.log10(max(pw[b], POWER_FLOOR))
        if feat_col >= 0:
            _frame_features(work, start, n_win, scratch, freqs, mel, out, f, feat_col)
    # keep the unconsumed tail (< n_win samples) at the front
    consumed = n_frames * hop
    remain = total - consumed
    for i in range(remain):
        work[i] = work[consumed + i]
    istate[_HELD] = remain
    istate[_NONFINITE] += bad
    istate[_FRAMES] += n_frames
    return n_frames


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def dft_tables(window: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Cosine and sine tables of the real DFT with the periodic Hann window folded in.

    Parameters
    ----------
    window : int
        Frame length ``N`` [samples].

    Returns
    -------
    cos_tab, sin_tab : ndarray of float64, shape (N, N//2 + 1)
        ``w[n] * cos(2 pi b n / N)`` and ``-w[n] * sin(2 pi b n / N)`` (sample-major); fresh
        copies of tables computed once per process and ``window``.
    """
    window = int(window)
    tables = memoized_design("dft_tables", (window,),
                             lambda: dict(zip(("cos", "sin"), _dft_tables(window), strict=True)))
    return tables["cos"], tables["sin"]


def _dft_tables(window: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """:func:`dft_tables`' computation (0.09 ms at 64: once per process and ``window``, not once
    per batch file)."""
    n = np.arange(window)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / window)  # periodic Hann = scipy hann(N, sym=False)
    b = np.arange(window // 2 + 1)
    phase = 2.0 * np.pi * ((n[:, None] * b[None, :]) % window) / window  # exact integer reduction
    cos_tab = np.ascontiguousarray(w[:, None] * np.cos(phase))
    sin_tab = np.ascontiguousarray(-w[:, None] * np.sin(phase))
    return cos_tab, sin_tab


def fft_frequencies(cfg: DspConfig = _DEFAULT_CFG) -> npt.NDArray[np.float64]:
    """Bin centre frequencies [Hz], shape (cfg.stft_window//2 + 1,), as librosa.fft_frequencies."""
    bins = np.arange(cfg.stft_window // 2 + 1, dtype=np.float64)
    return bins * cfg.internal_rate / cfg.stft_window


def frame_times(first_frame: int, n: int, cfg: DspConfig = _DEFAULT_CFG) -> npt.NDArray[np.float64]:
    """Centre times of frames ``first_frame .. first_frame + n - 1``.

    Parameters
    ----------
    first_frame : int
        Index of the first frame (counted from the first sample since the stage's reset).
    n : int
        Number of frames.
    cfg : DspConfig
        Window, hop and rate.

    Returns
    -------
    ndarray of float64, shape (n,)
        ``(k*hop + window/2) / internal_rate`` [s], in the time base of the stage's input.
    """
    k = np.arange(first_frame, first_frame + n, dtype=np.float64)
    return (k * cfg.stft_hop + cfg.stft_window / 2.0) / cfg.internal_rate


# --------------------------------------------------------------------------------------------------
# stages
# --------------------------------------------------------------------------------------------------


class SpectralFramer(Stage):
    """Shared framer and kernel driver of :class:`StftStage` and the feature stages.

    Subclasses choose which column blocks the one kernel fills: the dB spectrum (``n_bins``
    columns at ``db_col``) and/or the features (at ``feat_col``, ``4 + mel.shape[0]`` columns).

    Parameters
    ----------
    cfg : DspConfig
        ``stft_window``, ``stft_hop`` and ``internal_rate``.
    max_block : int
        Largest input block per call [samples at 2000 Hz].
    n_cols : int
        Output columns.
    db_col, feat_col : int
        First column of the dB spectrum / the features, or -1 for none.
    mel : ndarray of float64, shape (n_mels, n_bins), optional
        Mel filterbank applied to the power spectrum (only with ``feat_col >= 0``).
    """

    def __init__(
        self,
        cfg: DspConfig,
        max_block: int,
        n_cols: int,
        db_col: int,
        feat_col: int,
        mel: npt.NDArray[np.float64] | None = None,
    ) -> None:
        self.cfg = cfg
        self.window = int(cfg.stft_window)
        """Frame length ``N`` [samples at 2000 Hz]."""
        self.hop = int(cfg.stft_hop)
        """Frame hop ``H`` [samples at 2000 Hz]."""
        self.n_bins = self.window // 2 + 1
        """DFT bins per frame (33 with the defaults)."""
        super().__init__(
            in_rate=cfg.internal_rate,
            out_rate=cfg.internal_rate / self.hop,
            latency=round(self.window / (2 * self.hop)),
            max_block=max_block,
        )
        self._cos, self._sin = dft_tables(self.window)
        self._freqs = fft_frequencies(cfg)
        n_bins = self.n_bins
        self._mel = (
            np.zeros((0, n_bins), dtype=np.float64)
            if mel is None
            else np.ascontiguousarray(mel, dtype=np.float64)
        )
        if self._mel.ndim != 2 or self._mel.shape[1] != n_bins:
            raise ValueError(f"mel filterbank must have shape (n_mels, {n_bins})")
        self._db_col = int(db_col)
        self._feat_col = int(feat_col)
        # state: work buffer (held tail + one block) and integer counters
        self._work = np.zeros(self.window - 1 + self.max_block, dtype=np.float32)
        self._istate = np.zeros(3, dtype=np.int64)
        self._scratch = np.zeros((4, n_bins), dtype=np.float64)
        max_frames = (self.max_block - 1) // self.hop + 1
        self._out = np.zeros((max_frames, n_cols), dtype=np.float32)

    @property
    def n_cols(self) -> int:
        """Output columns per frame."""
        return int(self._out.shape[1])

    @property
    def nonfinite_samples(self) -> int:
        """Non-finite input samples (NaN, ±inf) replaced by 0 since the last reset."""
        return int(self._istate[_NONFINITE])

    @property
    def frames_emitted(self) -> int:
        """Frames output since the last reset (= index of the next frame)."""
        return int(self._istate[_FRAMES])

    @property
    def samples_held(self) -> int:
        """Input samples held for the next frame (0 .. window - 1)."""
        return int(self._istate[_HELD])

    def frame_times(self, first_frame: int, n: int) -> npt.NDArray[np.float64]:
        """Centre times [s] of frames ``first_frame ..``, shape (n,); see :func:`frame_times`."""
        return frame_times(first_frame, n, self.cfg)

    def _process(self, x: Float32Array) -> np.ndarray:
        n = _analyze(
            x, self._work, self._istate, self.hop, self._cos, self._sin, self._scratch,
            self._freqs, self._mel, self._out, self._db_col, self._feat_col,
        )  # fmt: skip
        return self._out[:n]

    def _flush(self) -> np.ndarray:
        # frames need full windows: the trailing partial frame is dropped (center=False)
        return self._out[:0]

    def _reset(self) -> None:
        self._work[:] = 0.0
        self._istate[:] = 0
        self._scratch[:] = 0.0


class StftStage(SpectralFramer):
    """Streaming STFT log power at the internal rate (periodic Hann, ``center=False``).

    Parameters
    ----------
    cfg : DspConfig
        ``stft_window`` ``N`` (64) and ``stft_hop`` ``H`` (16) [samples at 2000 Hz].
    max_block : int
        Largest input block per call [samples]; sizes the output buffer.

    Notes
    -----
    ``process(x)`` takes 1-D float32 samples at 2000 Hz and returns a float32 view of shape
    ``(n_frames, N//2 + 1)`` = ``(n, 33)``: ``10*log10(max(|X|^2, 1e-10))`` [dB] per bin,
    bin ``b`` at ``b * 2000 / N`` Hz. ``out_rate`` = 2000 / H = 125 frames/s. After ``n`` samples
    in total, ``floor((n - N) / H) + 1`` frames have been emitted (0 for ``n < N``).
    ``latency`` = round(N / (2H)) frames (2); frame times: :meth:`frame_times`.
    """

    def __init__(self, cfg: DspConfig = _DEFAULT_CFG, max_block: int = DEFAULT_MAX_BLOCK) -> None:
        n_bins = cfg.stft_window // 2 + 1
        super().__init__(cfg, max_block, n_cols=n_bins, db_col=0, feat_col=-1)


def stft_db(x: np.ndarray, cfg: DspConfig = _DEFAULT_CFG) -> Float32Array:
    """Batch STFT log power of a whole signal, built on :class:`StftStage`.

    Parameters
    ----------
    x : array_like, shape (n,)
        Samples at 2000 Hz (converted to float32).
    cfg : DspConfig
        Window and hop.

    Returns
    -------
    ndarray of float32, shape (n_frames, cfg.stft_window//2 + 1)
        Log power [dB] per frame and bin; ``n_frames = floor((n - N)/H) + 1`` (0 if ``n < N``).
    """
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    return run_batch(StftStage(cfg, max_block=batch_max_block(x)), x)
