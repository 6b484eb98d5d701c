"""Deterministic synthetic snapshots: a heart-like signal with its events, for tests and benchmarks.

:func:`synthetic_snapshot` builds the :class:`~stetho_rt.snapshot.Snapshot` a pipeline would
publish at stream time ``t``: 10 s of waveform (with baseline wander) and band-passed signal at
2 kHz, a two-column envelope at 100 frames/s, a 33-bin dB spectrogram at 125 frames/s, S1/S2
sounds, beats, classifier windows and a verdict. The same arguments always give the same arrays;
every value depends on absolute stream time only, so consecutive snapshots scroll seamlessly.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from stetho_rt.classify.verdict import aggregate_windows
from stetho_rt.config import CLIP_LEVEL
from stetho_rt.events import Beat, HeartSound, Quality, Window
from stetho_rt.snapshot import Level, Snapshot

RATE = 2000
ENV_RATE = 100
SPEC_HOP = 16
SPEC_WIN = 64
DISPLAY_S = 10.0
EVENTS_S = 30.0
SYSTOLE_S = 0.33
FIRST_BEAT_S = 0.2


@cache
def _noise_table(seed: int) -> npt.NDArray[np.float64]:
    """Fixed white noise indexed by absolute sample number (modulo its length)."""
    return np.random.default_rng(seed).standard_normal(1 << 16)


def beat_times(t_end: float, hr_bpm: float, t_start: float = 0.0) -> npt.NDArray[np.float64]:
    """S1 onsets [s] in ``[t_start, t_end)``: mean RR 60/hr with a smooth, deterministic jitter."""
    rr = 60.0 / hr_bpm
    k = np.arange(max(int((t_start - FIRST_BEAT_S) / rr) - 2, 0), int(t_end / rr) + 2)
    times = FIRST_BEAT_S + k * rr + 0.04 * rr * np.sin(0.9 * k)
    return times[(times >= t_start) & (times < t_end)]


def _sound(t: npt.NDArray[np.float64], f_hz: float, dur_s: float, amp: float) -> np.ndarray:
    """A damped, windowed tone burst starting at t = 0 (zero outside [0, dur_s])."""
    inside = (t >= 0) & (t < dur_s)
    env = np.sin(np.pi * np.clip(t / dur_s, 0, 1)) ** 2 * np.exp(-3.0 * np.clip(t, 0, None) / dur_s)
    return np.where(inside, amp * env * np.sin(2 * np.pi * f_hz * t), 0.0)


def heart_signal(
    n0: int, n1: int, hr_bpm: float, *, murmur: bool = False, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Raw (with baseline wander) and band-passed signal for absolute samples ``n0..n1-1``."""
    t = np.arange(n0, n1) / RATE
    x = np.zeros(n1 - n0)
    t0 = n0 / RATE
    for b in beat_times(n1 / RATE, hr_bpm, max(t0 - 1.0, 0.0)):
        lo = round((b - t0) * RATE)
        hi = lo + int((SYSTOLE_S + 0.2) * RATE)
        sl = slice(min(max(lo, 0), x.shape[0]), min(max(hi, 0), x.shape[0]))
        tt = t[sl] - b
        x[sl] += _sound(tt, 55.0, 0.11, 0.9) + _sound(tt - 0.035, 85.0, 0.08, 0.5)
        x[sl] += _sound(tt - SYSTOLE_S, 110.0, 0.08, 0.7)
        if murmur:
            body = (tt > 0.08) & (tt < SYSTOLE_S)
            x[sl] += np.where(body, 0.05 * np.sin(2 * np.pi * 230 * tt) * np.sin(37 * tt), 0.0)
    noise = _noise_table(seed)
    x += 0.008 * noise[np.arange(n0, n1) % noise.shape[0]]
    wander = 0.12 * np.sin(2 * np.pi * 0.3 * t)
    return (x + wander).astype(np.float32), x.astype(np.float32)


def _envelope(bp: np.ndarray) -> np.ndarray:
    """(n, 2) envelope frames at 100/s: frame peak of |x| and its 5-frame moving average."""
    hop = RATE // ENV_RATE
    n = bp.shape[0] // hop
    if n == 0:
        return np.zeros((0, 2), np.float32)
    peak = np.abs(bp[bp.shape[0] - n * hop :]).reshape(n, hop).max(axis=1)
    smooth = np.convolve(peak, np.ones(5) / 5, mode="same")
    return np.stack([peak, smooth], axis=1).astype(np.float32)


