"""Incremental resampler from any integer input rate (1 kHz .. 192 kHz) to the internal 2 kHz.

Design
------
The input at ``fs`` Hz goes through three steps, all streaming, in one numba kernel:

1. **Rate change to an intermediate rate** ``fs_mid = fs * up / down`` (an exact rational):

   - ``fs >= 16 kHz``: integer pre-decimation by ``down`` (``fs_mid`` in 8-16 kHz, a multiple of
     2 kHz when one exists: 16/48/96/192 kHz -> 8 kHz, 44.1 kHz -> 8.82 kHz) with a linear-phase
     Kaiser FIR (pass band 0-800 Hz, stop band ``fs_mid - 1000`` Hz .. ``fs / 2`` so nothing folds
     into 0-1000 Hz, ``cfg.resample_stop_db + 5`` dB), evaluated only at the retained instants in
     polyphase form (``taps / down``, about 8, multiply-adds per input sample, vectorised);
   - ``fs < 8 kHz``, not a multiple of 2 kHz: zero-stuffing by ``up`` (``fs_mid`` in 4-16 kHz,
     a multiple of 2 kHz when one exists); step 2 removes the images;
   - otherwise ``fs_mid = fs``.

2. **Anti-alias low-pass**: an elliptic IIR (``scipy.signal.ellip``, order 10-12) at ``fs_mid``,
   float64 second-order sections with carried state: pass edge ``cfg.resample_pass_hz`` (800 Hz,
   0.05 dB ripple), stop edge 1000 Hz (the output Nyquist), ``cfg.resample_stop_db + 3`` dB (88 dB;
   ``+ 20 log10(up)`` more after zero-stuffing, whose ``up`` images may add coherently). Below
   2 kHz input the edges are ``0.4 * fs`` and ``0.5 * fs``: the images of the input band are
   rejected (there is nothing above the input Nyquist). A linear-phase FIR would need ~15 ms of
   delay for this 800-1000 Hz transition; the elliptic's group delay is 1.0-1.5 ms in 25-400 Hz.

3. **Rational interpolation** at the output instants: output ``k`` is the low-passed signal at
   intermediate position ``k * M / L - S`` (``M / L = fs_mid / 2000`` reduced), a Kaiser-windowed
   sinc of cut-off ``fs_mid / 2`` (``2 * S`` taps, transition 1000 Hz .. ``fs_mid - 1000`` Hz,
   ``stop_db + 5`` dB) read from a polyphase table of ``L`` phases (a unit impulse at phase 0).
   When ``fs_mid`` is a multiple of 2 kHz (``L == 1``: 4, 6, 8, 16, 48, 96, 192 kHz...) this is
   plain decimation, one tap and ``S = 0``. When ``L`` exceeds :data:`MAX_EXACT_PHASES` (odd
   rates such as 44101 Hz) the table has that many rows and the weights are interpolated linearly
   between neighbouring rows (weights within -130 dB of the exact kernel).

Positions are exact integers (the phase numerator modulo ``L``), never accumulated floats, each
sum runs in a fixed order, and the IIR state clean-up (tiny or NaN states are zeroed, keeping
float64 denormals out of the recursion during digital silence) runs every 256 intermediate samples
counted from the stream start: any chunking of the input gives bit-identical output.

Output pacing
-------------
Output ``k`` is emitted by the call in which the cumulative input count ``n`` first satisfies
``k * fs < 2000 * n``: after ``n`` input samples exactly ``ceil(2000 * n / fs)`` outputs have been
emitted, so a call returns ``floor`` or ``ceil`` of ``2000 * len(x) / fs`` samples, never a burst.
Every sample an output needs is available by then (this is why step 3 is shifted by ``S``).

Latency
-------
``latency`` (output samples at 2 kHz) is ``round(2000 * delay_s)``, where ``delay_s`` is the group
delay of the whole chain (FIR ``(taps - 1) / 2 / fs``, elliptic, interpolation shift
``S / fs_mid``) averaged over the heart-sound band ``cfg.bandpass_low_hz`` ..
``cfg.bandpass_high_hz`` (25-400 Hz) as the least-squares slope of its phase (:func:`band_delay_s`).
Examples: 44.1 kHz 2.11 ms (4 samples), 48 kHz 1.73 ms (3), 4 kHz 1.06 ms (2), 11.025 kHz 1.62 ms
(3); every rate from 2 kHz up stays below 2.3 ms, 1 kHz input 3.95 ms (its edges are halved). Output
``k`` describes input time ``(k - latency) / 2000`` s. Thanks to the pacing rule this is also the
real-time delay of the stage: there is no further buffering beyond the input block itself.

Design cache
------------
:func:`design` computes the filters with ``scipy.signal`` only when the plan is not in the design
cache (:func:`~stetho_rt.dsp.designs.cached_design`), so a warm start does not import scipy.

Flush tail
----------
:meth:`ResampleStage.flush` feeds just enough zeros (at most ``latency * fs / 2000 + 1``) to emit
exactly ``latency`` more samples, so ``n`` input samples yield ``ceil(2000 * n / fs) + latency``
outputs in total and ``out[latency:]`` covers exactly the input's duration. A second ``flush``
without new input returns nothing. At 2000 Hz the stage copies its input into its own buffer:
``latency == 0`` and ``flush`` is empty.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stetho_rt.config import DspConfig, check_input_rate
from stetho_rt.dsp._jit import kernel
from stetho_rt.dsp.designs import cached_design
from stetho_rt.dsp.filters import BandpassStage, sos_sample
from stetho_rt.dsp.hum import remove_hum
from stetho_rt.dsp.stage import DEFAULT_MAX_BLOCK, Float32Array, Stage, batch_max_block, run_batch
from stetho_rt.errors import ConfigError

#: Largest polyphase table with one row per exact phase [phases]; beyond it rows are interpolated.
MAX_EXACT_PHASES = 2048
#: Elliptic pass-band ripple [dB, peak to peak].
ELLIPTIC_RIPPLE_DB = 0.05
#: Design margins over ``cfg.resample_stop_db`` [dB]: elliptic, and the Kaiser FIR / interpolator.
ELLIPTIC_MARGIN_DB = 3.0
KAISER_MARGIN_DB = 5.0
#: Target intermediate rate band [Hz]: decimate down to [8, 16) kHz, stuff up to at least 4 kHz.
_MID_LOW_HZ = 8000
_MID_HIGH_HZ = 16000
_MID_MIN_HZ = 4000
#: IIR states below this magnitude are zeroed every ``_CLEAN_EVERY`` intermediate samples (at fixed
#: global sample indices, so chunking does not matter).
_TINY = 1e-200
_CLEAN_EVERY = 256

# Layout of the int64 control vector passed to the kernels: constants, then state.
(
    _C_DOWN,  # decimation factor
    _C_UP,  # zero-stuffing factor
    _C_NQ,  # FIR taps per polyphase branch
    _C_MDIV,  # output step M // L [intermediate samples]
    _C_MMOD,  # output step M % L [1 / L intermediate samples]
    _C_L,  # exact phases L
    _C_P,  # table phases (== L when exact)
    _C_TAPS,  # interpolation taps
    _C_LEFT,  # taps left of the integer position
    _C_FS,  # input rate [Hz]
    _C_OUT,  # output rate [Hz]
    _C_HIST,  # history kept in the intermediate buffer [samples]
    _S_WCOL,  # write column of the next input sample in the de-interleaved buffer
    _S_WROW,  # write row (polyphase branch) of the next input sample
    _S_IPOS,  # integer position of the next output, relative to the intermediate buffer
    _S_PHASE,  # its phase numerator (0 .. L-1)
    _S_EMIT,  # k * fs - 2000 * n for the next output k after n inputs (emit while < 0)
    _S_TICK,  # intermediate samples since the last state clean-up
) = range(18)
_N_CTL = 18


@dataclass(frozen=True, eq=False)
class ResamplePlan:
    """Filters and integer arithmetic of one resampler (see the module docstring).

    Attributes
    ----------
    in_rate, out_rate : int
        Input and output rates [Hz].
    up, down : int
        Zero-stuffing and decimation factors; intermediate rate ``in_rate * up / down`` [Hz].
    pass_hz, stop_hz : float
        Pass- and stop-band edges of the chain [Hz].
    fir : numpy.ndarray
        Pre-decimation FIR taps (float64, ``[1.0]`` when ``down == 1``).
    sos : numpy.ndarray
        Elliptic low-pass, ``(n_sections, 6)`` float64, designed at the intermediate rate.
    table : numpy.ndarray
        Interpolation kernel, ``(phases + 1, taps)`` float64; row ``r`` holds the weights of
        samples ``i - left .. i - left + taps - 1`` for the fractional position ``i + r / phases``.
    m, l : int
        Output step ``m / l`` in intermediate samples (``l`` exact phases).
    phases : int
        Rows of ``table`` minus one (``== l`` when exact, else :data:`MAX_EXACT_PHASES`).
    left : int
        Taps left of the integer position.
    shift : int
        Interpolation shift ``S`` [intermediate samples].
    delay_s : float
        Group delay of the chain averaged over the heart-sound band (least-squares phase slope,
        :func:`band_delay_s`) [s].
    latency : int
        ``round(delay_s * out_rate)`` [output samples].
    """

    in_rate: int
    out_rate: int
    up: int
    down: int
    pass_hz: float
    stop_hz: float
    fir: np.ndarray
    sos: np.ndarray
    table: np.ndarray
    m: int
    l: int  # noqa: E741 - the conventional name of the interpolation factor
    phases: int
    left: int
    shift: int
    delay_s: float
    latency: int

    @property
    def mid_rate(self) -> float:
        """Intermediate rate [Hz]."""
        return self.in_rate * self.up / self.down

    def response(self, freqs_hz: np.ndarray) -> np.ndarray:
        """Complex frequency response of the chain at ``freqs_hz`` [Hz] (below 1000 Hz).

        Includes every delay (FIR, elliptic and the interpolation shift), i.e. it maps the input
        spectrum to the output spectrum on the output time base (before any latency alignment).
        """
        from scipy import signal  # heavy import, only at design time

        f = np.asarray(freqs_hz, dtype=np.float64)
        fs_mid = self.mid_rate
        _, h_fir = signal.freqz(self.fir, worN=f, fs=float(self.in_rate))
        _, h_iir = signal.sosfreqz(self.sos, worN=f, fs=fs_mid)
        h_shift = np.exp(-2j * np.pi * f * self.shift / fs_mid)
        # The interpolation kernel is flat (< 1e-4 dB) below the pass edge; exact for l == 1.
        return h_fir * h_iir * h_shift


def _kaiser_beta(atten_db: float) -> float:
    from scipy import signal  # heavy import, only at design time

    return float(signal.kaiser_beta(atten_db))


def _choose_factors(fs: int, out_rate: int) -> tuple[int, int]:
    """(up, down) so that the intermediate rate suits the filters (module docstring, step 1)."""
    if fs >= _MID_HIGH_HZ:
        d0 = fs // _MID_LOW_HZ
        d = d0
        while d >= 1 and fs / d < _MID_HIGH_HZ:
            if fs % (out_rate * d) == 0:
                return 1, d
            d -= 1
        return 1, d0
    if fs >= _MID_LOW_HZ or fs % out_rate == 0:
        return 1, 1
    u_max = -(-_MID_LOW_HZ // fs)
    for u in range(1, u_max + 1):
        if fs * u >= _MID_MIN_HZ and (fs * u) % out_rate == 0:
            return u, 1
    return u_max, 1


def _design_fir(fs: int, pass_hz: float, stop_hz: float, atten_db: float) -> np.ndarray:
    """Kaiser low-pass: pass ``pass_hz``, stop ``stop_hz`` .. ``fs / 2`` (checked on a grid)."""
    from scipy import signal  # heavy import, only at design time

    width = (stop_hz - pass_hz) / (fs / 2)
    numtaps, _ = signal.kaiserord(atten_db, width)
    beta = _kaiser_beta(atten_db)
    cutoff = 0.5 * (pass_hz + stop_hz)
    grid = np.linspace(stop_hz, fs / 2, 4096)
    while True:
        taps = signal.firwin(numtaps, cutoff, window=("kaiser", beta), fs=fs)
        _, h = signal.freqz(taps, worN=grid, fs=fs)
        if 20 * np.log10(np.abs(h).max() + 1e-300) <= -(atten_db - 1.0):
            return taps
        numtaps += 1


def _kernel_weights(t: np.ndarray, half: int, beta: float) -> np.ndarray:
    """Kaiser-windowed sinc (cut-off half the intermediate rate) at offsets ``t`` [samples]."""
    u = t / half
    inside = np.abs(u) < 1.0
    w = np.zeros_like(t)
    w[inside] = np.i0(beta * np.sqrt(1.0 - u[inside] ** 2)) / np.i0(beta)
    return np.sinc(t) * w


def _design_table(
    fs_mid: float, stop_hz: float, l_phases: int, atten_db: float
) -> tuple[np.ndarray, int, int, int]:
    """Polyphase interpolation table; returns ``(table, phases, left, shift)``."""
    if l_phases == 1:
        return np.ones((2, 1)), 1, 0, 0
    delta = 1.0 - 2.0 * stop_hz / fs_mid  # transition width / fs_mid
    half = max(1, math.ceil((atten_db - 7.95) / (2.285 * 2.0 * np.pi * delta) / 2.0))
    beta = _kaiser_beta(atten_db)
    phases = l_phases if l_phases <= MAX_EXACT_PHASES else MAX_EXACT_PHASES
    taps = 2 * half
    left = half - 1
    rows = np.arange(phases + 1)[:, None] / phases  # fractional position mu in [0, 1]
    offsets = np.arange(taps)[None, :] - left  # sample j relative to the integer position
    table = _kernel_weights((offsets - rows).astype(np.float64), half, beta)
    table[0] = 0.0
    table[0, left] = 1.0  # exact unit impulse at integer positions
    table[phases] = 0.0
    table[phases, left + 1] = 1.0
    return table, phases, left, half


def design(in_rate: int, cfg: DspConfig = DspConfig()) -> ResamplePlan:
    """Design the resampler for ``in_rate`` [Hz] to ``cfg.internal_rate`` (2000 Hz).

    Parameters
    ----------
    in_rate : int
        Input rate [Hz], an integer in 1000..192000, not 2000 (pass-through needs no plan).
    cfg : DspConfig
        Uses ``internal_rate``, ``resample_pass_hz``, ``resample_stop_db`` and the band-pass edges
        (the band over which the group delay is averaged into ``latency``).

    Returns
    -------
    ResamplePlan
        Read from the design cache when present (bit-identical to a fresh design).
    """
    fs = check_input_rate(in_rate)
    out_rate = int(cfg.internal_rate)
    if fs == out_rate:
        raise ConfigError("a 2000 Hz input needs no resampling plan (pass-through)")
    if not 0.0 < cfg.resample_pass_hz < out_rate / 2.0:
        raise ConfigError(
            f"resample_pass_hz={cfg.resample_pass_hz} must be in (0, {out_rate / 2:g}) Hz"
        )
    if cfg.resample_stop_db < 40.0:
        raise ConfigError(f"resample_stop_db={cfg.resample_stop_db} must be at least 40 dB")
    params = (
        fs,
        out_rate,
        cfg.resample_pass_hz,
        cfg.resample_stop_db,
        cfg.bandpass_low_hz,
        cfg.bandpass_high_hz,
        MAX_EXACT_PHASES,
        ELLIPTIC_RIPPLE_DB,
        ELLIPTIC_MARGIN_DB,
        KAISER_MARGIN_DB,
    )
    arrays = cached_design("resample", params, lambda: _plan_to_arrays(_compute_plan(fs, cfg)))
    return _plan_from_arrays(arrays)


_PLAN_INTS = ("in_rate", "out_rate", "up", "down", "m", "l", "phases", "left", "shift", "latency")
_PLAN_FLOATS = ("pass_hz", "stop_hz", "delay_s")


def _plan_to_arrays(plan: ResamplePlan) -> dict[str, np.ndarray]:
    """A plan as a design-cache entry: its arrays, and its scalars as 0-d arrays."""
    out = {"fir": plan.fir, "sos": plan.sos, "table": plan.table}
    out.update({name: np.array(getattr(plan, name), dtype=np.int64) for name in _PLAN_INTS})
    out.update({name: np.array(getattr(plan, name), dtype=np.float64) for name in _PLAN_FLOATS})
    return out


def _plan_from_arrays(a: dict[str, np.ndarray]) -> ResamplePlan:
    """Inverse of :func:`_plan_to_arrays` (Python ``int``/``float`` scalars, as designed)."""
    return ResamplePlan(
        fir=a["fir"],
        sos=a["sos"],
        table=a["table"],
        **{name: int(a[name]) for name in _PLAN_INTS},
        **{name: float(a[name]) for name in _PLAN_FLOATS},
    )


def _compute_plan(fs: int, cfg: DspConfig) -> ResamplePlan:
    """Design the filters of a validated rate and config (the uncached path of :func:`design`)."""
    from scipy import signal  # heavy import, only when the plan is not cached

    out_rate = int(cfg.internal_rate)
    # Below 2 kHz input both edges scale with the input Nyquist (0.4 * fs and 0.5 * fs).
    stop_hz = min(out_rate / 2.0, fs / 2.0)
    pass_hz = float(cfg.resample_pass_hz) * stop_hz / (out_rate / 2.0)
    up, down = _choose_factors(fs, out_rate)
    fs_mid = fs * up / down
    kaiser_db = float(cfg.resample_stop_db) + KAISER_MARGIN_DB
    # Zero-stuffing by ``up`` leaves ``up`` images that may alias onto one output frequency:
    # in the worst case they add coherently, so the elliptic gets 20*log10(up) dB more.
    ellip_db = float(cfg.resample_stop_db) + ELLIPTIC_MARGIN_DB + 20.0 * math.log10(up)

    if down > 1:
        fir = _design_fir(fs, pass_hz, fs_mid - stop_hz, kaiser_db)
    else:
        fir = np.ones(1)
    order, _ = signal.ellipord(pass_hz, stop_hz, ELLIPTIC_RIPPLE_DB, ellip_db, fs=fs_mid)
    sos = signal.ellip(order, ELLIPTIC_RIPPLE_DB, ellip_db, pass_hz, fs=fs_mid, output="sos")

    g = math.gcd(fs * up, out_rate * down)
    m, l_phases = fs * up // g, out_rate * down // g
    table, phases, left, shift = _design_table(fs_mid, stop_hz, l_phases, kaiser_db)

    plan = ResamplePlan(
        in_rate=fs,
        out_rate=out_rate,
        up=up,
        down=down,
        pass_hz=pass_hz,
        stop_hz=stop_hz,
        fir=fir,
        sos=sos,
        table=table,
        m=m,
        l=l_phases,
        phases=phases,
        left=left,
        shift=shift,
        delay_s=0.0,
        latency=0,
    )
    lo = min(float(cfg.bandpass_low_hz), 0.5 * pass_hz)
    hi = min(float(cfg.bandpass_high_hz), pass_hz)
    delay_s = band_delay_s(plan.response, lo, hi)
    return dataclasses.replace(plan, delay_s=delay_s, latency=round(delay_s * out_rate))


def band_delay_s(response: Callable[[np.ndarray], np.ndarray], lo_hz: float, hi_hz: float) -> float:
    """Delay of a response over a band: least-squares slope of its unwrapped phase [s].

    The phase is fitted as ``a - 2*pi*f*delay`` on 256 frequencies evenly spaced in
    ``lo_hz .. hi_hz`` [Hz]: the group delay averaged over the band, free of any phase offset.
    This is what aligning a band-limited signal (e.g. the 25-400 Hz heart sounds) measures.
    """
    f = np.linspace(lo_hz, hi_hz, 256)
    phase = np.unwrap(np.angle(response(f)))
    slope = np.polyfit(2.0 * np.pi * f, phase, 1)[0]
    return float(-slope)


@kernel
def _clean_states(zi: np.ndarray) -> None:
    """Zero states that are tiny (keeps slow float64 denormals out of the recursion in digital
    silence) or NaN (``not >=``: a non-finite burst does not poison the filter forever)."""
    for s in range(zi.shape[0]):
        for c in range(2):
            if not abs(zi[s, c]) >= _TINY:
                zi[s, c] = 0.0


@kernel
def _resample_block(
    x: np.ndarray,
    ctl: np.ndarray,
    fir: np.ndarray,
    xdec: np.ndarray,
    sos: np.ndarray,
    zi: np.ndarray,
    table: np.ndarray,
    ybuf: np.ndarray,
    out: np.ndarray,
) -> int:
    """Process one block; write the outputs now due into ``out`` and return their count.

    Parameters
    ----------
    x : float32 block at the input rate.
    ctl : int64 constants and state (``_C_*``, ``_S_*``).
    fir : ``(down, nq)`` polyphase pre-decimation FIR (``fir[r, q]`` weighs de-interleaved
        column ``q`` of an output's window, row ``r``).
    xdec : ``(down + 1, columns)`` input de-interleaved by ``down`` (sample ``g`` at row
        ``(g - 1) % down`` of column ``(g - 1) // down``) with ``nq`` columns of history; its
        last row is scratch for the FIR outputs.
    sos, zi : ``(sections, 6)`` elliptic coefficients and ``(sections, 2)`` their states
        (filtered one sample at a time by :func:`stetho_rt.dsp.filters.sos_sample`).
    table : ``(phases + 1, taps)`` interpolation weights.
    ybuf : low-passed intermediate signal, ``ctl[_C_HIST]`` samples of history first.
    out : float32 output buffer.
    """
    down = ctl[_C_DOWN]
    up = ctl[_C_UP]
    hist = ctl[_C_HIST]
    n_in = x.shape[0]
    tick = ctl[_S_TICK]
    w = hist
    if down > 1:
        nq = ctl[_C_NQ]
        wc = ctl[_S_WCOL]
        wr = ctl[_S_WROW]
        for j in range(n_in):
            xdec[wr, wc] = x[j]
            wr += 1
            if wr == down:
                wr = 0
                wc += 1
        n_mid = wc - nq + 1  # outputs whose last column is complete
        if n_mid > 0:
            acc = xdec[down]
            for i in range(n_mid):
                acc[i] = 0.0
            # acc[i] = sum over (r, q) in a fixed order: vectorises across i, bit-exact per i.
            for r in range(down):
                row = xdec[r]
                for q in range(nq):
                    c = fir[r, q]
                    for i in range(n_mid):
                        acc[i] += c * row[i + q]
            for i in range(n_mid):
                ybuf[w] = sos_sample(sos, zi, acc[i])
                w += 1
                tick += 1
                if tick == _CLEAN_EVERY:
                    tick = 0
                    _clean_states(zi)
            for r in range(down):
                for q in range(nq):
                    xdec[r, q] = xdec[r, n_mid + q]
            wc -= n_mid
        ctl[_S_WCOL] = wc
        ctl[_S_WROW] = wr
    else:
        gain = float(up)
        for j in range(n_in):
            v = gain * x[j]
            for _ in range(up):
                ybuf[w] = sos_sample(sos, zi, v)
                v = 0.0
                w += 1
                tick += 1
                if tick == _CLEAN_EVERY:
                    tick = 0
                    _clean_states(zi)
    ctl[_S_TICK] = tick
    n_new = w - hist

    l_ph = ctl[_C_L]
    phases = ctl[_C_P]
    mdiv = ctl[_C_MDIV]
    mmod = ctl[_C_MMOD]
    taps = ctl[_C_TAPS]
    left = ctl[_C_LEFT]
    fs = ctl[_C_FS]
    ipos = ctl[_S_IPOS]
    ph = ctl[_S_PHASE]
    emit = ctl[_S_EMIT] - ctl[_C_OUT] * n_in
    n_out = 0
    while emit < 0:
        start = ipos - left
        y = 0.0
        if phases == l_ph:
            for t in range(taps):
                y += table[ph, t] * ybuf[start + t]
        else:
            scaled = ph * phases
            rr = scaled // l_ph
            frac = (scaled - rr * l_ph) / l_ph
            for t in range(taps):
                c0 = table[rr, t]
                y += (c0 + frac * (table[rr + 1, t] - c0)) * ybuf[start + t]
        out[n_out] = y
        n_out += 1
        emit += fs
        ph += mmod
        ipos += mdiv
        if ph >= l_ph:
            ph -= l_ph
            ipos += 1
    for t in range(hist):
        ybuf[t] = ybuf[n_new + t]
    ctl[_S_IPOS] = ipos - n_new
    ctl[_S_PHASE] = ph
    ctl[_S_EMIT] = emit
    return n_out


class ResampleStage(Stage):
    """Streaming resampler from ``in_rate`` to 2000 Hz (module docstring: design, latency, flush).

    Parameters
    ----------
    in_rate : int
        Input rate [Hz], an integer in 1000..192000. 2000 Hz passes through unchanged.
    cfg : DspConfig
        Pass edge, stop-band rejection and the band over which ``latency`` is averaged.
    max_block : int
        Largest input block per call [samples at ``in_rate``]; buffers are sized from it.

    Attributes
    ----------
    plan : ResamplePlan or None
        The filters and factors (None for the 2000 Hz pass-through).
    """

    def __init__(
        self, in_rate: int, cfg: DspConfig = DspConfig(), max_block: int = DEFAULT_MAX_BLOCK
    ) -> None:
        fs = check_input_rate(in_rate)
        out_rate = int(cfg.internal_rate)
        self.plan: ResamplePlan | None = None if fs == out_rate else design(fs, cfg)
        latency = 0 if self.plan is None else self.plan.latency
        super().__init__(fs, out_rate, latency, max_block)
        self._flushed = False
        if self.plan is None:
            self._out = np.zeros(self.max_block, dtype=np.float32)
            return
        p = self.plan
        taps = p.table.shape[1]
        n_mid = -(-self.max_block * p.up // p.down) + 1  # intermediate samples per call, at most
        self._ctl = np.zeros(_N_CTL, dtype=np.int64)
        if p.down > 1:
            nq = -(-p.fir.shape[0] // p.down)
            padded = np.zeros(nq * p.down)
            padded[: p.fir.shape[0]] = p.fir
            # Window of output m: samples m*down - nq*down + 1 .. m*down (newest), i.e. the
            # de-interleaved columns m - nq .. m - 1; fir[r, q] weighs column q, row r.
            self._fir = np.ascontiguousarray(padded[::-1].reshape(nq, p.down).T)
            self._xdec = np.zeros((p.down + 1, nq + n_mid + 1))
        else:
            nq = 1
            self._fir = np.zeros((1, 1))
            self._xdec = np.zeros((1, 1))
        ctl = self._ctl
        ctl[_C_DOWN], ctl[_C_UP], ctl[_C_NQ] = p.down, p.up, nq
        ctl[_C_MDIV], ctl[_C_MMOD], ctl[_C_L], ctl[_C_P] = p.m // p.l, p.m % p.l, p.l, p.phases
        ctl[_C_TAPS], ctl[_C_LEFT], ctl[_C_HIST] = taps, p.left, taps
        ctl[_C_FS], ctl[_C_OUT] = fs, out_rate
        self._sos = np.ascontiguousarray(p.sos, dtype=np.float64)
        self._zi = np.zeros((p.sos.shape[0], 2))
        self._table = np.ascontiguousarray(p.table, dtype=np.float64)
        self._ybuf = np.zeros(taps + n_mid)
        self._out = np.zeros(-(-self.max_block * out_rate // fs) + 2, dtype=np.float32)
        # Flush feeds at most ``latency * fs / 2000 + 1`` zeros, in pieces of this buffer.
        self._zeros = np.zeros(min(self.max_block, self.latency * fs // out_rate + 2), np.float32)
        self._tail = np.zeros(self.latency + 2, dtype=np.float32)
        self._reset()

    def _reset(self) -> None:
        self._flushed = False
        if self.plan is None:
            return
        ctl = self._ctl
        ctl[_S_WCOL:] = 0
        ctl[_S_WCOL] = ctl[_C_NQ] - 1  # sample 0 lands in the last history column
        ctl[_S_WROW] = ctl[_C_DOWN] - 1
        ctl[_S_IPOS] = ctl[_C_HIST] - self.plan.shift
        self._xdec[:] = 0.0
        self._zi[:] = 0.0
        self._ybuf[:] = 0.0

    def _process(self, x: Float32Array) -> np.ndarray:
        self._flushed = False
        if self.plan is None:
            n = x.shape[0]
            self._out[:n] = x
            return self._out[:n]
        k = _resample_block(
            x, self._ctl, self._fir, self._xdec, self._sos, self._zi, self._table, self._ybuf,
            self._out,
        )
        return self._out[:k]

    def _flush(self) -> np.ndarray:
        if self.plan is None or self._flushed or self.latency == 0:
            self._flushed = True
            return self._tail[:0] if self.plan is not None else self._out[:0]
        self._flushed = True
        fs = int(self.in_rate)
        emit = int(self._ctl[_S_EMIT])  # next output k satisfies emit = k*fs - 2000*n >= 0
        need = (emit + (self.latency - 1) * fs) // int(self.out_rate) + 1
        got = 0
        while need > 0 and got < self.latency:
            step = min(need, self._zeros.shape[0])
            piece = self._process(self._zeros[:step])
            take = min(piece.shape[0], self.latency - got)
            self._tail[got : got + take] = piece[:take]
            got += take
            need -= step
        self._flushed = True
        return self._tail[:got]


def resample(x: np.ndarray, in_rate: int, cfg: DspConfig = DspConfig()) -> np.ndarray:
    """Resample a whole signal to 2000 Hz with :class:`ResampleStage` (process, then flush).

    Parameters
    ----------
    x : numpy.ndarray
        1-D signal at ``in_rate`` (converted to float32).
    in_rate : int
        Input rate [Hz], integer in 1000..192000.
    cfg : DspConfig
        DSP configuration.

    Returns
    -------
    numpy.ndarray
        float32 at 2000 Hz, ``ceil(2000 * len(x) / in_rate) + latency`` samples; sample ``k``
        describes input time ``(k - latency) / 2000`` s (drop the first ``latency`` to align).
    """
    return run_batch(ResampleStage(in_rate, cfg), x)


def band_passed(x: np.ndarray, rate: int, cfg: DspConfig) -> tuple[np.ndarray, float]:
    """A whole signal at ``rate`` [Hz] resampled to the internal rate, freed of mains hum and
    band-passed with the pipeline's own stages, one call each (the detector's input, for tools
    and tests).

    Returns the band-passed float32 samples and the summed latency of the two stages [s].
    """
    rs = ResampleStage(rate, cfg, max_block=batch_max_block(x))
    y = remove_hum(run_batch(rs, x), cfg)
    bps = BandpassStage(cfg, max_block=batch_max_block(y))
    return run_batch(bps, y), rs.latency_s + bps.latency_s
