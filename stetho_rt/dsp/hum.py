"""Mains hum removal at the internal rate: narrow notches switched on where a mains line is heard.

Electronic stethoscopes and microphones on mains-powered equipment pick up hum: 50 or 60 Hz and
its harmonics, steady tones inside the 25-400 Hz heart-sound band. Added to a recording at a
tenth of its level (RMS) it cost the S1/S2 detector 0.01-0.02 of F1 at 60 ms, at a third 0.05-0.1,
at the recording's own level 0.24 (PhysioNet) to 0.59 (CirCor) (``tools/eval_hum.py``). The dev
recordings show such lines in a few PhysioNet databases, hardly at all in CirCor.

Design
------
**Analysis** (every :data:`HUM_FRAME_SAMPLES` input samples, 1 s at 2 kHz, at fixed positions of
the stream, so decisions do not depend on block sizes): the Hann-windowed power of the last frame
at each *line* (the harmonics of every candidate mains frequency, ``cfg.mains_hz``, up to the
band-pass's upper edge: 13 lines for 50 and 60 Hz) and at its neighbours ``f ± 3`` and ``f ± 5``
Hz (1 Hz bins, Goertzel, in a nogil kernel: numpy's FFT and the Python around it, run on the DSP
thread, cost the batch pipeline 10-20 % of its speed), summed over the last
:data:`HUM_FRAMES_SUMMED` frames. A line switches on when it stands :data:`HUM_ON_DB` above the
mean of its neighbours (:data:`HUM_FIRST_ON_DB` from the first frame alone, whose bins scatter
more) and off when it falls below :data:`HUM_OFF_DB`. Heart sounds are broadband: on the dev
split the rule turned a line on in 12 of 1159 CirCor recordings, mostly a single line for a few
seconds, and held the lines of PhysioNet's hum recordings (``tools/eval_hum.py`` and the
README). Silent frames (line power below :data:`HUM_POWER_FLOOR`) turn nothing on.

**Removal**: each line has a second-order peak (resonator) filter centred on the line's
frequency, refined by parabolic interpolation of the summed log power at the bin and 1 Hz either
side when it switches on and retuned at each analysis while it is on (the grid wanders), with
quality factor :data:`HUM_NOTCH_Q` (bandwidth 1.7 Hz
at 50 Hz, 13 Hz at 400 Hz). Each active line in turn takes ``y -= g_k * peak_k(y)``: with
``g_k = 1`` that is the complementary notch ``(1 - H_peak)`` (the peak and notch of one design
sum to 1 exactly), and the lines together the cascade of their notches (subtracting every
resonator's output from the input instead left a line 6-12 dB deep where its neighbours' bands
overlap it, 400 Hz with all eight 50 Hz harmonics on, or 240 and 250 Hz together). A line's gain
``g_k`` moves to 0 or 1 along a :data:`HUM_RAMP_SAMPLES` ramp (50 ms), so no step is cut into
the signal. Its resonator is started from the last frame's samples when it switches on (no
build-up) and stops running once its gain is back at 0. Samples with every gain at 0 pass
bit-identical; the stage has no delay (latency 0; the notch's group delay is confined to its
narrow band).

**Non-finite input** is replaced by 0.0 before it touches any state and counted, as in the
other stages of this package.
"""

from __future__ import annotations

import functools

import numpy as np

from stetho_rt.config import HUM_NEIGHBOUR_OFFSETS_HZ, DspConfig
from stetho_rt.dsp._jit import kernel
from stetho_rt.dsp.filters import sos_sample
from stetho_rt.dsp.stage import DEFAULT_MAX_BLOCK, Float32Array, Stage, batch_max_block, run_batch

__all__ = [
    "HUM_FIRST_ON_DB",
    "HUM_FRAMES_SUMMED",
    "HUM_FRAME_SAMPLES",
    "HUM_NEIGHBOUR_OFFSETS_HZ",
    "HUM_NOTCH_Q",
    "HUM_OFF_DB",
    "HUM_ON_DB",
    "HUM_POWER_FLOOR",
    "HUM_RAMP_SAMPLES",
    "HumStage",
    "hum_lines_hz",
    "peak_biquad",
    "remove_hum",
]

