"""Per-frame detector features at 100 Hz from band-passed 2 kHz samples (multi-band, multi-scale).

Six second-order band-pass sections split the 25-400 Hz signal into sub-bands (25-45, 45-80,
80-130, 130-200, 200-300, 300-400 Hz: a wavelet-like, roughly octave-spaced filter bank). Every 20
samples (10 ms) each band's and the total mean square is taken in the log domain. Two centred moving
averages smooth them: a short one (``2 * SHORT_HALF + 1`` frames) and a wide one
(``2 * LOOKAHEAD_FRAMES + 1`` frames, a homomorphic-like envelope), so the features of frame ``t``
are ready when frame ``t + LOOKAHEAD_FRAMES`` is complete. Levels are normalised by an exponentially
forgetting mean and standard deviation of the short-smoothed total log-energy (time constant
:data:`NORM_TAU_S`), so the features do not depend on gain.

Features per frame (columns of the output):

0. z-score of the short-smoothed total log-energy,
1. z-score of the wide-smoothed total log-energy (homomorphic envelope),
2. z-score of the unsmoothed frame log-energy,
3-8. wide-smoothed band log-energy minus wide total (spectral shape: S2 is brighter than S1),
9-14. z-score of the short-smoothed band log-energies,
15. short total minus its running peak (decaying maximum, fast decay) [nepers],
16. wide total minus a slowly decaying running maximum [nepers],
17. short total minus a slowly rising running floor (decaying minimum) [nepers].

Everything is computed frame by frame in one numba kernel from state arrays, so any chunking of the
input gives bit-identical features.
"""

from __future__ import annotations

import numpy as np

from stetho_rt.config import INTERNAL_RATE_HZ
from stetho_rt.dsp._jit import kernel
from stetho_rt.dsp.designs import cached_design

HOP_SAMPLES = 20
"""Samples per feature frame at 2 kHz (100 frames per second)."""
FRAME_RATE_HZ = INTERNAL_RATE_HZ / HOP_SAMPLES
BANDS_HZ: tuple[tuple[float, float], ...] = (
    (25.0, 45.0),
    (45.0, 80.0),
    (80.0, 130.0),
    (130.0, 200.0),
    (200.0, 300.0),
    (300.0, 400.0),
)
N_BANDS = len(BANDS_HZ)
N_FEATURES = 3 + 2 * N_BANDS + 3
LOOKAHEAD_FRAMES = 4
"""Half-width of the wide smoothing window = frames of look-ahead of the features."""
SHORT_HALF = 1
"""Half-width of the short smoothing window [frames]."""
NORM_TAU_S = 3.0
"""Time constant of the running level normalisation [s]."""
PEAK_DECAY_PER_S = 1.5
"""Decay of the fast running peak of the log-energy [nepers per second]."""
SLOW_DECAY_PER_S = 0.4
"""Decay of the slow running maximum and rise of the running floor [nepers per second]."""
EPS = 1e-12
SILENCE_DBFS = -100.0
"""Frame level [dBFS: mean square of the band-passed input over a frame] below which a frame is
digital silence. The features are level-normalised (gain-free), so in silence (zeros, a DC
offset the band-pass removes) the decaying filter tails and rounding noise looked like
a rhythm: 27-40 regular sounds and a 187 bpm rate. 16-bit quantisation noise in the 25-400 Hz band
sits at -108 dBFS (4 kHz input; lower at higher rates), a stethoscope's own noise tens of dB above
the floor. No sound is emitted whose every frame is silent, and a run of
:data:`SILENCE_RESTART_FRAMES` or more silent frames is handled as no signal
(:mod:`stetho_rt.detect.s1s2`)."""
SILENCE_NEPERS = float(np.log(10.0 ** (SILENCE_DBFS / 10.0)))
""":data:`SILENCE_DBFS` as a frame energy, ``log(mean square)`` [nepers]."""
SILENCE_RESTART_FRAMES = 50
"""Silent frames in a row (0.5 s) that make a run of digital silence: the level statistics stop
there and start afresh at the next sound (the level before the silence says nothing of the level
after it; the restart takes the first sound frame's smoothed values, whose windows still reach
into the silence, so they start low and settle over seconds: a known limit),
the detector takes the rest of the run as carrying no information and starts afresh at its end,
as after a gap. Shorter runs (the band-pass's first few zero frames, a dropout's zeros) are left
as they always were."""
_RING = 16  # raw-frame ring (> 2 * LOOKAHEAD_FRAMES + 1)
_NCH = 1 + N_BANDS


