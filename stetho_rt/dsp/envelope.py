"""Heart-sound envelopes for the S1/S2 detector: Hilbert and homomorphic, 2 kHz in, 100 frames/s.

Design
------
Per input sample ``x[t]`` (band-passed, 2000 Hz), all in float64:

1. **Analytic signal.** An odd-length FIR Hilbert transformer (``HILBERT_TAPS`` = 127 taps,
   ideal ``2 / (pi n)`` at odd ``n`` times a Kaiser window, beta 6; gain within 0.1 % of 1 over
   40-960 Hz, 0.998 at 30 Hz, 0.974 at 25 Hz) gives the imaginary part delayed by its half length
   ``M`` = 63 samples; the real part is ``x`` delayed by the same ``M``. The antisymmetric taps
   are applied in pairs (32 multiplies per sample).
2. **Hilbert magnitude** ``m = sqrt(re**2 + im**2)``.
3. **Homomorphic path.** ``log(m + HOMOMORPHIC_EPS)`` through a causal Butterworth low-pass of
   ``cfg.homomorphic_cutoff_hz`` (8 Hz), order ``HOMOMORPHIC_ORDER`` (2), as SOS. Its group
   delay at DC (56 samples = 28.1 ms by default; the delay of an envelope bump's centroid) is
   rounded to ``Dh`` samples, and the Hilbert magnitude is delayed by ``Dh`` so both columns stay
   aligned.
4. **Anti-alias low-pass and decimation by 20.** Both paths go through the same linear-phase FIR
   (Kaiser-windowed sinc, cutoff ``DECIMATION_CUTOFF_HZ`` = 30 Hz, beta 5: -1.3 dB at 15 Hz,
   -17.6 dB at 50 Hz, below -54 dB from 80 Hz up, so nothing folds into 0-20 Hz). The homomorphic
   path is filtered in the log domain and exponentiated afterwards, so the whole path is
   ``exp(lowpass(log(m + eps)))`` and strictly positive. The FIR is evaluated only at the kept
   samples: an output frame is produced at every input index ``t`` with ``t % 20 == 0``
   (stream index, carried across calls), so frame ``k`` is the filtered value at input sample
   ``20 k``. The Hilbert column is clipped at 0 (the FIR's small negative lobes could make it
   dip below 0 right after a sharp offset).

Latency
-------
The FIR's half length ``D`` is the smallest value >= ``DECIMATION_MIN_HALF_LENGTH`` (40) that makes
the total delay a whole number of frames, so the declared latency is exact:

``latency = (M + Dh + D) / 20`` frames = 63 + 56 + 41 = 160 samples = **8 frames (80 ms)** with
the defaults: Hilbert FIR half length 31.5 ms, homomorphic low-pass group delay at DC 28 ms
(the Hilbert column gets the same delay as a pure delay), decimation FIR group delay 20.5 ms.
Frame ``k`` describes input time ``(k - latency) / 100`` s. The homomorphic low-pass is an IIR, so
its delay is exact only for the centroid of an envelope bump; its group delay is 56-67 samples
(28-34 ms) for envelope frequencies 0-8 Hz.

Initial state and policies
--------------------------
The stage starts as if preceded by digital silence: delay lines hold 0, the log-domain filters hold
their steady state for ``log(eps)``. A NaN or ±inf input sample is replaced by 0.0 before it touches
any state and counted in ``nonfinite_samples``; outputs are clipped to the float32 range, so every
output is finite and non-negative. ``flush()`` feeds ``20 * latency`` zero samples and returns the
``latency`` frames they produce, so the last input sample reaches the output at its declared lag
(call ``reset()`` before reusing the stage). The batch function :func:`envelopes` is
``process(x)`` then ``flush()``.

The homomorphic low-pass, its delay and initial state and the decimation FIR come from
:func:`~stetho_rt.dsp.designs.cached_design`: ``scipy.signal`` is imported only when they are not
cached yet.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from stetho_rt.config import DspConfig
from stetho_rt.dsp._jit import kernel
from stetho_rt.dsp.designs import cached_design, memoized_design
from stetho_rt.dsp.filters import sos_group_delay, sos_sample
from stetho_rt.dsp.stage import DEFAULT_MAX_BLOCK, Float32Array, Stage, batch_max_block, run_batch
from stetho_rt.errors import ConfigError

__all__ = [
    "DECIMATION_CUTOFF_HZ",
    "DECIMATION_KAISER_BETA",
    "DECIMATION_MIN_HALF_LENGTH",
    "ENVELOPE_COLUMNS",
    "HILBERT_KAISER_BETA",
    "HILBERT_TAPS",
    "HOMOMORPHIC_EPS",
    "HOMOMORPHIC_ORDER",
    "EnvelopeStage",
    "envelopes",
    "hilbert_fir",
]

#: Names of the output columns, in order.
ENVELOPE_COLUMNS = ("hilbert", "homomorphic")
#: Hilbert transformer length [taps at 2 kHz] (odd) and its Kaiser window beta.
HILBERT_TAPS = 127
HILBERT_KAISER_BETA = 6.0
#: Homomorphic envelope: order of the Butterworth low-pass and the log offset [input units].
HOMOMORPHIC_ORDER = 2
HOMOMORPHIC_EPS = 1e-8
#: Decimation (anti-alias) FIR: cut-off [Hz], Kaiser beta, shortest half length [samples at 2 kHz].
DECIMATION_CUTOFF_HZ = 30.0
DECIMATION_KAISER_BETA = 5.0
DECIMATION_MIN_HALF_LENGTH = 40

_F32_MAX = float(np.finfo(np.float32).max)

# integer parameters and state of the kernel
_IP_NH = 0  # Hilbert taps
_IP_M = 1  # Hilbert half length
_IP_LA = 2  # length of each half of the decimator delay lines
_IP_DH = 3  # extra delay of the Hilbert column
_IP_DECIM = 4
_IS_HPOS = 0
_IS_APOS = 1
_IS_PHASE = 2
_IS_BAD = 3


def hilbert_fir(taps: int = HILBERT_TAPS, beta: float = HILBERT_KAISER_BETA) -> np.ndarray:
    """Kaiser-windowed FIR Hilbert transformer.

    Parameters
    ----------
    taps : int
        Odd length [samples].
    beta : float
        Kaiser window parameter.

    Returns
    -------
    ndarray, float64, shape (taps,)
        Causal impulse response ``h[j] = w[j] * 2 / (pi (j - M))`` for odd ``j - M``, else 0,
        with ``M = (taps - 1) // 2``; ``lfilter(h, 1, x)`` is the Hilbert transform of ``x``
        delayed by ``M`` samples.
    """
    if taps < 3 or taps % 2 == 0:
        raise ConfigError(f"Hilbert FIR length {taps} must be odd and >= 3")
    taps, beta = int(taps), float(beta)
    design = memoized_design("hilbert_fir", (taps, beta), lambda: {"h": _hilbert_fir(taps, beta)})
    return design["h"]


def _hilbert_fir(taps: int, beta: float) -> np.ndarray:
    """:func:`hilbert_fir`'s computation (0.19 ms, mostly the Kaiser window: once per process
    and parameters, not once per batch file)."""
    half = (taps - 1) // 2
    n = np.arange(taps) - half
    h = np.zeros(taps, dtype=np.float64)
    odd = n % 2 != 0
    h[odd] = 2.0 / (np.pi * n[odd])
    return h * np.kaiser(taps, beta)


@kernel
def _dot_back(taps: np.ndarray, buf: np.ndarray, newest: int) -> float:
    """``sum(taps[j] * buf[newest - j])``, summed in index order."""
    acc = 0.0
    for j in range(taps.shape[0]):
        acc += taps[j] * buf[newest - j]
    return acc


@kernel
def _envelope_kernel(
    hc: np.ndarray,
    hbuf: np.ndarray,
    hsos: np.ndarray,
    hzi: np.ndarray,
    aa: np.ndarray,
    mbuf: np.ndarray,
    lbuf: np.ndarray,
    ipar: np.ndarray,
    ist: np.ndarray,
    x: np.ndarray,
    out: np.ndarray,
) -> int:
    """Process ``x`` (float32, 2 kHz) into frames ``out`` (float32, (rows, 2)); return the count."""
    nh = ipar[_IP_NH]
    half = ipar[_IP_M]
    la = ipar[_IP_LA]
    dh = ipar[_IP_DH]
    decim = ipar[_IP_DECIM]
    npairs = hc.shape[0]
    hpos = ist[_IS_HPOS]
    apos = ist[_IS_APOS]
    phase = ist[_IS_PHASE]
    bad = 0
    nf = 0
    for t in range(x.shape[0]):
        v = np.float64(x[t])
        if not np.isfinite(v):
            v = 0.0
            bad += 1
        # Hilbert: double-length circular history, newest at hpos + nh, x[t - j] = hbuf[hpos+nh-j]
        hbuf[hpos] = v
        hbuf[hpos + nh] = v
        c = hpos + nh - half
        re = hbuf[c]
        im = 0.0
        for k in range(npairs):
            n = 2 * k + 1
            im += hc[k] * (hbuf[c - n] - hbuf[c + n])
        hpos += 1
        if hpos == nh:
            hpos = 0
        mag = math.sqrt(re * re + im * im)
        lg = sos_sample(hsos, hzi, math.log(mag + HOMOMORPHIC_EPS))
        mbuf[apos] = mag
        mbuf[apos + la] = mag
        lbuf[apos] = lg
        lbuf[apos + la] = lg
        if phase == 0:
            acc = _dot_back(aa, mbuf, apos + la - dh)
            if acc < 0.0:
                acc = 0.0
            elif acc > _F32_MAX:
                acc = _F32_MAX
            out[nf, 0] = acc
            acc = _dot_back(aa, lbuf, apos + la)
            e = math.exp(acc) if acc < 700.0 else _F32_MAX
            out[nf, 1] = e if e < _F32_MAX else _F32_MAX
            nf += 1
        apos += 1
        if apos == la:
            apos = 0
        phase += 1
        if phase == decim:
            phase = 0
    ist[_IS_HPOS] = hpos
    ist[_IS_APOS] = apos
    ist[_IS_PHASE] = phase
    ist[_IS_BAD] += bad
    return nf


class EnvelopeStage(Stage):
    """Hilbert and homomorphic envelopes of band-passed samples, decimated to frames.

    Parameters
    ----------
    cfg : DspConfig
        Uses ``internal_rate`` (2000 Hz in), ``envelope_rate`` (100 frames/s out) and
        ``homomorphic_cutoff_hz`` [Hz].
    max_block : int
        Largest input block per call [samples at 2 kHz].

    Attributes
    ----------
    latency : int
        Output lag [frames]: 8 (80 ms) with the defaults; see the module docstring.
    decimation : int
        Input samples per frame (20).
    hilbert_delay, homomorphic_delay, decimation_delay : int
        The three parts of the latency [samples at 2 kHz]: ``M``, ``Dh``, ``D`` (63, 56, 41).
    hilbert_taps : ndarray, float64, shape (HILBERT_TAPS,)
    homomorphic_sos : ndarray, float64, shape (n_sections, 6)
    decimation_taps : ndarray, float64, shape (2 D + 1,)

    Notes
    -----
    ``process(x)`` returns a float32 view of shape ``(n_frames, 2)``, columns
    :data:`ENVELOPE_COLUMNS`; ``n_frames`` is the number of stream indices ``t % 20 == 0`` in the
    block (about ``len(x) / 20``).
    """

    def __init__(self, cfg: DspConfig = DspConfig(), max_block: int = DEFAULT_MAX_BLOCK) -> None:
        rate = cfg.internal_rate
        decim = rate // cfg.envelope_rate
        if not 0 < cfg.homomorphic_cutoff_hz < rate / 2:
            raise ConfigError(
                f"homomorphic_cutoff_hz={cfg.homomorphic_cutoff_hz} must lie in (0, {rate / 2}) Hz"
            )
        self.decimation = int(decim)
        self.hilbert_taps = hilbert_fir()
        self.hilbert_delay = (HILBERT_TAPS - 1) // 2
        cutoff, decimation = cfg.homomorphic_cutoff_hz, self.decimation
        hilbert_delay = self.hilbert_delay
        design = cached_design(
            "envelope",
            (
                rate,
                cutoff,
                decimation,
                hilbert_delay,
                HOMOMORPHIC_ORDER,
                HOMOMORPHIC_EPS,
                DECIMATION_MIN_HALF_LENGTH,
                DECIMATION_CUTOFF_HZ,
                DECIMATION_KAISER_BETA,
            ),
            lambda: _compute_design(rate, cutoff, decimation, hilbert_delay),
        )
        self.homomorphic_sos = design["homomorphic_sos"]
        self.homomorphic_delay = int(design["homomorphic_delay"])
        self.decimation_delay = int(design["decimation_delay"])
        self.decimation_taps = design["decimation_taps"]
        total = self.hilbert_delay + self.homomorphic_delay + self.decimation_delay
        super().__init__(rate, cfg.envelope_rate, total // self.decimation, max_block)

        nh = HILBERT_TAPS
        la = self.decimation_taps.shape[0] + self.homomorphic_delay
        self._hc = np.ascontiguousarray(self.hilbert_taps[self.hilbert_delay + 1 :: 2])
        self._ipar = np.array(
            [nh, self.hilbert_delay, la, self.homomorphic_delay, self.decimation], dtype=np.int64
        )
        self._ist = np.zeros(4, dtype=np.int64)
        self._hbuf = np.zeros(2 * nh, dtype=np.float64)
        self._mbuf = np.zeros(2 * la, dtype=np.float64)
        self._lbuf = np.zeros(2 * la, dtype=np.float64)
        self._hzi = np.zeros((self.homomorphic_sos.shape[0], 2), dtype=np.float64)
        self._hzi0 = design["homomorphic_zi"]
        self._zeros = np.zeros(self.delay_samples, dtype=np.float32)
        rows = -(-max(self.max_block, self.delay_samples) // self.decimation) + 1
        self._out = np.zeros((rows, 2), dtype=np.float32)
        self._reset()

    @property
    def nonfinite_samples(self) -> int:
        """Non-finite input samples (used as 0.0) since construction or ``reset()``."""
        return int(self._ist[_IS_BAD])

    @property
    def delay_samples(self) -> int:
        """Total delay [samples at 2 kHz] (= ``latency * decimation``)."""
        return self.latency * self.decimation

    def _run(self, x: Float32Array) -> Float32Array:
        n = _envelope_kernel(
            self._hc,
            self._hbuf,
            self.homomorphic_sos,
            self._hzi,
            self.decimation_taps,
            self._mbuf,
            self._lbuf,
            self._ipar,
            self._ist,
            x,
            self._out,
        )
        return self._out[:n]

    def _process(self, x: Float32Array) -> Float32Array:
        return self._run(x)

    def _flush(self) -> Float32Array:
        return self._run(self._zeros)  # finite zeros: the non-finite count stays

    def _reset(self) -> None:
        self._hbuf[:] = 0.0
        self._mbuf[:] = 0.0
        self._lbuf[:] = math.log(HOMOMORPHIC_EPS)
        self._hzi[:] = self._hzi0
        self._ist[:] = 0


def _compute_design(
    rate: float, cutoff_hz: float, decimation: int, hilbert_delay: int
) -> dict[str, np.ndarray]:
    """Design the homomorphic low-pass and the decimation FIR (the uncached path).

    Parameters
    ----------
    rate : float
        Input rate [Hz].
    cutoff_hz : float
        Homomorphic low-pass cut-off [Hz].
    decimation : int
        Input samples per frame.
    hilbert_delay : int
        Hilbert FIR half length ``M`` [samples].

    Returns
    -------
    dict of str to numpy.ndarray
        ``homomorphic_sos`` (float64, (n_sections, 6)), ``homomorphic_delay`` (``Dh``, 0-d int),
        ``homomorphic_zi`` (its steady state for ``log(HOMOMORPHIC_EPS)``, float64,
        (n_sections, 2)), ``decimation_delay`` (``D``, 0-d int) and ``decimation_taps``
        (float64, (2 D + 1,)).
    """
    import scipy.signal  # heavy import, only when the design is not cached

    sos = np.ascontiguousarray(
        scipy.signal.butter(HOMOMORPHIC_ORDER, cutoff_hz, fs=rate, output="sos"),
        dtype=np.float64,
    )
    dh = round(float(sos_group_delay(sos, [0.0], rate)[0]))
    d = DECIMATION_MIN_HALF_LENGTH
    d += (-(hilbert_delay + dh + d)) % decimation
    taps = scipy.signal.firwin(
        2 * d + 1, DECIMATION_CUTOFF_HZ, window=("kaiser", DECIMATION_KAISER_BETA), fs=rate
    ).astype(np.float64)
    zi = np.ascontiguousarray(scipy.signal.sosfilt_zi(sos) * math.log(HOMOMORPHIC_EPS))
    return {
        "homomorphic_sos": sos,
        "homomorphic_delay": np.array(dh, dtype=np.int64),
        "homomorphic_zi": zi,
        "decimation_delay": np.array(d, dtype=np.int64),
        "decimation_taps": taps,
    }


def envelopes(x: npt.ArrayLike, cfg: DspConfig = DspConfig()) -> Float32Array:
    """Batch envelopes of a whole band-passed signal.

    Parameters
    ----------
    x : array_like, shape (n,)
        Band-passed samples at ``cfg.internal_rate`` (2000 Hz).
    cfg : DspConfig
        Configuration.

    Returns
    -------
    ndarray, float32, shape (ceil(n / 20) + latency, 2)
        ``process(x)`` then ``flush()``; columns :data:`ENVELOPE_COLUMNS`. Frame ``k`` describes
        input time ``(k - latency) / 100`` s, so ``out[latency:]`` is aligned with ``x[::20]``.
    """
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    stage = EnvelopeStage(cfg, max_block=batch_max_block(x))
    return run_batch(stage, x)