def _spectrogram(x: np.ndarray) -> np.ndarray:
    """(n, 33) log power [dB] of Hann-windowed 64-sample frames every 16 samples."""
    frames = np.lib.stride_tricks.sliding_window_view(x, SPEC_WIN)[::SPEC_HOP]
    spec = np.fft.rfft(frames * np.hanning(SPEC_WIN), axis=1)
    power = (spec.real**2 + spec.imag**2) / SPEC_WIN
    return (10 * np.log10(np.maximum(power, 1e-10))).astype(np.float32)


def _events(
    t: float, hr_bpm: float, classifier: bool, murmur: bool
) -> tuple[tuple[HeartSound, ...], tuple[Beat, ...], tuple[Window, ...]]:
    """Sounds and beats decided by time ``t`` (0.25 s look-ahead), windows every second."""
    onsets = beat_times(t - 0.25, hr_bpm, max(t - EVENTS_S, 0.0))
    sounds: list[HeartSound] = []
    beats: list[Beat] = []
    for i, b in enumerate(onsets.tolist()):
        sounds.append(HeartSound("S1", b, b + 0.11, 0.9, b + 0.36))
        if b + SYSTOLE_S + 0.33 < t:
            sounds.append(HeartSound("S2", b + SYSTOLE_S, b + SYSTOLE_S + 0.09, 0.85, b + 0.67))
        if i:
            rr = b - float(onsets[i - 1])
            beats.append(Beat(b, rr, 60.0 / rr, b + 0.36))
    windows: list[Window] = []
    if classifier:
        p_m = 0.71 if murmur else 0.09
        probs = {"normal": round(0.93 - p_m, 2), "murmur": p_m, "artifact": 0.07}
        label = max(probs, key=probs.__getitem__)
        for end in np.arange(max(math.floor(t) - 8, 4), math.floor(t) + 1):
            q = Quality(0.86 + 0.04 * math.sin(end))
            windows.append(Window(end - 4.0, float(end), probs, label, end + 0.05, q))
    return tuple(sounds), tuple(beats), tuple(windows)


def synthetic_snapshot(
    t: float,
    *,
    hr_bpm: float = 72.0,
    detector_ready: bool = True,
    classifier_ready: bool = True,
    murmur: bool = False,
    source: str = "demo: synthetic heart",
    duration_s: float | None = None,
    input_gain: float = 1.0,
    seed: int = 0,
) -> Snapshot:
    """The snapshot a pipeline would publish at stream time ``t`` [s] for a steady heart.

    Parameters
    ----------
    t : float
        Stream time [s]; at least one STFT frame (32 ms) is expected.
    hr_bpm : float
        Mean heart rate [bpm].
    detector_ready, classifier_ready : bool
        Whether the S1/S2 detector and the classifier run; without them no events are produced.
    murmur : bool
        Add a systolic murmur (and raise the classifier's murmur probability).
    input_gain : float
        Scale of the input; above about 2.5 the peaks clip at full scale (level meter warning).
    """
    n1 = round(t * RATE) // SPEC_HOP * SPEC_HOP
    n0 = max(n1 - int(DISPLAY_S * RATE), 0)
    raw, bp = heart_signal(n0, n1, hr_bpm, murmur=murmur, seed=seed)
    if input_gain != 1.0:
        raw = np.clip(raw * input_gain, -1.0, 1.0).astype(np.float32)
        bp = np.clip(bp * input_gain, -1.0, 1.0).astype(np.float32)
    t = n1 / RATE
    sounds, beats, windows = _events(t, hr_bpm, classifier_ready, murmur)
    if not detector_ready:
        sounds, beats = (), ()
    tail = raw[-RATE:] if raw.size else np.zeros(1, np.float32)
    peak = float(np.abs(tail).max())
    rms = float(np.sqrt(np.mean(tail.astype(np.float64) ** 2)))
    clipped = int(np.count_nonzero(np.abs(raw) >= CLIP_LEVEL))
    verdict = aggregate_windows(windows) if windows else None  # the runtime's aggregation
    return Snapshot(
        stream_time_s=t,
        source=source,
        source_rate=4000,
        internal_rate=RATE,
        duration_s=duration_s,
        level=Level(
            20 * math.log10(max(peak, 1e-6)),
            20 * math.log10(max(rms, 1e-6)),
            clipped_samples=clipped,
            clipping=peak >= CLIP_LEVEL,
        ),
        latency_s=0.046,
        dsp_load=0.031,
        waveform_end_s=t,
        filtered_end_s=t,
        envelope_end_s=t,
        spectrogram_end_s=t,
        waveform=raw,
        filtered=bp,
        envelope=_envelope(bp) if detector_ready else np.zeros((0, 2), np.float32),
        envelope_rate=float(ENV_RATE),
        spectrogram=_spectrogram(raw) if raw.size >= SPEC_WIN else np.zeros((0, 33), np.float32),
        spectrogram_rate=RATE / SPEC_HOP,
        sounds=sounds,
        beats=beats,
        heart_rate_bpm=(60.0 / float(np.median([b.rr_s for b in beats[-8:]]))) if beats else None,
        heart_rate_trend=tuple(b.hr_bpm for b in beats[-120:]),
        windows=windows,
        verdict=verdict,
        detector_ready=detector_ready,
        classifier_ready=classifier_ready,
    )