def _band_sos() -> np.ndarray:
    """Second-order sections of the band filters, shape (N_BANDS, 6) (one biquad each)."""
    return cached_design("detect_bands6", (BANDS_HZ, INTERNAL_RATE_HZ), _compute_band_sos)["sos"]


def _compute_band_sos() -> dict[str, np.ndarray]:
    """The uncached path of :func:`_band_sos` (scipy is imported only here)."""
    from scipy import signal

    out = np.zeros((len(BANDS_HZ), 6))
    for i, (lo, hi) in enumerate(BANDS_HZ):
        out[i] = signal.butter(1, (lo, hi), btype="bandpass", fs=INTERNAL_RATE_HZ, output="sos")[0]
    return {"sos": out}


@kernel
def _features_kernel(x, sos, zi, acc, ring, ist, fst, wide, short, out, energy
                     ):  # pragma: no cover
    """Frame features of block ``x``; returns the number of rows written to ``out`` (and to
    ``energy``: each row's frame log mean square, not normalised [nepers]).

    ist: [samples in current frame, raw frames done]; fst: [mean, var, peak, slowmax, floor,
    silent frames in a row, frames since the statistics started];
    acc: sums of squares (total, bands); wide, short: scratch of length 1 + bands (preallocated,
    so a call allocates nothing).
    """
    nb = sos.shape[0]
    nch = nb + 1
    n_out = 0
    w = LOOKAHEAD_FRAMES
    for i in range(x.shape[0]):
        v = float(x[i])
        acc[0] += v * v
        for b in range(nb):
            # transposed direct form II biquad
            y = sos[b, 0] * v + zi[b, 0]
            zi[b, 0] = sos[b, 1] * v - sos[b, 4] * y + zi[b, 1]
            zi[b, 1] = sos[b, 2] * v - sos[b, 5] * y
            acc[b + 1] += y * y
        ist[0] += 1
        if ist[0] < HOP_SAMPLES:
            continue
        ist[0] = 0
        k = ist[1]
        slot = k % _RING
        for c in range(nch):
            ring[slot, c] = np.log(acc[c] / HOP_SAMPLES + EPS)
            acc[c] = 0.0
        ist[1] = k + 1
        t = k - w  # frame whose features are now complete
        if t < 0:
            continue
        # centred smoothing (frames before the stream start are clamped to frame 0)
        for c in range(nch):
            wide[c] = 0.0
            short[c] = 0.0
        for d in range(-w, w + 1):
            j = t + d
            if j < 0:
                j = 0
            for c in range(nch):
                wide[c] += ring[j % _RING, c]
        for d in range(-SHORT_HALF, SHORT_HALF + 1):
            j = t + d
            if j < 0:
                j = 0
            for c in range(nch):
                short[c] += ring[j % _RING, c]
        for c in range(nch):
            wide[c] /= 2 * w + 1
            short[c] /= 2 * SHORT_HALF + 1
        s0 = short[0]
        raw = ring[t % _RING, 0]
        # running normalisation of the short-smoothed total log-energy. In a run of digital
        # silence of SILENCE_RESTART_FRAMES or more the statistics stay as the signal left them,
        # and at the next sound they restart from that frame's smoothed values (which still
        # average in silent frames: see SILENCE_RESTART_FRAMES). Shorter runs change nothing.
        silent = raw < SILENCE_NEPERS
        if silent:
            fst[5] += 1.0
        if t == 0 or (not silent and fst[5] >= SILENCE_RESTART_FRAMES):
            fst[0] = s0
            fst[1] = 1.0
            fst[2] = s0
            fst[3] = wide[0]
            fst[4] = s0
            fst[6] = 0.0
        elif not (silent and fst[5] >= SILENCE_RESTART_FRAMES):
            alpha = max(1.0 / (fst[6] + 1.0), 1.0 / (NORM_TAU_S * FRAME_RATE_HZ))
            d0 = s0 - fst[0]
            fst[0] += alpha * d0
            fst[1] = (1.0 - alpha) * (fst[1] + alpha * d0 * d0)
            fst[2] = max(fst[2] - PEAK_DECAY_PER_S / FRAME_RATE_HZ, s0)
            fst[3] = max(fst[3] - SLOW_DECAY_PER_S / FRAME_RATE_HZ, wide[0])
            fst[4] = min(fst[4] + SLOW_DECAY_PER_S / FRAME_RATE_HZ, s0)
        if not silent:
            fst[5] = 0.0
        fst[6] += 1.0
        peak, smax, flo = fst[2], fst[3], fst[4]
        sd = np.sqrt(fst[1]) + 0.05
        mu = fst[0]
        out[n_out, 0] = (s0 - mu) / sd
        out[n_out, 1] = (wide[0] - mu) / sd
        out[n_out, 2] = (raw - mu) / sd
        for b in range(nb):
            out[n_out, 3 + b] = wide[b + 1] - wide[0]
            out[n_out, 3 + nb + b] = (short[b + 1] - mu) / sd
        out[n_out, 3 + 2 * nb] = s0 - peak
        out[n_out, 4 + 2 * nb] = wide[0] - smax
        out[n_out, 5 + 2 * nb] = s0 - flo
        energy[n_out] = raw
        n_out += 1
    return n_out


