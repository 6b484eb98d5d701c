"""A synthetic, physiologically plausible heart-sound signal with its ground truth.

:class:`DemoHeart` streams a phonocardiogram beat by beat:

- **S1** (about 100-120 ms): mitral (M1) then tricuspid (T1) component 30-45 ms later, each a
  mixture of damped sinusoids at 30-150 Hz under a fast-attack, decaying envelope;
- **S2** (about 80-100 ms): aortic (A2) then pulmonary (P2) component, 50-250 Hz, the A2-P2 split
  (25-55 ms) widening on inspiration;
- **systole** (S1 onset to S2 onset) from a Bazett-like relation ``0.36 * sqrt(RR)`` s
  (0.33 s at 72 bpm), at most 55 % of the RR interval;
- **RR variability**: respiratory sinus arrhythmia (relative amplitude ``hrv``, breathing at
  0.25 Hz, shorter RR on inspiration) plus Gaussian jitter (relative SD ``hrv / 2``);
- optional **holosystolic murmur**: noise band-limited to 100-400 Hz filling systole from mid-S1
  to S2 onset, plateau-shaped;
- optional white background noise at ``noise_db`` dB full scale (RMS).

Peaks sit near 0.3-0.5 full scale (S1 about 0.36, S2 about 0.27, before noise).

Generation is deterministic from ``seed`` and independent of how the stream is read: beats are
synthesized in order into a float64 accumulator, from separate random streams for the rhythm and
sounds, the murmur and the noise, so any chunking of :meth:`DemoHeart.read` returns bit-identical
samples, and the same seed gives the same beats with and without murmur or noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from stetho_rt.config import MAX_HEART_RATE_BPM, MIN_HEART_RATE_BPM, check_input_rate
from stetho_rt.errors import ConfigError

Float32Array = npt.NDArray[np.float32]

#: Breathing rate of the respiratory modulation [Hz].
RESP_RATE_HZ = 0.25
#: Time of the first S1 onset [s].
FIRST_BEAT_S = 0.2
#: Target peaks of S1 and S2 before noise [full scale], and the murmur's RMS [full scale].
S1_PEAK = 0.36
S2_PEAK = 0.27
MURMUR_RMS = 0.05
#: Murmur band [Hz].
MURMUR_BAND_HZ = (100.0, 400.0)


class TrueSound(NamedTuple):
    """One generated event: ``kind`` ("S1", "S2" or "murmur"), onset and offset [s]."""

    kind: str
    onset_s: float
    offset_s: float


DEMO_PREFIX = "demo heart sounds"
"""How the demo's description starts (the dashboard marks such a source DEMO)."""