#: Analysis frame [samples at 2 kHz]: 1 s, so the spectrum's bins fall on whole hertz.
HUM_FRAME_SAMPLES = 2000
#: Frames whose power spectra are summed for a decision (4 s; from 2 frames on).
HUM_FRAMES_SUMMED = 4
#: A line switches on this far above its neighbours' mean power [dB] ...
HUM_ON_DB = 10.0
#: ... and off below this [dB].
HUM_OFF_DB = 6.0
#: From the first frame alone a line switches on only this far above its neighbours [dB] (a
#: single frame's bins scatter more; strong hum is then removed after 1 s instead of 2 s).
HUM_FIRST_ON_DB = 20.0
#: Quality factor of each line's notch (centre / -3 dB bandwidth).
HUM_NOTCH_Q = 30.0
#: Length of a line gain's ramp on and off [samples at 2 kHz] (50 ms).
HUM_RAMP_SAMPLES = 100
#: Line power below which a line never switches on: the Goertzel power of the Hann-windowed
#: frames, summed over the frames (a tone of amplitude A gives about (A * 2000 / 4)^2 per frame),
#: so 1e-14 is a tone near -200 dBFS: only digital silence stays below it.
HUM_POWER_FLOOR = 1e-14
#: A line that is on is retuned when its interpolated peak moved more than this [Hz] (the grid
#: wanders by tenths of a hertz; at 0.1 Hz off a Q 30 notch at 50 Hz would cut only 18 dB).
HUM_RETUNE_HZ = 0.02

_F32_MAX = float(np.finfo(np.float32).max)


def hum_lines_hz(cfg: DspConfig) -> np.ndarray:
    """The line frequencies watched [Hz], sorted (:attr:`DspConfig.mains_lines_hz`)."""
    return np.array(cfg.mains_lines_hz, dtype=np.int64)


@kernel
def _set_peak(coef: np.ndarray, k: int, f_hz: float, q: float, rate: float) -> None:
    """Row ``k`` of ``coef`` := the peak section of :func:`peak_biquad`."""
    w0 = 2.0 * np.pi * f_hz / rate
    gain = 1.0 / (1.0 + np.tan(0.5 * w0 / q))  # -3 dB edges (gb = 1/sqrt(2) in scipy's design)
    coef[k, 0] = 1.0 - gain
    coef[k, 1] = 0.0
    coef[k, 2] = gain - 1.0
    coef[k, 3] = 1.0
    coef[k, 4] = -2.0 * gain * np.cos(w0)
    coef[k, 5] = 2.0 * gain - 1.0


def peak_biquad(f_hz: float, q: float, rate: float) -> np.ndarray:
    """Second-order peak (resonator) section at ``f_hz`` [Hz], quality ``q``, as
    :func:`scipy.signal.iirpeak`: ``b0 b1 b2 a0 a1 a2`` (``a0 = 1``), shape (6,), float64, the
    layout of :func:`~stetho_rt.dsp.filters.sos_sample`. ``1 - H`` is the matching notch
    (:func:`scipy.signal.iirnotch`)."""
    coef = np.zeros((1, 6), dtype=np.float64)
    _set_peak(coef, 0, f_hz, q, rate)
    return coef[0]