class FrameFeatures:
    """Streaming feature extractor: 2 kHz band-passed samples -> (n, N_FEATURES) frames at 100 Hz.

    Parameters
    ----------
    max_block : int
        Largest input block per call [samples]; sizes the output buffer.

    Notes
    -----
    Output row ``k`` (counting from the stream start) describes the input samples
    ``[20 k, 20 k + 20)``; it is emitted once sample ``20 (k + LOOKAHEAD_FRAMES + 1) - 1`` is in.
    """

    def __init__(self, max_block: int = 8192) -> None:
        self.max_block = int(max_block)
        self._sos = _band_sos()
        self._zi = np.zeros((self._sos.shape[0], 2))
        self._acc = np.zeros(_NCH)
        self._ring = np.zeros((_RING, _NCH))
        self._ist = np.zeros(2, dtype=np.int64)
        self._fst = np.zeros(7)
        self._wide = np.zeros(_NCH)
        self._short = np.zeros(_NCH)
        self._out = np.zeros((self.max_block // HOP_SAMPLES + 2, N_FEATURES))
        self._energy = np.zeros(self._out.shape[0])
        self._n = 0

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed ``x`` (1-D float32, at most ``max_block`` samples); return new rows (a view).

        A longer block is refused (ValueError): the kernel writes its rows into a buffer sized
        for ``max_block`` and would write past it."""
        if x.shape[0] > self.max_block:
            raise ValueError(f"block of {x.shape[0]} samples exceeds max_block={self.max_block}")
        n = _features_kernel(
            x, self._sos, self._zi, self._acc, self._ring, self._ist, self._fst, self._wide,
            self._short, self._out, self._energy,
        )
        self._n = n
        return self._out[:n]

    @property
    def last_energy(self) -> np.ndarray:
        """Absolute level of the rows of the last :meth:`process` call, shape (n,): each frame's
        log mean square of the input [nepers; ``log(10 ** (dBFS / 10))``], before any
        normalisation (a view)."""
        return self._energy[: self._n]

    def reset(self) -> None:
        """Back to the initial state (no reallocation)."""
        self._zi[:] = 0.0
        self._acc[:] = 0.0
        self._ring[:] = 0.0
        self._ist[:] = 0
        self._fst[:] = 0.0