def with_level(snap: Snapshot, peak_dbfs: float, rms_dbfs: float, clipped: int = 0) -> Snapshot:
    """A copy of ``snap`` with another input level (clipping when ``clipped`` > 0)."""
    return replace(snap, level=Level(peak_dbfs, rms_dbfs, clipped, clipped > 0))


class SyntheticPipeline:
    """A pipeline stand-in that publishes :func:`synthetic_snapshot` s.

    Stream time starts at ``t0`` and moves by :meth:`advance` (tests, deterministic) or, with
    ``speed`` > 0, with the wall clock once started (demos, benchmarks). Lifecycle news is
    simulated with :meth:`finish`, :meth:`fail` and :meth:`set_status`.
    """

    def __init__(self, t0: float = 12.0, *, speed: float = 0.0, **kwargs: Any) -> None:
        self.t = t0
        """Stream time of the next snapshot [s]."""
        self.speed = speed
        self.kwargs = kwargs
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self.started = False
        self.stopped = False
        self._t_wall = 0.0
        self._status = "running"
        self._finished_snap = False
        self._error_text: str | None = None
        self._snap: Snapshot | None = None

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot at the current stream time (rebuilt only when something changed)."""
        if self.speed > 0 and self.started and not self._finished_snap:
            now = time.monotonic()
            self.t += (now - self._t_wall) * self.speed
            self._t_wall = now
        snap = self._snap
        if snap is None or abs(snap.stream_time_s - self.t) >= 0.008:
            self._snap = snap = self._decorate(synthetic_snapshot(self.t, **self.kwargs))
        return snap

    def _decorate(self, snap: Snapshot) -> Snapshot:
        return replace(
            snap,
            finished=self._finished_snap,
            error=self._error_text,
            source_status=self._status,
        )

    def _republish(self) -> None:
        if self._snap is not None:
            self._snap = self._decorate(self._snap)

    def start(self) -> None:
        """Mark as started (and start the clock when ``speed`` > 0)."""
        self.started = True
        self._t_wall = time.monotonic()

    def raise_end_problems(self) -> None:
        """Nothing to report: no device to lose, no recording to fail."""

    def stop(self) -> None:
        """Mark as stopped."""
        self.stopped = True

    def advance(self, dt: float) -> None:
        """Move stream time on by ``dt`` seconds."""
        self.t += dt

    def finish(self) -> None:
        """The source ended: snapshot ``finished`` and the ``finished`` event set."""
        self._finished_snap = True
        self.finished.set()
        self._republish()

    def fail(self, message: str = "RuntimeError: synthetic failure") -> None:
        """The pipeline failed: ``error`` set on the pipeline and in the snapshot."""
        self.error = RuntimeError(message)
        self._error_text = message
        self.finished.set()
        self._republish()

    def set_status(self, status: str) -> None:
        """The source's own status (e.g. "device lost")."""
        self._status = status
        self._republish()
