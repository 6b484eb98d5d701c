"""IIR filtering at the internal rate: a reusable SOS kernel, the heart-sound band-pass and a knock
(spike) suppressor.

Design
------
**SOS kernel.** :func:`sosfilt_into` (the private ``_sosfilt_kernel``) runs second-order sections in
transposed direct form II exactly like :func:`scipy.signal.sosfilt` (same update equations in the
same order), with the state in float64 and float32 input/output. Each sample goes through all the
sections before the next one, so the arithmetic is the same whatever the chunking: output is
bit-identical for any block sizes. It is a numba kernel, so other kernels may call it (and the
per-sample form :func:`sos_sample`) directly.

**Non-finite policy (every stage of this module).** A NaN or ±inf input sample is replaced by 0.0
before it touches any state and counted in the stage's ``nonfinite_samples``; one bad sample
therefore cannot poison an IIR state forever. Outputs are clipped to the float32 range, so finite
input always gives finite output, even at ±3.4e38.

**Band-pass.** :class:`BandpassStage` is a Butterworth band-pass
``cfg.bandpass_low_hz``-``cfg.bandpass_high_hz`` of order ``cfg.bandpass_order`` (``order``
sections) at 2000 Hz in and out, followed by the :class:`SpikeSuppressor` (fused in one kernel
call). Its filter latency is the mean group delay over 50-150 Hz, where S1/S2 carry most energy,
rounded to samples: 5 samples (2.5 ms) with the defaults. The group delay of the 25-400 Hz
band-pass is 3-12 samples across 50-150 Hz but grows towards the lower edge (about 19 samples at
40 Hz and 39 at 30 Hz), so low-frequency energy arrives a few ms later than declared.

**Spike suppressor.** Stethoscope knocks and friction spikes are short bursts far louder than the
heart sounds. The rule, per sample ``x[t]`` at 2000 Hz:

1. *Reference level.* Time is cut into windows of ``cfg.spike_window_s`` (0.5 s = 1000 samples).
   The peak ``|x|`` of each completed window is kept for the last ``history_windows`` (8) windows
   (4 s, at least two cardiac cycles down to 30 bpm). The reference ``ref`` is the
   ``rank``-th largest (3rd of 8) of those peaks, i.e. the typical heart-sound peak level, robust
   to up to ``rank - 1`` windows holding knocks. While fewer windows exist, the rank is scaled
   (``ceil(rank * m / history_windows)`` of ``m``); no spike is detected before the first
   window is complete. ``ref`` never falls below ``floor`` (1e-6, about -120 dBFS).
   (The config calls ``spike_threshold`` a MAD multiple; a sample-level MAD or median sits at the
   noise floor between heart sounds, far below S1 peaks, so the reference here is a robust
   *peak* level instead, and the threshold is a multiple of it.)
2. *Detection.* ``|x[t]| > cfg.spike_threshold * ref`` (8x, 18 dB above typical heart-sound
   peaks) flags a spike.
3. *Gating.* The output is the input delayed by ``lookahead`` samples (10 = 5 ms) times a gain.
   On detection the gain falls to 0 along a raised-cosine taper of ``lookahead`` samples, so it
   is already 0 when the spike sample leaves the delay line; it stays 0 for ``hold_s`` (80 ms)
   after the last flagged sample (covering the knock's decay and the band-pass ringing, whose
   25 Hz corner rings for ~50 ms) and then returns to 1 along a raised-cosine taper of
   ``release_s`` (20 ms). Samples outside a gate pass with a gain of exactly 1.0, i.e.
   bit-identical to the plain band-pass output, delayed.

   The look-ahead is declared: the suppressor's ``latency`` is ``lookahead`` samples, and the
   band-pass stage's latency is ``filter latency + lookahead`` = 15 samples (7.5 ms) by default.
   Heart sounds within ``hold_s`` after a knock are muted with it. A level jump of more than the
   threshold (e.g. the chest piece placed after digital silence) is treated as spikes until the
   reference has caught up, i.e. until ``rank`` windows of the new level exist (1.5 s).

**Design cache.** The band-pass sections and their latency come from
:func:`~stetho_rt.dsp.designs.cached_design` (scipy is imported only when a design is computed, not
when it is read from the cache), so a warm start does not import ``scipy.signal``.

**Flush.** Every stage here flushes by feeding ``latency`` zero samples and returning their
output, so the last input sample reaches the output at its declared lag (the IIR tail beyond that
is dropped). Call :meth:`reset` before reusing a flushed stage.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from stetho_rt.config import DspConfig
from stetho_rt.dsp._jit import kernel
from stetho_rt.dsp.designs import cached_design
from stetho_rt.dsp.stage import DEFAULT_MAX_BLOCK, Float32Array, Stage, batch_max_block, run_batch
from stetho_rt.errors import ConfigError

__all__ = [
    "LATENCY_BAND_HZ",
    "SPIKE_HISTORY_WINDOWS",
    "SPIKE_HOLD_S",
    "SPIKE_LEVEL_FLOOR",
    "SPIKE_LOOKAHEAD_SAMPLES",
    "SPIKE_REFERENCE_RANK",
    "SPIKE_RELEASE_S",
    "BandpassStage",
    "SosFilterStage",
    "SpikeSuppressor",
    "bandpass",
    "bandpass_sos",
    "sos_group_delay",
    "sos_sample",
    "sosfilt_into",
]

#: Band over which the band-pass group delay is averaged to declare its latency [Hz].
LATENCY_BAND_HZ = (50.0, 150.0)
#: Spike suppressor look-ahead = attack taper length [samples at 2 kHz] (5 ms).
SPIKE_LOOKAHEAD_SAMPLES = 10
#: Spike suppressor hold after the last flagged sample [s].
SPIKE_HOLD_S = 0.08
#: Spike suppressor release taper [s].
SPIKE_RELEASE_S = 0.02
#: Completed windows of ``spike_window_s`` whose peaks form the reference [windows].
SPIKE_HISTORY_WINDOWS = 8
#: Rank (1 = largest) of the window peak used as reference level.
SPIKE_REFERENCE_RANK = 3
#: Lowest reference level [full scale]; keeps digital silence from flagging everything.
SPIKE_LEVEL_FLOOR = 1e-6

_F32_MAX = float(np.finfo(np.float32).max)


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


@kernel
def _clip_f32(v: float) -> float:
    """Clip a finite float64 to the float32 range (the cast would give ±inf)."""
    if v > _F32_MAX:
        return _F32_MAX
    if v < -_F32_MAX:
        return -_F32_MAX
    return v


@kernel
def sos_sample(sos: np.ndarray, zi: np.ndarray, v: float) -> float:
    """Filter one float64 sample through all sections (TDF-II, as scipy); updates ``zi`` in place.

    Parameters
    ----------
    sos : ndarray, float64, shape (n_sections, 6)
        Sections ``b0 b1 b2 a0 a1 a2`` with ``a0 == 1``.
    zi : ndarray, float64, shape (n_sections, 2)
        State, updated in place.
    v : float
        Input sample (finite).

    Returns
    -------
    float
        Output sample (float64).
    """
    for s in range(sos.shape[0]):
        y = sos[s, 0] * v + zi[s, 0]
        zi[s, 0] = sos[s, 1] * v - sos[s, 4] * y + zi[s, 1]
        zi[s, 1] = sos[s, 2] * v - sos[s, 5] * y
        v = y
    return v


@kernel
def _sosfilt_kernel(sos: np.ndarray, zi: np.ndarray, x: np.ndarray, out: np.ndarray) -> int:
    """Stateful SOS filtering into a preallocated buffer (public name :func:`sosfilt_into`).

    A numba kernel: call it from Python or from other kernels.

    Parameters
    ----------
    sos : ndarray, float64, shape (n_sections, 6)
        Second-order sections with ``a0 == 1`` (as returned by :func:`scipy.signal.butter`).
    zi : ndarray, float64, shape (n_sections, 2)
        Transposed-direct-form-II state (scipy's ``zi`` convention), updated in place.
    x : ndarray, float32, shape (n,)
        Input samples.
    out : ndarray, float32, shape (>= n,)
        Receives the ``n`` output samples (clipped to the float32 range).

    Returns
    -------
    int
        Number of non-finite input samples, which were filtered as 0.0.
    """
    bad = 0
    for t in range(x.shape[0]):
        v = np.float64(x[t])
        if not np.isfinite(v):
            v = 0.0
            bad += 1
        out[t] = _clip_f32(sos_sample(sos, zi, v))
    return bad


#: Public name of :func:`_sosfilt_kernel` (``sosfilt_into(sos, zi, x, out) -> n_nonfinite``).
sosfilt_into = _sosfilt_kernel

# Spike suppressor state layout. ``ipar``: int parameters; ``par``: float parameters;
# ``fst``: float64 state [ref, current window peak, history..., scratch..., delay line...];
# ``ist``: int64 state.
_IP_LOOKAHEAD = 0
_IP_HOLD = 1
_IP_RELEASE = 2
_IP_WINDOW = 3
_IP_NHIST = 4
_IP_RANK = 5
_IP_PHASE_MAX = 6
_P_THRESHOLD = 0
_P_FLOOR = 1
_F_REF = 0
_F_PEAK = 1
_F_HIST = 2
_I_HOLD = 0
_I_PHASE = 1
_I_WPOS = 2
_I_NSEEN = 3
_I_HPOS = 4
_I_DPOS = 5
_I_EVENTS = 6
_I_ATTENUATED = 7
_I_SIZE = 8


@kernel
def _spike_push_window(ipar: np.ndarray, fst: np.ndarray, ist: np.ndarray) -> None:
    """Store the completed window's peak and recompute the reference (rank statistic)."""
    n = ipar[_IP_NHIST]
    scratch = _F_HIST + n
    fst[_F_HIST + ist[_I_HPOS]] = fst[_F_PEAK]
    ist[_I_HPOS] += 1
    if ist[_I_HPOS] == n:
        ist[_I_HPOS] = 0
    if ist[_I_NSEEN] < n:
        ist[_I_NSEEN] += 1
    m = ist[_I_NSEEN]
    # the m stored peaks are hist[0:m] (filled from 0 while m < n)
    for j in range(m):
        fst[scratch + j] = fst[_F_HIST + j]
    for j in range(1, m):  # insertion sort, descending (m <= a few tens)
        v = fst[scratch + j]
        k = j - 1
        while k >= 0 and fst[scratch + k] < v:
            fst[scratch + k + 1] = fst[scratch + k]
            k -= 1
        fst[scratch + k + 1] = v
    r = (ipar[_IP_RANK] * m + n - 1) // n
    if r < 1:
        r = 1
    fst[_F_REF] = fst[scratch + r - 1]
    fst[_F_PEAK] = 0.0
    ist[_I_WPOS] = 0


@kernel
def _spike_block(
    par: np.ndarray,
    ipar: np.ndarray,
    fst: np.ndarray,
    ist: np.ndarray,
    x: np.ndarray,
    n: int,
    out: np.ndarray,
) -> int:
    """Spike-gate ``x[:n]`` (float32 or float64) into ``out[:n]`` (float32).

    State lives in locals inside the loop and is written back at the end (one call per block, so
    the per-sample path has no function calls). Returns the count of non-finite inputs (used as 0).
    """
    lookahead = ipar[_IP_LOOKAHEAD]
    hold_len = lookahead + ipar[_IP_HOLD]
    attack_step = ipar[_IP_RELEASE]
    release_step = lookahead
    window = ipar[_IP_WINDOW]
    ph_max = ipar[_IP_PHASE_MAX]
    d_off = _F_HIST + 2 * ipar[_IP_NHIST]
    thr = par[_P_THRESHOLD]
    floor = par[_P_FLOOR]
    hold = ist[_I_HOLD]
    ph = ist[_I_PHASE]
    wpos = ist[_I_WPOS]
    dpos = ist[_I_DPOS]
    events = ist[_I_EVENTS]
    attenuated = ist[_I_ATTENUATED]
    peak = fst[_F_PEAK]
    limit = thr * max(fst[_F_REF], floor)
    armed = ist[_I_NSEEN] > 0
    bad = 0
    for t in range(n):
        v = np.float64(x[t])
        if not np.isfinite(v):
            v = 0.0
            bad += 1
        a = abs(v)
        # detection against the reference of completed windows (causal)
        if armed and a > limit:
            if hold == 0:
                events += 1
            hold = hold_len
        # reference: peak of the current window, pushed when the window completes
        if a > peak:
            peak = a
        wpos += 1
        if wpos >= window:
            fst[_F_PEAK] = peak
            _spike_push_window(ipar, fst, ist)
            peak = 0.0
            wpos = 0
            limit = thr * max(fst[_F_REF], floor)
            armed = True
        # gain phase in integer steps: attack L steps of R, release R steps of L (max L * R)
        if hold > 0:
            ph -= attack_step
            if ph < 0:
                ph = 0
            hold -= 1
        elif ph < ph_max:
            ph += release_step
            if ph > ph_max:
                ph = ph_max
        # look-ahead delay line
        d = fst[d_off + dpos]
        fst[d_off + dpos] = v
        dpos += 1
        if dpos == lookahead:
            dpos = 0
        if ph == ph_max:
            out[t] = _clip_f32(d)
        else:
            attenuated += 1
            if ph == 0:
                out[t] = 0.0
            else:
                out[t] = _clip_f32((0.5 - 0.5 * math.cos(math.pi * ph / ph_max)) * d)
    ist[_I_HOLD] = hold
    ist[_I_PHASE] = ph
    ist[_I_WPOS] = wpos
    ist[_I_DPOS] = dpos
    ist[_I_EVENTS] = events
    ist[_I_ATTENUATED] = attenuated
    fst[_F_PEAK] = peak
    return bad


@kernel
def _spike_kernel(
    par: np.ndarray,
    ipar: np.ndarray,
    fst: np.ndarray,
    ist: np.ndarray,
    x: np.ndarray,
    out: np.ndarray,
) -> int:
    """Spike-gate ``x`` into ``out[:len(x)]``; return the count of non-finite inputs (used as 0)."""
    return _spike_block(par, ipar, fst, ist, x, x.shape[0], out)


@kernel
def _bandpass_spike_kernel(
    sos: np.ndarray,
    zi: np.ndarray,
    par: np.ndarray,
    ipar: np.ndarray,
    fst: np.ndarray,
    ist: np.ndarray,
    x: np.ndarray,
    tmp: np.ndarray,
    out: np.ndarray,
) -> int:
    """Band-pass ``x`` into the float64 scratch ``tmp``, then spike-gate it into ``out``."""
    bad = 0
    for t in range(x.shape[0]):
        v = np.float64(x[t])
        if not np.isfinite(v):
            v = 0.0
            bad += 1
        tmp[t] = sos_sample(sos, zi, v)
    _spike_block(par, ipar, fst, ist, tmp, x.shape[0], out)
    return bad


# --------------------------------------------------------------------------------------------
# Design helpers
# --------------------------------------------------------------------------------------------


def bandpass_sos(cfg: DspConfig = DspConfig()) -> npt.NDArray[np.float64]:
    """Butterworth band-pass of the config as SOS.

    Parameters
    ----------
    cfg : DspConfig
        Uses ``bandpass_low_hz``, ``bandpass_high_hz`` [Hz], ``bandpass_order`` and
        ``internal_rate`` [Hz].

    Returns
    -------
    ndarray, float64, shape (bandpass_order, 6)
        Second-order sections, ``a0 == 1`` (``scipy.signal.butter``, through the design cache).
    """
    return _bandpass_design(cfg)["sos"]


def _bandpass_design(cfg: DspConfig) -> dict[str, np.ndarray]:
    """Cached band-pass design: ``sos`` and ``filter_latency`` (0-d int64, samples)."""
    if cfg.bandpass_order < 1:
        raise ConfigError(f"bandpass_order={cfg.bandpass_order} must be a positive integer")
    order, low, high, rate = (
        cfg.bandpass_order,
        cfg.bandpass_low_hz,
        cfg.bandpass_high_hz,
        cfg.internal_rate,
    )
    return cached_design(
        "bandpass",
        (order, low, high, rate, LATENCY_BAND_HZ),
        lambda: _compute_bandpass(order, low, high, rate),
    )


def _compute_bandpass(order: int, low: float, high: float, rate: float) -> dict[str, np.ndarray]:
    """Butterworth band-pass sections and their mean group delay over :data:`LATENCY_BAND_HZ`."""
    import scipy.signal  # heavy import, only when the design is not cached

    sos = scipy.signal.butter(order, [low, high], btype="bandpass", fs=rate, output="sos")
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    band = np.linspace(LATENCY_BAND_HZ[0], LATENCY_BAND_HZ[1], 101)
    latency = round(float(np.mean(sos_group_delay(sos, band, rate))))
    return {"sos": sos, "filter_latency": np.array(latency, dtype=np.int64)}


def sos_group_delay(
    sos: npt.ArrayLike, freqs_hz: npt.ArrayLike, rate: float
) -> npt.NDArray[np.float64]:
    """Group delay of a cascade of sections.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
        Second-order sections.
    freqs_hz : array_like, shape (n,)
        Frequencies [Hz], ``0 <= f < rate / 2``.
    rate : float
        Sample rate [Hz].

    Returns
    -------
    ndarray, float64, shape (n,)
        Group delay [samples at ``rate``].
    """
    import scipy.signal  # heavy import, only at design time

    sos = np.atleast_2d(np.asarray(sos, dtype=np.float64))
    w = np.atleast_1d(np.asarray(freqs_hz, dtype=np.float64))
    total = np.zeros(w.shape, dtype=np.float64)
    for sec in sos:
        b, a = np.trim_zeros(sec[:3], "b"), np.trim_zeros(sec[3:], "b")
        total += scipy.signal.group_delay((b, a), w=w, fs=rate)[1]
    return total


def _normalize_sos(sos: npt.ArrayLike) -> npt.NDArray[np.float64]:
    arr = np.array(sos, dtype=np.float64, ndmin=2)
    if arr.ndim != 2 or arr.shape[1] != 6 or arr.shape[0] < 1:
        raise ConfigError(f"sos must have shape (n_sections, 6), got {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr[:, 3] == 0.0):
        raise ConfigError("sos must be finite with a0 != 0 in every section")
    arr = arr / arr[:, 3:4]
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------


class SosFilterStage(Stage):
    """Generic stateful SOS filter stage (float32 in/out, float64 state).

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
        Second-order sections (normalised to ``a0 == 1`` here).
    rate : float
        Input and output rate [Hz].
    max_block : int
        Largest input block per call [samples].
    latency : int, optional
        Declared latency [samples]; the filter cannot know which band matters (use
        :func:`sos_group_delay`). ``flush()`` feeds that many zeros. Default 0 (empty flush).

    Attributes
    ----------
    sos : ndarray, float64, shape (n_sections, 6)
    nonfinite_samples : int
        Non-finite input samples seen since construction or ``reset()`` (filtered as 0.0).
    """

    def __init__(
        self,
        sos: npt.ArrayLike,
        rate: float,
        max_block: int = DEFAULT_MAX_BLOCK,
        *,
        latency: int = 0,
    ) -> None:
        if latency < 0:
            raise ConfigError(f"latency={latency} must be >= 0")
        super().__init__(rate, rate, latency, max_block)
        self.sos = _normalize_sos(sos)
        self._zi = np.zeros((self.sos.shape[0], 2), dtype=np.float64)
        self._out = np.zeros(max(self.max_block, self.latency, 1), dtype=np.float32)
        self._zeros = np.zeros(self.latency, dtype=np.float32)
        self.nonfinite_samples = 0

    def _process(self, x: Float32Array) -> Float32Array:
        self.nonfinite_samples += _sosfilt_kernel(self.sos, self._zi, x, self._out)
        return self._out[: x.shape[0]]

    def _flush(self) -> Float32Array:
        _sosfilt_kernel(self.sos, self._zi, self._zeros, self._out)
        return self._out[: self._zeros.shape[0]]

    def _reset(self) -> None:
        self._zi[:] = 0.0
        self.nonfinite_samples = 0


class SpikeSuppressor(Stage):
    """Causal knock/spike gate with a short declared look-ahead (rule in the module docstring).

    Parameters
    ----------
    cfg : DspConfig
        Uses ``internal_rate`` [Hz], ``spike_window_s`` [s] and ``spike_threshold`` (multiple of
        the reference peak level).
    max_block : int
        Largest input block per call [samples].
    lookahead : int
        Look-ahead and attack taper [samples], >= 1; this is the stage's ``latency``.
    hold_s : float
        Gate hold after the last flagged sample [s].
    release_s : float
        Release taper [s] (at least one sample).
    history_windows : int
        Completed windows kept for the reference level.
    rank : int
        Rank (1 = largest) of the window peak used as reference, ``1 <= rank <= history_windows``.
    floor : float
        Lowest reference level [input units, full scale = 1].

    Attributes
    ----------
    nonfinite_samples : int
        Non-finite input samples (gated as 0.0) since construction or ``reset()``.
    spike_events : int
        Times the gate was triggered from open or releasing.
    attenuated_samples : int
        Output samples with a gain below 1.
    """

    def __init__(
        self,
        cfg: DspConfig = DspConfig(),
        max_block: int = DEFAULT_MAX_BLOCK,
        *,
        lookahead: int = SPIKE_LOOKAHEAD_SAMPLES,
        hold_s: float = SPIKE_HOLD_S,
        release_s: float = SPIKE_RELEASE_S,
        history_windows: int = SPIKE_HISTORY_WINDOWS,
        rank: int = SPIKE_REFERENCE_RANK,
        floor: float = SPIKE_LEVEL_FLOOR,
    ) -> None:
        rate = cfg.internal_rate
        window = round(cfg.spike_window_s * rate)
        hold = round(hold_s * rate)
        release = max(round(release_s * rate), 1)
        if lookahead < 1:
            raise ConfigError(f"spike lookahead={lookahead} must be >= 1 sample")
        if window < 1 or hold < 0:
            raise ConfigError(
                f"spike_window_s={cfg.spike_window_s} and hold_s={hold_s} must be positive"
            )
        if not 1 <= rank <= history_windows:
            raise ConfigError(f"rank={rank} must lie in 1..history_windows={history_windows}")
        if not (cfg.spike_threshold > 0 and floor > 0):
            raise ConfigError(
                f"spike_threshold={cfg.spike_threshold} and floor={floor} must be positive"
            )
        super().__init__(rate, rate, lookahead, max_block)
        self._par = np.array([cfg.spike_threshold, floor], dtype=np.float64)
        self._ipar = np.array(
            [lookahead, hold, release, window, history_windows, rank, lookahead * release],
            dtype=np.int64,
        )
        self._fst = np.zeros(_F_HIST + 2 * history_windows + lookahead, dtype=np.float64)
        self._ist = np.zeros(_I_SIZE, dtype=np.int64)
        self._ist[_I_PHASE] = lookahead * release  # gate open
        self._ist0 = self._ist.copy()
        self._out = np.zeros(max(self.max_block, self.latency), dtype=np.float32)
        self._zeros = np.zeros(self.latency, dtype=np.float32)
        self._nonfinite = 0

    @property
    def nonfinite_samples(self) -> int:
        """Non-finite input samples since construction or ``reset()``."""
        return self._nonfinite

    @property
    def spike_events(self) -> int:
        """Gate triggers since construction or ``reset()``."""
        return int(self._ist[_I_EVENTS])

    @property
    def attenuated_samples(self) -> int:
        """Output samples with gain < 1 since construction or ``reset()``."""
        return int(self._ist[_I_ATTENUATED])

    @property
    def reference_level(self) -> float:
        """Current reference peak level [input units] (0 before the first window completes)."""
        return float(self._fst[_F_REF])

    def _process(self, x: Float32Array) -> Float32Array:
        self._nonfinite += _spike_kernel(self._par, self._ipar, self._fst, self._ist, x, self._out)
        return self._out[: x.shape[0]]

    def _flush(self) -> Float32Array:
        _spike_kernel(self._par, self._ipar, self._fst, self._ist, self._zeros, self._out)
        return self._out[: self._zeros.shape[0]]

    def _reset(self) -> None:
        self._fst[:] = 0.0
        self._ist[:] = self._ist0
        self._nonfinite = 0


class BandpassStage(Stage):
    """Heart-sound band-pass (Butterworth SOS) followed by the spike suppressor, 2000 Hz in/out.

    Parameters
    ----------
    cfg : DspConfig
        Band edges ``bandpass_low_hz``/``bandpass_high_hz`` [Hz], ``bandpass_order``, and the
        spike parameters (see :class:`SpikeSuppressor`).
    max_block : int
        Largest input block per call [samples].
    suppress_spikes : bool
        Chain the :class:`SpikeSuppressor` (default). ``False`` gives the plain band-pass.

    Attributes
    ----------
    sos : ndarray, float64, shape (bandpass_order, 6)
        The band-pass sections.
    filter_latency : int
        Mean group delay of the band-pass over 50-150 Hz, rounded [samples] (5 = 2.5 ms by default).
    latency : int
        ``filter_latency`` plus the suppressor look-ahead when enabled [samples]
        (15 = 7.5 ms by default, 5 without suppression).
    spike_suppressor : SpikeSuppressor or None
        The chained suppressor (its counters: ``spike_events``, ``attenuated_samples``).
    nonfinite_samples : int
        Non-finite input samples (filtered as 0.0) since construction or ``reset()``.
    """

    def __init__(
        self,
        cfg: DspConfig = DspConfig(),
        max_block: int = DEFAULT_MAX_BLOCK,
        *,
        suppress_spikes: bool = True,
    ) -> None:
        design = _bandpass_design(cfg)
        self.sos = design["sos"]
        rate = cfg.internal_rate
        self.filter_latency = int(design["filter_latency"])
        self.spike_suppressor = SpikeSuppressor(cfg, max_block) if suppress_spikes else None
        extra = self.spike_suppressor.latency if self.spike_suppressor is not None else 0
        super().__init__(rate, rate, self.filter_latency + extra, max_block)
        self._zi = np.zeros((self.sos.shape[0], 2), dtype=np.float64)
        self._out = np.zeros(max(self.max_block, self.latency), dtype=np.float32)
        self._tmp = np.zeros(self._out.shape[0], dtype=np.float64)
        self._zeros = np.zeros(self.latency, dtype=np.float32)
        self._nonfinite = 0

    @property
    def nonfinite_samples(self) -> int:
        """Non-finite input samples since construction or ``reset()``."""
        return self._nonfinite

    def _run(self, x: Float32Array) -> Float32Array:
        sp = self.spike_suppressor
        if sp is None:
            bad = _sosfilt_kernel(self.sos, self._zi, x, self._out)
        else:
            bad = _bandpass_spike_kernel(
                self.sos, self._zi, sp._par, sp._ipar, sp._fst, sp._ist, x, self._tmp, self._out
            )
        self._nonfinite += bad
        return self._out[: x.shape[0]]

    def _process(self, x: Float32Array) -> Float32Array:
        return self._run(x)

    def _flush(self) -> Float32Array:
        return self._run(self._zeros)

    def _reset(self) -> None:
        self._zi[:] = 0.0
        if self.spike_suppressor is not None:
            self.spike_suppressor.reset()
        self._nonfinite = 0


def bandpass(
    x: npt.ArrayLike, cfg: DspConfig = DspConfig(), *, suppress_spikes: bool = True
) -> Float32Array:
    """Batch band-pass (and spike suppression) of a whole signal at 2000 Hz.

    Parameters
    ----------
    x : array_like, shape (n,)
        Samples at ``cfg.internal_rate`` [Hz].
    cfg : DspConfig
        Configuration.
    suppress_spikes : bool
        As for :class:`BandpassStage`.

    Returns
    -------
    ndarray, float32, shape (n + latency,)
        ``process(x)`` then ``flush()``: output sample ``k`` describes input sample
        ``k - latency``, so ``out[latency:]`` is aligned with ``x``.
    """
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    stage = BandpassStage(cfg, max_block=batch_max_block(x), suppress_spikes=suppress_spikes)
    return run_batch(stage, x)