@kernel
def _hum_kernel(x: np.ndarray, start: int, stop: int, out: np.ndarray, frame: np.ndarray,
                frame_pos: int, coef: np.ndarray, zi: np.ndarray, gain: np.ndarray,
                target: np.ndarray, step: float, counts: np.ndarray) -> None:
    """Filter ``x[start:stop]`` into ``out[start:stop]`` and copy it (finite) into ``frame`` from
    ``frame_pos``; add the non-finite inputs (used as 0.0) to ``counts[0]`` and the samples with
    a line's gain above 0 to ``counts[1]``.

    ``coef`` (lines, 6) peak sections, ``zi`` (lines, 2) their TDF-II states, ``gain`` (lines,)
    moving towards ``target`` (lines,) by ``step`` per sample. Each active line ``k`` takes
    ``y -= gain[k] * peak_k(y)`` in turn (a cascade of notches once the gains are 1); a line
    whose gain and target are both 0 is skipped (its state is left as it is)."""
    n_lines = coef.shape[0]
    idle = True  # no line on or ramping: the samples pass as they are (the usual case)
    for k in range(n_lines):
        if gain[k] != 0.0 or target[k] != 0.0:
            idle = False
    for t in range(start, stop):
        v = np.float64(x[t])
        if not np.isfinite(v):
            v = 0.0
            counts[0] += 1
        frame[frame_pos + t - start] = v
        if idle:
            out[t] = v
            continue
        y = v
        removing = False
        for k in range(n_lines):
            g = gain[k]
            if g == 0.0 and target[k] == 0.0:
                continue
            # the sections in cascade: each resonator hears what the lines before left
            p = sos_sample(coef[k : k + 1], zi[k : k + 1], y)
            if g < target[k]:
                g = min(g + step, target[k])
            elif g > target[k]:
                g = max(g - step, target[k])
            gain[k] = g
            y -= g * p
            removing = removing or g > 0.0
        if removing:
            counts[1] += 1
        out[t] = min(max(y, -_F32_MAX), _F32_MAX)


@kernel
def _prime_kernel(coef: np.ndarray, zi: np.ndarray, k: int, frame: np.ndarray) -> None:
    """Run line ``k``'s resonator from rest over ``frame`` (float64), leaving its state warm."""
    zi[k, 0] = 0.0
    zi[k, 1] = 0.0
    for t in range(frame.shape[0]):
        sos_sample(coef[k : k + 1], zi[k : k + 1], frame[t])


#: Bins per line in the analysis: the line, its four neighbours, then 1 Hz below and above it.
_BINS_PER_LINE = 7