class DemoHeart:
    """Streaming synthetic heart sounds with ground truth.

    Parameters
    ----------
    rate : int
        Sample rate [Hz], 1000-192000.
    hr_bpm : float
        Mean heart rate [beats per minute], 30-220.
    murmur : bool
        Add a holosystolic murmur (100-400 Hz) between S1 and S2.
    noise_db : float or None
        RMS of white background noise [dB full scale]; None or ``-inf`` for none.
    seed : int
        Seed of every random choice; equal seeds give equal signals.
    hrv : float
        Relative beat-to-beat variability, 0-0.2: RSA amplitude ``hrv`` and random jitter with
        standard deviation ``hrv / 2`` (fractions of the mean RR interval).
    duration_s : float or None
        Length of the stream [s]; None for an endless stream.
    """

    channels = 1

    def __init__(
        self,
        rate: int = 4000,
        hr_bpm: float = 72.0,
        murmur: bool = False,
        noise_db: float | None = -30.0,
        seed: int = 0,
        hrv: float = 0.03,
        duration_s: float | None = None,
    ) -> None:
        self.rate = check_input_rate(rate, "demo")
        self.change_rate(hr_bpm)
        if not 0.0 <= hrv <= 0.2:
            raise ConfigError(f"hrv={hrv} must lie in 0-0.2")
        if noise_db is not None and not noise_db <= 0.0:  # NaN fails too
            raise ConfigError(f"noise_db={noise_db} must be <= 0 dB full scale (or None)")
        if duration_s is not None and not duration_s > 0:
            raise ConfigError(f"duration_s={duration_s} must be positive (or None)")
        self.murmur = bool(murmur)
        self.noise_db = noise_db
        self.seed = int(seed)
        self.hrv = float(hrv)
        self.duration_s = duration_s
        self._noise_rms = 0.0 if noise_db is None else 10.0 ** (noise_db / 20.0)
        self._end = None if duration_s is None else round(duration_s * self.rate)
        beat_ss, murmur_ss, noise_ss = np.random.SeedSequence(self.seed).spawn(3)
        self._rng = np.random.default_rng(beat_ss)
        self._rng_murmur = np.random.default_rng(murmur_ss)
        self._rng_noise = np.random.default_rng(noise_ss)
        self._resp_phase = float(self._rng.uniform(0.0, 2.0 * math.pi))
        self._acc = np.zeros(0, dtype=np.float64)  # samples [acc0, acc0 + len) under synthesis
        self._acc0 = 0
        self._ready = 0  # samples below this index are final
        self._next_beat = round(FIRST_BEAT_S * self.rate)
        self._pos = 0  # samples delivered
        self._truth: list[TrueSound] = []

    # ------------------------------------------------------------------------ public
    def change_rate(self, hr_bpm: float) -> None:
        """Set the mean heart rate [bpm, 30-220] from the next beat not yet synthesised (beats
        are made one ahead of :attr:`position_s`): a step change, as at the onset of exercise
        or of a tachycardia."""
        if not MIN_HEART_RATE_BPM <= hr_bpm <= MAX_HEART_RATE_BPM:
            raise ConfigError(
                f"hr_bpm={hr_bpm} is outside {MIN_HEART_RATE_BPM:g}-{MAX_HEART_RATE_BPM:g} bpm"
            )
        self.hr_bpm = float(hr_bpm)

    @property
    def description(self) -> str:
        """One line naming the signal."""
        extra = ", murmur" if self.murmur else ""
        return f"{DEMO_PREFIX} ({self.hr_bpm:g} bpm{extra}, {self.rate} Hz, seed {self.seed})"

    @property
    def position_s(self) -> float:
        """Stream time of the next sample :meth:`read` returns [s]."""
        return self._pos / self.rate

    @property
    def finished(self) -> bool:
        """True once a ``duration_s``-limited stream has delivered all its samples."""
        return self._end is not None and self._pos >= self._end

    def read(self, n: int) -> Float32Array:
        """Generate the next ``n`` samples.

        Parameters
        ----------
        n : int
            Samples wanted [samples at ``rate``].

        Returns
        -------
        numpy.ndarray
            1-D float32 [full scale]: ``n`` samples, fewer at the end of a limited stream
            (empty once finished).
        """
        if n < 0:
            raise ConfigError(f"n={n} must be >= 0")
        if self._end is not None:
            n = min(n, self._end - self._pos)
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        stop = self._pos + n
        while self._ready < stop:
            self._synth_beat()
        lo = self._pos - self._acc0
        out = self._acc[lo : lo + n].astype(np.float32)
        self._pos = stop
        if self._pos - self._acc0 > 1 << 16:  # forget delivered samples now and then
            drop = self._pos - self._acc0
            self._acc = self._acc[drop:].copy()
            self._acc0 = self._pos
        return out

    def blocks(self, block_size: int) -> Iterator[Float32Array]:
        """Yield successive blocks of ``block_size`` samples (endless unless limited)."""
        if block_size < 1:
            raise ConfigError(f"block_size={block_size} must be a positive integer")
        while True:
            b = self.read(block_size)
            if b.shape[0] == 0:
                return
            yield b

    def truth(self, kind: str | None = None) -> list[TrueSound]:
        """Sounds generated so far: those whose onset lies before :attr:`position_s`.

        Parameters
        ----------
        kind : str or None
            Keep only "S1", "S2" or "murmur"; None keeps all.

        Returns
        -------
        list of TrueSound
            ``(kind, onset_s, offset_s)`` tuples in onset order [s]; an offset may lie past
            :attr:`position_s` (or past the end of a limited stream) when a sound is still
            under way.
        """
        now = self.position_s
        return [
            s for s in list(self._truth) if s.onset_s < now and (kind is None or s.kind == kind)
        ]

    # ------------------------------------------------------------------------ synthesis
    def _resp(self, t: float) -> float:
        """Respiratory phase signal in -1..1, positive on inspiration."""
        return math.sin(2.0 * math.pi * RESP_RATE_HZ * t + self._resp_phase)

    def _synth_beat(self) -> None:
        rng = self._rng
        fs = self.rate
        b = self._next_beat
        t = b / fs
        resp = self._resp(t)
        rr0 = 60.0 / self.hr_bpm
        rr = rr0 * (1.0 - self.hrv * resp + 0.5 * self.hrv * float(rng.standard_normal()))
        rr = min(max(rr, 0.7 * rr0, 60.0 / 250.0), 1.3 * rr0)
        systole = min(0.36 * math.sqrt(rr), 0.55 * rr) + float(rng.uniform(-0.005, 0.005))
        amp = 1.0 + 0.06 * resp + 0.03 * float(rng.standard_normal())

        # S1: M1 then T1.
        m1_d = float(rng.uniform(0.065, 0.075))
        t1_at = float(rng.uniform(0.030, 0.045))
        t1_d = float(rng.uniform(0.065, 0.075))
        s1_len = max(m1_d, t1_at + t1_d)
        s1 = np.zeros(round(s1_len * fs) + 1)
        self._component(s1, 0.0, m1_d, (40.0, 70.0), (80.0, 140.0), 1.0)
        self._component(s1, t1_at, t1_d, (30.0, 60.0), (70.0, 120.0), 0.7)
        s1 *= S1_PEAK * amp / np.abs(s1).max()

        # S2: A2 then P2, split widening on inspiration.
        split = 0.040 + 0.015 * resp + float(rng.uniform(-0.003, 0.003))
        a2_d = float(rng.uniform(0.050, 0.060))
        p2_d = float(rng.uniform(0.045, 0.055))
        s2_len = max(a2_d, split + p2_d)
        s2 = np.zeros(round(s2_len * fs) + 1)
        self._component(s2, 0.0, a2_d, (60.0, 120.0), (140.0, 230.0), 1.0)
        self._component(s2, split, p2_d, (50.0, 100.0), (120.0, 200.0), 0.6)
        s2 *= S2_PEAK * amp / np.abs(s2).max()

        s2_at = b + round(systole * fs)
        next_beat = b + round(rr * fs)
        self._add(b, s1)
        self._truth.append(TrueSound("S1", b / fs, (b + s1.shape[0] - 1) / fs))
        if self.murmur:
            m_on = b + round(0.5 * s1_len * fs)
            if s2_at - m_on > 8:
                mur = self._murmur(s2_at - m_on)
                self._add(m_on, mur)
                self._truth.append(TrueSound("murmur", m_on / fs, s2_at / fs))
        self._add(s2_at, s2)
        self._truth.append(TrueSound("S2", s2_at / fs, (s2_at + s2.shape[0] - 1) / fs))

        # Background noise for [ready, next_beat): every sample gets noise exactly once.
        if self._noise_rms > 0.0:
            noise = self._rng_noise.standard_normal(next_beat - self._ready)
            self._add(self._ready, self._noise_rms * noise)
        else:
            self._add(self._ready, np.zeros(next_beat - self._ready))
        self._ready = next_beat
        self._next_beat = next_beat

    def _component(
        self,
        out: npt.NDArray[np.float64],
        at_s: float,
        dur_s: float,
        band_lo: tuple[float, float],
        band_hi: tuple[float, float],
        gain: float,
    ) -> None:
        """Add two damped sinusoids (a low and a higher partial) under one envelope."""
        rng = self._rng
        fs = self.rate
        nyq = 0.45 * fs
        i0 = round(at_s * fs)
        n = min(round(dur_s * fs), out.shape[0] - i0)
        tt = np.arange(n) / fs
        env = _envelope(n)
        f_lo = min(float(rng.uniform(*band_lo)), nyq)
        f_hi = min(float(rng.uniform(*band_hi)), nyq)
        ph = rng.uniform(0.0, 2.0 * math.pi, 2)
        chirp = float(rng.uniform(-0.15, 0.0))  # slight downward glide, as in real valve sounds
        g = 1.0 + chirp * tt / max(dur_s, 1e-9)
        wave = np.sin(2 * math.pi * f_lo * tt * g + ph[0]) + 0.6 * np.sin(
            2 * math.pi * f_hi * tt * g + ph[1]
        )
        out[i0 : i0 + n] += gain * env * wave

    def _murmur(self, n: int) -> npt.NDArray[np.float64]:
        """Band-limited noise of ``n`` samples with a plateau envelope, at MURMUR_RMS."""
        fs = self.rate
        noise = self._rng_murmur.standard_normal(n)
        spec = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(n, 1.0 / fs)
        lo, hi = MURMUR_BAND_HZ[0], min(MURMUR_BAND_HZ[1], 0.45 * fs)
        spec[(freqs < lo) | (freqs > hi)] = 0.0
        x = np.fft.irfft(spec, n)
        ramp = min(round(0.015 * fs), n // 2)
        env = np.ones(n)
        if ramp > 0:
            r = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
            env[:ramp] = r
            env[n - ramp :] = r[::-1]
        x *= env
        rms = float(np.sqrt(np.mean(x * x)))
        return x * (MURMUR_RMS / rms) if rms > 0 else x

    def _add(self, at: int, x: npt.NDArray[np.float64]) -> None:
        """Overlap-add ``x`` at absolute sample index ``at`` into the accumulator."""
        end = at + x.shape[0]
        need = end - self._acc0
        if need > self._acc.shape[0]:
            grown = np.zeros(max(need, 2 * self._acc.shape[0]), dtype=np.float64)
            grown[: self._acc.shape[0]] = self._acc
            self._acc = grown
        self._acc[at - self._acc0 : end - self._acc0] += x


def _envelope(n: int) -> npt.NDArray[np.float64]:
    """Fast raised-cosine attack (15 %) then a decaying cosine-exponential release to 0."""
    if n <= 0:
        return np.zeros(0)
    u = np.arange(n) / n
    a = 0.15
    env = np.empty(n)
    up = u < a
    env[up] = 0.5 - 0.5 * np.cos(np.pi * u[up] / a)
    v = (u[~up] - a) / (1.0 - a)
    env[~up] = (0.5 + 0.5 * np.cos(np.pi * v)) * np.exp(-2.0 * v)
    return env