@kernel
def _analyse_kernel(frame: np.ndarray, window: np.ndarray, c2: np.ndarray, s: np.ndarray,
                    history: np.ndarray, slot: int, n_frames: int, lines_hz: np.ndarray,
                    target: np.ndarray, tuned_hz: np.ndarray, coef: np.ndarray, q: float,
                    rate: float, on_ratio: float, off_ratio: float, floor: float,
                    retune_hz: float, switch: np.ndarray) -> int:
    """One analysis frame.

    The Hann-windowed power of ``frame`` at the bins of ``c2`` (Goertzel, ``c2 = 2 cos(2 pi f /
    rate)``, shape (lines * per_line,): per line its own bin, its neighbours, then 1 Hz below
    and above it) goes into ``history[slot]`` (shape (lines, per_line)). From the sum over the first
    ``n_frames`` slots, per line: the peak frequency, interpolated (parabola through the log
    powers at ``f - 1, f, f + 1``, within ±0.5 Hz of ``lines_hz``); a line that is on is switched
    off (``target`` 0) below ``off_ratio`` times its neighbours' mean or at zero power, and
    otherwise retuned (``coef`` row and ``tuned_hz``) when its peak moved more than
    ``retune_hz``; a line that is off and above ``floor`` and ``on_ratio`` times its neighbours
    is tuned and its index written to ``switch``. Returns the count of lines to switch on
    (the caller primes their resonators and sets their targets). ``s`` (2, bins) is work."""
    n_bins = c2.shape[0]
    s[:, :] = 0.0
    for t in range(frame.shape[0]):
        v = frame[t] * window[t]
        for b in range(n_bins):
            s0 = v + c2[b] * s[0, b] - s[1, b]
            s[1, b] = s[0, b]
            s[0, b] = s0
    n_lines = history.shape[1]
    per_line = history.shape[2]
    for b in range(n_bins):
        p = s[0, b] * s[0, b] + s[1, b] * s[1, b] - c2[b] * s[0, b] * s[1, b]
        history[slot, b // per_line, b % per_line] = max(p, 0.0)
    n_on = 0
    for k in range(n_lines):
        line = 0.0
        around = 0.0
        below = 0.0
        above = 0.0
        for m in range(n_frames):
            line += history[m, k, 0]
            for j in range(1, per_line - 2):
                around += history[m, k, j]
            below += history[m, k, per_line - 2]
            above += history[m, k, per_line - 1]
        around /= per_line - 3
        on = target[k] != 0.0
        if on and (line <= 0.0 or line < off_ratio * around):
            target[k] = 0.0
            continue
        if not on and not (line > floor and line >= on_ratio * around):
            continue
        delta = 0.0
        if below > 0.0 and above > 0.0:
            lo = np.log(below)
            mid = np.log(line)
            hi = np.log(above)
            den = lo - 2.0 * mid + hi
            if den < 0.0:  # a maximum
                delta = min(max(0.5 * (lo - hi) / den, -0.5), 0.5)
        f = lines_hz[k] + delta
        if not on or abs(f - tuned_hz[k]) > retune_hz:
            _set_peak(coef, k, f, q, rate)
            tuned_hz[k] = f
        if not on:
            switch[n_on] = k
            n_on += 1
    return n_on


@functools.lru_cache(maxsize=8)
def _design(lines_hz: tuple[int, ...], rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What every stage watching ``lines_hz`` [Hz] at ``rate`` [Hz] shares (read-only arrays):
    the sections tuned to the nominal lines, shape (lines, 6); the analysis frame's Hann window,
    shape (frame,); the Goertzel coefficients ``2 cos(2 pi f / rate)`` of each line's bins (the
    line, its four neighbours, then 1 Hz below and above), shape (lines * 7,)."""
    coef = np.zeros((len(lines_hz), 6), dtype=np.float64)
    for k, f in enumerate(lines_hz):
        coef[k] = peak_biquad(float(f), HUM_NOTCH_Q, rate)
    window = np.hanning(HUM_FRAME_SAMPLES + 2)[1:-1]
    offsets = np.array((0, *HUM_NEIGHBOUR_OFFSETS_HZ, -1, 1))
    bins = np.array(lines_hz, dtype=np.float64)[:, None] + offsets[None, :]
    c2 = 2.0 * np.cos(2.0 * np.pi * bins.ravel() / rate)
    for a in (coef, window, c2):
        a.flags.writeable = False
    return coef, window, c2


class HumStage(Stage):
    """Mains hum removal, 2000 Hz in and out, no delay (see the module docstring).

    Parameters
    ----------
    cfg : DspConfig
        ``mains_hz`` (candidate mains frequencies [Hz]; empty: the stage passes its input
        through) and the band-pass edges that bound the lines watched.
    max_block : int
        Largest input block per call [samples].

    Attributes
    ----------
    lines_hz : ndarray, int64, shape (lines,)
        Line frequencies watched [Hz].
    lines_removed_hz : set of int
        Lines removed at any time since construction or ``reset()`` [Hz].
    nonfinite_samples : int
        Non-finite input samples (filtered as 0.0).
    """

    def __init__(self, cfg: DspConfig = DspConfig(), max_block: int = DEFAULT_MAX_BLOCK) -> None:
        rate = cfg.internal_rate
        super().__init__(rate, rate, 0, max_block)
        self.lines_hz = hum_lines_hz(cfg)
        n = self.lines_hz.shape[0]
        design = _design(tuple(int(f) for f in self.lines_hz), self.out_rate)
        self._coef0, self._window, self._c2 = design  # shared, read-only
        self._coef = self._coef0.copy()
        self._zi = np.zeros((n, 2), dtype=np.float64)
        self._gain = np.zeros(n, dtype=np.float64)
        self._target = np.zeros(n, dtype=np.float64)
        self._step = 1.0 / HUM_RAMP_SAMPLES
        self._frame = np.zeros(HUM_FRAME_SAMPLES, dtype=np.float64)
        self._on_ratio = 10.0 ** (HUM_ON_DB / 10.0)
        self._off_ratio = 10.0 ** (HUM_OFF_DB / 10.0)
        self._first_on_ratio = 10.0 ** (HUM_FIRST_ON_DB / 10.0)
        self._lines_f = self.lines_hz.astype(np.float64)
        self._tuned = self._lines_f.copy()  # the frequency each line's section is tuned to [Hz]
        self._goertzel = np.zeros((2, self._c2.shape[0]), dtype=np.float64)
        # power at each line's bins per frame, the last HUM_FRAMES_SUMMED frames (a ring)
        self._history = np.zeros((HUM_FRAMES_SUMMED, n, _BINS_PER_LINE), dtype=np.float64)
        self._switch = np.zeros(n, dtype=np.int64)
        self._out = np.zeros(max_block, dtype=np.float32)
        self._counts = np.zeros(2, dtype=np.int64)  # non-finite inputs, samples with a line removed
        self._reset()

    # ------------------------------------------------------------------ reporting
    @property
    def nonfinite_samples(self) -> int:
        """Non-finite input samples since construction or ``reset()``."""
        return int(self._counts[0])

    @property
    def removed_samples(self) -> int:
        """Samples output while at least one line was being removed (its gain above 0)."""
        return int(self._counts[1])

    @property
    def active_lines_hz(self) -> list[int]:
        """Lines being removed now (gain above 0) [Hz]."""
        return [int(f) for f, g in zip(self.lines_hz, self._gain, strict=True) if g > 0.0]

    # ------------------------------------------------------------------ stage protocol
    def warm_up(self) -> None:
        """Compile (or load) every kernel, those run once a second and at a line's switch-on
        too (also when this stage watches no line: the graphs of a process are warmed once per
        input rate, and a later one may watch lines), then reset."""
        if self.lines_hz.shape[0] == 0:  # mains off: a process may build a stage with lines
            HumStage(DspConfig(), max_block=64).warm_up()  # later, whose kernels must be ready
        super().warm_up()
        if self.lines_hz.shape[0]:
            _prime_kernel(self._coef, self._zi, 0, self._frame)
            self._analyse_frame()
        self.reset()

    def _process(self, x: Float32Array) -> Float32Array:
        n = x.shape[0]
        done = 0
        while done < n:
            take = min(n - done, HUM_FRAME_SAMPLES - self._frame_pos)
            _hum_kernel(x, done, done + take, self._out, self._frame, self._frame_pos,
                        self._coef, self._zi, self._gain, self._target, self._step,
                        self._counts)
            self._frame_pos += take
            done += take
            if self._frame_pos == HUM_FRAME_SAMPLES:
                self._analyse_frame()
                self._frame_pos = 0
        return self._out[:n]

    def _flush(self) -> Float32Array:
        return self._out[:0]

    def _reset(self) -> None:
        self._zi[:] = 0.0
        self._gain[:] = 0.0
        self._target[:] = 0.0
        self._history[:] = 0.0
        self._tuned[:] = self._lines_f
        self._coef[:] = self._coef0
        self._frame_pos = 0
        self._frames_seen = 0
        self._counts[:] = 0
        self.lines_removed_hz: set[int] = set()

    # ------------------------------------------------------------------ analysis
    def _analyse_frame(self) -> None:
        """Decide each line on or off (and retune those on) from the last frames' powers."""
        n_lines = self.lines_hz.shape[0]
        if n_lines == 0:
            return
        slot = self._frames_seen % HUM_FRAMES_SUMMED
        self._frames_seen += 1
        n_frames = min(self._frames_seen, HUM_FRAMES_SUMMED)
        on_ratio = self._on_ratio if self._frames_seen >= 2 else self._first_on_ratio
        n_on = _analyse_kernel(self._frame, self._window, self._c2, self._goertzel,
                               self._history, slot, n_frames, self._lines_f, self._target,
                               self._tuned, self._coef, HUM_NOTCH_Q, self.out_rate, on_ratio,
                               self._off_ratio, HUM_POWER_FLOOR, HUM_RETUNE_HZ, self._switch)
        for i in range(n_on):  # tuned by the kernel: start each from the last frame, then on
            k = int(self._switch[i])
            if self._gain[k] == 0.0:  # a resonator still ringing down keeps its state
                _prime_kernel(self._coef, self._zi, k, self._frame)
            self._target[k] = 1.0
            self.lines_removed_hz.add(int(self.lines_hz[k]))


def remove_hum(x: np.ndarray, cfg: DspConfig = DspConfig()) -> np.ndarray:
    """Batch form: a new :class:`HumStage` over ``x`` (2 kHz samples), then flushed."""
    stage = HumStage(cfg, max_block=batch_max_block(np.asarray(x)))
    return run_batch(stage, x)
